/* Workload churn1: single-threaded small malloc/free churn, 10 M pairs
 * (20 M events at scale 1) with sizes 16..512 and ~1000 live blocks.
 * Must never print more than its checksum line or vary from run to run. */
#include "bench_common.h"

#include <string.h>

#define RING 1024u          /* live blocks kept (power of two) */
#define PAIRS 10000000ULL   /* malloc+free pairs at scale 1.0 */

int main(int argc, char **argv)
{
    uint64_t n = bench_scaled(PAIRS, bench_scale(argc, argv));
    bench_lcg g = { 12345 };
    unsigned char *ring[RING];
    size_t sizes[RING];
    uint64_t sum = 0;
    uint64_t allocs = 0;

    memset(ring, 0, sizeof ring);
    memset(sizes, 0, sizeof sizes);
    for (uint64_t i = 0; i < n; i++) {
        /* Evict a pseudo-random slot so lifetimes vary (not a plain FIFO). */
        uint32_t r = bench_next(&g);
        unsigned slot = (r >> 4) & (RING - 1);
        if (ring[slot]) {
            sum += ring[slot][0] + ring[slot][sizes[slot] - 1];
            free(ring[slot]);
        }
        size_t sz = 16 + (bench_next(&g) % 497);
        unsigned char *p = malloc(sz);
        if (!p)
            return 1;
        allocs++;
        /* Touch the whole block, as real code initialises what it gets. */
        memset(p, (int)(r & 0xff), sz);
        p[sz - 1] = (unsigned char)(r >> 8);
        ring[slot] = p;
        sizes[slot] = sz;
    }
    /* Free the survivors so every malloc has exactly one free. */
    for (unsigned s = 0; s < RING; s++) {
        if (ring[s]) {
            sum += ring[s][0];
            free(ring[s]);
        }
    }
    sum = sum * 31 + allocs;
    bench_checksum("churn1", sum);
    return 0;
}
