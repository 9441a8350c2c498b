/* Unit test of the live window (format.h) and the writer's rank index over it
 * (libtrace/recorder/lwrank.h): rank, the index's rank and select against a Fenwick-tree
 * reference over millions of allocations and frees, across the window's wrap-around and
 * its 4096-bit group counts, with blocks pushed out of the window and blocks freed in
 * its oldest slots. Prints TAP.
 * Must never depend on anything but format.h, lwrank.h and libc.
 */
#include <stdio.h>
#include <stdlib.h>

#include "alloctrace/format.h"
#include "../../libtrace/recorder/lwrank.h"

#define MAXORD (3u * ATR_LW_SIZE + 1000u)

static uint32_t *fen; /* reference: live ordinals, all of them */

static void fen_add(uint64_t i, int d) {
  for (; i <= MAXORD; i += i & (0 - i))
    fen[i] += (uint32_t)d;
}
static uint64_t fen_sum(uint64_t i) {
  uint64_t s = 0;
  for (; i > 0; i -= i & (0 - i))
    s += fen[i];
  return s;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(void) {
  fen = calloc(MAXORD + 1, sizeof(*fen));
  uint64_t *live = malloc(sizeof(uint64_t) * 200000); /* live ordinals, unordered */
  void *mem = calloc(1, atr_lw_bytes());
  void *imem = calloc(1, atr__lwr_bytes());
  if (!fen || !live || !mem || !imem)
    return 1;
  atr_lw_t lw;
  atr_lw_attach(&lw, mem);
  atr_lwr_t lwr;
  atr__lwr_attach(&lwr, imem);
  uint64_t ibad = 0;
  uint64_t n = 0, nlive = 0, checked = 0, outside = 0, bad = 0;
  /* phases: pool size target changes so frees are near (temporaries), far (pools)
   * and outside the window (long-lived blocks from the start) */
  static const uint64_t target[] = {4, 5000, 150000, 2, 60000, 1};
  int ntarget = (int)(sizeof(target) / sizeof(target[0]));
  uint64_t keep_old = 50; /* the first blocks live until the end */
  /* one block in 4096 (at slot 3000 of a group) lives until it is among the window's
   * oldest, 100 slots past the newest block in its group (the end of select's walk and of
   * the rank index's group loop) */
  static uint64_t aged[1024];
  uint64_t aged_head = 0, aged_tail = 0, aged_o = 0;
  while (n < MAXORD - 10) {
    uint64_t want = target[(n * ntarget) / MAXORD];
    int do_alloc = nlive <= keep_old || (nlive < want ? (next() % 8) != 0 : (next() % 8) == 0);
    uint64_t o;
    if (aged_head != aged_tail && n - aged[aged_tail % 1024] >= ATR_LW_SIZE - 100) {
      o = aged[aged_tail++ % 1024];
      goto check;
    }
    if (do_alloc && nlive < 200000) {
      n++;
      atr__lwr_push(&lw, &lwr, n);
      fen_add(n, 1);
      if ((n & 4095) == 3000 && aged_head - aged_tail < 1024)
        aged[aged_head++ % 1024] = n;
      else
        live[nlive++] = n;
      continue;
    }
    uint64_t i = keep_old + next() % (nlive - keep_old);
    if (keep_old > 0 && n > 2 * ATR_LW_SIZE && (next() % 1000) == 0)
      i = next() % keep_old; /* an old block, long out of the window */
    o = live[i];
    live[i] = live[--nlive];
    if (i < keep_old && nlive >= keep_old) { /* keep the old ones at the front */
      live[i] = live[keep_old - 1];
      live[keep_old - 1] = live[nlive];
      keep_old--;
    }
  check:
    fen_add(o, -1);
    if (!atr_lw_inside(o, n)) {
      outside++;
      continue;
    }
    uint64_t want_rank = fen_sum(n) - fen_sum(o);
    uint64_t r = atr_lw_rank(&lw, o, n);
    aged_o += ((o & ATR_LW_MASK) >> 12) == ((n & ATR_LW_MASK) >> 12) &&
              (o & ATR_LW_MASK) > (n & ATR_LW_MASK);
    uint64_t ri = atr__lwr_rank(&lw, &lwr, o, n);
    if (ri != want_rank && ibad++ < 5)
      printf("# ordinal %llu newest %llu: index rank %llu (want %llu)\n", (unsigned long long)o,
             (unsigned long long)n, (unsigned long long)ri, (unsigned long long)want_rank);
    uint64_t back = atr_lw_select(&lw, r, n);
    if (r != want_rank || back != o) {
      if (bad++ < 5)
        printf("# ordinal %llu newest %llu: rank %llu (want %llu), select -> %llu\n",
               (unsigned long long)o, (unsigned long long)n, (unsigned long long)r,
               (unsigned long long)want_rank, (unsigned long long)back);
    }
    atr__lwr_clear(&lw, &lwr, o);
    checked++;
  }
  /* a rank past the live window blocks names nothing */
  uint64_t in_window = 0;
  for (uint64_t i = 0; i < nlive; i++)
    in_window += atr_lw_inside(live[i], n);
  for (uint64_t i = aged_tail; i != aged_head; i++)
    in_window += atr_lw_inside(aged[i % 1024], n);
  printf("1..5\n");
  printf("%s 1 - rank and select agree with the reference on %llu frees\n", bad ? "not ok" : "ok",
         (unsigned long long)checked);
  printf("%s 2 - the rank index agrees with the reference on the same frees\n",
         ibad ? "not ok" : "ok");
  printf("%s 3 - %llu frees of blocks outside the window were exercised\n",
         outside > 0 ? "ok" : "not ok", (unsigned long long)outside);
  printf("%s 4 - select past the %llu live window blocks finds nothing\n",
         atr_lw_select(&lw, in_window, n) == 0 && atr_lw_select(&lw, in_window - 1, n) != 0
             ? "ok"
             : "not ok",
         (unsigned long long)in_window);
  printf("%s 5 - %llu frees in the oldest slots of the window\n", aged_o ? "ok" : "not ok",
         (unsigned long long)aged_o);
  free(fen);
  free(live);
  free(mem);
  free(imem);
  return bad != 0 || ibad != 0;
}
