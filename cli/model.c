/* The shared analysis model (see model.h). Peak attribution is exact and O(1) per
 * event: a stack's live bytes at the global peak are saved lazily the first time the
 * stack changes after a new peak. Never keeps per-event data.
 */
#define _GNU_SOURCE
#include "model.h"

#include "chains_event.h"

#include <stdio.h>
#define ATR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ATR_INLINE inline __attribute__((always_inline))
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
    c->saved_blocks = c->live_blocks;
    c->saved_for = m->peak_id;
  }
}

#define LIVE_STRIDE (sizeof(atr_cost_t) / sizeof(uint64_t))

static inline unsigned size_bucket(uint64_t size) {
  unsigned b = size ? 64 - (unsigned)__builtin_clzll(size) : 0; /* 0, [1], [2,3], [4,7] ... */
  return b < ATR_SIZE_BUCKETS ? b : ATR_SIZE_BUCKETS - 1;
}

/* Records that a stack's live bytes change at the current timestamp (the log is of
 * cost slots). */
static inline void log_touch(atr_model_t *m, atr_cost_t *c, uint32_t slot) {
  if (m->log && atr_livelog_touch(m->log, &c->log_mark, slot, c->live) != 0)
    m->log = NULL;
}

/* Per-site counters of the load; everything that depends only on a block's site (call
 * counts, bytes, kinds, histograms, per-stack totals) is summed from them at the end. */
typedef struct {
  uint64_t allocs, temporary;
  uint32_t slot; /* of the site's node */
} site_count_t;

typedef struct {
  atr_model_t *m;
  size_t cap, slot_cap;
  site_count_t *sc;
  size_t sc_cap, nsites; /* sites with a slot */
  int oom;
  const atr_model_opts_t *o; /* `started` is cleared once called */
  void (*started)(void *ctx, const atr_trace_t *tr);
  void (*chain_event)(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev);
  void *chain_ctx;
  uint64_t time; /* of the last event; UINT64_MAX before the first */
} load_ctx_t;

static ATR_INLINE void on_alloc(load_ctx_t *L, atr_model_t *m, uint32_t site) {
  const atr_rsite_t *s = &m->tr.sites[site];
  uint32_t slot = L->sc[site].slot;
  atr_cost_t *c = &m->cost[slot];
  touch(m, c);
  log_touch(m, c, slot);
  L->sc[site].allocs++;
  c->live += s->size;
  c->live_blocks++;
  m->t.live_bytes += s->size;
  m->t.live_blocks++;
  if (ATR_UNLIKELY(s->align >= (1u << 15))) /* bucket 15 shows the latest such align */
    m->aligns[15].align = s->align;
  m->last_site = site;
}

static ATR_INLINE void on_release(load_ctx_t *L, atr_model_t *m, uint32_t site) {
  const atr_rsite_t *s = &m->tr.sites[site];
  uint32_t slot = L->sc[site].slot;
  atr_cost_t *c = &m->cost[slot];
  touch(m, c);
  log_touch(m, c, slot);
  c->live -= s->size;
  c->live_blocks--;
  m->t.live_bytes -= s->size;
  m->t.live_blocks--;
}

/* heaptrack's definition, so the numbers cross-check: a free is temporary when the
 * block has the same site (stack and size) as the most recent allocation and nothing
 * was freed since (heaptrack's AccumulatedTraceData::read, lastAllocationPtr). */
static ATR_INLINE void on_free(load_ctx_t *L, atr_model_t *m, uint32_t site) {
  if (site == m->last_site)
    L->sc[site].temporary++;
  m->last_site = 0;
  on_release(L, m, site);
}

static ATR_INLINE void check_peak(atr_model_t *m, uint64_t time_us) {
  if (m->t.live_bytes > m->t.peak_bytes) {
    m->t.peak_bytes = m->t.live_bytes;
    m->t.peak_blocks = m->t.live_blocks;
    m->t.peak_time_us = time_us;
    m->peak_id++;
  }
}

/* Per-node and per-site arrays follow the trace's tables as they grow; a new site's node
 * gets a cost slot unless an earlier site's gave it one. The cost table grows by doubling
 * (realloc, not zeroed ahead: a slot is cleared when it is handed out). */
static int ensure_tables(load_ctx_t *L) {
  atr_model_t *m = L->m;
  if (m->tr.nnodes > L->cap &&
      atr_array_reserve((void **)&m->slot, &L->cap, m->tr.nnodes - 1, sizeof(uint32_t)) != 0)
    return -1;
  if (m->tr.nsites > L->sc_cap && atr_array_reserve((void **)&L->sc, &L->sc_cap, m->tr.nsites - 1,
                                                    sizeof(site_count_t)) != 0)
    return -1;
  for (; L->nsites < m->tr.nsites; L->nsites++) {
    uint32_t node = m->tr.sites[L->nsites].node;
    if (!m->slot[node]) {
      if (m->nslots == L->slot_cap) {
        size_t c = L->slot_cap ? L->slot_cap * 2 : 1024;
        atr_cost_t *nc = realloc(m->cost, c * sizeof(*nc));
        if (nc)
          m->cost = nc;
        uint32_t *nn = nc ? realloc(m->slot_node, c * sizeof(*nn)) : NULL;
        if (!nn)
          return -1;
        m->slot_node = nn;
        L->slot_cap = c;
      }
      memset(&m->cost[m->nslots], 0, sizeof(atr_cost_t));
      m->slot_node[m->nslots] = node;
      m->slot[node] = (uint32_t)m->nslots++;
    }
    L->sc[L->nsites].slot = m->slot[node];
  }
  return 0;
}

