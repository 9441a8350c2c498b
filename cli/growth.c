/* Growth analysis assembly and rendering (see growth.h). The numbers come from chains.c,
 * series.c and suspects.c; this file only wires the passes together and formats them.
 */
#define _GNU_SOURCE
#include "growth.h"
#include "escape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "series.h"
#include "sitemap.h"
#include "util.h"

size_t atr_growth_log_budget(void) {
  const char *e = getenv("ALLOCTRACE_GROWTH_LOG_BYTES");
  char *end;
  unsigned long long v = e && *e ? strtoull(e, &end, 10) : 0;
  return e && *e && !*end ? (size_t)v : ATR_GROWTH_LOG_BYTES;
}

static void start_warming(void *ctx, const atr_trace_t *tr) {
  *(atr_sym_warm_t **)ctx = atr_sym_warm_start(tr);
}

int atr_growth_load(atr_model_t *m, atr_chains_t **ch, atr_livelog_t *log, atr_sym_warm_t **warm,
                    const char *path) {
  if (warm)
    *warm = NULL;
  *ch = atr_chains_new();
  if (!*ch) {
    memset(m, 0, sizeof(*m));
    snprintf(m->tr.error, sizeof(m->tr.error), "%s: out of memory", path);
    return -1;
  }
  atr_chains_visitor(*ch, m); /* ties the tracker to the model */
  atr_model_opts_t o = {.chains = *ch,
                        .log = log,
                        .started = warm ? start_warming : NULL,
                        .started_ctx = warm};
  if (atr_model_load_ex(m, path, &o) != 0)
    return -1;
  if (atr_chains_failed(*ch)) {
    snprintf(m->tr.error, sizeof(m->tr.error), "%s: out of memory tracking growth chains", path);
    return -1;
  }
  return 0;
}

int atr_growth_analyze(atr_growth_t *g, const char *path, const atr_model_t *m,
                       atr_symbolizer_t *sym, atr_chains_t *ch, const atr_livelog_t *log,
                       char *err, size_t errlen) {
  memset(g, 0, sizeof(*g));
  g->duration_us = m->t.duration_us;
  g->ncs = atr_model_callsites(m, sym, ATR_M_PEAK, &g->cs);
  g->node_site = atr_sitemap_build(m, sym, g->cs, g->ncs);
  g->grid_col = malloc((g->ncs ? g->ncs : 1) * sizeof(*g->grid_col));
  if (!g->cs || !g->node_site || !g->grid_col)
    goto oom;
  g->nchains = atr_chains_rows(ch, g->node_site, m->tr.nnodes, &g->chains);
  if (g->nchains == (size_t)-1) {
    g->nchains = 0;
    goto oom;
  }
  for (size_t i = 0; i < g->ncs; i++)
    g->grid_col[i] = g->cs[i].cost.leaked_bytes ? (int32_t)g->nsuspects++ : -1;
  g->suspects = calloc(g->nsuspects ? g->nsuspects : 1, sizeof(*g->suspects));
  if (!g->suspects)
    goto oom;
  for (unsigned j = 0; j < ATR_LEAK_GRID; j++)
    g->grid_t[j] = atr_series_grid_us(g->duration_us, ATR_LEAK_GRID, j);
  if (g->nsuspects && log && !log->dropped) {
    g->grid = malloc((size_t)ATR_LEAK_GRID * g->nsuspects * sizeof(*g->grid));
    if (!g->grid || atr_livelog_grid(log, g->node_site, m->slot_node, m->nslots, g->grid_col, g->ncs,
                                     g->nsuspects, g->grid_t, ATR_LEAK_GRID, g->grid) != 0)
      goto oom;
  } else if (g->nsuspects) {
    atr_series_t s = {.node_site = g->node_site,
                      .nnodes = m->tr.nnodes,
                      .nsites = g->ncs,
                      .duration_us = g->duration_us,
                      .grid_col = g->grid_col,
                      .ngrid_cols = g->nsuspects,
                      .grid = ATR_LEAK_GRID};
    if (atr_series_run(&s, path, err, errlen) != 0) {
      atr_growth_free(g);
      return -1;
    }
    g->grid = s.grid_vals;
  }
  if (g->nsuspects) {
    for (size_t i = 0; i < g->ncs; i++) {
      if (g->grid_col[i] < 0)
        continue;
      atr_suspect_t *sp = &g->suspects[g->grid_col[i]];
      sp->site = (uint32_t)i;
      atr_suspect_eval(sp, g->grid + g->grid_col[i], g->nsuspects, g->grid_t, ATR_LEAK_GRID);
    }
    qsort(g->suspects, g->nsuspects, sizeof(*g->suspects), atr_suspect_cmp);
  }
  return 0;
oom:
  atr_growth_free(g);
  snprintf(err, errlen, "%s: out of memory in the growth analysis", path);
  return -1;
}

