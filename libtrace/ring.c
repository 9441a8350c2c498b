/* Per-thread rings: registration of a thread's state (a slot of the shared region,
 * mapped when first claimed, recycled by the recorder once the thread is gone) and the
 * back-pressure wait when a ring is full. The fast path (atr__push) is in tracer.h.
 * Never allocates from the heap and never drops an event while the recorder lives.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

extern void *__libc_stack_end; /* ld.so: the initial thread's stack pointer at _start */

static void stack_bounds(atr_thread_t *t) {
  t->stack_lo = t->stack_hi = 0;
  /* For the initial thread glibc's pthread_getattr_np reads /proc/self/maps with fopen
   * (malloc) while holding the thread's lock: when that malloc is the thread's first
   * event (Rust's runtime start-up calls pthread_getattr_np first), registering here
   * would take the same lock again and deadlock. Every frame of the initial thread lies
   * below __libc_stack_end, which is all the frame-pointer walker needs. */
  if (t->tid == (uint32_t)getpid()) {
    t->stack_hi = (uintptr_t)__libc_stack_end;
    return;
  }
  /* Other threads: pthread_getattr_np takes the same lock and reallocs its cpuset
   * buffer under it (nptl/pthread_getattr_np.c), the same deadlock when that realloc is
   * the thread's first event (std of rustc < 1.7x calls it at thread start: fd-find).
   * glibc keeps the thread descriptor at the top of the thread's stack block
   * (TLS_TCB_AT_TP, user-supplied stacks too), so every frame lies below pthread_self(). */
  t->stack_hi = (uintptr_t)pthread_self();
}

/* This image's mapping of each slot's piece (shm.h), NULL until it is mapped. */
static atr_thread_t *_Atomic slot[ATR_MAX_THREADS];

/* Slot i's piece: mapped and its offset published for the recorder. */
static atr_thread_t *slot_map(uint32_t i) {
  atr_thread_t *t = atomic_load_explicit(&slot[i], memory_order_acquire);
  if (t)
    return t;
  uint64_t off;
  t = atr__shm_piece(ATR_THREAD_BYTES, &off);
  if (!t)
    return NULL;
  atomic_store_explicit(&slot[i], t, memory_order_release);
  atomic_store_explicit(&atr__shmh->thread_off[i], off, memory_order_release);
  return t;
}

/* At start-up and in a fork child: the first thread's piece, the region's first. */
int atr__ring_premap(void) {
  return slot_map(0) ? 0 : -1;
}

/* A fork child: its parent's pieces are not its own (the region replaced them). */
void atr__ring_after_fork(void) {
  for (uint32_t i = 0; i < ATR_MAX_THREADS; i++) {
    atr_thread_t *t = atomic_exchange(&slot[i], NULL);
    if (t)
      munmap(t, ATR_THREAD_BYTES);
  }
}

/* A free slot (one the recorder recycled), else a new one. */
static atr_thread_t *claim(void) {
  uint32_t n = atomic_load_explicit(&atr__shmh->nthreads, memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    int expected = ATR_THR_FREE;
    atr_thread_t *t = atomic_load_explicit(&slot[i], memory_order_acquire);
    if (t && atomic_load_explicit(&t->status, memory_order_relaxed) == ATR_THR_FREE &&
        atomic_compare_exchange_strong(&t->status, &expected, ATR_THR_CLAIMED))
      return t;
  }
  /* A new slot: counted first, then owned by whoever wins its status (a thread scanning
   * above may find it free as soon as it is counted and mapped). Storing CLAIMED before
   * counting let a thread that lost the count overwrite a winner's LIVE with CLAIMED:
   * that ring was never merged (tests/cli/replay.sh lost a quarter of replay_mt's
   * events). A slot whose piece cannot be mapped stays counted and empty. */
  for (;;) {
    if (n >= ATR_MAX_THREADS)
      return NULL;
    if (atomic_compare_exchange_weak(&atr__shmh->nthreads, &n, n + 1)) {
      atr_thread_t *t = slot_map(n);
      if (!t)
        return NULL;
      int expected = ATR_THR_FREE;
      if (atomic_compare_exchange_strong(&t->status, &expected, ATR_THR_CLAIMED))
        return t;
      n = atomic_load(&atr__shmh->nthreads);
    }
  }
}

