/* hostile: a program that treats its environment the way daemons and odd programs do,
 * for tests/cli/hostile_env.sh (issue 20): forks while another thread allocates, dup2s
 * from a signal handler, dlopens in fork children, seals itself against writes at exit,
 * prints its LD_PRELOAD. Each mode's exact allocations are below; a mode never
 * allocates anything else itself (say() uses no stdio buffer), and no mode may hang:
 * every wait is for a child or a thread that ends by itself.
 *
 *   forkstorm N   a thread mallocs and frees 4099-byte blocks until main is done (16 per
 *                 50 us, at most 200,000); main
 *                 mallocs and frees one 4111-byte block before each of N forks; each
 *                 child dup2s /dev/null over fds 60..63 and over every socket it holds,
 *                 mallocs and frees one 4127-byte block, and exit(0)s. Prints
 *                 "children N ok K thread A" (K children exited 0, A thread blocks).
 *                 malloc and exit in a child of a threaded parent are not
 *                 async-signal-safe under POSIX; they are the case under test and are
 *                 safe with glibc, whose fork resets malloc's and stdio's locks in the
 *                 child (the program registers no atexit handler of its own).
 *   sigdup N      SIGALRM every 100 us (setitimer); the handler dup2s /dev/null over
 *                 fd 71 or 72 (and once over every socket the process holds); main dup2s
 *                 over fds 73 and 74 in a loop (and once over the sockets) until the
 *                 handler ran N times, then mallocs and frees 100 blocks of 4133 bytes.
 *                 Prints "handler N main M" (M: main's dup2 calls).
 *   dlfork LIB N  a thread dlopens and dlcloses LIB until main is done (at most 4,000
 *                 times); once it has done so 1,000 times, main forks N
 *                 children that each malloc and free one 4139-byte block and _exit(0)
 *                 (a fork child of a threaded program may not dlopen: glibc's loader
 *                 state can be mid-change, ld.so asserts). Prints "children N ok K".
 *                 In a process group of its own; SIGTERM kills the group.
 *   sealexit M    a thread mallocs and frees 4099-byte blocks until exit; at exit, an
 *                 atexit handler forbids writing to files (seccomp, every thread: write,
 *                 writev, pwrite*, sendfile, splice, copy_file_range to a descriptor that
 *                 is a regular file or a device, creat, open/openat for writing kill the
 *                 process with SIGSYS), then mallocs and frees M blocks of 4157 bytes.
 *                 Prints "sealed" before sealing; exit 0 unless something wrote a file.
 *   sealexit M write   the same, and the handler then writes to fd 1 itself: the seal's
 *                 own check, SIGSYS.
 *   preload       prints LD_PRELOAD and a newline ("(unset)" when it is not set).
 *   stderr TEXT   writes TEXT and a newline to fd 2, mallocs and frees one 4111 B block.
 * Built as hostile_cd too (-DHOSTILE_CD), linked with libhostile_cd.so, whose
 * constructor chdirs to $HOSTILE_CHDIR; its "preload" mode then also prints "moved 1".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

static _Atomic int done;
static _Atomic long thread_blocks;
/* One malloc and free of n bytes, which the compiler may not elide (the block's address
 * goes through a volatile). The pointer is the calling thread's own local: a global
 * `void *volatile sink` shared by main and the allocator thread was a data race, and
 * `sink = malloc(n); free(sink);` re-reads sink, so main could free the thread's block
 * (and the thread free it again, or main's): glibc aborted with "double free or
 * corruption (out)" in main's free of the forkstorm loop, untraced as well as traced
 * (4 of 60 runs untraced, 3 of 60 under `run --no-follow`). sealexit's handler, which
 * runs while the thread allocates, had the same race. */
static void churn(size_t n) {
  void *volatile p = malloc(n);
  free(p);
}

/* 16 blocks per 50 us, at most 200,000: concurrent with the whole fork storm, and a
 * trace small enough to dump */
static void *allocator(void *arg) {
  (void)arg;
  for (long n = 0; !atomic_load(&done) && n < 200000; n++) {
    churn(4099);
    atomic_fetch_add(&thread_blocks, 1);
    if (n % 16 == 15)
      usleep(50);
  }
  return NULL;
}

