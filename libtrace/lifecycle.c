/* Start-up, fork and exit of the recorder: resolve the real functions, read the
 * options, start the writer; rebuild it in a fork child; flush and switch to inline
 * writing at exit. Never aborts the program: on failure tracing is simply off.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "real.h"
#include "tracer.h"

_Atomic int atr__state = ATR_OFF;
int atr__final;
int atr__pid;
static _Atomic int init_state; /* 0 not started, 1 running, 2 done */
static _Atomic int finished;

static void find_self(void) {
  uint32_t n;
  atr_module_t *mods = atr__modules(&n);
  uintptr_t me = (uintptr_t)&find_self;
  for (uint32_t i = 0; mods && i < n; i++)
    if (!mods[i].unload_gen && me >= mods[i].lo && me < mods[i].hi)
      atr__self_range(mods[i].lo, mods[i].hi);
}

static void absolute_output(void) {
  if (!atr__cfg.output[0] || atr__cfg.output[0] == '/')
    return;
  char cwd[4096], out[4096];
  if (!getcwd(cwd, sizeof(cwd)))
    return;
  atr__fmt(out, sizeof(out), "%s/%s", cwd, atr__cfg.output);
  memcpy(atr__cfg.output, out, sizeof(out));
}

/* --no-follow: children must not load the tracer again. */
static void stop_following(void) {
  const char *pre = getenv("LD_PRELOAD");
  if (!pre)
    return;
  char keep[4096] = "";
  size_t used = 0;
  const char *p = pre;
  while (*p) {
    size_t len = strcspn(p, ": ");
    if (len && !(len >= 17 && memmem(p, len, "liballoctrace.so", 16))) {
      if (used && used + 1 < sizeof(keep))
        keep[used++] = ':';
      if (used + len < sizeof(keep)) {
        memcpy(keep + used, p, len);
        used += len;
      }
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
}

static void atfork_child(void) {
  atr__pid = (int)getpid();
  if (!atr__cfg.follow || atomic_load(&finished)) {
    atomic_store(&atr__state, ATR_OFF);
    return;
  }
  atr__threads_after_fork(atr__tls.thr);
  atr__writer_after_fork();
  atr__writer_start();
}

void atr__init(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
    return;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  atr__real_init();
  atr__config_load();
  absolute_output();
  atr__pid = (int)getpid();
  atr__clock_init();
  if (atr__real.malloc && atr__real.free && atr__stack_init() == 0 && atr__modules_scan() > 0) {
    find_self();
    pthread_atfork(NULL, NULL, atfork_child);
    if (!atr__cfg.follow)
      stop_following();
    atomic_store(&atr__state, ATR_ON);
    atr__patch_modules();
  } else {
    atr__log("cannot initialise; tracing is off");
  }
  atomic_store(&init_state, 2);
  atr__tls.guard = saved;
}

/* Runs before the program's constructors that come after us in the init order; earlier
 * allocations were already recorded into rings by the lazy atr__init() in a hook. */
__attribute__((constructor(101))) static void atr_ctor(void) {
  atr__init();
  if (atomic_load(&atr__state) == ATR_ON)
    atr__writer_start();
}

/* Exit: everything recorded so far reaches the file with END; later events (other
 * threads, later destructors) are written by the thread that records them. */
void atr__finish(unsigned end_flags) {
  if (atomic_load(&atr__state) != ATR_ON || atr__pid != (int)getpid())
    return;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&finished, &expected, 1))
    return;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  if (!atomic_load(&atr__writer_running))
    atr__writer_start();
  atr__final = 1;
  atr__writer_stop();
  atr__writer_flush(end_flags);
  atr__tls.guard = saved;
}

__attribute__((destructor(101))) static void atr_dtor(void) {
  atr__finish(ATR_END_EXIT);
}