/* Called with the guard held, on the first event of a thread. */
atr_thread_t *atr__thread_register(void) {
  if (ATR_UNLIKELY(!atr__shm))
    return NULL;
  atr_thread_t *t = claim();
  if (!t) {
    static _Atomic int told;
    if (!atomic_exchange(&told, 1))
      atr__note(atomic_load(&atr__shmh->nthreads) >= ATR_MAX_THREADS
                    ? "more than 4096 threads were live at once: the events of the others were not seen"
                    : "a thread's ring could not be mapped (the address space or the file size limit): its events were not seen");
    return NULL;
  }
  uint64_t tail = atomic_load(&t->tail);
  atomic_store(&t->head, tail);
  t->check_at = tail;
  atomic_store(&t->gen, 0);
  atomic_store(&t->waiting, 0);
  t->waits = 0;
  t->stamp_left = 0; /* a recycled state's stamps were another thread's */
  if (atomic_load(&atr__shmh->nthreads) > 1 && !atomic_load(&atr__clk.multi)) {
    atomic_store(&atr__clk.multi, 1); /* every stamp a clock read from now on (tracer.h) */
    atomic_fetch_add(&atr__clk.epoch, 1);
  }
  t->tid = (uint32_t)syscall(SYS_gettid);
  stack_bounds(t);
  t->incarnation++;
  t->sc.epoch++; /* another thread's stack: nothing cached applies */
  t->sc.mapped_lo = t->sc.mapped_hi = 0;
  if (t->tid == (uint32_t)getpid()) {
    /* The initial thread's stack is one mapping growing down from above __libc_stack_end,
     * and the kernel keeps other mappings at least 128 MiB below its top (mmap_base), so
     * from any stack pointer in the 64 MiB under the top up to the top all is readable. */
    t->sc.mapped_hi = (t->stack_hi + 4095) & ~(uintptr_t)4095;
    t->sc.mapped_lo = t->sc.mapped_hi - ((uintptr_t)64 << 20);
  }
  atomic_store_explicit(&t->status, ATR_THR_LIVE, memory_order_release);
  atr__tls.thr = t;
  return t;
}

/* The ring is full: wait for the recorder instead of dropping (libtrace/README.md). The
 * pending event's timestamp lets the recorder drain everything older than it meanwhile.
 * A recorder that is gone (its socket refuses the doorbell) turns tracing off: nothing
 * would ever drain the ring. */
static ATR_NOINLINE void ring_wait(atr_thread_t *t, uint64_t ts) {
  t->waits++;
  t->wait_ts = ts;
  atomic_store_explicit(&t->waiting, 1, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst); /* waiting before tail: the recorder wakes us */
  unsigned spins = 0;
  uint64_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
  for (;;) {
    if (atr__recorder_ring() != 0) {
      atomic_store(&atr__state, ATR_OFF);
      break;
    }
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
    if (h - tail < ATR_RING_SIZE)
      break;
    if (++spins < 4) {
      sched_yield();
      continue;
    }
    /* Sleep until the recorder has freed half the ring (it sets waiting to 2 and wakes
     * us): yielding hands the core to the other blocked producers more often than to
     * the recorder (8 threads on 2 cores). The timeout bounds a missed wake. The futex
     * is a shared one (no FUTEX_PRIVATE_FLAG): the waker is another process. */
    atomic_store_explicit(&t->waiting, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (h - atomic_load_explicit(&t->tail, memory_order_acquire) < ATR_RING_SIZE)
      continue;
    struct timespec d = {0, 200000};
    syscall(SYS_futex, atr__tail_word(t), FUTEX_WAIT, (uint32_t)tail, &d,
            NULL, 0);
  }
  atomic_store_explicit(&t->waiting, 0, memory_order_release);
}

/* The producer's look at the recorder's tail: every ATR_RING_SIZE / 8 events, and on
 * every event once the ring is 7/8 full. Half full wakes a sleeping recorder (its sleep
 * would outlast the rest of the ring: seen as ~200 waits per 10 M events of
 * bench/churn1, 15% of its run); full waits. check_at never passes tail +
 * ATR_RING_SIZE: the slots from there on are still the recorder's to read. */
ATR_NOINLINE void atr__ring_check(atr_thread_t *t, uint64_t h, uint64_t ts) {
  uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
  if (h - tail >= ATR_RING_SIZE) {
    ring_wait(t, ts);
    tail = atomic_load_explicit(&t->tail, memory_order_acquire);
  } else if (h - tail >= ATR_RING_SIZE / 2) {
    atr__recorder_kick();
  }
  uint64_t next = h + ATR_RING_SIZE / 8, lim = tail + ATR_RING_SIZE;
  t->check_at = next < lim ? next : lim;
}
