/* phases: allocates in separate bursts with idle gaps, so the recorder ends one zstd
 * frame per burst (it ends a frame whenever its rings run dry). Tests cut and damage
 * such multi-frame traces. Must never print (stdio would allocate).
 *
 *   phase p = 0..N-1 (N = argv[1], default 4): 20 x malloc(32 + p), 10 of them freed
 *   at once, then 30 ms asleep. Totals: 20*N allocations, 10*N frees, leaked 10*N blocks.
 */
#include <stdlib.h>
#include <time.h>

static void *keep[4096];

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4;
  if (n < 1 || n > 200)
    return 2;
  for (int p = 0; p < n; p++) {
    for (int i = 0; i < 20; i++) {
      void *b = malloc(32 + (size_t)p);
      if (i % 2)
        free(b);
      else
        keep[p * 10 + i / 2] = b;
    }
    struct timespec d = {0, 30 * 1000 * 1000};
    nanosleep(&d, NULL);
  }
  return 0;
}
