/* `alloctrace run [-o FILE] [--unwind=libunwind|fp] [--no-follow] [-q] -- CMD ARGS…`:
 * runs CMD with liballoctrace preloaded, waits, reports where the trace went and a
 * short summary on stderr, and exits with CMD's status (128+N for a signal death, like
 * a shell). Refuses static and setuid programs clearly instead of producing nothing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "model.h"
#include "util.h"

/* liballoctrace.so next to us: build tree (cli/../libtrace) or installed (bin/../lib…). */
static int find_library(char *out, size_t n) {
  static const char *const where[] = {"%s/../libtrace/liballoctrace.so",
                                      "%s/../" ATR_LIBDIR_REL "/alloctrace/liballoctrace.so",
                                      "%s/../lib/alloctrace/liballoctrace.so"};
  return atr_find_beside_self("ALLOCTRACE_LIB", where, sizeof(where) / sizeof(*where), R_OK, out,
                              n);
}

static int find_program(const char *name, char *out, size_t n) {
  if (strchr(name, '/')) {
    snprintf(out, n, "%s", name);
    return access(out, F_OK) == 0 ? 0 : -1;
  }
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t len = strcspn(path, ":");
    snprintf(out, n, "%.*s/%s", (int)len, len ? path : ".", name);
    struct stat st;
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
      return 0;
    path += len + (path[len] == ':');
  }
  return -1;
}

/* 1 dynamic, 0 static, -1 not ELF; follows one "#!" interpreter. */
static int is_dynamic(const char *path, char *why, size_t n, int depth) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, n, "cannot open %s: %s", path, strerror(errno));
    return -2;
  }
  unsigned char buf[4096];
  ssize_t got = read(fd, buf, sizeof(buf));
  close(fd);
  if (got >= 2 && buf[0] == '#' && buf[1] == '!' && depth == 0) {
    char interp[PATH_MAX];
    size_t i = 2, o = 0;
    while (i < (size_t)got && (buf[i] == ' ' || buf[i] == '\t'))
      i++;
    while (i < (size_t)got && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' &&
           o + 1 < sizeof(interp))
      interp[o++] = (char)buf[i++];
    interp[o] = 0;
    return is_dynamic(interp, why, n, 1);
  }
  if (got < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0)
    return -1;
  if (buf[EI_CLASS] != ELFCLASS64) {
    snprintf(why, n, "%s is not a 64-bit ELF program", path);
    return -2;
  }
  Elf64_Ehdr eh;
  memcpy(&eh, buf, sizeof(eh));
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int dynamic = 0;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
        (ssize_t)sizeof(ph))
      break;
    if (ph.p_type == PT_INTERP)
      dynamic = 1;
  }
  close(fd);
  return dynamic;
}

/* The recorder process (libtrace/recorder): alloctrace-record beside the library. */
static int find_recorder(const char *lib, char *out, size_t n) {
  snprintf(out, n, "%s", lib);
  char *slash = strrchr(out, '/');
  if (!slash)
    return -1;
  snprintf(slash + 1, n - (size_t)(slash + 1 - out), "alloctrace-record");
  if (access(out, X_OK) == 0)
    return 0;
  /* a library copied elsewhere (bench/ab.sh's builds): the recorder of this alloctrace */
  static const char *const where[] = {"%s/../libtrace/alloctrace-record",
                                      "%s/../" ATR_LIBDIR_REL "/alloctrace/alloctrace-record",
                                      "%s/../lib/alloctrace/alloctrace-record"};
  return atr_find_beside_self("ALLOCTRACE_RECORDER", where, sizeof(where) / sizeof(*where), X_OK,
                              out, n);
}

/* Bad output paths are refused before anything runs: a missing directory, one we may
 * not write, an existing path that is not a regular file. */
