/* In-process stack interning: a lock-free open-addressing table of instruction-pointer
 * arrays shared by all threads. A known stack costs one hash and one probe, writes no
 * shared memory; only a new stack appends to the arena. Never allocates from the heap:
 * the table and arena are in the shared region (shm.h), where the recorder reads them,
 * touched as they fill; the arena's 8 MiB segments are mapped as stacks reach them.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "shm.h"

#define SLOT_BITS ATR_ST_SLOT_BITS
#define SLOTS ATR_ST_SLOTS
#define MAX_STACKS ATR_ST_MAX
#define ARENA_WORDS ATR_ST_ARENA_WORDS

/* entry layout in the arena: [hash][n][ip_0 (innermost) ... ip_n-1], never across a
 * segment's end; arena offset 0 means "none" (the header's stacks_used starts at 1). The
 * table's addresses stay the same in a fork child: its region replaces its parent's at
 * the same place (shm.c); the segments are the child's own. */
static _Atomic uint32_t *slots;
static uint64_t *offsets; /* stack id -> arena word offset */
static uint64_t *_Atomic seg[ATR_ST_SEGS]; /* this image's mapping of each segment */

/* An arena word: one load from a table of 256 that stays in cache, a shift and a mask
 * more than one flat arena (which cost 2 GiB of address space in every process). */
static inline const uint64_t *entry(uint64_t off) {
  return atomic_load_explicit(&seg[off >> ATR_ST_SEG_SHIFT], memory_order_acquire) +
         (off & (ATR_ST_SEG_WORDS - 1));
}

/* Segment k: mapped, its offset published for the recorder. Two threads (or a thread and
 * its signal handler) may race for it, neither waiting for the other: the loser's
 * mapping goes and its reservation is kept as the spare, which the next segment takes
 * before reserving more of the file (so that races do not eat the room RLIMIT_FSIZE
 * left). */
static _Atomic uint64_t spare; /* a reserved segment's file offset, 0: none */

static uint64_t *seg_map(uint32_t k) {
  uint64_t *s = atomic_load_explicit(&seg[k], memory_order_acquire);
  if (s)
    return s;
  uint64_t off = atomic_exchange(&spare, 0), z = 0;
  uint64_t *p = off ? atr__shm_map_piece(off, ATR_ST_SEG_BYTES)
                    : atr__shm_piece(ATR_ST_SEG_BYTES, &off);
  if (!p) {
    if (off)
      atomic_compare_exchange_strong(&spare, &z, off);
    return NULL;
  }
  if (!atomic_compare_exchange_strong(&seg[k], &s, p)) {
    munmap(p, ATR_ST_SEG_BYTES);
    atomic_compare_exchange_strong(&spare, &z, off);
    return s;
  }
  atomic_store_explicit(&atr__shmh->seg_off[k], off, memory_order_release);
  return p;
}

int atr__stacktab_init(void) {
  if (!atr__shm)
    return -1;
  slots = atr_shm_slots(atr__shm);
  offsets = atr_shm_offsets(atr__shm);
  for (uint32_t k = 0; k < ATR_ST_SEGS; k++) { /* a fork child: the parent's segments */
    uint64_t *p = atomic_exchange(&seg[k], NULL);
    if (p)
      munmap(p, ATR_ST_SEG_BYTES);
  }
  atomic_store(&spare, 0);
  atomic_store(&atr__shmh->stacks_used, 1);
  seg_map(0); /* if there is no room for it, stacks in it are dropped (insert) */
  return 0;
}

static inline uint64_t hash_ips(const uintptr_t *ips, int n) {
  uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < n; i++) {
    h ^= ips[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  return h;
}

/* A word loop, not memcmp: stacks are a few words and libc's memcmp call and dispatch
 * cost more than the compare (a quarter of a traced thread's time in a profile). */
static inline int same(uint32_t id, uint64_t h, const uintptr_t *ips, int n) {
  const uint64_t *e = entry(offsets[id]);
  if (e[0] != h || e[1] != (uint64_t)n)
    return 0;
  for (int i = 0; i < n; i++)
    if (e[2 + i] != ips[i])
      return 0;
  return 1;
}

static ATR_NOINLINE uint32_t insert(uint32_t i, uint64_t h, const uintptr_t *ips, int n) {
  uint64_t need = (uint64_t)n + 2, off;
  do /* an entry never crosses a segment's end: the words skipped stay unused */
    off = atomic_fetch_add(&atr__shmh->stacks_used, need);
  while (off >> ATR_ST_SEG_SHIFT != (off + need - 1) >> ATR_ST_SEG_SHIFT &&
         off + need <= ARENA_WORDS);
  uint32_t id = atomic_fetch_add(&atr__shmh->nstacks, 1) + 1;
  uint64_t *s = off + need > ARENA_WORDS || id > MAX_STACKS ? NULL : seg_map((uint32_t)(off >> ATR_ST_SEG_SHIFT));
  if (!s) {
    atomic_fetch_add(&atr__shmh->stack_drops, 1);
    return 0;
  }
  uint64_t *e = s + (off & (ATR_ST_SEG_WORDS - 1));
  e[0] = h;
  e[1] = (uint64_t)n;
  memcpy(e + 2, ips, (size_t)n * sizeof(*ips));
  offsets[id] = off;
  for (;;) {
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&slots[i], &expected, id, memory_order_release,
                                                memory_order_acquire))
      return id;
    /* another thread filled this slot first: maybe with the same stack */
    if (same(expected, h, ips, n))
      return expected; /* our entry stays unused; the writer never sees its id */
    i = (i + 1) & (SLOTS - 1);
  }
}

uint32_t atr__stack_intern(const uintptr_t *ips, int n) {
  uint64_t h = hash_ips(ips, n);
  uint32_t i = (uint32_t)(h >> (64 - SLOT_BITS));
  for (;;) {
    uint32_t id = atomic_load_explicit(&slots[i], memory_order_acquire);
    if (ATR_UNLIKELY(id == 0))
      return insert(i, h, ips, n);
    if (ATR_LIKELY(same(id, h, ips, n)))
      return id;
    i = (i + 1) & (SLOTS - 1);
  }
}

