/* Allocator lookup and one replayer run (see replay_run.h). The replayer gets exactly
 * one LD_PRELOAD entry (none for glibc), so nothing from the caller's environment, a
 * tracer included, sits between the replay and the allocator under test.
 * Never prints and never exits.
 */
#define _GNU_SOURCE
#include "replay_run.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

const char *const atr_allocator_names[] = {"glibc", "jemalloc", "mimalloc", "tcmalloc", NULL};

static const struct {
  const char *name, *sonames[2], *package;
} known[] = {
    {"jemalloc", {"libjemalloc.so.2", NULL}, "libjemalloc2"},
    {"mimalloc", {"libmimalloc.so.2", NULL}, "libmimalloc2.0"},
    /* the minimal build has no heap profiler: what a program would link for speed */
    {"tcmalloc", {"libtcmalloc_minimal.so.4", "libtcmalloc.so.4"}, "libtcmalloc-minimal4"},
};

static int libc_dir_cb(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *slash = strrchr(info->dlpi_name, '/');
  if (slash && strncmp(slash, "/libc.so.", 9) == 0) {
    snprintf(data, PATH_MAX, "%.*s", (int)(slash - info->dlpi_name), info->dlpi_name);
    return 1;
  }
  return 0;
}

/* Where Debian puts shared libraries: libc's own directory (/lib/<multiarch>, the same
 * as /usr/lib/<multiarch> on merged-/usr systems), then the generic ones. */
static int find_soname(const char *soname, char *out, size_t n) {
  char libc_dir[PATH_MAX] = "";
  dl_iterate_phdr(libc_dir_cb, libc_dir);
  char usr_dir[PATH_MAX + 8] = "";
  if (strncmp(libc_dir, "/lib", 4) == 0)
    snprintf(usr_dir, sizeof(usr_dir), "/usr%s", libc_dir);
  const char *dirs[] = {usr_dir, libc_dir, "/usr/lib64", "/usr/lib", "/usr/local/lib"};
  for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
    if (!dirs[i][0])
      continue;
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", dirs[i], soname);
    if (access(p, R_OK) == 0) {
      snprintf(out, n, "%s", p);
      return 0;
    }
  }
  return -1;
}

