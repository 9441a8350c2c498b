/* Growth-chain tracker (see chains.h). A chain is created at a block's first growth step
 * and lives in a pool indexed by the live block's ordinal, so only blocks that grew cost
 * memory. Never keeps per-event data; never symbolizes.
 */
#define _GNU_SOURCE
#include "chains.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chains_event.h"
#include "livemap.h"

struct atr_chain {
  uint32_t node; /* stack of the first growth step */
  uint32_t nsizes, cap_sizes;
  uint64_t stride;
  uint64_t steps, realloc_steps, copy_steps, moves, copied, max_size, last_size;
  uint64_t grow_steps;  /* steps to a larger size */
  uint64_t ratio_steps; /* steps with both sizes > 0 (the ones in log_sum) */
  double log_sum;       /* of new/old over those steps, but the open run's */
  uint64_t run_lo, run_hi; /* the open run: its first old size (0: none), last new size */
  uint64_t *sizes; /* grows to ATR_CHAIN_SIZES_MAX + 1 slots (one for the final size) */
};

struct atr_chain_agg {
  uint64_t chains, steps, realloc_steps, copy_steps, grow_steps, moves, copied, max_size;
  uint64_t ratio_steps;
  double log_sum;
  atr__chain_t best; /* the representative chain (see better()), sizes owned */
  int has_best;
};

static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev);

atr_chains_t *atr_chains_new(void) {
  atr_chains_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  if (atr_live_init(&c->live, 1024) != 0) {
    free(c);
    return NULL;
  }
  c->v.ctx = c;
  c->v.event = on_event;
  return c;
}

static void chain_release(atr__chain_t *ch) {
  free(ch->sizes);
  ch->sizes = NULL;
}

void atr_chains_free(atr_chains_t *c) {
  if (!c)
    return;
  for (uint64_t i = 0; i <= c->live.mask; i++)
    if (c->live.s[i].key)
      chain_release(&c->pool[c->live.s[i].val - 1]);
  for (size_t i = 0; i < c->nnodes; i++)
    if (c->agg[i]) {
      chain_release(&c->agg[i]->best);
      free(c->agg[i]);
    }
  free(c->live.s);
  free(c->pool);
  free(c->agg);
  free(c->node_max);
  free(c->node_last);
  free(c->node_last_thr);
  free(c->threads);
  free(c);
}

const atr_visitor_t *atr_chains_visitor(atr_chains_t *c, const atr_model_t *m) {
  c->m = m;
  return &c->v;
}

int atr_chains_failed(const atr_chains_t *c) { return c->oom; }

uint64_t atr_chains_node_max(const atr_chains_t *c, uint32_t node) {
  if (c->m && node >= c->m->tr.nnodes)
    return 0;
  uint32_t k = atr__chains_key(c, node);
  return k < c->nnodes ? c->node_max[k] : 0;
}

/* ---- per-node arrays, grown with the trace's node table ---- */

int atr__chains_ensure_nodes(atr_chains_t *c, size_t n) {
  if (n <= c->nnodes)
    return 0;
  size_t cap = c->nnodes ? c->nnodes : 1024;
  while (cap < n)
    cap *= 2;
  atr__chain_agg_t **a = realloc(c->agg, cap * sizeof(*a));
  if (!a)
    return -1;
  c->agg = a;
  uint64_t *mx = realloc(c->node_max, cap * sizeof(*mx));
  if (!mx)
    return -1;
  c->node_max = mx;
  uint64_t *la = realloc(c->node_last, cap * sizeof(*la));
  if (!la)
    return -1;
  c->node_last = la;
  uint32_t *lt = realloc(c->node_last_thr, cap * sizeof(*lt));
  if (!lt)
    return -1;
  c->node_last_thr = lt;
  memset(lt + c->nnodes, 0, (cap - c->nnodes) * sizeof(*lt));
  memset(a + c->nnodes, 0, (cap - c->nnodes) * sizeof(*a));
  memset(mx + c->nnodes, 0, (cap - c->nnodes) * sizeof(*mx));
  memset(la + c->nnodes, 0, (cap - c->nnodes) * sizeof(*la));
  c->nnodes = cap;
  return 0;
}

