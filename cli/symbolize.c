/* Symbolization with libdwfl and demangling with libiberty (see symbolize.h).
 * Never aborts on missing or mismatched debug information: it falls back to the
 * symbol table, then to module+offset.
 */
#define _GNU_SOURCE
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "symtab.h"

#define MAX_INLINE 16

typedef struct {
  Dwfl *dwfl;
  Dwfl_Module *mod;
  atr_symtab_t *syms; /* built at the module's first address */
  int tried;
  int32_t same; /* the first module of the same file at the same bias: its Dwfl serves */
  const char *base;
  const char *cls;
} sym_module_t;

/* The first module of tr with m's path and bias (m itself when none comes before): a
 * library dlopen'ed again and again at one address is opened once, not once per load
 * (8192 loads ran out of descriptors). At most ATR_READ_MAX_MODULES^2 / 2 compares. */
static int32_t first_same(const atr_trace_t *tr, size_t m) {
  const atr_rmodule_t *rm = &tr->modules[m];
  for (size_t k = 0; rm->path && k < m; k++)
    if (tr->modules[k].bias == rm->bias && tr->modules[k].path &&
        strcmp(tr->modules[k].path, rm->path) == 0)
      return (int32_t)k;
  return (int32_t)m;
}

typedef struct {
  uint64_t key;
  atr_frame_t *frames;
  int n;
  int site; /* the first frame that is not allocator machinery; -1: none, or a library */
} ip_entry_t;

struct atr_symbolizer {
  const atr_trace_t *tr;
  sym_module_t *mods;
  ip_entry_t *ips; /* open addressing on key */
  size_t ip_mask, ip_count;
  /* pool of strings, freed together */
  char **strs;
  size_t nstrs, cap_strs;
};

static char *keep(atr_symbolizer_t *s, char *str) {
  if (!str)
    return NULL;
  if (s->nstrs == s->cap_strs) {
    size_t c = s->cap_strs ? s->cap_strs * 2 : 256;
    char **n = realloc(s->strs, c * sizeof(char *));
    if (!n) {
      free(str);
      return NULL;
    }
    s->strs = n;
    s->cap_strs = c;
  }
  s->strs[s->nstrs++] = str;
  return str;
}

