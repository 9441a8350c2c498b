/* Hooks for Rust's allocator shims (__rust_alloc, __rust_alloc_zeroed, __rust_realloc,
 * __rust_dealloc, v0-mangled `_RNv…___rustc12___rust_alloc` or plain): they record the
 * size and alignment Rust asked for, then call the real function the shim jumped to.
 * The guard they hold keeps the libc hooks from counting the same block again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "patch.h"

typedef void *(*alloc_fn)(size_t size, size_t align);
typedef void (*dealloc_fn)(void *p, size_t size, size_t align);
typedef void *(*realloc_fn)(void *p, size_t old_size, size_t align, size_t new_size);

/* The stub passes the real function in r8, the fifth argument; the shims take at most
 * four, so the unused argument slots before it are ignored. */

static void *rust_alloc(size_t size, size_t align, uintptr_t u2, uintptr_t u3, alloc_fn real) {
  if (!atr__patched_begin())
    return real(size, align);
  void *p = real(size, align);
  int e = errno;
  atr__record_alloc(ATR_KIND_RUST_ALLOC, p, size, align);
  atr__patched_end(e);
  return p;
}

static void *rust_alloc_zeroed(size_t size, size_t align, uintptr_t u2, uintptr_t u3,
                               alloc_fn real) {
  if (!atr__patched_begin())
    return real(size, align);
  void *p = real(size, align);
  int e = errno;
  atr__record_alloc(ATR_KIND_RUST_ALLOC_ZEROED, p, size, align);
  atr__patched_end(e);
  return p;
}

static void rust_dealloc(void *p, size_t size, size_t align, uintptr_t u3, dealloc_fn real) {
  if (!atr__patched_begin()) {
    real(p, size, align);
    return;
  }
  int e = errno;
  atr__record_free(p);
  real(p, size, align);
  atr__patched_end(e);
}

static void *rust_realloc(void *old, size_t old_size, size_t align, size_t new_size,
                          realloc_fn real) {
  if (!atr__patched_begin())
    return real(old, old_size, align, new_size);
  atr_thread_t *t = atr__record_realloc_begin(old);
  void *p = real(old, old_size, align, new_size);
  int e = errno;
  atr__record_realloc_end(t, ATR_KIND_RUST_REALLOC, old, p, new_size, align);
  atr__patched_end(e);
  return p;
}

static const struct {
  const char *name;
  atr_hook_fn hook;
} shims[] = {
    {"__rust_alloc", (atr_hook_fn)rust_alloc},
    {"__rust_alloc_zeroed", (atr_hook_fn)rust_alloc_zeroed},
    {"__rust_dealloc", (atr_hook_fn)rust_dealloc},
    {"__rust_realloc", (atr_hook_fn)rust_realloc},
};

/* "__rust_alloc" or a v0 path ending in the identifier "<len>__rust_alloc" inside the
 * `__rustc` crate namespace (rust-lang/rust#127173), e.g.
 * _RNvCs1234_7___rustc12___rust_alloc. Returns the plain name or NULL. */
static const char *shim_identifier(const char *name) {
  if (name[0] != '_')
    return NULL;
  if (name[1] == '_')
    return name;
  if (name[1] != 'R')
    return NULL;
  const char *m = strstr(name, "7___rustc");
  if (!m)
    return NULL;
  m += 9;
  size_t len = 0;
  while (*m >= '0' && *m <= '9')
    len = len * 10 + (size_t)(*m++ - '0');
  if (*m == '_') /* v0 separates an identifier that starts with '_' from its length */
    m++;
  return strlen(m) == len ? m : NULL;
}

int atr__rust_shim_match(const char *name, atr_hook_target_t *out) {
  const char *id = shim_identifier(name);
  if (!id || strncmp(id, "__rust_", 7) != 0)
    return 0;
  for (size_t i = 0; i < sizeof(shims) / sizeof(*shims); i++) {
    if (strcmp(id, shims[i].name) == 0) {
      out->hook = shims[i].hook;
      out->detour = 0;
      out->layer = ATR_LAYER_RUST_SHIM;
      out->label = shims[i].name;
      return 1;
    }
  }
  return 0;
}
