/* The analysis model every report shares: totals with heaptrack's definitions (calls to
 * allocation functions, temporary = freed with no other allocation in between, peak =
 * max live requested bytes, leaked = live at exit), per-stack costs (allocations,
 * bytes, temporary, leaked, live bytes at the global peak), call-site grouping, size
 * and alignment histograms. One streaming pass; memory bounded by stacks and live blocks.
 */
#ifndef ATR_MODEL_H
#define ATR_MODEL_H

#include <stdint.h>

#include "livelog.h"
#include "reader.h"
#include "symbolize.h"

typedef struct {
  uint64_t allocations, allocated, temporary, leaked_bytes, leaked_blocks, peak_bytes;
  uint64_t peak_blocks;       /* live blocks at the global peak */
  uint64_t live, live_blocks; /* running */
  uint64_t saved, saved_blocks, saved_for; /* live at the peak, captured lazily */
  uint64_t log_mark;         /* livelog.h: changed at the log's current timestamp */
} atr_cost_t;

enum atr_metric { ATR_M_PEAK, ATR_M_LEAKED, ATR_M_ALLOCATED, ATR_M_ALLOCATIONS, ATR_M_TEMPORARY,
                  ATR_M_COUNT };
extern const char *const atr_metric_names[ATR_M_COUNT];
int atr_metric_parse(const char *name); /* -1 if unknown */
uint64_t atr_cost_metric(const atr_cost_t *c, int metric);

typedef struct {
  uint64_t allocations, frees, reallocs, allocated_bytes, peak_bytes, peak_blocks, peak_time_us;
  uint64_t leaked_bytes, leaked_blocks, temporary, failed, unknown_frees, duration_us, peak_rss;
  uint64_t inherited_frees; /* a fork child's frees of its parent's blocks */
  uint64_t live_bytes, live_blocks;
  uint64_t kinds[ATR_KIND_COUNT];
} atr_totals_t;

#define ATR_SIZE_BUCKETS 48
typedef struct {
  uint64_t align, count, padding;
} atr_align_row_t;

typedef struct {
  atr_trace_t tr;
  atr_totals_t t;
  /* Self costs, one per stack node that a site refers to (most nodes are only on the way
   * to those: 2.7 M nodes but 0.28 M with a site in a clang++ trace). */
  atr_cost_t *cost;    /* per cost slot; [0] is all zero and never changes */
  uint32_t *slot;      /* stack node -> its cost slot, 0: none; tr.nnodes entries */
  uint32_t *slot_node; /* cost slot -> stack node */
  size_t nslots;       /* slots in use, [0] included */
  uint64_t size_count[ATR_SIZE_BUCKETS], size_bytes[ATR_SIZE_BUCKETS];
  atr_align_row_t aligns[16]; /* log2 0..15: 1..32768+ */
  unsigned layers_seen;
  uint64_t peak_id;
  uint32_t last_site; /* site of the latest allocation, 0 after a free */
  const atr_visitor_t *chain; /* called after the model for every event / rss */
  atr_livelog_t *log;         /* per-node live bytes over time (NULL: not kept) */
} atr_model_t;

/* Reads and analyses the trace; `chain` (may be NULL) sees every event after the model
 * has accounted it. Returns 0 or -1 with m->tr.error set. */
int atr_model_load(atr_model_t *m, const char *path, const atr_visitor_t *chain);
/* The same with options: */
struct atr_chains;
typedef struct {
  const atr_visitor_t *chain;
  struct atr_chains *chains; /* chains.h: called directly, after `chain` */
  atr_livelog_t *log; /* kept when not NULL (initialised by the caller; it may drop itself
                         when over its budget, which is not an error) */
  /* called once, before the first event: the modules mapped at start are known */
  void (*started)(void *ctx, const atr_trace_t *tr);
  void *started_ctx;
} atr_model_opts_t;
int atr_model_load_ex(atr_model_t *m, const char *path, const atr_model_opts_t *o);
void atr_model_free(atr_model_t *m);

/* The self cost of a stack node (all zero for a node no site refers to). */
static inline const atr_cost_t *atr_model_cost(const atr_model_t *m, uint32_t node) {
  return &m->cost[node < m->tr.nnodes ? m->slot[node] : 0];
}

/* Site size, 64-bit safe. */
static inline uint64_t atr_model_site_size(const atr_model_t *m, uint32_t site) {
  return m->tr.sites[site].size;
}

/* ---- call sites: costs grouped by the first non-allocator frame ---- */
typedef struct {
  const atr_frame_t *frame; /* function, file:line, module of the call site */
  atr_cost_t cost;
  uint32_t top_node;     /* the heaviest stack (for showing a backtrace) */
  uint64_t top_node_val; /* its value in the metric used to pick it */
} atr_callsite_t;

/* Groups node costs by call site; sorted by `metric` descending. Caller frees *out. */
size_t atr_model_callsites(const atr_model_t *m, atr_symbolizer_t *sym, int metric,
                           atr_callsite_t **out);

#endif
