/* Shared helpers for the alloctrace benchmark workloads: a fixed LCG, the
 * optional scale factor (argv[1]) and the single checksum line on stdout.
 * Must never print anything else, read the clock, or depend on addresses. */
#ifndef ALLOCTRACE_BENCH_COMMON_H
#define ALLOCTRACE_BENCH_COMMON_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NOINLINE __attribute__((noinline))

/* 64-bit LCG (Knuth MMIX constants); the high bits are the useful ones. */
typedef struct { uint64_t s; } bench_lcg;

static inline uint32_t bench_next(bench_lcg *g)
{
    g->s = g->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g->s >> 33);
}

/* Size in [lo, hi]. */
static inline size_t bench_size(bench_lcg *g, size_t lo, size_t hi)
{
    return lo + bench_next(g) % (hi - lo + 1);
}

/* argv[1] is an optional positive scale factor (default 1.0) applied to
 * the iteration count; exits with status 2 on a malformed value. */
static inline double bench_scale(int argc, char **argv)
{
    if (argc < 2)
        return 1.0;
    char *end = NULL;
    double s = strtod(argv[1], &end);
    if (end == argv[1] || *end != '\0' || !(s > 0.0) || s > 1000.0) {
        fprintf(stderr, "usage: %s [scale>0]\n", argv[0]);
        exit(2);
    }
    return s;
}

static inline uint64_t bench_scaled(uint64_t n, double scale)
{
    double v = (double)n * scale;
    return v < 1.0 ? 1 : (uint64_t)v;
}

static inline void bench_checksum(const char *name, uint64_t sum)
{
    printf("checksum %s %016" PRIx64 "\n", name, sum);
}

#endif
