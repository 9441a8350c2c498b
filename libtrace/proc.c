/* Process-level hooks: mark the image's end before exec and _exit, follow
 * dlopen/dlclose and thread renames, keep the tracer's descriptors (the recorder
 * connection, the region) alive when a daemon closes every descriptor (close, closefrom,
 * close_range, dup2, dup3), note the starting directory before a chdir that precedes
 * start-up. Each forwards to the real function with the program's arguments and returns
 * its result unchanged. No hook here takes a lock (libtrace/README.md): they run in
 * signal handlers and fork children.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <unistd.h>

#include "real.h"
#include "tracer.h"


static int active(void) {
  return atomic_load_explicit(&atr__state, memory_order_relaxed) == ATR_ON && !atr__tls.guard;
}

#define ATR_NEED(name)                                                                   \
  do {                                                                                   \
    if (ATR_UNLIKELY(!atr__real.name))                                                   \
      atr__real_init();                                                                  \
  } while (0)

/* A vfork child shares our memory: it must not touch the parent's trace. The events
 * are in the shared region already; the recorder closes the trace when the exec has
 * closed the connection. A failed exec takes the mark back. */
static int before_exec(void) {
  if (!active() || atr__pid != (int)getpid())
    return 0;
  atr__shm_end(ATR_END_EXEC);
  return 1;
}
static int after_exec(int marked, int r) {
  if (marked) {
    int e = errno;
    atr__shm_end(0);
    errno = e;
  }
  return r;
}

ATR_EXPORT void _exit(int status) {
  ATR_NEED(_exit);
  atr__finish(ATR_END_EXIT);
  atr__real._exit(status);
  __builtin_unreachable();
}

ATR_EXPORT void _Exit(int status) {
  ATR_NEED(_Exit);
  atr__finish(ATR_END_EXIT);
  atr__real._Exit(status);
  __builtin_unreachable();
}

ATR_EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  ATR_NEED(execve);
  int marked = before_exec();
  return after_exec(marked, atr__real.execve(path, argv, envp));
}

ATR_EXPORT int execv(const char *path, char *const argv[]) {
  ATR_NEED(execv);
  int marked = before_exec();
  return after_exec(marked, atr__real.execv(path, argv));
}

ATR_EXPORT int execvp(const char *file, char *const argv[]) {
  ATR_NEED(execvp);
  int marked = before_exec();
  return after_exec(marked, atr__real.execvp(file, argv));
}

ATR_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  ATR_NEED(execvpe);
  int marked = before_exec();
  return after_exec(marked, atr__real.execvpe(file, argv, envp));
}

ATR_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  ATR_NEED(fexecve);
  int marked = before_exec();
  return after_exec(marked, atr__real.fexecve(fd, argv, envp));
}

/* glibc's execl* call its internal execve directly, so they are hooked too. */
#define ATR_MAX_ARGS 4096
#define ATR_COLLECT_ARGS(arg0, ap, argv, n)                                              \
  do {                                                                                   \
    argv[0] = (char *)(arg0);                                                            \
    n = 1;                                                                               \
    while (argv[n - 1] && n < ATR_MAX_ARGS)                                              \
      argv[n++] = va_arg(ap, char *);                                                    \
    if (argv[n - 1]) {                                                                   \
      errno = E2BIG;                                                                     \
      va_end(ap);                                                                        \
      return -1;                                                                         \
    }                                                                                    \
  } while (0)

ATR_EXPORT int execl(const char *path, const char *arg, ...) {
  char *argv[ATR_MAX_ARGS];
  int n;
  va_list ap;
  va_start(ap, arg);
  ATR_COLLECT_ARGS(arg, ap, argv, n);
  va_end(ap);
  return execv(path, argv);
}

ATR_EXPORT int execlp(const char *file, const char *arg, ...) {
  char *argv[ATR_MAX_ARGS];
  int n;
  va_list ap;
  va_start(ap, arg);
  ATR_COLLECT_ARGS(arg, ap, argv, n);
  va_end(ap);
  return execvp(file, argv);
}

ATR_EXPORT int execle(const char *path, const char *arg, ...) {
  char *argv[ATR_MAX_ARGS];
  int n;
  va_list ap;
  va_start(ap, arg);
  ATR_COLLECT_ARGS(arg, ap, argv, n);
  char *const *envp = va_arg(ap, char *const *);
  va_end(ap);
  return execve(path, argv, envp);
}

static void modules_changed(void) {
  if (!active())
    return;
  atr__tls.guard = 1;
  atr__record_control(ATR_EV_MODULES, atr__modules_scan());
  atr__patch_modules();
  atr__tls.guard = 0;
}

ATR_EXPORT void *dlopen(const char *file, int flags) {
  ATR_NEED(dlopen);
  void *h = atr__real.dlopen(file, flags);
  int e = errno;
  if (h)
    modules_changed();
  errno = e;
  return h;
}

ATR_EXPORT void *dlmopen(long ns, const char *file, int flags) {
  ATR_NEED(dlmopen);
  void *h = atr__real.dlmopen(ns, file, flags);
  int e = errno;
  if (h)
    modules_changed();
  errno = e;
  return h;
}

