/* The program-side reporting API (alloctrace/api.h) for allocators no hook can see.
 * Reports go through the same recording path as the hooks, tagged ATR_KIND_API.
 * Never records while the calling thread is inside the tracer or a suppressed region.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "alloctrace/api.h"
#include "tracer.h"


static int enter(void) {
  if (atr__tls.guard)
    return 0;
  if (atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON) {
    atr__init();
    if (atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON)
      return 0;
  }
  atr__tls.guard = 1;
  static _Atomic int announced;
  if (!atomic_exchange(&announced, 1))
    atr__layer(ATR_LAYER_API);
  return 1;
}

ATR_EXPORT void atr_report_alloc(void *ptr, size_t size, size_t align) {
  if (!ptr || !enter())
    return;
  int e = errno;
  atr__record_alloc(ATR_KIND_API, ptr, size, align);
  atr__tls.guard = 0;
  errno = e;
}

ATR_EXPORT void atr_report_free(void *ptr) {
  if (!ptr || !enter())
    return;
  int e = errno;
  atr__record_free(ptr);
  atr__tls.guard = 0;
  errno = e;
}

ATR_EXPORT void atr_report_realloc(void *old, void *ptr, size_t size, size_t align) {
  if (!enter())
    return;
  int e = errno;
  atr_thread_t *t = atr__record_realloc_begin(old);
  atr__record_realloc_end(t, ATR_KIND_API, old, ptr, size, align);
  atr__tls.guard = 0;
  errno = e;
}

ATR_EXPORT int atr_report_realloc_begin(void *old) {
  if (!enter())
    return 0;
  int e = errno;
  atr__record_realloc_begin(old);
  atr__tls.guard = 0;
  errno = e;
  return 1;
}

ATR_EXPORT void atr_report_realloc_end(int token, void *old, void *ptr, size_t size,
                                       size_t align) {
  if (!token || atr__tls.guard)
    return;
  atr__tls.guard = 1;
  int e = errno;
  atr__record_realloc_end(atr__tls.thr, ATR_KIND_API, old, ptr, size, align);
  atr__tls.guard = 0;
  errno = e;
}

ATR_EXPORT int atr_suppress_begin(void) {
  int token = atr__tls.guard;
  atr__tls.guard = 1;
  return token;
}

ATR_EXPORT void atr_suppress_end(int token) {
  atr__tls.guard = token;
}
