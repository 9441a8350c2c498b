/* The writer: one background thread that merges the per-thread rings in timestamp
 * order, keeps the live-block map (pointer -> allocation ordinal), interns stacks into a
 * trie and sites, encodes records (byte layout in alloctrace/format.h) and compresses
 * them into zstd frames ended at least every 100 ms.
 * Runs with the guard held: its own allocations are never traced. Never blocks a
 * traced thread except through a full ring; never writes to a descriptor it does not
 * own (see the close/dup hooks in proc.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <zstd.h>

#include "real.h"
#include "lwrank.h"
#include "tracer.h"
#include "u64map.h"

#define BUF_LIMIT (256u * 1024u)
#define FRAME_US 100000u    /* end a zstd frame at least this often */
#define RSS_US 10000u       /* RSS sample period */
#define TIME_STEP_US 100u   /* TIME resolution */
#define MARGIN_US 50u       /* slack for store-buffer and TSC skew (DESIGN.md) */
/* events per CHUNK: each column is one zstd block (at most 128 KiB) with its own entropy
 * tables; longer chunks spread the tables over more events (32 Ki events: 4% larger
 * C++ traces) */
#define CHUNK_EVENTS 130048u
#define MISC_CAP 131072u /* a CHUNK ends early when misc fills */

/* CHUNK columns, in file order (format.h) */
enum { COL_TAG, COL_SLO, COL_SHI, COL_FLO, COL_FHI, COL_MISC, ATR_NCOLS };
static const size_t col_cap[ATR_NCOLS] = {CHUNK_EVENTS + 64, CHUNK_EVENTS + 64,
                                          CHUNK_EVENTS + 64, CHUNK_EVENTS + 64,
                                          CHUNK_EVENTS + 64, MISC_CAP + 256};

_Atomic uint32_t atr__writer_wake;
_Atomic int atr__writer_running;
static _Atomic int writer_sleeping;
static _Atomic int writer_stop;
static _Atomic uint32_t flush_req, flush_done;
static unsigned flush_flags;
static atomic_flag wlock = ATOMIC_FLAG_INIT;  /* one drainer at a time */
static atomic_flag fdlock = ATOMIC_FLAG_INIT; /* trace fd changes vs writes */
static _Atomic int start_once;
static pthread_t writer_thread;

static struct {
  int fd;
  int statm_fd; /* /proc/self/statm, kept open (high, protected): RSS samples */
  char path[PATH_MAX];
  dev_t dev;
  ino_t ino;
  int failed; /* tracing stopped on an internal error */
  ZSTD_CCtx *cctx;
  uint8_t *buf;
  size_t len;
  uint8_t *zbuf;
  size_t zcap;
  int frame_open;
  atr_ptrmap_t live;
  atr_map_t sites, trie;
  uint8_t *col[ATR_NCOLS]; /* the CHUNK being filled (format.h), one buffer per column */
  size_t clen[ATR_NCOLS];
  atr_lw_t lw;             /* live window: FREE names a block by its rank in it */
  atr_lwr_t lwr;           /* its rank index (lwrank.h) */
  uint32_t *node_of;
  size_t node_of_cap;
  uint64_t nnodes, nsites, prev_ip;
  uint64_t ordinal, last_free, last_rank;
  uint64_t last_us, frame_start_us, last_rss_us, last_reap_us;
  uint64_t prev_now, next_time_ts;
  uint32_t nthreads, ext_thread;
  uint64_t events, inconsistent, unknown_frees, waits, repaired;
  uint32_t nblocked; /* rings whose event at tail is refused (w_blocked) */
  uint64_t block_key; /* pending(): latest stamp of the other ring up to its event */
  uint32_t pass;      /* drain() calls */
  uint32_t mod_gen;
  unsigned layers, layers_emitted;
  int ready;
} W = {.fd = -1, .statm_fd = -1};

/* notes queued by other threads before/while the writer runs */
#define MAX_NOTES 16
static char notes[MAX_NOTES][160];
static _Atomic unsigned nnotes, notes_emitted, notes_written;

static void spin_lock(atomic_flag *f) {
  while (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
    sched_yield();
}
static void spin_unlock(atomic_flag *f) {
  atomic_flag_clear_explicit(f, memory_order_release);
}

/* ---------------- file ---------------- */

static int try_create(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* The root process writes ALLOCTRACE_OUTPUT; every other process image writes
 * <stem>.<pid>.zst (then .<pid>.<n>.zst after an exec in the same pid). */
static int open_trace(void) {
  char stem[PATH_MAX];
  int pid = (int)getpid();
  const char *out = atr__cfg.output;
  if (out[0] && (atr__cfg.root_pid == 0 || atr__cfg.root_pid == pid)) {
    int fd = try_create(out);
    if (fd >= 0) {
      snprintf(W.path, sizeof(W.path), "%s", out);
      return fd;
    }
    if (errno != EEXIST)
      return -1;
  }
  if (out[0]) {
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".zst") == 0)
      n -= 4;
    snprintf(stem, sizeof(stem), "%.*s", (int)n, out);
  } else {
    snprintf(stem, sizeof(stem), "alloctrace.%s", program_invocation_short_name);
  }
  for (int k = 0; k < 1000; k++) {
    if (k == 0)
      atr__fmt(W.path, sizeof(W.path), "%s.%d.zst", stem, pid);
    else
      atr__fmt(W.path, sizeof(W.path), "%s.%d.%d.zst", stem, pid, k);
    int fd = try_create(W.path);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  return -1;
}

/* Keep the descriptor out of the low numbers programs expect to own. */
int atr__fd_move_high(int fd) {
  struct rlimit rl;
  int want = 500;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (rlim_t)want * 2 > rl.rlim_cur)
    want = (int)(rl.rlim_cur / 2);
  if (fd >= want)
    return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, want);
  if (high < 0)
    return fd;
  atr__real.close(fd);
  return high;
}

static void fail(const char *why) {
  if (!W.failed)
    atr__log("tracing stopped: %s (%s)", why, strerror(errno));
  W.failed = 1;
}

static int ensure_open(void) {
  if (W.fd >= 0 || W.failed)
    return W.fd >= 0;
  int fd = open_trace();
  if (fd < 0) {
    fail("cannot create the trace file");
    return 0;
  }
  fd = atr__fd_move_high(fd);
  struct stat st;
  if (fstat(fd, &st) == 0) {
    W.dev = st.st_dev;
    W.ino = st.st_ino;
  }
  W.fd = fd;
  return 1;
}

/* The program may have closed or replaced our descriptor behind our back (a raw
 * close_range syscall): write only to the file we created, reopening it if needed. */