ATR_EXPORT int dlclose(void *h) {
  ATR_NEED(dlclose);
  int r = atr__real.dlclose(h);
  int e = errno;
  modules_changed();
  errno = e;
  return r;
}

ATR_EXPORT int pthread_setname_np(unsigned long thread, const char *name) {
  ATR_NEED(pthread_setname_np);
  int r = atr__real.pthread_setname_np(thread, name);
  if (r == 0 && active()) {
    atr__tls.guard = 1;
    atr__record_control(ATR_EV_NAME, 0);
    atr__tls.guard = 0;
  }
  return r;
}

/* A library's constructor may change directory before the tracer has started (ld.so
 * runs an executable's libraries' initialisers before LD_PRELOAD's): the default trace
 * name of a program preloaded by hand is in the directory it started in (spawn.c). */
ATR_EXPORT int chdir(const char *path) {
  ATR_NEED(chdir);
  atr__start_dir_keep();
  return atr__real.chdir(path);
}

ATR_EXPORT int fchdir(int fd) {
  ATR_NEED(fchdir);
  atr__start_dir_keep();
  return atr__real.fchdir(fd);
}

/* C++ static constructors register their destructors here. ld.so runs the initialisers
 * of an executable's libraries before LD_PRELOAD's (rustc's libLLVM and
 * librustc_driver before ours, LD_DEBUG=files shows the order), and where the
 * executable defines malloc itself their allocations reach it unpatched: 418 calls in
 * `rustc -vV` before atr_ctor, whose blocks were unknown frees at exit. The first
 * registration starts the tracer (a no-op once it runs), so that only what a library's
 * first constructor allocates goes unseen. */
ATR_EXPORT int __cxa_atexit(void (*fn)(void *), void *arg, void *dso) {
  ATR_NEED(__cxa_atexit);
  if (!atr__tls.guard)
    atr__init();
  return atr__real.__cxa_atexit(fn, arg, dso);
}

/* ---- the tracer's descriptors survive daemon-style closing ---- */

/* Besides the recorder connection the tracer owns libunwind's mem-validate pipe, which libunwind
 * opens with pipe2 at its initialisation (x86_64/Ginit.c, tdep_init_mem_validate) and
 * reopens when it finds it closed. At 3 and 4 it shifted every descriptor number the
 * program got (a traced program's first open() returned 5, not 3), and a program
 * closing the descriptors it did not open pulled it from under libunwind, whose reopen
 * then closed whatever the program had put at those numbers. Opened under the guard,
 * the pipe is moved up next to the trace descriptor and protected like it.
 * libunwind writes a byte of an address into it only to validate that address
 * (write_validate), which a local unwind does only on a frame without unwind info; its
 * initialisation's pipe2 (during atr__stack_init) is refused, so that a process holds
 * the two descriptors only once an unwind needed them: write_validate reopens the pipe
 * when it finds it closed, and that pipe2 is let through (libtrace/README.md, memory
 * and descriptors). */
#define ATR_MAX_EXTRA 4
static _Atomic int extra[ATR_MAX_EXTRA] = {-1, -1, -1, -1}; /* libunwind's pipe */
/* numbers of ours the program took with dup2/dup3: libunwind's later close of them
 * must not close the program's file */
static _Atomic int taken[ATR_MAX_EXTRA] = {-1, -1, -1, -1};

/* the connection and the region (shm.c): held for the image's whole life */
static int ours(int fd) {
  return fd >= 0 && (fd == atr__conn_fd() || fd == atr__region_fd());
}

static int slot_of(_Atomic int *set, int fd) {
  for (int i = 0; fd >= 0 && i < ATR_MAX_EXTRA; i++)
    if (atomic_load_explicit(&set[i], memory_order_relaxed) == fd)
      return i;
  return -1;
}

static void set_add(_Atomic int *set, int fd) {
  for (int i = 0; i < ATR_MAX_EXTRA; i++) {
    int expected = -1;
    if (atomic_compare_exchange_strong(&set[i], &expected, fd))
      return;
  }
}

void atr__fd_own(int fd) {
  set_add(extra, fd);
}

void atr__fd_disown(int fd) {
  int i = slot_of(extra, fd);
  if (i >= 0)
    atomic_store(&extra[i], -1);
}

static int owned(int fd) {
  return ours(fd) || slot_of(extra, fd) >= 0;
}

int atr__pipe_refuse; /* stack.c: set around libunwind's initialisation */

ATR_EXPORT int pipe2(int fds[2], int flags) {
  ATR_NEED(pipe2);
  if (atr__tls.guard && atr__pipe_refuse) {
    errno = EMFILE;
    return -1;
  }
  int r = atr__real.pipe2(fds, flags);
  if (r == 0 && atr__tls.guard) { /* the tracer's own (libunwind's), never the program's */
    int e = errno;
    for (int i = 0; i < 2; i++) {
      fds[i] = atr__fd_move_high(fds[i]);
      set_add(extra, fds[i]);
    }
    errno = e;
  }
  return r;
}

