/* Start-up, fork and exit of the probe: resolve the real functions, read the options,
 * make the shared region and hand it to the recorder; give a fork child a region of its
 * own; mark the end at exit. Never aborts the program and never starts a thread: on
 * failure tracing is simply off.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include "real.h"
#include "tracer.h"

int atr__pid;
static _Atomic int init_state; /* 0 not started, 1 running, 2 done */
static _Atomic int finished;
static int was_on;          /* tracing started in this image (fork children inherit it) */
static uint64_t fork_tick;  /* the clock at the last fork, in the child (atfork_child) */
static _Atomic uint64_t forks;          /* forks announced by this image (atfork_prepare) */
static __thread uint64_t fork_mark_tls; /* the fork this thread is making, 0 = none */
static uint64_t fork_mark;              /* in a fork child: the parent's number for its fork */
static int fork_threaded;               /* the last fork was made by a threaded process */

static void find_self(void) {
  uint32_t n;
  atr_module_t *mods = atr__modules(&n);
  uintptr_t me = (uintptr_t)&find_self;
  for (uint32_t i = 0; mods && i < n; i++)
    if (!mods[i].unload_gen && me >= mods[i].lo && me < mods[i].hi)
      atr__self_range(mods[i].lo, mods[i].hi);
}

/* --no-follow: children must not load the tracer again. */
static void stop_following(void) {
  const char *pre = getenv("LD_PRELOAD");
  if (!pre)
    return;
  /* as long as the original: a fixed 4 KiB dropped the libraries past it (issue 20);
   * start-up, under the guard, so the real allocator serves it */
  char *keep = atr__real.malloc(strlen(pre) + 1);
  if (!keep)
    return;
  keep[0] = 0;
  size_t used = 0;
  const char *p = pre;
  while (*p) {
    size_t len = strcspn(p, ": ");
    if (len && !(len >= 17 && memmem(p, len, "liballoctrace.so", 16))) {
      if (used)
        keep[used++] = ':';
      memcpy(keep + used, p, len);
      used += len;
      keep[used] = 0;
    }
    p += len;
    while (*p == ':' || *p == ' ')
      p++;
  }
  if (used)
    setenv("LD_PRELOAD", keep, 1);
  else
    unsetenv("LD_PRELOAD");
  atr__real.free(keep);
}

/* A fork about to happen: an ATR_EV_FORK in this thread's ring, numbered, so that the
 * recorder keeps the blocks live at this point of the parent's order and the child's
 * frees of them are known as inherited (recorder/inherit.c). The number reaches the
 * child through this thread's TLS, which the fork copies. Blocks another thread
 * allocates between here and the fork's copy of memory are not in that set (a free of
 * one in the child reads as unknown); glibc's fork runs these handlers before it takes
 * malloc's locks, so the window is open, but short. */
static void atfork_prepare(void) {
  fork_mark_tls = 0;
  fork_threaded = !__libc_single_threaded;
  /* a fork from a signal handler that interrupted a hook: this thread's ring may be
   * half-written; the child's frees of the parent's blocks read as unknown instead */
  if (atr__tls.guard || atomic_load(&atr__state) != ATR_ON || atr__pid != (int)getpid())
    return;
  uint64_t n = atomic_fetch_add(&forks, 1) + 1;
  fork_mark_tls = n;
  atr__record_control(ATR_EV_FORK, n);
}

static void atfork_parent(void) {
  fork_mark_tls = 0; /* a raw clone(2) from this thread later must not take it for its own */
}

/* The child's clock starts at its fork; the parent's connection goes at once. The rest
 * waits for the child's first event (atr__init), which is also where a child made by a
 * raw clone(2), which runs no atfork handler, starts. */
static void atfork_child(void) {
  fork_tick = atr__now();
  fork_mark = fork_mark_tls;
  fork_mark_tls = 0;
  atr__shm_drop_parent_conn();
}

/* A fork child of a threaded process can inherit glibc's dl_load_write_lock held by a
 * thread it does not have (one inside dlopen, dlclose or dl_iterate_phdr at the fork:
 * glibc's fork reinitialises dl_load_lock in the child, not this one). libunwind takes
 * it for every frame it has not cached (dl_iterate_phdr), so a child's first malloc
 * hung forever in the stack capture (issue 20: 95 of 300 children of `hostile dlfork`;
 * the same children untraced exit at once). Such a child walks frame pointers instead,
 * and its trace says so. A raw clone(2) runs no atfork handler: its copy of
 * __libc_single_threaded is its parent's. */
static void unwind_safely_after_fork(int raw_clone) {
  int threaded = raw_clone ? !__libc_single_threaded : fork_threaded;
  if (!threaded || atr__cfg.unwind != ATR_UNWIND_LIBUNWIND)
    return;
  atr__cfg.unwind = ATR_UNWIND_FP;
  atr__note("stacks by frame pointers: forked from a threaded process, whose loader lock "
            "libunwind needs may have been held at the fork");
}

/* The first event of a fork child: the state page was wiped by the fork (shm.c). */
static void child_start(void) {
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  atr__pid = (int)getpid();
  atr__tls.thr = NULL; /* the parent's thread state */
  int raw_clone = !fork_tick;
  uint64_t t0 = fork_tick ? fork_tick : atr__now();
  uint64_t mark = fork_mark;
  fork_tick = fork_mark = 0;
  was_on = 0;
  if (atr__cfg.follow && !atomic_load(&finished)) {
    if (atr__shm_fork_child(t0, mark) == 0) {
      unwind_safely_after_fork(raw_clone);
      was_on = 1;
      atomic_store(&atr__state, ATR_ON);
    } else {
      atr__log("cannot reach the recorder from a fork child; tracing is off in it");
    }
  }
  atr__tls.guard = saved;
}

void atr__init(void) {
  if (ATR_LIKELY(atomic_load(&init_state) == 2)) {
    if (was_on && atomic_load(&atr__state) == ATR_OFF)
      child_start();
    return;
  }
  int expected = 0;
  if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
    return;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  atr__real_init();
  atr__config_load();
  atr__pid = (int)getpid();
  atr__clock_init();
  if (atr__real.malloc && atr__real.free && atr__shm_state_page() == 0 &&
      atr__shm_start() == 0 && atr__stack_init() == 0 && atr__modules_scan() > 0 &&
      atr__shm_connect() == 0) {
    find_self();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    if (!atr__cfg.follow)
      stop_following();
    was_on = 1;
    atomic_store(&atr__state, ATR_ON);
    atr__patch_modules();
  } else if (!atr__said_why) {
    atr__log("cannot initialise; tracing is off");
  }
  atr__start_dir_done();
  atomic_store(&init_state, 2);
  atr__tls.guard = saved;
}

/* Runs before the program's constructors that come after us in the init order; earlier
 * allocations were already recorded into rings by the lazy atr__init() in a hook. */
__attribute__((constructor(101))) static void atr_ctor(void) {
  atr__init();
}

/* Exit: how the image ended. Events after it (other threads, later destructors) are
 * recorded as before: the recorder drains them once the process is gone. */
void atr__finish(unsigned end_flags) {
  if (atomic_load(&atr__state) != ATR_ON || atr__pid != (int)getpid())
    return;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&finished, &expected, 1))
    return;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  atr__shm_end(end_flags);
  atr__tls.guard = saved;
}

__attribute__((destructor(101))) static void atr_dtor(void) {
  atr__finish(ATR_END_EXIT);
}
