/* own_malloc: a program that brings its own allocator. malloc, free, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
 * malloc_usable_size are defined by the executable (size-class free lists over an
 * mmap'd arena, behind a spinlock), so libc's and every library's calls bind to them
 * before LD_PRELOAD's. It counts what it is asked for itself and prints the counts.
 * Built five ways: the arena (own_malloc), -DOWN_WRAP_LIBC (blocks from __libc_malloc:
 * own_malloc_libc), -DOWN_WRAP_NEXT (blocks from dlsym(RTLD_NEXT, "malloc"): under the
 * tracer that is liballoctrace's malloc, which must not count a block again) and
 * -DOWN_UNPATCHABLE (own_malloc_refused: memalign cannot be detoured, so nothing is);
 * own_malloc_early (-DOWN_EARLY) links own_early.c, whose constructor keeps 100 blocks
 * of 1777 bytes from before main, uncounted here, and frees them at exit.
 *
 * Counts, with the trace's definitions: calls = allocations that returned a block
 * (realloc included), bytes = their requested sizes, frees = free() of a block,
 * reallocs = realloc/reallocarray calls with a block, failed = allocations that returned
 * NULL, peak = most requested bytes live at once, leaked = live at the end of main.
 * "all" counts every call made on the program's threads since main started (in a fork
 * child: since the fork), libc's for the program included (pthread_create's TLS);
 * "work" only the program's own calls below, whose numbers are known:
 *   temporaries   100 x malloc(100), each freed at once
 *   zeroed        calloc(10, 32), checked zero, freed
 *   failures      calloc(SIZE_MAX/4, 8) (overflow), malloc(1 TiB), posix_memalign(24, 10)
 *                 (EINVAL), q = malloc(200), realloc(q, 1 TiB), reallocarray(q, SIZE_MAX/2,
 *                 4) (overflow; q stays live), free(q): 5 failed, 2 reallocs
 *   chain         realloc(NULL, 16) -> 24 (in place) -> 4096 -> reallocarray 100 x 80,
 *                 then realloc(p, 0), which frees it: 4 reallocs
 *   aligned       posix_memalign(64, 1000), aligned_alloc(256, 512), memalign(4096, 100),
 *                 valloc(5000), pvalloc(5000), all freed
 *   peak          malloc(1 MiB) + malloc(512 KiB) live together, freed
 *   cxx           operator new(48) and new[](64), libstdc++'s (dlopen'd; they call this
 *                 malloc), deleted
 *   leaks         3 x malloc(256), never freed; free(NULL) three times
 *   threads       4 threads x 1000 x malloc(32 + i % 64), each freed 8 allocations later
 * Work: 4118 calls, 1860092 bytes, 4111 frees, 6 reallocs, 5 failed, peak 1572864,
 *       leaked 768 bytes in 3 blocks.
 * `own_malloc fork` then, while the 4 threads go on allocating (uncounted in "work", until
 * every fork is back, 1000000 churns at most): one thread takes the allocator's lock
 * inside malloc and keeps it while 2 others fork bypassing the program's atfork handlers
 * (the child, which has no usable allocator, writes "bare_child exits" and leaves with
 * _exit(0), or execs "own_malloc exec-child"); then 3 threads fork() normally, and each
 * child makes 10 x malloc(1000), frees 5 (leaked 5000 bytes in 5 blocks, peak 10000),
 * prints "child_work ..." and leaves with _exit(0). "own_malloc exec-child" does the same
 * work and prints "exec_work ..." and (stderr) "exec_all ...".
 * Output: "work ..." on stdout, "all ..." on stderr (write(2), never stdio: its buffer
 * would be an allocation of its own); stdout is the same in every run but for the order
 * of the children's lines. Exit 0, or 1 when a result or errno was not what it must be.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

#define EXPORT __attribute__((visibility("default"), used, noinline))

/* ---- where blocks come from ---- */
#define HDR 16u
#define MAX_REQUEST ((size_t)1 << 29)

