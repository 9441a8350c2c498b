/* Symbol index of one module (see symtab.h). dwfl_module_addrinfo (elfutils 0.188,
 * libdwfl/dwfl_module_addrsym.c) scans the global symbols, then the locals when no
 * global covers the address, keeping the closest symbol with a size that covers it
 * (ties: better binding, then smaller size, in table order) and, failing that, the last
 * sizeless one (an assembly label) at or past every other symbol's end, in the
 * address's section. Which covering symbol wins depends only on the set of symbols
 * covering the address, so it is computed once per interval between symbol boundaries.
 * Never allocates per lookup; never returns a name dwfl_module_addrinfo would not.
 */
#define _GNU_SOURCE
#include "symtab.h"

#include <gelf.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t value, size;
  const char *name;
  uint32_t order;   /* position in dwfl's scan: globals first, then locals */
  uint8_t bind;     /* dwfl's binding_value: global 3, weak 2, local 1, others 0 */
  uint8_t reserved; /* absolute, common or not SHF_ALLOC: a label only at its address */
  uint8_t local;    /* scanned in the second pass */
} sym_t;

/* From start up to the next span's start the covering symbols elect sym (-1: none). */
typedef struct {
  uint64_t start;
  int32_t sym;
} span_t;

typedef struct {
  span_t *spans;
  size_t nspans;
  uint64_t *value;   /* the pass's symbols by value ... */
  uint64_t *max_end; /* ... and the highest value + size up to each (dwfl's min_label) */
  size_t n;
} pass_t;

typedef struct {
  uint64_t start, end;
  size_t ndx;
} sec_t;

struct atr_symtab {
  Dwfl_Module *mod;
  int ask_dwfl; /* a module this index does not model (ET_REL, ppc64 descriptors) */
  sym_t *syms;
  size_t nsyms;
  pass_t pass[2]; /* globals, locals */
  uint32_t *sizeless; /* sizeless symbols sorted by (value, order) */
  size_t nsizeless;
  sec_t *secs; /* SHF_ALLOC sections as derelocate.c's cache_sections sorts them */
  size_t nsecs;
};

static int binding_value(unsigned char info) {
  switch (GELF_ST_BIND(info)) {
  case STB_GLOBAL:
    return 3;
  case STB_WEAK:
    return 2;
  case STB_LOCAL:
    return 1;
  default:
    return 0;
  }
}

static uint64_t end_of(const sym_t *s) { return s->value + s->size; } /* wraps as dwfl's */

/* The end of the addresses a sized symbol covers (a wrapped end: up to the last one). */
static uint64_t cover_end(const sym_t *s) {
  return end_of(s) < s->value ? UINT64_MAX : end_of(s);
}

/* ---- sections: dwfl's same_section compares __libdwfl_find_section_ndx results ---- */

static int sec_cmp(const void *a, const void *b) {
  const sec_t *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x->ndx < y->ndx ? -1 : x->ndx > y->ndx;
}

/* 0 on success; -1 leaves no sections (dwfl then finds none either: SHN_UNDEF for all). */
static int load_sections(atr_symtab_t *t, Elf *elf, uint64_t bias) {
  size_t shstrndx, cap = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) < 0)
    return -1;
  for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
    GElf_Shdr mem, *sh = gelf_getshdr(scn, &mem);
    if (!sh)
      goto fail;
    if (!(sh->sh_flags & SHF_ALLOC))
      continue;
    if (!elf_strptr(elf, shstrndx, sh->sh_name))
      goto fail;
    if (t->nsecs == cap) {
      sec_t *n = realloc(t->secs, (cap = cap ? cap * 2 : 32) * sizeof(*n));
      if (!n)
        goto fail;
      t->secs = n;
    }
    t->secs[t->nsecs++] = (sec_t){sh->sh_addr + bias, sh->sh_addr + bias + sh->sh_size,
                                  elf_ndxscn(scn)};
  }
  qsort(t->secs, t->nsecs, sizeof(*t->secs), sec_cmp);
  return 0;
