/* Every symbol liballoctrace interposes or calls through, listed once (X-macros).
 * real.c resolves them with dlsym(RTLD_NEXT); hooks.c and hooks_cxx.c define them.
 * Must never contain code: only names and types.
 */
#ifndef ATR_HOOK_LIST_H
#define ATR_HOOK_LIST_H

#include <dirent.h>
#include <spawn.h>
#include <stddef.h>

/* X(name, return type, parameter list): C allocation functions, required in libc */
#define ATR_LIBC_ALLOC_LIST(X)                                                           \
  X(malloc, void *, (size_t))                                                            \
  X(free, void, (void *))                                                                \
  X(calloc, void *, (size_t, size_t))                                                    \
  X(realloc, void *, (void *, size_t))                                                   \
  X(reallocarray, void *, (void *, size_t, size_t))                                      \
  X(posix_memalign, int, (void **, size_t, size_t))                                      \
  X(aligned_alloc, void *, (size_t, size_t))                                             \
  X(memalign, void *, (size_t, size_t))                                                  \
  X(valloc, void *, (size_t))                                                            \
  X(pvalloc, void *, (size_t))

/* Process and descriptor functions the recorder must see (flush before exec/_exit,
 * keep the trace descriptor alive through daemon-style closing, rescan modules, start
 * before other libraries' constructors allocate, know the starting directory). */
#define ATR_LIBC_PROC_LIST(X)                                                            \
  X(_exit, void, (int))                                                                  \
  X(_Exit, void, (int))                                                                  \
  X(execve, int, (const char *, char *const[], char *const[]))                           \
  X(execv, int, (const char *, char *const[]))                                           \
  X(execvp, int, (const char *, char *const[]))                                          \
  X(execvpe, int, (const char *, char *const[], char *const[]))                          \
  X(fexecve, int, (int, char *const[], char *const[]))                                   \
  X(close, int, (int))                                                                   \
  X(closefrom, void, (int))                                                              \
  X(close_range, int, (unsigned, unsigned, int))                                         \
  X(dup2, int, (int, int))                                                               \
  X(dup3, int, (int, int, int))                                                          \
  X(pipe2, int, (int *, int))                                                            \
  X(dlopen, void *, (const char *, int))                                                 \
  X(dlmopen, void *, (long, const char *, int))                                          \
  X(dlclose, int, (void *))                                                              \
  X(pthread_setname_np, int, (unsigned long, const char *))                             \
  X(chdir, int, (const char *))                                                          \
  X(fchdir, int, (int))                                                                  \
  X(__cxa_atexit, int, (void (*)(void *), void *, void *))

/* C++ operators (optional: resolved from libstdc++ when it is loaded).
 * X(symbol, kind, new?, parameters, arguments, size, align) */
#define ATR_CXX_NEW_LIST(X)                                                              \
  X(_Znwm, NEW, (size_t n), (n), n, 0)                                                   \
  X(_Znam, NEW_ARRAY, (size_t n), (n), n, 0)                                             \
  X(_ZnwmRKSt9nothrow_t, NEW, (size_t n, const void *nt), (n, nt), n, 0)                 \
  X(_ZnamRKSt9nothrow_t, NEW_ARRAY, (size_t n, const void *nt), (n, nt), n, 0)           \
  X(_ZnwmSt11align_val_t, NEW_ALIGNED, (size_t n, size_t a), (n, a), n, a)               \
  X(_ZnamSt11align_val_t, NEW_ARRAY_ALIGNED, (size_t n, size_t a), (n, a), n, a)         \
  X(_ZnwmSt11align_val_tRKSt9nothrow_t, NEW_ALIGNED, (size_t n, size_t a, const void *nt), \
    (n, a, nt), n, a)                                                                    \
  X(_ZnamSt11align_val_tRKSt9nothrow_t, NEW_ARRAY_ALIGNED,                               \
    (size_t n, size_t a, const void *nt), (n, a, nt), n, a)

/* X(symbol, parameters, arguments) with the pointer named p */
#define ATR_CXX_DELETE_LIST(X)                                                           \
  X(_ZdlPv, (void *p), (p))                                                              \
  X(_ZdaPv, (void *p), (p))                                                              \
  X(_ZdlPvm, (void *p, size_t n), (p, n))                                                \
  X(_ZdaPvm, (void *p, size_t n), (p, n))                                                \
  X(_ZdlPvRKSt9nothrow_t, (void *p, const void *nt), (p, nt))                            \
  X(_ZdaPvRKSt9nothrow_t, (void *p, const void *nt), (p, nt))                            \
  X(_ZdlPvSt11align_val_t, (void *p, size_t a), (p, a))                                  \
  X(_ZdaPvSt11align_val_t, (void *p, size_t a), (p, a))                                  \
  X(_ZdlPvmSt11align_val_t, (void *p, size_t n, size_t a), (p, n, a))                    \
  X(_ZdaPvmSt11align_val_t, (void *p, size_t n, size_t a), (p, n, a))                    \
  X(_ZdlPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t a, const void *nt), (p, a, nt)) \
  X(_ZdaPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t a, const void *nt), (p, a, nt))

#endif
