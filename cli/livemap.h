/* Live-block table of the reader and analyses: allocation ordinal -> 32-bit value,
 * open addressing with backward-shift deletion. Sized by live blocks only.
 * (The recorder has its own map in libtrace/u64map.h: the CLI shares only format.h.)
 */
#ifndef ATR_LIVEMAP_H
#define ATR_LIVEMAP_H

#include <stdint.h>
#include <stdlib.h>

typedef struct {
  uint64_t key; /* 0 = empty */
  uint32_t val;
} atr_live_slot_t;

typedef struct {
  atr_live_slot_t *s;
  uint64_t mask, count;
} atr_livemap_t;

static inline uint64_t atr_live_hash(uint64_t k) {
  k ^= k >> 33; /* murmur3 finaliser: ordinals are sequential, spread every bit */
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return k;
}

static inline int atr_live_init(atr_livemap_t *m, uint64_t cap) {
  m->s = calloc(cap, sizeof(*m->s));
  m->mask = cap - 1;
  m->count = 0;
  return m->s ? 0 : -1;
}

static inline int atr_live_grow(atr_livemap_t *m) {
  atr_livemap_t n;
  if (atr_live_init(&n, (m->mask + 1) * 2) != 0)
    return -1;
  for (uint64_t i = 0; i <= m->mask; i++) {
    if (!m->s[i].key)
      continue;
    uint64_t j = atr_live_hash(m->s[i].key) & n.mask;
    while (n.s[j].key)
      j = (j + 1) & n.mask;
    n.s[j] = m->s[i];
  }
  n.count = m->count;
  free(m->s);
  *m = n;
  return 0;
}

static inline int atr_live_put(atr_livemap_t *m, uint64_t key, uint32_t val) {
  if ((m->count + 1) * 2 > m->mask + 1 && atr_live_grow(m) != 0)
    return -1;
  uint64_t i = atr_live_hash(key) & m->mask;
  while (m->s[i].key && m->s[i].key != key)
    i = (i + 1) & m->mask;
  if (!m->s[i].key)
    m->count++;
  m->s[i].key = key;
  m->s[i].val = val;
  return 0;
}

static inline const atr_live_slot_t *atr_live_find(const atr_livemap_t *m, uint64_t key) {
  for (uint64_t i = atr_live_hash(key) & m->mask;; i = (i + 1) & m->mask) {
    if (m->s[i].key == key)
      return &m->s[i];
    if (!m->s[i].key)
      return NULL;
  }
}

/* Removes key; returns 1 and its value in *val when it was present. */
static inline int atr_live_take(atr_livemap_t *m, uint64_t key, uint32_t *val) {
  uint64_t i = atr_live_hash(key) & m->mask;
  while (m->s[i].key != key) {
    if (!m->s[i].key)
      return 0;
    i = (i + 1) & m->mask;
  }
  *val = m->s[i].val;
  for (uint64_t j = (i + 1) & m->mask; m->s[j].key; j = (j + 1) & m->mask) {
    uint64_t home = atr_live_hash(m->s[j].key) & m->mask;
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      m->s[i] = m->s[j];
      i = j;
    }
  }
  m->s[i].key = 0;
  m->count--;
  return 1;
}

/* The live set of a trace: blocks are named by sequential allocation ordinals, so the
 * recent ones live in a direct-mapped window (one array access per event) and only
 * blocks that outlive `window` (up to 2^16) later allocations move to the hash map.
 * 2^16 slots (256 KiB) stay in L2 as allocations sweep through them; 2^20 (4 MiB) did
 * not: summary took 2-5% longer on bench churn1 and cxx, 12% on cxxdeep (perf stat
 * task-clock, means of 10 runs, repeated 2-3 times), the same on deep40, rust and churn8
 * (+1%). */
#define ATR_LIVE_WINDOW (1u << 16)

typedef struct {
  uint32_t *win;    /* site of ordinal o at win[o & mask], 0 = not live */
  uint64_t mask;    /* window size - 1 */
  uint64_t last;    /* newest ordinal */
  atr_livemap_t old;
} atr_liveset_t;

/* window: a power of two; small traces take a small one (a large calloc is not free
 * under AddressSanitizer or in a fuzzer's loop) */
static inline int atr_liveset_init(atr_liveset_t *l, uint64_t window) {
  l->win = calloc(window, sizeof(uint32_t));
  l->mask = window - 1;
  l->last = 0;
  return l->win && atr_live_init(&l->old, 1024) == 0 ? 0 : -1;
}

static inline void atr_liveset_free(atr_liveset_t *l) {
  free(l->win);
  free(l->old.s);
}

/* The block leaving the window is still live: it moves to the hash map. */
static __attribute__((noinline)) int atr_liveset_evict(atr_liveset_t *l, uint64_t ordinal,
                                                       uint32_t site) {
  return atr_live_put(&l->old, ordinal - (l->mask + 1), site);
}

/* ordinal must be last + 1 */
static inline int atr_liveset_add(atr_liveset_t *l, uint64_t ordinal, uint32_t site) {
  uint32_t *slot = &l->win[ordinal & l->mask];
  if (__builtin_expect(*slot != 0, 0) && atr_liveset_evict(l, ordinal, *slot) != 0)
    return -1;
  *slot = site;
  l->last = ordinal;
  return 0;
}

static inline uint32_t atr_liveset_get(const atr_liveset_t *l, uint64_t ordinal) {
  if (ordinal == 0 || ordinal > l->last)
    return 0;
  if (l->last - ordinal <= l->mask)
    return l->win[ordinal & l->mask];
  const atr_live_slot_t *s = atr_live_find(&l->old, ordinal);
  return s ? s->val : 0;
}

/* Removes a live block; returns its site, 0 when it was not live. */
static inline uint32_t atr_liveset_take(atr_liveset_t *l, uint64_t ordinal) {
  if (ordinal == 0 || ordinal > l->last)
    return 0;
  if (l->last - ordinal <= l->mask) {
    uint32_t *slot = &l->win[ordinal & l->mask];
    uint32_t v = *slot;
    *slot = 0;
    return v;
  }
  uint32_t v;
  return atr_live_take(&l->old, ordinal, &v) ? v : 0;
}

#endif