fail:
  free(t->secs);
  t->secs = NULL;
  t->nsecs = 0;
  return -1;
}

/* derelocate.c's find_section, to the letter (ends are inside unless the next begins). */
static size_t section_of(const atr_symtab_t *t, uint64_t addr) {
  size_t l = 0, u = t->nsecs;
  while (l < u) {
    size_t i = (l + u) / 2;
    if (addr < t->secs[i].start) {
      u = i;
    } else if (addr > t->secs[i].end) {
      l = i + 1;
    } else {
      if (addr == t->secs[i].end && i + 1 < t->nsecs && addr == t->secs[i + 1].start)
        i++;
      return t->secs[i].ndx;
    }
  }
  return SHN_UNDEF;
}

/* ---- covering symbols ---- */

/* The covering symbol dwfl keeps, scanning `act` (in scan order): try_sym_value's rule. */
static int32_t elect(const atr_symtab_t *t, const uint32_t *act, size_t n) {
  const sym_t *best = NULL;
  int32_t won = -1;
  for (size_t i = 0; i < n; i++) {
    const sym_t *s = &t->syms[act[i]];
    if (!best || best->value < s->value || best->bind < s->bind ||
        (best->value == s->value && ((best->size > s->size && best->bind <= s->bind) ||
                                     (best->size >= s->size && best->bind < s->bind)))) {
      best = s;
      won = (int32_t)act[i];
    }
  }
  return won;
}

static const atr_symtab_t *sort_ctx; /* qsort has no context argument */

