/* The growth-chain tracker's per-event path (see chains.h), inline so the model's event
 * handler runs it without a call; only chains.c and model.c include this. Never
 * allocates on the common path; everything rare goes through the out-of-line atr__chains_*.
 */
#ifndef ATR_CHAINS_EVENT_H
#define ATR_CHAINS_EVENT_H

#include "chains.h"
#include "livemap.h"

/* Recent allocations of one thread, to recognise alloc-bigger + copy + free-old growth. */
#define ATR_CHAINS_RECENT 4
typedef struct {
  uint64_t ordinal, prev_same, frees_at, size;
  uint32_t node;
} atr__chain_recent_t;
typedef struct {
  atr__chain_recent_t r[ATR_CHAINS_RECENT];
  unsigned next;
  uint64_t frees;
} atr__chain_thread_t;

/* Thread indices come from the trace; beyond this the copy heuristic is not applied. */
#define ATR_CHAINS_MAX_THREADS 65536u

typedef struct atr_chain atr__chain_t;         /* chains.c */
typedef struct atr_chain_agg atr__chain_agg_t;      /* chains.c */

struct atr_chains {
  atr_visitor_t v;
  const atr_model_t *m;
  atr_livemap_t live; /* ordinal -> pool index + 1 */
  atr__chain_t *pool;
  uint32_t npool, cap_pool, free_head; /* free list through atr__chain_t.node, +1 */
  /* Per stack node with a cost, indexed by its key (atr__chains_key: the model's cost slot; the
   * node itself without a model): */
  atr__chain_agg_t **agg;                    /* lazily */
  uint64_t *node_max, *node_last; /* highest live bytes, newest block */
  uint32_t *node_last_thr;        /* the thread that allocated node_last */
  size_t nnodes;                  /* keys the arrays hold */
  atr__chain_thread_t *threads;
  size_t nthreads;
  int oom;
};


int atr__chains_ensure_nodes(atr_chains_t *c, size_t n);
atr__chain_thread_t *atr__chains_thread_grow(atr_chains_t *c, uint32_t t);
/* Block `old_ord` (old_size) is replaced by `new_ord` (new_size, at node `node`). */
void atr__chains_grow(atr_chains_t *c, uint64_t old_ord, uint64_t old_size, uint64_t new_ord,
                      uint64_t new_size, uint32_t node, int moved, int copy);
/* Ends the chain of a freed block, if it has one. */
void atr__chains_end(atr_chains_t *c, uint64_t ordinal);

static inline atr__chain_thread_t *atr__chains_thread_of(atr_chains_t *c, uint32_t t) {
  return t < c->nthreads ? &c->threads[t] : atr__chains_thread_grow(c, t);
}

static inline void atr__chains_end_chain(atr_chains_t *c, uint64_t ordinal) {
  if (c->live.count)
    atr__chains_end(c, ordinal);
}

/* Where a node's per-node values are (pre: node < the trace's nnodes). */
static inline uint32_t atr__chains_key(const atr_chains_t *c, uint32_t node) {
  return c->m ? c->m->slot[node] : node;
}

static inline void atr__chains_note_alloc(atr_chains_t *c, const atr_trace_t *tr, const atr_ev_t *ev) {
  const atr_rsite_t *s = &tr->sites[ev->site];
  uint32_t k = atr__chains_key(c, s->node);
  uint64_t live = c->m ? c->m->cost[k].live : 0;
  if (live > c->node_max[k])
    c->node_max[k] = live;
  atr__chain_thread_t *t = atr__chains_thread_of(c, ev->thread);
  if (t) {
    atr__chain_recent_t *r = &t->r[t->next++ % ATR_CHAINS_RECENT];
    uint64_t prev = c->node_last_thr[k] == ev->thread ? c->node_last[k] : 0;
    *r = (atr__chain_recent_t){ev->ordinal, prev, t->frees, s->size, s->node};
  }
  c->node_last[k] = ev->ordinal;
  c->node_last_thr[k] = ev->thread;
}

/* A free of block B right after an allocation A at the same stack, bigger than B, with
 * no other free on the thread in between, where B was the previous allocation at that
 * stack and came from the same thread: libstdc++'s vector/string growth (allocate, relocate, deallocate) and manual
 * malloc+memcpy+free growth. Returns 1 when it continued a chain. */
static inline int atr__chains_copy_growth(atr_chains_t *c, atr__chain_thread_t *t, const atr_trace_t *tr,
                              const atr_ev_t *ev) {
  if (!t)
    return 0;
  const atr_rsite_t *old = &tr->sites[ev->old_site];
  for (unsigned k = 1; k <= ATR_CHAINS_RECENT && k <= t->next; k++) {
    atr__chain_recent_t *r = &t->r[(t->next - k) % ATR_CHAINS_RECENT];
    if (r->frees_at != t->frees) /* older entries are older still */
      break;
    if (r->prev_same != ev->old_ordinal || r->node != old->node || r->size <= old->size)
      continue;
    if (!atr_trace_live_site(tr, r->ordinal) || atr_live_find(&c->live, r->ordinal))
      return 0;
    atr__chains_grow(c, ev->old_ordinal, old->size, r->ordinal, r->size, r->node, 1, 1);
    r->prev_same = 0;
    return 1;
  }
  return 0;
}

static inline void atr__chains_event(atr_chains_t *c, const atr_trace_t *tr,
                                     const atr_ev_t *ev) {
  size_t keys = c->m ? c->m->nslots : tr->nnodes;
  if (keys > c->nnodes && atr__chains_ensure_nodes(c, keys) != 0) {
    c->oom = 1;
    return;
  }
  atr__chain_thread_t *t;
  switch (ev->kind) {
  case ATR_E_ALLOC:
    atr__chains_note_alloc(c, tr, ev);
    break;
  case ATR_E_FREE:
    t = atr__chains_thread_of(c, ev->thread);
    if (!atr__chains_copy_growth(c, t, tr, ev))
      atr__chains_end_chain(c, ev->old_ordinal);
    if (t)
      t->frees++;
    break;
  case ATR_E_REALLOC:
    if (ev->site) {
      atr__chains_grow(c, ev->old_ordinal, tr->sites[ev->old_site].size, ev->ordinal,
                       tr->sites[ev->site].size, tr->sites[ev->site].node, ev->moved, 0);
      atr__chains_note_alloc(c, tr, ev);
    } else {
      atr__chains_end_chain(c, ev->old_ordinal);
    }
    if ((t = atr__chains_thread_of(c, ev->thread)))
      t->frees++;
    break;
  default:
    break;
  }
}

#endif
