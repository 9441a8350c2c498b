/* alloctrace-replayer [--order recorded|deps] OPSFILE: re-executes a replay op file
 * (replay_ops.h) on one real thread per recorded thread, touching every page it
 * allocates, and prints one JSON line: wall/CPU time, page faults, RSS.
 * Links only libc and pthread. Must never allocate by itself (no stdio streams, no
 * malloc): the allocator under test, and a tracer watching the replay, see only the
 * replayed calls. Its own thread creation is hidden from alloctrace (atr_suppress_*).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "replay_ops.h"

#define BUF_OPS 2048u           /* ops read per pread (48 KiB per thread) */
#define TOUCH_ALL_BELOW 4096u   /* blocks up to this size are written whole */
#define SPIN 256                /* pause loops before sleeping on a wait */
#define STACK_SIZE (512u << 10) /* replay threads only call the allocator */

static void die(const char *what, const char *detail) {
  char msg[512];
  int n = snprintf(msg, sizeof(msg), "alloctrace-replayer: %s%s%s\n", what, detail ? ": " : "",
                   detail ? detail : "");
  if (write(2, msg, (size_t)n) < 0)
    _exit(2);
  _exit(2);
}

/* ---- the allocation functions, with stand-ins for those the allocator lacks ---- */

typedef struct {
  void *(*malloc)(size_t);
  void *(*calloc)(size_t, size_t);
  void *(*realloc)(void *, size_t);
  void *(*reallocarray)(void *, size_t, size_t);
  int (*posix_memalign)(void **, size_t, size_t);
  void *(*aligned_alloc)(size_t, size_t);
  void *(*memalign)(size_t, size_t);
  void *(*valloc)(size_t);
  void *(*pvalloc)(size_t);
  void (*free)(void *);
} fns_t;

static fns_t F;
static size_t page_size;
static char substituted[128]; /* "pvalloc,reallocarray": functions replaced by stand-ins */
static char malloc_from[512];

static void *pm_aligned(size_t align, size_t size) {
  void *p = NULL;
  return F.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) ? NULL : p;
}
static void *sub_aligned_alloc(size_t align, size_t size) { return pm_aligned(align, size); }
static void *sub_memalign(size_t align, size_t size) { return pm_aligned(align, size); }
static void *sub_valloc(size_t size) { return pm_aligned(page_size, size); }
static void *sub_pvalloc(size_t size) {
  return pm_aligned(page_size, size ? (size + page_size - 1) & ~(page_size - 1) : page_size);
}
static void *sub_reallocarray(void *p, size_t n, size_t m) { return F.realloc(p, n * m); }

/* A function is usable only when it comes from the module that provides malloc: glibc's
 * pvalloc under a preloaded jemalloc would hand glibc memory to jemalloc's free. */
static void *resolve(const char *name, const Dl_info *base, int required) {
  void *f = dlsym(RTLD_DEFAULT, name);
  Dl_info info;
  if (f && dladdr(f, &info) && info.dli_fbase == base->dli_fbase)
    return f;
  if (required)
    die("the allocator does not provide", name);
  size_t len = strlen(substituted);
  snprintf(substituted + len, sizeof(substituted) - len, "%s%s", len ? "," : "", name);
  return NULL;
}

/* dlsym returns an object pointer; POSIX guarantees it converts to a function pointer */
#define SET_FN(field, name, stand_in)                                                              \
  do {                                                                                             \
    void *f_ = resolve(name, &base, 0);                                                            \
    if (f_)                                                                                        \
      memcpy(&F.field, &f_, sizeof(f_));                                                           \
    else                                                                                           \
      F.field = stand_in;                                                                          \
  } while (0)
#define GET_FN(field, name)                                                                        \
  do {                                                                                             \
    void *f_ = resolve(name, &base, 1);                                                            \
    memcpy(&F.field, &f_, sizeof(f_));                                                             \
  } while (0)