static const char *basename_of(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

static const char *classify(const atr_trace_t *tr, const char *path) {
  const char *b = basename_of(path);
  if (tr->exe && strcmp(path, tr->exe) == 0)
    return "program";
  if (strncmp(b, "libc.so", 7) == 0 || strncmp(b, "ld-linux", 8) == 0 ||
      strncmp(b, "libm.so", 7) == 0 || strncmp(b, "libpthread", 10) == 0)
    return "libc";
  if (strncmp(b, "libstdc++", 9) == 0 || strncmp(b, "libgcc_s", 8) == 0)
    return "libstdc++";
  if (strncmp(b, "libstd-", 7) == 0)
    return "rust-std";
  if (strncmp(b, "liballoctrace", 13) == 0)
    return "system";
  if (strncmp(path, "/usr/lib", 8) == 0 || strncmp(path, "/lib", 4) == 0)
    return "system";
  return "other";
}

/* Lines and inlined frames come from DWARF; the C library's frames (start-up below main,
 * the libc functions that allocate) are named from its symbol table alone. Its DWARF,
 * when libc6-dbg is installed, is compressed: inflating it cost 60 ms of every command
 * (the whole of a summary of 1,000 events) for file:line inside glibc's own sources. */
static int wants_lines(const char *cls) {
  return strcmp(cls, "libc") != 0;
}

atr_symbolizer_t *atr_sym_new(const atr_trace_t *tr) {
  atr_symbolizer_t *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->tr = tr;
  s->mods = calloc(tr->nmodules + 1, sizeof(sym_module_t));
  s->ip_mask = 4095;
  s->ips = calloc(s->ip_mask + 1, sizeof(ip_entry_t));
  if (!s->mods || !s->ips) {
    atr_sym_free(s);
    return NULL;
  }
  for (size_t i = 0; i < tr->nmodules; i++) {
    const char *p = tr->modules[i].path ? tr->modules[i].path : "?";
    s->mods[i].base = basename_of(p);
    s->mods[i].cls = classify(tr, p);
    s->mods[i].same = first_same(tr, i);
  }
  return s;
}

void atr_sym_free(atr_symbolizer_t *s) {
  if (!s)
    return;
  for (size_t i = 0; s->mods && i < s->tr->nmodules; i++) {
    atr_symtab_free(s->mods[i].syms);
    if (s->mods[i].dwfl)
      dwfl_end(s->mods[i].dwfl);
  }
  for (size_t i = 0; s->ips && i <= s->ip_mask; i++)
    free(s->ips[i].frames);
  for (size_t i = 0; i < s->nstrs; i++)
    free(s->strs[i]);
  free(s->strs);
  free(s->ips);
  free(s->mods);
  free(s);
}

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static Dwfl_Module *module_dwfl(atr_symbolizer_t *s, int m) {
  sym_module_t *sm = &s->mods[m];
  if (sm->tried)
    return sm->mod;
  sm->tried = 1;
  const atr_rmodule_t *rm = &s->tr->modules[m];
  if (!rm->path || !rm->path[0] || rm->path[0] != '/')
    return NULL; /* vdso and friends */
  struct stat st; /* the path comes from the trace: a FIFO or device would block libelf */
  if (stat(rm->path, &st) != 0 || !S_ISREG(st.st_mode))
    return NULL;
  sm->dwfl = dwfl_begin(&callbacks);
  if (!sm->dwfl)
    return NULL;
  dwfl_report_begin(sm->dwfl);
  sm->mod = dwfl_report_elf(sm->dwfl, sm->base, rm->path, -1, rm->bias, false);
  dwfl_report_end(sm->dwfl, NULL, NULL);
  return sm->mod;
}

/* ---- warming: the same Dwfl per module, opened early on another thread ---- */

typedef struct {
  char *path;
  uint64_t bias;
  Dwfl *dwfl;
  Dwfl_Module *mod;
  atr_symtab_t *syms;
  int lines; /* load its DWARF too (wants_lines) */
} warm_module_t;

struct atr_sym_warm {
  pthread_t thr;
  warm_module_t *m;
  size_t n;
};

/* The modules nearly every allocation stack passes through; the dynamic loader rarely
 * allocates after start-up, so it stays lazy. */
static int worth_warming(const atr_trace_t *tr, const char *path) {
  const char *cls = classify(tr, path);
  if (strncmp(basename_of(path), "ld-linux", 8) == 0)
    return 0;
  return strcmp(cls, "program") == 0 || strcmp(cls, "libc") == 0 ||
         strcmp(cls, "libstdc++") == 0 || strcmp(cls, "rust-std") == 0;
}

/* What module_dwfl does, plus loading the DWARF (libdw decompresses the debug sections
 * there: the slow part) and indexing the symbol table. */
static void *warm_main(void *arg) {
  atr_sym_warm_t *w = arg;
  for (size_t i = 0; i < w->n; i++) {
    warm_module_t *wm = &w->m[i];
    struct stat st;
    if (stat(wm->path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    wm->dwfl = dwfl_begin(&callbacks);
    if (!wm->dwfl)
      continue;
    dwfl_report_begin(wm->dwfl);
    wm->mod = dwfl_report_elf(wm->dwfl, basename_of(wm->path), wm->path, -1, wm->bias, false);
    dwfl_report_end(wm->dwfl, NULL, NULL);
    if (wm->mod) {
      Dwarf_Addr bias;
      if (wm->lines)
        dwfl_module_getdwarf(wm->mod, &bias);
      wm->syms = atr_symtab_build(wm->mod);
    }
  }
  return NULL;
}

atr_sym_warm_t *atr_sym_warm_start(const atr_trace_t *tr) {
  atr_sym_warm_t *w = calloc(1, sizeof(*w));
  if (!w || !(w->m = calloc(tr->nmodules + 1, sizeof(*w->m)))) {
    free(w);
    return NULL;
  }
  for (size_t i = 0; i < tr->nmodules; i++) {
    const atr_rmodule_t *rm = &tr->modules[i];
    if (!rm->path || rm->path[0] != '/' || !worth_warming(tr, rm->path) ||
        first_same(tr, i) != (int32_t)i)
      continue;
    w->m[w->n].path = strdup(rm->path);
    w->m[w->n].bias = rm->bias;
    w->m[w->n].lines = wants_lines(classify(tr, rm->path));
    if (w->m[w->n].path)
      w->n++;
  }
  if (!w->n || pthread_create(&w->thr, NULL, warm_main, w) != 0) {
    for (size_t i = 0; i < w->n; i++)
      free(w->m[i].path);
    free(w->m);
    free(w);
    return NULL;
  }
  return w;
}

void atr_sym_warm_drop(atr_sym_warm_t *w) {
  if (!w)
    return;
  pthread_join(w->thr, NULL);
  for (size_t i = 0; i < w->n; i++) {
    atr_symtab_free(w->m[i].syms);
    if (w->m[i].dwfl)
      dwfl_end(w->m[i].dwfl);
    free(w->m[i].path);
  }
  free(w->m);
  free(w);
}

atr_symbolizer_t *atr_sym_new_warm(const atr_trace_t *tr, atr_sym_warm_t *w) {
  if (w)
    pthread_join(w->thr, NULL);
  atr_symbolizer_t *s = atr_sym_new(tr);
  for (size_t i = 0; w && i < w->n; i++) {
    warm_module_t *wm = &w->m[i];
    for (size_t k = 0; s && wm->dwfl && k < tr->nmodules; k++) {
      const atr_rmodule_t *rm = &tr->modules[k];
      if (s->mods[k].tried || !rm->path || rm->bias != wm->bias || strcmp(rm->path, wm->path))
        continue;
      s->mods[k].tried = 1;
      s->mods[k].dwfl = wm->dwfl;
      s->mods[k].mod = wm->mod;
      s->mods[k].syms = wm->syms;
      wm->dwfl = NULL;
      wm->syms = NULL;
      break;
    }
    atr_symtab_free(wm->syms);
    if (wm->dwfl)
      dwfl_end(wm->dwfl);
    free(wm->path);
  }
  if (w) {
    free(w->m);
    free(w);
  }
  return s;
}

/* C++ and Rust (legacy and v0) names; Rust legacy hashes are dropped by libiberty. */
static char *demangle(const char *name) {
  if (!name)
    return NULL;
  char *d = cplus_demangle(name, DMGL_ANSI | DMGL_AUTO);
  return d ? d : strdup(name);
}

static const char *die_name(Dwarf_Die *die, char **owned) {
  Dwarf_Attribute attr;
  const char *n = NULL;
  *owned = NULL;
  if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
      dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr)) {
    n = dwarf_formstring(&attr);
    if (n) {
      *owned = demangle(n);
      return *owned;
    }
  }
  if (dwarf_attr_integrate(die, DW_AT_name, &attr))
    n = dwarf_formstring(&attr);
  return n;
}

static const char *call_file(Dwarf_Die *cu, Dwarf_Die *inl) {
  Dwarf_Attribute attr;
  Dwarf_Word idx;
  Dwarf_Files *files;
  size_t nfiles;
  if (!dwarf_attr(inl, DW_AT_call_file, &attr) || dwarf_formudata(&attr, &idx) != 0)
    return NULL;
  if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
    return NULL;
  return dwarf_filesrc(files, idx, NULL, NULL);
}

static unsigned call_line(Dwarf_Die *inl) {
  Dwarf_Attribute attr;
  Dwarf_Word line;
  if (!dwarf_attr(inl, DW_AT_call_line, &attr) || dwarf_formudata(&attr, &line) != 0)
    return 0;
  return (unsigned)line;
}

static int resolve(atr_symbolizer_t *s, int m, uint64_t ip, atr_frame_t *out) {
  uint64_t addr = ip - 1; /* a return address: look at the call instruction */
  const char *modname = m >= 0 ? s->mods[m].base : "?";
  if (m >= 0)
    m = s->mods[m].same; /* same file, same symbols */
  Dwfl_Module *mod = m >= 0 ? module_dwfl(s, m) : NULL;
  int n = 0;
  if (!mod) {
    char buf[64];
    snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)ip);
    out[0] = (atr_frame_t){keep(s, strdup(buf)), NULL, 0, modname, 0};
    return 1;
  }
  const char *file = NULL;
  int line = 0;
  int lines = wants_lines(s->mods[m].cls);
  Dwfl_Line *dl = lines ? dwfl_module_getsrc(mod, addr) : NULL;
  if (dl)
    file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

  Dwarf_Addr bias = 0;
  Dwarf_Die *cu = lines ? dwfl_module_addrdie(mod, addr, &bias) : NULL;
  Dwarf_Die *scopes = NULL;
  int nscopes = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
  const char *cur_file = file;
  unsigned cur_line = line > 0 ? (unsigned)line : 0;
  for (int i = 0; i < nscopes && n < MAX_INLINE - 1; i++) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_inlined_subroutine)
      continue;
    char *owned;
    const char *name = die_name(&scopes[i], &owned);
    out[n++] = (atr_frame_t){keep(s, owned ? owned : strdup(name ? name : "??")),
                             cur_file ? keep(s, strdup(cur_file)) : NULL, cur_line, modname, 1};
    cur_file = call_file(cu, &scopes[i]);
    cur_line = call_line(&scopes[i]);
  }
  free(scopes);
  if (!s->mods[m].syms)
    s->mods[m].syms = atr_symtab_build(mod);
  uint64_t value;
  const char *sname = s->mods[m].syms ? atr_symtab_lookup(s->mods[m].syms, addr, &value) : NULL;
  char *fname;
  if (sname) {
    fname = demangle(sname);
  } else {
    char buf[64];
    Dwarf_Addr start;
    dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
    snprintf(buf, sizeof(buf), "%s+0x%llx", modname, (unsigned long long)(addr - start));
    fname = strdup(buf);
  }
  out[n++] = (atr_frame_t){keep(s, fname), cur_file ? keep(s, strdup(cur_file)) : NULL, cur_line,
                           modname, 0};
  return n;
}