static int by_value(const void *a, const void *b) {
  const sym_t *x = &sort_ctx->syms[*(const uint32_t *)a], *y = &sort_ctx->syms[*(const uint32_t *)b];
  if (x->value != y->value)
    return x->value < y->value ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static int by_end(const void *a, const void *b) {
  uint64_t x = cover_end(&sort_ctx->syms[*(const uint32_t *)a]);
  uint64_t y = cover_end(&sort_ctx->syms[*(const uint32_t *)b]);
  return x < y ? -1 : x > y;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Spans of one pass from its sized symbols `in` (k of them, sorted by value): a sweep
 * over the boundaries keeping the covering symbols in scan order. */
static int build_spans(atr_symtab_t *t, pass_t *p, uint32_t *in, size_t k) {
  uint32_t *ends = malloc((k ? k : 1) * sizeof(*ends));
  uint32_t *act = malloc((k ? k : 1) * sizeof(*act));
  uint64_t *bounds = malloc((k ? 2 * k : 1) * sizeof(*bounds));
  p->spans = malloc((2 * k + 1) * sizeof(*p->spans));
  if (!ends || !act || !bounds || !p->spans) {
    free(ends);
    free(act);
    free(bounds);
    return -1;
  }
  memcpy(ends, in, k * sizeof(*ends));
  sort_ctx = t;
  qsort(ends, k, sizeof(*ends), by_end);
  size_t nb = 0;
  for (size_t i = 0; i < k; i++) {
    bounds[nb++] = t->syms[in[i]].value;
    bounds[nb++] = cover_end(&t->syms[in[i]]);
  }
  qsort(bounds, nb, sizeof(*bounds), u64_cmp);
  size_t na = 0, si = 0, ei = 0;
  for (size_t b = 0; b < nb; b++) {
    uint64_t at = bounds[b];
    if (b && at == bounds[b - 1])
      continue;
    for (; ei < k && cover_end(&t->syms[ends[ei]]) <= at; ei++) {
      size_t j = 0;
      while (j < na && act[j] != ends[ei])
        j++;
      if (j < na) {
        memmove(act + j, act + j + 1, (na - j - 1) * sizeof(*act));
        na--;
      }
    }
    for (; si < k && t->syms[in[si]].value <= at; si++) {
      if (cover_end(&t->syms[in[si]]) <= at)
        continue; /* covers nothing below the last address */
      size_t j = na;
      while (j > 0 && t->syms[act[j - 1]].order > t->syms[in[si]].order)
        j--;
      memmove(act + j + 1, act + j, (na - j) * sizeof(*act));
      act[j] = in[si];
      na++;
    }
    int32_t won = elect(t, act, na);
    if (!p->nspans || p->spans[p->nspans - 1].sym != won)
      p->spans[p->nspans++] = (span_t){at, won};
  }
  free(ends);
  free(act);
  free(bounds);
  return 0;
}

static int32_t span_at(const pass_t *p, uint64_t addr) {
  size_t l = 0, u = p->nspans;
  while (l < u) {
    size_t i = (l + u) / 2;
    if (p->spans[i].start <= addr)
      l = i + 1;
    else
      u = i;
  }
  return l ? p->spans[l - 1].sym : -1;
}

/* dwfl's min_label after scanning the pass's symbols at or below addr (0: none). */
static uint64_t pass_max_end(const pass_t *p, uint64_t addr) {
  size_t l = 0, u = p->n;
  while (l < u) {
    size_t i = (l + u) / 2;
    if (p->value[i] <= addr)
      l = i + 1;
    else
      u = i;
  }
  return l ? p->max_end[l - 1] : 0;
}

static int build_pass(atr_symtab_t *t, int local) {
  pass_t *p = &t->pass[local];
  uint32_t *ix = malloc((t->nsyms ? t->nsyms : 1) * sizeof(*ix));
  if (!ix)
    return -1;
  size_t n = 0;
  for (size_t i = 0; i < t->nsyms; i++)
    if (t->syms[i].local == local)
      ix[n++] = (uint32_t)i;
  sort_ctx = t;
  qsort(ix, n, sizeof(*ix), by_value);
  p->value = malloc((n ? n : 1) * sizeof(*p->value));
  p->max_end = malloc((n ? n : 1) * sizeof(*p->max_end));
  if (!p->value || !p->max_end) {
    free(ix);
    return -1;
  }
  uint64_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const sym_t *s = &t->syms[ix[i]];
    if (end_of(s) > m)
      m = end_of(s);
    p->value[i] = s->value;
    p->max_end[i] = m;
  }
  p->n = n;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (t->syms[ix[i]].size)
      ix[k++] = ix[i];
  int rc = build_spans(t, p, ix, k);
  free(ix);
  return rc;
}

static int load_symbols(atr_symtab_t *t, int nsym, int first_global) {
  int gstart = first_global == 0 ? 1 : first_global;
  t->syms = malloc((size_t)(nsym > 0 ? nsym : 1) * sizeof(*t->syms));
  if (!t->syms)
    return -1;
  for (int i = 1; i < nsym; i++) {
    GElf_Sym sym;
    GElf_Addr value;
    GElf_Word shndx;
    const char *name = dwfl_module_getsym_info(t->mod, i, &sym, &value, &shndx, NULL, NULL);
    if (!name || !name[0] || sym.st_shndx == SHN_UNDEF)
      continue;
    int type = GELF_ST_TYPE(sym.st_info); /* search_table's filter but value <= addr */
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS)
      continue;
    int local = i < gstart;
    t->syms[t->nsyms++] = (sym_t){
        .value = value,
        .size = sym.st_size,
        .name = name,
        .order = (uint32_t)(local ? nsym - gstart + i - 1 : i - gstart),
        .bind = (uint8_t)binding_value(sym.st_info),
        .reserved = shndx >= SHN_LORESERVE,
        .local = (uint8_t)local,
    };
  }
  return 0;
}

