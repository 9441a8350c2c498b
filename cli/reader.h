/* Trace reader: decompresses a trace frame by frame, validates every record and turns
 * the stream into semantic events (allocation, free, realloc with the freed block's
 * site resolved) for the analyses. Keeps only live blocks and the interned tables, so
 * memory is bounded by live blocks and distinct stacks, not by trace length.
 * Never trusts the input: every index is range-checked, every count capped (below), no
 * sum can wrap; a truncated final frame is reported and skipped, any other damage is an
 * error. Costs O(file + decompressed bytes + events + nodes log modules) time and
 * O(live blocks + nodes + sites + threads + modules) memory plus 40 MiB at most
 * (docs/format.md, "What reading costs").
 */
#ifndef ATR_READER_H
#define ATR_READER_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "alloctrace/format.h"

/* What a valid recorder (libtrace/recorder/writer.c) never exceeds; past these a trace
 * is refused as corrupt (docs/format.md, "What reading costs"). */
#define ATR_MAX_RECORD (2u << 20)     /* bytes: the largest record, a CHUNK, is < 800 KiB */
#define ATR_PIECE_BYTES (2u << 20)    /* decompressed bytes parsed at a time */
#define ATR_ZSTD_WINDOW_LOG_MAX 24    /* zstd level 19 (the recorder's highest) uses 2^23 */
#define ATR_READ_MAX_MODULES 8192u    /* MOD ids index libtrace/shm.h's module table */
#define ATR_READ_MAX_NOTES 16u        /* shm.h's ATR_MAX_NOTES: the only notes written */
#define ATR_READ_MAX_NODES (1u << 28) /* a node is a frame of a stack kept in shm.h's arena
                                         of 2^28 words (ATR_ST_ARENA_WORDS) */
#define ATR_READ_MAX_RUN 256u /* NODE records in a row: the recorder writes a new stack's
                                 nodes (at most 64 frames, libtrace/tracer.h) then its SITE */
#define ATR_MAX_TIME_US (1ull << 48)  /* 8.9 years: duration * 2^16 still fits in 64 bits */
#define ATR_MAX_LIVE_BYTES (1ull << 47) /* x86-64's user address space (4-level paging):
                                           no block, and no set of live blocks, is larger */

typedef struct {
  uint64_t id, bias, lo, hi;
  char *path;
  uint8_t build_id[64];
  uint32_t build_id_len;
  /* the trace's node count when the module was loaded / unloaded (0: never): nodes come
   * in record order, so a node index tells what was mapped when it was recorded */
  uint64_t load_node, unload_node;
} atr_rmodule_t;

typedef struct { /* 16 bytes: a trace of a large program has millions */
  uint32_t parent;
  int32_t module; /* index in modules[], resolved at the end; -1 unknown */
  uint64_t ip;
} atr_rnode_t;

typedef struct {
  uint32_t node;
  uint32_t kind;
  uint64_t size;
  uint64_t align;
} atr_rsite_t;

typedef struct { /* threads[i] is thread index i: THR records come in index order */
  uint32_t tid;
  char *name;
} atr_rthread_t;

enum atr_evkind {
  ATR_E_ALLOC = 1,   /* new block: ordinal, site */
  ATR_E_FREE,        /* old block freed: old_ordinal, old_site */
  ATR_E_REALLOC,     /* old block replaced by new (site 0: freed by realloc(p, 0)) */
  ATR_E_AFAIL,       /* allocation returned NULL: site */
  ATR_E_RFAIL,       /* realloc failed; old block stays live */
  ATR_E_UFREE,       /* free of a pointer never seen allocated */
  ATR_E_IFREE,       /* a fork child's free of a block its parent had live at the fork */
};

typedef struct {
  int kind;
  int moved;
  uint32_t thread;
  uint32_t site;     /* new block's site (ALLOC, REALLOC, AFAIL, RFAIL) */
  uint32_t old_site; /* freed block's site (FREE, REALLOC, RFAIL) */
  uint64_t ordinal;  /* new block */
  uint64_t old_ordinal;
  uint64_t time_us;
  uint64_t index; /* event number from 0 */
} atr_ev_t;

typedef struct atr_trace atr_trace_t;

typedef struct {
  void *ctx;
  void (*event)(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev);
  void (*rss)(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes);
} atr_visitor_t;

struct atr_trace {
  const char *file;
  uint64_t version, pid, ppid, start_unix_us;
  char *exe;
  char **argv;
  uint64_t argc;
  atr_rmodule_t *modules;
  size_t nmodules;
  atr_rnode_t *nodes; /* [0] is the root */
  size_t nnodes;
  atr_rsite_t *sites; /* [0] unused */
  size_t nsites;
  atr_rthread_t *threads;
  size_t nthreads;
  char **notes;
  size_t nnotes;
  unsigned layers;
  uint64_t time_us, peak_rss, events;
  uint64_t live_bytes, allocated_bytes; /* checked: <= ATR_MAX_LIVE_BYTES, no wrap */
  uint64_t last_ordinal;
  int has_end;
  struct {
    uint64_t events, waits, inconsistent, unknown_frees, stack_drops, peak_rss, flags, reordered;
  } end;
  int truncated; /* the last frame was cut off and skipped */
  uint64_t frames, compressed_bytes, raw_bytes;
  char error[512];
  struct atr_reader_priv *priv;
};

/* Reads the whole trace, calling the visitor for every event. Returns 0, or -1 with
 * tr->error set to a one-line message naming the file and the problem. */
int atr_trace_read(atr_trace_t *tr, const char *path, const atr_visitor_t *v);
/* The stream (process image) of a run's file that atr_trace_read reads: 0, the
 * program `run` started, unless a command chose another (format.h: stream tags). */
extern uint32_t atr_reader_stream;
/* Non-NULL: reads follow a file still being written (run's end-of-run summary): at its
 * end they wait for more until *atr_reader_follow is set (the writer is done). */
extern _Atomic int *atr_reader_follow;
/* Or the process pid's image-th image (atr_reader_pid 0: by stream). */
extern uint32_t atr_reader_pid, atr_reader_image;
int atr_reader_select(const char *spec);

typedef struct {
  uint32_t stream, pid, image; /* image: how many streams of this pid came before */
} atr_stream_t;
/* The process images in a run's file (a file without stream tags: one, stream 0).
 * 0 with *out malloc'd, or -1. */
int atr_trace_streams(const char *path, atr_stream_t **out, size_t *n); /* "PID" or "PID.N": 0, or -1 when malformed */
void atr_trace_free(atr_trace_t *tr);

/* Live-block lookup during a visit: the site of a live ordinal (0 if not live). */
uint32_t atr_trace_live_site(const atr_trace_t *tr, uint64_t ordinal);

/* Frames of a node from leaf (the allocating call) to root; returns the count. */
size_t atr_trace_stack(const atr_trace_t *tr, uint32_t node, uint32_t *out, size_t max);

/* Grows *arr (capacity *cap elements of elem bytes, doubling) to hold element n; the new
 * elements are zeroed. Returns 0, or -1 when out of memory (*arr unchanged). For the
 * tables that follow the trace's as it is read. */
int atr_array_reserve(void **arr, size_t *cap, size_t n, size_t elem);

const char *atr_kind_name(unsigned kind);
unsigned atr_kind_layer(unsigned kind);

#endif
