/* unhooked: one batch through each aligned/array entry point and realloc(p, 0), for
 * tests/cli/heaptrack_artifact.sh. Must never print (stdio would allocate).
 *
 *   10 x memalign(64, 1000)        heaptrack 1.4 does not hook memalign
 *   10 x pvalloc(1000)             nor pvalloc (4096 B each after rounding; we record 1000)
 *   10 x valloc(1000)              hooked
 *   10 x reallocarray(NULL, 10, 100) seen by heaptrack through glibc's call to realloc
 *   10 x aligned_alloc(64, 1024)   hooked
 *   10 x posix_memalign(64, 1000)  hooked
 *   each block freed at once (10 temporary per batch: same site as the latest allocation)
 *   5 x malloc(100) then realloc(p, 0): glibc frees p and returns NULL; heaptrack records
 *       nothing for a NULL return, so to it those 5 blocks (500 B) leak.
 * Totals here: 65 allocation calls, 60 frees, 5 reallocs to size 0, leaked 0.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>

static void *keep;

int main(void) {
  for (int batch = 0; batch < 6; batch++) {
    for (int i = 0; i < 10; i++) {
      void *p = NULL;
      switch (batch) {
      case 0: p = memalign(64, 1000); break;
      case 1: p = pvalloc(1000); break;
      case 2: p = valloc(1000); break;
      case 3: p = reallocarray(NULL, 10, 100); break;
      case 4: p = aligned_alloc(64, 1024); break;
      case 5:
        if (posix_memalign(&p, 64, 1000) != 0)
          return 1;
        break;
      }
      if (!p)
        return 1;
      keep = p;
      free(p);
    }
  }
  for (int i = 0; i < 5; i++) {
    void *p = malloc(100);
    keep = realloc(p, 0);
  }
  return keep != NULL;
}