atr__chain_thread_t *atr__chains_thread_grow(atr_chains_t *c, uint32_t t) {
  if (t >= ATR_CHAINS_MAX_THREADS)
    return NULL;
  {
    size_t cap = c->nthreads ? c->nthreads : 8;
    while (cap <= t)
      cap *= 2;
    atr__chain_thread_t *n = realloc(c->threads, cap * sizeof(*n));
    if (!n) {
      c->oom = 1;
      return NULL;
    }
    memset(n + c->nthreads, 0, (cap - c->nthreads) * sizeof(*n));
    c->threads = n;
    c->nthreads = cap;
  }
  return &c->threads[t];
}

/* ---- chains ---- */

static atr__chain_t *chain_new(atr_chains_t *c, uint32_t node, uint64_t start_size, uint32_t *idx) {
  if (c->free_head) {
    *idx = c->free_head - 1;
    c->free_head = c->pool[*idx].node;
  } else {
    if (c->npool == c->cap_pool) {
      uint32_t cap = c->cap_pool ? c->cap_pool * 2 : 64;
      atr__chain_t *p = realloc(c->pool, cap * sizeof(*p));
      if (!p)
        return NULL;
      c->pool = p;
      c->cap_pool = cap;
    }
    *idx = c->npool++;
  }
  atr__chain_t *ch = &c->pool[*idx];
  memset(ch, 0, sizeof(*ch));
  ch->cap_sizes = 4; /* most chains are short: grown on demand */
  ch->sizes = malloc(ch->cap_sizes * sizeof(uint64_t));
  if (!ch->sizes) {
    ch->node = c->free_head;
    c->free_head = *idx + 1;
    return NULL;
  }
  ch->node = node;
  ch->stride = 1;
  ch->sizes[0] = start_size;
  ch->nsizes = 1;
  ch->max_size = start_size;
  ch->last_size = start_size;
  return ch;
}

/* Room for one more size (never more than ATR_CHAIN_SIZES_MAX + 1 in all). */
static int reserve_size(atr__chain_t *ch) {
  if (ch->nsizes < ch->cap_sizes)
    return 0;
  uint32_t cap = ch->cap_sizes * 2 > ATR_CHAIN_SIZES_MAX + 1 ? ATR_CHAIN_SIZES_MAX + 1
                                                              : ch->cap_sizes * 2;
  uint64_t *n = realloc(ch->sizes, cap * sizeof(*n));
  if (!n)
    return -1;
  ch->sizes = n;
  ch->cap_sizes = cap;
  return 0;
}

/* Adds the open run's log(last size / first size) to log_sum (see chain_step). */
static void run_flush(atr__chain_t *ch) {
  if (ch->run_lo)
    ch->log_sum += log((double)ch->run_hi / (double)ch->run_lo);
  ch->run_lo = 0;
}

static int chain_step(atr__chain_t *ch, uint64_t old_size, uint64_t new_size, int moved, int copy) {
  ch->steps++;
  ch->grow_steps += new_size > old_size;
  if (copy)
    ch->copy_steps++;
  else
    ch->realloc_steps++;
  if (moved) {
    ch->moves++;
    ch->copied += old_size < new_size ? old_size : new_size;
  }
  if (old_size && new_size) { /* the logs of a run of steps, each from the size the one
                                 * before ended at, telescope: one log per run */
    if (ch->run_lo && old_size == ch->run_hi) {
      ch->run_hi = new_size;
    } else {
      run_flush(ch);
      ch->run_lo = old_size;
      ch->run_hi = new_size;
    }
    ch->ratio_steps++;
  }
  if (new_size > ch->max_size)
    ch->max_size = new_size;
  ch->last_size = new_size;
  if (ch->steps % ch->stride)
    return 0;
  if (ch->nsizes == ATR_CHAIN_SIZES_MAX) { /* keep every other kept size */
    for (uint32_t i = 0; i < ATR_CHAIN_SIZES_MAX / 2; i++)
      ch->sizes[i] = ch->sizes[2 * i];
    ch->nsizes = ATR_CHAIN_SIZES_MAX / 2;
    ch->stride *= 2;
    if (ch->steps % ch->stride)
      return 0;
  }
  if (reserve_size(ch) != 0)
    return -1;
  ch->sizes[ch->nsizes++] = new_size;
  return 0;
}

