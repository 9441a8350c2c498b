/* The shared analysis model (see model.h). Peak attribution is exact and O(1) per
 * event: a stack's live bytes at the global peak are saved lazily the first time the
 * stack changes after a new peak. Never keeps per-event data.
 */
#define _GNU_SOURCE
#include "model.h"

#include <stdio.h>
#define ATR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#include <stdlib.h>
#include <string.h>

const char *const atr_metric_names[ATR_M_COUNT] = {"peak", "leaked", "allocated", "allocations",
                                                   "temporary"};

int atr_metric_parse(const char *name) {
  for (int i = 0; i < ATR_M_COUNT; i++)
    if (strcmp(name, atr_metric_names[i]) == 0)
      return i;
  return -1;
}

uint64_t atr_cost_metric(const atr_cost_t *c, int metric) {
  switch (metric) {
  case ATR_M_PEAK:
    return c->peak_bytes;
  case ATR_M_LEAKED:
    return c->leaked_bytes;
  case ATR_M_ALLOCATED:
    return c->allocated;
  case ATR_M_ALLOCATIONS:
    return c->allocations;
  case ATR_M_TEMPORARY:
    return c->temporary;
  }
  return 0;
}

/* Before a stack's live bytes change: remember its value at the current peak. */
static inline void touch(atr_model_t *m, atr_cost_t *c) {
  if (c->saved_for != m->peak_id) {
    c->saved = c->live;
    c->saved_for = m->peak_id;
  }
}

static inline unsigned size_bucket(uint64_t size) {
  unsigned b = size ? 64 - (unsigned)__builtin_clzll(size) : 0; /* 0, [1], [2,3], [4,7] ... */
  return b < ATR_SIZE_BUCKETS ? b : ATR_SIZE_BUCKETS - 1;
}

static void on_alloc(atr_model_t *m, uint32_t site) {
  const atr_rsite_t *s = &m->tr.sites[site];
  atr_cost_t *c = &m->node[s->node];
  touch(m, c);
  c->allocations++;
  c->allocated += s->size;
  c->live += s->size;
  c->live_blocks++;
  m->t.allocations++;
  m->t.allocated_bytes += s->size;
  m->t.kinds[s->kind]++;
  m->t.live_bytes += s->size;
  m->t.live_blocks++;
  unsigned b = size_bucket(s->size);
  m->size_count[b]++;
  m->size_bytes[b] += s->size;
  if (s->align) {
    unsigned l = (unsigned)__builtin_ctzll(s->align);
    if (l > 15)
      l = 15;
    m->aligns[l].align = s->align;
    m->aligns[l].count++;
    m->aligns[l].padding += s->align > 16 ? s->align - 16 : 0;
  }
  m->layers_seen |= atr_kind_layer(s->kind);
  m->last_site = site;
}

static void on_release(atr_model_t *m, uint32_t site) {
  const atr_rsite_t *s = &m->tr.sites[site];
  atr_cost_t *c = &m->node[s->node];
  touch(m, c);
  c->live -= s->size;
  c->live_blocks--;
  m->t.live_bytes -= s->size;
  m->t.live_blocks--;
}

/* heaptrack's definition, so the numbers cross-check: a free is temporary when the
 * block has the same site (stack and size) as the most recent allocation and nothing
 * was freed since (heaptrack's AccumulatedTraceData::read, lastAllocationPtr). */
static void on_free(atr_model_t *m, uint32_t site) {
  if (site == m->last_site) {
    m->t.temporary++;
    m->node[m->tr.sites[site].node].temporary++;
  }
  m->last_site = 0;
  on_release(m, site);
}

static void check_peak(atr_model_t *m, uint64_t time_us) {
  if (m->t.live_bytes > m->t.peak_bytes) {
    m->t.peak_bytes = m->t.live_bytes;
    m->t.peak_time_us = time_us;
    m->peak_id++;
  }
}

static int ensure_nodes(atr_model_t *m, size_t *cap) {
  if (m->tr.nnodes <= *cap)
    return 0;
  size_t c = *cap ? *cap : 1024;
  while (c < m->tr.nnodes)
    c *= 2;
  atr_cost_t *n = realloc(m->node, c * sizeof(atr_cost_t));
  if (!n)
    return -1;
  memset(n + *cap, 0, (c - *cap) * sizeof(atr_cost_t));
  m->node = n;
  *cap = c;
  return 0;
}

typedef struct {
  atr_model_t *m;
  size_t cap;
  int oom;
} load_ctx_t;

static void model_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  load_ctx_t *L = ctx;
  atr_model_t *m = L->m;
  (void)tr;
  if (ATR_UNLIKELY(m->tr.nnodes > L->cap) && ensure_nodes(m, &L->cap) != 0) {
    L->oom = 1;
    return;
  }
  switch (ev->kind) {
  case ATR_E_ALLOC:
    on_alloc(m, ev->site);
    check_peak(m, ev->time_us);
    break;
  case ATR_E_FREE:
    m->t.frees++;
    on_free(m, ev->old_site);
    break;
  case ATR_E_REALLOC:
    m->t.reallocs++;
    on_free(m, ev->old_site);
    if (ev->site) {
      on_alloc(m, ev->site);
      check_peak(m, ev->time_us);
    }
    break;
  case ATR_E_AFAIL:
    m->t.failed++;
    break;
  case ATR_E_RFAIL:
    m->t.reallocs++;
    m->t.failed++;
    break;
  case ATR_E_UFREE:
    m->t.unknown_frees++;
    break;
  }
  if (m->chain && m->chain->event)
    m->chain->event(m->chain->ctx, tr, ev);
}

