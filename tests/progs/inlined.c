/* inlined: allocations whose call site is an inlined function, for the pprof test (each
 * inlined frame must be a Line of the caller's Location). Built with -O2; must never print
 * before the end (stdio would allocate a buffer).
 *
 *   take(n)    always inlined: malloc(n)
 *   fill()     4 x take(1000), each freed at once: 4 allocations, 4000 B, 4 temporary
 *   keep()     take(24) once, never freed: leaked 24 B in 1 block
 * Totals: 5 allocations, 4024 B, temporary 4, peak 1024 B (the 24 kept + one 1000), leaked
 *         24 B in 1 block.
 */
#include <stdlib.h>

static void *volatile sink;

static inline __attribute__((always_inline)) void *take(size_t n) {
  void *p = malloc(n);
  sink = p;
  return p;
}

__attribute__((noinline)) static void keep(void) {
  take(24);
}

__attribute__((noinline)) static void fill(void) {
  for (int i = 0; i < 4; i++)
    free(take(1000));
}

int main(void) {
  keep();
  fill();
  return 0;
}