static void check_output(const char *out) {
  struct stat os;
  if (lstat(out, &os) == 0) {
    if (!S_ISREG(os.st_mode))
      atr_usage_error("%s exists and is not a regular file", out);
    if (unlink(out) != 0)
      atr_usage_error("%s: cannot replace: %s", out, strerror(errno));
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", out);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = 0;
  else if (slash)
    *slash = 0;
  struct stat ds;
  if (stat(dir, &ds) != 0)
    atr_usage_error("%s: cannot write the trace there: %s", out,
                    errno == ENOENT ? "no such directory" : strerror(errno));
  if (!S_ISDIR(ds.st_mode))
    atr_usage_error("%s: cannot write the trace there: %s is not a directory", out, dir);
  if (access(dir, W_OK | X_OK) != 0)
    atr_usage_error("%s: cannot write the trace there: %s", out, strerror(errno));
}

typedef struct {
  FILE *status;  /* the recorder's status lines */
  int control;   /* closed when the program is done: the recorder may end */
  pid_t pid;
  /* from its "done" lines: events of the images done, its CPU and max RSS so far */
  unsigned long long events, cpu_us;
  long rss_kb;
} recorder_t;

/* What recording cost (run --stats, and run's end-of-run lines). */
static void recorder_stats(const recorder_t *r) {
  char a[64], b[64];
  fprintf(stderr, "alloctrace: recorder: %.2f s of CPU for %s events (%.1f ns per event), "
                  "max RSS %s\n", (double)r->cpu_us / 1e6, atr_count(a, sizeof(a), r->events),
          r->events ? (double)r->cpu_us * 1000.0 / (double)r->events : 0.0,
          atr_bytes(b, sizeof(b), (double)r->rss_kb * 1024.0));
}

/* Starts the recorder and waits until it listens (or says why it cannot). */
static void start_recorder(recorder_t *r, const char *rec, const char *sock, const char *out) {
  int st[2], ctl[2];
  if (pipe2(st, O_CLOEXEC) != 0 || pipe2(ctl, O_CLOEXEC) != 0)
    atr_usage_error("pipe: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    atr_usage_error("fork: %s", strerror(errno));
  if (pid == 0) {
    /* its own process group: a ^C or a signal for the program's group passes it by */
    setpgid(0, 0);
    int sfd = fcntl(st[1], F_DUPFD, 3), cfd = fcntl(ctl[0], F_DUPFD, 3);
    char sbuf[16], cbuf[16];
    snprintf(sbuf, sizeof(sbuf), "%d", sfd);
    snprintf(cbuf, sizeof(cbuf), "%d", cfd);
    unsetenv("LD_PRELOAD");
    execl(rec, "alloctrace-record", "--sock", sock, "--output", out, "--status-fd", sbuf,
          "--control-fd", cbuf, (char *)NULL);
    _exit(127);
  }
  close(st[1]);
  close(ctl[0]);
  r->pid = pid;
  r->control = ctl[1];
  r->status = fdopen(st[0], "r");
  char line[1024];
  if (!r->status || !fgets(line, sizeof(line), r->status))
    atr_usage_error("cannot start the recorder %s", rec);
  line[strcspn(line, "\n")] = 0;
  if (strncmp(line, "error ", 6) == 0)
    atr_usage_error("%s", line + 6);
  if (strcmp(line, "ready") != 0)
    atr_usage_error("the recorder %s said '%s'", rec, line);
}

/* After the program: its trace is closed once the recorder has drained it (the last
 * image of its pid, an exec'd one included). Returns 1 if it ever loaded the tracer. */
static int wait_root(recorder_t *r, pid_t root) {
  close(r->control);
  int loaded = 0;
  char line[1024];
  while (fgets(line, sizeof(line), r->status)) {
    unsigned pid = 0, flags = 0;
    unsigned long long events = 0, cpu_us = 0;
    long rss_kb = 0;
    if (sscanf(line, "loaded %u", &pid) == 1 && pid == (unsigned)root)
      loaded = 1;
    if (sscanf(line, "done %u %u %llu %llu %ld", &pid, &flags, &events, &cpu_us, &rss_kb) >= 2) {
      r->events += events;
      r->cpu_us = cpu_us;
      r->rss_kb = rss_kb;
      if (pid == (unsigned)root && !(flags & ATR_END_EXEC))
        break;
    }
  }
  fclose(r->status);
  int st;
  waitpid(r->pid, &st, WNOHANG); /* it goes on while other processes of the run live */
  return loaded;
}

/* The end-of-run lines come from `summary`'s own analysis (atr_summary_load), run on a
 * thread that follows the trace while the recorder writes it (reader.h
 * atr_reader_follow): at the program's exit only the last frames are left to read. */
static _Atomic int trace_done;
static atr_summary_t run_sum;
static int run_sum_rc = -1;

static void *follow_trace(void *path) {
  run_sum_rc = atr_summary_load(&run_sum, path);
  return NULL;
}

static void short_summary(const char *trace) {
  if (run_sum_rc != 0) {
    fprintf(stderr, "alloctrace: %s\n", run_sum.err);
    return;
  }
  const atr_model_t *m = &run_sum.m;
  char a[64], b[64];
  struct stat st;
  stat(trace, &st);
  fprintf(stderr, "alloctrace: trace written to %s (%s events, %s)\n", trace,
          atr_count(a, sizeof(a), m->tr.events), atr_bytes(b, sizeof(b), (double)st.st_size));
  atr_summary_brief(stderr, &run_sum, "alloctrace: ", 3);
  if (m->tr.truncated)
    fprintf(stderr, "alloctrace: the last frame of the trace is truncated\n");
  for (size_t i = 0; i < m->tr.nnotes; i++) /* e.g. a Rust shim the recorder refused to patch */
    fprintf(stderr, "alloctrace: note: %s\n", m->tr.notes[i]);
}

static pid_t child_pid;
static void forward(int sig) {
  if (child_pid > 0)
    kill(child_pid, sig);
}

int cmd_run(int argc, char **argv) {
  const char *output = NULL, *unwind = "libunwind", *check = NULL;
  int follow = 1, quiet = 0, stats = 0;
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"unwind", required_argument, 0, 'u'},
                                       {"no-follow", no_argument, 0, 'F'},
                                       {"check", required_argument, 0, 'c'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"stats", no_argument, 0, 'S'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "+o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      output = optarg;
      break;
    case 'u':
      if (strcmp(optarg, "libunwind") != 0 && strcmp(optarg, "fp") != 0)
        atr_usage_error("--unwind must be libunwind or fp, not '%s'", optarg);
      unwind = optarg;
      break;
    case 'F':
      follow = 0;
      break;
    case 'c':
      check = optarg;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'S':
      stats = 1;
      break;
    case 'h':
      printf("usage: alloctrace run [-o FILE] [--unwind=libunwind|fp] [--no-follow] "
             "[--check BUDGET] [-q] [--stats] -- CMD ARGS...\n");
      return 0;
    default:
      atr_bad_option(argv, "usage: alloctrace run [-o FILE] [--unwind=libunwind|fp] [--no-follow] -- CMD ARGS...");
    }
  }
  if (optind >= argc)
    atr_usage_error("run needs a command (usage: alloctrace run [options] -- CMD ARGS...)");
  if (check && atr_check_validate(check) != 0)
    return ATR_EXIT_USAGE; /* checked before the run: a typo must not waste it */
  char **cmd = argv + optind;
  char prog[PATH_MAX], lib[PATH_MAX], why[PATH_MAX + 64];
  if (find_program(cmd[0], prog, sizeof(prog)) != 0)
    atr_usage_error("%s: command not found", cmd[0]);
  struct stat st;
  if (stat(prog, &st) != 0 || !S_ISREG(st.st_mode) || access(prog, X_OK) != 0)
    atr_usage_error("%s: not an executable file", prog);
  if (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
      ((st.st_mode & S_ISGID) && st.st_gid != getgid()))
    atr_usage_error("%s is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it, so it "
                    "cannot be traced", prog);
  int dyn = is_dynamic(prog, why, sizeof(why), 0);
  if (dyn == -2)
    atr_usage_error("%s", why);
  if (dyn == 0)
    atr_usage_error("%s is statically linked: LD_PRELOAD cannot reach its allocator, so it "
                    "cannot be traced", prog);
  if (find_library(lib, sizeof(lib)) != 0)
    atr_usage_error("cannot find liballoctrace.so next to this alloctrace (set ALLOCTRACE_LIB)");
  char rec[PATH_MAX];
  if (find_recorder(lib, rec, sizeof(rec)) != 0)
    atr_usage_error("cannot find alloctrace-record next to %s", lib);

  char out[PATH_MAX], cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd)))
    atr_usage_error("cannot get the current directory: %s", strerror(errno));
  if (!output)
    snprintf(out, sizeof(out), "%s/alloctrace.%s.%d.zst", cwd, basename(prog), (int)getpid());
  else if (output[0] == '/')
    snprintf(out, sizeof(out), "%s", output);
  else
    snprintf(out, sizeof(out), "%s/%s", cwd, output);
  check_output(out);
  char sock[64];
  snprintf(sock, sizeof(sock), "alloctrace-%d-%lx", (int)getpid(), (unsigned long)random());
  recorder_t recorder = {0};
  start_recorder(&recorder, rec, sock, out);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0)
    atr_usage_error("pipe: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    atr_usage_error("fork: %s", strerror(errno));
  if (pid == 0) {
    close(pipefd[0]);
    char sockenv[80];
    /* the user's LD_PRELOAD whole, whatever its length (a fixed 8 KiB buffer dropped the
     * last libraries of a longer one: issue 20) */
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(lib) + 2 + (old ? strlen(old) : 0);
    char *pre = malloc(n);
    if (!pre)
      _exit(127);
    if (old && *old)
      snprintf(pre, n, "%s:%s", lib, old);
    else
      snprintf(pre, n, "%s", lib);
    setenv("LD_PRELOAD", pre, 1);
    free(pre);
    snprintf(sockenv, sizeof(sockenv), "@%s", sock);
    setenv("ALLOCTRACE_SOCK", sockenv, 1);
    setenv("ALLOCTRACE_UNWIND", unwind, 1);
    setenv("ALLOCTRACE_FOLLOW", follow ? "1" : "0", 1);
    /* the terminal run was started from: the only descriptor of the program's the
     * tracer may write a diagnostic to (libtrace/rawio.c); 0 when stderr is not one */
    struct stat tty;
    char ttyenv[32];
    snprintf(ttyenv, sizeof(ttyenv), "%lld",
             isatty(2) && fstat(2, &tty) == 0 ? (long long)tty.st_rdev : 0LL);
    setenv("ALLOCTRACE_TTY", ttyenv, 1);
    execv(prog, cmd);
    int e = errno;
    ssize_t w = write(pipefd[1], &e, sizeof(e));
    (void)w;
    _exit(127);
  }
  close(pipefd[1]);
  child_pid = pid;
  int e;
  ssize_t got = read(pipefd[0], &e, sizeof(e));
  close(pipefd[0]);
  if (got == (ssize_t)sizeof(e)) {
    waitpid(pid, NULL, 0);
    close(recorder.control);
    unlink(out);
    atr_usage_error("cannot run %s: %s", prog, strerror(e));
  }
  pthread_t follower;
  int following = 0;
  if (!quiet) {
    atr_reader_follow = &trace_done;
    following = pthread_create(&follower, NULL, follow_trace, out) == 0;
  }
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  /* here, not before the fork: an ignored SIGXFSZ would be inherited by the program */
  signal(SIGXFSZ, SIG_IGN);
  signal(SIGTERM, forward);
  signal(SIGHUP, forward);
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      atr_usage_error("waitpid: %s", strerror(errno));
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int loaded = wait_root(&recorder, pid);
  atomic_store(&trace_done, 1);
  if (following)
    pthread_join(follower, NULL);
  else if (!quiet)
    follow_trace(out);
  atr_reader_follow = NULL;
  struct rlimit fsize;
  if (!loaded && getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY) {
    /* the probe does not grow its shared region past the limit (SIGXFSZ would kill the
     * program): the program ran untraced, its status is run's */
    fprintf(stderr, "alloctrace: %s: the trace could not be written: the file size limit "
                    "(ulimit -f) is %llu bytes\n", out, (unsigned long long)fsize.rlim_cur);
    unlink(out);
    return code;
  }
  if (!loaded) {
    fprintf(stderr, "alloctrace: no trace was written for %s: it did not load liballoctrace.so "
                    "(it may reset LD_PRELOAD)\n", prog);
    return code ? code : ATR_EXIT_USAGE;
  }
  if (WIFSIGNALED(status))
    fprintf(stderr, "alloctrace: %s was killed by signal %d\n", prog, WTERMSIG(status));
  if (!quiet) {
    short_summary(out);
    atr_summary_free(&run_sum);
  }
  if (stats)
    recorder_stats(&recorder);
  if (check) {
    int verdict = atr_check_run(out, check);
    if (code == 0)
      code = verdict;
  }
  return code;
}
