/* The real functions behind every hook, and the bootstrap arena that serves
 * allocations made before they are known (dlsym calling calloc).
 * Must never call a hooked function while resolving.
 */
#ifndef ATR_REAL_H
#define ATR_REAL_H

#include "hook_list.h"
#include "tracer.h"

struct atr_real {
#define ATR_REAL_FIELD(name, ret, params) ret(*name) params;
  ATR_LIBC_ALLOC_LIST(ATR_REAL_FIELD)
  ATR_LIBC_PROC_LIST(ATR_REAL_FIELD)
#undef ATR_REAL_FIELD
#define ATR_REAL_NEW(sym, kind, params, args, size, align) void *(*sym) params;
  ATR_CXX_NEW_LIST(ATR_REAL_NEW)
#undef ATR_REAL_NEW
#define ATR_REAL_DEL(sym, params, args) void(*sym) params;
  ATR_CXX_DELETE_LIST(ATR_REAL_DEL)
#undef ATR_REAL_DEL
};
extern struct atr_real atr__real;

ATR_HIDDEN void atr__real_init(void);
typedef void (*atr_fn_t)(void);
ATR_HIDDEN atr_fn_t atr__real_sym(const char *name); /* dlsym(RTLD_NEXT) under the guard */

ATR_HIDDEN void *atr__boot_alloc(size_t size, size_t align);
/* glibc's dlsym may calloc an error buffer (heaptrack hit the same: KDE bug 331432),
 * so the first few allocations are served from a static arena (real.c). Inline: every
 * free asks. */
#define ATR_BOOT_SIZE (256u * 1024u)
extern unsigned char atr__boot[ATR_BOOT_SIZE] ATR_HIDDEN;
static inline int atr__is_boot(const void *p) {
  return (uintptr_t)p - (uintptr_t)atr__boot < ATR_BOOT_SIZE;
}
ATR_HIDDEN size_t atr__boot_size(const void *p);

#endif
