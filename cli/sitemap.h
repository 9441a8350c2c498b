/* Stack node -> call-site index, for analyses that accumulate per stack and report per
 * call site in the order atr_model_callsites chose. Call sites are matched by function,
 * file and line exactly as atr_model_callsites groups them. Never re-sorts the sites.
 */
#ifndef ATR_SITEMAP_H
#define ATR_SITEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "symbolize.h"

/* Returns an array of m->tr.nnodes entries: the index in cs[] of each node's call site,
 * UINT32_MAX for nodes without allocations; NULL when out of memory. Caller frees. */
uint32_t *atr_sitemap_build(const atr_model_t *m, atr_symbolizer_t *sym, const atr_callsite_t *cs,
                            size_t ncs);

/* "file:line", or "??" when the file is unknown, into buf. */
const char *atr_sitemap_location(const atr_frame_t *f, char *buf, size_t n);

#endif
