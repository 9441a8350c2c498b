/* The recorder of a program preloaded by hand (LD_PRELOAD=liballoctrace.so without
 * `alloctrace run`): when ALLOCTRACE_SOCK is not set, the first image starts
 * alloctrace-record (found beside this library) detached from the program, waits for its
 * "ready", and sets ALLOCTRACE_SOCK so that its fork and exec children join the same
 * run, into the same one trace file.
 *
 * The recorder must not become the program's child (a program that waits for any child
 * would reap it, a SIGCHLD handler would see a stranger): it is posix_spawn'ed (no
 * atfork handler runs, no file action, an empty environment) with --detach, forks
 * itself and the spawned process exits at once; it is reaped here before start-up goes
 * on, and the recorder lives on as nobody's child (init's or the subreaper's). It holds
 * no descriptor of the program's but its status pipe, so a pipeline reading the
 * program's output ends when the program does.
 *
 * Start-up only, in the first image: may allocate through the real malloc (setenv,
 * under the hook guard). Never runs in a fork child. Before start-up, a chdir or fchdir
 * (proc.c) keeps the directory the program started in, which the default name uses;
 * that takes no lock and never allocates.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "real.h"
#include "tracer.h"

/* The directory the program started in, kept by the first chdir/fchdir before start-up
 * (proc.c): a library constructor that changes directory before ours runs sent the
 * trace there (issue 20). 0 nothing kept, 1 keeping, 2 kept, 3 start-up is over. */
static char start_dir[PATH_MAX];
static _Atomic int start_dir_state;

void atr__start_dir_keep(void) {
  int expected = 0;
  if (ATR_LIKELY(atomic_load_explicit(&start_dir_state, memory_order_relaxed) != 0) ||
      !atomic_compare_exchange_strong(&start_dir_state, &expected, 1))
    return;
  int e = errno;
  atomic_store(&start_dir_state, getcwd(start_dir, sizeof(start_dir)) ? 2 : 3);
  errno = e;
}

void atr__start_dir_done(void) {
  int expected = 0;
  atomic_compare_exchange_strong(&start_dir_state, &expected, 3);
}

/* ALLOCTRACE_OUTPUT if free, else <stem>.<pid>[.k].zst (stem: ALLOCTRACE_OUTPUT without
 * .zst, or alloctrace.<program>), made absolute against the starting directory: the
 * recorder runs in / . */
static int output_path(char *out, size_t n) {
  char cwd[PATH_MAX], stem[PATH_MAX];
  struct stat st;
  const char *o = atr__cfg.output;
  atr__start_dir_done();
  if (atomic_load(&start_dir_state) == 2)
    atr__fmt(cwd, sizeof(cwd), "%s", start_dir);
  else if (!getcwd(cwd, sizeof(cwd)))
    return -1;
  if (o[0]) {
    if (o[0] == '/')
      atr__fmt(stem, sizeof(stem), "%s", o);
    else
      atr__fmt(stem, sizeof(stem), "%s/%s", cwd, o);
    if (lstat(stem, &st) != 0 && errno == ENOENT) {
      atr__fmt(out, n, "%s", stem);
      return 0;
    }
    size_t l = strlen(stem);
    if (l > 4 && strcmp(stem + l - 4, ".zst") == 0)
      stem[l - 4] = 0;
  } else {
    atr__fmt(stem, sizeof(stem), "%s/alloctrace.%s", cwd, program_invocation_short_name);
  }
  for (int k = 0; k < 1000; k++) {
    if (k == 0)
      atr__fmt(out, n, "%s.%d.zst", stem, atr__pid);
    else
      atr__fmt(out, n, "%s.%d.%d.zst", stem, atr__pid, k);
    if (lstat(out, &st) != 0 && errno == ENOENT)
      return 0;
  }
  return -1;
}

/* alloctrace-record beside this library (build tree and install alike). */
static const char anchor; /* an address inside this library, for dladdr */

static int recorder_path(char *out, size_t n) {
  Dl_info info;
  if (!dladdr(&anchor, &info) || !info.dli_fname)
    return -1;
  atr__fmt(out, n, "%s", info.dli_fname);
  char *slash = strrchr(out, '/');
  if (!slash)
    return -1;
  atr__fmt(slash + 1, n - (size_t)(slash + 1 - out), "alloctrace-record");
  return access(out, X_OK);
}

int atr__spawn_recorder(void) {
  char rec[PATH_MAX], out[PATH_MAX], sock[64], fdarg[16];
  if (recorder_path(rec, sizeof(rec)) != 0) {
    atr__log("cannot find alloctrace-record next to the library; tracing is off");
    return -1;
  }
  if (output_path(out, sizeof(out)) != 0) {
    atr__log("cannot choose a trace file name; tracing is off");
    return -1;
  }
  atr__fmt(sock, sizeof(sock), "alloctrace-%d-%lx", atr__pid, (unsigned long)atr__now());
  int p[2];
  if (pipe(p) != 0) /* not O_CLOEXEC: the recorder gets the write end */
    return -1;
  atr__fmt(fdarg, sizeof(fdarg), "%d", p[1]);
  char *argv[] = {rec, "--detach", "--sock", sock, "--output", out, "--status-fd", fdarg, NULL};
  char *envp[] = {NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, rec, NULL, NULL, argv, envp);
  atr__real.close(p[1]);
  if (rc != 0) {
    atr__real.close(p[0]);
    atr__log("cannot start %s: %s; tracing is off", rec, strerror(rc));
    return -1;
  }
  char line[512];
  size_t len = 0;
  for (ssize_t r; len + 1 < sizeof(line) && (r = read(p[0], line + len, sizeof(line) - 1 - len)) != 0;) {
    if (r < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    len += (size_t)r;
    if (memchr(line, '\n', len))
      break;
  }
  atr__real.close(p[0]);
  line[len] = 0;
  line[strcspn(line, "\n")] = 0;
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) /* the spawned half exits at once */
    ;
  if (strcmp(line, "ready") != 0) {
    atr__log("the recorder did not start (%s); tracing is off",
             strncmp(line, "error ", 6) == 0 ? line + 6 : "no word from it");
    return -1;
  }
  char env[80];
  atr__fmt(env, sizeof(env), "@%s", sock);
  setenv("ALLOCTRACE_SOCK", env, 1);
  /* the terminal this run started from, for the diagnostics of its later images
   * (rawio.c); 0: none, they go to the trace only */
  struct stat st;
  atr__cfg.tty = isatty(2) && fstat(2, &st) == 0 ? (long long)st.st_rdev : 0;
  atr__fmt(env, sizeof(env), "%lld", atr__cfg.tty);
  setenv("ALLOCTRACE_TTY", env, 1);
  return 0;
}
