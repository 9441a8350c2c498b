/* known: a program whose allocations are known exactly; tests compare the decoded trace
 * with these numbers. Must never print before the end (stdio would allocate a buffer).
 *
 *   make_table    10 x malloc(100), all freed in allocation order (the first free is
 *                 temporary by heaptrack's definition: same site as the last allocation)
 *   leak_some     3 x malloc(256), never freed: leaked 768 B in 3 blocks
 *   temp_work     5 x malloc(64) freed at once: 5 temporary
 *   calloc_some   calloc(4, 50) = 200 B and malloc(8); the malloc(8) freed at once
 *                 (1 temporary), then the calloc block
 *   realloc_chain malloc(16) -> realloc 32 -> 64 -> 128 (3 temporary: each realloc frees
 *                 the latest block), then malloc(8), free both
 *   aligned       posix_memalign(64, 100), aligned_alloc(128, 256), memalign(4096, 10),
 *                 malloc(8), all freed oldest first
 *   build_peak    malloc(1 MiB) + malloc(512 KiB) live together (1 temporary)
 * Totals: 31 allocation calls (24 malloc, 1 calloc, 3 realloc, 3 aligned), 25 frees,
 *         3 reallocs, allocated 1575782 B, temporary 11, peak 1573632 B (the 768 leaked
 *         bytes + 1.5 MiB, 5 blocks live), leaked 768 B in 3 blocks.
 */
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <stdio.h>

static void *keep[16];

__attribute__((noinline)) static void make_table(void) {
  for (int i = 0; i < 10; i++)
    keep[i] = malloc(100);
}

__attribute__((noinline)) static void free_table(void) {
  for (int i = 0; i < 10; i++)
    free(keep[i]);
}

__attribute__((noinline)) static void leak_some(void) {
  for (int i = 0; i < 3; i++) {
    char *p = malloc(256);
    memset(p, i, 256);
    keep[10 + i] = NULL; /* dropped: leaked */
    __asm__ volatile("" : : "r"(p) : "memory");
  }
}

__attribute__((noinline)) static void temp_work(void) {
  for (int i = 0; i < 5; i++) {
    volatile char *p = malloc(64);
    p[0] = 1;
    free((void *)p);
  }
}

__attribute__((noinline)) static void calloc_some(void) {
  char *c = calloc(4, 50);
  char *t = malloc(8);
  free(t);
  free(c);
}

__attribute__((noinline)) static void realloc_chain(void) {
  char *p = malloc(16);
  p = realloc(p, 32);
  p = realloc(p, 64);
  p = realloc(p, 128);
  char *q = malloc(8);
  free(p);
  free(q);
}

__attribute__((noinline)) static void aligned(void) {
  void *a = NULL;
  if (posix_memalign(&a, 64, 100) != 0)
    abort();
  void *b = aligned_alloc(128, 256);
  void *c = memalign(4096, 10);
  void *d = malloc(8);
  free(a);
  free(b);
  free(c);
  free(d);
}

__attribute__((noinline)) static void build_peak(void) {
  char *big = malloc(1 << 20);
  char *half = malloc(1 << 19);
  memset(big, 1, 1 << 20);
  memset(half, 2, 1 << 19);
  free(half);
  free(big);
}

int main(void) {
  make_table();
  free_table();
  leak_some();
  temp_work();
  calloc_some();
  realloc_chain();
  aligned();
  build_peak();
  return 0;
}
