/* Finds what to patch in each newly loaded module (at start-up and after dlopen): Rust
 * allocator shims and statically linked jemalloc/mimalloc entry points, by name, in the
 * symbol table of the module's file. Patches them and writes a NOTE for every module
 * where something was found but refused. Never blocks a thread that is not loading.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "patch.h"

#define MAX_CANDIDATES 64

typedef struct {
  atr_elf_sym_t sym[MAX_CANDIDATES];
  atr_hook_target_t target[MAX_CANDIDATES];
  size_t n;
} candidates_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t scanned; /* modules [0, scanned) were looked at */
static unsigned layers_patched;

static int collect(const atr_elf_sym_t *s, void *arg) {
  candidates_t *c = arg;
  atr_hook_target_t t;
  if (!atr__rust_shim_match(s->name, &t) && !atr__static_alloc_match(s->name, &t))
    return 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->sym[i].value == s->value)
      return 0; /* an alias of one already found */
  if (c->n == MAX_CANDIDATES)
    return 1;
  c->sym[c->n] = *s;
  c->target[c->n] = t;
  c->n++;
  return 0;
}

static const char *basename_of(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

/* One note per module and layer: the first refusal, and how many more there were. */
struct refusals {
  unsigned count;
  char first[160];
};

static void refused(struct refusals *r, const atr_hook_target_t *t, const atr_elf_sym_t *s,
                    uintptr_t addr, const char *mod, const char *why) {
  if (r->count++)
    return;
  if (t->layer == ATR_LAYER_RUST_SHIM)
    atr__fmt(r->first, sizeof(r->first),
             "rust shim %s at 0x%lx in %s: %s; not patched (LTO or custom global allocator: "
             "libc layer only)",
             t->label, (unsigned long)addr, mod, why);
  else
    atr__fmt(r->first, sizeof(r->first), "%s %.40s at 0x%lx in %s: %s; not patched", t->label,
             s->name, (unsigned long)addr, mod, why);
}

static void flush_refusals(struct refusals *r) {
  if (!r->count)
    return;
  if (r->count > 1) {
    char more[32];
    atr__fmt(more, sizeof(more), " (+%u more)", r->count - 1);
    size_t len = strlen(r->first), add = strlen(more);
    if (len + add >= sizeof(r->first))
      len = sizeof(r->first) - 1 - add;
    memcpy(r->first + len, more, add + 1);
  }
  atr__writer_note(r->first);
}

static void scan_module(const atr_module_t *m, int *opened) {
  const char *path = m->path[0] ? m->path : "/proc/self/exe";
  if (path[0] != '/')
    return; /* the vDSO */
  uintptr_t self = (uintptr_t)&atr__patch_modules;
  if (self >= m->lo && self < m->hi)
    return;
  atr_elf_t elf;
  if (atr__elf_open(&elf, path) != 0)
    return;
  static candidates_t c; /* under the lock */
  c.n = 0;
  atr__elf_functions(&elf, collect, &c);
  if (!c.n) {
    atr__elf_close(&elf);
    return;
  }
  uint64_t next[MAX_CANDIDATES];
  atr__elf_next_symbols(&elf, c.sym, c.n, next);
  atr__elf_close(&elf);
  if (!*opened) {
    atr__patch_begin();
    *opened = 1;
  }
  const char *mod = m->path[0] ? basename_of(m->path) : program_invocation_short_name;
  struct refusals rust = {0, ""}, alloc = {0, ""};
  for (size_t i = 0; i < c.n; i++) {
    const atr_hook_target_t *t = &c.target[i];
    atr_patch_req_t req = {.entry = m->bias + c.sym[i].value,
                           .room = next[i] - c.sym[i].value,
                           .fn_size = c.sym[i].size,
                           .hook = t->hook,
                           .mod_lo = m->lo,
                           .mod_hi = m->hi};
    struct refusals *r = t->layer == ATR_LAYER_RUST_SHIM ? &rust : &alloc;
    if (req.entry < m->lo || req.entry + req.room > m->hi) {
      refused(r, t, &c.sym[i], req.entry, mod, "outside the module");
      continue;
    }
    int rc = t->detour ? atr__patch_detour(&req) : atr__patch_redirect_jmp(&req);
    if (rc != 0) {
      refused(r, t, &c.sym[i], req.entry, mod, req.why);
      continue;
    }
    if (!(layers_patched & t->layer)) {
      layers_patched |= t->layer;
      atr__writer_layer(t->layer);
    }
  }
  flush_refusals(&rust);
  flush_refusals(&alloc);
}

void atr__patch_modules(void) {
#if defined(__x86_64__)
  if (!atr__cfg.patch)
    return;
  pthread_mutex_lock(&lock);
  uint32_t n;
  atr_module_t *mods = atr__modules(&n);
  int opened = 0;
  for (uint32_t i = scanned; mods && i < n; i++)
    if (!mods[i].unload_gen)
      scan_module(&mods[i], &opened);
  scanned = n;
  if (opened)
    atr__patch_end();
  pthread_mutex_unlock(&lock);
#endif
}