ATR_EXPORT int close(int fd) {
  ATR_NEED(close);
  if (ATR_UNLIKELY(atr__tls.guard)) { /* the tracer's dependencies closing their own */
    int i = slot_of(extra, fd);
    if (i >= 0)
      atomic_store(&extra[i], -1);
    if ((i = slot_of(taken, fd)) >= 0) {
      atomic_store(&taken[i], -1);
      return 0;
    }
    return atr__real.close(fd);
  }
  if (ATR_UNLIKELY(owned(fd))) {
    /* without the tracer this number would not be open: answer as close(2) would */
    errno = EBADF;
    return -1;
  }
  return atr__real.close(fd);
}

/* close_range over [first, last] minus the tracer's descriptors */
static int close_around(unsigned first, unsigned last, int flags) {
  if (flags & 4 /* CLOSE_RANGE_CLOEXEC: ours are close-on-exec already */)
    return atr__real.close_range(first, last, flags);
  unsigned keep[2 + ATR_MAX_EXTRA];
  int n = 0;
  int own[2] = {atr__conn_fd(), atr__region_fd()};
  for (int i = 0; i < 2; i++)
    if (own[i] >= 0 && (unsigned)own[i] >= first && (unsigned)own[i] <= last)
      keep[n++] = (unsigned)own[i];
  for (int i = 0; i < ATR_MAX_EXTRA; i++) {
    int fd = atomic_load(&extra[i]);
    if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
      keep[n++] = (unsigned)fd;
  }
  for (int i = 1; i < n; i++) /* insertion sort: at most six */
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
      unsigned t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  unsigned lo = first;
  for (int i = 0; i < n; i++) {
    if (keep[i] > lo) {
      int r = atr__real.close_range(lo, keep[i] - 1, flags);
      if (r != 0)
        return r;
    }
    lo = keep[i] + 1; /* descriptors are < INT_MAX: no overflow */
  }
  return lo <= last ? atr__real.close_range(lo, last, flags) : 0;
}

ATR_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  ATR_NEED(close_range);
  return close_around(first, last, flags);
}

ATR_EXPORT void closefrom(int low) {
  ATR_NEED(closefrom);
  close_around(low < 0 ? 0u : (unsigned)low, ~0u, 0);
}

/* The program wants one of our numbers. The connection and the region move elsewhere
 * (the region's mappings through the old number are told to check, shm.c
 * atr__region_vacate); libunwind's pipe cannot (libunwind keeps the numbers), so the
 * number is the program's from now on and libunwind's eventual close of it is skipped.
 * Returns 1 for the connection, 2 for the region: after the call vacated() ends it. */
static int vacate(int fd) {
  int i = slot_of(extra, fd);
  if (ATR_UNLIKELY(i >= 0)) {
    atomic_store(&extra[i], -1);
    set_add(taken, fd);
    return 0;
  }
  if (ATR_LIKELY(!ours(fd)))
    return 0;
  if (ATR_UNLIKELY(atr__pid != (int)getpid())) {
    /* A child that has not started tracing yet holds copies of its parent's numbers.
     * Made by fork or a raw clone(2), its state page was wiped: its memory is its own,
     * it forgets the number (never closes it: it is the program's now). A vfork child
     * shares its parent's memory: it touches nothing (its copy goes with the dup2). */
    if (atomic_load(&atr__state) != ATR_ON) {
      if (fd == atr__region_fd())
        atr__region_vacate(-1);
      else
        atr__conn_moved(fd, -1);
    }
    return 0;
  }
  if (fd == atr__region_fd()) {
    atr__region_vacate(1);
    return 2;
  }
  int e = errno;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
  if (moved < 0)
    atr__note("the program took every descriptor number above the tracer's: the recorder "
              "connection was given up");
  /* -1: the number is the program's, never written to again */
  if (!atr__conn_moved(fd, moved) && moved >= 0)
    atr__real.close(moved); /* a signal handler's dup2 moved the connection meanwhile */
  errno = e;
  return 1;
}

/* After the program's dup2/dup3 onto a number vacate() moved us from: had the call
 * failed, the number would not be open untraced, so our old copy there goes. */
static int vacated(int how, int fd, int r) {
  if (ATR_LIKELY(!how))
    return r;
  int e = errno;
  if (r < 0 && fd != atr__conn_fd() && fd != atr__region_fd())
    atr__real.close(fd);
  if (how == 2)
    atr__region_vacate(0);
  errno = e;
  return r;
}

ATR_EXPORT int dup2(int oldfd, int newfd) {
  ATR_NEED(dup2);
  int how = vacate(newfd);
  return vacated(how, newfd, atr__real.dup2(oldfd, newfd));
}

ATR_EXPORT int dup3(int oldfd, int newfd, int flags) {
  ATR_NEED(dup3);
  int how = vacate(newfd);
  return vacated(how, newfd, atr__real.dup3(oldfd, newfd, flags));
}
