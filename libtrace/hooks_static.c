/* Hooks for allocators linked into a program and used instead of libc's: jemalloc with
 * the `_rjem_` prefix (jemalloc-sys / tikv-jemalloc-sys, the #[global_allocator] of many
 * Rust programs), mimalloc's `mi_*` API, and malloc/free/... themselves where a module
 * other than libc defines them (rustc's unprefixed jemalloc, Chromium's PartitionAlloc
 * shim, a hand-written allocator): calls bind to those before LD_PRELOAD, so the libc
 * hooks never see them. They record what the caller asked for and call the relocated
 * original; never change a result or errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "patch.h"

typedef uintptr_t U; /* an argument slot the hooked function does not have */

#define ALLOC_HOOK(name, KIND, params, call, size_expr, align_expr)                       \
  static void *name params {                                                            \
    if (!atr__patched_begin())                                                          \
      return call;                                                                      \
    void *p = call;                                                                     \
    int e = errno;                                                                      \
    atr__record_c_alloc(KIND, p, size_expr, align_expr);                                \
    atr__patched_end(e);                                                                \
    return p;                                                                           \
  }

#define REALLOC_HOOK(name, KIND, params, old, call, size_expr, align_expr)                \
  static void *name params {                                                            \
    if (!atr__patched_begin())                                                          \
      return call;                                                                      \
    atr_thread_t *t = atr__record_realloc_begin(old);                                   \
    void *p = call;                                                                     \
    int e = errno;                                                                      \
    atr__record_realloc_end(t, KIND, old, p, size_expr, align_expr);                    \
    atr__patched_end(e);                                                                \
    return p;                                                                           \
  }

static size_t product(size_t a, size_t b) {
  size_t n;
  return __builtin_mul_overflow(a, b, &n) ? SIZE_MAX : n;
}

/* MALLOCX_LG_ALIGN(la) is la in the low six bits of jemalloc's flags (jemalloc_macros.h) */
static size_t flags_align(int flags) {
  unsigned lg = (unsigned)flags & 0x3f;
  return lg ? (size_t)1 << lg : 0;
}

/* free, sdallocx, dallocx, mi_free, mi_free_size…: the block goes, whatever the rest
 * of the arguments; they are passed on unchanged. */
typedef void (*free_fn)(void *, U, U, U);
static void any_free(void *p, U a1, U a2, U a3, free_fn real) {
  if (!p || !atr__patched_begin()) {
    real(p, a1, a2, a3);
    return;
  }
  int e = errno;
  atr__record_free(p);
  real(p, a1, a2, a3);
  atr__patched_end(e);
}

/* shapes every family shares */
#define FAMILY(fam, MALLOC, CALLOC, REALLOC)                                              \
  ALLOC_HOOK(fam##_malloc, MALLOC, (size_t n, U a1, U a2, U a3, void *(*real)(size_t)),    \
             real(n), n, 0)                                                              \
  ALLOC_HOOK(fam##_calloc, CALLOC,                                                       \
             (size_t a, size_t b, U a2, U a3, void *(*real)(size_t, size_t)), real(a, b), \
             product(a, b), 0)                                                           \
  REALLOC_HOOK(fam##_realloc, REALLOC,                                                   \
               (void *old, size_t n, U a2, U a3, void *(*real)(void *, size_t)), old,     \
               real(old, n), n, 0)

/* (align, size) -> pointer: aligned_alloc, memalign */
#define ALIGNED_HOOK(name, KIND)                                                          \
  ALLOC_HOOK(name, KIND, (size_t align, size_t n, U a2, U a3, void *(*real)(size_t, size_t)), \
             real(align, n), n, align)

/* A failed posix_memalign leaves *out alone: recorded as a failed allocation. */
#define POSIX_MEMALIGN_HOOK(name, KIND)                                                   \
  static int name(void **out, size_t align, size_t n, U a3,                              \
                  int (*real)(void **, size_t, size_t)) {                                \
    if (!atr__patched_begin())                                                          \
      return real(out, align, n);                                                       \
    int r = real(out, align, n);                                                        \
    int e = errno;                                                                      \
    atr__record_c_alloc(KIND, r == 0 ? *out : NULL, n, align);                          \
    atr__patched_end(e);                                                                \
    return r;                                                                           \
  }

FAMILY(je, ATR_KIND_JEMALLOC, ATR_KIND_JEMALLOC, ATR_KIND_JEMALLOC)
FAMILY(mi, ATR_KIND_MIMALLOC, ATR_KIND_MIMALLOC, ATR_KIND_MIMALLOC)
FAMILY(own, ATR_KIND_OWN_MALLOC, ATR_KIND_OWN_CALLOC, ATR_KIND_OWN_REALLOC)

ALLOC_HOOK(je_mallocx, ATR_KIND_JEMALLOC, (size_t n, int flags, U a2, U a3, void *(*real)(size_t, int)),
           real(n, flags), n, flags_align(flags))
ALIGNED_HOOK(je_aligned_alloc, ATR_KIND_JEMALLOC)
REALLOC_HOOK(je_rallocx, ATR_KIND_JEMALLOC,
             (void *old, size_t n, int flags, U a3, void *(*real)(void *, size_t, int)), old,
             real(old, n, flags), n, flags_align(flags))
ALLOC_HOOK(mi_malloc_aligned, ATR_KIND_MIMALLOC,
           (size_t n, size_t align, U a2, U a3, void *(*real)(size_t, size_t)), real(n, align),
           n, align)
REALLOC_HOOK(mi_realloc_aligned, ATR_KIND_MIMALLOC,
             (void *old, size_t n, size_t align, U a3, void *(*real)(void *, size_t, size_t)),
             old, real(old, n, align), n, align)