#if defined(OWN_WRAP_LIBC) || defined(OWN_WRAP_NEXT)
#ifdef OWN_WRAP_LIBC
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
static void *raw_get(size_t n) { return __libc_malloc(n); }
static void raw_put(void *p, size_t n) {
  (void)n;
  __libc_free(p);
}
#else
/* dlsym may allocate while it resolves: those calls get static memory, never freed */
static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static _Alignas(16) char boot[65536];
static size_t boot_used;
static __thread int resolving;
static void *raw_get(size_t n) {
  if (!next_malloc) {
    if (resolving) {
      n = (n + 15) & ~(size_t)15;
      if (boot_used + n > sizeof(boot))
        return NULL;
      boot_used += n;
      return boot + boot_used - n;
    }
    resolving = 1;
    void *f = dlsym(RTLD_NEXT, "free"), *m = dlsym(RTLD_NEXT, "malloc");
    memcpy(&next_free, &f, sizeof(f)); /* dlsym(3): POSIX allows the conversion */
    memcpy(&next_malloc, &m, sizeof(m));
    resolving = 0;
  }
  return next_malloc(n);
}
static void raw_put(void *p, size_t n) {
  (void)n;
  if ((char *)p < boot || (char *)p >= boot + sizeof(boot))
    next_free(p);
}
#endif
/* at least 64 bytes, so that small blocks can grow in place */
static unsigned class_of(size_t total) {
  (void)total;
  return 0;
}
static size_t class_size(unsigned cls, size_t total) {
  (void)cls;
  return total < 64 ? 64 : total;
}
static void *chunk_get(unsigned cls, size_t total) {
  return raw_get(class_size(cls, total));
}
static void chunk_put(void *c, unsigned cls, size_t total) {
  (void)cls;
  raw_put(c, total);
}
#else
/* power-of-two chunks (64 B .. 1 GiB) from free lists, carved from one arena */
static char *arena, *arena_top, *arena_end;
static void *free_list[31];
static unsigned class_of(size_t total) {
  unsigned c = 6; /* 64 bytes: small blocks can grow in place */
  while (((size_t)1 << c) < total)
    c++;
  return c;
}
static size_t class_size(unsigned cls, size_t total) {
  (void)total;
  return (size_t)1 << cls;
}
static void *chunk_get(unsigned cls, size_t total) {
  (void)total;
  void *c = free_list[cls];
  if (c) {
    memcpy(&free_list[cls], c, sizeof(void *));
    return c;
  }
  if (!arena) {
    arena = mmap(NULL, (size_t)1 << 32, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (arena == MAP_FAILED) {
      arena = NULL;
      return NULL;
    }
    arena_top = arena;
    arena_end = arena + ((size_t)1 << 32);
  }
  size_t size = (size_t)1 << cls;
  if ((size_t)(arena_end - arena_top) < size)
    return NULL;
  arena_top += size;
  return arena_top - size;
}
static void chunk_put(void *c, unsigned cls, size_t total) {
  (void)total;
  memcpy(c, &free_list[cls], sizeof(void *));
  free_list[cls] = c;
}
#endif

/* ---- the lock, the blocks and the counters ---- */
typedef struct {
  uint64_t size;  /* requested */
  uint32_t off;   /* from the chunk's start to the block */
  uint8_t cls;
  uint8_t flags;  /* COUNTED, WORK */
  uint16_t gen;   /* fork generation it was allocated in */
} hdr_t;
_Static_assert(sizeof(hdr_t) == HDR, "header size");
enum { COUNTED = 1, WORK = 2 };

typedef struct {
  uint64_t calls, bytes, frees, reallocs, failed, live, peak, blocks;
} counts_t;

static atomic_flag lock = ATOMIC_FLAG_INIT;
static counts_t all, work;
static uint16_t gen;
static __thread int counting, in_work;

static void lock_take(void) {
  while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
    __builtin_ia32_pause();
}
static void lock_drop(void) { atomic_flag_clear_explicit(&lock, memory_order_release); }

/* `fork` mode: the holder thread keeps the lock, once, until the BARE forks are done */
#define BARE 2 /* fork() while the holder holds the lock: the child must not allocate */
static _Atomic int forks_done, holding;
static __thread int hold;
static void maybe_hold(void) {
  if (!hold)
    return;
  atomic_store(&holding, 1);
  while (atomic_load(&forks_done) < BARE)
    sched_yield();
}

static hdr_t *hdr_of(void *p) { return (hdr_t *)((char *)p - HDR); }

static void count_alloc(counts_t *c, uint64_t size) {
  c->calls++;
  c->bytes += size;
  c->live += size;
  c->blocks++;
  if (c->live > c->peak)
    c->peak = c->live;
}
static void count_release(counts_t *c, uint64_t size) {
  c->live -= size;
  c->blocks--;
}

/* Called with the lock held. Which counters a call goes to. */
static unsigned who(void) { return (counting ? COUNTED : 0) | (counting && in_work ? WORK : 0); }
static void on_alloc(unsigned f, uint64_t size) {
  if (f & COUNTED)
    count_alloc(&all, size);
  if (f & WORK)
    count_alloc(&work, size);
}
static void on_fail(unsigned f) {
  if (f & COUNTED)
    all.failed++;
  if (f & WORK)
    work.failed++;
}
/* the block's own flags: it was counted when it was allocated (in this process) */
static void on_release(const hdr_t *h, int is_free) {
  if (h->gen != gen)
    return;
  if (h->flags & COUNTED) {
    count_release(&all, h->size);
    all.frees += is_free;
  }
  if (h->flags & WORK) {
    count_release(&work, h->size);
    work.frees += is_free;
  }
}
static void on_realloc_call(unsigned f) {
  if (f & COUNTED)
    all.reallocs++;
  if (f & WORK)
    work.reallocs++;
}

/* A block of `size` bytes asked for, `room` >= size usable, aligned to `align` (a power
 * of two >= 16); lock held. */
static void *block_new(size_t size, size_t room, size_t align, unsigned f) {
  if (room > MAX_REQUEST)
    return NULL;
  size_t total = room + HDR + (align > HDR ? align - HDR : 0);
  unsigned cls = class_of(total);
  char *c = chunk_get(cls, total);
  if (!c)
    return NULL;
  char *p = (char *)(((uintptr_t)c + HDR + align - 1) & ~(uintptr_t)(align - 1));
  hdr_t *h = hdr_of(p);
  h->size = size;
  h->off = (uint32_t)(p - c);
  h->cls = (uint8_t)cls;
  h->flags = (uint8_t)f;
  h->gen = gen;
  return p;
}
static void block_delete(void *p) {
  hdr_t *h = hdr_of(p);
  chunk_put((char *)p - h->off, h->cls, h->size + h->off);
}
static size_t block_room(void *p) {
  hdr_t *h = hdr_of(p);
  return class_size(h->cls, h->size + h->off) - h->off;
}

/* The end of every allocation: count it, unlock, set errno when it failed. */
static void *done(unsigned f, void *p, size_t size) {
  if (p)
    on_alloc(f, size);
  else
    on_fail(f);
  lock_drop();
  if (!p)
    errno = ENOMEM;
  return p;
}

static void *alloc_counted(size_t size, size_t room, size_t align) {
  lock_take();
  maybe_hold();
  unsigned f = who();
  return done(f, block_new(size, room, align, f), size);
}

static void *realloc_counted(void *old, size_t size) {
  if (!old)
    return alloc_counted(size, size, HDR);
  lock_take();
  unsigned f = who();
  on_realloc_call(f);
  hdr_t *h = hdr_of(old);
  void *p = NULL;
  if (size == 0) { /* frees the block and returns NULL, as glibc's does */
    on_release(h, 0);
    block_delete(old);
    lock_drop();
    return NULL;
  }
  if (size <= block_room(old)) {
    on_release(h, 0);
    h->size = size;
    h->flags = (uint8_t)f;
    h->gen = gen;
    p = old;
  } else if ((p = block_new(size, size, HDR, f)) != NULL) {
    memcpy(p, old, h->size);
    on_release(h, 0);
    block_delete(old);
  }
  return done(f, p, size);
}

/* ---- the C allocation functions ---- */
EXPORT void *malloc(size_t n) { return alloc_counted(n, n, HDR); }

EXPORT void free(void *p) {
  if (!p)
    return;
  lock_take();
  on_release(hdr_of(p), 1);
  block_delete(p);
  lock_drop();
}

EXPORT void *calloc(size_t a, size_t b) {
  size_t n;
  if (__builtin_mul_overflow(a, b, &n)) {
    lock_take();
    on_fail(who());
    lock_drop();
    errno = ENOMEM;
    return NULL;
  }
  void *p = alloc_counted(n, n, HDR);
  if (p)
    memset(p, 0, n);
  return p;
}

EXPORT void *realloc(void *old, size_t n) { return realloc_counted(old, n); }

EXPORT void *reallocarray(void *old, size_t a, size_t b) {
  size_t n;
  if (__builtin_mul_overflow(a, b, &n)) {
    lock_take();
    unsigned f = who();
    if (old)
      on_realloc_call(f);
    on_fail(f);
    lock_drop();
    errno = ENOMEM;
    return NULL;
  }
  return realloc_counted(old, n);
}

static int pow2(size_t a) { return a && !(a & (a - 1)); }

EXPORT void *aligned_alloc(size_t align, size_t n) {
  if (!pow2(align)) {
    lock_take();
    on_fail(who());
    lock_drop();
    errno = EINVAL;
    return NULL;
  }
  return alloc_counted(n, n, align < HDR ? HDR : align);
}

#ifndef OWN_UNPATCHABLE
EXPORT void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }
#else
/* memalign loops back into its own first bytes, which a detour would move: the tracer
 * must refuse it, and with it the whole allocator, in one NOTE */