static int verify_fd(void) {
  struct stat st;
  if (W.fd >= 0 && fstat(W.fd, &st) == 0 && st.st_dev == W.dev && st.st_ino == W.ino)
    return 1;
  int fd = open(W.path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != W.dev || st.st_ino != W.ino) {
    if (fd >= 0)
      atr__real.close(fd);
    return 0;
  }
  W.fd = atr__fd_move_high(fd);
  return 1;
}

static void write_all(const uint8_t *p, size_t n) {
  spin_lock(&fdlock);
  if (!verify_fd()) {
    spin_unlock(&fdlock);
    fail("the trace file descriptor was taken away");
    return;
  }
  while (n > 0) {
    ssize_t w = write(W.fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      spin_unlock(&fdlock);
      fail("cannot write the trace file");
      return;
    }
    p += w;
    n -= (size_t)w;
  }
  spin_unlock(&fdlock);
}

int atr__writer_owns_fd(int fd) {
  return fd >= 0 && fd == W.fd;
}
int atr__writer_fd(void) {
  return W.fd;
}
void atr__writer_fd_lock(void) {
  spin_lock(&fdlock);
}
void atr__writer_fd_unlock(void) {
  spin_unlock(&fdlock);
}
void atr__writer_fd_moved(int newfd) {
  W.fd = newfd;
}

/* ---------------- compression ---------------- */

static void compress_bytes(const uint8_t *data, size_t len, ZSTD_EndDirective mode) {
  if (W.failed || !ensure_open())
    return;
  ZSTD_inBuffer in = {data, len, 0};
  for (;;) {
    ZSTD_outBuffer out = {W.zbuf, W.zcap, 0};
    size_t r = ZSTD_compressStream2(W.cctx, &out, &in, mode);
    if (ZSTD_isError(r)) {
      errno = EIO;
      fail(ZSTD_getErrorName(r));
      break;
    }
    if (out.pos)
      write_all(W.zbuf, out.pos);
    if (mode == ZSTD_e_continue ? in.pos == in.size : r == 0)
      break;
  }
  W.frame_open = mode != ZSTD_e_end;
}

static void compress(ZSTD_EndDirective mode) {
  compress_bytes(W.buf, W.len, mode);
  W.len = 0;
}

static void chunk_flush(void);

static void end_frame(void) {
  chunk_flush();
  if (W.len || W.frame_open)
    compress(ZSTD_e_end);
}

/* ---------------- encoding ---------------- */

static inline uint8_t *room(size_t n) {
  if (ATR_UNLIKELY(W.len + n > BUF_LIMIT))
    compress(ZSTD_e_continue);
  return W.buf + W.len;
}
static inline void commit(uint8_t *end) {
  W.len = (size_t)(end - W.buf);
}

static void put_str(const char *s) {
  size_t n = strlen(s);
  if (n > 4096)
    n = 4096;
  uint8_t *p = room(n + 10);
  p = atr_put_u(p, n);
  memcpy(p, s, n);
  commit(p + n);
}

static void emit_hdr(void) {
  uint8_t *p = room(32);
  *p++ = ATR_TAG_HDR;
  memcpy(p, ATR_FORMAT_MAGIC, 8);
  p = atr_put_u(p + 8, ATR_FORMAT_VERSION);
  commit(p);
}

static ssize_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  atr__real.close(fd);
  return (ssize_t)n;
}

static void emit_proc(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  exe[n > 0 ? n : 0] = 0;
  static char cmd[65536];
  ssize_t c = read_file("/proc/self/cmdline", cmd, sizeof(cmd) - 1);
  if (c < 0)
    c = 0;
  cmd[c] = 0;
  uint64_t argc = 0;
  for (ssize_t i = 0; i < c; i++)
    argc += cmd[i] == 0;
  if (c > 0 && cmd[c - 1] != 0)
    argc++;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  uint64_t start_us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
  uint8_t *p = room(40);
  *p++ = ATR_TAG_PROC;
  p = atr_put_u(p, (uint64_t)getpid());
  p = atr_put_u(p, (uint64_t)getppid());
  p = atr_put_u(p, start_us);
  commit(p);
  put_str(exe);
  p = room(10);
  commit(atr_put_u(p, argc));
  for (ssize_t i = 0; i < c; i += (ssize_t)strlen(cmd + i) + 1)
    put_str(cmd + i);
}

static void emit_modules(uint32_t gen) {
  uint32_t count;
  atr_module_t *mods = atr__modules(&count);
  for (uint32_t i = 0; i < count; i++) {
    atr_module_t *m = &mods[i];
    if (m->load_gen > gen)
      continue;
    if (m->emitted == 0 && !(m->unload_gen && m->unload_gen <= gen)) {
      const char *path = m->path;
      char exe[PATH_MAX];
      if (!path[0]) { /* the main program */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = 0;
        path = exe;
      }
      uint8_t *p = room(64);
      *p++ = ATR_TAG_MOD;
      p = atr_put_u(p, i);
      p = atr_put_u(p, m->bias);
      p = atr_put_u(p, m->lo);
      p = atr_put_u(p, m->hi);
      commit(p);
      put_str(path);
      p = room(10 + m->build_id_len);
      p = atr_put_u(p, m->build_id_len);
      memcpy(p, m->build_id, m->build_id_len);
      commit(p + m->build_id_len);
      m->emitted = 1;
    } else if (m->emitted == 0) {
      m->emitted = 2; /* loaded and unloaded before anything referred to it */
    }
    if (m->emitted == 1 && m->unload_gen && m->unload_gen <= gen) {
      uint8_t *p = room(12);
      *p++ = ATR_TAG_UNMOD;
      commit(atr_put_u(p, i));
      m->emitted = 2;
    }
  }
  if (gen > W.mod_gen)
    W.mod_gen = gen;
}

static void emit_notes(void) {
  unsigned n = atomic_load(&nnotes);
  if (atomic_load(&notes_written) != n)
    n = atomic_load(&notes_emitted); /* a note is being written: take it next time */
  if (n > MAX_NOTES)
    n = MAX_NOTES;
  for (unsigned i = atomic_load(&notes_emitted); i < n; i++) {
    uint8_t *p = room(1);
    *p++ = ATR_TAG_NOTE;
    commit(p);
    put_str(notes[i]);
  }
  atomic_store(&notes_emitted, n);
  unsigned layers = __atomic_load_n(&W.layers, __ATOMIC_RELAXED);
  if (layers != W.layers_emitted) {
    uint8_t *p = room(12);
    *p++ = ATR_TAG_LAYER;
    commit(atr_put_u(p, layers));
    W.layers_emitted = layers;
  }
}

