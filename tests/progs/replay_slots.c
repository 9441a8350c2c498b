/* replay_slots: a trace whose block slots (replay_ops.h: reused LIFO) each hold one big
 * block at some time, one after the other: the recorded peak is one big block, while the
 * deps order, which orders only the ops of one slot, could hold all of them at once.
 * Must never print or allocate outside the pattern below (pthread_create's own
 * thread-descriptor calloc aside).
 *
 *   main   16 x malloc(64) kept: small[0..15]
 *          for i in 0..15: free(small[i]); big = malloc(16 MiB), every page written;
 *          free(big); small[i] = malloc(64)   (LIFO: big and the new small[i] take the
 *          slot small[i] freed, so 16 slots see a 16 MiB block each)
 *   worker one thread, joined: malloc(64), free
 *   main   frees small[0..15]
 * Totals without pthread's calloc: 34 allocation calls (malloc), 34 frees, 16 x 16 MiB +
 * 33 x 64 bytes allocated; peak 16 MiB + 16 x 64 B; nothing leaked.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BIG (16u << 20)

static void *worker(void *arg) {
  (void)arg;
  free(malloc(64));
  return NULL;
}

int main(void) {
  void *small[16];
  for (int i = 0; i < 16; i++)
    small[i] = malloc(64);
  for (int i = 0; i < 16; i++) {
    free(small[i]);
    char *big = malloc(BIG);
    if (!big)
      return 1;
    memset(big, i, BIG);
    free(big);
    small[i] = malloc(64);
  }
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
    return 1;
  for (int i = 0; i < 16; i++)
    free(small[i]);
  return 0;
}