void *memalign(size_t align, size_t n);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl memalign\n"
        ".type memalign,@function\n"
        "memalign:\n"
        "  xor %eax, %eax\n"
        "1: add $1, %eax\n"
        "  cmp $3, %eax\n"
        "  jb 1b\n"
        "  jmp aligned_alloc\n"
        ".size memalign, .-memalign\n");
#endif

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (!pow2(align) || align % sizeof(void *)) {
    lock_take();
    on_fail(who());
    lock_drop();
    return EINVAL;
  }
  int e = errno;
  void *p = alloc_counted(n, n, align < HDR ? HDR : align);
  errno = e; /* posix_memalign reports through its result only */
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}

EXPORT void *valloc(size_t n) { return alloc_counted(n, n, 4096); }
EXPORT void *pvalloc(size_t n) { return alloc_counted(n, (n + 4095) & ~(size_t)4095, 4096); }
EXPORT size_t malloc_usable_size(void *p) { return p ? block_room(p) : 0; }

/* ---- output ---- */
static void say_counts(int fd, const char *what, const counts_t *c) {
  (fd == 2 ? say_err : say)("%s calls=%llu bytes=%llu frees=%llu reallocs=%llu failed=%llu peak=%llu "
      "leaked_bytes=%llu leaked_blocks=%llu\n",
      what, (unsigned long long)c->calls, (unsigned long long)c->bytes,
      (unsigned long long)c->frees, (unsigned long long)c->reallocs,
      (unsigned long long)c->failed, (unsigned long long)c->peak,
      (unsigned long long)c->live, (unsigned long long)c->blocks);
}

