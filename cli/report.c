/* Shared rendering (see report.h). */
#define _GNU_SOURCE
#include "report.h"
#include "escape.h"

#include <string.h>

#include "util.h"

void atr_report_frame(FILE *out, const atr_frame_t *f) {
  fputs(f->func ? f->func : "??", out);
  if (f->file)
    fprintf(out, " (%s:%u)", f->file, f->line);
  fprintf(out, " [%s]%s", f->module ? f->module : "?", f->inlined ? " (inlined)" : "");
}

void atr_report_stack(FILE *out, atr_symbolizer_t *sym, uint32_t node, const char *indent,
                      int max) {
  const atr_frame_t *site;
  uint32_t from = atr_sym_callsite(sym, node, &site);
  int printed = 0, started = 0;
  for (uint32_t n = node; n && printed < max; n = atr_sym_callsite_parent(sym, n)) {
    const atr_frame_t *fr;
    int k = atr_sym_node(sym, n, &fr);
    for (int i = 0; i < k && printed < max; i++) {
      if (!started && (n != from || &fr[i] != site))
        continue;
      started = 1;
      fputs(indent, out);
      fputs("at ", out);
      atr_report_frame(out, &fr[i]);
      fputc('\n', out);
      printed++;
    }
  }
}

json_t *atr_report_frame_json(const atr_frame_t *f) {
  json_t *o = json_object();
  json_object_set_new(o, "function", atr_json_text(f->func ? f->func : "??"));
  json_object_set_new(o, "file", f->file ? atr_json_text(f->file) : json_null());
  json_object_set_new(o, "line", json_integer(f->line));
  json_object_set_new(o, "module", atr_json_text(f->module ? f->module : "?"));
  if (f->inlined)
    json_object_set_new(o, "inlined", json_true());
  return o;
}

json_t *atr_report_stack_json(atr_symbolizer_t *sym, uint32_t node, int max) {
  json_t *a = json_array();
  int count = 0;
  for (uint32_t n = node; n && count < max; n = atr_sym_callsite_parent(sym, n)) {
    const atr_frame_t *fr;
    int k = atr_sym_node(sym, n, &fr);
    for (int i = 0; i < k && count < max; i++, count++)
      json_array_append_new(a, atr_report_frame_json(&fr[i]));
  }
  return a;
}

json_t *atr_report_totals_json(const atr_model_t *m) {
  const atr_totals_t *t = &m->t;
  json_t *o = json_object();
  json_object_set_new(o, "allocations", atr_json_u64(t->allocations));
  json_object_set_new(o, "frees", atr_json_u64(t->frees));
  json_object_set_new(o, "reallocs", atr_json_u64(t->reallocs));
  json_object_set_new(o, "allocated_bytes", atr_json_u64(t->allocated_bytes));
  json_object_set_new(o, "peak_bytes", atr_json_u64(t->peak_bytes));
  json_object_set_new(o, "peak_blocks", atr_json_u64(t->peak_blocks));
  json_object_set_new(o, "peak_time_s", json_real((double)t->peak_time_us / 1e6));
  json_object_set_new(o, "leaked_bytes", atr_json_u64(t->leaked_bytes));
  json_object_set_new(o, "leaked_blocks", atr_json_u64(t->leaked_blocks));
  json_object_set_new(o, "temporary", atr_json_u64(t->temporary));
  json_object_set_new(o, "failed_allocations", atr_json_u64(t->failed));
  json_object_set_new(o, "unknown_frees", atr_json_u64(t->unknown_frees));
  json_object_set_new(o, "inherited_frees", atr_json_u64(t->inherited_frees));
  json_object_set_new(o, "peak_rss", atr_json_u64(t->peak_rss));
  json_object_set_new(o, "duration_s", json_real((double)t->duration_us / 1e6));
  return o;
}

void atr_report_cmdline(const atr_trace_t *tr, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = 0;
  for (uint64_t i = 0; i < tr->argc && o + 1 < n; i++) {
    int w = snprintf(buf + o, n - o, "%s%s", i ? " " : "", tr->argv[i] ? tr->argv[i] : "");
    if (w < 0)
      break;
    o += (size_t)w;
  }
  if (o >= n)
    buf[n - 1] = 0;
  atr_utf8_trim(buf); /* cut between characters */
}

void atr_report_truncated(const atr_trace_t *tr, const char *path) {
  if (tr->truncated)
    atr_warn("%s: the last frame is truncated (the program was killed?); it was skipped", path);
}

json_t *atr_report_align_json(const atr_model_t *m) {
  json_t *a = json_array();
  for (int i = 0; i < 16; i++) {
    if (!m->aligns[i].count)
      continue;
    json_t *o = json_object();
    json_object_set_new(o, "align", atr_json_u64(m->aligns[i].align));
    json_object_set_new(o, "count", atr_json_u64(m->aligns[i].count));
    json_object_set_new(o, "padding_bytes", atr_json_u64(m->aligns[i].padding));
    json_array_append_new(a, o);
  }
  return a;
}
