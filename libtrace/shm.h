/* The shared region: what a traced process and the recorder process both map. One
 * memfd per process image, made by the probe (shm.c) and handed to the recorder over
 * its socket, holds everything the recorder reads: the header, the module table, the
 * stack table and every thread's state and ring. Its layout is fixed (offsets below), so
 * neither side stores a pointer into it: each side adds the offsets to its own mapping.
 * Nothing here may be written by the recorder except where a field says so.
 *
 *   offset              size                               what
 *   0                   ATR_SHM_HDR_BYTES                  atr_shm_hdr_t
 *   ATR_SHM_MODS        ATR_MAX_MODULES * atr_module_t     module table (modules.c)
 *   ATR_SHM_SLOTS       ATR_ST_SLOTS * 4                   stack hash slots (stacktab.c)
 *   ATR_SHM_OFFSETS     (ATR_ST_MAX + 1) * 8               stack id -> arena word offset
 *   ATR_SHM_ARENA       ATR_ST_ARENA_WORDS * 8             interned stacks
 *   ATR_SHM_THREADS     ATR_MAX_THREADS * atr_thread_t     thread states and rings (ring.c)
 *
 * The file is sparse: only pages written take memory (a thread's ring as it fills).
 */
#ifndef ATR_SHM_H
#define ATR_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tracer.h"

#define ATR_SHM_MAGIC 0x31306d6873727461ull /* "atrshm01" */
#define ATR_SHM_VERSION 2u

#define ATR_MAX_MODULES 8192u
#define ATR_ST_SLOT_BITS 23u /* 4 Mi stacks: a large C++ program makes millions */
#define ATR_ST_SLOTS (1u << ATR_ST_SLOT_BITS)
#define ATR_ST_MAX (ATR_ST_SLOTS / 2)                 /* load factor stays <= 0.5 */
#define ATR_ST_ARENA_WORDS (256u * 1024u * 1024u)     /* 2 GiB, sparse: only what is used */
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
#define ATR_SHM_ARENA ATR_PAGE_UP(ATR_SHM_OFFSETS + ((uint64_t)ATR_ST_MAX + 1u) * 8u)
#define ATR_SHM_THREADS ATR_PAGE_UP(ATR_SHM_ARENA + (uint64_t)ATR_ST_ARENA_WORDS * 8u)
#define ATR_SHM_BYTES ATR_PAGE_UP(ATR_SHM_THREADS + (uint64_t)ATR_MAX_THREADS * sizeof(atr_thread_t))

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
  uint64_t size;             /* ATR_SHM_BYTES */
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
static inline uint64_t *atr_shm_arena(void *base) {
  return (uint64_t *)((char *)base + ATR_SHM_ARENA);
}
static inline atr_thread_t *atr_shm_threads(void *base) {
  return (atr_thread_t *)((char *)base + ATR_SHM_THREADS);
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