static ip_entry_t *lookup(atr_symbolizer_t *s, uint64_t key) {
  size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & s->ip_mask;
  while (s->ips[i].key && s->ips[i].key != key)
    i = (i + 1) & s->ip_mask;
  return &s->ips[i];
}

static int grow(atr_symbolizer_t *s) {
  ip_entry_t *old = s->ips;
  size_t old_mask = s->ip_mask;
  s->ip_mask = old_mask * 2 + 1;
  s->ips = calloc(s->ip_mask + 1, sizeof(ip_entry_t));
  if (!s->ips) {
    s->ips = old;
    s->ip_mask = old_mask;
    return -1;
  }
  for (size_t i = 0; i <= old_mask; i++)
    if (old[i].key)
      *lookup(s, old[i].key) = old[i];
  free(old);
  return 0;
}

static atr_frame_t unknown = {"??", NULL, 0, "?", 0};

static int library_module(atr_symbolizer_t *s, int m) {
  if (m < 0)
    return 0;
  const char *c = s->mods[m].cls;
  return strcmp(c, "libc") == 0 || strcmp(c, "libstdc++") == 0 || strcmp(c, "rust-std") == 0;
}

/* The cached frames of a node's address, resolved at its first use; NULL when out of
 * memory. pre: 0 < node < nnodes. */
