/* growth_patterns: known growth patterns for `alloctrace growth` / `timeline` / `plot`.
 * Prints its own ground truth at the end with write(2) (no stdio buffer is allocated):
 * whether each realloc moved the block is the allocator's choice, so the program counts
 * moves and bytes copied itself and the test compares them with the trace.
 *
 *   grow_doubling    malloc(8), then realloc to 16, 32, ... 1 MiB: one chain of 18 sizes,
 *                    17 steps, factor 2, reserve hint 1048576; freed
 *   grow_by_half     a hand-written array of 8-byte items, capacity 16 grown by
 *                    cap += cap / 2 until 5000 items fit: malloc(128), then 15 reallocs
 *                    192, 288, 432, 648, 968, 1448, 2168, 3248, 4872, 7304, 10952, 16424,
 *                    24632, 36944, 55416; freed
 *   grow_linear      malloc(16), then 299 reallocs growing by 16 bytes to 4800: a chain
 *                    longer than ATR_CHAIN_SIZES_MAX (128), so growth --json keeps every
 *                    4th size (sizes_stride 4: 16, 80, 144, ..., 4752) plus the final
 *                    4800; factor (4800 / 16)^(1 / 299); freed
 *   reserve_up_front the same 5000 items in a buffer reserved once: malloc(40000), no
 *                    chain; freed
 *   aligned_blocks   posix_memalign(64, 1000) and aligned_alloc(4096, 8192); freed
 *   run_workload     300 rounds of ~1 ms, each: cache_put adds a 1024-byte entry to a
 *                    list that stays reachable (307200 B live at exit, growing steadily:
 *                    a leak suspect), and stable_work(i) replaces slot i % 32 with a
 *                    block of 256 + ((i % 40) * 7919) % 512 bytes: i = 0..31 fill the
 *                    slots before the rounds, i = 32..331 in them, so the site's live
 *                    bytes wander between 15496 and 16600 B with no trend (15984 B live
 *                    at exit: not a suspect)
 * Allocation calls: 18 + 16 + 300 + 1 + 2 + 32 + 300 + 300 = 969.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 300
#define SLOTS 32
#define ITEMS 5000

typedef struct {
  uint64_t moves, copied;
} truth_t;

static truth_t doubling_truth, half_truth, linear_truth;

/* realloc that records whether the block moved (the address changed). A macro, so the
 * realloc call site stays in the growing function. */
#define GROW_TO(p, old_size, new_size, t)                                                    \
  do {                                                                                     \
    uintptr_t before_ = (uintptr_t)(p);                                                    \
    void *q_ = realloc((p), (new_size));                                                   \
    if (!q_)                                                                               \
      abort();                                                                             \
    if ((uintptr_t)q_ != before_) {                                                        \
      (t)->moves++;                                                                        \
      (t)->copied += (old_size) < (new_size) ? (old_size) : (new_size);                    \
    }                                                                                      \
    (p) = q_;                                                                              \
  } while (0)

__attribute__((noinline)) static void grow_doubling(void) {
  size_t size = 8;
  char *p = malloc(size);
  p[0] = 1;
  while (size < (1u << 20)) {
    GROW_TO(p, size, size * 2, &doubling_truth);
    size *= 2;
    p[size - 1] = 1;
  }
  free(p);
}

typedef struct {
  uint64_t *items;
  size_t len, cap;
} vec_t;

__attribute__((noinline)) static void grow_by_half(void) {
  vec_t v = {malloc(16 * sizeof(uint64_t)), 0, 16};
  for (uint64_t i = 0; i < ITEMS; i++) {
    if (v.len == v.cap) {
      size_t cap = v.cap + v.cap / 2;
      GROW_TO(v.items, v.cap * sizeof(uint64_t), cap * sizeof(uint64_t), &half_truth);
      v.cap = cap;
    }
    v.items[v.len++] = i;
  }
  free(v.items);
}

__attribute__((noinline)) static void grow_linear(void) {
  size_t size = 16;
  char *p = malloc(size);
  for (int i = 0; i < 299; i++) {
    GROW_TO(p, size, size + 16, &linear_truth);
    size += 16;
    p[size - 1] = 1;
  }
  free(p);
}

__attribute__((noinline)) static void reserve_up_front(void) {
  vec_t v = {malloc(ITEMS * sizeof(uint64_t)), 0, ITEMS};
  for (uint64_t i = 0; i < ITEMS; i++)
    v.items[v.len++] = i;
  free(v.items);
}

__attribute__((noinline)) static void aligned_blocks(void) {
  void *a = NULL;
  if (posix_memalign(&a, 64, 1000) != 0)
    abort();
  void *b = aligned_alloc(4096, 8192);
  memset(a, 0, 1000);
  memset(b, 0, 8192);
  free(a);
  free(b);
}

struct entry {
  struct entry *next;
  char payload[1024 - sizeof(struct entry *)];
};
static struct entry *cache; /* reachable until exit: never freed */
static void *slots[SLOTS];  /* likewise */

__attribute__((noinline)) static void cache_put(int i) {
  struct entry *e = malloc(sizeof(*e));
  e->payload[0] = (char)i;
  e->next = cache;
  cache = e;
}

__attribute__((noinline)) static void stable_work(int i) {
  free(slots[i % SLOTS]);
  slots[i % SLOTS] = malloc(256 + (size_t)((i % 40) * 7919) % 512);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double loop_seconds;

__attribute__((noinline)) static void run_workload(void) {
  for (int i = 0; i < SLOTS; i++)
    stable_work(i);
  double t0 = now();
  for (int i = 0; i < ROUNDS; i++) {
    cache_put(i);
    stable_work(SLOTS + i);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  loop_seconds = now() - t0;
}

int main(void) {
  grow_doubling();
  grow_by_half();
  grow_linear();
  reserve_up_front();
  aligned_blocks();
  run_workload();
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "doubling_moves=%llu doubling_copied=%llu half_moves=%llu half_copied=%llu "
                   "linear_moves=%llu linear_copied=%llu loop_ms=%.0f\n",
                   (unsigned long long)doubling_truth.moves,
                   (unsigned long long)doubling_truth.copied,
                   (unsigned long long)half_truth.moves, (unsigned long long)half_truth.copied,
                   (unsigned long long)linear_truth.moves,
                   (unsigned long long)linear_truth.copied, loop_seconds * 1000);
  if (write(1, buf, (size_t)n) != n)
    return 1;
  return 0;
}
