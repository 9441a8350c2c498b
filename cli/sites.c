/* Call-site costs keyed by function and file (see sites.h). One pass over the stack
 * nodes; pattern matches on whole stacks are memoised per node, so the cost is linear
 * in the number of stacks; literal rule names are matched for all rules in one pass. Never looks at instruction addresses for matching.
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

static int count_node(atr_sites_t *out, const atr_model_t *m, atr_symbolizer_t *sym,
                      uint32_t node) {
  const atr_frame_t *f;
  atr_sym_callsite(sym, node, &f);
  const char *func, *where;
  key_of(f, &func, &where);
  atr_site_t *e = get(out, func, where);
  if (!e)
    return -1;
  add(e, atr_model_cost(m, node), node);
  return 0;
}

static int counted(const atr_model_t *m, uint32_t node) {
  const atr_cost_t *c = atr_model_cost(m, node);
  return c->allocations || c->peak_bytes || c->leaked_bytes;
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
    if (!counted(m, (uint32_t)i))
      continue;
    const atr_frame_t *f;
    atr_sym_callsite(sym, (uint32_t)i, &f);
    if (pattern && scope == ATR_SCOPE_SITE && (!f->func || fnmatch(pattern, f->func, 0) != 0))
      continue;
    if (pattern && scope == ATR_SCOPE_UNDER && !under(sym, m, memo, (uint32_t)i, pattern))
      continue;
    if (count_node(out, m, sym, (uint32_t)i) != 0) {
      free(memo);
      atr_sites_free(out);
      return -1;
    }
  }
  free(memo);
  return 0;
}

int atr_sites_collect_nodes(atr_sites_t *out, const atr_model_t *m, atr_symbolizer_t *sym,
                            const uint32_t *nodes, size_t n) {
  memset(out, 0, sizeof(*out));
  size_t mask = 15;
  while (mask + 1 < n * 2)
    mask = mask * 2 + 1;
  if (rehash(out, mask) != 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (count_node(out, m, sym, nodes[i]) != 0) {
      atr_sites_free(out);
      return -1;
    }
  return 0;
}

int atr_pattern_is_literal(const char *pattern) { return !strpbrk(pattern, "*?[\\"); }

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

typedef struct {
  const atr_rule_t *rules;
  uint32_t *tab, *next, *stamp; /* name -> first rule + 1; next rule of that name + 1 */
  size_t mask;
  uint32_t *pr, *pn; /* (rule, node) pairs, in node order */
  size_t np, cap;
} lit_t;

static int lit_pair(lit_t *L, uint32_t rule, uint32_t node) {
  if (L->stamp[rule] == node) /* a rule counts a stack once, however many frames match */
    return 0;
  L->stamp[rule] = node;
  if (L->np == L->cap) {
    size_t cap = L->cap ? L->cap * 2 : 1024;
    uint32_t *a = realloc(L->pr, cap * sizeof(*a));
    if (!a)
      return -1;
    L->pr = a;
    uint32_t *b = realloc(L->pn, cap * sizeof(*b));
    if (!b)
      return -1;
    L->pn = b;
    L->cap = cap;
  }
  L->pr[L->np] = rule;
  L->pn[L->np++] = node;
  return 0;
}

/* Pairs every rule of `scope` named `func` with node. */
static int lit_match(lit_t *L, const char *func, int scope, uint32_t node) {
  size_t j = name_hash(func) & L->mask;
  for (; L->tab[j]; j = (j + 1) & L->mask) {
    uint32_t r = L->tab[j] - 1;
    if (strcmp(L->rules[r].pattern, func) != 0)
      continue;
    for (; r != UINT32_MAX; r = L->next[r] - 1)
      if (L->rules[r].scope == scope && lit_pair(L, r, node) != 0)
        return -1;
    return 0;
  }
  return 0;
}

int atr_sites_match_literals(const atr_model_t *m, atr_symbolizer_t *sym, const atr_rule_t *rules,
                             size_t n, size_t **start_out, uint32_t **nodes_out) {
  lit_t L = {.rules = rules};
  size_t *start = calloc(n + 1, sizeof(*start));
  uint32_t *nodes = NULL;
  int rc = -1;
  L.mask = 255;
  while (L.mask + 1 < n * 2)
    L.mask = L.mask * 2 + 1;
  L.tab = calloc(L.mask + 1, sizeof(*L.tab));
  L.next = calloc(n + 1, sizeof(*L.next));
  L.stamp = calloc(n + 1, sizeof(*L.stamp));
  if (!start || !L.tab || !L.next || !L.stamp)
    goto out;
  for (size_t r = 0; r < n; r++) {
    if (!atr_pattern_is_literal(rules[r].pattern))
      continue;
    size_t j = name_hash(rules[r].pattern) & L.mask;
    while (L.tab[j] && strcmp(rules[L.tab[j] - 1].pattern, rules[r].pattern) != 0)
      j = (j + 1) & L.mask;
    L.next[r] = L.tab[j]; /* chained in front: the other scope of the same name */
    L.tab[j] = (uint32_t)r + 1;
  }
  for (uint32_t i = 1; i < m->tr.nnodes; i++) {
    if (!counted(m, i))
      continue;
    const atr_frame_t *f;
    atr_sym_callsite(sym, i, &f);
    if (f->func && lit_match(&L, f->func, ATR_SCOPE_SITE, i) != 0)
      goto out;
    for (uint32_t nd = i; nd && nd < m->tr.nnodes; nd = m->tr.nodes[nd].parent) {
      const atr_frame_t *fr;
      int k = atr_sym_node(sym, nd, &fr);
      for (int x = 0; x < k; x++)
        if (fr[x].func && lit_match(&L, fr[x].func, ATR_SCOPE_UNDER, i) != 0)
          goto out;
    }
  }
  nodes = malloc((L.np ? L.np : 1) * sizeof(*nodes));
  if (!nodes)
    goto out;
  for (size_t p = 0; p < L.np; p++)
    start[L.pr[p] + 1]++;
  for (size_t r = 0; r < n; r++)
    start[r + 1] += start[r];
  size_t *fill = L.np ? calloc(n, sizeof(*fill)) : NULL;
  if (L.np && !fill)
    goto out;
  for (size_t p = 0; p < L.np; p++) /* stable: each rule's nodes stay ascending */
    nodes[start[L.pr[p]] + fill[L.pr[p]]++] = L.pn[p];
  free(fill);
  rc = 0;
out:
  free(L.tab);
  free(L.next);
  free(L.stamp);
  free(L.pr);
  free(L.pn);
  if (rc != 0) {
    free(start);
    free(nodes);
    start = NULL;
    nodes = NULL;
  }
  *start_out = start;
  *nodes_out = nodes;
  return rc;
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