static ip_entry_t *node_entry(atr_symbolizer_t *s, uint32_t node) {
  const atr_rnode_t *rn = &s->tr->nodes[node];
  uint64_t key = rn->ip ^ ((uint64_t)(rn->module + 2) << 52);
  ip_entry_t *e = lookup(s, key);
  if (e->key)
    return e;
  if ((s->ip_count + 1) * 2 > s->ip_mask && grow(s) == 0)
    e = lookup(s, key);
  atr_frame_t tmp[MAX_INLINE];
  int n = resolve(s, rn->module, rn->ip, tmp);
  e->frames = malloc((size_t)n * sizeof(atr_frame_t));
  if (!e->frames)
    return NULL;
  memcpy(e->frames, tmp, (size_t)n * sizeof(atr_frame_t));
  e->n = n;
  e->site = -1;
  for (int i = 0; i < n && !library_module(s, rn->module); i++)
    if (!atr_sym_is_alloc_frame(&tmp[i])) {
      e->site = i;
      break;
    }
  e->key = key;
  s->ip_count++;
  return e;
}

int atr_sym_node(atr_symbolizer_t *s, uint32_t node, const atr_frame_t **frames) {
  ip_entry_t *e = node && node < s->tr->nnodes ? node_entry(s, node) : NULL;
  *frames = e ? e->frames : &unknown;
  return e ? e->n : 1;
}

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

