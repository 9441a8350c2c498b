/* Second-pass sampler (see series.h). A sample holds the state after every event with a
 * timestamp <= its time; boundaries are flushed lazily when a later event or RSS record
 * arrives, so the pass stays one loop over the reader's callbacks.
 */
#define _GNU_SOURCE
#include "series.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

typedef struct {
  atr_series_t *s;
  uint64_t *live; /* per call site */
  uint64_t heap, heap_max, allocs, frees, rss, prev_t;
  int has_rss, oom;
  size_t next_sample, next_grid; /* indices of the next boundary to emit */
} run_t;

size_t atr_series_count(uint64_t duration_us, uint64_t interval_us) {
  if (!interval_us)
    return 0;
  uint64_t n = duration_us / interval_us + (duration_us % interval_us != 0);
  return n ? (size_t)n : 1;
}

static uint64_t sample_time(const atr_series_t *s, size_t k) {
  uint64_t t = (uint64_t)(k + 1) * s->interval_us;
  return t < s->duration_us ? t : s->duration_us;
}

uint64_t atr_series_grid_us(uint64_t duration_us, unsigned grid, size_t j) {
  return (uint64_t)((double)duration_us * (double)(j + 1) / (double)grid + 0.5);
}

static uint64_t grid_time(const atr_series_t *s, size_t j) {
  return atr_series_grid_us(s->duration_us, s->grid, j);
}

static void emit_sample(run_t *R) {
  atr_series_t *s = R->s;
  size_t k = R->next_sample++;
  uint64_t t = sample_time(s, k);
  double secs = (double)(t - R->prev_t) / 1e6;
  if (secs <= 0)
    secs = (double)s->interval_us / 1e6;
  atr_sample_t *o = &s->samples[k];
  o->t_us = t;
  o->heap = R->heap;
  o->heap_max = R->heap_max > R->heap ? R->heap_max : R->heap;
  o->rss = R->rss;
  o->has_rss = R->has_rss;
  o->allocs_per_s = (double)R->allocs / secs;
  o->frees_per_s = (double)R->frees / secs;
  uint64_t chosen = 0, *row = s->tl_vals + k * s->ntl;
  memset(row, 0, s->ntl * sizeof(*row));
  for (size_t i = 0; i < s->nsites; i++)
    if (s->tl_col[i] >= 0) {
      row[s->tl_col[i]] = R->live[i];
      chosen += R->live[i];
    }
  o->other = R->heap - chosen;
  R->prev_t = t;
  R->allocs = R->frees = 0;
  R->heap_max = R->heap;
}

static void emit_grid(run_t *R) {
  atr_series_t *s = R->s;
  uint64_t *row = s->grid_vals + R->next_grid++ * s->ngrid_cols;
  for (size_t i = 0; i < s->nsites; i++)
    if (s->grid_col[i] >= 0)
      row[s->grid_col[i]] = R->live[i];
}

/* Emits every boundary strictly before time t (all of them when t is UINT64_MAX). */
static void flush_until(run_t *R, uint64_t t) {
  atr_series_t *s = R->s;
  while (s->samples && R->next_sample < s->nsamples && sample_time(s, R->next_sample) < t)
    emit_sample(R);
  while (s->grid_vals && R->next_grid < s->grid && grid_time(s, R->next_grid) < t)
    emit_grid(R);
}

static uint32_t site_of(const run_t *R, const atr_trace_t *tr, uint32_t site) {
  uint32_t node = tr->sites[site].node;
  return node < R->s->nnodes ? R->s->node_site[node] : UINT32_MAX;
}

static void add(run_t *R, const atr_trace_t *tr, uint32_t site) {
  uint64_t size = tr->sites[site].size;
  uint32_t cs = site_of(R, tr, site);
  if (cs < R->s->nsites)
    R->live[cs] += size;
  R->heap += size;
  R->allocs++;
  if (R->heap > R->heap_max)
    R->heap_max = R->heap;
}

static void sub(run_t *R, const atr_trace_t *tr, uint32_t site) {
  uint64_t size = tr->sites[site].size;
  uint32_t cs = site_of(R, tr, site);
  if (cs < R->s->nsites)
    R->live[cs] -= size;
  R->heap -= size;
  R->frees++;
}

static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  run_t *R = ctx;
  flush_until(R, ev->time_us);
  switch (ev->kind) {
  case ATR_E_ALLOC:
    add(R, tr, ev->site);
    break;
  case ATR_E_FREE:
    sub(R, tr, ev->old_site);
    break;
  case ATR_E_REALLOC:
    sub(R, tr, ev->old_site);
    if (ev->site)
      add(R, tr, ev->site);
    break;
  default:
    break;
  }
}

static void on_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  run_t *R = ctx;
  (void)tr;
  flush_until(R, time_us);
  R->rss = bytes;
  R->has_rss = 1;
}

int atr_series_run(atr_series_t *s, const char *path, char *err, size_t errlen) {
  run_t R = {.s = s};
  s->samples = NULL;
  s->tl_vals = s->grid_vals = NULL;
  s->nsamples = s->tl_col ? atr_series_count(s->duration_us, s->interval_us) : 0;
  R.live = calloc(s->nsites ? s->nsites : 1, sizeof(*R.live));
  if (s->nsamples) {
    s->samples = calloc(s->nsamples, sizeof(*s->samples));
    s->tl_vals = calloc(s->nsamples * (s->ntl ? s->ntl : 1), sizeof(*s->tl_vals));
  }
  if (s->grid_col && s->grid)
    s->grid_vals = calloc((size_t)s->grid * (s->ngrid_cols ? s->ngrid_cols : 1), sizeof(uint64_t));
  if (!R.live || (s->nsamples && (!s->samples || !s->tl_vals)) ||
      (s->grid_col && s->grid && !s->grid_vals)) {
    free(R.live);
    atr_series_free(s);
    snprintf(err, errlen, "%s: out of memory for the time series", path);
    return -1;
  }
  atr_trace_t tr;
  atr_visitor_t v = {&R, on_event, on_rss};
  int rc = atr_trace_read(&tr, path, &v);
  if (rc == 0)
    flush_until(&R, UINT64_MAX);
  else
    snprintf(err, errlen, "%s", tr.error);
  atr_trace_free(&tr);
  free(R.live);
  if (rc != 0)
    atr_series_free(s);
  return rc;
}

void atr_series_free(atr_series_t *s) {
  free(s->samples);
  free(s->tl_vals);
  free(s->grid_vals);
  s->samples = NULL;
  s->tl_vals = s->grid_vals = NULL;
  s->nsamples = 0;
}
