/* The growth analysis behind `growth`, `plot` and summary's GROWTH lines: growth chains
 * per call site (pass 1, chains.c), leak suspects from per-site live bytes on a time grid
 * (livelog.c, or a second pass through series.c, + suspects.c), and the size and alignment histograms. Renders the
 * growth --json document (schema alloctrace.growth/1), the text report and the summary
 * lines. Never exits and never chooses exit codes.
 */
#ifndef ATR_GROWTH_H
#define ATR_GROWTH_H

#include <jansson.h>
#include <stdio.h>

#include "chains.h"
#include "model.h"
#include "suspects.h"
#include "symbolize.h"

typedef struct {
  atr_callsite_t *cs; /* call sites by peak (atr_model_callsites) */
  size_t ncs;
  uint32_t *node_site; /* node -> index in cs */
  atr_chain_row_t *chains;
  size_t nchains;
  atr_suspect_t *suspects; /* every site with bytes live at exit, flagged first */
  size_t nsuspects;
  uint64_t *grid;    /* grid point j, suspect column k: grid[j * nsuspects + k] */
  int32_t *grid_col; /* call site -> column in grid, -1 */
  uint64_t grid_t[ATR_LEAK_GRID];
  uint64_t duration_us;
} atr_growth_t;

/* The live-bytes log budget: beyond it the leak-suspect grid takes a second pass.
 * ALLOCTRACE_GROWTH_LOG_BYTES overrides it (tests force the second pass with 0). */
#define ATR_GROWTH_LOG_BYTES ((size_t)64 << 20)
size_t atr_growth_log_budget(void);

/* Loads the model with the chain tracker attached (pass 1), keeping `log` when not NULL
 * (atr_livelog_init'ed by the caller, freed with atr_livelog_free) and warming the
 * symbolizer into *warm when warm is not NULL (for atr_sym_new_warm). On error returns -1
 * with the message in m->tr.error; *ch is always set (free it with atr_chains_free), and
 * so is *warm (NULL or a warming to pass to atr_sym_new_warm or atr_sym_warm_drop). */
int atr_growth_load(atr_model_t *m, atr_chains_t **ch, atr_livelog_t *log, atr_sym_warm_t **warm,
                    const char *path);

/* Runs the rest of the analysis: the leak-suspect grid comes from `log` when it is kept,
 * else a second pass reads `path` again. Returns 0, or -1 with a one-line message naming
 * the file in err. */
int atr_growth_analyze(atr_growth_t *g, const char *path, const atr_model_t *m,
                       atr_symbolizer_t *sym, atr_chains_t *ch, const atr_livelog_t *log,
                       char *err, size_t errlen);
void atr_growth_free(atr_growth_t *g);

/* The growth --json document; at most `top` chains and leak suspects. */
json_t *atr_growth_json(const atr_growth_t *g, const atr_model_t *m, atr_symbolizer_t *sym,
                        int top);
/* The text report of `alloctrace growth`. */
void atr_growth_print(FILE *out, const atr_growth_t *g, const atr_model_t *m, atr_symbolizer_t *sym,
                      int top);
/* Summary: the top findings, one line each ("GROWTH" section; nothing if none). */
void atr_growth_print_summary(FILE *out, const atr_growth_t *g, int top);
json_t *atr_growth_summary_json(const atr_growth_t *g, int top);

#endif