void atr_growth_free(atr_growth_t *g) {
  free(g->cs);
  free(g->node_site);
  atr_chains_rows_free(g->chains, g->nchains);
  free(g->suspects);
  free(g->grid);
  free(g->grid_col);
  memset(g, 0, sizeof(*g));
}

/* ---- JSON ---- */

static double round_to(double v, double unit) { return round(v / unit) * unit; }

static json_t *site_json(const atr_frame_t *f) {
  char loc[1024];
  json_t *o = json_object();
  json_object_set_new(o, "function", atr_json_text(f->func ? f->func : "??"));
  json_object_set_new(o, "location", atr_json_text(atr_sitemap_location(f, loc, sizeof(loc))));
  json_object_set_new(o, "module", atr_json_text(f->module ? f->module : "?"));
  json_object_set_new(o, "file", f->file ? atr_json_text(f->file) : json_null());
  json_object_set_new(o, "line", json_integer(f->line));
  return o;
}

static json_t *chain_json(const atr_growth_t *g, const atr_chain_row_t *r, atr_symbolizer_t *sym,
                          int full) {
  json_t *o = site_json(g->cs[r->site].frame);
  json_object_set_new(o, "chains", atr_json_u64(r->chains));
  json_object_set_new(o, "steps", atr_json_u64(r->steps));
  if (full) {
    json_object_set_new(o, "realloc_steps", atr_json_u64(r->realloc_steps));
    json_object_set_new(o, "copy_steps", atr_json_u64(r->copy_steps));
    json_object_set_new(o, "growth_steps", atr_json_u64(r->growth_steps));
    json_object_set_new(o, "longest_steps", atr_json_u64(r->longest_steps));
    json_object_set_new(o, "longest_growth_steps", atr_json_u64(r->longest_growth_steps));
    json_t *sz = json_array();
    for (size_t i = 0; i < r->nsizes; i++)
      json_array_append_new(sz, atr_json_u64(r->sizes[i]));
    json_object_set_new(o, "sizes", sz);
    json_object_set_new(o, "sizes_stride", atr_json_u64(r->sizes_stride));
  }
  json_object_set_new(o, "factor", json_real(round_to(r->factor, 1e-4)));
  json_object_set_new(o, "moves", atr_json_u64(r->moves));
  json_object_set_new(o, "bytes_copied", atr_json_u64(r->bytes_copied));
  json_object_set_new(o, "final_size", atr_json_u64(r->final_size));
  json_object_set_new(o, "max_size", atr_json_u64(r->max_size));
  json_object_set_new(o, "reserve_hint", atr_json_u64(r->reserve_hint));
  if (full)
    json_object_set_new(o, "stack", atr_report_stack_json(sym, r->node, 12));
  return o;
}

static json_t *suspect_json(const atr_growth_t *g, const atr_suspect_t *s, int full) {
  json_t *o = site_json(g->cs[s->site].frame);
  json_object_set_new(o, "slope_bytes_per_s", json_real(round_to(s->slope, 0.1)));
  json_object_set_new(o, "r2", json_real(round_to(s->r2, 1e-4)));
  json_object_set_new(o, "live_bytes_end", atr_json_u64(s->live_end));
  json_object_set_new(o, "live_bytes_max", atr_json_u64(s->live_max));
  json_object_set_new(o, "increments", json_integer(s->increments));
  json_object_set_new(o, "decrements", json_integer(s->decrements));
  json_object_set_new(o, "window_points", json_integer(s->points));
  json_object_set_new(o, "flagged", json_boolean(s->flagged));
  if (full) {
    json_t *pts = json_array();
    int32_t col = g->grid_col[s->site];
    for (unsigned j = s->first; j < ATR_LEAK_GRID; j++) {
      json_t *p = json_array();
      json_array_append_new(p, json_real((double)g->grid_t[j] / 1e6));
      json_array_append_new(p, atr_json_u64(g->grid[(size_t)j * g->nsuspects + (size_t)col]));
      json_array_append_new(pts, p);
    }
    json_object_set_new(o, "samples", pts);
  }
  return o;
}

