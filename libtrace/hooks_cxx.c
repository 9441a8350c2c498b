/* C++ operator new/delete (plain, nothrow, sized, aligned): records the operator and
 * the requested size and alignment, then calls libstdc++'s own operator with the guard
 * held, so new_handler and bad_alloc behave exactly as without the tracer.
 * Compiled with -fexceptions: an exception thrown by the real operator unwinds through
 * these frames and the cleanup releases the guard. Never records a failed new.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "real.h"
#include "tracer.h"

#define ATR_EXPORT __attribute__((visibility("default")))

static void guard_release(int *saved) {
  atr__tls.guard = *saved;
}

static inline int recording(void) {
  if (ATR_UNLIKELY(atr__tls.guard))
    return 0;
  if (ATR_UNLIKELY(atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON)) {
    atr__init();
    return atomic_load_explicit(&atr__state, memory_order_relaxed) == ATR_ON;
  }
  return 1;
}

/* Without libstdc++ nobody can reach these; if it somehow happens, behave like
 * operator new would with an empty new_handler: malloc or abort (never return NULL
 * from a throwing new). */
static void *missing_new(size_t n, int nothrow) {
  void *p = malloc(n ? n : 1);
  if (!p && !nothrow)
    abort();
  return p;
}

#define ATR_NEW_HOOK(sym, KIND, params, args, size, align)                                \
  ATR_EXPORT void *sym params {                                                          \
    if (ATR_UNLIKELY(!atr__real.sym)) {                                                  \
      atr__real.sym = (void *(*)params)atr__real_sym(#sym);                              \
      if (!atr__real.sym)                                                                \
        return missing_new(n, 0);                                                        \
    }                                                                                    \
    if (!recording())                                                                    \
      return atr__real.sym args;                                                         \
    int saved __attribute__((cleanup(guard_release))) = 0;                               \
    atr__tls.guard = 1;                                                                  \
    void *p = atr__real.sym args;                                                        \
    if (p) {                                                                             \
      int e = errno;                                                                     \
      atr__record_alloc(ATR_KIND_##KIND, p, size, align);                                \
      errno = e;                                                                         \
    }                                                                                    \
    return p;                                                                            \
  }
ATR_CXX_NEW_LIST(ATR_NEW_HOOK)
#undef ATR_NEW_HOOK

#define ATR_DELETE_HOOK(sym, params, args)                                                \
  ATR_EXPORT void sym params {                                                           \
    if (ATR_UNLIKELY(!atr__real.sym)) {                                                  \
      atr__real.sym = (void (*)params)atr__real_sym(#sym);                               \
      if (!atr__real.sym) {                                                              \
        free(p);                                                                         \
        return;                                                                          \
      }                                                                                  \
    }                                                                                    \
    if (!p || !recording()) {                                                            \
      atr__real.sym args;                                                                \
      return;                                                                            \
    }                                                                                    \
    int saved __attribute__((cleanup(guard_release))) = 0;                               \
    atr__tls.guard = 1;                                                                  \
    int e = errno;                                                                       \
    atr__record_free(p);                                                                 \
    errno = e;                                                                           \
    atr__real.sym args;                                                                  \
  }
ATR_CXX_DELETE_LIST(ATR_DELETE_HOOK)
#undef ATR_DELETE_HOOK