static int bad;
static void expect(int ok, const char *what) {
  if (!ok) {
    say("wrong: %s\n", what);
    bad = 1;
  }
}

/* ---- the workload (numbers at the top) ---- */
__attribute__((noinline)) static void temporaries(void) {
  for (int i = 0; i < 100; i++) {
    char *p = malloc(100);
    expect(p != NULL, "malloc(100)");
    p[99] = 1;
    free(p);
  }
}

__attribute__((noinline)) static void zeroed(void) {
  unsigned char *c = calloc(10, 32);
  expect(c != NULL, "calloc(10, 32)");
  for (int i = 0; c && i < 320; i++)
    expect(c[i] == 0, "calloc's block is zero");
  free(c);
}

/* sizes the compiler cannot see, so that it does not warn about them */
static volatile size_t quarter = SIZE_MAX / 4, half = SIZE_MAX / 2;

/* a failed realloc leaves its block alone (C11 7.22.3.5): q is still ours */
#pragma GCC diagnostic ignored "-Wuse-after-free"
__attribute__((noinline)) static void failures(void) {
  errno = 0;
  expect(calloc(quarter, 8) == NULL && errno == ENOMEM, "calloc overflow: NULL, ENOMEM");
  errno = 0;
  expect(malloc((size_t)1 << 40) == NULL && errno == ENOMEM, "malloc(1 TiB): NULL, ENOMEM");
  void *x = &x;
  errno = 0;
  expect(posix_memalign(&x, 24, 10) == EINVAL && x == &x && errno == 0,
         "posix_memalign(24): EINVAL, *out and errno untouched");
  char *q = malloc(200);
  expect(q != NULL, "malloc(200)");
  memset(q, 7, 200);
  errno = 0;
  expect(realloc(q, (size_t)1 << 40) == NULL && errno == ENOMEM, "realloc(1 TiB): NULL, ENOMEM");
  errno = 0;
  expect(reallocarray(q, half, 4) == NULL && errno == ENOMEM,
         "reallocarray overflow: NULL, ENOMEM");
  expect(q[199] == 7, "a failed realloc keeps the block");
  free(q);
}