static json_t *leak_rule_json(void) {
  json_t *o = json_object();
  json_object_set_new(o, "grid_points", json_integer(ATR_LEAK_GRID));
  json_object_set_new(o, "min_window_points", json_integer(ATR_LEAK_MIN_POINTS));
  json_object_set_new(o, "min_r2", json_real(ATR_LEAK_MIN_R2));
  json_object_set_new(o, "min_increments", json_integer(ATR_LEAK_MIN_INCREMENTS));
  json_object_set_new(o, "end_to_max", json_real(ATR_LEAK_END_TO_MAX));
  json_object_set_new(
      o, "text",
      atr_json_text("candidates: call sites with bytes live at exit; live bytes sampled at "
                  "t_j = duration*j/grid_points (j=1..grid_points); window from the first "
                  "point with live bytes; flagged when the window has >= min_window_points "
                  "points, least-squares slope > 0, R^2 >= min_r2, at least min_increments "
                  "rises between consecutive points, and live bytes at the end >= "
                  "end_to_max * the window's maximum"));
  return o;
}

static json_t *size_hist_json(const atr_model_t *m) {
  json_t *a = json_array();
  int lo = -1, hi = -1;
  for (int b = 0; b < ATR_SIZE_BUCKETS; b++)
    if (m->size_count[b]) {
      if (lo < 0)
        lo = b;
      hi = b;
    }
  for (int b = lo; lo >= 0 && b <= hi; b++) {
    json_t *o = json_object();
    uint64_t from = b == 0 ? 0 : 1ull << (b - 1);
    json_object_set_new(o, "lo", atr_json_u64(from));
    json_object_set_new(
        o, "hi", b == ATR_SIZE_BUCKETS - 1 ? json_null() : atr_json_u64(b == 0 ? 1 : 1ull << b));
    json_object_set_new(o, "count", atr_json_u64(m->size_count[b]));
    json_object_set_new(o, "bytes", atr_json_u64(m->size_bytes[b]));
    json_array_append_new(a, o);
  }
  return a;
}

json_t *atr_growth_json(const atr_growth_t *g, const atr_model_t *m, atr_symbolizer_t *sym,
                        int top) {
  char cmd[1024];
  json_t *root = json_object();
  json_object_set_new(root, "schema", atr_json_text("alloctrace.growth/1"));
  json_object_set_new(root, "program", atr_json_text(m->tr.exe ? m->tr.exe : ""));
  atr_report_cmdline(&m->tr, cmd, sizeof(cmd));
  json_object_set_new(root, "cmdline", atr_json_text(cmd));
  json_object_set_new(root, "duration_s", json_real((double)g->duration_us / 1e6));
  json_t *ch = json_array();
  for (size_t i = 0; i < g->nchains && (int)i < top; i++)
    json_array_append_new(ch, chain_json(g, &g->chains[i], sym, 1));
  json_object_set_new(root, "chains", ch);
  json_t *ls = json_array();
  for (size_t i = 0; i < g->nsuspects && (int)i < top; i++)
    json_array_append_new(ls, suspect_json(g, &g->suspects[i], 1));
  json_object_set_new(root, "leak_suspects", ls);
  json_object_set_new(root, "leak_rule", leak_rule_json());
  json_object_set_new(root, "size_histogram", size_hist_json(m));
  json_object_set_new(root, "align_histogram", atr_report_align_json(m));
  return root;
}

/* ---- text ---- */

/* Chains worth a line in the summary: the representative chain grew at least twice. */
static int notable_chain(const atr_chain_row_t *r) { return r->longest_growth_steps >= 2; }