/* dup2 /dev/null over every socket this process holds (the tracer's connection is the
 * only one: the program opens none). No allocation: getdents64 into a stack buffer. */
static void over_sockets(int null) {
  int d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return;
  int fds[64], n = 0;
  char buf[4096];
  for (long r; (r = syscall(SYS_getdents64, d, buf, sizeof(buf))) > 0;) {
    for (long o = 0; o < r;) {
      struct dirent64 *e = (struct dirent64 *)(buf + o);
      o += e->d_reclen;
      int fd = atoi(e->d_name);
      struct stat st;
      if (e->d_name[0] != '.' && fd != d && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && n < 64)
        fds[n++] = fd;
    }
  }
  close(d);
  for (int i = 0; i < n; i++)
    dup2(null, fds[i]);
}

static int wait_all(int n) {
  int ok = 0;
  for (int i = 0; i < n; i++) {
    int st;
    while (wait(&st) < 0 && errno == EINTR)
      ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
      ok++;
  }
  return ok;
}

static int forkstorm(int n) {
  pthread_t th;
  if (pthread_create(&th, NULL, allocator, NULL) != 0)
    return 3;
  int started = 0;
  for (int i = 0; i < n; i++) {
    churn(4111);
    pid_t p = fork();
    if (p < 0)
      break;
    if (p == 0) {
      int null = open("/dev/null", O_RDWR);
      for (int fd = 60; fd < 64; fd++)
        if (dup2(null, fd) != fd)
          _exit(4);
      over_sockets(null);
      churn(4127);
      exit(0);
    }
    started++;
  }
  int ok = wait_all(started);
  atomic_store(&done, 1);
  pthread_join(th, NULL);
  say("children %d ok %d thread %ld\n", started, ok, atomic_load(&thread_blocks));
  return 0;
}

static _Atomic int handled;
static int null_fd;

static void on_alarm(int sig) {
  (void)sig;
  int e = errno;
  int n = atomic_fetch_add(&handled, 1);
  if (n == 0)
    over_sockets(null_fd);
  dup2(null_fd, 71 + (n & 1));
  errno = e;
}

static int sigdup(int want) {
  null_fd = open("/dev/null", O_RDWR);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 100}, {0, 100}};
  setitimer(ITIMER_REAL, &it, NULL);
  long calls = 0;
  over_sockets(null_fd);
  while (atomic_load(&handled) < want) {
    dup2(null_fd, 73 + (int)(calls & 1));
    calls++;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  for (int i = 0; i < 100; i++) {
    churn(4133);
  }
  say("handler %d main %ld\n", want, calls);
  return 0;
}

static const char *lib_path;
static _Atomic int loads;

/* at most 4,000 cycles: each load is a new module entry (8,192 at most per image) */
static void *loader(void *arg) {
  (void)arg;
  for (int n = 0; !atomic_load(&done) && n < 4000; n++) {
    void *h = dlopen(lib_path, RTLD_NOW);
    if (h)
      dlclose(h);
    atomic_fetch_add(&loads, 1);
  }
  return NULL;
}

/* a SIGTERM (a test's timeout, forwarded by run) takes the children along: a hung child
 * must not outlive the test */
static void kill_group(int sig) {
  (void)sig;
  kill(0, SIGKILL);
}

static int dlfork(const char *lib, int n) {
  lib_path = lib;
  setpgid(0, 0);
  signal(SIGTERM, kill_group);
  pthread_t th;
  if (pthread_create(&th, NULL, loader, NULL) != 0)
    return 3;
  while (atomic_load(&loads) < 1000) /* the thread is loading when the forks begin */
    sched_yield();
  int started = 0;
  for (int i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0)
      break;
    if (p == 0) {
      churn(4139);
      _exit(0);
    }
    started++;
  }
  int ok = wait_all(started);
  atomic_store(&done, 1);
  pthread_join(th, NULL);
  say("children %d ok %d\n", started, ok);
  return 0;
}

static int seal_blocks, seal_selftest;