static void resolve_all(void) {
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info base;
  if (!m || !dladdr(m, &base))
    die("cannot locate malloc", NULL);
  snprintf(malloc_from, sizeof(malloc_from), "%s", base.dli_fname ? base.dli_fname : "?");
  memcpy(&F.malloc, &m, sizeof(m));
  GET_FN(free, "free");
  GET_FN(calloc, "calloc");
  GET_FN(realloc, "realloc");
  GET_FN(posix_memalign, "posix_memalign");
  SET_FN(reallocarray, "reallocarray", sub_reallocarray);
  SET_FN(aligned_alloc, "aligned_alloc", sub_aligned_alloc);
  SET_FN(memalign, "memalign", sub_memalign);
  SET_FN(valloc, "valloc", sub_valloc);
  SET_FN(pvalloc, "pvalloc", sub_pvalloc);
}

/* alloctrace's API, present only when the replay itself is traced */
static int (*suppress_begin)(void);
static void (*suppress_end)(int);
static int hide(void) { return suppress_begin ? suppress_begin() : 0; }
static void unhide(int token) {
  if (suppress_end)
    suppress_end(token);
}

/* ---- shared state ---- */

typedef struct {
  void *p;
  uint64_t size;
} slot_t;

typedef struct {
  _Alignas(128) _Atomic uint32_t turns; /* recorded order: hand-overs received */
  _Atomic uint32_t sleeping;
  uint32_t consumed;
  uint32_t index;
  uint64_t first, count, done;
  uint64_t failed, waits;
  atr_rop_t *buf;
  size_t pos, nbuf;
  pthread_t th;
} rthread_t;

static uint64_t heap_peak_rss; /* exact RSS right after the op that reaches the heap peak */
static double excluded_wall, excluded_cpu; /* time spent taking that sample */
static int fd;
static uint64_t ops_offset, nops, nslots;
static uint32_t nthreads;
static int strict = 1;
static slot_t *slots;
static _Atomic uint32_t *slot_state; /* deps order: ops each slot has seen */
static rthread_t *threads;
/* done: every replay thread stays alive until the last op of every thread has run. A
 * thread that exits gives back what it holds of its own (the stack pages glibc
 * madvises away, the sanitizer's per-thread caches, a tracer's buffers): memory that
 * is in the baseline RSS would then be missing from the RSS at the heap peak, and with
 * many short threads the fragmentation ratio came out negative (1000 threads under the
 * ASan replayer: -52.24x). */
static pthread_barrier_t ready, go, done;

static void *map_anon(size_t bytes) {
  void *p =
      mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    die("out of memory", strerror(errno));
  return p;
}

/* Fault the pages in now, so the bookkeeping is part of the baseline RSS. */
static void prefault(void *p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += page_size)
    ((volatile char *)p)[off] = 0;
}

