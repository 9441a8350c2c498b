/* The heap timeline (`timeline`, `plot`): live requested bytes, RSS, allocation and free
 * rates and the top call sites' live bytes at a fixed interval, as CSV or as JSON
 * (schema alloctrace.timeline/1). Call sites are ranked by the sum over their stacks of
 * each stack's highest live bytes. Never exits; the commands choose exit codes.
 */
#ifndef ATR_TIMELINE_H
#define ATR_TIMELINE_H

#include <stdio.h>

#include "chains.h"
#include "model.h"
#include "symbolize.h"

/* Writes the timeline of `path` (m loaded with the chain tracker ch) to out. interval_ms
 * <= 0 picks 1, 2 or 5 x 10^k ms for at most 200 samples. Returns 0; -2 when the
 * interval gives too many samples; -1 on input errors; the message is in err. */
int atr_timeline_write(FILE *out, const char *path, const atr_model_t *m, atr_symbolizer_t *sym,
                       const atr_chains_t *ch, double interval_ms, int top, int csv, char *err,
                       size_t errlen);

#endif
