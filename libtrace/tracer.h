/* Internal interface between the parts of liballoctrace: thread state and rings,
 * the per-thread guard, timestamps, stack capture, modules and the writer.
 * Nothing here may allocate with the traced program's allocator on a hot path.
 */
#ifndef ATR_TRACER_H
#define ATR_TRACER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "alloctrace/format.h"

#define ATR_LIKELY(x) __builtin_expect(!!(x), 1)
#define ATR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ATR_HIDDEN __attribute__((visibility("hidden")))
#define ATR_EXPORT __attribute__((visibility("default"))) /* the hooks and the public API */
#define ATR_NOINLINE __attribute__((noinline))
#define ATR_INLINE inline __attribute__((always_inline))
#define ATR_TLS __attribute__((tls_model("initial-exec")))

/* Invariants, checked in debug and sanitizer builds (meson.build defines ATR_DEBUG there)
 * and compiled out of the default build the benchmarks measure. A failure writes one line
 * with write(2) and aborts: no stdio, no allocation (rawio.c). */
#ifdef ATR_DEBUG
void atr__assert_fail(const char *what, const char *file, int line)
    __attribute__((noreturn, cold));
#define ATR_ASSERT(c) (ATR_LIKELY(c) ? (void)0 : atr__assert_fail(#c, __FILE__, __LINE__))
#else
#define ATR_ASSERT(c) ((void)0)
#endif

/* ---- per-thread guard: any allocation made while guard != 0 passes straight through ---- */
struct atr_thread;
struct atr_tls {
  int guard;
  unsigned new_kind; /* inside a C++ operator new: its kind, size, align (hooks_cxx.c) */
  struct atr_thread *thr;
  size_t new_size, new_align;
};
extern __thread struct atr_tls atr__tls ATR_TLS;

/* Global tracing state. Read on every hook; written only at start, fork and exit. It
 * lives in a page wiped in fork children (shm.c says why): read it as atr__state. */
enum atr_state { ATR_OFF = 0, ATR_ON = 1 };
extern _Atomic int *atr__statep;
#define atr__state (*atr__statep)

/* ---- ring events: 32 bytes, written by one thread, read by the recorder ---- */
enum atr_evtype {
  ATR_EV_ALLOC = 1,  /* ptr, size, kind, align, stack */
  ATR_EV_FREE = 2,   /* ptr */
  ATR_EV_RFREE = 3,  /* realloc part 1: old ptr released (taken before the call) */
  ATR_EV_RALLOC = 4, /* realloc part 2: new ptr (NULL = failed or freed), size, kind, stack */
  ATR_EV_MODULES = 5, /* module registry changed up to generation `size` */
  ATR_EV_NAME = 6,    /* thread renamed */
  ATR_EV_FORK = 7,    /* this thread is about to fork: size = the fork's number in the
                       * image (lifecycle.c); the recorder keeps the live blocks then */
};

typedef struct atr_event {
  uint64_t ts;
  uint64_t ptr;
  uint64_t size;
  uint64_t meta; /* stack:32 | type:8 | kind:8 | align_log2:8 */
} atr_event_t;

static inline uint64_t atr__meta(unsigned type, unsigned kind, unsigned align_log2, uint32_t stack) {
  return (uint64_t)stack | (uint64_t)type << 32 | (uint64_t)kind << 40 | (uint64_t)align_log2 << 48;
}
#define ATR_META_STACK(m) ((uint32_t)(m))
#define ATR_META_TYPE(m) ((unsigned)((m) >> 32) & 0xff)
#define ATR_META_KIND(m) ((unsigned)((m) >> 40) & 0xff)
#define ATR_META_ALIGN(m) ((unsigned)((m) >> 48) & 0xff)