void atr__writer_note(const char *text) {
  unsigned i = atomic_fetch_add(&nnotes, 1);
  if (i < MAX_NOTES)
    snprintf(notes[i], sizeof(notes[i]), "%s", text);
  atomic_fetch_add(&notes_written, 1);
}

/* Called by any thread (the patcher after dlopen) while the writer runs. */
void atr__writer_layer(unsigned mask) {
  __atomic_fetch_or(&W.layers, mask, __ATOMIC_RELAXED);
}

static void emit_thread(atr_thread_t *t) {
  char path[64], name[64] = {0};
  snprintf(path, sizeof(path), "/proc/self/task/%u/comm", t->tid);
  ssize_t n = read_file(path, name, sizeof(name) - 1);
  if (n > 0 && name[n - 1] == '\n')
    n--;
  name[n > 0 ? n : 0] = 0;
  uint8_t *p = room(24);
  *p++ = ATR_TAG_THR;
  p = atr_put_u(p, t->w_idx);
  p = atr_put_u(p, t->tid);
  commit(p);
  put_str(name);
}

/* ---- events: CHUNK columns (byte layout in format.h) ----
 * Every event appends one tag byte and its fields to their columns; chunk_flush()
 * writes the CHUNK record and ends a zstd block after each column. */

static inline void col_byte(int col, unsigned v) {
  W.col[col][W.clen[col]++] = (uint8_t)v;
}
static inline void col_u(uint64_t v) {
  W.clen[COL_MISC] = (size_t)(atr_put_u(W.col[COL_MISC] + W.clen[COL_MISC], v) - W.col[COL_MISC]);
}
static inline void col_s(int64_t v) {
  W.clen[COL_MISC] = (size_t)(atr_put_s(W.col[COL_MISC] + W.clen[COL_MISC], v) - W.col[COL_MISC]);
}
static inline void col_plane(int lo, uint64_t v) {
  if (ATR_LIKELY(v < ATR_PLANE_ESCAPE)) {
    col_byte(lo, (unsigned)v & 0xff);
    col_byte(lo + 1, (unsigned)(v >> 8));
  } else {
    col_byte(lo, 0);
    col_byte(lo + 1, 0xff);
    col_u(v);
  }
}

/* Before an event: room for its columns (at most 2 tags, 1 site, 1 free value and 40
 * bytes of misc). */
static inline void chunk_room(void) {
  if (ATR_UNLIKELY(W.clen[COL_TAG] >= CHUNK_EVENTS || W.clen[COL_MISC] >= MISC_CAP))
    chunk_flush();
}

/* Starts an event of kind (ATR_CK_*) with a thread in its tag. */
static inline void put_tag(unsigned kind, uint32_t thread) {
  chunk_room();
  if (ATR_LIKELY(thread < ATR_THREAD_INLINE_MAX)) {
    col_byte(COL_TAG, kind << 4 | thread);
    return;
  }
  if (W.ext_thread != thread) {
    col_byte(COL_TAG, ATR_TAG_TEXT);
    col_u(thread);
    W.ext_thread = thread;
  }
  col_byte(COL_TAG, kind << 4 | ATR_THREAD_INLINE_MAX);
}

/* Starts an event whose fields are all in misc. */
static inline void put_misc_tag(unsigned tag) {
  chunk_room();
  col_byte(COL_TAG, tag);
}

static void chunk_flush(void) {
  if (!W.clen[COL_TAG])
    return;
  uint8_t *p = room(64);
  *p++ = ATR_TAG_CHUNK;
  p = atr_put_u(p, W.clen[COL_TAG]);
  p = atr_put_u(p, W.clen[COL_SLO]);
  p = atr_put_u(p, W.clen[COL_FLO]);
  p = atr_put_u(p, W.clen[COL_MISC]);
  commit(p);
  compress(ZSTD_e_continue);
  for (int i = 0; i < ATR_NCOLS; i++) {
    if (W.clen[i])
      compress_bytes(W.col[i], W.clen[i], ZSTD_e_flush);
    W.clen[i] = 0;
  }
}

static uint32_t node_for_stack(uint32_t sid) {
  if (sid == 0)
    return 0;
  if (sid < W.node_of_cap && W.node_of[sid])
    return W.node_of[sid];
  if (sid >= W.node_of_cap) {
    size_t cap = W.node_of_cap ? W.node_of_cap : 4096;
    while (cap <= sid)
      cap *= 2;
    uint32_t *n = atr__real.realloc(W.node_of, cap * sizeof(uint32_t));
    if (!n)
      return 0;
    memset(n + W.node_of_cap, 0, (cap - W.node_of_cap) * sizeof(uint32_t));
    W.node_of = n;
    W.node_of_cap = cap;
  }
  int n;
  const uintptr_t *ips = atr__stack_get(sid, &n);
  uint64_t parent = 0;
  for (int i = n - 1; i >= 0; i--) {
    uint64_t *v = atr__map_get(&W.trie, parent, ips[i]);
    if (v) {
      parent = *v;
      continue;
    }
    uint64_t id = ++W.nnodes;
    atr__map_put(&W.trie, parent, ips[i], id);
    uint8_t *p = room(24);
    *p++ = ATR_TAG_NODE;
    p = atr_put_u(p, parent);
    p = atr_put_s(p, (int64_t)(ips[i] - W.prev_ip));
    commit(p);
    W.prev_ip = ips[i];
    parent = id;
  }
  W.node_of[sid] = (uint32_t)parent;
  return (uint32_t)parent;
}

/* Direct-mapped cache in front of the site map: most events repeat a (stack, size, kind,
 * align) seen moments ago, and the stack id determines the node. */
#define SITE_CACHE_BITS 12u
#define SITE_KEY_MASK 0x00ffff00ffffffffull /* meta: stack, kind, align */
static struct site_cache {
  uint64_t key, size, site; /* site 0 = empty */
} site_cache[1u << SITE_CACHE_BITS];

static ATR_NOINLINE uint64_t site_slow(uint64_t meta, uint64_t size) {
  uint32_t node = node_for_stack(ATR_META_STACK(meta));
  unsigned kind = ATR_META_KIND(meta), align = ATR_META_ALIGN(meta);
  uint64_t key = (uint64_t)node << 16 | kind << 8 | align;
  uint64_t *v = atr__map_get(&W.sites, key, size);
  if (ATR_LIKELY(v != NULL))
    return *v;
  uint64_t id = ++W.nsites;
  atr__map_put(&W.sites, key, size, id);
  uint8_t *p = room(40);
  *p++ = ATR_TAG_SITE;
  p = atr_put_u(p, node);
  p = atr_put_u(p, size);
  p = atr_put_u(p, kind);
  p = atr_put_u(p, align ? (uint64_t)1 << (align - 1) : 0);
  commit(p);
  return id;
}

