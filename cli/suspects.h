/* The leak-suspect rule: a call site whose live bytes, sampled on a fixed grid over the
 * run, grow steadily and are still (nearly) at their maximum at exit. Pure arithmetic on
 * one series; never reads traces or allocates.
 *
 * Rule (also documented in docs/growth.md and reported as "leak_rule" in growth --json):
 * sample the site's live bytes at GRID points t_j = duration * j / GRID (j = 1..GRID);
 * the window starts at the first point where the site has live bytes. Flagged when
 *   the window has >= MIN_POINTS points,
 *   the least-squares slope of live bytes over time in the window is > 0,
 *   its coefficient of determination R^2 >= MIN_R2 (a constant series has R^2 = 0),
 *   live bytes rose between consecutive points at least MIN_INCREMENTS times, and
 *   live bytes at the last point >= END_TO_MAX * the window's maximum.
 */
#ifndef ATR_SUSPECTS_H
#define ATR_SUSPECTS_H

#include <stddef.h>
#include <stdint.h>

#define ATR_LEAK_GRID 50
#define ATR_LEAK_MIN_POINTS 5
#define ATR_LEAK_MIN_R2 0.8
#define ATR_LEAK_MIN_INCREMENTS 4
#define ATR_LEAK_END_TO_MAX 0.9

typedef struct {
  uint32_t site;          /* call-site index */
  unsigned first, points; /* window: grid points first .. first+points-1 (0-based) */
  double slope;           /* bytes per second over the window */
  double r2;
  uint64_t live_end, live_max;
  unsigned increments, decrements;
  int flagged;
} atr_suspect_t;

/* Evaluates the rule on y[j * stride], j = 0..grid-1 (grid point j at time t_us[j]). */
void atr_suspect_eval(atr_suspect_t *s, const uint64_t *y, size_t stride, const uint64_t *t_us,
                      unsigned grid);

/* qsort order: flagged first, then steeper slope, then more bytes live at the end. */
int atr_suspect_cmp(const void *a, const void *b);

#endif
