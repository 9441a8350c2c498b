/* Workloads churn2/churn8: churn1's pattern on CHURN_THREADS threads, 36 M events
 * in total at scale 1, every 100th block freed by the next thread (SPSC queue).
 * Must never allocate outside the counted pattern or print besides its checksum. */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#ifndef CHURN_THREADS
#define CHURN_THREADS 2
#endif
#ifndef CHURN_NAME
#define CHURN_NAME "churn_mt"
#endif

#define TOTAL_PAIRS 18000000ULL
#define RING 1024u            /* live blocks per thread */
#define HANDOFF_EVERY 100u    /* every Nth evicted block goes to the next thread */
#define QCAP 8192u            /* SPSC queue capacity (power of two) */
#define DRAIN_EVERY 64u       /* consumer polls its queue this often */

/* Single-producer single-consumer queue: thread t produces into queue
 * (t+1) % CHURN_THREADS and consumes its own. */
typedef struct {
    _Alignas(64) _Atomic uint32_t head;   /* written by consumer */
    _Alignas(64) _Atomic uint32_t tail;   /* written by producer */
    _Alignas(64) void *slot[QCAP];
} spsc;

typedef struct {
    unsigned id;
    uint64_t pairs;
    uint64_t sum;
} worker;

static spsc queues[CHURN_THREADS];

static int spsc_push(spsc *q, void *p)
{
    uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    if (t - h == QCAP)
        return 0;
    q->slot[t & (QCAP - 1)] = p;
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return 1;
}

/* Frees everything queued for this consumer; returns how many. */
static uint64_t spsc_drain(spsc *q)
{
    uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    uint64_t n = t - h;
    for (; h != t; h++)
        free(q->slot[h & (QCAP - 1)]);
    atomic_store_explicit(&q->head, h, memory_order_release);
    return n;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    spsc *out = &queues[(w->id + 1) % CHURN_THREADS];
    spsc *in = &queues[w->id];
    bench_lcg g = { 1000003ULL * (w->id + 1) };
    unsigned char *ring[RING];
    size_t sizes[RING];
    uint64_t sum = 0, evictions = 0;

    memset(ring, 0, sizeof ring);
    for (uint64_t i = 0; i < w->pairs; i++) {
        uint32_t r = bench_next(&g);
        unsigned slot = (r >> 4) & (RING - 1);
        unsigned char *old = ring[slot];
        if (old) {
            sum += old[0] + old[sizes[slot] - 1];
            /* With one thread "next" is ourselves: keep frees local then. */
            if (CHURN_THREADS > 1 && ++evictions % HANDOFF_EVERY == 0) {
                if (!spsc_push(out, old))
                    free(old);      /* queue full: consumer is descheduled */
            } else {
                free(old);
            }
        }
        size_t sz = 16 + (bench_next(&g) % 497);
        unsigned char *p = malloc(sz);
        if (!p)
            abort();
        memset(p, (int)(r & 0xff), sz);
        p[sz - 1] = (unsigned char)(r >> 8);
        ring[slot] = p;
        sizes[slot] = sz;
        if (i % DRAIN_EVERY == 0)
            spsc_drain(in);
    }
    for (unsigned s = 0; s < RING; s++) {
        if (ring[s]) {
            sum += ring[s][0];
            free(ring[s]);
        }
    }
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t total = bench_scaled(TOTAL_PAIRS, bench_scale(argc, argv));
    pthread_t tid[CHURN_THREADS];
    worker w[CHURN_THREADS];
    uint64_t sum = 0;

    for (unsigned t = 0; t < CHURN_THREADS; t++) {
        w[t].id = t;
        w[t].pairs = total / CHURN_THREADS + (t < total % CHURN_THREADS);
        w[t].sum = 0;
        if (pthread_create(&tid[t], NULL, run_worker, &w[t]) != 0)
            return 1;
    }
    for (unsigned t = 0; t < CHURN_THREADS; t++) {
        pthread_join(tid[t], NULL);
        sum = sum * 1000003ULL + w[t].sum;
    }
    for (unsigned t = 0; t < CHURN_THREADS; t++)
        spsc_drain(&queues[t]);
    bench_checksum(CHURN_NAME, sum);
    return 0;
}
