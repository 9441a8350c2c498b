/* replay_mt: four worker threads that free, realloc and hand over each other's blocks;
 * the multi-threaded subject of the replay tests. Must never print or allocate outside
 * the pattern below (pthread_create's own thread-descriptor callocs aside).
 *
 * Worker w (0..3), size(w, i) = 16 + (w * 131 + i * 37) % 2000:
 *   A  400 blocks box[w][i] of size(w, i): posix_memalign(64) when i % 10 == 0,
 *      aligned_alloc(128) when i % 10 == 5 (size rounded up to a multiple of 128, as C11
 *      asks), malloc otherwise; one malloc(256 KiB)
 *      -- barrier: every block of every worker is live (the peak) --
 *   B  neighbour n = (w + 1) % 4: free box[n][i] for even i, realloc box[n][i] to half
 *      its size for i % 4 == 1, free n's 256 KiB block      -- barrier --
 *   C  free box[(w + 2) % 4][i] for odd i except i = 399 (leaked: 4 blocks)
 *   D  2000 x malloc(24 + j % 64) handed to the next worker through a locked queue,
 *      which frees them: a fine-grained cross-thread interleaving
 * Before the workers start, the main thread calls the rarer entry points once each and
 * frees the blocks: valloc(100), pvalloc(5000), memalign(256, 300), reallocarray(NULL,
 * 10, 8) grown by reallocarray to 20 x 8 (5 calls, 5,640 bytes, 4 frees, 1 realloc).
 * Totals without pthread's callocs: 10009 allocation calls (9284 malloc, 160
 * posix_memalign, 160 aligned_alloc, 400 realloc, 2 reallocarray, 1 each of valloc,
 * pvalloc, memalign), 9604 frees, 401 reallocs, 3,302,072 bytes allocated, 3,902 bytes
 * leaked in 4 blocks; at the peak 2,652,064 bytes are live (phase A: 1,603,488 +
 * 4 x 262,144).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define W 4
#define N 400
#define HANDED 2000
#define QCAP 64
#define BIG (256 << 10)

static void *box[W][N], *big[W];
static size_t sizes[W][N];
static pthread_barrier_t barrier;

typedef struct {
  pthread_mutex_t lock;
  void *item[QCAP];
  unsigned head, tail;
} queue_t;
static queue_t queues[W];

static size_t size_of(int w, int i) {
  size_t s = 16 + (size_t)((w * 131 + i * 37) % 2000);
  return i % 10 == 5 ? (s + 127) / 128 * 128 : s;
}

__attribute__((noinline)) static void phase_a(int w) {
  for (int i = 0; i < N; i++) {
    size_t s = sizes[w][i] = size_of(w, i);
    void *p = NULL;
    if (i % 10 == 0) {
      if (posix_memalign(&p, 64, s) != 0)
        abort();
    } else if (i % 10 == 5) {
      p = aligned_alloc(128, s);
    } else {
      p = malloc(s);
    }
    memset(p, w, s);
    box[w][i] = p;
  }
  big[w] = malloc(BIG);
  memset(big[w], w, BIG);
}

__attribute__((noinline)) static void phase_b(int w) {
  int n = (w + 1) % W;
  for (int i = 0; i < N; i++) {
    if (i % 2 == 0) {
      free(box[n][i]);
      box[n][i] = NULL;
    } else if (i % 4 == 1) {
      box[n][i] = realloc(box[n][i], sizes[n][i] / 2);
    }
  }
  free(big[n]);
}

__attribute__((noinline)) static void phase_c(int w) {
  int n = (w + 2) % W;
  for (int i = 1; i < N - 1; i += 2)
    free(box[n][i]);
}

static int push(queue_t *q, void *p) {
  pthread_mutex_lock(&q->lock);
  int ok = q->tail - q->head < QCAP;
  if (ok)
    q->item[q->tail++ % QCAP] = p;
  pthread_mutex_unlock(&q->lock);
  return ok;
}

static void *pop(queue_t *q) {
  pthread_mutex_lock(&q->lock);
  void *p = q->tail != q->head ? q->item[q->head++ % QCAP] : NULL;
  pthread_mutex_unlock(&q->lock);
  return p;
}

__attribute__((noinline)) static void phase_d(int w) {
  queue_t *out = &queues[(w + 1) % W], *in = &queues[w];
  int made = 0, freed = 0;
  void *pending = NULL;
  while (made < HANDED || freed < HANDED) {
    if (made < HANDED) {
      if (!pending) {
        pending = malloc(24 + (size_t)(made % 64));
        memset(pending, 1, 24);
      }
      if (push(out, pending)) {
        pending = NULL;
        made++;
      }
    }
    void *p = pop(in);
    if (p) {
      free(p);
      freed++;
    }
  }
}

__attribute__((noinline)) static void rare_entry_points(void) {
  void *v = valloc(100), *pv = pvalloc(5000), *m = memalign(256, 300);
  void *ra = reallocarray(NULL, 10, 8);
  ra = reallocarray(ra, 20, 8);
  memset(ra, 0, 160);
  free(v);
  free(pv);
  free(m);
  free(ra);
}

static void *worker(void *arg) {
  int w = (int)(long)arg;
  phase_a(w);
  pthread_barrier_wait(&barrier);
  phase_b(w);
  pthread_barrier_wait(&barrier);
  phase_c(w);
  pthread_barrier_wait(&barrier);
  phase_d(w);
  return NULL;
}

int main(void) {
  pthread_t th[W];
  rare_entry_points();
  pthread_barrier_init(&barrier, NULL, W);
  for (int w = 0; w < W; w++)
    pthread_mutex_init(&queues[w].lock, NULL);
  for (long w = 0; w < W; w++)
    pthread_create(&th[w], NULL, worker, (void *)w);
  for (int w = 0; w < W; w++)
    pthread_join(th[w], NULL);
  return 0;
}
