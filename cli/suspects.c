/* The leak-suspect rule (see suspects.h): ordinary least squares of live bytes on time
 * over the window, in doubles; never allocates.
 */
#include "suspects.h"

#include <string.h>

void atr_suspect_eval(atr_suspect_t *s, const uint64_t *y, size_t stride, const uint64_t *t_us,
                      unsigned grid) {
  uint32_t site = s->site;
  memset(s, 0, sizeof(*s));
  s->site = site;
  unsigned first = 0;
  while (first < grid && y[first * stride] == 0)
    first++;
  s->first = first;
  s->points = grid - first;
  if (!s->points)
    return;
  double n = s->points, sx = 0, sy = 0;
  for (unsigned j = first; j < grid; j++) {
    uint64_t v = y[j * stride];
    sx += (double)t_us[j] / 1e6;
    sy += (double)v;
    if (v > s->live_max)
      s->live_max = v;
    if (j > first) {
      uint64_t p = y[(j - 1) * stride];
      s->increments += v > p;
      s->decrements += v < p;
    }
  }
  s->live_end = y[(grid - 1) * stride];
  double mx = sx / n, my = sy / n, sxx = 0, syy = 0, sxy = 0;
  for (unsigned j = first; j < grid; j++) {
    double dx = (double)t_us[j] / 1e6 - mx, dy = (double)y[j * stride] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  s->slope = sxx > 0 ? sxy / sxx : 0.0;
  s->r2 = sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : 0.0;
  s->flagged = s->points >= ATR_LEAK_MIN_POINTS && s->slope > 0 && s->r2 >= ATR_LEAK_MIN_R2 &&
               s->increments >= ATR_LEAK_MIN_INCREMENTS &&
               (double)s->live_end >= ATR_LEAK_END_TO_MAX * (double)s->live_max;
}

int atr_suspect_cmp(const void *pa, const void *pb) {
  const atr_suspect_t *a = pa, *b = pb;
  if (a->flagged != b->flagged)
    return b->flagged - a->flagged;
  if (a->slope != b->slope)
    return a->slope < b->slope ? 1 : -1;
  if (a->live_end != b->live_end)
    return a->live_end < b->live_end ? 1 : -1;
  return a->site < b->site ? -1 : a->site > b->site;
}