/* The descriptors at the seal that lead to a file or a device (regular files and
 * character devices: stdout, stderr, data files): writing to one of them, or opening a
 * file for writing, kills the process. Pipes and sockets stay writable: the tracer's
 * doorbell and libunwind's memory-validation pipe (a byte per probe) are not files. */
static int file_fds(int *out, int cap) {
  int n = 0;
  for (int fd = 0; fd < 1024 && n < cap; fd++) {
    struct stat st;
    if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)))
      out[n++] = fd;
  }
  return n;
}

#define STMT(code, k) f[n++] = (struct sock_filter)BPF_STMT(code, k)
#define JUMP(code, k, jt, jf) f[n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf)
#define LOAD(field) STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

static void seal(void) {
  say("sealed\n");
  int fds[32];
  int nf = file_fds(fds, 32);
  /* syscall number -> which argument is the descriptor written to */
  static const struct { int nr, arg; } writers[] = {
      {__NR_write, 0}, {__NR_writev, 0}, {__NR_pwrite64, 0}, {__NR_pwritev, 0},
      {__NR_pwritev2, 0}, {__NR_sendfile, 0}, {__NR_splice, 2}, {__NR_copy_file_range, 2}};
  struct sock_filter f[512];
  unsigned n = 0;
  LOAD(arch);
  JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (size_t w = 0; w < sizeof(writers) / sizeof(writers[0]); w++) {
    LOAD(nr);
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)writers[w].nr, 0, (unsigned char)(nf + 1));
    LOAD(args[writers[w].arg]);
    for (int i = 0; i < nf; i++) /* a listed descriptor: to the KILL after the list */
      JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)fds[i], (unsigned char)(nf - 1 - i + 1), 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  }
  LOAD(nr);
  JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_creat, 0, 1);
  STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  /* open(path, flags): flags are args[1]; openat(dir, path, flags): args[2] */
  JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 0, 3);
  LOAD(args[1]);
  JUMP(BPF_JMP | BPF_JSET | BPF_K, WRITE_FLAGS, 4, 5);
  STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW); /* not reached */
  JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 3);
  LOAD(args[2]);
  JUMP(BPF_JMP | BPF_JSET | BPF_K, WRITE_FLAGS, 0, 1);
  STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {(unsigned short)n, f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    _exit(6);
  for (int i = 0; i < seal_blocks; i++) {
    churn(4157);
  }
  if (seal_selftest)
    say("after the seal\n");
}

static int sealexit(int m, int selftest) {
  seal_blocks = m;
  seal_selftest = selftest;
  atexit(seal); /* registered first: runs after every other atexit handler */
  pthread_t th;
  if (pthread_create(&th, NULL, allocator, NULL) != 0)
    return 3;
  while (atomic_load(&thread_blocks) < 1000)
    sched_yield();
  return 0; /* exit() with the thread still allocating */
}

#ifdef HOSTILE_CD
int hostile_cd_moved(void); /* hostile_cd.c */
#endif

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "forkstorm") == 0)
    return forkstorm(atoi(argv[2]));
  if (argc >= 3 && strcmp(argv[1], "sigdup") == 0)
    return sigdup(atoi(argv[2]));
  if (argc >= 4 && strcmp(argv[1], "dlfork") == 0)
    return dlfork(argv[2], atoi(argv[3]));
  if (argc >= 3 && strcmp(argv[1], "sealexit") == 0)
    return sealexit(atoi(argv[2]), argc >= 4 && strcmp(argv[3], "write") == 0);
  if (argc >= 2 && strcmp(argv[1], "preload") == 0) {
    const char *p = getenv("LD_PRELOAD");
    if (!p)
      p = "(unset)";
    size_t n = strlen(p);
    if (write(1, p, n) != (ssize_t)n || write(1, "\n", 1) != 1)
      return 7;
#ifdef HOSTILE_CD
    say("moved %d\n", hostile_cd_moved());
#endif
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "stderr") == 0) {
    say_err("%s\n", argv[2]);
    churn(4111);
    return 0;
  }
  say_err("usage: hostile forkstorm N | sigdup N | dlfork LIB N | sealexit M | preload | stderr TEXT\n");
  return 2;
}
