/* The shared region: what a traced process and the recorder process both map. One
 * memfd per process image, made by the probe (shm.c) and handed to the recorder over
 * its socket, holds everything the recorder reads: the header, the module table, the
 * stack table and every thread's state and ring. Offsets below are file offsets, so
 * neither side stores a pointer into it: each side maps the pieces itself.
 * Nothing here may be written by the recorder except where a field says so.
 *
 *   offset              size                               what
 *   0                   ATR_SHM_HDR_BYTES                  atr_shm_hdr_t
 *   ATR_SHM_MODS        ATR_MAX_MODULES * atr_module_t     module table (modules.c)
 *   ATR_SHM_SLOTS       ATR_ST_SLOTS * 4                   stack hash slots (stacktab.c)
 *   ATR_SHM_OFFSETS     (ATR_ST_MAX + 1) * 8               stack id -> arena word offset
 *   ATR_SHM_FIXED       pieces, in the order they were needed:
 *                       ATR_THREAD_BYTES                   a thread state and ring (ring.c),
 *                                                          at hdr.thread_off[slot]
 *                       ATR_ST_SEG_WORDS * 8               a stack arena segment
 *                                                          (stacktab.c), at hdr.seg_off[k]
 *
 * The file is sized once, when it is made, to the whole layout (ATR_SHM_MAX: the fixed
 * part and room for every piece), or to what RLIMIT_FSIZE allows if that is less; it
 * never grows after (shm.c). It is sparse: only pages written take memory (a thread's
 * ring as it fills), and only what is mapped takes address space (RLIMIT_AS counts
 * mappings, not file sizes). Only the fixed part is mapped from the start; a piece's
 * file offset is reserved with one atomic add on piece_next, checked against file_bytes,
 * when a thread first claims its slot or a stack first needs its segment, then mapped
 * from the probe's descriptor of the region, then published in the header: a process's
 * address space pays for what it uses, not for 4096 rings (8 GiB) and a 2 GiB arena.
 * No lock and no wait: no thread waits for another to finish reserving or mapping (one
 * interrupted by its signal handler, or one a fork left behind). The recorder maps a
 * piece when it finds its offset published.
 */
#ifndef ATR_SHM_H
#define ATR_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tracer.h"

#define ATR_SHM_MAGIC 0x31306d6873727461ull /* "atrshm01" */
#define ATR_SHM_VERSION 4u

#define ATR_MAX_MODULES 8192u
#define ATR_ST_SLOT_BITS 23u /* 4 Mi stacks: a large C++ program makes millions */
#define ATR_ST_SLOTS (1u << ATR_ST_SLOT_BITS)
#define ATR_ST_MAX (ATR_ST_SLOTS / 2)                 /* load factor stays <= 0.5 */
#define ATR_ST_ARENA_WORDS (256u * 1024u * 1024u)     /* 2 GiB at most, in segments */
#define ATR_ST_SEG_SHIFT 20u                          /* a segment: 1 Mi words, 8 MiB */
#define ATR_ST_SEG_WORDS (1u << ATR_ST_SEG_SHIFT)
#define ATR_ST_SEGS (ATR_ST_ARENA_WORDS / ATR_ST_SEG_WORDS)
#define ATR_MAX_THREADS 4096u /* thread states live at once (recycled when a thread ends) */
#define ATR_MAX_NOTES 16u
/* a note that is a probe's diagnostic (rawio.c) starts with this and "[pid]: "; the
 * recorder prints those on its stderr as well (writer.c emit_notes) */
#define ATR_LOG_PREFIX "alloctrace"
#define ATR_CMDLINE_MAX 65536u

#define ATR_PAGE_UP(x) (((x) + 4095ull) & ~4095ull)
#define ATR_SHM_HDR_BYTES ATR_PAGE_UP(sizeof(atr_shm_hdr_t))
#define ATR_SHM_MODS ATR_SHM_HDR_BYTES
#define ATR_SHM_SLOTS ATR_PAGE_UP(ATR_SHM_MODS + (uint64_t)ATR_MAX_MODULES * sizeof(atr_module_t))
#define ATR_SHM_OFFSETS ATR_PAGE_UP(ATR_SHM_SLOTS + (uint64_t)ATR_ST_SLOTS * 4u)
#define ATR_SHM_FIXED ATR_PAGE_UP(ATR_SHM_OFFSETS + ((uint64_t)ATR_ST_MAX + 1u) * 8u)
#define ATR_THREAD_BYTES ATR_PAGE_UP(sizeof(atr_thread_t))
#define ATR_ST_SEG_BYTES ((uint64_t)ATR_ST_SEG_WORDS * 8u)
/* the whole layout: the file's size unless RLIMIT_FSIZE is below it (11 GiB, sparse) */
#define ATR_SHM_MAX                                                                      \
  (ATR_SHM_FIXED + (uint64_t)ATR_MAX_THREADS * ATR_THREAD_BYTES +                         \
   (uint64_t)ATR_ST_SEGS * ATR_ST_SEG_BYTES)