static int build_sizeless(atr_symtab_t *t) {
  t->sizeless = malloc((t->nsyms ? t->nsyms : 1) * sizeof(*t->sizeless));
  if (!t->sizeless)
    return -1;
  for (size_t i = 0; i < t->nsyms; i++)
    if (!t->syms[i].size)
      t->sizeless[t->nsizeless++] = (uint32_t)i;
  sort_ctx = t;
  qsort(t->sizeless, t->nsizeless, sizeof(*t->sizeless), by_value);
  return 0;
}

atr_symtab_t *atr_symtab_build(Dwfl_Module *mod) {
  atr_symtab_t *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->mod = mod;
  int nsym = dwfl_module_getsymtab(mod);
  int first_global = nsym < 0 ? -1 : dwfl_module_getsymtab_first_global(mod);
  if (nsym < 0 || first_global < 0)
    return t; /* dwfl_module_addrinfo finds nothing either */
  GElf_Addr bias;
  Elf *elf = dwfl_module_getelf(mod, &bias);
  GElf_Ehdr eh;
  if (!elf || !gelf_getehdr(elf, &eh) || eh.e_type == ET_REL || eh.e_machine == EM_PPC64) {
    t->ask_dwfl = 1; /* section-relative values; function descriptors */
    return t;
  }
  load_sections(t, elf, bias);
  if (load_symbols(t, nsym, first_global) != 0 || build_pass(t, 0) != 0 ||
      build_pass(t, 1) != 0 || build_sizeless(t) != 0) {
    atr_symtab_free(t);
    return NULL;
  }
  return t;
}

void atr_symtab_free(atr_symtab_t *t) {
  if (!t)
    return;
  for (int i = 0; i < 2; i++) {
    free(t->pass[i].spans);
    free(t->pass[i].value);
    free(t->pass[i].max_end);
  }
  free(t->syms);
  free(t->sizeless);
  free(t->secs);
  free(t);
}

/* First sizeless symbol with value >= v. */
static size_t sizeless_from(const atr_symtab_t *t, uint64_t v) {
  size_t l = 0, u = t->nsizeless;
  while (l < u) {
    size_t i = (l + u) / 2;
    if (t->syms[t->sizeless[i]].value < v)
      l = i + 1;
    else
      u = i;
  }
  return l;
}

static const char *found(const sym_t *s, uint64_t *value) {
  *value = s->value;
  return s->name;
}

const char *atr_symtab_lookup(const atr_symtab_t *t, uint64_t addr, uint64_t *value) {
  if (t->ask_dwfl || addr == UINT64_MAX) { /* the last address: no span end reaches it */
    GElf_Off off;
    GElf_Sym sym;
    const char *n = dwfl_module_addrinfo(t->mod, addr, &off, &sym, NULL, NULL, NULL);
    *value = addr - off;
    return n;
  }
  int32_t w = span_at(&t->pass[0], addr);
  if (w >= 0)
    return found(&t->syms[w], value);
  /* No global covers addr: the locals are scanned unless a global label is at addr. */
  size_t first = sizeless_from(t, addr);
  int locals = 1;
  for (size_t i = first; i < t->nsizeless && t->syms[t->sizeless[i]].value == addr; i++)
    if (!t->syms[t->sizeless[i]].local)
      locals = 0;
  if (locals && (w = span_at(&t->pass[1], addr)) >= 0)
    return found(&t->syms[w], value);
  /* A label, the last scanned one at the highest end (or label) at or below addr. */
  uint64_t top = pass_max_end(&t->pass[0], addr);
  if (locals) {
    uint64_t l = pass_max_end(&t->pass[1], addr);
    top = l > top ? l : top;
  }
  int same = section_of(t, top) == section_of(t, addr);
  for (size_t i = sizeless_from(t, top + 1); i-- > 0;) {
    const sym_t *s = &t->syms[t->sizeless[i]];
    if (s->value != top)
      break;
    if ((s->local && !locals) || !(s->reserved ? top == addr : same))
      continue;
    return found(s, value);
  }
  return NULL;
}