/* The chain a site is shown by: the one that grew most often, then the largest, then
 * the one with the most steps (reallocs to the same size are steps too). */
static int better(const atr__chain_t *a, const atr__chain_t *b) {
  if (a->grow_steps != b->grow_steps)
    return a->grow_steps > b->grow_steps;
  if (a->max_size != b->max_size)
    return a->max_size > b->max_size;
  return a->steps > b->steps;
}

/* Folds a finished chain into its node's totals; takes ownership of its sizes. */
static void chain_finish(atr_chains_t *c, uint32_t idx) {
  atr__chain_t *ch = &c->pool[idx];
  run_flush(ch);
  if (ch->steps % ch->stride) { /* the final size always ends the list */
    if (reserve_size(ch) == 0)
      ch->sizes[ch->nsizes++] = ch->last_size;
    else
      c->oom = 1;
  }
  uint32_t k = atr__chains_key(c, ch->node);
  atr__chain_agg_t *a = k < c->nnodes ? c->agg[k] : NULL;
  if (!a && k < c->nnodes) {
    a = c->agg[k] = calloc(1, sizeof(*a));
    if (!a)
      c->oom = 1;
  }
  if (a) {
    a->chains++;
    a->steps += ch->steps;
    a->realloc_steps += ch->realloc_steps;
    a->copy_steps += ch->copy_steps;
    a->grow_steps += ch->grow_steps;
    a->moves += ch->moves;
    a->copied += ch->copied;
    a->ratio_steps += ch->ratio_steps;
    a->log_sum += ch->log_sum;
    if (ch->max_size > a->max_size)
      a->max_size = ch->max_size;
    if (!a->has_best || better(ch, &a->best)) {
      chain_release(&a->best);
      a->best = *ch;
      a->has_best = 1;
      ch->sizes = NULL;
    }
  }
  chain_release(ch);
  ch->node = c->free_head;
  c->free_head = idx + 1;
}

/* The chain a live block belongs to, taken out of the live map (NULL: none). */
static atr__chain_t *take_chain(atr_chains_t *c, uint64_t ordinal, uint32_t *idx) {
  uint32_t v;
  if (!atr_live_take(&c->live, ordinal, &v))
    return NULL;
  *idx = v - 1;
  return &c->pool[*idx];
}

void atr__chains_grow(atr_chains_t *c, uint64_t old_ord, uint64_t old_size, uint64_t new_ord,
                 uint64_t new_size, uint32_t node, int moved, int copy) {
  uint32_t idx;
  atr__chain_t *ch = take_chain(c, old_ord, &idx);
  if (!ch)
    ch = chain_new(c, node, old_size, &idx);
  if (!ch) {
    c->oom = 1;
    return;
  }
  if (chain_step(ch, old_size, new_size, moved, copy) != 0 ||
      atr_live_put(&c->live, new_ord, idx + 1) != 0)
    c->oom = 1;
}

void atr__chains_end(atr_chains_t *c, uint64_t ordinal) {
  uint32_t idx;
  if (take_chain(c, ordinal, &idx))
    chain_finish(c, idx);
}

static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  atr__chains_event(ctx, tr, ev);
}

void atr_chains_event(atr_chains_t *c, const atr_trace_t *tr, const atr_ev_t *ev) {
  atr__chains_event(c, tr, ev);
}

/* ---- grouping by call site ---- */

static int row_cmp(const void *pa, const void *pb) {
  const atr_chain_row_t *a = pa, *b = pb;
  if (a->bytes_copied != b->bytes_copied)
    return a->bytes_copied < b->bytes_copied ? 1 : -1;
  if (a->moves != b->moves)
    return a->moves < b->moves ? 1 : -1;
  if (a->steps != b->steps)
    return a->steps < b->steps ? 1 : -1;
  return a->site < b->site ? -1 : a->site > b->site;
}