static void refill(rthread_t *t) {
  uint64_t left = t->count - t->done;
  size_t want = left < BUF_OPS ? (size_t)left : BUF_OPS;
  size_t bytes = want * sizeof(atr_rop_t), got = 0;
  off_t off = (off_t)(ops_offset + (t->first + t->done) * sizeof(atr_rop_t));
  while (got < bytes) {
    ssize_t n = pread(fd, (char *)t->buf + got, bytes - got, off + (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die("cannot read the op file",
          n < 0 ? strerror(errno) : "it is shorter than its header says");
    got += (size_t)n;
  }
  t->pos = 0;
  t->nbuf = want;
}

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val) {
  return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/* Recorded order: sleep until the previous run hands the turn to this thread. */
static void wait_turn(rthread_t *t) {
  for (int spin = 0; atomic_load(&t->turns) == t->consumed; spin++) {
    if (spin < SPIN) {
      relax();
      continue;
    }
    t->waits++;
    atomic_store(&t->sleeping, 1);
    if (atomic_load(&t->turns) == t->consumed)
      futex(&t->turns, FUTEX_WAIT, t->consumed);
    atomic_store(&t->sleeping, 0);
  }
  t->consumed++;
}

static void give_turn(uint32_t next) {
  rthread_t *n = &threads[next];
  atomic_fetch_add(&n->turns, 1);
  if (atomic_load(&n->sleeping))
    futex(&n->turns, FUTEX_WAKE, 1);
}

/* Deps order: wait until the slot has seen `want` ops (its block exists / was freed). */
static void wait_slot(rthread_t *t, uint32_t slot, uint32_t want) {
  if (atomic_load_explicit(&slot_state[slot], memory_order_acquire) == want)
    return;
  t->waits++;
  for (unsigned spin = 0; atomic_load_explicit(&slot_state[slot], memory_order_acquire) != want;
       spin++) {
    if (spin < SPIN)
      relax();
    else if (spin < SPIN + 1000)
      sched_yield();
    else
      nanosleep(&(struct timespec){0, 20000}, NULL);
  }
}

/* Write the block the way a program fills it: all of a small block, one byte per page
 * of a large one (every page becomes resident, as it did in the traced program). */
static void touch(void *block, uint64_t from, uint64_t to) {
  volatile uint8_t *p = block;
  if (!block || to <= from)
    return;
  if (to - from <= TOUCH_ALL_BELOW) {
    memset((uint8_t *)block + from, 0xA5, (size_t)(to - from));
    return;
  }
  for (uint64_t off = from; off < to; off += page_size)
    p[off] = 0xA5;
  p[to - 1] = 0xA5;
}

static void execute(rthread_t *t, const atr_rop_t *op, slot_t *s) {
  size_t size = (size_t)op->size;
  size_t align = op->align_log2 ? (size_t)1 << op->align_log2 : 16;
  void *p = NULL, *old = s->p;
  uint64_t from = 0;
  switch (op->op) {
  case ATR_ROP_MALLOC:
    p = F.malloc(size);
    break;
  case ATR_ROP_CALLOC:
    p = F.calloc(1, size);
    break;
  case ATR_ROP_REALLOC_NEW:
    p = F.realloc(NULL, size);
    break;
  case ATR_ROP_REALLOCARRAY_NEW:
    p = F.reallocarray(NULL, size, 1);
    break;
  case ATR_ROP_POSIX_MEMALIGN:
    p = pm_aligned(align, size);
    break;
  case ATR_ROP_ALIGNED_ALLOC:
    p = F.aligned_alloc(align, size);
    break;
  case ATR_ROP_MEMALIGN:
    p = F.memalign(align, size);
    break;
  case ATR_ROP_VALLOC:
    p = F.valloc(size);
    break;
  case ATR_ROP_PVALLOC:
    p = F.pvalloc(size);
    break;
  case ATR_ROP_REALLOC:
  case ATR_ROP_REALLOCARRAY:
  case ATR_ROP_REALLOC_ALIGNED:
    if (size == 0 && old) {
      /* realloc(p, 0) frees p under glibc but returns a block elsewhere: the trace
       * recorded a block, so give one back the same way under every allocator */
      F.free(old);
      old = NULL;
      p = F.malloc(0);
      break;
    }
    if (op->op == ATR_ROP_REALLOC_ALIGNED) {
      p = pm_aligned(align, size);
      if (p && old) {
        memcpy(p, old, (size_t)(s->size < size ? s->size : size));
        F.free(old);
      }
    } else if (op->op == ATR_ROP_REALLOCARRAY) {
      p = F.reallocarray(old, size, 1);
    } else {
      p = F.realloc(old, size);
    }
    if (!p && old) { /* failed: the old block stays, as realloc promises */
      t->failed++;
      return;
    }
    from = old ? s->size : 0;
    break;
  case ATR_ROP_FREE:
    F.free(old);
    s->p = NULL;
    s->size = 0;
    return;
  }
  if (!p)
    t->failed++;
  touch(p, from, size);
  s->p = p;
  s->size = p ? op->size : 0;
}

static void sample_peak(void);

static void run(rthread_t *t) {
  for (; t->done < t->count; t->done++) {
    if (t->pos == t->nbuf)
      refill(t);
    const atr_rop_t *op = &t->buf[t->pos++];
    if (op->slot >= nslots || op->op == 0 || op->op >= ATR_ROP_COUNT ||
        ((op->flags & ATR_ROP_HANDOFF) && op->next >= nthreads))
      die("corrupt op file", "an op is out of range");
    if (strict) {
      if (op->flags & ATR_ROP_TURN)
        wait_turn(t);
      execute(t, op, &slots[op->slot]);
      if (op->flags & ATR_ROP_PEAK)
        sample_peak();
      if (op->flags & ATR_ROP_HANDOFF)
        give_turn(op->next);
    } else {
      wait_slot(t, op->slot, op->wait);
      execute(t, op, &slots[op->slot]);
      if (op->flags & ATR_ROP_PEAK)
        sample_peak();
      atomic_store_explicit(&slot_state[op->slot], op->wait + 1, memory_order_release);
    }
  }
}

static void *thread_main(void *arg) {
  rthread_t *t = arg;
  if (t->count)
    refill(t);
  pthread_barrier_wait(&ready);
  pthread_barrier_wait(&go);
  run(t);
  pthread_barrier_wait(&done);
  return NULL;
}

/* ---- measurements ---- */

static uint64_t field_kib(const char *buf, const char *field) {
  const char *p = strstr(buf, field);
  return p ? strtoull(p + strlen(field), NULL, 10) * 1024u : 0;
}

static uint64_t read_kib(const char *file, const char *field) {
  char buf[4096];
  int f = open(file, O_RDONLY | O_CLOEXEC);
  ssize_t n = f >= 0 ? read(f, buf, sizeof(buf) - 1) : -1;
  if (f >= 0)
    close(f);
  buf[n > 0 ? n : 0] = 0;
  return field_kib(buf, field);
}

/* Exact resident set: smaps_rollup walks the page tables. VmRSS and VmHWM come from
 * per-CPU counters that Linux (>= 6.2) folds in lazily, off by up to hundreds of KiB. */
static uint64_t exact_rss(void) {
  uint64_t rss = read_kib("/proc/self/smaps_rollup", "Rss:");
  return rss ? rss : read_kib("/proc/self/status", "VmRSS:");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Once per replay; its cost is taken out of the measured times. */
static void sample_peak(void) {
  double w0 = now_s(), c0 = thread_cpu_s();
  heap_peak_rss = exact_rss();
  excluded_cpu = thread_cpu_s() - c0;
  excluded_wall = now_s() - w0;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static size_t json_str(char *out, size_t n, const char *s) {
  size_t o = 0;
  for (; *s && o + 7 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      o += (size_t)snprintf(out + o, n - o, "\\%c", c);
    else if (c < 0x20)
      o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
    else
      out[o++] = (char)c;
  }
  out[o] = 0;
  return o;
}

/* ---- setup ---- */

static void load(const char *path) {
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    die(path, strerror(errno));
  struct stat st;
  atr_rops_hdr_t h;
  if (fstat(fd, &st) != 0 || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
      memcmp(h.magic, ATR_ROPS_MAGIC, 8) != 0)
    die(path, "not a replay op file (make one with alloctrace replay --save-ops)");
  if (h.version != ATR_ROPS_VERSION)
    die(path, "op file version differs from this replayer's");
  nthreads = h.nthreads;
  nops = h.nops;
  nslots = h.nslots;
  ops_offset = sizeof(h) + (uint64_t)nthreads * sizeof(atr_rops_thread_t);
  if (nthreads > (1u << 24) || nslots > UINT32_MAX || nops > ((uint64_t)1 << 58) ||
      (uint64_t)st.st_size != ops_offset + nops * sizeof(atr_rop_t))
    die(path, "corrupt op file: its size does not match its header");
  size_t tbytes = (size_t)nthreads * sizeof(atr_rops_thread_t);
  atr_rops_thread_t *tab = map_anon(tbytes);
  if (tbytes && pread(fd, tab, tbytes, sizeof(h)) != (ssize_t)tbytes)
    die(path, "cannot read the thread table");
  threads = map_anon((size_t)(nthreads ? nthreads : 1) * sizeof(rthread_t));
  uint64_t total = 0;
  for (uint32_t i = 0; i < nthreads; i++) {
    if (tab[i].first > nops || tab[i].count > nops - tab[i].first)
      die(path, "corrupt op file: a thread's ops lie outside the file");
    total += tab[i].count;
    threads[i].index = i;
    threads[i].first = tab[i].first;
    threads[i].count = tab[i].count;
    threads[i].buf = map_anon(BUF_OPS * sizeof(atr_rop_t));
  }
  if (total != nops)
    die(path, "corrupt op file: the thread table does not cover every op");
  munmap(tab, tbytes ? tbytes : 1);
  slots = map_anon((size_t)nslots * sizeof(slot_t));
  prefault(slots, (size_t)nslots * sizeof(slot_t));
  if (!strict) {
    slot_state = map_anon((size_t)nslots * sizeof(*slot_state));
    prefault(slot_state, (size_t)nslots * sizeof(*slot_state));
  }
}

static void usage(void) { die("usage: alloctrace-replayer [--order recorded|deps] OPSFILE", NULL); }

int main(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--order") == 0 && i + 1 < argc) {
      i++;
      if (strcmp(argv[i], "recorded") == 0)
        strict = 1;
      else if (strcmp(argv[i], "deps") == 0)
        strict = 0;
      else
        usage();
    } else if (argv[i][0] == '-' || path) {
      usage();
    } else {
      path = argv[i];
    }
  }
  if (!path)
    usage();
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  void *sb = dlsym(RTLD_DEFAULT, "atr_suppress_begin"),
       *se = dlsym(RTLD_DEFAULT, "atr_suppress_end");
  if (sb && se) {
    memcpy(&suppress_begin, &sb, sizeof(sb));
    memcpy(&suppress_end, &se, sizeof(se));
  }
  resolve_all();
  load(path);

  unsigned n = nthreads ? nthreads : 1;
  pthread_barrier_init(&ready, NULL, n);
  pthread_barrier_init(&go, NULL, n);
  pthread_barrier_init(&done, NULL, n);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
#if !defined(__SANITIZE_ADDRESS__)
  pthread_attr_setstacksize(&attr, STACK_SIZE);
#endif
  int token = hide();
  for (uint32_t i = 1; i < nthreads; i++) {
    int e = pthread_create(&threads[i].th, &attr, thread_main, &threads[i]);
    if (e)
      die("cannot create a replay thread", strerror(e));
  }
  unhide(token);
  if (nthreads && threads[0].count)
    refill(&threads[0]);
  pthread_barrier_wait(&ready);

  uint64_t base_rss = exact_rss();
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double t0 = now_s();
  pthread_barrier_wait(&go);
  if (nthreads)
    run(&threads[0]);
  pthread_barrier_wait(&done);
  double t1 = now_s();
  getrusage(RUSAGE_SELF, &r1);
  /* measured before the threads exit, like the baseline after they started */
  uint64_t end_rss = exact_rss(), peak_rss = read_kib("/proc/self/status", "VmHWM:");
  token = hide();
  for (uint32_t i = 1; i < nthreads; i++)
    pthread_join(threads[i].th, NULL);
  unhide(token);
  if (peak_rss < heap_peak_rss)
    peak_rss = heap_peak_rss;
  if (peak_rss < end_rss)
    peak_rss = end_rss;

  uint64_t failed = 0, waits = 0;
  for (uint32_t i = 0; i < nthreads; i++) {
    failed += threads[i].failed;
    waits += threads[i].waits;
  }
  double user = tv_s(r1.ru_utime) - tv_s(r0.ru_utime);
  double sys = tv_s(r1.ru_stime) - tv_s(r0.ru_stime) - excluded_cpu; /* reading /proc is sys */
  if (sys < 0)
    sys = 0;
  char from[1024], out[2048];
  json_str(from, sizeof(from), malloc_from);
  int len = snprintf(
      out, sizeof(out),
      "{\"ops\":%llu,\"threads\":%u,\"order\":\"%s\",\"wall_s\":%.9f,\"cpu_s\":%.6f,"
      "\"user_s\":%.6f,\"sys_s\":%.6f,\"page_faults\":%ld,\"peak_rss\":%llu,\"end_rss\":%llu,"
      "\"heap_peak_rss\":%llu,\"baseline_rss\":%llu,\"failed\":%llu,\"waits\":%llu,\"malloc_from\":"
      "\"%s\","
      "\"substituted\":\"%s\"}\n",
      (unsigned long long)nops, nthreads, strict ? "recorded" : "deps", t1 - t0 - excluded_wall,
      user + sys, user, sys, (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt),
      (unsigned long long)peak_rss, (unsigned long long)end_rss, (unsigned long long)heap_peak_rss,
      (unsigned long long)base_rss, (unsigned long long)failed, (unsigned long long)waits, from,
      substituted);
  if (len <= 0 || write(1, out, (size_t)len) != len)
    die("cannot write the result", NULL);
#if defined(__SANITIZE_ADDRESS__)
  /* Give back what the traced program leaked, so LeakSanitizer reports only blocks the
   * replayer itself lost track of. */
  for (uint64_t i = 0; i < nslots; i++)
    F.free(slots[i].p);
#endif
  return 0;
}
