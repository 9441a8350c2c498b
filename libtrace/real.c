/* Resolves the real allocation and process functions with dlsym(RTLD_NEXT), and
 * serves allocations made while that is under way from a static bootstrap arena.
 * Never allocates from the heap itself; bootstrap blocks are never returned to libc.
 */
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <string.h>

struct atr_real atr__real;

/* the bootstrap arena (real.h says why) */
_Alignas(64) unsigned char atr__boot[ATR_BOOT_SIZE];
static _Atomic size_t boot_used;

void *atr__boot_alloc(size_t size, size_t align) {
  if (align < 16)
    align = 16;
  for (;;) {
    size_t used = atomic_load(&boot_used);
    size_t start = (used + 16 + align - 1) & ~(align - 1);
    if (start + size > ATR_BOOT_SIZE || start + size < start)
      return NULL;
    if (atomic_compare_exchange_weak(&boot_used, &used, start + size)) {
      memcpy(atr__boot + start - sizeof(size_t), &size, sizeof(size_t));
      return atr__boot + start;
    }
  }
}

size_t atr__boot_size(const void *p) {
  size_t n;
  memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(size_t));
  return n;
}

atr_fn_t atr__real_sym(const char *name) {
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  void *p = dlsym(RTLD_NEXT, name);
  atr__tls.guard = saved;
  atr_fn_t f; /* POSIX guarantees this conversion (dlsym(3)); ISO C does not */
  memcpy(&f, &p, sizeof(f));
  return f;
}

void atr__real_init(void) {
  static _Atomic int done;
  if (atomic_load_explicit(&done, memory_order_acquire))
    return;
#define ATR_RESOLVE(name, ret, params)                                                   \
  if (!atr__real.name)                                                                   \
    atr__real.name = (ret(*) params)atr__real_sym(#name);
  ATR_LIBC_ALLOC_LIST(ATR_RESOLVE)
  ATR_LIBC_PROC_LIST(ATR_RESOLVE)
#undef ATR_RESOLVE
  atomic_store_explicit(&done, 1, memory_order_release);
}