static void print_frame_short(FILE *out, const atr_frame_t *f) {
  fputs(f->func ? f->func : "??", out);
  if (f->file) {
    const char *b = strrchr(f->file, '/');
    fprintf(out, " (%s:%u)", b ? b + 1 : f->file, f->line);
  } else {
    fprintf(out, " [%s]", f->module ? f->module : "?");
  }
}

static void print_chain_line(FILE *out, const atr_growth_t *g, const atr_chain_row_t *r) {
  char a[64], b[64], c[64];
  print_frame_short(out, g->cs[r->site].frame);
  fprintf(out, ": %llu chain%s, largest %llu steps %s -> %s (x%.2f/step), %llu moves copied %s;",
          (unsigned long long)r->chains, r->chains == 1 ? "" : "s",
          (unsigned long long)r->longest_steps,
          atr_bytes(a, sizeof(a), r->nsizes ? (double)r->sizes[0] : 0),
          atr_bytes(b, sizeof(b), (double)r->final_size), r->factor, (unsigned long long)r->moves,
          atr_bytes(c, sizeof(c), (double)r->bytes_copied));
  fprintf(out, " reserve %s up front\n", atr_bytes(a, sizeof(a), (double)r->reserve_hint));
}

static void print_suspect_line(FILE *out, const atr_growth_t *g, const atr_suspect_t *s) {
  char a[64], b[64];
  print_frame_short(out, g->cs[s->site].frame);
  fprintf(out, ": live bytes grow %s/s steadily (R^2 %.3f, %u rises), %s live at exit\n",
          atr_bytes(a, sizeof(a), s->slope), s->r2, s->increments,
          atr_bytes(b, sizeof(b), (double)s->live_end));
}

void atr_growth_print_summary(FILE *out, const atr_growth_t *g, int top) {
  int nc = 0, ns = 0;
  for (size_t i = 0; i < g->nchains; i++)
    nc += notable_chain(&g->chains[i]);
  for (size_t i = 0; i < g->nsuspects; i++)
    ns += g->suspects[i].flagged;
  if (!nc && !ns)
    return;
  fprintf(out, "\nGROWTH (alloctrace growth TRACE for details)\n");
  int shown = 0;
  for (size_t i = 0; i < g->nchains && shown < top; i++) {
    if (!notable_chain(&g->chains[i]))
      continue;
    fprintf(out, "  growth chain at ");
    print_chain_line(out, g, &g->chains[i]);
    shown++;
  }
  for (size_t i = 0; i < g->nsuspects && (int)i < top && g->suspects[i].flagged; i++) {
    fprintf(out, "  leak suspect ");
    print_suspect_line(out, g, &g->suspects[i]);
  }
}

json_t *atr_growth_summary_json(const atr_growth_t *g, int top) {
  json_t *o = json_object(), *ch = json_array(), *ls = json_array();
  for (size_t i = 0, n = 0; i < g->nchains && (int)n < top; i++)
    if (notable_chain(&g->chains[i])) {
      json_array_append_new(ch, chain_json(g, &g->chains[i], NULL, 0));
      n++;
    }
  for (size_t i = 0; i < g->nsuspects && (int)i < top && g->suspects[i].flagged; i++)
    json_array_append_new(ls, suspect_json(g, &g->suspects[i], 0));
  json_object_set_new(o, "chains", ch);
  json_object_set_new(o, "leak_suspects", ls);
  return o;
}

static void print_sizes(FILE *out, const atr_chain_row_t *r) {
  char a[64];
  for (size_t i = 0; i < r->nsizes; i++) {
    if (r->nsizes > 10 && i == 5) {
      fprintf(out, ", ...");
      i = r->nsizes - 3;
    }
    fprintf(out, "%s%s", i ? ", " : "", atr_bytes(a, sizeof(a), (double)r->sizes[i]));
  }
  if (r->sizes_stride > 1)
    fprintf(out, " (every %llu steps, then the last)", (unsigned long long)r->sizes_stride);
}