int atr_allocator_find(const char *spec, atr_allocator_t *a, char *err, size_t errlen) {
  memset(a, 0, sizeof(*a));
  if (strcasecmp(spec, "glibc") == 0 || strcasecmp(spec, "libc") == 0) {
    snprintf(a->name, sizeof(a->name), "glibc");
    return 0;
  }
  for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++) {
    if (strcasecmp(spec, known[i].name) != 0)
      continue;
    snprintf(a->name, sizeof(a->name), "%s", known[i].name);
    for (size_t s = 0; s < 2 && known[i].sonames[s]; s++)
      if (find_soname(known[i].sonames[s], a->lib, sizeof(a->lib)) == 0)
        return 0;
    snprintf(err, errlen,
             "allocator %s is not installed (no %s in the system library directories; "
             "install the Debian package %s)",
             known[i].name, known[i].sonames[0], known[i].package);
    return -1;
  }
  if (!strchr(spec, '/') && !strstr(spec, ".so")) {
    snprintf(err, errlen,
             "unknown allocator '%s' (use glibc, jemalloc, mimalloc, tcmalloc or the path of a "
             "shared library that replaces malloc)",
             spec);
    return -1;
  }
  char path[PATH_MAX];
  struct stat st;
  errno = 0;
  if (!realpath(spec, path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
      access(path, R_OK) != 0) {
    snprintf(err, errlen, "allocator library %s: %s", spec,
             errno ? strerror(errno) : "not a readable file");
    return -1;
  }
  if (strchr(path, ':') || strchr(path, ' ')) {
    snprintf(err, errlen, "allocator library %s: LD_PRELOAD cannot carry a path with ':' or spaces",
             spec);
    return -1;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  unsigned char magic[4] = {0};
  ssize_t got = fd >= 0 ? read(fd, magic, 4) : -1;
  if (fd >= 0)
    close(fd);
  if (got != 4 || memcmp(magic, "\177ELF", 4) != 0) {
    snprintf(err, errlen, "allocator library %s: not an ELF shared library", spec);
    return -1;
  }
  snprintf(a->lib, sizeof(a->lib), "%s", path);
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s", path);
  snprintf(a->name, sizeof(a->name), "%s", basename(tmp));
  return 0;
}

int atr_replayer_find(char *out, size_t n) {
  static const char *const where[] = {"%s/alloctrace-replayer",
                                      "%s/../" ATR_LIBEXECDIR_REL "/alloctrace/alloctrace-replayer",
                                      "%s/../libexec/alloctrace/alloctrace-replayer"};
  return atr_find_beside_self("ALLOCTRACE_REPLAYER", where, sizeof(where) / sizeof(*where), X_OK,
                              out, n);
}

/* The first line of the replayer's stderr, for error messages. */
static void first_line(const char *file, char *out, size_t n) {
  out[0] = 0;
  FILE *f = fopen(file, "r");
  if (!f)
    return;
  if (fgets(out, (int)n, f))
    out[strcspn(out, "\n")] = 0;
  fclose(f);
}

static uint64_t u64_of(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int same_file(const char *a, const char *b) {
  char ra[PATH_MAX], rb[PATH_MAX];
  return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

int atr_replay_run(const char *replayer, const char *ops, const char *order,
                   const atr_allocator_t *a, const char *errfile, atr_replay_result_t *r, char *err,
                   size_t errlen) {
  memset(r, 0, sizeof(*r));
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    int efd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (dup2(pipefd[1], 1) < 0 || efd < 0 || dup2(efd, 2) < 0)
      _exit(127);
    if (a->lib[0])
      setenv("LD_PRELOAD", a->lib, 1);
    else
      unsetenv("LD_PRELOAD");
    char *args[] = {(char *)replayer, "--order", (char *)order, (char *)ops, NULL};
    execv(replayer, args);
    dprintf(2, "cannot run %s: %s\n", replayer, strerror(errno));
    _exit(127);
  }
  close(pipefd[1]);
  char buf[8192];
  size_t len = 0;
  for (;;) {
    ssize_t got = read(pipefd[0], buf + len, sizeof(buf) - 1 - len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    len += (size_t)got;
    if (len == sizeof(buf) - 1)
      break;
  }
  buf[len] = 0;
  close(pipefd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      snprintf(err, errlen, "waitpid: %s", strerror(errno));
      return -1;
    }
  char why[512];
  first_line(errfile, why, sizeof(why));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char how[64];
    if (WIFSIGNALED(status))
      snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
    else
      snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
    snprintf(err, errlen, "the replay under %s failed (%s)%s%s", a->name, how, why[0] ? ": " : "",
             why);
    return -1;
  }
  json_error_t je;
  json_t *o = json_loads(buf, JSON_DISABLE_EOF_CHECK, &je);
  json_t *wall = o ? json_object_get(o, "wall_s") : NULL;
  if (!o || !json_is_number(wall)) {
    json_decref(o);
    snprintf(err, errlen, "the replay under %s printed no result", a->name);
    return -1;
  }
  r->wall_s = json_number_value(wall);
  r->cpu_s = json_number_value(json_object_get(o, "cpu_s"));
  r->peak_rss = u64_of(o, "peak_rss");
  r->end_rss = u64_of(o, "end_rss");
  r->heap_peak_rss = u64_of(o, "heap_peak_rss");
  r->baseline_rss = u64_of(o, "baseline_rss");
  r->page_faults = u64_of(o, "page_faults");
  r->failed = u64_of(o, "failed");
  r->waits = u64_of(o, "waits");
  r->ops = u64_of(o, "ops");
  const char *s = json_string_value(json_object_get(o, "substituted"));
  snprintf(r->substituted, sizeof(r->substituted), "%s", s ? s : "");
  s = json_string_value(json_object_get(o, "malloc_from"));
  snprintf(r->malloc_from, sizeof(r->malloc_from), "%s", s ? s : "");
  json_decref(o);
  if (a->lib[0] && !same_file(r->malloc_from, a->lib)) {
    snprintf(err, errlen,
             "%s was preloaded but malloc still came from %s: it does not replace malloc", a->lib,
             r->malloc_from[0] ? r->malloc_from : "another library");
    return -1;
  }
  return 0;
}