__attribute__((noinline)) static void chain(void) {
  char *p = realloc(NULL, 16);
  expect(p != NULL, "realloc(NULL, 16)");
  memset(p, 1, 16);
  char *q = realloc(p, 24);
  expect(q == p, "realloc(16 -> 24) in place");
  p = realloc(q, 4096);
  expect(p != NULL && p[15] == 1, "realloc(24 -> 4096) keeps the bytes");
  p = reallocarray(p, 100, 80);
  expect(p != NULL && p[15] == 1, "reallocarray(100, 80)");
  errno = 0;
  expect(realloc(p, 0) == NULL, "realloc(p, 0) frees p");
}

__attribute__((noinline)) static void aligned(void) {
  void *a = NULL;
  expect(posix_memalign(&a, 64, 1000) == 0 && (uintptr_t)a % 64 == 0, "posix_memalign(64)");
  void *b = aligned_alloc(256, 512);
  expect(b && (uintptr_t)b % 256 == 0, "aligned_alloc(256)");
  void *c = memalign(4096, 100);
  expect(c && (uintptr_t)c % 4096 == 0, "memalign(4096)");
  void *d = valloc(5000);
  expect(d && (uintptr_t)d % 4096 == 0, "valloc");
  void *e = pvalloc(5000);
  expect(e && (uintptr_t)e % 4096 == 0, "pvalloc");
  free(a);
  free(b);
  free(c);
  free(d);
  free(e);
}

__attribute__((noinline)) static void peak(void) {
  char *big = malloc((size_t)1 << 20), *mid = malloc((size_t)1 << 19);
  expect(big && mid, "peak blocks");
  memset(big, 1, (size_t)1 << 20);
  memset(mid, 2, (size_t)1 << 19);
  free(big);
  free(mid);
}

/* libstdc++'s operator new and new[] (under the tracer, its hooks of them), which
 * allocate through this malloc: each is one call, seen as the operator. libstdc++ is
 * loaded here, not at start-up: its constructor's allocations are then made on a counted
 * thread, after the tracer has patched this malloc. */
typedef void *(*new_fn)(size_t);
typedef void (*delete_fn)(void *);
static void *sym(const char *name) {
  void *f = dlsym(RTLD_DEFAULT, name);
  expect(f != NULL, name);
  return f;
}
__attribute__((noinline)) static void cxx(void) {
  in_work = 0;
  expect(dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL) != NULL, "dlopen(libstdc++.so.6)");
  new_fn op_new, op_new_array;
  delete_fn op_delete, op_delete_array;
  void *f = sym("_Znwm"), *fa = sym("_Znam"), *d = sym("_ZdlPv"), *da = sym("_ZdaPv");
  if (!f || !fa || !d || !da)
    return;
  memcpy(&op_new, &f, sizeof(f)); /* dlsym(3): POSIX allows the conversion */
  memcpy(&op_new_array, &fa, sizeof(fa));
  memcpy(&op_delete, &d, sizeof(d));
  memcpy(&op_delete_array, &da, sizeof(da));
  in_work = 1;
  void *a = op_new(48), *b = op_new_array(64);
  op_delete(a);
  op_delete_array(b);
}

static void *leak[3];
__attribute__((noinline)) static void leaks(void) {
  for (int i = 0; i < 3; i++)
    leak[i] = malloc(256);
  free(NULL);
  free(NULL);
  free(NULL);
}

/* ---- threads and forks ---- */
#define WORKERS 4
#define FORKERS 3 /* fork() with the program's atfork handlers: the child allocates */
static int fork_mode;
static const char *self;
static _Atomic int workers_busy;
static __thread int bare;

__attribute__((noinline)) static void churn(int i, void **ring) {
  free(ring[i % 8]);
  ring[i % 8] = malloc(32 + (size_t)(i % 64));
}

/* 1000 counted churns, then (fork mode) uncounted ones until every fork is done, so that
 * the forks find threads inside malloc */
static void *worker(void *arg) {
  (void)arg;
  counting = in_work = 1;
  void *ring[8] = {0};
  int i = 0;
  for (; i < 1000; i++)
    churn(i, ring);
  in_work = 0;
  atomic_fetch_add(&workers_busy, 1);
  for (; fork_mode && atomic_load(&forks_done) < FORKERS + BARE && i < 1000000; i++)
    churn(i, ring);
  for (int k = 0; k < 8; k++)
    free(ring[k]);
  return NULL;
}

/* every thread is created (pthread_create allocates: not while the holder holds the
 * lock) and the workers are past their counted churns */
