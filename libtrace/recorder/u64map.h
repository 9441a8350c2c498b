/* Writer-private hash maps: two 64-bit words of key to one 64-bit value (0 = empty;
 * insert-only: sites, stack trie), and the live-block map (pointer -> ordinal,
 * Fibonacci-hashed, prefetchable, backward-shift deletion); both linear probing.
 * In the recorder process, which owns them: plain malloc, one thread.
 */
#ifndef ATR_U64MAP_H
#define ATR_U64MAP_H

#include <stdint.h>
#include <stdlib.h>

#include "tracer.h"

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
  m->s = calloc(cap, sizeof(atr_slot_t));
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
  free(m->s);
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

/* ---- live-block map: one-word key (a pointer, never 0) to a non-zero ordinal ---- */

typedef struct {
  uint64_t key, v; /* key 0 = empty */
} atr_pslot_t;

typedef struct {
  atr_pslot_t *s;
  uint64_t mask, count;
  unsigned shift; /* 64 - log2(capacity) */
} atr_ptrmap_t;

/* Fibonacci hashing: the top bits of ptr * 2^64/phi spread the 16-byte-aligned pointers
 * of one allocator run evenly with one multiply. */
static inline uint64_t atr__ptr_home(const atr_ptrmap_t *m, uint64_t key) {
  return (key * 0x9E3779B97F4A7C15ull) >> m->shift;
}

static int atr__ptrmap_init(atr_ptrmap_t *m, unsigned log2cap) {
  m->s = calloc((size_t)1 << log2cap, sizeof(atr_pslot_t));
  m->mask = ((uint64_t)1 << log2cap) - 1;
  m->shift = 64 - log2cap;
  m->count = 0;
  return m->s ? 0 : -1;
}

static inline void atr__ptrmap_prefetch(const atr_ptrmap_t *m, uint64_t key) {
  __builtin_prefetch(&m->s[atr__ptr_home(m, key)], 1);
}

static int atr__ptrmap_grow(atr_ptrmap_t *m) {
  atr_ptrmap_t n;
  if (atr__ptrmap_init(&n, 64 - m->shift + 1) != 0)
    return -1;
  for (uint64_t i = 0; i <= m->mask; i++) {
    atr_pslot_t *e = &m->s[i];
    if (!e->key)
      continue;
    uint64_t j = atr__ptr_home(&n, e->key);
    while (n.s[j].key)
      j = (j + 1) & n.mask;
    n.s[j] = *e;
  }
  n.count = m->count;
  free(m->s);
  *m = n;
  return 0;
}

/* Up to this many slots (16 MiB) the map grows at 1/4 full, beyond it at 1/2: short
 * probe runs make take()'s backward shift cheap (churn1 traced: 0.50 -> 0.47 s, min of
 * 10), and a program with millions of live blocks pays 32, not 64, bytes for each. */
#define ATR_PTRMAP_SPARSE (1u << 20)

/* Insert or replace (key != 0); returns the previous value (0 if none), or UINT64_MAX on
 * OOM. The load factor stays below 1/4 (1/2 when large) so probe runs stay short. */
static inline uint64_t atr__ptrmap_put(atr_ptrmap_t *m, uint64_t key, uint64_t v) {
  uint64_t full = m->mask < ATR_PTRMAP_SPARSE ? (m->mask + 1) / 4 : (m->mask + 1) / 2;
  if (__builtin_expect(m->count + 1 > full, 0) && atr__ptrmap_grow(m) != 0)
    return UINT64_MAX;
  atr_pslot_t *s = m->s; /* locals: stores to slots may alias the map's own fields */
  const uint64_t mask = m->mask;
  for (uint64_t i = atr__ptr_home(m, key);; i = (i + 1) & mask) {
    atr_pslot_t *e = &s[i];
    if (!e->key) {
      e->key = key;
      e->v = v;
      m->count++;
      return 0;
    }
    if (e->key == key) {
      uint64_t old = e->v;
      e->v = v;
      return old;
    }
  }
}

/* Remove; returns the value (0 if absent). */
static inline uint64_t atr__ptrmap_take(atr_ptrmap_t *m, uint64_t key) {
  if (!key)
    return 0;
  atr_pslot_t *s = m->s; /* locals: stores to slots may alias the map's own fields */
  const uint64_t mask = m->mask;
  const unsigned shift = m->shift;
  uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> shift;
  for (;; i = (i + 1) & mask) {
    if (!s[i].key)
      return 0;
    if (s[i].key == key)
      break;
  }
  uint64_t v = s[i].v;
  for (uint64_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    uint64_t k = s[j].key;
    if (!k)
      break;
    uint64_t home = (k * 0x9E3779B97F4A7C15ull) >> shift;
    /* move e back into the hole at i unless its home lies cyclically in (i, j] */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      s[i] = s[j];
      i = j;
    }
  }
  s[i].key = 0;
  m->count--;
  return v;
}

#endif
