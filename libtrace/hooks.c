/* The interposed C allocation functions and the recording entry points all hook
 * layers share. Each hook returns exactly what the real function returns and leaves
 * errno as the real function left it; it never blocks except on a full ring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "real.h"
#include "tracer.h"


__thread struct atr_tls atr__tls ATR_TLS;

static inline unsigned log2_align(size_t align) {
  return align ? (unsigned)__builtin_ctzll(align) + 1 : 0;
}

static inline atr_thread_t *self_thread(void) {
  atr_thread_t *t = atr__tls.thr;
  return ATR_LIKELY(t != NULL) ? t : atr__thread_register();
}

/* Should this call be recorded? Takes the guard when it should. */
static inline int hook_begin(void) {
  if (ATR_UNLIKELY(atr__tls.guard))
    return 0;
  if (ATR_UNLIKELY(atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON)) {
    atr__init();
    if (atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON)
      return 0;
  }
  atr__tls.guard = 1;
  return 1;
}

static inline void hook_end(int saved_errno) {
  atr__tls.guard = 0;
  errno = saved_errno;
}

/* An allocation failed: memory (or address space) is exhausted, and libunwind's walk
 * maps memory for its caches and crashes when it cannot (SIGSEGV inside
 * _ULx86_64_step in 2 of 8 runs of tests/progs/limits `as 300` under RLIMIT_AS 300 MiB,
 * where the untraced program exits 0). After a failure of up to 16 MiB (memory really is
 * short: larger requests fail without a shortage) this image walks frame pointers,
 * which need no memory, and its trace says so. */
static ATR_NOINLINE void memory_short(size_t size, size_t align) {
  /* a huge request fails without any shortage (malloc(1 TiB), overflowing callocs), and
   * so does a bad alignment (posix_memalign(24, 10): EINVAL) */
  if (atr__cfg.unwind != ATR_UNWIND_LIBUNWIND || size > ((size_t)16 << 20) ||
      (align & (align - 1)) != 0)
    return;
  atr__cfg.unwind = ATR_UNWIND_FP;
  atr__note("stacks by frame pointers from the first failed allocation on: libunwind "
            "needs memory to walk");
}

void atr__record_alloc(unsigned kind, void *p, size_t size, size_t align) {
  atr_thread_t *t = self_thread();
  if (ATR_UNLIKELY(!t))
    return;
  if (ATR_UNLIKELY(!p && size))
    memory_short(size, align);
  atr__hook_enter(t);
  uint64_t ts = atr__stamp(t) + ATR_SKEW(0);
  uint32_t stack = atr__stack_capture(t);
  atr__push(t, ts, (uintptr_t)p, size, atr__meta(ATR_EV_ALLOC, kind, log2_align(align), stack));
  atr__hook_leave(t);
}

void atr__record_free(void *p) {
  atr_thread_t *t = self_thread();
  if (ATR_UNLIKELY(!t))
    return;
  atr__hook_enter(t);
  uint64_t ts = atr__stamp(t) + ATR_SKEW(1);
  atr__push(t, ts, (uintptr_t)p, 0, atr__meta(ATR_EV_FREE, 0, 0, 0));
  atr__hook_leave(t);
}

void atr__record_control(unsigned type, uint64_t value) {
  atr_thread_t *t = self_thread();
  if (ATR_UNLIKELY(!t))
    return;
  atr__hook_enter(t);
  atr__push(t, atr__stamp(t), 0, value, atr__meta(type, 0, 0, 0));
  atr__hook_leave(t);
}

atr_thread_t *atr__record_realloc_begin(void *old) {
  atr_thread_t *t = self_thread();
  if (ATR_UNLIKELY(!t))
    return NULL;
  if (old) {
    atr__hook_enter(t);
    atr__push(t, atr__stamp(t) + ATR_SKEW(1), (uintptr_t)old, 0, atr__meta(ATR_EV_RFREE, 0, 0, 0));
    atr__hook_leave(t);
  }
  return t;
}

void atr__record_realloc_end(atr_thread_t *t, unsigned kind, void *old, void *p, size_t size,
                             size_t align) {
  if (ATR_UNLIKELY(!t))
    return;
  if (ATR_UNLIKELY(!p && size))
    memory_short(size, align);
  atr__hook_enter(t);
  uint64_t ts = atr__stamp(t) + ATR_SKEW(0);
  uint32_t stack = (p || size) ? atr__stack_capture(t) : 0;
  atr__push(t, ts, (uintptr_t)p, size,
            atr__meta(ATR_EV_RALLOC, kind, log2_align(align), stack) |
                (old ? 0 : (uint64_t)1 << 56));
  atr__hook_leave(t);
}

/* An allocation made by libc's allocator on behalf of a C++ operator new (hooks_cxx.c
 * left its kind, size and alignment in the TLS): the operator's first allocation is its
 * block and is recorded as the operator call. Anything after it (new_handler code, the
 * bad_alloc exception object) is the program's own and recorded as what it is. */
static inline void record_libc(unsigned kind, void *p, size_t size, size_t align) {
  if (ATR_UNLIKELY(atr__tls.new_kind)) {
    kind = atr__tls.new_kind;
    size = atr__tls.new_size;
    align = atr__tls.new_align;
    atr__tls.new_kind = 0;
  }
  atr__record_alloc(kind, p, size, align);
}

/* The same for the hooks of an allocator the program brings (hooks_static.c): there
 * libstdc++'s operator new reaches the program's malloc instead of libc's. */
void atr__record_c_alloc(unsigned kind, void *p, size_t size, size_t align) {
  record_libc(kind, p, size, align);
}

/* ---- passthrough used while not recording (guard held, not initialised, disabled) ---- */

