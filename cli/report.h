/* Rendering pieces shared by the commands: a symbolized stack as text or JSON, a call
 * site's description, the summary's totals object. Never decides exit codes.
 */
#ifndef ATR_REPORT_H
#define ATR_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "model.h"
#include "symbolize.h"

/* "func (file:line) [module]" */
void atr_report_frame(FILE *out, const atr_frame_t *f);
/* backtrace of a node, innermost first, allocator frames skipped, at most max lines */
void atr_report_stack(FILE *out, atr_symbolizer_t *sym, uint32_t node, const char *indent,
                      int max);
json_t *atr_report_frame_json(const atr_frame_t *f);
json_t *atr_report_stack_json(atr_symbolizer_t *sym, uint32_t node, int max);
/* totals as in `summary --json` (schema alloctrace.summary/1) */
json_t *atr_report_totals_json(const atr_model_t *m);
/* alignment histogram: [{align, count, padding_bytes}] (summary and growth) */
json_t *atr_report_align_json(const atr_model_t *m);
/* One warning when the trace's last frame was cut off (and skipped). */
void atr_report_truncated(const atr_trace_t *tr, const char *path);
/* "prog arg1 arg2" */
void atr_report_cmdline(const atr_trace_t *tr, char *buf, size_t n);

#endif
