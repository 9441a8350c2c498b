/* Growth chains (pass 1 of the growth analysis): follows each block through the reallocs
 * that replace it, and through "allocate bigger at the same stack, copy, free the old one"
 * growth (std::vector, std::string, hand-written arrays), and folds each finished chain
 * into per-stack totals. Also records each stack's maximum live bytes (the timeline ranks
 * call sites by it). Memory is bounded by live chains and stacks; never symbolizes.
 */
#ifndef ATR_CHAINS_H
#define ATR_CHAINS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "symbolize.h"

/* A chain keeps at most this many sizes; longer chains keep every stride-th step. */
#define ATR_CHAIN_SIZES_MAX 128

typedef struct atr_chains atr_chains_t;

atr_chains_t *atr_chains_new(void);
void atr_chains_free(atr_chains_t *c);

/* The visitor to pass as atr_model_load's `chain`; `m` is the model being loaded (the
 * tracker reads its running per-stack live bytes). */
const atr_visitor_t *atr_chains_visitor(atr_chains_t *c, const atr_model_t *m);

/* What the visitor does for one event (for callers that call it directly). */
void atr_chains_event(atr_chains_t *c, const atr_trace_t *tr, const atr_ev_t *ev);

/* Nonzero when the tracker ran out of memory (the analysis is then incomplete). */
int atr_chains_failed(const atr_chains_t *c);

/* Highest live bytes a stack node reached at any time (0 for unknown nodes). */
uint64_t atr_chains_node_max(const atr_chains_t *c, uint32_t node);

/* Growth chains grouped by call site. */
typedef struct {
  uint32_t site;   /* index in the call-site array given to atr_chains_rows */
  uint32_t node;   /* stack of the longest chain's first growth step */
  uint64_t chains; /* chains with at least one growth step */
  uint64_t steps;  /* realloc / alloc+copy+free steps over all chains */
  uint64_t realloc_steps, copy_steps;
  uint64_t growth_steps; /* steps to a larger size */
  uint64_t moves;        /* steps that moved the block (every alloc+copy+free step does) */
  uint64_t bytes_copied; /* min(old, new) size per move */
  double factor;         /* geometric mean of new/old size over all steps (0: none) */
  uint64_t max_size;     /* largest size any chain of the site reached */
  /* the representative chain: the one that grew most often, then the largest, then the
   * one with most steps (its "longest" steps count all its reallocs): */
  uint64_t longest_steps, longest_growth_steps, final_size;
  uint64_t reserve_hint; /* its largest size: one reservation of it avoids every step */
  uint64_t *sizes;       /* its sizes from the first allocation on */
  size_t nsizes;
  uint64_t sizes_stride; /* sizes[i] is the size after step i*stride (the last is final) */
} atr_chain_row_t;

/* Finishes the chains still live at the end and groups all chains by call site:
 * node_site maps a stack node to an index in the call-site array (UINT32_MAX: none).
 * Sorted by bytes copied, then moves, then steps (descending). Caller frees with
 * atr_chains_rows_free. Returns the row count, or (size_t)-1 when out of memory. */
size_t atr_chains_rows(atr_chains_t *c, const uint32_t *node_site, size_t nnodes,
                       atr_chain_row_t **out);
void atr_chains_rows_free(atr_chain_row_t *rows, size_t n);

#endif
