/* Per-node live-bytes change log (see livelog.h): one varint stream, a group per
 * timestamp with changes and an entry per node whose live bytes it changed; sampled by
 * one sweep at the end. Never keeps per-event data.
 */
#include "livelog.h"

#include <stdlib.h>
#include <string.h>

#include "alloctrace/format.h"

void atr_livelog_init(atr_livelog_t *l, size_t max_bytes) {
  memset(l, 0, sizeof(*l));
  l->mark = 1;
  l->max_bytes = max_bytes;
}

void atr_livelog_free(atr_livelog_t *l) {
  free(l->buf);
  free(l->dirty);
  free(l->before);
  l->buf = NULL;
  l->dirty = NULL;
  l->before = NULL;
  l->len = l->cap = l->ndirty = l->capd = 0;
}

static int drop(atr_livelog_t *l) {
  atr_livelog_free(l);
  l->dropped = 1;
  return -1;
}

int atr_livelog__push(atr_livelog_t *l, uint32_t node, uint64_t live) {
  if (l->dropped)
    return -1;
  if (l->ndirty == l->capd) {
    size_t c = l->capd ? l->capd * 2 : 1024;
    uint32_t *d = realloc(l->dirty, c * sizeof(*d));
    if (d)
      l->dirty = d;
    uint64_t *b = d ? realloc(l->before, c * sizeof(*b)) : NULL;
    if (!b)
      return drop(l);
    l->before = b;
    l->capd = c;
  }
  l->dirty[l->ndirty] = node;
  l->before[l->ndirty++] = live;
  return 0;
}

static size_t len_u(uint64_t v) { return (64 - (size_t)__builtin_clzll(v | 1) + 6) / 7; }
static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

/* Makes room for `need` more bytes within the budget. */
static int reserve(atr_livelog_t *l, size_t need) {
  if (l->len + need <= l->cap)
    return 0;
  if (l->len + need > l->max_bytes)
    return -1;
  size_t c = l->cap ? l->cap * 2 : 1 << 16;
  if (c < l->len + need)
    c = l->len + need;
  if (c > l->max_bytes)
    c = l->max_bytes;
  uint8_t *b = realloc(l->buf, c);
  if (!b)
    return -1;
  l->buf = b;
  l->cap = c;
  return 0;
}

int atr_livelog_flush(atr_livelog_t *l, const uint64_t *live, size_t stride, uint64_t time) {
  if (l->dropped)
    return -1;
  if (l->ndirty) {
    /* before[i] becomes the change; unchanged nodes (freed what they allocated) drop out */
    size_t n = 0, bytes = 0;
    uint32_t prev = l->last_node;
    for (size_t i = 0; i < l->ndirty; i++) {
      uint32_t node = l->dirty[i];
      uint64_t d = live[(size_t)node * stride] - l->before[i];
      if (!d)
        continue;
      bytes += len_u(zigzag((int64_t)node - (int64_t)prev)) + len_u(zigzag((int64_t)d));
      prev = node;
      l->dirty[n] = node;
      l->before[n++] = d;
    }
    if (n) {
      bytes += len_u(l->time - l->last_time) + len_u(n);
      if (reserve(l, bytes) != 0)
        return drop(l);
      uint8_t *p = l->buf + l->len;
      p = atr_put_u(p, l->time - l->last_time);
      p = atr_put_u(p, n);
      for (size_t i = 0; i < n; i++) {
        p = atr_put_s(p, (int64_t)l->dirty[i] - (int64_t)l->last_node);
        p = atr_put_s(p, (int64_t)l->before[i]);
        l->last_node = l->dirty[i];
      }
      l->len = (size_t)(p - l->buf);
      l->last_time = l->time;
    }
    l->ndirty = 0;
    l->mark++;
  }
  l->time = time;
  return 0;
}

int atr_livelog_grid(const atr_livelog_t *l, const uint32_t *node_site, const uint32_t *key_node,
                     size_t nnodes, const int32_t *site_col, size_t nsites, size_t ncols,
                     const uint64_t *t, unsigned grid, uint64_t *out) {
  uint64_t *cur = calloc(nnodes ? nnodes : 1, sizeof(*cur));
  int32_t *col = malloc((nnodes ? nnodes : 1) * sizeof(*col));
  uint32_t *idx = malloc((nnodes ? nnodes : 1) * sizeof(*idx));
  if (!cur || !col || !idx) {
    free(cur);
    free(col);
    free(idx);
    return -1;
  }
  for (size_t i = 0; i < nnodes; i++) {
    uint32_t s = node_site[key_node[i]];
    col[i] = s < nsites ? site_col[s] : -1;
  }
  memset(out, 0, (size_t)grid * ncols * sizeof(*out));
  size_t nlive = 0; /* the nodes of the columns' sites, with their column */
  for (size_t i = 0; i < nnodes; i++)
    if (col[i] >= 0) {
      idx[nlive] = (uint32_t)i;
      col[nlive++] = col[i];
    }
  const uint8_t *p = l->buf, *end = l->buf + l->len;
  uint64_t gtime = 0, node = 0, count = 0;
  int have = 0; /* a group header read (gtime, count) and not applied yet */
  for (unsigned j = 0; j < grid; j++) {
    for (;;) {
      uint64_t dt;
      if (!have) {
        if (p >= end || !(p = atr_get_u(p, end, &dt)) || !(p = atr_get_u(p, end, &count)))
          break;
        gtime += dt;
        have = 1;
      }
      if (gtime > t[j])
        break;
      for (; count; count--) {
        int64_t dn, dl;
        if (!(p = atr_get_s(p, end, &dn)) || !(p = atr_get_s(p, end, &dl)))
          break;
        node += (uint64_t)dn;
        if (node < nnodes)
          cur[node] += (uint64_t)dl;
      }
      have = 0;
      if (!p)
        break;
    }
    if (!p)
      p = end; /* cannot happen: the log is ours; stop reading it */
    uint64_t *row = out + (size_t)j * ncols;
    for (size_t i = 0; i < nlive; i++)
      row[col[i]] += cur[idx[i]];
  }
  free(cur);
  free(col);
  free(idx);
  return 0;
}

void atr_livelog_pos_init(const atr_livelog_t *l, atr_livelog_pos_t *pos) {
  memset(pos, 0, sizeof(*pos));
  pos->p = l->buf;
}

void atr_livelog_advance(const atr_livelog_t *l, atr_livelog_pos_t *pos, uint64_t t,
                         const uint32_t *key_out, size_t nkeys, uint64_t *out, size_t nout) {
  const uint8_t *p = pos->p, *end = l->buf + l->len;
  while (p) {
    uint64_t dt;
    if (!pos->have) {
      if (p >= end || !(p = atr_get_u(p, end, &dt)) || !(p = atr_get_u(p, end, &pos->count)))
        break;
      pos->time += dt;
      pos->have = 1;
    }
    if (pos->time > t)
      break;
    for (; pos->count; pos->count--) {
      int64_t dk, dl;
      if (!(p = atr_get_s(p, end, &dk)) || !(p = atr_get_s(p, end, &dl)))
        break;
      pos->key += (uint64_t)dk;
      if (pos->key < nkeys && key_out[pos->key] < nout)
        out[key_out[pos->key]] += (uint64_t)dl;
    }
    pos->have = 0;
  }
  pos->p = p ? p : end; /* a damaged log cannot happen (it is ours): stop reading it */
}