static inline uint64_t site_for(uint64_t meta, uint64_t size) {
  uint64_t key = meta & SITE_KEY_MASK;
  /* sizes of one site are mostly small and close together: the low bits of size plus a
   * per-(stack, kind, align) offset put them in distinct slots */
  uint64_t h = size + (key * 0x9E3779B97F4A7C15ull >> 40);
  struct site_cache *c = &site_cache[h & ((1u << SITE_CACHE_BITS) - 1)];
  if (ATR_LIKELY(c->site && c->key == key && c->size == size))
    return c->site;
  uint64_t site = site_slow(meta, size);
  c->key = key;
  c->size = size;
  c->site = site;
  return site;
}

static inline void emit_time(uint64_t ts) {
  if (ATR_LIKELY(ts < W.next_time_ts))
    return;
  uint64_t us = atr__ticks_to_us(ts);
  if (us >= W.last_us + TIME_STEP_US) {
    put_misc_tag(ATR_TAG_TIME);
    col_u(us - W.last_us);
    W.last_us = us;
  }
  W.next_time_ts = ts + atr__us_to_ticks(TIME_STEP_US);
}

/* The freed block `ordinal` leaves the live window; returns its rank there, or
 * UINT64_MAX when it had left the window already (named by FREED's delta instead). */
static inline uint64_t free_rank(uint64_t ordinal) {
  if (!atr_lw_inside(ordinal, W.ordinal))
    return UINT64_MAX;
  uint64_t r = atr__lwr_rank(&W.lw, &W.lwr, ordinal, W.ordinal);
  atr__lwr_clear(&W.lw, &W.lwr, ordinal);
  return r;
}

/* The FREE kind that names rank r without a free value (format.h), or ATR_CK_FREE. */
static inline unsigned free_kind(uint64_t r) {
  uint64_t p = W.last_rank;
  return r == 0 ? ATR_CK_FREE_0
       : r + 1 == p ? ATR_CK_FREE_NEXT
       : r == p ? ATR_CK_FREE_SAME
       : r == p + 1 ? ATR_CK_FREE_BACK
       : r == 1 ? ATR_CK_FREE_1
       : ATR_CK_FREE;
}

static void emit_free_of(uint32_t thr, uint64_t ordinal) {
  uint64_t r = free_rank(ordinal);
  if (ATR_LIKELY(r != UINT64_MAX)) {
    unsigned kind = free_kind(r);
    put_tag(kind, thr);
    if (kind == ATR_CK_FREE)
      col_plane(COL_FLO, r);
    W.last_rank = r;
  } else {
    put_tag(ATR_CK_FREED, thr);
    col_s((int64_t)(ordinal - W.last_free));
  }
  W.last_free = ordinal;
}

static void emit_ufree(uint32_t thr) {
  W.unknown_frees++;
  put_misc_tag(ATR_TAG_UFREE);
  col_u(thr);
  col_u(0);
}

static inline void emit_alloc(uint32_t thr, uint64_t site) {
  put_tag(ATR_CK_ALLOC, thr);
  col_plane(COL_SLO, site);
}

/* realloc: the old block (ordinal old, 0 = none) freed, then the new block at site
 * (0 = none: realloc(p, 0)). */
static void emit_realloc(uint32_t thr, uint64_t old, int moved, uint64_t site) {
  if (!old) {
    if (site)
      emit_alloc(thr, site);
    return;
  }
  uint64_t r = free_rank(old);
  put_tag(ATR_CK_REALLOC, thr);
  col_plane(COL_SLO, site);
  if (ATR_LIKELY(r != UINT64_MAX)) {
    col_plane(COL_FLO, (r + 1) << 1 | (unsigned)moved);
    W.last_rank = r;
  } else {
    col_plane(COL_FLO, (unsigned)moved);
    col_s((int64_t)(old - W.last_free));
  }
  W.last_free = old;
}

static inline void new_ordinal(void) {
  W.ordinal++;
  atr__lwr_push(&W.lw, &W.lwr, W.ordinal);
}

/* ---- repairing the order of a handoff ----
 * Timestamps are a plain rdtsc (tracer.h), which may execute a few instructions ahead of
 * the load that handed its thread a pointer: a free can be stamped before the malloc in
 * another thread that it follows, a malloc before the free (in another thread) whose
 * memory it reuses. The event it depends on is then in the other thread's ring already
 * (pushed before the pointer changed hands), stamped at most a few ticks later.
 * process() then refuses the event without touching anything (BLOCKED) and names the
 * latest stamp of that ring up to the event wanted; drain() takes the ring up again once
 * the merge has gone past that stamp. Rings are only ever consumed in their own order.
 * A ring still refused after the merge went past what it waits for, in 16 passes over
 * 250 ms or once in the final drain, goes on: the stale block is freed and counted as an
 * inconsistency (tests assert zero). */
#define TYPES_ALLOC (1u << ATR_EV_ALLOC | 1u << ATR_EV_RALLOC)
#define TYPES_FREE (1u << ATR_EV_FREE | 1u << ATR_EV_RFREE)
#define BLOCKED 1
#define BLOCK_US 250000u /* how long an event must stay held up (refused after the merge
                          * passed what it waits for, see refused()) before it is forced:
                          * 20 ms was too short with 8 threads on 2 cores (a thread
                          * preempted inside a hook holds the merge back for several time
                          * slices). Waiting for the watermark is not counted. */

/* Is event i of t's ring the RFREE of a realloc of ptr that kept its place? */
static int in_place(atr_thread_t *t, uint64_t i, uint64_t ptr) {
  const atr_event_t *f = &t->ev[i & (ATR_RING_SIZE - 1)];
  const atr_event_t *a = &t->ev[(i + 1) & (ATR_RING_SIZE - 1)];
  return ATR_META_TYPE(f->meta) == ATR_EV_RFREE && f->ptr == ptr &&
         ATR_META_TYPE(a->meta) == ATR_EV_RALLOC && a->ptr == ptr;
}

/* How far a ring's stamps can run backwards: the tests' skew between allocations and
 * frees (0 in real runs). */
static inline uint64_t skew_span(void) {
  uint64_t d = atr__skew[0] - atr__skew[1];
  return (int64_t)d < 0 ? 0 - d : d;
}

/* Is ring t one the merge takes events from (live, set up for its incarnation)? */
static inline int ring_merged(const atr_thread_t *t) {
  return atomic_load_explicit(&t->status, memory_order_acquire) == ATR_THR_LIVE &&
         t->w_incarnation == t->incarnation;
}

/* The first event of ring t from index i on (up to head) of one of `types` on ptr and
 * stamped at most lim, reading no further than the first stamp past stop: its index, or
 * head; *key takes the latest stamp read up to it. */