POSIX_MEMALIGN_HOOK(je_posix_memalign, ATR_KIND_JEMALLOC)

/* the rest of the C allocation functions, as hooks.c records them */
REALLOC_HOOK(own_reallocarray, ATR_KIND_OWN_REALLOCARRAY,
             (void *old, size_t a, size_t b, U a3, void *(*real)(void *, size_t, size_t)), old,
             real(old, a, b), product(a, b), 0)
POSIX_MEMALIGN_HOOK(own_posix_memalign, ATR_KIND_OWN_POSIX_MEMALIGN)
ALIGNED_HOOK(own_aligned_alloc, ATR_KIND_OWN_ALIGNED_ALLOC)
ALIGNED_HOOK(own_memalign, ATR_KIND_OWN_MEMALIGN)
ALLOC_HOOK(own_valloc, ATR_KIND_OWN_VALLOC, (size_t n, U a1, U a2, U a3, void *(*real)(size_t)),
           real(n), n, 4096)
ALLOC_HOOK(own_pvalloc, ATR_KIND_OWN_PVALLOC, (size_t n, U a1, U a2, U a3, void *(*real)(size_t)),
           real(n), n, 4096)

/* xallocx resizes in place or not at all, so the block is this thread's throughout:
 * recording after the call keeps the global order. */
static size_t je_xallocx(void *p, size_t size, size_t extra, int flags,
                         size_t (*real)(void *, size_t, size_t, int)) {
  if (!atr__patched_begin())
    return real(p, size, extra, flags);
  size_t r = real(p, size, extra, flags);
  int e = errno;
  if (r >= size) {
    atr_thread_t *t = atr__record_realloc_begin(p);
    atr__record_realloc_end(t, ATR_KIND_JEMALLOC, p, p, size, flags_align(flags));
  }
  atr__patched_end(e);
  return r;
}

typedef struct {
  const char *name;
  atr_hook_fn hook;
} entry_t;

static const entry_t static_allocs[] = {
    {"_rjem_malloc", (atr_hook_fn)je_malloc},
    {"_rjem_calloc", (atr_hook_fn)je_calloc},
    {"_rjem_realloc", (atr_hook_fn)je_realloc},
    {"_rjem_free", (atr_hook_fn)any_free},
    {"_rjem_mallocx", (atr_hook_fn)je_mallocx},
    {"_rjem_rallocx", (atr_hook_fn)je_rallocx},
    {"_rjem_xallocx", (atr_hook_fn)je_xallocx},
    {"_rjem_sdallocx", (atr_hook_fn)any_free},
    {"_rjem_dallocx", (atr_hook_fn)any_free},
    {"_rjem_posix_memalign", (atr_hook_fn)je_posix_memalign},
    {"_rjem_aligned_alloc", (atr_hook_fn)je_aligned_alloc},
    {"_rjem_memalign", (atr_hook_fn)je_aligned_alloc},
    {"mi_malloc", (atr_hook_fn)mi_malloc},
    {"mi_zalloc", (atr_hook_fn)mi_malloc},
    {"mi_calloc", (atr_hook_fn)mi_calloc},
    {"mi_realloc", (atr_hook_fn)mi_realloc},
    {"mi_free", (atr_hook_fn)any_free},
    {"mi_malloc_aligned", (atr_hook_fn)mi_malloc_aligned},
    {"mi_zalloc_aligned", (atr_hook_fn)mi_malloc_aligned},
    {"mi_realloc_aligned", (atr_hook_fn)mi_realloc_aligned},
    {"mi_free_size", (atr_hook_fn)any_free},
    {"mi_free_aligned", (atr_hook_fn)any_free},
    {"mi_free_size_aligned", (atr_hook_fn)any_free},
};

/* The C names (malloc_usable_size and the like are no events). */
static const entry_t own_allocs[] = {
    {"malloc", (atr_hook_fn)own_malloc},
    {"free", (atr_hook_fn)any_free},
    {"calloc", (atr_hook_fn)own_calloc},
    {"realloc", (atr_hook_fn)own_realloc},
    {"reallocarray", (atr_hook_fn)own_reallocarray},
    {"posix_memalign", (atr_hook_fn)own_posix_memalign},
    {"aligned_alloc", (atr_hook_fn)own_aligned_alloc},
    {"memalign", (atr_hook_fn)own_memalign},
    {"valloc", (atr_hook_fn)own_valloc},
    {"pvalloc", (atr_hook_fn)own_pvalloc},
};

static int lookup(const entry_t *t, size_t n, const char *name, unsigned layer,
                  const char *label, atr_hook_target_t *out) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(name, t[i].name) == 0) {
      out->hook = t[i].hook;
      out->detour = 1;
      out->layer = layer;
      out->label = label;
      return 1;
    }
  }
  return 0;
}

int atr__static_alloc_match(const char *name, atr_hook_target_t *out) {
  if (!(name[0] == '_' && name[1] == 'r') && !(name[0] == 'm' && name[1] == 'i'))
    return 0;
  return lookup(static_allocs, sizeof(static_allocs) / sizeof(*static_allocs), name,
                ATR_LAYER_STATIC_ALLOC, name[0] == '_' ? "jemalloc" : "mimalloc", out);
}

int atr__own_alloc_match(const char *name, atr_hook_target_t *out) {
  if (!name[0] || !strchr("mfcrpav", name[0]))
    return 0;
  return lookup(own_allocs, sizeof(own_allocs) / sizeof(*own_allocs), name,
                ATR_LAYER_OWN_ALLOC, "own malloc", out);
}
