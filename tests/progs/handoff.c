/* handoff: two threads pass blocks hand to hand as fast as they can: the producer
 * mallocs a block and publishes it, the consumer frees it the moment it sees it, then
 * the producer makes the next. N handoffs (argv[1], default 300000) of 16 + (k % 64)
 * bytes, nothing leaked. The tightest cross-thread order a tracer can be asked for: a
 * free stamped before the load that got its pointer shows as an unknown free.
 * With argv[2] = "realloc" the producer grows every odd block with realloc before
 * publishing it and the consumer shrinks every third one before freeing it: N / 2 +
 * (N + 2) / 3 reallocs more, the handoffs then also pass through realloc's two halves.
 * Must never print more than its one result line.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static _Atomic(unsigned char *) slot;
static long n = 300000;
static int use_realloc;

static void *consumer(void *arg) {
  (void)arg;
  unsigned long sum = 0;
  for (long k = 0; k < n; k++) {
    unsigned char *p;
    while (!(p = atomic_load_explicit(&slot, memory_order_acquire)))
      ;
    sum += p[0];
    atomic_store_explicit(&slot, NULL, memory_order_relaxed);
    if (use_realloc && k % 3 == 0) {
      unsigned char *q = realloc(p, 8);
      if (q)
        p = q;
    }
    free(p);
  }
  return (void *)sum;
}

int main(int argc, char **argv) {
  if (argc > 1)
    n = atol(argv[1]);
  use_realloc = argc > 2 && argv[2][0] == 'r';
  pthread_t t;
  if (pthread_create(&t, NULL, consumer, NULL) != 0)
    return 1;
  for (long k = 0; k < n; k++) {
    while (atomic_load_explicit(&slot, memory_order_relaxed))
      ;
    unsigned char *p = malloc(16 + (size_t)(k % 64));
    if (use_realloc && k % 2) {
      unsigned char *q = p ? realloc(p, 100 + (size_t)(k % 64)) : NULL;
      if (!q)
        return 1;
      p = q;
    }
    if (!p)
      return 1;
    p[0] = (unsigned char)k;
    atomic_store_explicit(&slot, p, memory_order_release);
  }
  void *sum;
  pthread_join(t, &sum);
  printf("handoff %ld %lu\n", n, (unsigned long)sum);
  return 0;
}
