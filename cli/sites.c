/* Call-site costs keyed by function and file (see sites.h). One pass over the stack
 * nodes; pattern matches on whole stacks are memoised per node, so the cost is linear
 * in the number of stacks. Never looks at instruction addresses for matching.
 */
#define _GNU_SOURCE
#include "sites.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "report.h"

static const char *base_of(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static void key_of(const atr_frame_t *f, const char **func, const char **where) {
  *func = f->func ? f->func : "??";
  *where = f->file ? base_of(f->file) : f->module ? f->module : "?";
}

static uint64_t hash_key(const char *func, const char *where) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = func; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *p = where; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

static int rehash(atr_sites_t *s, size_t mask) {
  uint32_t *t = calloc(mask + 1, sizeof(*t));
  if (!t)
    return -1;
  for (size_t i = 0; i < s->n; i++) {
    size_t j = hash_key(s->v[i].func, s->v[i].where) & mask;
    while (t[j])
      j = (j + 1) & mask;
    t[j] = (uint32_t)i + 1;
  }
  free(s->tab);
  s->tab = t;
  s->mask = mask;
  return 0;
}

static size_t slot_of(const atr_sites_t *s, const char *func, const char *where) {
  size_t j = hash_key(func, where) & s->mask;
  while (s->tab[j]) {
    const atr_site_t *e = &s->v[s->tab[j] - 1];
    if (strcmp(e->func, func) == 0 && strcmp(e->where, where) == 0)
      break;
    j = (j + 1) & s->mask;
  }
  return j;
}

const atr_site_t *atr_sites_find(const atr_sites_t *s, const char *func, const char *where) {
  if (!s->tab)
    return NULL;
  size_t j = slot_of(s, func, where);
  return s->tab[j] ? &s->v[s->tab[j] - 1] : NULL;
}

static atr_site_t *get(atr_sites_t *s, const char *func, const char *where) {
  if ((s->n + 1) * 2 > s->mask + 1 && rehash(s, s->mask * 2 + 1) != 0)
    return NULL;
  size_t j = slot_of(s, func, where);
  if (s->tab[j])
    return &s->v[s->tab[j] - 1];
  if (s->n == s->cap) {
    size_t c = s->cap ? s->cap * 2 : 64;
    atr_site_t *nv = realloc(s->v, c * sizeof(*nv));
    if (!nv)
      return NULL;
    s->v = nv;
    s->cap = c;
  }
  atr_site_t *e = &s->v[s->n];
  memset(e, 0, sizeof(*e));
  e->func = func;
  e->where = where;
  s->tab[j] = (uint32_t)++s->n;
  return e;
}

static void add(atr_site_t *e, const atr_cost_t *c, uint32_t node) {
  e->cost.allocations += c->allocations;
  e->cost.allocated += c->allocated;
  e->cost.temporary += c->temporary;
  e->cost.leaked_bytes += c->leaked_bytes;
  e->cost.leaked_blocks += c->leaked_blocks;
  e->cost.peak_bytes += c->peak_bytes;
  for (int k = 0; k < ATR_M_COUNT; k++) {
    uint64_t v = atr_cost_metric(c, k);
    if (v > e->top_val[k] || !e->top[k]) {
      e->top_val[k] = v;
      e->top[k] = node;
    }
  }
}

/* memo: 0 unknown, 1 matches, 2 does not */
static int under(atr_symbolizer_t *sym, const atr_model_t *m, uint8_t *memo, uint32_t node,
                 const char *pattern) {
  uint32_t path[64];
  size_t depth = 0;
  int found = 2;
  for (uint32_t n = node; n && n < m->tr.nnodes; n = m->tr.nodes[n].parent) {
    if (memo[n]) {
      found = memo[n];
      break;
    }
    const atr_frame_t *fr;
    int k = atr_sym_node(sym, n, &fr);
    for (int i = 0; i < k; i++)
      if (fr[i].func && fnmatch(pattern, fr[i].func, 0) == 0)
        found = 1;
    if (found == 1) {
      memo[n] = 1;
      break;
    }
    if (depth < sizeof(path) / sizeof(*path))
      path[depth++] = n;
  }
  /* a node matches iff it or an ancestor does: the result holds for the whole path */
  for (size_t i = 0; i < depth; i++)
    memo[path[i]] = (uint8_t)found;
  return found == 1;
}

int atr_sites_collect(atr_sites_t *out, const atr_model_t *m, atr_symbolizer_t *sym,
                      const char *pattern, int scope) {
  memset(out, 0, sizeof(*out));
  uint8_t *memo = NULL;
  if (pattern && scope == ATR_SCOPE_UNDER && !(memo = calloc(m->tr.nnodes + 1, 1)))
    return -1;
  if (rehash(out, 255) != 0) {
    free(memo);
    return -1;
  }
  for (size_t i = 1; i < m->tr.nnodes; i++) {
    const atr_cost_t *c = atr_model_cost(m, (uint32_t)i);
    if (!c->allocations && !c->peak_bytes && !c->leaked_bytes)
      continue;
    const atr_frame_t *f;
    atr_sym_callsite(sym, (uint32_t)i, &f);
    if (pattern && scope == ATR_SCOPE_SITE && (!f->func || fnmatch(pattern, f->func, 0) != 0))
      continue;
    if (pattern && scope == ATR_SCOPE_UNDER && !under(sym, m, memo, (uint32_t)i, pattern))
      continue;
    const char *func, *where;
    key_of(f, &func, &where);
    atr_site_t *e = get(out, func, where);
    if (!e) {
      free(memo);
      atr_sites_free(out);
      return -1;
    }
    add(e, c, (uint32_t)i);
  }
  free(memo);
  return 0;
}

void atr_sites_free(atr_sites_t *s) {
  free(s->v);
  free(s->tab);
  memset(s, 0, sizeof(*s));
}

static int sort_metric;
static int by_metric(const void *a, const void *b) {
  const atr_site_t *x = a, *y = b;
  uint64_t u = atr_cost_metric(&x->cost, sort_metric), v = atr_cost_metric(&y->cost, sort_metric);
  if (u != v)
    return u < v ? 1 : -1;
  int c = strcmp(x->func, y->func);
  return c ? c : strcmp(x->where, y->where);
}

void atr_sites_sort(atr_sites_t *s, int metric) {
  sort_metric = metric;
  if (s->n)
    qsort(s->v, s->n, sizeof(*s->v), by_metric);
  if (rehash(s, s->mask) != 0) { /* out of memory: lookups find nothing rather than lie */
    free(s->tab);
    s->tab = NULL;
  }
}

const atr_frame_t *atr_site_frame(atr_symbolizer_t *sym, const atr_site_t *s, int metric) {
  const atr_frame_t *f;
  atr_sym_callsite(sym, s->top[metric], &f);
  return f;
}

json_t *atr_site_stack_json(atr_symbolizer_t *sym, uint32_t node, int max) {
  json_t *a = json_array();
  const atr_frame_t *site;
  uint32_t from = atr_sym_callsite(sym, node, &site);
  int count = 0, started = 0;
  for (uint32_t n = from; n && count < max; n = atr_sym_callsite_parent(sym, n)) {
    const atr_frame_t *fr;
    int k = atr_sym_node(sym, n, &fr);
    for (int i = 0; i < k && count < max; i++) {
      started |= &fr[i] == site;
      if (!started)
        continue;
      json_array_append_new(a, atr_report_frame_json(&fr[i]));
      count++;
      if (fr[i].func && strcmp(fr[i].func, "main") == 0)
        return a;
    }
  }
  return a;
}
