/* Per-node live-bytes change log (see livelog.h): append-only arrays, one entry per node
 * and timestamp with changes; sampled by one sweep at the end. Never keeps per-event data.
 */
#include "livelog.h"

#include <stdlib.h>
#include <string.h>

void atr_livelog_init(atr_livelog_t *l, size_t max_bytes) {
  memset(l, 0, sizeof(*l));
  l->mark = 1;
  l->max_bytes = max_bytes;
}

void atr_livelog_free(atr_livelog_t *l) {
  free(l->node);
  free(l->live);
  free(l->gtime);
  free(l->gend);
  free(l->dirty);
  l->node = NULL;
  l->live = l->gtime = NULL;
  l->gend = NULL;
  l->dirty = NULL;
  l->n = l->cap = l->ng = l->capg = l->ndirty = l->capd = 0;
}

static int drop(atr_livelog_t *l) {
  atr_livelog_free(l);
  l->dropped = 1;
  return -1;
}

static size_t next_cap(size_t cap, size_t need) {
  if (need <= cap)
    return cap;
  size_t c = cap ? cap * 2 : 1024;
  while (c < need)
    c *= 2;
  return c;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t c = next_cap(*cap, need);
  void *q = realloc(*p, c * elem);
  if (!q)
    return -1;
  *p = q;
  *cap = c;
  return 0;
}

int atr_livelog__push(atr_livelog_t *l, uint32_t node) {
  if (l->dropped)
    return -1;
  if (grow((void **)&l->dirty, &l->capd, l->ndirty + 1, sizeof(*l->dirty)) != 0)
    return drop(l);
  l->dirty[l->ndirty++] = node;
  return 0;
}

int atr_livelog_flush(atr_livelog_t *l, const uint64_t *live, size_t stride, uint64_t time) {
  if (l->dropped)
    return -1;
  if (l->ndirty) {
    size_t n = l->n + l->ndirty, c = l->cap, cg = l->capg;
    if (next_cap(c, n) * 12 + next_cap(cg, l->ng + 1) * 16 > l->max_bytes)
      return drop(l);
    if (grow((void **)&l->node, &c, n, sizeof(*l->node)) != 0)
      return drop(l);
    c = l->cap;
    if (grow((void **)&l->live, &c, n, sizeof(*l->live)) != 0)
      return drop(l);
    l->cap = c;
    c = cg;
    if (grow((void **)&l->gtime, &c, l->ng + 1, sizeof(*l->gtime)) != 0)
      return drop(l);
    c = cg;
    if (grow((void **)&l->gend, &c, l->ng + 1, sizeof(*l->gend)) != 0)
      return drop(l);
    l->capg = c;
    for (size_t i = 0; i < l->ndirty; i++) {
      uint32_t node = l->dirty[i];
      l->node[l->n] = node;
      l->live[l->n] = live[(size_t)node * stride];
      l->n++;
    }
    l->gtime[l->ng] = l->time;
    l->gend[l->ng] = l->n;
    l->ng++;
    l->ndirty = 0;
    l->mark++;
  }
  l->time = time;
  return 0;
}

int atr_livelog_grid(const atr_livelog_t *l, const uint32_t *node_site, size_t nnodes,
                     const int32_t *site_col, size_t nsites, size_t ncols, const uint64_t *t,
                     unsigned grid, uint64_t *out) {
  uint64_t *cur = calloc(nnodes ? nnodes : 1, sizeof(*cur));
  int32_t *col = malloc((nnodes ? nnodes : 1) * sizeof(*col));
  if (!cur || !col) {
    free(cur);
    free(col);
    return -1;
  }
  for (size_t i = 0; i < nnodes; i++) {
    uint32_t s = node_site[i];
    col[i] = s < nsites ? site_col[s] : -1;
  }
  memset(out, 0, (size_t)grid * ncols * sizeof(*out));
  size_t g = 0, e = 0;
  for (unsigned j = 0; j < grid; j++) {
    for (; g < l->ng && l->gtime[g] <= t[j]; g++)
      for (; e < l->gend[g]; e++)
        if (l->node[e] < nnodes)
          cur[l->node[e]] = l->live[e];
    uint64_t *row = out + (size_t)j * ncols;
    for (size_t i = 0; i < nnodes; i++)
      if (col[i] >= 0)
        row[col[i]] += cur[i];
  }
  free(cur);
  free(col);
  return 0;
}