static void model_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  load_ctx_t *L = ctx;
  if (L->m->chain && L->m->chain->rss)
    L->m->chain->rss(L->m->chain->ctx, tr, time_us, bytes);
}

int atr_model_load(atr_model_t *m, const char *path, const atr_visitor_t *chain) {
  memset(m, 0, sizeof(*m));
  m->chain = chain;
  load_ctx_t L = {m, 0, 0};
  atr_visitor_t v = {&L, model_event, model_rss};
  if (atr_trace_read(&m->tr, path, &v) != 0)
    return -1;
  if (L.oom || ensure_nodes(m, &L.cap) != 0) {
    snprintf(m->tr.error, sizeof(m->tr.error), "%s: out of memory", path);
    return -1;
  }
  for (size_t i = 0; i < m->tr.nnodes; i++) {
    atr_cost_t *c = &m->node[i];
    c->peak_bytes = c->saved_for == m->peak_id ? c->saved : c->live;
    c->leaked_bytes = c->live;
    c->leaked_blocks = c->live_blocks;
  }
  m->t.leaked_bytes = m->t.live_bytes;
  m->t.leaked_blocks = m->t.live_blocks;
  m->t.duration_us = m->tr.time_us;
  m->t.peak_rss = m->tr.peak_rss;
  return 0;
}

void atr_model_free(atr_model_t *m) {
  free(m->node);
  atr_trace_free(&m->tr);
  memset(m, 0, sizeof(*m));
}

/* ---- call-site grouping ---- */

typedef struct {
  const atr_frame_t *frame;
  size_t idx;
} group_slot_t;

static uint64_t hash_frame(const atr_frame_t *f) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = f->func; p && *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  for (const char *p = f->file; p && *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h ^ f->line;
}

static int same_frame(const atr_frame_t *a, const atr_frame_t *b) {
  return a == b || (strcmp(a->func, b->func) == 0 && a->line == b->line &&
                    ((!a->file && !b->file) || (a->file && b->file && strcmp(a->file, b->file) == 0)));
}

static int sort_metric;
static int by_metric(const void *a, const void *b) {
  uint64_t x = atr_cost_metric(&((const atr_callsite_t *)a)->cost, sort_metric);
  uint64_t y = atr_cost_metric(&((const atr_callsite_t *)b)->cost, sort_metric);
  if (x != y)
    return x < y ? 1 : -1;
  return strcmp(((const atr_callsite_t *)a)->frame->func, ((const atr_callsite_t *)b)->frame->func);
}

static void add_cost(atr_cost_t *to, const atr_cost_t *c) {
  to->allocations += c->allocations;
  to->allocated += c->allocated;
  to->temporary += c->temporary;
  to->leaked_bytes += c->leaked_bytes;
  to->leaked_blocks += c->leaked_blocks;
  to->peak_bytes += c->peak_bytes;
  to->live += c->live;
}

size_t atr_model_callsites(const atr_model_t *m, atr_symbolizer_t *sym, int metric,
                           atr_callsite_t **out) {
  size_t cap = 64, n = 0, mask = 1023;
  atr_callsite_t *cs = malloc(cap * sizeof(*cs));
  group_slot_t *tab = calloc(mask + 1, sizeof(*tab));
  if (!cs || !tab) {
    free(cs);
    free(tab);
    *out = NULL;
    return 0;
  }
  for (size_t i = 1; i < m->tr.nnodes; i++) {
    const atr_cost_t *c = &m->node[i];
    if (!c->allocations && !c->peak_bytes && !c->leaked_bytes)
      continue;
    const atr_frame_t *f;
    atr_sym_callsite(sym, (uint32_t)i, &f);
    if (n * 2 > mask) { /* rehash */
      size_t nm = mask * 2 + 1;
      group_slot_t *nt = calloc(nm + 1, sizeof(*nt));
      if (!nt)
        break;
      for (size_t k = 0; k <= mask; k++) {
        if (!tab[k].frame)
          continue;
        size_t j = hash_frame(tab[k].frame) & nm;
        while (nt[j].frame)
          j = (j + 1) & nm;
        nt[j] = tab[k];
      }
      free(tab);
      tab = nt;
      mask = nm;
    }
    size_t j = hash_frame(f) & mask;
    while (tab[j].frame && !same_frame(tab[j].frame, f))
      j = (j + 1) & mask;
    if (!tab[j].frame) {
      if (n == cap) {
        atr_callsite_t *g = realloc(cs, cap * 2 * sizeof(*cs));
        if (!g)
          break;
        cs = g;
        cap *= 2;
      }
      tab[j].frame = f;
      tab[j].idx = n;
      cs[n++] = (atr_callsite_t){f, {0}, (uint32_t)i, 0};
    }
    atr_callsite_t *g = &cs[tab[j].idx];
    add_cost(&g->cost, c);
    uint64_t v = atr_cost_metric(c, metric);
    if (v > g->top_node_val) {
      g->top_node_val = v;
      g->top_node = (uint32_t)i;
    }
  }
  free(tab);
  sort_metric = metric;
  qsort(cs, n, sizeof(*cs), by_metric);
  *out = cs;
  return n;
}
