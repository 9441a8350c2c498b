/* Per-thread rings: registration of a thread's state (mmap'd, recycled once the thread
 * is gone) and the back-pressure wait when a ring is full. The fast path (atr__push) is
 * in tracer.h. Never allocates from the heap and never drops an event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tracer.h"

static _Atomic(atr_thread_t *) threads;

atr_thread_t *atr__threads_head(void) {
  return atomic_load_explicit(&threads, memory_order_acquire);
}

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

static _Atomic uint32_t registered; /* threads ever registered (fork children inherit) */

static atr_thread_t *claim_free(void) {
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    int expected = ATR_THR_FREE;
    if (atomic_load_explicit(&t->status, memory_order_relaxed) == ATR_THR_FREE &&
        atomic_compare_exchange_strong(&t->status, &expected, ATR_THR_CLAIMED))
      return t;
  }
  return NULL;
}

/* Called with the guard held, on the first event of a thread. */
atr_thread_t *atr__thread_register(void) {
  atr_thread_t *t = claim_free();
  if (!t) {
    void *m = mmap(NULL, sizeof(atr_thread_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
      return NULL;
    t = m;
    atomic_store(&t->status, ATR_THR_CLAIMED);
    atr_thread_t *head = atomic_load(&threads);
    do
      t->next = head;
    while (!atomic_compare_exchange_weak(&threads, &head, t));
  }
  uint64_t tail = atomic_load(&t->tail);
  atomic_store(&t->head, tail);
  t->check_at = tail;
  atomic_store(&t->gen, 0);
  atomic_store(&t->waiting, 0);
  t->waits = 0;
  t->stamp_left = 0; /* a recycled state's stamps were another thread's */
  if (atomic_fetch_add(&registered, 1) >= 1 && !atomic_load(&atr__clk.multi)) {
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

/* Writer side: the thread is gone and its ring is drained. */
void atr__thread_recycle(atr_thread_t *t) {
  atomic_store_explicit(&t->status, ATR_THR_FREE, memory_order_release);
}

/* In a fork child only the forking thread exists: the other states are free again and
 * events recorded before the fork belong to the parent's trace. */
void atr__threads_after_fork(atr_thread_t *self) {
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    uint64_t h = atomic_load(&t->head);
    atomic_store(&t->tail, h);
    t->check_at = h;
    atomic_store(&t->waiting, 0);
    t->w_incarnation = 0;
    t->w_rfree_ordinal = 0;
    t->w_rfree_ptr = 0;
    t->w_block_tail = 0;
    t->w_blocked = 0;
    if (t != self)
      atomic_store(&t->status, ATR_THR_FREE);
  }
  if (self) {
    self->tid = (uint32_t)syscall(SYS_gettid);
    self->waits = 0;
    self->incarnation++;
  }
}

/* The ring is full: wait for the writer instead of dropping (DESIGN.md). The pending
 * event's timestamp lets the writer drain everything older than it meanwhile. */
static ATR_NOINLINE void ring_wait(atr_thread_t *t, uint64_t ts) {
  t->waits++;
  t->wait_ts = ts;
  atomic_store_explicit(&t->waiting, 1, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst); /* waiting before tail: writer.c wakes us */
  if (!atomic_load(&atr__writer_running))
    atr__writer_start();
  unsigned spins = 0;
  uint64_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
  for (;;) {
    atr__writer_kick();
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
    if (h - tail < ATR_RING_SIZE)
      break;
    if (atr__final) {
      atr__writer_inline();
      continue;
    }
    if (++spins < 4) {
      sched_yield();
      continue;
    }
    /* Sleep until the writer has freed half the ring (it sets waiting to 2 and wakes
     * us): yielding hands the core to the other blocked producers more often than to
     * the writer (8 threads on 2 cores). The timeout bounds a missed wake. */
    atomic_store_explicit(&t->waiting, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (h - atomic_load_explicit(&t->tail, memory_order_acquire) < ATR_RING_SIZE)
      continue;
    struct timespec d = {0, 200000};
    syscall(SYS_futex, atr__tail_word(t), FUTEX_WAIT_PRIVATE, (uint32_t)tail, &d,
            NULL, 0);
  }
  atomic_store_explicit(&t->waiting, 0, memory_order_release);
}

/* The producer's look at the writer's tail: every ATR_RING_SIZE / 8 events, and on
 * every event once the ring is 7/8 full. Half full wakes a sleeping writer (its sleep
 * would outlast the rest of the ring: seen as ~200 waits per 10 M events of
 * bench/churn1, 15% of its run); full waits. check_at never passes tail +
 * ATR_RING_SIZE: the slots from there on are still the writer's to read. */
ATR_NOINLINE void atr__ring_check(atr_thread_t *t, uint64_t h, uint64_t ts) {
  uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
  if (h - tail >= ATR_RING_SIZE) {
    ring_wait(t, ts);
    tail = atomic_load_explicit(&t->tail, memory_order_acquire);
  } else if (h - tail >= ATR_RING_SIZE / 2) {
    atr__writer_kick();
  }
  uint64_t next = h + ATR_RING_SIZE / 8, lim = tail + ATR_RING_SIZE;
  t->check_at = next < lim ? next : lim;
}
