/* Finds what to patch in each newly loaded module (at start-up and after dlopen): Rust
 * allocator shims, statically linked jemalloc/mimalloc entry points and malloc & co.
 * defined by the module itself, by name, in the symbol table of the module's file.
 * Patches them and writes a NOTE for every module where something was found but refused.
 * Never blocks a thread that is not loading: its lock is taken in start-up, dlopen and
 * dlclose only (never in a signal handler), and a fork child starts with it free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "patch.h"
#include "real.h"

#define MAX_CANDIDATES 64
#define MAX_OWN 16 /* own_allocs[] in hooks_static.c has 10 names */

typedef struct {
  atr_elf_sym_t sym[MAX_CANDIDATES];
  atr_hook_target_t target[MAX_CANDIDATES];
  size_t n;
  int own_ok; /* the module's malloc & co. are not already seen by the libc hooks */
} candidates_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t scanned; /* modules [0, scanned) were looked at */
static unsigned layers_patched;

static int collect(const atr_elf_sym_t *s, void *arg) {
  candidates_t *c = arg;
  atr_hook_target_t t;
  if (!atr__rust_shim_match(s->name, &t) && !atr__static_alloc_match(s->name, &t) &&
      !(c->own_ok && atr__own_alloc_match(s->name, &t)))
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
  const atr_hook_target_t *target;
  const char *mod;
  uintptr_t addr;
  char name[48];
  char why[96];
};

static void refused(struct refusals *r, const atr_hook_target_t *t, const atr_elf_sym_t *s,
                    uintptr_t addr, const char *mod, const char *why) {
  if (r->count++)
    return;
  r->target = t;
  atr__fmt(r->name, sizeof(r->name), "%s", s->name); /* copied: keeps the note short */
  r->mod = mod;
  r->addr = addr;
  atr__fmt(r->why, sizeof(r->why), "%s", why);
}

static void flush_refusals(const struct refusals *r) {
  if (!r->count)
    return;
  char more[32] = "";
  if (r->count > 1)
    atr__fmt(more, sizeof(more), "+%u more; ", r->count - 1);
  char note[160];
  if (r->target->layer == ATR_LAYER_RUST_SHIM)
    atr__fmt(note, sizeof(note),
             "%s at 0x%lx in %.32s: %s; not patched (%sLTO/custom allocator: libc layer only)",
             r->target->label, (unsigned long)r->addr, r->mod, r->why, more);
  else
    atr__fmt(note, sizeof(note), "%s %s at 0x%lx in %.32s: %s; not patched (%suntraced)",
             r->target->label, r->name, (unsigned long)r->addr, r->mod, r->why, more);
  atr__note(note);
}

/* libc's malloc (or whichever the libc hooks call: RTLD_NEXT after us) is what those
 * hooks record; ld.so's minimal malloc serves only the loader before libc's is known. */
static int own_alloc_possible(const atr_module_t *m) {
  uintptr_t next = (uintptr_t)atr__real.malloc;
  if (next >= m->lo && next < m->hi)
    return 0;
  uintptr_t ldso = (uintptr_t)getauxval(AT_BASE);
  return !(ldso && m->bias == ldso);
}

static void layer_on(unsigned layer) {
  if (!(layers_patched & layer)) {
    layers_patched |= layer;
    atr__layer(layer);
  }
}

/* The request to patch candidate i of module m; -1 (req->why set) when it cannot be. */
static int request(atr_patch_req_t *req, const atr_module_t *m, const candidates_t *c, size_t i,
                   const uint64_t *next) {
  *req = (atr_patch_req_t){.entry = m->bias + c->sym[i].value,
                           .room = next[i] - c->sym[i].value,
                           .fn_size = c->sym[i].size,
                           .hook = c->target[i].hook,
                           .mod_lo = m->lo,
                           .mod_hi = m->hi};
  if (req->entry >= m->lo && req->entry + req->room <= m->hi)
    return 0;
  atr__fmt(req->why, sizeof(req->why), "outside the module");
  return -1;
}