static void *pass_malloc(size_t n) {
  if (ATR_UNLIKELY(!atr__real.malloc)) {
    atr__real_init();
    if (!atr__real.malloc)
      return atr__boot_alloc(n, 16);
  }
  return atr__real.malloc(n);
}

static void *pass_calloc(size_t a, size_t b) {
  if (ATR_UNLIKELY(!atr__real.calloc)) {
    atr__real_init();
    if (!atr__real.calloc) {
      size_t n;
      if (__builtin_mul_overflow(a, b, &n))
        return NULL;
      return atr__boot_alloc(n, 16); /* static memory is already zero */
    }
  }
  return atr__real.calloc(a, b);
}

/* ---- the hooks ---- */

ATR_EXPORT void *malloc(size_t n) {
  if (!hook_begin())
    return pass_malloc(n);
  void *p = atr__real.malloc(n);
  int e = errno;
  record_libc(ATR_KIND_MALLOC, p, n, 0);
  hook_end(e);
  return p;
}

ATR_EXPORT void *calloc(size_t a, size_t b) {
  if (!hook_begin())
    return pass_calloc(a, b);
  void *p = atr__real.calloc(a, b);
  int e = errno;
  size_t n = 0;
  if (__builtin_mul_overflow(a, b, &n))
    n = SIZE_MAX;
  record_libc(ATR_KIND_CALLOC, p, n, 0);
  hook_end(e);
  return p;
}

ATR_EXPORT void free(void *p) {
  if (ATR_UNLIKELY(!p))
    return;
  if (ATR_UNLIKELY(atr__is_boot(p)))
    return;
  if (!hook_begin()) {
    if (ATR_LIKELY(atr__real.free != NULL))
      atr__real.free(p);
    return;
  }
  int e = errno;
  atr__record_free(p);
  atr__real.free(p);
  hook_end(e);
}

static void *boot_realloc(void *old, size_t n) {
  void *p = pass_malloc(n);
  if (p) {
    size_t o = atr__boot_size(old);
    memcpy(p, old, o < n ? o : n);
  }
  return p;
}

static void *realloc_common(unsigned kind, void *old, size_t n, void *(*call)(void *, size_t, size_t),
                            size_t a, size_t b) {
  atr_thread_t *t = atr__record_realloc_begin(old);
  void *p = call(old, a, b);
  int e = errno;
  atr__record_realloc_end(t, kind, old, p, n, 0);
  hook_end(e);
  return p;
}

static void *call_realloc(void *old, size_t n, size_t unused) {
  (void)unused;
  return atr__real.realloc(old, n);
}

static void *call_reallocarray(void *old, size_t a, size_t b) {
  return atr__real.reallocarray(old, a, b);
}

ATR_EXPORT void *realloc(void *old, size_t n) {
  if (ATR_UNLIKELY(old && atr__is_boot(old))) {
    /* a bootstrap block is not the real allocator's: move it out, record it as new */
    void *p = malloc(n);
    if (p)
      memcpy(p, old, atr__boot_size(old) < n ? atr__boot_size(old) : n);
    return p;
  }
  if (!hook_begin()) {
    if (ATR_UNLIKELY(!atr__real.realloc))
      return old ? boot_realloc(old, n) : pass_malloc(n);
    return atr__real.realloc(old, n);
  }
  return realloc_common(ATR_KIND_REALLOC, old, n, call_realloc, n, 0);
}

ATR_EXPORT void *reallocarray(void *old, size_t a, size_t b) {
  size_t n;
  if (ATR_UNLIKELY((old && atr__is_boot(old)) || !atr__real.reallocarray)) {
    if (__builtin_mul_overflow(a, b, &n)) {
      errno = ENOMEM;
      return NULL;
    }
    return realloc(old, n);
  }
  if (!hook_begin())
    return atr__real.reallocarray(old, a, b);
  if (__builtin_mul_overflow(a, b, &n))
    n = SIZE_MAX;
  return realloc_common(ATR_KIND_REALLOCARRAY, old, n, call_reallocarray, a, b);
}

ATR_EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (!hook_begin()) {
    if (ATR_UNLIKELY(!atr__real.posix_memalign)) {
      void *p = atr__boot_alloc(n, align);
      if (!p)
        return ENOMEM;
      *out = p;
      return 0;
    }
    return atr__real.posix_memalign(out, align, n);
  }
  int r = atr__real.posix_memalign(out, align, n);
  int e = errno;
  record_libc(ATR_KIND_POSIX_MEMALIGN, r == 0 ? *out : NULL, n, align);
  hook_end(e);
  return r;
}

#define ATR_ALIGNED_HOOK(name, KIND, params, args, size_expr, align_expr)                 \
  ATR_EXPORT void *name params {                                                         \
    if (!hook_begin()) {                                                                 \
      if (ATR_UNLIKELY(!atr__real.name))                                                 \
        return atr__boot_alloc(size_expr, align_expr);                                   \
      return atr__real.name args;                                                        \
    }                                                                                    \
    void *p = atr__real.name args;                                                       \
    int e = errno;                                                                       \
    record_libc(ATR_KIND_##KIND, p, size_expr, align_expr);                              \
    hook_end(e);                                                                         \
    return p;                                                                            \
  }

ATR_ALIGNED_HOOK(aligned_alloc, ALIGNED_ALLOC, (size_t a, size_t n), (a, n), n, a)
ATR_ALIGNED_HOOK(memalign, MEMALIGN, (size_t a, size_t n), (a, n), n, a)
ATR_ALIGNED_HOOK(valloc, VALLOC, (size_t n), (n), n, 4096)
ATR_ALIGNED_HOOK(pvalloc, PVALLOC, (size_t n), (n), n, 4096)
