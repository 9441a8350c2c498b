/* Trace -> replay op file (format in replay_ops.h): one streaming pass over the trace
 * plus one pass that groups the ops by thread. Memory is bounded by live blocks and
 * threads; the ops themselves go through a temporary file next to the output.
 * Never runs anything and never prints: the caller reports.
 */
#ifndef ATR_REPLAY_BUILD_H
#define ATR_REPLAY_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "replay_ops.h"

typedef struct {
  uint64_t events;        /* allocation events decoded */
  uint64_t ops;           /* ops written */
  uint64_t allocations;   /* calls to allocation functions among them */
  uint64_t failed;        /* failed allocations/reallocs: not replayed */
  uint64_t unknown_frees; /* frees of blocks allocated before tracing: not replayed */
  uint64_t mapped;        /* allocations whose function the replayer calls differently */
  uint64_t peak_bytes;    /* peak live requested bytes */
  uint64_t deps_bound;    /* the deps order's worst case: every slot's costliest block at
                             once (atr_replay_block_cost; a realloc holds old and new) */
  uint64_t threads, slots, handoffs;
  uint64_t opcodes[ATR_ROP_COUNT]; /* ops per enum atr_rop_code */
  int truncated;                   /* the trace's last frame was cut off: only the complete part */
  int complete;                    /* the trace ends with the recorder's END record */
  char program[256];
} atr_replay_info_t;

/* What a block of `size` bytes and `align` costs in memory, as glibc lays it out: a
 * 16-byte-granular chunk with its 8-byte header (32 at least) below 128 KiB, whole pages
 * with a 16-byte header from there (mmap), plus the slack an over-aligned block needs. */
uint64_t atr_replay_block_cost(uint64_t size, uint64_t align);

/* Writes the op file for `trace` to `ops_path` (created, mode 0600). Returns 0, or -1
 * with a one-line message naming the file in err. */
int atr_replay_build(const char *trace, const char *ops_path, atr_replay_info_t *info, char *err,
                     size_t errlen);

#endif