static uint64_t ring_find(const atr_thread_t *t, uint64_t i, uint64_t head, uint64_t ptr,
                          unsigned types, uint64_t lim, uint64_t stop, uint64_t *key) {
  for (; i != head; i++) {
    const atr_event_t *e = &t->ev[i & (ATR_RING_SIZE - 1)];
    if (e->ts > stop)
      return head;
    if (e->ts > *key)
      *key = e->ts;
    if (e->ts <= lim && e->ptr == ptr && (types >> ATR_META_TYPE(e->meta) & 1))
      return i;
  }
  return head;
}

/* Another ring's event of one of `types` on ptr, stamped at most MARGIN_US after ts:
 * 1 and W.block_key = the latest stamp in that ring up to it, or 0. A ring's stamps
 * increase, but under the tests' skew (ALLOCTRACE_TEST_SKEW_*_US) frees and allocations
 * are stamped up to the skew apart from the clock, so a ring runs backwards by up to
 * the difference: the scan goes that much further (stopping at the first stamp past the
 * margin could miss a free stamped 20 us early behind an allocation). */
static ATR_NOINLINE int pending(const atr_thread_t *self, uint64_t ptr, unsigned types,
                                uint64_t ts) {
  uint64_t lim = ts + atr__us_to_ticks(MARGIN_US);
  uint64_t stop = lim + skew_span();
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    if (t == self || !ring_merged(t))
      continue;
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&t->head, memory_order_acquire);
    uint64_t key = 0;
    for (uint64_t i = tail; (i = ring_find(t, i, head, ptr, types, lim, stop, &key)) != head;
         i++) {
      /* a realloc in place (RFREE then RALLOC of ptr) neither frees the block nor makes
       * it: an allocation reallocated in place is wanted after its last such realloc,
       * a free is not such an RFREE */
      if (types == TYPES_ALLOC) {
        while (head - i > 2 && in_place(t, i + 1, ptr)) {
          uint64_t f = t->ev[(i + 1) & (ATR_RING_SIZE - 1)].ts;
          uint64_t r = t->ev[(i + 2) & (ATR_RING_SIZE - 1)].ts;
          key = f > key ? f : key;
          key = r > key ? r : key;
          i += 2;
        }
      } else if (head - i > 1 && in_place(t, i, ptr)) {
        continue;
      }
      W.block_key = key;
      return 1;
    }
  }
  return 0;
}

/* An event of one of `types` on ptr stamped before ts still waiting in a ring held up at
 * a refused event: 1 and W.block_key as pending() gives it. The merge goes on past a
 * refused event's stamp: an allocation at ptr while an earlier allocation there is held
 * up would be taken for that block (and the free waiting for it would free the new
 * one), a free of ptr while an earlier free of it is held up would free the block that
 * free wants (tests/cli/crossfree.sh, frees stamped early: 1 run in 2 had such
 * inconsistencies). */
static ATR_NOINLINE int older_held(const atr_thread_t *self, uint64_t ptr, unsigned types,
                                   uint64_t ts) {
  uint64_t stop = ts + skew_span();
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    if (t == self || !t->w_blocked || !ring_merged(t))
      continue;
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&t->head, memory_order_acquire);
    uint64_t key = 0;
    if (ring_find(t, tail, head, ptr, types, ts - 1, stop, &key) != head) {
      W.block_key = key;
      return 1;
    }
  }
  return 0;
}

/* The allocation of the new block at ptr (ordinal W.ordinal + 1 to be): its place in the
 * live map; BLOCKED (nothing changed) while another thread's free of what the map still
 * holds there is pending, or an earlier allocation at ptr is held up (older_held). */
static ATR_INLINE int live_claim(atr_thread_t *t, const atr_event_t *e, int may_block,
                                 uint64_t *stale) {
  if (ATR_UNLIKELY(W.nblocked) && may_block && older_held(t, e->ptr, TYPES_ALLOC, e->ts))
    return BLOCKED;
  uint64_t old = atr__ptrmap_put(&W.live, e->ptr, W.ordinal + 1);
  *stale = 0;
  if (ATR_LIKELY(old == 0))
    return 0;
  if (old == UINT64_MAX) {
    errno = ENOMEM;
    fail("out of memory for the live-block map");
    return 0;
  }
  if (may_block && pending(t, e->ptr, TYPES_FREE, e->ts)) {
    atr__ptrmap_put(&W.live, e->ptr, old);
    return BLOCKED;
  }
  W.inconsistent++;
  *stale = old;
  return 0;
}

/* The block at e->ptr, taken out of the live map into *o (0: it was never seen: an
 * unknown free); BLOCKED (nothing changed) while another thread's allocation of it is
 * pending, or an earlier free of ptr is held up (older_held). */
static ATR_INLINE int live_release(atr_thread_t *t, const atr_event_t *e, int may_block,
                                   uint64_t *o) {
  if (ATR_UNLIKELY(W.nblocked) && may_block && older_held(t, e->ptr, TYPES_FREE, e->ts))
    return BLOCKED;
  *o = atr__ptrmap_take(&W.live, e->ptr);
  if (ATR_LIKELY(*o != 0))
    return 0;
  if (may_block && pending(t, e->ptr, TYPES_ALLOC, e->ts))
    return BLOCKED;
  emit_ufree(t->w_idx);
  return 0;
}

