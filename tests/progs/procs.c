/* procs: process-level behaviours the recorder must survive, one per mode. Every
 * allocation the program makes itself has a size no library uses, so a test can find
 * exactly these blocks in each process's trace. Never uses stdio (it would allocate):
 * output goes through write(2).
 *
 *   fork N          a hammer thread does malloc(1616)/free pairs the whole time while
 *                   main forks N children. parent_before: 5 x malloc(5005) leaked;
 *                   each child: child_work 7 x malloc(7007), 3 freed (4 leaked), exit(0);
 *                   parent_after: 6 x malloc(6006), all freed. Prints "hammer <pairs>".
 *   forkexec        child: pre_exec 2 x malloc(2002) leaked, then execs
 *                   `procs exec-child`: exec_child 3 x malloc(3003) leaked, exit 0.
 *   spawn           posix_spawn `procs spawn-child`: spawn_child 4 x malloc(4114),
 *                   1 freed (3 leaked).
 *   system          system("procs system-child"): system_child 5 x malloc(5115) leaked.
 *   dlopen LIB      dlopen LIB (its constructor: 4 x malloc(4001), one freed by its
 *                   destructor), dlt_work 5 x malloc(4002); dlclose; the 5 blocks are
 *                   freed by use_after_close() in this program after the dlclose. Twice
 *                   (load, work, close, load, work, close): 8 + 10 allocations in LIB.
 *   killkids US N   N children, each killed US microseconds after its fork while it
 *                   makes 100 malloc(1111); prints "kid <pid> <mallocs returned>"
 *   latefork MS     one malloc+free, sleeps MS ms, forks a child that makes 10
 *                   malloc(2222)+free pairs and lives 10 ms
 *   inherit         inherit_parent 20 x malloc(3131) and 3 x __libc_malloc(3232) (never
 *                   seen by the tracer), with a hammer thread allocating; fork child 1:
 *                   frees blocks 0-7, reallocs 8-11 to 3333 (both: frees of inherited
 *                   blocks, 12), frees the 3 untraced blocks (3 unknown frees), makes
 *                   inherit_child 5 x malloc(3434), 2 freed; exit 0. The parent then frees
 *                   blocks 15-19, makes inherit_more 2 x malloc(3535) and forks child 2,
 *                   which does as child 1 and frees the 2 new blocks too (14 inherited).
 *                   The parent frees the rest (10 blocks of 3131, 2 of 3535) and the 3
 *                   untraced ones (3 unknown frees in the parent).
 *   spin            before_marker 100 x malloc(4242) leaked, prints "marker <pid>",
 *                   then malloc(64)/free pairs in spin_loop until killed.
 *   _exit | _Exit   exit_work 8 x malloc(8008), 5 freed; then _exit(0) / _Exit(0).
 *   exit-thread F   main does malloc(1717)/free pairs, counting each completed call in
 *                   the shared file F (u64 mallocs, u64 frees); a second thread calls
 *                   exit(0) after 20000 pairs. Exit runs while main keeps allocating.
 *   closefds OUT    closefrom(3); fds_a: 10 x malloc(1001), 4 freed; opens OUT, writes
 *                   "one"; closes every fd 3..1023 but its own (prints how many close()
 *                   calls succeeded); fds_b: 10 x malloc(1002), 4 freed; close_range(4,
 *                   ~0); dup2(own, fd) onto every fd in /proc/self/fd it did not open and
 *                   writes "two" through the last one; fds_c: 10 x malloc(1003), 4 freed;
 *                   writes "three" through its own fd. Leaks 18 blocks, 18036 B.
 *   symlink STEM V  fork; the child puts a symlink STEM.<pid>.zst -> V, then symlink_child
 *                   3 x malloc(9009) leaked, exit 0.
 *   exec-fail       exec_fail_before 2 x malloc(1212) leaked; execv of a missing file
 *                   (the recorder flushes, then the program goes on); exec_fail_after
 *                   4 x malloc(1313), 2 freed.
 *   exit N          exit(N) without allocating.     signal N: raise(N).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "say.h"

extern char **environ;


static void *sink[64];

/* n blocks of `size`, the first `nfree` freed again, the rest kept (leaked) */
__attribute__((noinline)) static void batch(size_t size, int n, int nfree) {
  for (int i = 0; i < n; i++) {
    sink[i] = malloc(size);
    memset(sink[i], i, size);
  }
  for (int i = 0; i < nfree; i++)
    free(sink[i]);
}