/* How the image came to be traced (atr_shm_hdr_t.origin). */
enum atr_origin {
  ATR_ORIGIN_START = 1, /* loaded at program start (the root, or an exec'd program) */
  ATR_ORIGIN_FORK = 2,  /* a fork child: its clock starts at the fork, blocks it frees may
                         * be its parent's (allocated before the fork) */
};

typedef struct atr_shm_hdr {
  uint64_t magic;
  uint32_t version;
  uint32_t origin;           /* enum atr_origin */
  uint64_t size;             /* ATR_SHM_FIXED */
  uint32_t pid, ppid;
  uint64_t tick0;            /* clock reading the image's times count from */
  uint64_t start_unix_us;    /* wall clock at tick0 */
  int32_t clock_tsc;         /* ticks are TSC cycles (1) or CLOCK_MONOTONIC ns (0) */
  int32_t level;             /* zstd level asked for */
  uint64_t skew[2];          /* tests only (config.c) */
  uint64_t fork_mark;        /* a fork child: the number of its fork in the parent image
                              * (the parent's ATR_EV_FORK), 0 = unknown (raw clone(2)) */
  uint64_t parent_tick0;     /* a fork child: its parent image's tick0 (with ppid and
                              * fork_mark, names the parent's fork exactly) */
  uint32_t exe_len, cmdline_len;
  char exe[4096];
  char cmdline[ATR_CMDLINE_MAX]; /* NUL-separated, as /proc/self/cmdline */

  _Alignas(64) _Atomic uint32_t nthreads; /* thread slots ever handed out */
  _Atomic uint32_t nmods;                 /* module table entries (modules.c) */
  _Atomic uint32_t nnotes, notes_written;
  _Atomic uint32_t layers;                /* ATR_LAYER_* seen so far */
  _Atomic uint32_t end_flags;             /* ATR_END_* set by the process at exit or exec */
  uint32_t start_gen;                     /* module generation when handed over: the
                                           * recorder's first frame lists those modules;
                                           * later ones come with MODULES events */
  _Atomic uint64_t peak_rss;              /* VmHWM read at exit (0: not read) */
  _Atomic uint64_t stacks_used;           /* arena words (stacktab.c) */
  _Atomic uint32_t nstacks;
  _Atomic uint64_t stack_drops;
  char notes[ATR_MAX_NOTES][160];
  uint64_t file_bytes;                    /* the file's size, set once at its creation */
  _Atomic uint64_t piece_next;            /* the next piece's offset: reserved by one
                                           * atomic add (shm.c atr__shm_piece); may pass
                                           * file_bytes (failed reservations stay) */
  /* the pieces' file offsets (0: not mapped yet), stored with release once the file
   * holds the piece: the recorder maps a piece only after reading its offset here */
  _Atomic uint64_t thread_off[ATR_MAX_THREADS];
  _Atomic uint64_t seg_off[ATR_ST_SEGS];

  /* written by the recorder */
  _Alignas(64) _Atomic uint32_t recorder_sleeping; /* 1: a doorbell wakes it (shm.c) */
  struct atr_clock_share clk;                      /* epoch: bumped every recorder pass */
} atr_shm_hdr_t;

/* Views of a mapping of the region at base. */
static inline atr_shm_hdr_t *atr_shm_hdr(void *base) { return base; }
static inline atr_module_t *atr_shm_mods(void *base) {
  return (atr_module_t *)((char *)base + ATR_SHM_MODS);
}
static inline _Atomic uint32_t *atr_shm_slots(void *base) {
  return (_Atomic uint32_t *)((char *)base + ATR_SHM_SLOTS);
}
static inline uint64_t *atr_shm_offsets(void *base) {
  return (uint64_t *)((char *)base + ATR_SHM_OFFSETS);
}
/* The hello a process sends on connecting (with the memfd as SCM_RIGHTS), and the
 * doorbell: any one byte after it means "look at my rings now". */
typedef struct atr_hello {
  uint64_t magic; /* ATR_SHM_MAGIC */
  uint32_t version, pid;
} atr_hello_t;

/* The socket the recorder listens on: abstract unix address ALLOCTRACE_SOCK names. */
#define ATR_SOCK_ENV "ALLOCTRACE_SOCK"

#endif