/* One ring event: 0, or BLOCKED with nothing done (see above). */
static ATR_INLINE int process(atr_thread_t *t, const atr_event_t *e, int may_block) {
  uint32_t thr = t->w_idx;
  uint64_t stale;
  emit_time(e->ts);
  switch (ATR_META_TYPE(e->meta)) {
  case ATR_EV_ALLOC: {
    uint64_t site = site_for(e->meta, e->size);
    if (ATR_UNLIKELY(!e->ptr)) {
      put_misc_tag(ATR_TAG_AFAIL);
      col_u(thr);
      col_u(site);
      break;
    }
    if (ATR_UNLIKELY(live_claim(t, e, may_block, &stale)))
      return BLOCKED;
    emit_alloc(thr, site);
    new_ordinal();
    if (ATR_UNLIKELY(stale))
      emit_free_of(thr, stale);
    break;
  }
  case ATR_EV_FREE: {
    uint64_t o;
    if (ATR_UNLIKELY(live_release(t, e, may_block, &o)))
      return BLOCKED;
    if (ATR_LIKELY(o != 0))
      emit_free_of(thr, o);
    break;
  }
  case ATR_EV_RFREE: {
    uint64_t o;
    if (ATR_UNLIKELY(live_release(t, e, may_block, &o)))
      return BLOCKED;
    t->w_rfree_ordinal = o;
    t->w_rfree_ptr = e->ptr;
    return 0; /* one realloc call, two ring events: counted with RALLOC */
  }
  case ATR_EV_RALLOC: {
    uint64_t old = t->w_rfree_ordinal;
    uint64_t oldptr = t->w_rfree_ptr;
    if (!e->ptr && e->size) { /* failed: the old block stays live (C11 7.22.3.5) */
      uint64_t site = site_for(e->meta, e->size);
      t->w_rfree_ordinal = t->w_rfree_ptr = 0;
      if (old) {
        atr__ptrmap_put(&W.live, oldptr, old);
        put_misc_tag(ATR_TAG_RFAIL);
        col_u(thr);
        col_u(W.ordinal - old);
      } else {
        put_misc_tag(ATR_TAG_AFAIL);
        col_u(thr);
      }
      col_u(site);
      break;
    }
    if (!e->ptr) { /* realloc(p, 0) freed p */
      t->w_rfree_ordinal = t->w_rfree_ptr = 0;
      emit_realloc(thr, old, 0, 0);
      break;
    }
    uint64_t site = site_for(e->meta, e->size);
    if (ATR_UNLIKELY(live_claim(t, e, may_block, &stale)))
      return BLOCKED;
    t->w_rfree_ordinal = t->w_rfree_ptr = 0;
    emit_realloc(thr, old, e->ptr != oldptr, site);
    new_ordinal();
    if (ATR_UNLIKELY(stale))
      emit_free_of(thr, stale);
    break;
  }
  case ATR_EV_MODULES:
    emit_modules((uint32_t)e->size);
    return 0;
  case ATR_EV_NAME:
    emit_thread(t);
    return 0;
  }
  W.events++;
  return 0;
}

/* ---------------- merging ---------------- */

typedef struct {
  uint64_t ts;
  atr_thread_t *t;
} heap_item;

static heap_item *heap;
static size_t heap_cap;

static void heap_push(size_t *n, heap_item it) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap[parent].ts <= it.ts)
      break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = it;
}

static heap_item heap_pop(size_t *n) {
  heap_item top = heap[0], last = heap[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && heap[c + 1].ts < heap[c].ts)
      c++;
    if (last.ts <= heap[c].ts)
      break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = last;
  return top;
}

/* Everything with a timestamp below the watermark can be written in order: no thread
 * can still publish an older event (DESIGN.md "A correct global order"). */
static uint64_t watermark(uint64_t now, int final, size_t *nthreads) {
  uint64_t margin = atr__us_to_ticks(MARGIN_US);
  uint64_t w = final ? UINT64_MAX : now - margin;
  size_t n = 0;
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    if (atomic_load_explicit(&t->status, memory_order_acquire) != ATR_THR_LIVE)
      continue;
    n++;
    if (t->w_incarnation != t->incarnation) {
      t->w_incarnation = t->incarnation;
      t->w_idx = W.nthreads++;
      t->w_seen_gen = 0;
      t->w_bound = 0;
      t->w_rfree_ordinal = 0;
      t->w_block_tail = 0;
      if (t->w_blocked) {
        t->w_blocked = 0;
        W.nblocked--;
      }
      t->w_waits_reported = 0;
      t->w_dead_checks = 0;
      emit_thread(t);
    }
    if (final)
      continue;
    uint32_t g = atomic_load_explicit(&t->gen, memory_order_acquire);
    uint64_t bound;
    if (!(g & 1))
      bound = UINT64_MAX;
    else if (atomic_load_explicit(&t->waiting, memory_order_acquire))
      bound = t->wait_ts;
    else if (g != t->w_seen_gen)
      bound = W.prev_now > margin ? W.prev_now - margin : 0;
    else
      bound = t->w_bound;
    t->w_seen_gen = g;
    t->w_bound = bound;
    if (bound < w)
      w = bound;
  }
  W.prev_now = now;
  *nthreads = n;
  return w;
}

#define PREFETCH_AHEAD 8u

/* process() refused ring t's event at tail (it waits for another ring's event, stamped
 * up to W.block_key). WAIT: back in the merge after that stamp; NEXT_PASS: refused here
 * in this pass already, after the merge went past that stamp (the other ring is held up
 * too): back in the next drain(); FORCE: refused so in the final drain, or held up so in
 * HELD_PASSES passes over at least BLOCK_US (a cycle no real order makes): process it as
 * it is. Every pass first gives the event its WAIT: a process stopped or preempted
 * between two passes is no sign of a cycle (forcing on time alone, or in the final
 * drain on an earlier pass's refusal, made unknown frees: tests/cli/handoff.sh). */
enum { WAIT = 1, NEXT_PASS, FORCE };
#define HELD_PASSES 16u
static ATR_NOINLINE int refused(atr_thread_t *t, uint64_t tail, uint64_t now, int final) {
  if (t->w_block_tail != tail + 1) { /* + 1: 0 means none */
    t->w_block_tail = tail + 1;
    t->w_block_since = 0;
    t->w_block_held = 0;
    t->w_block_pass = W.pass;
    W.repaired++;
    return WAIT;
  }
  if (t->w_block_pass != W.pass) {
    t->w_block_pass = W.pass;
    return WAIT;
  }
  if (!t->w_block_since)
    t->w_block_since = now;
  if (final || (++t->w_block_held >= HELD_PASSES &&
                now - t->w_block_since > atr__us_to_ticks(BLOCK_US))) {
    t->w_block_tail = 0;
    return FORCE;
  }
  return NEXT_PASS;
}

