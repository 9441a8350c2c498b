/* The writer's rank index over the live window (format.h): for every 64-bit word, the
 * set bits in the words before it in its 512-bit block, and for every block, the set
 * bits in the blocks before it in its 4096-bit group (16-bit counts, eight to a 16-byte
 * vector, moved by one vector add per push or clear). A rank is then two word lookups,
 * two block lookups and whole groups only past 4096 ordinals: no loop over words or
 * blocks whose length the branch predictor cannot guess (atr_lw_rank's walk was a third
 * of the writer's CPU on bench/churn1). The reader's select does not need it.
 * Must give exactly atr_lw_rank's answer (tests/unit/livewin.c) and depend on nothing
 * but format.h.
 */
#ifndef ATR_LWRANK_H
#define ATR_LWRANK_H

#include "alloctrace/format.h"

typedef uint16_t atr_u16x8 __attribute__((vector_size(16), may_alias));

typedef struct {
  uint16_t *pw; /* ATR_LW_WORDS: set bits in the earlier words of the word's block */
  uint16_t *pb; /* ATR_LW_BLOCKS: set bits in the earlier blocks of the block's group */
} atr_lwr_t;

/* Bytes the index needs (zeroed, 16-byte aligned: pw then pb). */
static inline size_t atr__lwr_bytes(void) {
  return (ATR_LW_WORDS + ATR_LW_BLOCKS) * sizeof(uint16_t);
}
static inline void atr__lwr_attach(atr_lwr_t *x, void *mem) {
  x->pw = (uint16_t *)mem;
  x->pb = x->pw + ATR_LW_WORDS;
}

/* Lanes after lane j: the counts an element j changes. */
#define ATR_LWR_AFTER(j)                                                                 \
  { 0 > (j), 1 > (j), 2 > (j), 3 > (j), 4 > (j), 5 > (j), 6 > (j), 7 > (j) }
static const atr_u16x8 atr__lwr_after[8] = {ATR_LWR_AFTER(0), ATR_LWR_AFTER(1),
                                            ATR_LWR_AFTER(2), ATR_LWR_AFTER(3),
                                            ATR_LWR_AFTER(4), ATR_LWR_AFTER(5),
                                            ATR_LWR_AFTER(6), ATR_LWR_AFTER(7)};

static inline void atr__lwr_move(atr_lwr_t *x, uint64_t i, int up) {
  atr_u16x8 *w = (atr_u16x8 *)(x->pw + ((i >> 9) << 3));
  atr_u16x8 *b = (atr_u16x8 *)(x->pb + ((i >> 12) << 3));
  if (up) {
    *w += atr__lwr_after[(i >> 6) & 7];
    *b += atr__lwr_after[(i >> 9) & 7];
  } else {
    *w -= atr__lwr_after[(i >> 6) & 7];
    *b -= atr__lwr_after[(i >> 9) & 7];
  }
}

/* atr_lw_push and atr_lw_clear, keeping the index in step. */
static inline void atr__lwr_push(atr_lw_t *lw, atr_lwr_t *x, uint64_t o) {
  if (atr_lw_push(lw, o))
    atr__lwr_move(x, o & ATR_LW_MASK, 1);
}
static inline void atr__lwr_clear(atr_lw_t *lw, atr_lwr_t *x, uint64_t o) {
  if (atr_lw_clear(lw, o))
    atr__lwr_move(x, o & ATR_LW_MASK, 0);
}

/* Set bits from the start of slot i's block up to and including i. */
static inline uint64_t atr__lwr_upto(const atr_lw_t *lw, const atr_lwr_t *x, uint64_t i) {
  return x->pw[i >> 6] + (uint64_t)__builtin_popcountll(lw->w[i >> 6] & (~0ull >> (63 - (i & 63))));
}

/* atr_lw_rank: live window blocks newer than o (inside the window, live), n the newest
 * ordinal. The slots (o, n] are: the rest of o's block, whole blocks to the end of its
 * group, whole groups, the blocks of n's group before n's block, n's block up to n. */
static inline uint64_t atr__lwr_rank(const atr_lw_t *lw, const atr_lwr_t *x, uint64_t o,
                                     uint64_t n) {
  const uint64_t gmask = ATR_LW_GROUPS - 1;
  uint64_t i = n & ATR_LW_MASK, s = o & ATR_LW_MASK;
  if (n - o <= (i & 63)) /* o's slot lies below n's in the same word: most temporaries */
    return (uint64_t)__builtin_popcountll((lw->w[i >> 6] & (~0ull >> (63 - (i & 63)))) >> (s & 63) >> 1);
  uint64_t ib = i >> 9, sb = s >> 9, ig = ib >> 3, sg = sb >> 3;
  uint64_t ui = atr__lwr_upto(lw, x, i), us = atr__lwr_upto(lw, x, s);
  if (ib == sb && i >= s)
    return ui - us;
  uint64_t c = ui + lw->b[sb] - us; /* (s, end of s's block] and [start of n's block, i] */
  if (ig == sg && ib > sb)
    return c + x->pb[ib] - x->pb[sb] - lw->b[sb]; /* blocks between, in one group */
  c += lw->g[sg] - x->pb[sb] - lw->b[sb] + x->pb[ib];
  for (uint64_t gi = (sg + 1) & gmask; gi != ig; gi = (gi + 1) & gmask)
    c += lw->g[gi];
  return c;
}

#endif