size_t atr_chains_rows(atr_chains_t *c, const uint32_t *node_site, size_t nnodes,
                       atr_chain_row_t **out) {
  *out = NULL;
  for (uint64_t i = 0; i <= c->live.mask; i++) {
    if (!c->live.s[i].key)
      continue;
    uint32_t idx = c->live.s[i].val - 1;
    c->live.s[i].key = 0;
    chain_finish(c, idx);
  }
  c->live.count = 0;
  size_t n = 0, cap = 0;
  atr_chain_row_t *rows = NULL;
  struct ratio {
    double log_sum;
    uint64_t steps;
  } *ratio = NULL;         /* per row: the factor's terms */
  atr__chain_t *best = NULL;    /* per row: its representative chain so far */
  uint32_t *row_of = NULL; /* call site -> row + 1, sized lazily */
  size_t nrow_of = 0;
  for (size_t node = 0; node < nnodes; node++) {
    uint32_t k = atr__chains_key(c, (uint32_t)node);
    atr__chain_agg_t *a = k < c->nnodes ? c->agg[k] : NULL;
    if (!a || node_site[node] == UINT32_MAX)
      continue;
    uint32_t site = node_site[node];
    if (site >= nrow_of) {
      size_t nc = nrow_of ? nrow_of : 64;
      while (nc <= site)
        nc *= 2;
      uint32_t *r = realloc(row_of, nc * sizeof(*r));
      if (!r)
        goto oom;
      memset(r + nrow_of, 0, (nc - nrow_of) * sizeof(*r));
      row_of = r;
      nrow_of = nc;
    }
    if (!row_of[site]) {
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        atr_chain_row_t *r = realloc(rows, cap * sizeof(*r));
        if (r)
          rows = r;
        struct ratio *q = realloc(ratio, cap * sizeof(*q));
        if (q)
          ratio = q;
        atr__chain_t *bb = realloc(best, cap * sizeof(*bb));
        if (bb)
          best = bb;
        if (!r || !q || !bb)
          goto oom;
      }
      rows[n] = (atr_chain_row_t){.site = site};
      ratio[n] = (struct ratio){0, 0};
      row_of[site] = (uint32_t)++n;
    }
    atr_chain_row_t *r = &rows[row_of[site] - 1];
    r->chains += a->chains;
    r->steps += a->steps;
    r->realloc_steps += a->realloc_steps;
    r->copy_steps += a->copy_steps;
    r->growth_steps += a->grow_steps;
    r->moves += a->moves;
    r->bytes_copied += a->copied;
    ratio[row_of[site] - 1].log_sum += a->log_sum;
    ratio[row_of[site] - 1].steps += a->ratio_steps;
    if (a->max_size > r->max_size)
      r->max_size = a->max_size;
    const atr__chain_t *b = &a->best;
    if (a->has_best && (!r->sizes || better(b, &best[row_of[site] - 1]))) {
      uint64_t *sz = malloc(b->nsizes * sizeof(*sz));
      if (!sz)
        goto oom;
      memcpy(sz, b->sizes, b->nsizes * sizeof(*sz));
      free(r->sizes);
      r->sizes = sz;
      r->nsizes = b->nsizes;
      r->sizes_stride = b->stride;
      r->longest_steps = b->steps;
      r->longest_growth_steps = b->grow_steps;
      r->reserve_hint = b->max_size;
      r->node = b->node;
      best[row_of[site] - 1] = *b; /* for comparing only: sizes stay owned by the node */
    }
  }
  for (size_t i = 0; i < n; i++) {
    atr_chain_row_t *r = &rows[i];
    r->factor = ratio[i].steps ? exp(ratio[i].log_sum / (double)ratio[i].steps) : 0.0;
    r->final_size = r->nsizes ? r->sizes[r->nsizes - 1] : 0;
  }
  free(row_of);
  free(ratio);
  free(best);
  if (n)
    qsort(rows, n, sizeof(*rows), row_cmp);
  *out = rows;
  return n;
oom:
  free(row_of);
  free(ratio);
  free(best);
  atr_chains_rows_free(rows, n);
  return (size_t)-1;
}

void atr_chains_rows_free(atr_chain_row_t *rows, size_t n) {
  for (size_t i = 0; i < n && rows; i++)
    free(rows[i].sizes);
  free(rows);
}