static uint64_t drain(int final) {
  size_t nthreads;
  W.pass++;
  uint64_t now = atr__now();
  uint64_t w = watermark(now, final, &nthreads);
  if (heap_cap < nthreads) {
    size_t cap = nthreads * 2 + 16;
    heap_item *h = atr__real.realloc(heap, cap * sizeof(*h));
    if (!h)
      return 0;
    heap = h;
    heap_cap = cap;
  }
  size_t n = 0;
  for (atr_thread_t *t = atr__threads_head(); t && n < heap_cap; t = t->next) {
    if (!ring_merged(t))
      continue;
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
    /* read once per pass: the producer writes head's cache line on every event, and the
     * events below the watermark are all published by now (watermark() came first) */
    uint64_t head = atomic_load_explicit(&t->head, memory_order_acquire);
    if (head == tail)
      continue;
    t->w_head = head;
    uint64_t ts = t->ev[tail & (ATR_RING_SIZE - 1)].ts;
    if (ts < w)
      heap_push(&n, (heap_item){ts, t});
  }
  uint64_t done = 0;
  while (n > 0) {
    heap_item it = heap_pop(&n);
    atr_thread_t *t = it.t;
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
    uint64_t head = t->w_head;
    uint64_t next_other = n ? heap[0].ts : UINT64_MAX;
    int blocked = 0;
    /* consume this ring while it stays the oldest */
    do {
      /* the live-map slot of an event a few ahead: misses overlap with this one's work */
      if (ATR_LIKELY(head - tail > PREFETCH_AHEAD))
        atr__ptrmap_prefetch(&W.live, t->ev[(tail + PREFETCH_AHEAD) & (ATR_RING_SIZE - 1)].ptr);
      const atr_event_t *e = &t->ev[tail & (ATR_RING_SIZE - 1)];
      if (ATR_UNLIKELY(process(t, e, 1))) {
        blocked = refused(t, tail, now, final);
        if (blocked != FORCE) {
          if (e->ts > W.block_key)
            W.block_key = e->ts;
          if (!t->w_blocked) {
            t->w_blocked = 1;
            W.nblocked++;
          }
          break;
        }
        blocked = 0;
        process(t, e, 0);
      }
      if (ATR_UNLIKELY(t->w_blocked)) {
        t->w_blocked = 0;
        W.nblocked--;
      }
      tail++;
      done++;
      if ((tail & 255) == 0)
        atomic_store_explicit(&t->tail, tail, memory_order_release);
    } while (tail != head && t->ev[tail & (ATR_RING_SIZE - 1)].ts < w &&
             t->ev[tail & (ATR_RING_SIZE - 1)].ts <= next_other);
    atomic_store_explicit(&t->tail, tail, memory_order_release);
    if (ATR_UNLIKELY(blocked)) {
      if (blocked == WAIT && W.block_key < w)
        heap_push(&n, (heap_item){W.block_key + 1, t});
      continue;
    }
    /* a producer asleep on its full ring (ring.c): wake it once half the ring is free */
    uint32_t one = 1; /* a CAS: the producer may have stopped waiting meanwhile */
    if (ATR_UNLIKELY(atomic_load_explicit(&t->waiting, memory_order_relaxed) == 1) &&
        head - tail <= ATR_RING_SIZE / 2 &&
        atomic_compare_exchange_strong_explicit(&t->waiting, &one, 2, memory_order_relaxed,
                                                memory_order_relaxed))
      syscall(SYS_futex, atr__tail_word(t), FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    if (tail != head && t->ev[tail & (ATR_RING_SIZE - 1)].ts < w)
      heap_push(&n, (heap_item){t->ev[tail & (ATR_RING_SIZE - 1)].ts, t});
  }
  return done;
}

/* ---------------- periodic work ---------------- */

static uint64_t read_rss(const char *field) {
  char buf[4096];
  ssize_t n = read_file("/proc/self/status", buf, sizeof(buf) - 1);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  char *p = strstr(buf, field);
  return p ? strtoull(p + strlen(field), NULL, 10) * 1024u : 0;
}

/* Resident set size from a descriptor kept open: opening /proc/self/status every 10 ms
 * put a descriptor at the lowest free number for a moment, where a program closing the
 * descriptors it did not open could close it, reopen its own file at that number and
 * have the writer close that file (proc.c protects only descriptors the tracer keeps). */
static uint64_t current_rss(void) {
  char buf[128];
  if (W.statm_fd < 0)
    return 0;
  ssize_t n = pread(W.statm_fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  char *p = strchr(buf, ' '); /* "size resident shared ..." in pages */
  return p ? strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void sample_rss(uint64_t now_us) {
  W.last_rss_us = now_us;
  uint64_t rss = current_rss();
  chunk_flush(); /* the sample belongs after the events so far */
  uint8_t *p = room(12);
  *p++ = ATR_TAG_RSS;
  commit(atr_put_u(p, rss));
}

/* Threads that are gone and drained give their state back for reuse. */
static void reap(void) {
  pid_t pid = getpid();
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    if (atomic_load(&t->status) != ATR_THR_LIVE || t->w_incarnation != t->incarnation)
      continue;
    W.waits += t->waits - t->w_waits_reported;
    t->w_waits_reported = t->waits;
    if (atomic_load(&t->head) != atomic_load(&t->tail) || (atomic_load(&t->gen) & 1))
      continue;
    if (syscall(SYS_tgkill, pid, t->tid, 0) == -1 && errno == ESRCH)
      atr__thread_recycle(t);
  }
}

static void emit_end(unsigned flags) {
  for (atr_thread_t *t = atr__threads_head(); t; t = t->next) {
    W.waits += t->waits - t->w_waits_reported;
    t->w_waits_reported = t->waits;
  }
  chunk_flush();
  uint8_t *p = room(80);
  *p++ = ATR_TAG_END;
  p = atr_put_u(p, W.events);
  p = atr_put_u(p, W.waits);
  p = atr_put_u(p, W.inconsistent);
  p = atr_put_u(p, W.unknown_frees);
  p = atr_put_u(p, atr__stack_dropped());
  p = atr_put_u(p, read_rss("VmHWM:"));
  p = atr_put_u(p, flags);
  commit(atr_put_u(p, W.repaired));
}

static uint64_t now_us(void) {
  return atr__ticks_to_us(atr__now());
}

/* One pass of the writer: drain, then the periodic records. Caller holds wlock. */
static uint64_t step(int final) {
  emit_notes();
  uint64_t done = drain(final);
  uint64_t us = now_us();
  if (us >= W.last_rss_us + RSS_US)
    sample_rss(us);
  if (us >= W.last_reap_us + 100000) {
    W.last_reap_us = us;
    reap();
  }
  if (W.events && (W.len || W.frame_open) &&
      (done == 0 || us >= W.frame_start_us + FRAME_US)) {
    end_frame();
    W.frame_start_us = us;
  }
  return done;
}

static void full_flush(unsigned flags) {
  emit_notes();
  drain(1);
  if (flags) {
    sample_rss(now_us());
    emit_end(flags);
  }
  if (W.events || atr__cfg.root_pid == (int)getpid() || !atr__cfg.root_pid)
    end_frame();
}

static void sleep_us(long us) {
  atomic_store(&writer_sleeping, 1);
  struct timespec d = {0, us * 1000};
  syscall(SYS_futex, &atr__writer_wake, FUTEX_WAIT_PRIVATE, atomic_load(&atr__writer_wake), &d,
          NULL, 0);
  atomic_store(&writer_sleeping, 0);
}

void atr__writer_kick(void) {
  if (atomic_load_explicit(&writer_sleeping, memory_order_relaxed)) {
    atomic_fetch_add(&atr__writer_wake, 1);
    syscall(SYS_futex, &atr__writer_wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  }
}

static void *writer_main(void *arg) {
  (void)arg;
  atr__tls.guard = 1;
  long idle_us = 1000;
  while (!atomic_load(&writer_stop)) {
    /* a new epoch: a thread's next stamp is a clock read again (atr__stamp in tracer.h) */
    atomic_fetch_add_explicit(&atr__clk.epoch, 1, memory_order_relaxed);
    spin_lock(&wlock);
    uint64_t done = step(0);
    uint32_t req = atomic_load(&flush_req);
    if (req != atomic_load(&flush_done)) {
      full_flush(flush_flags);
      atomic_store(&flush_done, req);
      syscall(SYS_futex, &flush_done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
    spin_unlock(&wlock);
    if (done >= 1024) {
      idle_us = 1000;
      continue;
    }
    sleep_us(idle_us);
    if (done == 0 && idle_us < 10000)
      idle_us += 1000;
    else if (done)
      idle_us = 1000;
  }
  return NULL;
}

static int writer_state_init(void) {
  W.cctx = ZSTD_createCCtx();
  W.buf = atr__real.malloc(BUF_LIMIT + 8192);
  W.zcap = ZSTD_CStreamOutSize();
  W.zbuf = atr__real.malloc(W.zcap);
  void *lw = atr__real.calloc(1, atr_lw_bytes());
  void *lwr = atr__real.calloc(1, atr__lwr_bytes()); /* 16-byte aligned, as malloc's */
  if (!lw || !lwr)
    return -1;
  atr_lw_attach(&W.lw, lw);
  atr__lwr_attach(&W.lwr, lwr);
  for (int i = 0; i < ATR_NCOLS; i++) {
    W.col[i] = atr__real.malloc(col_cap[i]);
    W.clen[i] = 0;
    if (!W.col[i])
      return -1;
  }
  if (!W.cctx || !W.buf || !W.zbuf || atr__ptrmap_init(&W.live, 10) ||
      atr__map_init(&W.sites, 1u << 12) || atr__map_init(&W.trie, 1u << 12))
    return -1;
  ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_compressionLevel, atr__cfg.level);
  ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_checksumFlag, 1);
  W.fd = -1;
  W.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (W.statm_fd >= 0) {
    W.statm_fd = atr__fd_move_high(W.statm_fd);
    atr__fd_own(W.statm_fd);
  }
  W.failed = 0;
  W.len = 0;
  W.frame_open = 0;
  W.node_of = NULL;
  W.node_of_cap = 0;
  memset(site_cache, 0, sizeof(site_cache));
  W.nnodes = W.nsites = W.prev_ip = W.ordinal = W.last_free = W.last_rank = 0;
  W.last_us = W.frame_start_us = W.last_rss_us = W.last_reap_us = W.prev_now = 0;
  W.next_time_ts = 0;
  W.nthreads = 0;
  W.ext_thread = UINT32_MAX;
  W.events = W.inconsistent = W.unknown_frees = W.waits = W.repaired = 0;
  W.nblocked = 0; /* ring.c cleared every w_blocked */
  W.mod_gen = 0;
  W.layers_emitted = 0;
  atomic_store(&notes_emitted, 0);
  emit_hdr();
  emit_proc();
  emit_modules(atr__modules_scan());
  return 0;
}

int atr__writer_start(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&start_once, &expected, 1))
    return 0;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  int rc = writer_state_init();
  /* The root process writes its first frame (header, process, modules) before the
   * program runs: killed before its first allocation, it still leaves a trace that
   * decodes, and `run` can tell it from a program that never loaded the tracer. */
  if (rc == 0 && atr__cfg.root_pid == (int)getpid())
    end_frame();
  if (rc == 0) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's handlers never run here */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&writer_thread, &attr, writer_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
      pthread_setname_np(writer_thread, "alloctrace");
      atomic_store(&atr__writer_running, 1);
    }
  }
  if (rc != 0) {
    atr__log("cannot start the trace writer; tracing is off");
    atomic_store(&atr__state, ATR_OFF);
  }
  W.ready = rc == 0;
  atr__tls.guard = saved;
  return rc;
}

