/* crossfree: cross-thread frees under heavy contention, for the recorder's global order.
 * `crossfree THREADS PAIRS`: THREADS worker threads; worker i mallocs PAIRS blocks of
 * 16 + (k % 61) * 8 bytes in crossfree_alloc and hands each to worker i+1 (mod THREADS)
 * through a lock-free single-producer queue; every block is freed in crossfree_release by
 * the thread that received it, so each free runs on another thread than its malloc, and
 * glibc hands freed memory straight back to the other threads' mallocs.
 * Then each worker i leaks i+1 blocks of 100 * (i+1) bytes in crossfree_leak.
 * Totals from the program itself: THREADS * PAIRS malloc/free pairs, plus the leaks:
 * sum(i+1) blocks and sum(100 (i+1)^2) bytes (8 threads: 36 blocks, 20400 B).
 * (glibc's pthread_create adds its own allocation per thread; the test measures those
 * with PAIRS = 0.) Prints "crossfree <threads> <pairs> <checksum>" with write(2).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QSIZE 1024u
#define MAXT 64

typedef struct {
  _Alignas(64) _Atomic uint64_t head;
  _Alignas(64) _Atomic uint64_t tail;
  _Alignas(64) void *slot[QSIZE];
} queue_t;

static queue_t queues[MAXT]; /* queue i: from worker i to worker i+1 */
static int nthreads;
static long pairs;
static _Atomic uint64_t checksum;
static void *leaks[MAXT][MAXT];

__attribute__((noinline)) static void *crossfree_alloc(long k) {
  size_t n = 16 + (size_t)(k % 61) * 8;
  unsigned char *p = malloc(n);
  p[0] = (unsigned char)k;
  p[n - 1] = (unsigned char)(k >> 8);
  return p;
}

__attribute__((noinline)) static void crossfree_release(void *p) {
  free(p);
}

__attribute__((noinline)) static void crossfree_leak(int i) {
  for (int j = 0; j <= i; j++) {
    leaks[i][j] = malloc(100 * (size_t)(i + 1));
    memset(leaks[i][j], j, 100 * (size_t)(i + 1));
  }
}

/* take everything waiting in queue q; returns how many blocks were freed */
static long drain(queue_t *q, uint64_t *sum) {
  uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
  long n = 0;
  for (; t != h; t++, n++) {
    unsigned char *p = q->slot[t % QSIZE];
    *sum += p[0];
    crossfree_release(p);
  }
  atomic_store_explicit(&q->tail, t, memory_order_release);
  return n;
}

static void *worker(void *arg) {
  int i = (int)(intptr_t)arg;
  queue_t *out = &queues[i], *in = &queues[(i + nthreads - 1) % nthreads];
  uint64_t sum = 0;
  long received = 0;
  uint64_t h = 0;
  for (long k = 0; k < pairs; k++) {
    void *p = crossfree_alloc(k);
    while (h - atomic_load_explicit(&out->tail, memory_order_acquire) >= QSIZE) {
      long n = drain(in, &sum); /* full: free what we were sent meanwhile */
      received += n;
      if (!n)
        sched_yield(); /* let the receiver run: there may be fewer cores than threads */
    }
    out->slot[h % QSIZE] = p;
    atomic_store_explicit(&out->head, ++h, memory_order_release);
    if ((k & 63) == 0)
      received += drain(in, &sum);
  }
  while (received < pairs) {
    long n = drain(in, &sum);
    received += n;
    if (!n)
      sched_yield();
  }
  crossfree_leak(i);
  atomic_fetch_add(&checksum, sum);
  return NULL;
}

int main(int argc, char **argv) {
  nthreads = argc > 1 ? atoi(argv[1]) : 8;
  pairs = argc > 2 ? atol(argv[2]) : 1000000;
  if (nthreads < 1 || nthreads > MAXT || pairs < 0)
    return 2;
  pthread_t th[MAXT];
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0)
      return 1;
  for (int i = 0; i < nthreads; i++)
    pthread_join(th[i], NULL);
  char line[128];
  int n = snprintf(line, sizeof(line), "crossfree %d %ld %llu\n", nthreads, pairs,
                   (unsigned long long)atomic_load(&checksum));
  return write(1, line, (size_t)n) == n ? 0 : 1;
}
