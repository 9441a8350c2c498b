/* Stack capture: libunwind's unw_backtrace (default) or a validated frame-pointer walk
 * (ALLOCTRACE_UNWIND=fp), minus the tracer's own frames. The only file that includes
 * libunwind.h. Never allocates outside the guard and never reads outside the stack.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tracer.h"

static uintptr_t self_lo, self_hi;

void atr__self_range(uintptr_t lo, uintptr_t hi) {
  self_lo = lo;
  self_hi = hi;
}

int atr__stack_init(void) {
  if (atr__stacktab_init() != 0)
    return -1;
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  unw_set_cache_size(unw_local_addr_space, 1024, 0);
  return 0;
}

/* Each frame record is [saved fp][return address]; a frame is believed only if it lies
 * inside this thread's stack, above the previous one and 16-byte aligned. The lowest
 * believable frame is the walker's own: the caller's frame lies above it (passing the
 * caller's frame address as the bound rejected the first frame, so every stack was
 * empty). */
static ATR_NOINLINE int fp_walk(uintptr_t *ips, int max, uintptr_t hi) {
  const uintptr_t *fp = __builtin_frame_address(0);
  uintptr_t lo = (uintptr_t)fp;
  int n = 0;
  while (n < max) {
    uintptr_t f = (uintptr_t)fp;
    if (f < lo || f + 16 > hi || (f & 15))
      break;
    uintptr_t ret = fp[1];
    if (ret < 4096)
      break;
    ips[n++] = ret;
    const uintptr_t *next = (const uintptr_t *)fp[0];
    if (next <= fp)
      break;
    fp = next;
  }
  return n;
}

uint32_t atr__stack_capture(atr_thread_t *t) {
  uintptr_t ips[ATR_MAX_DEPTH + 8];
  int max = atr__cfg.depth + 8;
  int n;
  if (atr__cfg.unwind == ATR_UNWIND_FP && t->stack_hi)
    n = fp_walk(ips, max, t->stack_hi);
  else
    n = unw_backtrace((void **)ips, max);
  /* Drop every tracer frame, not only the leading ones: an allocation libc makes for
   * a C++ operator new is recorded below libstdc++'s operator, above our _Znwm hook. */
  int m = 0;
  for (int i = 0; i < n && m < atr__cfg.depth; i++)
    if (ips[i] < self_lo || ips[i] >= self_hi)
      ips[m++] = ips[i];
  return m > 0 ? atr__stack_intern(ips, m) : 0;
}