void atr_growth_print(FILE *out, const atr_growth_t *g, const atr_model_t *m, atr_symbolizer_t *sym,
                      int top) {
  char a[64], b[64], c[64];
  fprintf(out, "alloctrace growth of %s (%.3f s)\n", m->tr.exe ? m->tr.exe : "?",
          (double)g->duration_us / 1e6);
  fprintf(out, "\nGROWTH CHAINS (realloc, or allocate-bigger + copy + free at the same stack)\n");
  if (!g->nchains)
    fprintf(out, "  none: no block was reallocated or regrown\n");
  for (size_t i = 0; i < g->nchains && (int)i < top; i++) {
    const atr_chain_row_t *r = &g->chains[i];
    fprintf(out, "  ");
    atr_report_frame(out, g->cs[r->site].frame);
    fprintf(out,
            "\n      %llu chain%s, %llu steps (%llu realloc, %llu alloc+copy+free), x%.3f per "
            "step\n",
            (unsigned long long)r->chains, r->chains == 1 ? "" : "s", (unsigned long long)r->steps,
            (unsigned long long)r->realloc_steps, (unsigned long long)r->copy_steps, r->factor);
    fprintf(out, "      largest (%llu steps): ", (unsigned long long)r->longest_steps);
    print_sizes(out, r);
    fprintf(out, "\n      %llu moves copied %s", (unsigned long long)r->moves,
            atr_bytes(a, sizeof(a), (double)r->bytes_copied));
    if (r->longest_growth_steps)
      fprintf(out, "; reserving %s up front avoids its steps",
              atr_bytes(b, sizeof(b), (double)r->reserve_hint));
    fputc('\n', out);
    atr_report_stack(out, sym, r->node, "        ", 4);
  }
  fprintf(out,
          "\nLEAK SUSPECTS (live at exit and grew steadily: slope > 0, R^2 >= %.2f, >= %d "
          "rises over %d samples, end >= %.0f%% of max)\n",
          ATR_LEAK_MIN_R2, ATR_LEAK_MIN_INCREMENTS, ATR_LEAK_GRID, 100 * ATR_LEAK_END_TO_MAX);
  if (!g->nsuspects)
    fprintf(out, "  none: nothing is live at exit\n");
  for (size_t i = 0; i < g->nsuspects && (int)i < top; i++) {
    const atr_suspect_t *s = &g->suspects[i];
    fprintf(out, "  %-11s ", s->flagged ? "FLAGGED" : "not flagged");
    atr_report_frame(out, g->cs[s->site].frame);
    fprintf(out, "\n      %s%s/s (R^2 %.3f, %u rises, %u falls), %s live at exit, max %s\n",
            s->slope < 0 ? "-" : "+", atr_bytes(a, sizeof(a), fabs(s->slope)), s->r2, s->increments,
            s->decrements, atr_bytes(b, sizeof(b), (double)s->live_end),
            atr_bytes(c, sizeof(c), (double)s->live_max));
  }
  fprintf(out, "\nALLOCATION SIZES (requested; power-of-two buckets)\n");
  if (!m->t.allocations)
    fprintf(out, "  none: nothing was allocated\n");
  for (int k = 0; k < ATR_SIZE_BUCKETS; k++) {
    if (!m->size_count[k])
      continue;
    uint64_t lo = k == 0 ? 0 : 1ull << (k - 1), hi = k == 0 ? 0 : (1ull << k) - 1;
    char r[64];
    if (lo == hi)
      snprintf(r, sizeof(r), "%llu", (unsigned long long)lo);
    else if (k == ATR_SIZE_BUCKETS - 1)
      snprintf(r, sizeof(r), ">= %llu", (unsigned long long)lo);
    else
      snprintf(r, sizeof(r), "%llu-%llu", (unsigned long long)lo, (unsigned long long)hi);
    fprintf(out, "  %22s B  %12s allocations  %s\n", r, atr_count(a, sizeof(a), m->size_count[k]),
            atr_bytes(b, sizeof(b), (double)m->size_bytes[k]));
  }
  int any = 0;
  for (int i = 0; i < 16; i++) {
    if (!m->aligns[i].count)
      continue;
    if (!any++)
      fprintf(out, "\nALIGNMENT (explicitly requested; padding is the worst case over 16 B)\n");
    fprintf(out, "  align %-6llu %12s allocations  padding <= %s\n",
            (unsigned long long)m->aligns[i].align, atr_count(a, sizeof(a), m->aligns[i].count),
            atr_bytes(b, sizeof(b), (double)m->aligns[i].padding));
  }
}
