/* C++ operator new/delete (plain, nothrow, sized, aligned): records the operator and
 * the requested size and alignment, and calls libstdc++'s own operator, so new_handler
 * and bad_alloc behave exactly as without the tracer.
 * operator new runs *unguarded* with its kind/size/align left in the TLS: the libc hook
 * that serves its first allocation records the block as this operator call (a failed
 * attempt as a failed operator new). Holding the guard instead would hide the
 * allocations the operator makes for the program: the new_handler's, and the bad_alloc
 * exception object, whose later free (outside the guard) would be an unknown free.
 * Compiled with -fexceptions: an exception thrown by the real operator unwinds through
 * these frames and the cleanups restore the TLS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "real.h"
#include "tracer.h"


static void guard_release(int *saved) {
  atr__tls.guard = *saved;
}

static void pending_release(unsigned *kind) {
  (void)kind;
  atr__tls.new_kind = 0;
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
    /* an outer operator (nothrow new, new[] calling new) already left its kind */       \
    if (atr__tls.new_kind || !recording())                                               \
      return atr__real.sym args;                                                         \
    unsigned pending __attribute__((cleanup(pending_release))) = ATR_KIND_##KIND;        \
    atr__tls.new_size = size;                                                            \
    atr__tls.new_align = align;                                                          \
    atr__tls.new_kind = pending;                                                         \
    void *p = atr__real.sym args;                                                        \
    if (ATR_UNLIKELY(atr__tls.new_kind) && p) {                                          \
      /* a replacement operator that did not allocate through libc */                   \
      atr__tls.new_kind = 0;                                                             \
      int e = errno;                                                                     \
      atr__tls.guard = 1;                                                                \
      atr__record_alloc(ATR_KIND_##KIND, p, size, align);                                \
      atr__tls.guard = 0;                                                                \
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