static void msleep(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&d, &d) != 0 && errno == EINTR)
    ;
}

static char self[4096];

static void find_self(void) {
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    _exit(98);
  self[n] = 0;
}

/* ---- fork ---- */

static _Atomic int stop;
static unsigned long hammer_pairs;

static void *hammer(void *arg) {
  (void)arg;
  while (!stop) {
    void *p = malloc(1616);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    hammer_pairs++;
  }
  return NULL;
}

__attribute__((noinline)) static void parent_before(void) { batch(5005, 5, 0); }
__attribute__((noinline)) static void child_work(void) { batch(7007, 7, 3); }
__attribute__((noinline)) static void parent_after(void) { batch(6006, 6, 6); }

static int mode_fork(int n) {
  pthread_t th;
  parent_before();
  if (pthread_create(&th, NULL, hammer, NULL) != 0)
    return 1;
  msleep(20);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0)
      return 1;
    if (pid == 0) {
      child_work();
      exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad++;
    msleep(5);
  }
  parent_after();
  stop = 1;
  pthread_join(th, NULL);
  say("hammer %lu\nforks %d bad %d\n", hammer_pairs, n, bad);
  return bad != 0;
}

/* ---- inherited blocks ---- */

extern void *__libc_malloc(size_t);
static void *inh[20], *inh_more[2], *untraced[3];

__attribute__((noinline)) static void inherit_parent(void) {
  for (int i = 0; i < 20; i++)
    inh[i] = malloc(3131);
  for (int i = 0; i < 3; i++)
    untraced[i] = __libc_malloc(3232);
}
__attribute__((noinline)) static void inherit_more(void) {
  for (int i = 0; i < 2; i++)
    inh_more[i] = malloc(3535);
}
__attribute__((noinline)) static void inherit_child(int second) {
  for (int i = 0; i < 8; i++)
    free(inh[i]);
  for (int i = 8; i < 12; i++) {
    void *p = realloc(inh[i], 3333);
    __asm__ volatile("" : : "r"(p) : "memory");
  }
  for (int i = 0; i < 3; i++)
    free(untraced[i]);
  if (second)
    for (int i = 0; i < 2; i++)
      free(inh_more[i]);
  batch(3434, 5, 2);
}

