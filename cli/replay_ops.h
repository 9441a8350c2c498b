/* The replay op file: what `alloctrace replay` decodes a trace into and what
 * alloctrace-replayer executes. Shared by cli/replay_build.c and cli/replayer.c, so it
 * must never depend on anything but <stdint.h> (the replayer links only libc).
 *
 * Layout (little-endian, host order: the file never leaves the machine that made it):
 *   atr_rops_hdr_t                    64 bytes, magic "ATRREPL1"
 *   atr_rops_thread_t[nthreads]       each replay thread's contiguous op range
 *   atr_rop_t[nops]                   ops grouped by thread, program order inside
 * Replay thread 0 is the trace's lowest thread index that allocated (normally the main
 * thread) and runs on the replayer's main thread, so glibc gives it the main arena.
 *
 * Ordering. The decoder walks the trace in its global order:
 *  - recorded order: consecutive ops of one thread form a run; the first op of a run
 *    carries ATR_ROP_TURN (wait until the previous run hands over) and the last one
 *    ATR_ROP_HANDOFF with `next` = the thread of the following run. Exactly the traced
 *    interleaving, so live bytes follow the trace step for step.
 *  - deps order: threads run freely; an op waits only until its slot has seen `wait`
 *    earlier ops (the block it frees was allocated, the slot it reuses was freed).
 * Every wait is on an op earlier in the global order, so neither order can deadlock.
 */
#ifndef ATR_REPLAY_OPS_H
#define ATR_REPLAY_OPS_H

#include <stdint.h>

#define ATR_ROPS_MAGIC "ATRREPL1"
#define ATR_ROPS_VERSION 1u

typedef struct {
  char magic[8];
  uint32_t version;
  uint32_t nthreads;
  uint64_t nops;
  uint64_t nslots;     /* block slots: the most blocks live at once (slots are reused) */
  uint64_t peak_bytes; /* peak live requested bytes of the replayed ops */
  uint64_t reserved[3];
} atr_rops_hdr_t;

typedef struct {
  uint64_t first; /* index of the thread's first op in the op array */
  uint64_t count;
} atr_rops_thread_t;

/* What an op calls. Allocation kinds the replayer cannot call directly (operator new,
 * Rust, static allocators, the API) are mapped by the decoder; see replay_build.c. */
enum atr_rop_code {
  ATR_ROP_MALLOC = 1,
  ATR_ROP_CALLOC,           /* calloc(1, size) */
  ATR_ROP_REALLOC_NEW,      /* realloc(NULL, size) */
  ATR_ROP_REALLOCARRAY_NEW, /* reallocarray(NULL, size, 1) */
  ATR_ROP_POSIX_MEMALIGN,
  ATR_ROP_ALIGNED_ALLOC,
  ATR_ROP_MEMALIGN,
  ATR_ROP_VALLOC,
  ATR_ROP_PVALLOC,
  ATR_ROP_REALLOC,         /* realloc(slot, size) */
  ATR_ROP_REALLOCARRAY,    /* reallocarray(slot, size, 1) */
  ATR_ROP_REALLOC_ALIGNED, /* posix_memalign + copy + free (over-aligned Rust realloc) */
  ATR_ROP_FREE,
  ATR_ROP_COUNT
};

#define ATR_ROP_TURN 1u    /* recorded order: wait for this thread's turn first */
#define ATR_ROP_HANDOFF 2u /* recorded order: afterwards, the turn goes to `next` */
#define ATR_ROP_PEAK 4u    /* live bytes reach their peak here: sample the RSS */

typedef struct {
  uint64_t size;      /* requested bytes of the new block */
  uint32_t slot;      /* the block's slot (a realloc keeps its slot) */
  uint32_t wait;      /* deps order: ops the slot must have seen before this one */
  uint32_t next;      /* with ATR_ROP_HANDOFF: the replay thread that runs next */
  uint8_t op;         /* enum atr_rop_code */
  uint8_t align_log2; /* requested alignment = 1 << align_log2 (0: none) */
  uint8_t flags;      /* ATR_ROP_TURN | ATR_ROP_HANDOFF | ATR_ROP_PEAK */
  uint8_t pad;
} atr_rop_t;

_Static_assert(sizeof(atr_rops_hdr_t) == 64, "op file header is 64 bytes");
_Static_assert(sizeof(atr_rops_thread_t) == 16, "thread entry is 16 bytes");
_Static_assert(sizeof(atr_rop_t) == 24, "op record is 24 bytes");

#endif
