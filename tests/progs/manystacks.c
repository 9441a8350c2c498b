/* manystacks: a flame-graph size and speed workload. Allocation i walks a call path
 * chosen by the low 17 bits of i through 17 distinct noinline functions (f0..f16, each
 * called only when its bit is set), so the run has 2^17 = 131072 distinct stacks.
 * Must never print before the end (stdio would allocate a buffer).
 *
 *   manystacks [N]   N allocations (default 1,000,000) of 16 + (i % 97) * 8 bytes;
 *                    each block is freed 1000 allocations later (a sliding live set),
 *                    every 4096th block is never freed (leaked).
 * Totals: N allocations and frees of all but the leaked blocks: block j leaks when
 * j % 4096 == 0 and j + 1000 < N (244 blocks for N = 1,000,000; `manystacks N -v` prints it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS 17
#define WINDOW 1000

static void *ring[WINDOW];
static unsigned long counter;

typedef void (*step_fn)(unsigned bits, int level);
static step_fn steps[LEVELS];

__attribute__((noinline)) static void leaf_alloc(void) {
  unsigned long i = counter++;
  size_t slot = i % WINDOW;
  void *old = ring[slot];
  ring[slot] = malloc(16 + (i % 97) * 8);
  /* every 4096th block is dropped instead of freed: a leak with a known count */
  if (old && ((i - WINDOW) % 4096) != 0)
    free(old);
}

/* Calls the function of the next set bit at or above `level`, or allocates. */
__attribute__((noinline)) static void next(unsigned bits, int level) {
  while (level < LEVELS && !(bits & (1u << level)))
    level++;
  if (level == LEVELS)
    leaf_alloc();
  else
    steps[level](bits, level + 1);
  __asm__ volatile("" ::: "memory"); /* no tail call: every frame stays on the stack */
}

#define STEP(k)                                                                              \
  __attribute__((noinline)) static void f##k(unsigned bits, int level) {                    \
    next(bits, level);                                                                       \
    __asm__ volatile("" ::: "memory");                                                       \
  }
STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10)
STEP(11) STEP(12) STEP(13) STEP(14) STEP(15) STEP(16)

int main(int argc, char **argv) {
  unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000ul;
  step_fn all[LEVELS] = {f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16};
  memcpy(steps, all, sizeof(all));
  for (unsigned long i = 0; i < n; i++)
    next((unsigned)(i & ((1u << LEVELS) - 1)), 0);
  unsigned long leaked = 0;
  for (size_t s = 0; s < WINDOW; s++)
    free(ring[s]);
  for (unsigned long i = 0; i + WINDOW < n; i++)
    leaked += (i % 4096) == 0;
  if (argc > 2 && strcmp(argv[2], "-v") == 0)
    printf("allocations %lu leaked_blocks %lu\n", n, leaked);
  return 0;
}