static _Atomic int started;
static void wait_workers(void) {
  while (!atomic_load(&started) || atomic_load(&workers_busy) < WORKERS)
    sched_yield();
}

/* the child of a fork: known allocations, its own counts, _exit */
__attribute__((noinline)) static void child_work(const char *what) {
  void *p[10];
  for (int i = 0; i < 10; i++)
    p[i] = malloc(1000);
  for (int i = 0; i < 5; i++)
    free(p[i]);
  counts_t c = work;
  say_counts(1, what, &c);
}

static void reap(pid_t pid, const char *what) {
  int st = -1;
  expect(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, what);
  atomic_fetch_add(&forks_done, 1);
}

/* After the bare forks: glibc runs the prepare handlers under its atfork lock
 * (register-atfork.c), so one waiting here for the holder's lock would stop the bare
 * forks behind it. */
static void *forker(void *arg) {
  (void)arg;
  counting = 1;
  wait_workers();
  while (atomic_load(&forks_done) < BARE)
    sched_yield();
  pid_t pid = fork();
  if (pid == 0) {
    in_work = 1;
    child_work("child_work");
    _exit(0);
  }
  reap(pid, "fork child exits 0");
  return NULL;
}

/* Holds the allocator's lock (inside malloc) until the bare forks are done. */
static void *holder(void *arg) {
  (void)arg;
  counting = 1;
  wait_workers();
  hold = 1;
  void *p = malloc(100);
  hold = 0;
  free(p);
  return NULL;
}

/* Forks while the holder is inside malloc with the lock, skipping the atfork handlers
 * (which would wait for it): the child has no allocator. It writes, and leaves with
 * _exit or execs this program again ("exec-child": known allocations in a new image). */
static void *bare_forker(void *arg) {
  int do_exec = arg != NULL;
  while (!atomic_load(&holding))
    sched_yield();
  bare = 1;
  pid_t pid = fork();
  if (pid == 0) {
    if (!do_exec) {
      say("bare_child exits\n");
      _exit(0);
    }
    char *const args[] = {(char *)self, "exec-child", NULL};
    execve("/proc/self/exe", args, environ);
    say("bare_child: execve failed\n");
    _exit(1);
  }
  reap(pid, do_exec ? "bare fork child execs and exits 0" : "bare fork child exits 0");
  return NULL;
}

/* a fork must not find the allocator locked in the child (pthread_atfork(3)); a bare
 * fork (above) does */
static void fork_prepare(void) {
  if (!bare)
    lock_take();
}
static void fork_parent(void) {
  if (!bare)
    lock_drop();
}
static void fork_child(void) {
  if (bare)
    return;
  memset(&all, 0, sizeof(all));
  memset(&work, 0, sizeof(work));
  gen++;
  lock_drop();
}

#ifdef OWN_EARLY
int own_early_blocks(void); /* own_early.c: 100 blocks of 1777 bytes from before main */
#endif

int main(int argc, char **argv) {
  counting = 1;
#ifdef OWN_EARLY
  expect(own_early_blocks() == 100, "own_early's constructor holds its 100 blocks");
#endif
  self = argv[0];
  if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
    in_work = 1;
    child_work("exec_work");
    in_work = 0;
    counts_t a = all;
    say_counts(2, "exec_all", &a);
    return bad;
  }
  fork_mode = argc > 1 && strcmp(argv[1], "fork") == 0;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  in_work = 1;
  temporaries();
  zeroed();
  failures();
  chain();
  aligned();
  peak();
  cxx();
  leaks();
  in_work = 0;
  pthread_t t[WORKERS + FORKERS + 1 + BARE];
  int n = 0;
  for (int i = 0; i < WORKERS; i++)
    expect(pthread_create(&t[n++], NULL, worker, NULL) == 0, "pthread_create");
  if (fork_mode) {
    expect(pthread_create(&t[n++], NULL, holder, NULL) == 0, "pthread_create");
    for (int i = 0; i < BARE; i++)
      expect(pthread_create(&t[n++], NULL, bare_forker, i ? &bare : NULL) == 0, "pthread_create");
    for (int i = 0; i < FORKERS; i++)
      expect(pthread_create(&t[n++], NULL, forker, NULL) == 0, "pthread_create");
    atomic_store(&started, 1);
  }
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  lock_take();
  counts_t a = all, w = work;
  lock_drop();
  say_counts(2, "all", &a);
  say_counts(1, "work", &w);
  return bad;
}
