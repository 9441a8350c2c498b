/* Writer-private hash map: two 64-bit words of key to one 64-bit value (0 = empty),
 * linear probing with backward-shift deletion. Allocates with the real allocator and is
 * only ever used under the guard by the thread that owns the writer.
 */
#ifndef ATR_U64MAP_H
#define ATR_U64MAP_H

#include <stdint.h>
#include <stdlib.h>

#include "real.h"

typedef struct {
  uint64_t k1, k2, v;
} atr_slot_t;

typedef struct {
  atr_slot_t *s;
  uint64_t mask, count;
} atr_map_t;

static inline uint64_t atr__map_hash(uint64_t k1, uint64_t k2) {
  uint64_t h = k1 * 0x9E3779B97F4A7C15ull ^ (k2 + 0x632BE59BD9B4E019ull) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 31);
}

static int atr__map_init(atr_map_t *m, uint64_t cap) {
  m->s = atr__real.calloc(cap, sizeof(atr_slot_t));
  m->mask = cap - 1;
  m->count = 0;
  return m->s ? 0 : -1;
}

static inline uint64_t *atr__map_get(const atr_map_t *m, uint64_t k1, uint64_t k2) {
  for (uint64_t i = atr__map_hash(k1, k2) & m->mask;; i = (i + 1) & m->mask) {
    atr_slot_t *e = &m->s[i];
    if (!e->v)
      return NULL;
    if (e->k1 == k1 && e->k2 == k2)
      return &e->v;
  }
}

static int atr__map_grow(atr_map_t *m) {
  atr_map_t n;
  if (atr__map_init(&n, (m->mask + 1) * 2) != 0)
    return -1;
  for (uint64_t i = 0; i <= m->mask; i++) {
    atr_slot_t *e = &m->s[i];
    if (!e->v)
      continue;
    uint64_t j = atr__map_hash(e->k1, e->k2) & n.mask;
    while (n.s[j].v)
      j = (j + 1) & n.mask;
    n.s[j] = *e;
  }
  n.count = m->count;
  atr__real.free(m->s);
  *m = n;
  return 0;
}

/* Insert or replace; returns the previous value (0 if none), or UINT64_MAX on OOM. */
static inline uint64_t atr__map_put(atr_map_t *m, uint64_t k1, uint64_t k2, uint64_t v) {
  if (__builtin_expect((m->count + 1) * 4 > (m->mask + 1) * 3, 0) && atr__map_grow(m) != 0)
    return UINT64_MAX;
  for (uint64_t i = atr__map_hash(k1, k2) & m->mask;; i = (i + 1) & m->mask) {
    atr_slot_t *e = &m->s[i];
    if (!e->v) {
      e->k1 = k1;
      e->k2 = k2;
      e->v = v;
      m->count++;
      return 0;
    }
    if (e->k1 == k1 && e->k2 == k2) {
      uint64_t old = e->v;
      e->v = v;
      return old;
    }
  }
}

/* Remove; returns the value (0 if absent). */
static inline uint64_t atr__map_take(atr_map_t *m, uint64_t k1, uint64_t k2) {
  uint64_t i = atr__map_hash(k1, k2) & m->mask;
  for (;; i = (i + 1) & m->mask) {
    atr_slot_t *e = &m->s[i];
    if (!e->v)
      return 0;
    if (e->k1 == k1 && e->k2 == k2)
      break;
  }
  uint64_t v = m->s[i].v;
  for (uint64_t j = (i + 1) & m->mask;; j = (j + 1) & m->mask) {
    atr_slot_t *e = &m->s[j];
    if (!e->v)
      break;
    uint64_t home = atr__map_hash(e->k1, e->k2) & m->mask;
    /* move e back into the hole at i unless its home lies cyclically in (i, j] */
    if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
      m->s[i] = *e;
      i = j;
    }
  }
  m->s[i].v = 0;
  m->count--;
  return v;
}

#endif
