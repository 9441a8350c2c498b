/* Process-level hooks: flush before exec and _exit, follow dlopen/dlclose and thread
 * renames, and keep the trace descriptor alive when a daemon closes every descriptor
 * (close, closefrom, close_range, dup2, dup3). Each forwards to the real function with
 * the program's arguments and returns its result unchanged.
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

#define ATR_EXPORT __attribute__((visibility("default")))

static int active(void) {
  return atomic_load_explicit(&atr__state, memory_order_relaxed) == ATR_ON && !atr__tls.guard;
}

#define ATR_NEED(name)                                                                   \
  do {                                                                                   \
    if (ATR_UNLIKELY(!atr__real.name))                                                   \
      atr__real_init();                                                                  \
  } while (0)

/* A vfork child shares our memory: it must not touch the parent's trace. */
static void before_exec(void) {
  if (active() && atr__pid == (int)getpid())
    atr__writer_flush(ATR_END_EXEC);
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
  before_exec();
  return atr__real.execve(path, argv, envp);
}

ATR_EXPORT int execv(const char *path, char *const argv[]) {
  ATR_NEED(execv);
  before_exec();
  return atr__real.execv(path, argv);
}

ATR_EXPORT int execvp(const char *file, char *const argv[]) {
  ATR_NEED(execvp);
  before_exec();
  return atr__real.execvp(file, argv);
}

ATR_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  ATR_NEED(execvpe);
  before_exec();
  return atr__real.execvpe(file, argv, envp);
}

ATR_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  ATR_NEED(fexecve);
  before_exec();
  return atr__real.fexecve(fd, argv, envp);
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

/* ---- the trace descriptor survives daemon-style closing ---- */

ATR_EXPORT int close(int fd) {
  ATR_NEED(close);
  if (ATR_UNLIKELY(atr__writer_owns_fd(fd)))
    return 0; /* the program believes it closed it; its later fds are unaffected */
  return atr__real.close(fd);
}

static int close_around(unsigned first, unsigned last, int flags) {
  int own = atr__writer_fd();
  if (own < 0 || (unsigned)own < first || (unsigned)own > last || (flags & 4 /* CLOEXEC */))
    return atr__real.close_range(first, last, flags);
  int r = 0;
  if ((unsigned)own > first)
    r = atr__real.close_range(first, (unsigned)own - 1, flags);
  if (r == 0 && (unsigned)own < last)
    r = atr__real.close_range((unsigned)own + 1, last, flags);
  return r;
}

ATR_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  ATR_NEED(close_range);
  atr__writer_fd_lock();
  int r = close_around(first, last, flags);
  int e = errno;
  atr__writer_fd_unlock();
  errno = e;
  return r;
}

ATR_EXPORT void closefrom(int low) {
  ATR_NEED(closefrom);
  if (atr__writer_fd() < low) {
    atr__real.closefrom(low);
    return;
  }
  atr__writer_fd_lock();
  close_around((unsigned)low, ~0u, 0);
  atr__writer_fd_unlock();
}

/* The program wants our descriptor's number: give it up and keep a copy elsewhere. */
static void vacate(int fd) {
  if (!atr__writer_owns_fd(fd))
    return;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
  if (moved >= 0)
    atr__writer_fd_moved(moved);
}

ATR_EXPORT int dup2(int oldfd, int newfd) {
  ATR_NEED(dup2);
  atr__writer_fd_lock();
  vacate(newfd);
  int r = atr__real.dup2(oldfd, newfd);
  int e = errno;
  atr__writer_fd_unlock();
  errno = e;
  return r;
}

ATR_EXPORT int dup3(int oldfd, int newfd, int flags) {
  ATR_NEED(dup3);
  atr__writer_fd_lock();
  vacate(newfd);
  int r = atr__real.dup3(oldfd, newfd, flags);
  int e = errno;
  atr__writer_fd_unlock();
  errno = e;
  return r;
}