static int mode_inherit(void) {
  pthread_t th;
  inherit_parent();
  if (pthread_create(&th, NULL, hammer, NULL) != 0)
    return 1;
  /* the forks happen while the hammer is busy: past 1,000 pairs however loaded the
   * machine (tests/cli/preload.sh counts the root as busy above 1,000 allocations) */
  while (__atomic_load_n(&hammer_pairs, __ATOMIC_RELAXED) < 1001)
    msleep(1);
  int bad = 0;
  for (int k = 0; k < 2; k++) {
    if (k == 1) {
      for (int i = 15; i < 20; i++)
        free(inh[i]);
      inherit_more();
    }
    pid_t pid = fork();
    if (pid < 0)
      return 1;
    if (pid == 0) {
      inherit_child(k);
      exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad++;
  }
  stop = 1;
  pthread_join(th, NULL);
  for (int i = 0; i < 15; i++)
    free(inh[i]);
  for (int i = 0; i < 2; i++)
    free(inh_more[i]);
  for (int i = 0; i < 3; i++)
    free(untraced[i]);
  say("inherit bad %d\n", bad);
  return bad != 0;
}

/* ---- exec, spawn, system ---- */

__attribute__((noinline)) static void pre_exec(void) { batch(2002, 2, 0); }
__attribute__((noinline)) static void exec_child(void) { batch(3003, 3, 0); }
__attribute__((noinline)) static void spawn_child(void) { batch(4114, 4, 1); }
__attribute__((noinline)) static void system_child(void) { batch(5115, 5, 0); }

static int wait_ok(pid_t pid) {
  int st;
  return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int mode_forkexec(void) {
  pid_t pid = fork();
  if (pid == 0) {
    pre_exec();
    char *argv[] = {"procs", "exec-child", NULL};
    execv(self, argv);
    _exit(127);
  }
  int ok = wait_ok(pid);
  say("forkexec %s\n", ok ? "ok" : "failed");
  return !ok;
}

static int mode_spawn(void) {
  pid_t pid;
  char *argv[] = {"procs", "spawn-child", NULL};
  int r = posix_spawn(&pid, self, NULL, NULL, argv, environ);
  int ok = r == 0 && wait_ok(pid);
  say("spawn %s\n", ok ? "ok" : "failed");
  return !ok;
}

static int mode_system(void) {
  char cmd[4200];
  snprintf(cmd, sizeof(cmd), "'%s' system-child", self);
  int st = system(cmd);
  int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  say("system %s\n", ok ? "ok" : "failed");
  return !ok;
}

__attribute__((noinline)) static void exec_fail_before(void) { batch(1212, 2, 0); }
__attribute__((noinline)) static void exec_fail_after(void) { batch(1313, 4, 2); }

static int mode_exec_fail(void) {
  exec_fail_before();
  char *argv[] = {"missing", NULL};
  int r = execv("/nonexistent/alloctrace-missing-program", argv);
  int e = errno;
  exec_fail_after();
  say("exec-fail %d %s\n", r, e == ENOENT ? "ENOENT" : "other");
  return 0;
}

/* ---- dlopen ---- */

__attribute__((noinline)) static void use_after_close(void **blocks, int n) {
  for (int i = 0; i < n; i++)
    free(blocks[i]);
}

static int mode_dlopen(const char *lib) {
  void *blocks[5];
  for (int round = 0; round < 2; round++) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      say("dlopen failed\n");
      return 1;
    }
    void (*work)(void **, int);
    void *sym = dlsym(h, "dlt_work");
    if (!sym)
      return 1;
    memcpy(&work, &sym, sizeof(work)); /* POSIX allows this conversion (dlsym(3)) */
    work(blocks, 5);
    if (dlclose(h) != 0)
      return 1;
    use_after_close(blocks, 5);
  }
  say("dlopen ok\n");
  return 0;
}

/* ---- spin until killed ---- */

__attribute__((noinline)) static void before_marker(void) { batch(4242, 100, 0); }

__attribute__((noinline)) static void spin_loop(void) {
  for (;;) {
    for (int i = 0; i < 100; i++) {
      void *p = malloc(64);
      __asm__ volatile("" : : "r"(p) : "memory");
      free(p);
    }
    msleep(1);
  }
}

/* ---- _exit ---- */

__attribute__((noinline)) static void exit_work(void) { batch(8008, 8, 5); }

/* ---- exit from a second thread ---- */

static volatile uint64_t *shared; /* [0] mallocs returned, [1] frees returned */

static void *exiter(void *arg) {
  (void)arg;
  while (shared[1] < 20000)
    sched_yield();
  exit(0);
}

__attribute__((noinline)) static void exit_thread_loop(void) {
  for (;;) {
    void *p = malloc(1717);
    shared[0]++;
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    shared[1]++;
  }
}

static int mode_exit_thread(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, 4096) != 0)
    return 1;
  shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (shared == MAP_FAILED)
    return 1;
  pthread_t th;
  if (pthread_create(&th, NULL, exiter, NULL) != 0)
    return 1;
  exit_thread_loop();
  return 1;
}

/* ---- daemon-style descriptor closing ---- */

__attribute__((noinline)) static void fds_a(void) { batch(1001, 10, 4); }
__attribute__((noinline)) static void fds_b(void) { batch(1002, 10, 4); }
__attribute__((noinline)) static void fds_c(void) { batch(1003, 10, 4); }

static int put(int fd, const char *s) {
  return write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : 1;
}

static int mode_closefds(const char *out) {
  closefrom(3);
  fds_a();
  int own = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (own < 0)
    return 1;
  int bad = put(own, "one\n");
  int closed = 0;
  for (int fd = 3; fd < 1024; fd++)
    if (fd != own && close(fd) == 0)
      closed++;
  fds_b();
  if (close_range((unsigned)own + 1, ~0u, 0) != 0)
    bad++;
  /* every descriptor this program did not open becomes a copy of its own file */
  int fds[64], nfds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 1;
  int dfd = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) && nfds < 64) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd > 2 && fd != own && fd != dfd)
      fds[nfds++] = fd;
  }
  closedir(d);
  int last = own;
  for (int i = 0; i < nfds; i++)
    if (dup2(own, fds[i]) == fds[i])
      last = fds[i];
  bad += put(last, "two\n");
  fds_c();
  bad += put(own, "three\n");
  say("closefds closed %d bad %d\n", closed, bad);
  return bad != 0;
}