/* The rare work before an event: tables grew, the first event, a new timestamp. */
static __attribute__((noinline)) int event_slow(load_ctx_t *L, const atr_trace_t *tr,
                                                const atr_ev_t *ev) {
  atr_model_t *m = L->m;
  if ((m->tr.nnodes > L->cap || m->tr.nsites > L->nsites) && ensure_tables(L) != 0) {
    L->oom = 1;
    return -1;
  }
  if (L->started) {
    L->started(L->o->started_ctx, tr);
    L->started = NULL;
  }
  if (m->log && ev->time_us != m->log->time &&
      atr_livelog_flush(m->log, &m->cost[0].live, LIVE_STRIDE, ev->time_us) != 0)
    m->log = NULL;
  L->time = ev->time_us;
  return 0;
}

static void model_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  load_ctx_t *L = ctx;
  atr_model_t *m = L->m;
  if (ATR_UNLIKELY(ev->time_us != L->time || m->tr.nnodes > L->cap || m->tr.nsites > L->nsites) &&
      event_slow(L, tr, ev) != 0)
    return;
  switch (ev->kind) {
  case ATR_E_ALLOC:
    on_alloc(L, m, ev->site);
    check_peak(m, ev->time_us);
    break;
  case ATR_E_FREE:
    m->t.frees++;
    on_free(L, m, ev->old_site);
    break;
  case ATR_E_REALLOC:
    m->t.reallocs++;
    on_free(L, m, ev->old_site);
    if (ev->site) {
      on_alloc(L, m, ev->site);
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
  case ATR_E_IFREE:
    m->t.inherited_frees++;
    break;
  }
  if (L->chain_event)
    L->chain_event(L->chain_ctx, tr, ev);
  if (L->o->chains)
    atr__chains_event(L->o->chains, tr, ev);
}

/* Everything summed per site during the load, spread to totals, stacks and histograms. */
static void finish_sites(load_ctx_t *L) {
  atr_model_t *m = L->m;
  for (size_t i = 1; i < m->tr.nsites && i < L->nsites; i++) {
    const site_count_t *sc = &L->sc[i];
    const atr_rsite_t *s = &m->tr.sites[i];
    atr_cost_t *c = &m->cost[sc->slot];
    c->temporary += sc->temporary;
    m->t.temporary += sc->temporary;
    if (!sc->allocs)
      continue;
    uint64_t n = sc->allocs, bytes = n * s->size;
    c->allocations += n;
    c->allocated += bytes;
    m->t.allocations += n;
    m->t.allocated_bytes += bytes;
    m->t.kinds[s->kind] += n;
    unsigned b = size_bucket(s->size);
    m->size_count[b] += n;
    m->size_bytes[b] += bytes;
    if (s->align) {
      unsigned l = (unsigned)__builtin_ctzll(s->align);
      if (l > 15)
        l = 15;
      else
        m->aligns[l].align = s->align;
      m->aligns[l].count += n;
      m->aligns[l].padding += s->align > 16 ? n * (s->align - 16) : 0;
    }
    m->layers_seen |= atr_kind_layer(s->kind);
  }
}

static void model_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  load_ctx_t *L = ctx;
  if (L->m->chain && L->m->chain->rss)
    L->m->chain->rss(L->m->chain->ctx, tr, time_us, bytes);
}

int atr_model_load(atr_model_t *m, const char *path, const atr_visitor_t *chain) {
  atr_model_opts_t o = {.chain = chain};
  return atr_model_load_ex(m, path, &o);
}

int atr_model_load_ex(atr_model_t *m, const char *path, const atr_model_opts_t *o) {
  memset(m, 0, sizeof(*m));
  m->chain = o->chain;
  m->log = o->log;
  load_ctx_t L = {.m = m, .o = o, .started = o->started, .time = UINT64_MAX, .nsites = 1};
  m->cost = calloc(1, sizeof(atr_cost_t)); /* slot 0: the zero cost of nodes without one */
  m->slot_node = calloc(1, sizeof(uint32_t));
  m->nslots = 1;
  L.slot_cap = 1;
  if (!m->cost || !m->slot_node) {
    snprintf(m->tr.error, sizeof(m->tr.error), "%s: out of memory", path);
    return -1;
  }
  if (o->chain) {
    L.chain_event = o->chain->event;
    L.chain_ctx = o->chain->ctx;
  }
  atr_visitor_t v = {&L, model_event, model_rss};
  if (atr_trace_read(&m->tr, path, &v) != 0) {
    free(L.sc);
    return -1;
  }
  if (L.oom || ensure_tables(&L) != 0) {
    free(L.sc);
    snprintf(m->tr.error, sizeof(m->tr.error), "%s: out of memory", path);
    return -1;
  }
  finish_sites(&L);
  free(L.sc);
  if (m->log)
    atr_livelog_flush(m->log, &m->cost[0].live, LIVE_STRIDE, m->tr.time_us);
  m->log = NULL;
  for (size_t i = 1; i < m->nslots; i++) {
    atr_cost_t *c = &m->cost[i];
    int saved = c->saved_for == m->peak_id;
    c->peak_bytes = saved ? c->saved : c->live;
    c->peak_blocks = saved ? c->saved_blocks : c->live_blocks;
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
  free(m->cost);
  free(m->slot);
  free(m->slot_node);
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
    const atr_cost_t *c = &m->cost[m->slot[i]];
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