#define ATR_RING_SIZE 65536u /* events per thread (2 MiB, touched as used); power of two:
                               * absorbs the writer's sleeps and bursts without
                               * back-pressure. 1 MiB (this VM's L2) made churn1 traced
                               * 14% slower, cxx 16% (medians of 8 interleaved runs); 4 MiB
                               * gained little more; 256 KiB was 40% slower */
#define ATR_MAX_DEPTH 64

/* Per-thread cache of captured stacks (stack.c): a stack seen before at the same stack
 * pointer is reused when every stack word its walk depended on still holds the value it
 * had then. Producer-private; set-associative on the capture's frame address. */
#define ATR_SC_SETS 16u
#define ATR_SC_WAYS 8u /* 4 missed 12% of bench/rust_work's captures: up to 8 stacks
                        * share one frame address there (cxxdeep: 2.5% missed) */
#define ATR_SC_WORDS (2u * (ATR_MAX_DEPTH + 8u) + 2u)
typedef struct atr_sc_entry {
  uintptr_t sp;   /* frame address of atr__stack_capture */
  uint32_t epoch; /* == atr_scache_t.epoch while valid */
  uint32_t id;    /* the interned stack */
  uint32_t n;     /* words to check */
  uint16_t off[ATR_SC_WORDS]; /* word offsets from sp */
  uintptr_t val[ATR_SC_WORDS];
} atr_sc_entry_t;
typedef struct atr_scache {
  uint32_t epoch;              /* bumped when the thread state is claimed again */
  uint8_t victim[ATR_SC_SETS]; /* next way to replace */
  uint8_t mru[ATR_SC_SETS];    /* way that hit last: tried first */
  uint8_t misses[ATR_SC_SETS]; /* consecutive misses: a thrashing set fills less often */
  uintptr_t mapped_lo, mapped_hi; /* stack range known readable (libunwind mode) */
  /* the last libunwind fill: its return addresses and the words that held them, leaf
   * first (stack.c unw_slots reuses the root-side ones) */
  uint32_t last_n;
  uintptr_t last_ip[ATR_MAX_DEPTH + 8], last_at[ATR_MAX_DEPTH + 8];
  atr_sc_entry_t e[ATR_SC_SETS][ATR_SC_WAYS];
} atr_scache_t;

enum atr_thread_status { ATR_THR_FREE = 0, ATR_THR_CLAIMED = 1, ATR_THR_LIVE = 2 };

/* One per traced thread, in the shared region (shm.h), recycled by the recorder after
 * the thread is gone.
 * The first cache line is written only by its thread, on every event; the second by the
 * writer (tail) and by the thread only when its ring is full (waiting, wait_ts): the
 * writer looks at waiting after every run of events it takes from a ring, and on the
 * first line that look was a cache miss each time (bench churn8: 2.6% of the process's
 * CPU with the reads of head the writer now makes once per pass). */
typedef struct atr_thread {
  _Alignas(64) _Atomic uint64_t head; /* next slot the producer fills */
  _Atomic uint32_t gen;               /* odd while inside a hook */
  uint64_t check_at; /* head at which the producer looks at the writer's tail (ring.c) */
  uint64_t waits; /* times the ring was full */
  uintptr_t stack_lo, stack_hi;
  uint32_t tid;
  uint32_t stamp_epoch; /* atr__clk.epoch when stamp_last was read off the clock */
  uint32_t stamp_left;  /* stamps still allowed to follow stamp_last (atr__stamp) */
  uint64_t stamp_last;  /* the last stamp given */

  _Alignas(64) _Atomic uint64_t tail; /* next slot the writer reads */
  _Atomic uint32_t waiting;           /* producer blocked on a full ring (2: writer woke it) */
  uint64_t wait_ts;                   /* timestamp of the event it is waiting to push */

  _Alignas(64) _Atomic int status;
  uint32_t incarnation;       /* bumped at every claim */
  /* the recorder's own (never read by the process) */
  uint32_t w_incarnation;
  uint32_t w_idx;             /* thread index in the trace */
  uint64_t w_head;            /* head as read once per drain pass (writer.c) */
  uint32_t w_seen_gen;
  uint64_t w_bound;
  uint64_t w_rfree_ordinal;   /* pending realloc: ordinal of the old block, 0 = none */
  uint64_t w_rfree_ptr;
  uint64_t w_block_tail;      /* ring position last refused as out of order (writer.c) */
  uint64_t w_block_since;     /* when (ticks) it was first held up there, 0: not yet */
  uint32_t w_block_pass;      /* drain pass of the last refusal there */
  uint32_t w_block_held;      /* passes it was held up in (refused after the wait) */
  uint32_t w_blocked;         /* 1 while the event at tail is refused (writer.c) */
  uint64_t w_waits_reported;
  int w_dead_checks;

  _Alignas(64) atr_scache_t sc; /* producer-private */

  _Alignas(64) atr_event_t ev[ATR_RING_SIZE];
} atr_thread_t;

/* ---- timestamps ---- */
extern int atr__clock_tsc;
static inline uint64_t atr__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
/* Event timestamps: a plain rdtsc (7-12 ns here; lfence before it cost 10-15 ns per event,
 * a quarter of the tracer's cost on bench/churn1). It may execute a few instructions
 * before what made the event possible: a thread freeing a block another thread handed it
 * nanoseconds ago can stamp its free before that block's allocation, a malloc reusing
 * memory just freed by another thread before that free (libtrace/README.md, "A correct
 * global order"). The event it depends on is in the other thread's ring by then, and the writer
 * holds the event back until its merge is past that one (writer.c pending(); counted as
 * reordered in END).
 * Later stores, the real free's included, never become visible before rdtsc retires. */
static inline uint64_t atr__rdtsc(void) {
#if defined(__x86_64__)
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return ((uint64_t)hi << 32) | lo;
#else
  return atr__mono_ns();
#endif
}
static inline uint64_t atr__now(void) {
  return ATR_LIKELY(atr__clock_tsc) ? atr__rdtsc() : atr__mono_ns();
}
ATR_HIDDEN void atr__clock_init(void);
ATR_HIDDEN uint64_t atr__clock_tick0(void); /* the reading times count from */

/* Event stamps without a clock read per event, while only one thread records.
 * rdtsc costs 13 ns here, a third of what tracing adds to an event of bench/cxx (an extra
 * rdtsc per event: +8 to +15 ns). One thread needs no stamp to order it against others,
 * only a time axis: its stamps after a clock read are that reading + 1, + 2, ... for at
 * most ATR_STAMP_REUSE events and only while atr__clk.epoch stays as it was. The writer
 * bumps the epoch at every pass and wake (at least every 10 ms, every ~1024 events when
 * busy), so a stamp is late by at most the writer's sleep, never by a program's idle
 * time past it; the events of a burst by at most ATR_STAMP_REUSE events. Stamps stay
 * increasing: every event takes more than one tick. When a second thread registers it
 * sets multi and bumps the epoch: from then on every stamp is a clock read, as the merge
 * across rings needs (libtrace/README.md "A correct global order"). An event the first thread
 * stamped before it saw that is late by at most ATR_STAMP_REUSE events: it can only have
 * happened before anything another thread did with its block, and whatever it received
 * from another thread it received after the bump (x86 keeps stores in order). */
#define ATR_STAMP_REUSE 32u
struct atr_clock_share {
  _Alignas(64) _Atomic uint32_t epoch;
  _Atomic uint32_t multi; /* 1 once a second thread has registered (never cleared) */
  char pad[56];
};
extern struct atr_clock_share *atr__clkp; /* in the shared region's header */
#define atr__clk (*atr__clkp)
ATR_HIDDEN uint64_t atr__stamp_read(struct atr_thread *t, uint32_t epoch);
static inline uint64_t atr__stamp(struct atr_thread *t) {
  uint32_t ep = atomic_load_explicit(&atr__clk.epoch, memory_order_relaxed);
  if (ATR_LIKELY(t->stamp_left != 0) && ATR_LIKELY(ep == t->stamp_epoch)) {
    t->stamp_left--;
    return ++t->stamp_last;
  }
  if (ATR_LIKELY(atomic_load_explicit(&atr__clk.multi, memory_order_relaxed)))
    return atr__now(); /* above every reused stamp: each of those was one tick */
  return atr__stamp_read(t, ep);
}
/* Test seam: ticks added to acquisition / release stamps, so that the tests can make
 * cross-thread events arrive out of order (tests/cli/handoff.sh, crossfree.sh). Compiled
 * only into the tests' copy of the library (liballoctrace-seams.so, ATR_TEST_SEAMS); the
 * installed library adds nothing and ignores ALLOCTRACE_TEST_SKEW_*. */
#ifdef ATR_TEST_SEAMS
extern uint64_t atr__skew[2];
#define ATR_SKEW(i) atr__skew[i]
#else
#define ATR_SKEW(i) ((uint64_t)0)
#endif
ATR_HIDDEN uint64_t atr__ticks_to_us(uint64_t ticks); /* since atr__clock_init */
ATR_HIDDEN uint64_t atr__us_to_ticks(uint64_t us);

/* ---- configuration (config.c) ---- */
enum atr_unwind { ATR_UNWIND_LIBUNWIND = 0, ATR_UNWIND_FP = 1 };
struct atr_config {
  int unwind;
  int follow;
  int depth;
  int level; /* zstd level */
  int skew_us[2]; /* tests only: added to acquisition / release stamps (config.c) */
  char output[4096];
  int patch; /* patch Rust shims and static jemalloc/mimalloc (patch_scan.c): 0 no, 1 yes,
              * 2 yes but without trampolines near the code (14-byte jumps; for tests) */
  long long tty; /* ALLOCTRACE_TTY: st_rdev of the terminal `run` was started from, 0 none,
                  * -1 not set (preloaded by hand): where atr__log may write (rawio.c) */
};
extern struct atr_config atr__cfg;
ATR_HIDDEN void atr__config_load(void);

/* ---- threads and rings (ring.c) ---- */
ATR_HIDDEN atr_thread_t *atr__thread_register(void);
ATR_HIDDEN void atr__ring_check(atr_thread_t *t, uint64_t h, uint64_t ts);
ATR_HIDDEN int atr__ring_premap(void);      /* the first slot's piece, at start and fork */
ATR_HIDDEN void atr__ring_after_fork(void); /* a fork child drops its parent's pieces */

/* The futex word a producer blocked on a full ring sleeps on: the tail's low half. */
static inline uint32_t *atr__tail_word(atr_thread_t *t) {
  return (uint32_t *)&t->tail; /* x86-64 and other little-endian targets */
}

static inline void atr__hook_enter(atr_thread_t *t) {
  atomic_store_explicit(&t->gen, atomic_load_explicit(&t->gen, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst);
}
static inline void atr__hook_leave(atr_thread_t *t) {
  atomic_store_explicit(&t->gen, atomic_load_explicit(&t->gen, memory_order_relaxed) + 1,
                        memory_order_release);
}
static inline void atr__push(atr_thread_t *t, uint64_t ts, uint64_t ptr, uint64_t size,
                             uint64_t meta) {
  uint64_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
  if (ATR_UNLIKELY(h >= t->check_at))
    atr__ring_check(t, h, ts);
  atr_event_t *e = &t->ev[h & (ATR_RING_SIZE - 1)];
  e->ts = ts;
  e->ptr = ptr;
  e->size = size;
  e->meta = meta;
  atomic_store_explicit(&t->head, h + 1, memory_order_release);
}

/* ---- stacks (stack.c, stacktab.c) ---- */
ATR_HIDDEN int atr__stack_init(void);
ATR_HIDDEN int atr__stacktab_init(void);
ATR_HIDDEN uint32_t atr__stack_capture(atr_thread_t *t); /* 0 = no stack */
ATR_HIDDEN uint32_t atr__stack_intern(const uintptr_t *ips, int n);
ATR_HIDDEN void atr__self_range(uintptr_t lo, uintptr_t hi);

/* ---- modules (modules.c) ---- */
typedef struct atr_module {
  uintptr_t bias, lo, hi;
  uint32_t load_gen, unload_gen; /* unload_gen 0 = still loaded */
  uint32_t emitted;              /* recorder's: 1 = MOD written, 2 = UNMOD written */
  uint32_t build_id_len;
  uint8_t build_id[40];
  char path[512];
} atr_module_t;
ATR_HIDDEN uint32_t atr__modules_scan(void); /* returns the new generation */
ATR_HIDDEN atr_module_t *atr__modules(uint32_t *count);
ATR_HIDDEN void atr__modules_after_fork(void);
ATR_HIDDEN void atr__patch_after_fork(void); /* patch_scan.c: its lock, in a fork child */
ATR_HIDDEN uint32_t atr__modules_generation(void);
/* Patches Rust allocator shims and static jemalloc/mimalloc in modules not seen yet
 * (patch_scan.c); called after atr__modules_scan at start-up and after dlopen. */
ATR_HIDDEN void atr__patch_modules(void);

/* ---- the shared region and the recorder connection (shm.c) ---- */
struct atr_shm_hdr;
extern void *atr__shm;                   /* this image's region, NULL before start */
extern struct atr_shm_hdr *atr__shmh;    /* its header */
ATR_HIDDEN int atr__shm_state_page(void);
ATR_HIDDEN int atr__shm_start(void);
extern int atr__said_why; /* start-up failed with a message of its own (lifecycle.c) */
ATR_HIDDEN int atr__spawn_recorder(void); /* spawn.c: preloaded by hand */
ATR_HIDDEN void atr__start_dir_keep(void); /* spawn.c: before a chdir that precedes start-up */
ATR_HIDDEN void atr__start_dir_done(void); /* spawn.c: start-up is over, chdir is free */
ATR_HIDDEN int atr__shm_connect(void);
/* a piece of the region (shm.h): mapped, its file offset in *off; NULL if it cannot be */
ATR_HIDDEN void *atr__shm_piece(uint64_t len, uint64_t *off);
ATR_HIDDEN void *atr__shm_map_piece(uint64_t off, uint64_t len); /* one reserved before */
ATR_HIDDEN int atr__region_fd(void);          /* the region's descriptor, -1: none */
ATR_HIDDEN void atr__region_vacate(int begin); /* proc.c: dup2/dup3 takes its number */
ATR_HIDDEN int atr__shm_fork_child(uint64_t fork_tick, uint64_t fork_mark);
ATR_HIDDEN void atr__shm_drop_parent_conn(void);
ATR_HIDDEN void atr__shm_end(unsigned end_flags);
ATR_HIDDEN int atr__recorder_ring(void); /* doorbell: 0, or -1 when the recorder is gone */
ATR_HIDDEN void atr__recorder_kick(void); /* doorbell if the recorder sleeps */
ATR_HIDDEN int atr__conn_fd(void);
ATR_HIDDEN int atr__conn_moved(int from, int to);
ATR_HIDDEN void atr__note(const char *text);
ATR_HIDDEN void atr__layer(unsigned mask);
ATR_HIDDEN int atr__fd_move_high(int fd); /* dup to a high number, close the low one */
ATR_HIDDEN void atr__fd_own(int fd);    /* proc.c: protect fd from the program's closing */
ATR_HIDDEN void atr__fd_disown(int fd);
extern int atr__pipe_refuse; /* proc.c: refuse libunwind's start-up pipe2 while set */

/* ---- lifecycle (lifecycle.c) ---- */
ATR_HIDDEN void atr__init(void);
ATR_HIDDEN void atr__finish(unsigned end_flags);

/* ---- raw output without malloc (rawio.c) ---- */
ATR_HIDDEN void atr__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
ATR_HIDDEN int atr__fmt(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- recording entry points used by every hook layer (hooks.c) ---- */
ATR_HIDDEN void atr__record_alloc(unsigned kind, void *p, size_t size, size_t align);
/* an allocation that may be a C++ operator new's block (recorded as the operator) */
ATR_HIDDEN void atr__record_c_alloc(unsigned kind, void *p, size_t size, size_t align);
ATR_HIDDEN void atr__record_free(void *p);
ATR_HIDDEN void atr__record_control(unsigned type, uint64_t value); /* MODULES, NAME, FORK */
extern int atr__pid; /* getpid() of the process the recorder state belongs to */
/* realloc: call _begin before the real call and _end after, with the guard held between */
ATR_HIDDEN atr_thread_t *atr__record_realloc_begin(void *old);
ATR_HIDDEN void atr__record_realloc_end(atr_thread_t *t, unsigned kind, void *old, void *p,
                                        size_t size, size_t align);

#endif