/* ---- symlink at the child's derived trace name ---- */

__attribute__((noinline)) static void symlink_child(void) { batch(9009, 3, 0); }

static int mode_symlink(const char *stem, const char *victim) {
  pid_t pid = fork();
  if (pid == 0) {
    char path[4200];
    snprintf(path, sizeof(path), "%s.%d.zst", stem, (int)getpid());
    if (symlink(victim, path) != 0)
      _exit(3);
    symlink_child();
    exit(0);
  }
  int ok = wait_ok(pid);
  say("symlink %s\n", ok ? "ok" : "failed");
  return !ok;
}

/* ---- children killed a few microseconds after their fork ----
 * Each child counts, in memory its parent reads after the kill, the malloc(1111) calls
 * that returned: the trace must hold that many (or one more, in flight at the kill). */
static int mode_killkids(long delay_us, int n) {
  volatile unsigned *counts = mmap(NULL, (size_t)n * sizeof(unsigned), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (counts == MAP_FAILED)
    return 1;
  for (int k = 0; k < n; k++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < 100; i++) {
        void *p = malloc(1111);
        __asm__ volatile("" ::"r"(p) : "memory");
        counts[k]++;
      }
      for (;;)
        pause();
    }
    if (delay_us)
      usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    say("kid %d %u\n", (int)pid, counts[k]);
  }
  return 0;
}

/* ---- a short-lived child forked late in its parent's life ---- */
static int mode_latefork(long parent_ms) {
  free(malloc(100));
  usleep((useconds_t)parent_ms * 1000);
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < 10; i++)
      free(malloc(2222));
    usleep(10000);
    _exit(0);
  }
  return !wait_ok(pid);
}

int main(int argc, char **argv) {
  find_self();
  const char *m = argc > 1 ? argv[1] : "";
  const char *a = argc > 2 ? argv[2] : "";
  if (!strcmp(m, "fork"))
    return mode_fork(argc > 2 ? atoi(a) : 4);
  if (!strcmp(m, "inherit"))
    return mode_inherit();
  if (!strcmp(m, "forkexec"))
    return mode_forkexec();
  if (!strcmp(m, "exec-child")) {
    exec_child();
    exit(0);
  }
  if (!strcmp(m, "spawn"))
    return mode_spawn();
  if (!strcmp(m, "exec-fail"))
    return mode_exec_fail();
  if (!strcmp(m, "spawn-child")) {
    spawn_child();
    return 0;
  }
  if (!strcmp(m, "system"))
    return mode_system();
  if (!strcmp(m, "system-child")) {
    system_child();
    return 0;
  }
  if (!strcmp(m, "dlopen") && argc > 2)
    return mode_dlopen(a);
  if (!strcmp(m, "spin")) {
    before_marker();
    say("marker %d\n", (int)getpid());
    spin_loop();
  }
  if (!strcmp(m, "_exit")) {
    exit_work();
    _exit(0);
  }
  if (!strcmp(m, "_Exit")) {
    exit_work();
    _Exit(0);
  }
  if (!strcmp(m, "exit-thread") && argc > 2)
    return mode_exit_thread(a);
  if (!strcmp(m, "closefds") && argc > 2)
    return mode_closefds(a);
  if (!strcmp(m, "symlink") && argc > 3)
    return mode_symlink(a, argv[3]);
  if (!strcmp(m, "killkids") && argc > 3)
    return mode_killkids(atol(a), atoi(argv[3]));
  if (!strcmp(m, "latefork") && argc > 2)
    return mode_latefork(atol(a));
  if (!strcmp(m, "exit"))
    exit(atoi(a));
  if (!strcmp(m, "signal")) {
    raise(atoi(a));
    return 0;
  }
  say("usage: procs MODE [ARGS] (see the comment at the top of procs.c)\n");
  return 2;
}
