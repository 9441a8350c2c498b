/* Pass 2 of the growth analyses: reads the trace again and samples live bytes per call
 * site over time, as a timeline at a fixed interval (heap, RSS, allocation and free
 * rates, chosen call sites, the rest as "other") and/or on a fixed grid of points for
 * the leak-suspect rule. Memory is samples x columns; never keeps events.
 */
#ifndef ATR_SERIES_H
#define ATR_SERIES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t t_us;
  uint64_t heap;     /* live requested bytes at t */
  uint64_t heap_max; /* highest live bytes within the interval ending at t */
  uint64_t rss;      /* latest RSS sample at or before t */
  int has_rss;
  double allocs_per_s, frees_per_s; /* blocks allocated / freed in the interval (a
                                       realloc frees one and allocates one) */
  uint64_t other;                   /* heap minus the chosen call sites */
} atr_sample_t;

typedef struct {
  /* inputs */
  const uint32_t *node_site; /* stack node -> call site (atr_sitemap_build) */
  size_t nnodes, nsites;
  uint64_t duration_us;  /* the trace's duration (pass 1) */
  const int32_t *tl_col; /* call site -> timeline column or -1; NULL: no timeline */
  size_t ntl;
  uint64_t interval_us;
  const int32_t *grid_col; /* call site -> grid column or -1; NULL: no grid */
  size_t ngrid_cols;
  unsigned grid; /* grid point j (1..grid) is at duration * j / grid */
  /* outputs */
  atr_sample_t *samples; /* at interval, 2*interval, ..., and the end of the trace */
  size_t nsamples;
  uint64_t *tl_vals;   /* nsamples x ntl live bytes */
  uint64_t *grid_vals; /* grid x ngrid_cols live bytes */
} atr_series_t;

/* Time of grid point j (0-based): duration * (j + 1) / grid, rounded to a microsecond. */
uint64_t atr_series_grid_us(uint64_t duration_us, unsigned grid, size_t j);

/* Number of timeline samples for a duration and interval (at least 1). */
size_t atr_series_count(uint64_t duration_us, uint64_t interval_us);

/* Runs the pass. Returns 0, or -1 with a one-line message naming the file in err. */
int atr_series_run(atr_series_t *s, const char *path, char *err, size_t errlen);
void atr_series_free(atr_series_t *s);

#endif
