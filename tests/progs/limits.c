/* limits: a program at its resource limits, for tests/cli/limits.sh. It must behave the
 * same traced as untraced; it never writes a file.
 *
 *   limits nofile SOFT HARD  sets RLIMIT_NOFILE and executes itself again ("opens"), so
 *                            that the tracer starts under the limit; "opens" opens
 *                            /dev/null until EMFILE, prints "opened K", closes them, then
 *                            makes 100 allocations of 100 B and frees 60 of them (leaks
 *                            40 blocks, 4000 B)
 *   limits as MIB            sets RLIMIT_AS to MIB MiB and executes itself again
 *                            ("blocks"): mallocs 64 KiB blocks until malloc fails (at
 *                            most 65536), prints "blocks K", frees them all
 *   limits count N           mallocs N 64 KiB blocks, prints "blocks N", frees them: the
 *                            baseline of "blocks" (its allocations are N + those of
 *                            printing)
 *   limits hello             prints "hello", makes the same 100 allocations as "opens"
 *   limits sigstacks M US    a thread B whose SIGALRM handler (setitimer every US
 *                            microseconds; 0: no timer) mallocs and frees 4 blocks with
 *                            new stacks (recursion of varying depth) while the main thread
 *                            mallocs and frees M blocks each with a new stack (depth 20):
 *                            both need new stack-arena segments, B's inside its handler.
 *                            The main thread blocks SIGALRM; B does nothing else (its
 *                            handler never interrupts it inside an allocation). Prints
 *                            "main M handler H" (H handler runs: 4 H allocations)
 *   limits closeall T K      dup2s stdin onto every number from 3 to half the soft
 *                            RLIMIT_NOFILE + 15 (where the tracer's descriptors are when
 *                            the hard limit equals the soft one), then close_range(3, ~0)
 *                            and closefrom(3), then
 *                            opens /dev/null (prints "dup2 N open FD"), then T threads
 *                            each malloc and free K blocks with new stacks
 *
 * Exit status 0; 3 when the re-execution failed. Allocations are through malloc/free
 * only, and stdout's buffer is the only other one (printf), but for pthread_create's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void *blocks[65536];

static void hundred(void) {
  for (int i = 0; i < 100; i++)
    blocks[i] = malloc(100);
  for (int i = 0; i < 60; i++)
    free(blocks[i]);
}

static int again(char *self, const char *mode) {
  execl("/proc/self/exe", self, mode, (char *)NULL);
  return 3;
}

/* A block allocated under a stack chosen by bits: at each of d levels walk0 or walk1,
 * so that different bits make different stacks. */
static volatile int sink;
static void *step(unsigned long bits, int d, size_t sz);
static void *walk0(unsigned long bits, int d, size_t sz) {
  void *p = step(bits, d, sz);
  sink++; /* no tail call: the frame stays */
  return p;
}
static void *walk1(unsigned long bits, int d, size_t sz) {
  void *p = step(bits, d, sz);
  sink--;
  return p;
}
static void *step(unsigned long bits, int d, size_t sz) {
  if (d == 0)
    return malloc(sz);
  return bits & 1 ? walk1(bits >> 1, d - 1, sz) : walk0(bits >> 1, d - 1, sz);
}

static _Atomic unsigned long handled;
static atomic_int stop, b_done;

static void on_alarm(int sig) {
  (void)sig;
  int e = errno;
  unsigned long h = atomic_fetch_add(&handled, 1);
  for (int j = 0; j < 4; j++) {
    unsigned long bits = h * 4 + (unsigned long)j;
    free(step(bits, 8 + (int)(bits % 29), 48));
  }
  errno = e;
}

static void *idle(void *arg) {
  (void)arg;
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGALRM);
  pthread_sigmask(SIG_UNBLOCK, &m, NULL);
  while (!atomic_load(&stop))
    pause();
  atomic_store(&b_done, 1);
  return NULL;
}

static int sigstacks(long m, long us) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &mask, NULL);
  pthread_t b;
  if (pthread_create(&b, NULL, idle, NULL) != 0)
    return 3;
  struct itimerval it = {{0, us}, {0, us}};
  if (us > 0)
    setitimer(ITIMER_REAL, &it, NULL);
  for (long i = 0; i < m; i++)
    free(step((unsigned long)i, 20, 32));
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  atomic_store(&stop, 1);
  while (!atomic_load(&b_done)) { /* B may have checked stop just before pause() */
    pthread_kill(b, SIGALRM);
    struct timespec d = {0, 1000000};
    nanosleep(&d, NULL);
  }
  pthread_join(b, NULL);
  printf("main %ld handler %lu\n", m, atomic_load(&handled));
  return 0;
}

static long per_thread;
static void *allocs(void *arg) {
  unsigned long base = (unsigned long)(uintptr_t)arg << 24;
  for (long i = 0; i < per_thread; i++)
    free(step(base + (unsigned long)i, 16, 24));
  return NULL;
}

static int closeall(int threads, long k) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  int n = 0;
  for (rlim_t fd = 3; fd < rl.rlim_cur / 2 + 16 && fd < 65536; fd++)
    if (dup2(0, (int)fd) == (int)fd)
      n++;
  close_range(3u, ~0u, 0);
  closefrom(3);
  int fd = open("/dev/null", O_RDONLY);
  printf("dup2 %d open %d\n", n, fd);
  fflush(stdout);
  close(fd);
  per_thread = k;
  pthread_t t[64];
  threads = threads > 64 ? 64 : threads;
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t[i], NULL, allocs, (void *)(uintptr_t)(i + 1)) != 0)
      return 3;
  for (int i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "sigstacks") == 0)
    return sigstacks(atol(argv[2]), atol(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "closeall") == 0)
    return closeall(atoi(argv[2]), atol(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "nofile") == 0) {
    struct rlimit rl = {strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10)};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      return 3;
    return again(argv[0], "opens");
  }
  if (argc >= 3 && strcmp(argv[1], "as") == 0) {
    struct rlimit rl = {strtoul(argv[2], NULL, 10) << 20, strtoul(argv[2], NULL, 10) << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
      return 3;
    return again(argv[0], "blocks");
  }
  if (argc >= 2 && strcmp(argv[1], "opens") == 0) {
    int n = 0, fds[65536];
    for (int fd; n < 65536 && (fd = open("/dev/null", O_RDONLY)) >= 0;)
      fds[n++] = fd;
    int e = errno;
    printf("opened %d%s\n", n, e == EMFILE ? "" : " (not EMFILE)");
    for (int i = 0; i < n; i++)
      close(fds[i]);
    hundred();
    return 0;
  }
  if (argc >= 2 && (strcmp(argv[1], "blocks") == 0 || strcmp(argv[1], "count") == 0)) {
    int max = argc >= 3 ? atoi(argv[2]) : 65536, n = 0;
    if (max > 65536)
      max = 65536;
    while (n < max && (blocks[n] = malloc(65536)) != NULL)
      n++;
    printf("blocks %d\n", n);
    for (int i = 0; i < n; i++)
      free(blocks[i]);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "hello") == 0) {
    printf("hello\n");
    hundred();
    return 0;
  }
  return 3;
}
