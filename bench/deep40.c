/* Workload deep40: malloc/free pairs at stack depth 40, reached by recursion
 * through four distinct noinline functions (9.6 M events at scale 1). Must never
 * let the recursion be inlined or tail-called, or print besides its checksum. */
#include "bench_common.h"

#include <string.h>

#define DEPTH 38             /* walk_* frames: main=1, walks 2..39, leaf=40 */
#define PER_LEAF 8           /* malloc+free pairs per visit of the bottom */
#define DESCENTS 600000ULL   /* 600 k * 8 pairs = 4.8 M pairs = 9.6 M events */
#define RING 1024u

static unsigned char *ring[RING];
static size_t ring_size[RING];
static bench_lcg g = { 4242 };
static uint64_t allocs;

typedef uint64_t (*step_fn)(int depth, unsigned variant);
static uint64_t walk_a(int depth, unsigned variant);
static uint64_t walk_b(int depth, unsigned variant);
static uint64_t walk_c(int depth, unsigned variant);
static uint64_t walk_d(int depth, unsigned variant);

BENCH_NOINLINE static uint64_t leaf(unsigned variant)
{
    uint64_t sum = variant;
    for (int i = 0; i < PER_LEAF; i++) {
        uint32_t r = bench_next(&g);
        unsigned slot = (r >> 5) & (RING - 1);
        if (ring[slot]) {
            sum += ring[slot][0] + ring[slot][ring_size[slot] - 1];
            free(ring[slot]);
        }
        size_t sz = 16 + bench_next(&g) % 241;
        unsigned char *p = malloc(sz);
        if (!p)
            abort();
        allocs++;
        memset(p, (int)(r & 0xff), sz);
        ring[slot] = p;
        ring_size[slot] = sz;
    }
    return sum;
}

/* Which function handles the next level: a fixed pattern per variant, so
 * there are 16 distinct full stacks (a realistic amount of stack variety). */
static inline __attribute__((always_inline)) uint64_t next(int depth,
                                                          unsigned variant)
{
    if (depth >= DEPTH)
        return leaf(variant);
    static const step_fn fns[4] = { walk_a, walk_b, walk_c, walk_d };
    unsigned k = (variant * 7u + (unsigned)depth * (variant | 1u)) & 3u;
    return fns[k](depth + 1, variant);
}

/* The arithmetic after each call keeps the calls from being sibling calls. */
BENCH_NOINLINE static uint64_t walk_a(int depth, unsigned variant)
{
    uint64_t r = next(depth, variant);
    return r * 3 + (uint64_t)depth;
}

BENCH_NOINLINE static uint64_t walk_b(int depth, unsigned variant)
{
    uint64_t r = next(depth, variant);
    return r ^ ((uint64_t)depth << 7);
}

BENCH_NOINLINE static uint64_t walk_c(int depth, unsigned variant)
{
    uint64_t r = next(depth, variant);
    return r + (uint64_t)variant * 11u;
}

BENCH_NOINLINE static uint64_t walk_d(int depth, unsigned variant)
{
    uint64_t r = next(depth, variant);
    return (r << 1) - (uint64_t)depth;
}

int main(int argc, char **argv)
{
    uint64_t n = bench_scaled(DESCENTS, bench_scale(argc, argv));
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned variant = bench_next(&g) & 15u;
        sum += walk_a(1, variant);
    }
    for (unsigned s = 0; s < RING; s++)
        free(ring[s]);
    bench_checksum("deep40", sum * 31 + allocs);
    return 0;
}
