/* Allocators for `alloctrace replay` (Debian's jemalloc, mimalloc, tcmalloc, or any
 * malloc-replacing .so) and one run of alloctrace-replayer under one of them.
 * Never prints and never exits: errors come back as one line in err.
 */
#ifndef ATR_REPLAY_RUN_H
#define ATR_REPLAY_RUN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char name[64];  /* glibc, jemalloc, mimalloc, tcmalloc, or a custom library's file name */
  char lib[4096]; /* what LD_PRELOAD gets; empty for glibc */
} atr_allocator_t;

/* The allocators replay tries when none is named, in this order. */
extern const char *const atr_allocator_names[];

/* Resolves a name above or a path to a shared library. Returns 0; -1 with a message
 * (what is missing and which Debian package provides it) in err. */
int atr_allocator_find(const char *spec, atr_allocator_t *a, char *err, size_t errlen);

/* alloctrace-replayer next to this alloctrace (build tree) or in libexecdir;
 * ALLOCTRACE_REPLAYER overrides. Returns 0 or -1. */
int atr_replayer_find(char *out, size_t n);

typedef struct {
  double wall_s, cpu_s;
  uint64_t peak_rss;              /* the process's peak: max(VmHWM, the exact samples) */
  uint64_t heap_peak_rss;         /* exact RSS right after the op that reaches the heap peak */
  uint64_t end_rss, baseline_rss; /* exact, after the last op / before the first one */
  uint64_t page_faults, failed, waits, ops;
  char substituted[128]; /* functions the allocator lacks, replaced by stand-ins */
  char malloc_from[512];
} atr_replay_result_t;

/* Runs the replayer once on `ops` under `a`, its stderr going to `errfile`. */
int atr_replay_run(const char *replayer, const char *ops, const char *order,
                   const atr_allocator_t *a, const char *errfile, atr_replay_result_t *r, char *err,
                   size_t errlen);

#endif
