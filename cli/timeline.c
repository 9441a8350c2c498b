/* The timeline document (see timeline.h): chooses the call sites, runs the sampling pass
 * and writes CSV or JSON. Memory is samples x (N + 7) numbers; never exits.
 */
#define _GNU_SOURCE
#include "timeline.h"
#include "escape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "series.h"
#include "sitemap.h"
#include "util.h"

#define MAX_SAMPLES 1000000u
#define AUTO_SAMPLES 200u

/* The smallest of 1, 2, 5 x 10^k ms (at least 1 ms) giving at most AUTO_SAMPLES samples. */
static uint64_t auto_interval(uint64_t duration_us) {
  uint64_t want = duration_us / AUTO_SAMPLES + (duration_us % AUTO_SAMPLES != 0);
  for (uint64_t dec = 1000; dec < UINT64_MAX / 50; dec *= 10)
    for (int i = 0; i < 3; i++) {
      uint64_t v = dec * (uint64_t[]){1, 2, 5}[i];
      if (v >= want)
        return v;
    }
  return want;
}

typedef struct {
  uint32_t site;
  uint64_t score;
} ranked_t;

static int by_score(const void *pa, const void *pb) {
  const ranked_t *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score < b->score ? 1 : -1;
  return a->site < b->site ? -1 : a->site > b->site;
}

typedef struct {
  atr_callsite_t *cs;
  size_t ncs;
  uint32_t *node_site;
  int32_t *col;     /* call site -> column */
  uint32_t *chosen; /* column -> call site */
  size_t nchosen;
} sites_t;

/* Ranks call sites by the sum over their stacks of each stack's highest live bytes (an
 * upper bound of the site's own maximum that pass 1 can compute) and keeps the top n. */
static int choose_sites(sites_t *S, const atr_model_t *m, atr_symbolizer_t *sym,
                        const atr_chains_t *ch, size_t n) {
  S->ncs = atr_model_callsites(m, sym, ATR_M_PEAK, &S->cs);
  S->node_site = atr_sitemap_build(m, sym, S->cs, S->ncs);
  ranked_t *r = calloc(S->ncs ? S->ncs : 1, sizeof(*r));
  S->col = malloc((S->ncs ? S->ncs : 1) * sizeof(*S->col));
  S->chosen = malloc((n ? n : 1) * sizeof(*S->chosen));
  if (!S->cs || !S->node_site || !r || !S->col || !S->chosen) {
    free(r);
    return -1;
  }
  for (size_t i = 0; i < S->ncs; i++)
    r[i].site = (uint32_t)i;
  for (size_t node = 0; node < m->tr.nnodes; node++)
    if (S->node_site[node] != UINT32_MAX)
      r[S->node_site[node]].score += atr_chains_node_max(ch, (uint32_t)node);
  qsort(r, S->ncs, sizeof(*r), by_score);
  for (size_t i = 0; i < S->ncs; i++)
    S->col[i] = -1;
  S->nchosen = 0;
  for (size_t i = 0; i < S->ncs && S->nchosen < n && r[i].score; i++) {
    S->col[r[i].site] = (int32_t)S->nchosen;
    S->chosen[S->nchosen++] = r[i].site;
  }
  free(r);
  return 0;
}