int atr_sym_is_alloc_frame(const atr_frame_t *f) {
  static const char *exact[] = {"malloc", "calloc", "realloc", "reallocarray", "free",
                                "posix_memalign", "aligned_alloc", "memalign", "valloc",
                                "pvalloc", "__libc_malloc", "__libc_calloc", "__libc_realloc"};
  static const char *prefix[] = {"operator new", "operator delete", "__rust_", "__rustc::", "__rdl_",
                                 "__rg_", "alloc::", "<alloc::", "core::", "<core::",
                                 "std::", "<std::", "__gnu_cxx::", "hashbrown::",
                                 "<hashbrown::", "__cxx", "_Znwm", "_Znam"};
  const char *n = f->func;
  if (!n)
    return 0;
  for (size_t i = 0; i < sizeof(exact) / sizeof(*exact); i++)
    if (strcmp(n, exact[i]) == 0)
      return 1;
  for (size_t i = 0; i < sizeof(prefix) / sizeof(*prefix); i++)
    if (starts(n, prefix[i]))
      return 1;
  /* Rust's mangled allocator shims (_RNv...___rust_alloc), and #[global_allocator]
   * implementations (<x::Counting as core::alloc::global::GlobalAlloc>::alloc, the
   * cooperative alloctrace::Traced<A>): the call site is whoever asked them. */
  return strstr(n, "___rust_") != NULL ||
         strstr(n, " as core::alloc::global::GlobalAlloc>::") != NULL;
}

uint32_t atr_sym_callsite(atr_symbolizer_t *s, uint32_t node, const atr_frame_t **frame) {
  const atr_frame_t *first_frame = NULL;
  for (uint32_t n = node; n && n < s->tr->nnodes; n = s->tr->nodes[n].parent) {
    ip_entry_t *e = node_entry(s, n);
    if (!first_frame)
      first_frame = e ? &e->frames[0] : &unknown;
    if (e ? e->site >= 0 : !library_module(s, s->tr->nodes[n].module)) {
      *frame = e ? &e->frames[e->site] : &unknown; /* "??" is nobody's machinery */
      return n;
    }
  }
  if (!first_frame)
    atr_sym_node(s, node, &first_frame);
  *frame = first_frame;
  return node;
}

const char *atr_sym_module_class(atr_symbolizer_t *s, int module) {
  return module >= 0 && (size_t)module < s->tr->nmodules ? s->mods[module].cls : "other";
}

uint32_t atr_sym_callsite_parent(atr_symbolizer_t *s, uint32_t node) {
  return node < s->tr->nnodes ? s->tr->nodes[node].parent : 0;
}