/* A module's own malloc, free, calloc, ... are patched all together or not at all: a
 * traced malloc whose free is not would make every block look leaked. One note either
 * way: the layer has no other place that names the module. */
static void patch_own(const atr_module_t *m, const candidates_t *c, const size_t *idx, size_t n,
                      const uint64_t *next) {
  static atr_patch_req_t req[MAX_OWN]; /* under the lock */
  const char *named = c->sym[idx[0]].name, *bad = NULL;
  for (size_t k = 0; k < n; k++)
    if (strcmp(c->sym[idx[k]].name, "malloc") == 0)
      named = "malloc";
  size_t k = 0;
  for (; k < n; k++) {
    if (request(&req[k], m, c, idx[k], next) != 0 || atr__patch_detour_plan(&req[k]) != 0) {
      bad = c->sym[idx[k]].name;
      break;
    }
  }
  for (size_t w = 0; !bad && w < n; w++)
    if (atr__patch_apply(&req[w]) != 0) /* the same /proc/self/mem: the first or none fails */
      bad = c->sym[idx[k = w]].name;
  char exe[512], where[72], note[160];
  const char *path = m->path;
  if (!path[0]) {
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[len > 0 ? len : 0] = 0;
    path = exe;
  }
  size_t len = strlen(path);
  atr__fmt(where, sizeof(where), "%s%s", len >= sizeof(where) ? "..." : "",
           len >= sizeof(where) ? path + len - (sizeof(where) - 4) : path);
  if (bad) {
    atr__fmt(note, sizeof(note), "%s defines %s itself; its allocations were not seen (%s: %s)",
             where, named, bad, req[k].why);
  } else {
    atr__fmt(note, sizeof(note), "%s defines %s itself; traced through a detour of %zu functions",
             where, named, n);
    layer_on(ATR_LAYER_OWN_ALLOC);
  }
  atr__note(note);
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
  uint8_t id[sizeof(m->build_id)];
  size_t idlen = atr__elf_build_id(&elf, id, sizeof(id));
  if (m->build_id_len && (idlen != m->build_id_len || memcmp(id, m->build_id, idlen) != 0)) {
    atr__elf_close(&elf); /* the file on disk is not what is mapped: its symbols would lie */
    return;
  }
  static candidates_t c; /* under the lock */
  c.n = 0;
  c.own_ok = own_alloc_possible(m);
  atr__elf_functions(&elf, collect, &c);
  if (!c.n) {
    atr__elf_close(&elf);
    return;
  }
  uint64_t next[MAX_CANDIDATES];
  atr__elf_next_symbols(&elf, c.sym, c.n, next);
  if (!*opened) {
    atr__patch_begin();
    *opened = 1;
  }
  const char *mod = m->path[0] ? basename_of(m->path) : program_invocation_short_name;
  struct refusals rust = {0}, alloc = {0};
  size_t own[MAX_OWN], nown = 0;
  for (size_t i = 0; i < c.n; i++) {
    const atr_hook_target_t *t = &c.target[i];
    if (t->layer == ATR_LAYER_OWN_ALLOC) {
      if (nown < MAX_OWN)
        own[nown++] = i;
      continue;
    }
    atr_patch_req_t req;
    struct refusals *r = t->layer == ATR_LAYER_RUST_SHIM ? &rust : &alloc;
    if (request(&req, m, &c, i, next) != 0 ||
        (t->detour ? atr__patch_detour(&req) : atr__patch_redirect_jmp(&req)) != 0) {
      refused(r, t, &c.sym[i], req.entry, mod, req.why);
      continue;
    }
    layer_on(t->layer);
  }
  flush_refusals(&rust);
  flush_refusals(&alloc);
  if (nown)
    patch_own(m, &c, own, nown, next);
  atr__elf_close(&elf); /* the candidates' names point into it */
}

/* Fork child: a thread of the parent may have held the lock (it opens and maps module
 * files under it) at the fork; that thread is not in the child. */
void atr__patch_after_fork(void) {
  pthread_mutex_init(&lock, NULL);
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