static void csv_quoted(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static void print_csv(FILE *out, const atr_series_t *s, const sites_t *S) {
  fprintf(out, "t_s,heap,heap_max,rss,allocs_per_s,frees_per_s");
  for (size_t c = 0; c < S->nchosen; c++) {
    const atr_frame_t *f = S->cs[S->chosen[c]].frame;
    char loc[1024], name[1400];
    snprintf(name, sizeof(name), "%s (%s)", f->func ? f->func : "??",
             atr_sitemap_location(f, loc, sizeof(loc)));
    atr_utf8_trim(name);
    fputc(',', out);
    csv_quoted(out, name);
  }
  fprintf(out, ",other\n");
  for (size_t k = 0; k < s->nsamples; k++) {
    const atr_sample_t *o = &s->samples[k];
    fprintf(out, "%.6f,%llu,%llu,", (double)o->t_us / 1e6, (unsigned long long)o->heap,
            (unsigned long long)o->heap_max);
    if (o->has_rss)
      fprintf(out, "%llu", (unsigned long long)o->rss);
    fprintf(out, ",%.1f,%.1f", o->allocs_per_s, o->frees_per_s);
    for (size_t c = 0; c < S->nchosen; c++)
      fprintf(out, ",%llu", (unsigned long long)s->tl_vals[k * s->ntl + c]);
    fprintf(out, ",%llu\n", (unsigned long long)o->other);
  }
}

static json_t *timeline_json(const atr_series_t *s, const sites_t *S, const atr_model_t *m,
                             double interval_ms) {
  char cmd[1024], loc[1024];
  json_t *root = json_object();
  json_object_set_new(root, "schema", atr_json_text("alloctrace.timeline/1"));
  json_object_set_new(root, "program", atr_json_text(m->tr.exe ? m->tr.exe : ""));
  atr_report_cmdline(&m->tr, cmd, sizeof(cmd));
  json_object_set_new(root, "cmdline", atr_json_text(cmd));
  json_object_set_new(root, "interval_ms", json_real(interval_ms));
  json_object_set_new(root, "duration_s", json_real((double)m->t.duration_us / 1e6));
  json_t *sites = json_array();
  for (size_t c = 0; c < S->nchosen; c++) {
    const atr_callsite_t *cs = &S->cs[S->chosen[c]];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)c));
    json_object_set_new(o, "function", atr_json_text(cs->frame->func ? cs->frame->func : "??"));
    json_object_set_new(o, "location",
                        atr_json_text(atr_sitemap_location(cs->frame, loc, sizeof(loc))));
    json_object_set_new(o, "module", atr_json_text(cs->frame->module ? cs->frame->module : "?"));
    json_object_set_new(o, "peak_bytes", atr_json_u64(cs->cost.peak_bytes));
    json_object_set_new(o, "leaked_bytes", atr_json_u64(cs->cost.leaked_bytes));
    json_object_set_new(o, "allocations", atr_json_u64(cs->cost.allocations));
    json_array_append_new(sites, o);
  }
  json_object_set_new(root, "sites", sites);
  json_t *samples = json_array();
  for (size_t k = 0; k < s->nsamples; k++) {
    const atr_sample_t *o = &s->samples[k];
    json_t *j = json_object();
    json_object_set_new(j, "t", json_real((double)o->t_us / 1e6));
    json_object_set_new(j, "heap", atr_json_u64(o->heap));
    json_object_set_new(j, "heap_max", atr_json_u64(o->heap_max));
    json_object_set_new(j, "rss", o->has_rss ? atr_json_u64(o->rss) : json_null());
    json_object_set_new(j, "allocs_per_s", json_real(round(o->allocs_per_s * 10) / 10));
    json_object_set_new(j, "frees_per_s", json_real(round(o->frees_per_s * 10) / 10));
    json_t *v = json_array();
    for (size_t c = 0; c < S->nchosen; c++)
      json_array_append_new(v, atr_json_u64(s->tl_vals[k * s->ntl + c]));
    json_object_set_new(j, "sites", v);
    json_object_set_new(j, "other", atr_json_u64(o->other));
    json_array_append_new(samples, j);
  }
  json_object_set_new(root, "samples", samples);
  json_t *peak = json_object();
  json_object_set_new(peak, "t", json_real((double)m->t.peak_time_us / 1e6));
  json_object_set_new(peak, "bytes", atr_json_u64(m->t.peak_bytes));
  json_object_set_new(root, "peak", peak);
  json_object_set_new(root, "peak_rss", atr_json_u64(m->t.peak_rss));
  return root;
}

int atr_timeline_write(FILE *out, const char *path, const atr_model_t *m, atr_symbolizer_t *sym,
                       const atr_chains_t *ch, double interval_ms, int top, int csv, char *err,
                       size_t errlen) {
  uint64_t interval_us =
      interval_ms > 0 ? (uint64_t)llround(interval_ms * 1000.0) : auto_interval(m->t.duration_us);
  if (interval_us == 0)
    interval_us = 1;
  if (interval_ms <= 0)
    interval_ms = (double)interval_us / 1000.0;
  if (atr_series_count(m->t.duration_us, interval_us) > MAX_SAMPLES) {
    snprintf(err, errlen, "--interval %g ms gives more than %u samples for this %.3f s trace",
             interval_ms, MAX_SAMPLES, (double)m->t.duration_us / 1e6);
    return -2;
  }
  sites_t S = {0};
  int rc = -1;
  if (choose_sites(&S, m, sym, ch, (size_t)top) != 0) {
    snprintf(err, errlen, "%s: out of memory", path);
    goto out;
  }
  atr_series_t s = {.node_site = S.node_site,
                    .nnodes = m->tr.nnodes,
                    .nsites = S.ncs,
                    .duration_us = m->t.duration_us,
                    .tl_col = S.col,
                    .ntl = S.nchosen,
                    .interval_us = interval_us};
  if (atr_series_run(&s, path, err, errlen) != 0)
    goto out;
  if (csv) {
    print_csv(out, &s, &S);
  } else {
    json_t *j = timeline_json(&s, &S, m, interval_ms);
    json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', out);
    json_decref(j);
  }
  atr_series_free(&s);
  rc = 0;
out:
  free(S.cs);
  free(S.node_site);
  free(S.col);
  free(S.chosen);
  return rc;
}