/* Synchronous: everything recorded so far reaches the file, then END. */
void atr__writer_flush(unsigned flags) {
  if (!W.ready)
    return;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  if (atomic_load(&atr__writer_running) && !atr__final) {
    spin_lock(&wlock);
    flush_flags = flags;
    uint32_t req = atomic_fetch_add(&flush_req, 1) + 1;
    spin_unlock(&wlock);
    while ((int32_t)(atomic_load(&flush_done) - req) < 0) {
      atomic_fetch_add(&atr__writer_wake, 1);
      syscall(SYS_futex, &atr__writer_wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
      uint32_t d = atomic_load(&flush_done);
      if ((int32_t)(d - req) >= 0)
        break;
      struct timespec t = {0, 1000000};
      syscall(SYS_futex, &flush_done, FUTEX_WAIT_PRIVATE, d, &t, NULL, 0);
    }
  } else {
    spin_lock(&wlock);
    full_flush(flags);
    spin_unlock(&wlock);
  }
  atr__tls.guard = saved;
}

/* After finalisation the writer thread is gone: the recording thread drains itself. */
void atr__writer_inline(void) {
  if (!W.ready)
    return;
  int saved = atr__tls.guard;
  atr__tls.guard = 1;
  spin_lock(&wlock);
  full_flush(0);
  spin_unlock(&wlock);
  atr__tls.guard = saved;
}

void atr__writer_stop(void) {
  atomic_store(&writer_stop, 1);
  atr__writer_kick();
  /* the thread is detached; wlock tells us it is not mid-pass */
  spin_lock(&wlock);
  atomic_store(&atr__writer_running, 0);
  spin_unlock(&wlock);
}

/* Fork child: the writer thread does not exist here. Abandon the parent's writer state
 * (its memory may be mid-update) and start afresh with a new file for this pid. */
void atr__writer_after_fork(void) {
  atomic_flag_clear(&wlock);
  atomic_flag_clear(&fdlock);
  if (W.fd >= 0)
    atr__real.close(W.fd);
  W.fd = -1;
  if (W.statm_fd >= 0) { /* the parent's /proc/<pid>/statm: reopened for this pid */
    atr__fd_disown(W.statm_fd);
    atr__real.close(W.statm_fd);
  }
  W.statm_fd = -1;
  W.ready = 0;
  atomic_store(&start_once, 0);
  atomic_store(&atr__writer_running, 0);
  atomic_store(&writer_stop, 0);
  atomic_store(&writer_sleeping, 0);
  atomic_store(&flush_req, 0);
  atomic_store(&flush_done, 0);
  atomic_store(&nnotes, 0);
  atomic_store(&notes_written, 0);
  heap = NULL;
  heap_cap = 0;
  atr__modules_after_fork();
}
