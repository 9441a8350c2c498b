/* The writer of one traced process image, in the recorder process: merges the image's
 * per-thread rings (in its shared region, shm.h) in timestamp order, keeps the
 * live-block map (pointer -> allocation ordinal), interns stacks into a trie and sites,
 * encodes records (byte layout in alloctrace/format.h) and compresses them into zstd
 * frames ended at least every 100 ms, each handed whole to the run's sink (recorder.c).
 * Never writes to the region but for the fields shm.h gives the recorder; never blocks
 * a traced thread except through a full ring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "lwrank.h"
#include "recorder.h"
#include "u64map.h"

#define BUF_LIMIT (256u * 1024u)
#define FRAME_US 100000u    /* end a zstd frame at least this often */
#define RSS_US 10000u       /* RSS sample period */
#define TIME_STEP_US 100u   /* TIME resolution */
#define MARGIN_US 50u       /* slack for store-buffer and TSC skew (../README.md) */
/* events per CHUNK: each column is one zstd block (at most 128 KiB) with its own entropy
 * tables; longer chunks spread the tables over more events (32 Ki events: 4% larger
 * C++ traces) */
#define CHUNK_EVENTS 130048u
#define MISC_CAP 131072u /* a CHUNK ends early when misc fills */
#define ATR_PATH_MAX 128 /* frames of node_for_stack's prefix cache (stacks have <= 64) */

/* CHUNK columns, in file order (format.h) */
enum { COL_TAG, COL_SLO, COL_SHI, COL_FLO, COL_FHI, COL_MISC, ATR_NCOLS };
static const size_t col_cap[ATR_NCOLS] = {CHUNK_EVENTS + 64, CHUNK_EVENTS + 64,
                                          CHUNK_EVENTS + 64, CHUNK_EVENTS + 64,
                                          CHUNK_EVENTS + 64, MISC_CAP + 256};

/* Direct-mapped cache in front of the site map: most events repeat a (stack, size, kind,
 * align) seen moments ago, and the stack id determines the node. */
#define SITE_CACHE_BITS 12u
#define SITE_KEY_MASK 0x00ffff00ffffffffull /* meta: stack, kind, align */
struct site_cache {
  uint64_t key, size, site; /* site 0 = empty */
};

struct atr_wproc {
  void *base;               /* the image's shared region, mapped here */
  atr_shm_hdr_t *hdr;
  int memfd;                /* the region's descriptor (recorder.c's) */
  uint32_t thr_lo;          /* slots below it are all mapped (thr) */
  atr_thread_t *thr[ATR_MAX_THREADS]; /* the slots' pieces mapped here, NULL: not yet */
  uint64_t *seg[ATR_ST_SEGS];         /* the stack arena's segments mapped here */
  uint32_t pid, stream;
  int statm_fd;             /* /proc/<pid>/statm: RSS samples */
  int status_fd;            /* /proc/<pid>/status: VmHWM */
  uint64_t rss_max;
  uint8_t *frame;           /* compressed bytes of the frame being made */
  size_t frame_len, frame_cap;
  unsigned notes_emitted;
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
  /* node_for_stack's last new stack, root first: its frames and their trie nodes */
  uint64_t path_ip[ATR_PATH_MAX];
  uint32_t path_node[ATR_PATH_MAX];
  int path_n;
  uint64_t nnodes, nsites, prev_ip;
  uint64_t ordinal, last_free, last_rank;
  uint64_t last_us, frame_start_us, last_rss_us, last_reap_us;
  uint64_t prev_now, next_time_ts;
  uint32_t nthreads, ext_thread;
  uint64_t events, inconsistent, unknown_frees, waits, repaired;
  atr_inherit_t *inh;        /* a fork child: the blocks its parent had live at the fork */
  uint64_t inherited_frees;
  uint32_t nblocked; /* rings whose event at tail is refused (w_blocked) */
  uint64_t block_key; /* pending(): latest stamp of the other ring up to its event */
  uint32_t pass;      /* drain() calls */
  uint32_t mod_gen;
  unsigned layers_emitted;
  struct site_cache site_cache[1u << SITE_CACHE_BITS];
};

static atr_wproc_t *Wp; /* the image being written: every function below works on it */
#define W (*Wp)

/* A piece of the region once the probe has published its offset (shm.h), mapped here;
 * NULL while it is not, or not inside the file (a damaged header). */
static void *piece(uint64_t off, uint64_t len) {
  struct stat st;
  if (off < ATR_SHM_FIXED || (off & 4095u) || fstat(W.memfd, &st) != 0 ||
      off + len > (uint64_t)st.st_size)
    return NULL;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, W.memfd,
                 (off_t)off);
  return p == MAP_FAILED ? NULL : p;
}

/* The slots handed out so far, each mapped once its piece is published: the count to
 * walk in W.thr (entries may be NULL). */
static uint32_t threads_seen(void) {
  uint32_t n = atomic_load_explicit(&W.hdr->nthreads, memory_order_acquire);
  if (n > ATR_MAX_THREADS)
    n = ATR_MAX_THREADS;
  int all = 1;
  for (uint32_t i = W.thr_lo; i < n; i++) {
    if (!W.thr[i]) {
      uint64_t off = atomic_load_explicit(&W.hdr->thread_off[i], memory_order_acquire);
      W.thr[i] = off ? piece(off, ATR_THREAD_BYTES) : NULL;
    }
    if (all && W.thr[i])
      W.thr_lo = i + 1;
    else
      all = 0;
  }
  return n;
}

#define FOR_THREADS(t)                                                                   \
  for (atr_thread_t **t##_p = W.thr, **t##_end = W.thr + threads_seen(), *t = NULL;       \
       t##_p < t##_end; t##_p++)                                                          \
    if (!(t = *t##_p)) {                                                                  \
    } else

static uint64_t ticks_to_us(uint64_t ticks) {
  return atr_rec_ticks_to_us(W.hdr, ticks);
}
static uint64_t us_to_ticks(uint64_t us) {
  return atr_rec_us_to_ticks(W.hdr, us);
}

static const uintptr_t *stack_get(uint32_t id, int *n) {
  uint64_t off = id <= ATR_ST_MAX ? atr_shm_offsets(W.base)[id] : 0;
  uint32_t k = (uint32_t)(off >> ATR_ST_SEG_SHIFT);
  if (k < ATR_ST_SEGS && !W.seg[k]) {
    uint64_t at = atomic_load_explicit(&W.hdr->seg_off[k], memory_order_acquire);
    W.seg[k] = at ? piece(at, ATR_ST_SEG_BYTES) : NULL;
  }
  if (k >= ATR_ST_SEGS || !W.seg[k]) {
    *n = 0; /* not readable: recorded as an empty stack */
    return NULL;
  }
  const uint64_t *e = W.seg[k] + (off & (ATR_ST_SEG_WORDS - 1));
  *n = e[1] > ATR_MAX_DEPTH ? ATR_MAX_DEPTH : (int)e[1];
  return (const uintptr_t *)(e + 2);
}

static void fail(const char *why) {
  if (!W.failed)
    atr_rec_log("process %u: tracing stopped: %s", W.pid, why);
  W.failed = 1;
}

/* ---------------- compression ---------------- */

static void frame_append(const uint8_t *p, size_t n) {
  if (W.frame_len + n > W.frame_cap) {
    size_t cap = W.frame_cap ? W.frame_cap : 1u << 16;
    while (cap < W.frame_len + n)
      cap *= 2;
    uint8_t *f = realloc(W.frame, cap);
    if (!f) {
      fail("out of memory for a frame");
      return;
    }
    W.frame = f;
    W.frame_cap = cap;
  }
  memcpy(W.frame + W.frame_len, p, n);
  W.frame_len += n;
}


static void compress_bytes(const uint8_t *data, size_t len, ZSTD_EndDirective mode) {
  if (W.failed)
    return;
  ZSTD_inBuffer in = {data, len, 0};
  for (;;) {
    ZSTD_outBuffer out = {W.zbuf, W.zcap, 0};
    size_t r = ZSTD_compressStream2(W.cctx, &out, &in, mode);
    if (ZSTD_isError(r)) {
      fail(ZSTD_getErrorName(r));
      break;
    }
    if (out.pos)
      frame_append(W.zbuf, out.pos);
    if (mode == ZSTD_e_continue ? in.pos == in.size : r == 0)
      break;
  }
  W.frame_open = mode != ZSTD_e_end;
  if (!W.frame_open && W.frame_len) { /* a whole frame: to the sink, after its tag */
    if (!W.failed && atr_rec_sink_frame(W.stream, W.pid, W.frame, W.frame_len) != 0)
      fail(errno == EFBIG ? "cannot write the trace file: the file size limit (ulimit -f) is reached"
                          : "cannot write the trace file");
    W.frame_len = 0;
  }
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
  close(fd);
  return (ssize_t)n;
}

/* PROC from the header: the process may be gone already when it is written. */
static void emit_proc(void) {
  const atr_shm_hdr_t *h = W.hdr;
  char exe[sizeof(h->exe) + 1];
  size_t el = h->exe_len < sizeof(h->exe) ? h->exe_len : sizeof(h->exe) - 1;
  memcpy(exe, h->exe, el);
  exe[el] = 0;
  size_t c = h->cmdline_len < sizeof(h->cmdline) ? h->cmdline_len : sizeof(h->cmdline);
  uint64_t argc = 0;
  for (size_t i = 0; i < c; i++)
    argc += h->cmdline[i] == 0;
  if (c > 0 && h->cmdline[c - 1] != 0)
    argc++;
  uint8_t *p = room(40);
  *p++ = ATR_TAG_PROC;
  p = atr_put_u(p, h->pid);
  p = atr_put_u(p, h->ppid);
  p = atr_put_u(p, h->start_unix_us);
  commit(p);
  put_str(exe);
  p = room(10);
  commit(atr_put_u(p, argc));
  for (size_t i = 0; i < c;) {
    size_t n = strnlen(h->cmdline + i, c - i);
    char arg[4097];
    size_t k = n < 4096 ? n : 4096;
    memcpy(arg, h->cmdline + i, k);
    arg[k] = 0;
    put_str(arg);
    i += n + 1;
  }
}

static void emit_modules(uint32_t gen) {
  uint32_t count = atomic_load_explicit(&W.hdr->nmods, memory_order_acquire);
  atr_module_t *mods = atr_shm_mods(W.base);
  for (uint32_t i = 0; i < count; i++) {
    atr_module_t *m = &mods[i];
    if (m->load_gen > gen)
      continue;
    if (m->emitted == 0 && !(m->unload_gen && m->unload_gen <= gen)) {
      char path[sizeof(m->path) + sizeof(W.hdr->exe)];
      if (!m->path[0]) { /* the main program */
        size_t el = W.hdr->exe_len < sizeof(W.hdr->exe) ? W.hdr->exe_len : 0;
        memcpy(path, W.hdr->exe, el);
        path[el] = 0;
      } else {
        snprintf(path, sizeof(path), "%.*s", (int)sizeof(m->path), m->path);
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
  atr_shm_hdr_t *h = W.hdr;
  unsigned n = atomic_load(&h->nnotes);
  if (atomic_load(&h->notes_written) != n)
    n = W.notes_emitted; /* a note is being written: take it next time */
  if (n > ATR_MAX_NOTES)
    n = ATR_MAX_NOTES;
  for (unsigned i = W.notes_emitted; i < n; i++) {
    char text[sizeof(h->notes[i]) + 1];
    memcpy(text, h->notes[i], sizeof(h->notes[i]));
    text[sizeof(h->notes[i])] = 0;
    if (strncmp(text, ATR_LOG_PREFIX "[", sizeof(ATR_LOG_PREFIX)) == 0)
      fprintf(stderr, "%s\n", text); /* the probe's diagnostic: run's terminal (rawio.c) */
    uint8_t *p = room(1);
    *p++ = ATR_TAG_NOTE;
    commit(p);
    put_str(text);
  }
  W.notes_emitted = n;
  unsigned layers = atomic_load_explicit(&h->layers, memory_order_relaxed);
  if (layers != W.layers_emitted) {
    uint8_t *p = room(12);
    *p++ = ATR_TAG_LAYER;
    commit(atr_put_u(p, layers));
    W.layers_emitted = layers;
  }
}

static void emit_thread(atr_thread_t *t) {
  char path[64], name[64] = {0};
  snprintf(path, sizeof(path), "/proc/%u/task/%u/comm", W.pid, t->tid);
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
    uint32_t *n = realloc(W.node_of, cap * sizeof(uint32_t));
    if (!n)
      return 0;
    memset(n + W.node_of_cap, 0, (cap - W.node_of_cap) * sizeof(uint32_t));
    W.node_of = n;
    W.node_of_cap = cap;
  }
  int n;
  const uintptr_t *ips = stack_get(sid, &n);
  uint64_t parent = 0;
  /* the root-side frames this stack shares with the last new one need no lookup: each
   * trie lookup is a cache miss in a table of millions of nodes, 88% of node_for_stack's
   * time on clang++ -O2 of bench/tmpl_heavy.cc (perf annotate), and new stacks mostly
   * differ from the one before only near the leaf */
  int d = 0, i = n - 1;
  for (; i >= 0 && d < W.path_n && W.path_ip[d] == ips[i]; i--, d++)
    parent = W.path_node[d];
  for (; i >= 0; i--, d++) {
    uint64_t *v = atr__map_get(&W.trie, parent, ips[i]);
    if (v) {
      parent = *v;
      if (d < ATR_PATH_MAX) {
        W.path_ip[d] = ips[i];
        W.path_node[d] = (uint32_t)parent;
      }
      continue;
    }
    uint64_t id = ++W.nnodes;
    if (d < ATR_PATH_MAX) {
      W.path_ip[d] = ips[i];
      W.path_node[d] = (uint32_t)id;
    }
    atr__map_put(&W.trie, parent, ips[i], id);
    uint8_t *p = room(24);
    *p++ = ATR_TAG_NODE;
    p = atr_put_u(p, parent);
    p = atr_put_s(p, (int64_t)(ips[i] - W.prev_ip));
    commit(p);
    W.prev_ip = ips[i];
    parent = id;
  }
  W.path_n = d < ATR_PATH_MAX ? d : ATR_PATH_MAX;
  W.node_of[sid] = (uint32_t)parent;
  return (uint32_t)parent;
}


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
  struct site_cache *c = &W.site_cache[h & ((1u << SITE_CACHE_BITS) - 1)];
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
  uint64_t us = ticks_to_us(ts);
  if (us >= W.last_us + TIME_STEP_US) {
    put_misc_tag(ATR_TAG_TIME);
    col_u(us - W.last_us);
    W.last_us = us;
  }
  W.next_time_ts = ts + us_to_ticks(TIME_STEP_US);
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

/* A free of ptr, which the live map does not hold: a block of the parent's (a fork
 * child's inheritance, inherit.c), or one never seen allocated. */
static void emit_ufree(uint32_t thr, uint64_t ptr) {
  unsigned kind = ATR_UFREE_UNKNOWN;
  if (W.inh && atr_inherit_has(W.inh, ptr)) {
    kind = ATR_UFREE_INHERITED;
    W.inherited_frees++;
  } else {
    W.unknown_frees++;
  }
  put_misc_tag(ATR_TAG_UFREE);
  col_u(thr);
  col_u(kind);
}

/* The parent's side of a fork (ATR_EV_FORK, in the merged order): its live blocks now. */
static void keep_fork(uint64_t mark) {
  uint64_t n = W.live.count;
  uint64_t *ptrs = n && atr_inherit_room(n) ? malloc(n * sizeof(uint64_t)) : NULL;
  size_t k = 0;
  for (uint64_t i = 0; ptrs && i <= W.live.mask; i++)
    if (W.live.s[i].key)
      ptrs[k++] = W.live.s[i].key;
  atr_inherit_mark(W.pid, W.hdr->tick0, mark, ptrs, k, n);
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
  uint64_t d = W.hdr->skew[0] - W.hdr->skew[1];
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
  uint64_t lim = ts + us_to_ticks(MARGIN_US);
  uint64_t stop = lim + skew_span();
  FOR_THREADS(t) {
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
  FOR_THREADS(t) {
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
  emit_ufree(t->w_idx, e->ptr);
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
  case ATR_EV_FORK:
    keep_fork(e->size);
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
 * can still publish an older event (../README.md "A correct global order"). */
static uint64_t watermark(uint64_t now, int final, size_t *nthreads) {
  uint64_t margin = us_to_ticks(MARGIN_US);
  uint64_t w = final ? UINT64_MAX : now - margin;
  size_t n = 0;
  FOR_THREADS(t) {
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
                now - t->w_block_since > us_to_ticks(BLOCK_US))) {
    t->w_block_tail = 0;
    return FORCE;
  }
  return NEXT_PASS;
}

static uint64_t drain(int final) {
  size_t nthreads;
  W.pass++;
  uint64_t now = atr_rec_now(W.hdr);
  uint64_t w = watermark(now, final, &nthreads);
  if (heap_cap < nthreads) {
    size_t cap = nthreads * 2 + 16;
    heap_item *h = realloc(heap, cap * sizeof(*h));
    if (!h)
      return 0;
    heap = h;
    heap_cap = cap;
  }
  size_t n = 0;
  FOR_THREADS(t) {
    if (n >= heap_cap)
      break;
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
      syscall(SYS_futex, atr__tail_word(t), FUTEX_WAKE, INT_MAX, NULL, NULL, 0); /* shared */
    if (tail != head && t->ev[tail & (ATR_RING_SIZE - 1)].ts < w)
      heap_push(&n, (heap_item){t->ev[tail & (ATR_RING_SIZE - 1)].ts, t});
  }
  return done;
}

/* ---------------- periodic work ---------------- */

/* A number after `field` in a /proc/<pid> file kept open, times `unit`; 0 when the
 * process is gone (a zombie's files read empty). */
static uint64_t proc_field(int fd, const char *field, uint64_t unit) {
  char buf[4096];
  if (fd < 0)
    return 0;
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  char *p = field ? strstr(buf, field) : buf;
  if (!p)
    return 0;
  p += field ? strlen(field) : 0;
  return strtoull(p, NULL, 10) * unit;
}

static uint64_t current_rss(void) {
  /* statm: "size resident shared ..." in pages */
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  char buf[128];
  if (W.statm_fd < 0)
    return 0;
  ssize_t n = pread(W.statm_fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  char *p = strchr(buf, ' ');
  uint64_t rss = p ? strtoull(p + 1, NULL, 10) * page : 0;
  if (rss > W.rss_max)
    W.rss_max = rss;
  return rss;
}

static void sample_rss(uint64_t now_us) {
  W.last_rss_us = now_us;
  uint64_t rss = current_rss();
  if (!rss)
    return; /* the process is gone: its last sample stands */
  chunk_flush(); /* the sample belongs after the events so far */
  uint8_t *p = room(12);
  *p++ = ATR_TAG_RSS;
  commit(atr_put_u(p, rss));
}

/* Threads that are gone and drained give their state back for reuse. */
static void reap(void) {
  pid_t pid = (pid_t)W.pid;
  uint64_t hwm = proc_field(W.status_fd, "VmHWM:", 1024);
  if (hwm > W.rss_max)
    W.rss_max = hwm;
  FOR_THREADS(t) {
    if (atomic_load(&t->status) != ATR_THR_LIVE || t->w_incarnation != t->incarnation)
      continue;
    W.waits += t->waits - t->w_waits_reported;
    t->w_waits_reported = t->waits;
    if (atomic_load(&t->head) != atomic_load(&t->tail) || (atomic_load(&t->gen) & 1))
      continue;
    if (syscall(SYS_tgkill, pid, t->tid, 0) == -1 && errno == ESRCH)
      atomic_store_explicit(&t->status, ATR_THR_FREE, memory_order_release);
  }
}

static void emit_end(unsigned flags) {
  FOR_THREADS(t) {
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
  p = atr_put_u(p, atomic_load(&W.hdr->stack_drops));
  uint64_t hwm = atomic_load(&W.hdr->peak_rss);
  p = atr_put_u(p, hwm > W.rss_max ? hwm : W.rss_max);
  p = atr_put_u(p, flags);
  commit(atr_put_u(p, W.repaired));
}

static uint64_t now_us(void) {
  return ticks_to_us(atr_rec_now(W.hdr));
}

/* One pass of the writer: drain, then the periodic records. Caller holds wlock. */
static uint64_t step(int final) {
  /* a new epoch: a thread's next stamp is a clock read again (atr__stamp in tracer.h) */
  atomic_fetch_add_explicit(&W.hdr->clk.epoch, 1, memory_order_relaxed);
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
  end_frame();
}

static int wproc_init(atr_wproc_t *w) {
  W.cctx = ZSTD_createCCtx();
  W.buf = malloc(BUF_LIMIT + 8192);
  W.zcap = ZSTD_CStreamOutSize();
  W.zbuf = malloc(W.zcap);
  void *lw = calloc(1, atr_lw_bytes());
  void *lwr = calloc(1, atr__lwr_bytes()); /* 16-byte aligned, as malloc's */
  if (!lw || !lwr)
    return -1;
  atr_lw_attach(&W.lw, lw);
  atr__lwr_attach(&W.lwr, lwr);
  for (int i = 0; i < ATR_NCOLS; i++) {
    W.col[i] = malloc(col_cap[i]);
    if (!W.col[i])
      return -1;
  }
  if (!W.cctx || !W.buf || !W.zbuf || atr__ptrmap_init(&W.live, 10) ||
      atr__map_init(&W.sites, 1u << 12) || atr__map_init(&W.trie, 1u << 12))
    return -1;
  int level = W.hdr->level < 1 ? 1 : W.hdr->level > 19 ? 19 : W.hdr->level;
  ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(W.cctx, ZSTD_c_checksumFlag, 1);
  char path[64];
  snprintf(path, sizeof(path), "/proc/%u/statm", W.pid);
  W.statm_fd = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof(path), "/proc/%u/status", W.pid);
  W.status_fd = open(path, O_RDONLY | O_CLOEXEC);
  W.ext_thread = UINT32_MAX;
  (void)w;
  return 0;
}

/* A fork child's inheritance: the set its parent's writer kept at the fork, which that
 * writer may not have reached yet (the child's hello can come first): it is driven on
 * until it has, for at most 500 ms. Unclaimed (raw clone(2), a parent not traced, or
 * not reached in time), the child's frees of its parent's blocks read as unknown. */
static void claim_inherited(atr_wproc_t *w) {
  const atr_shm_hdr_t *h = w->hdr;
  if (h->origin != ATR_ORIGIN_FORK || !h->fork_mark)
    return;
  for (int i = 0; i < 500; i++) {
    atr_inherit_t *s = atr_inherit_find(h->ppid, h->parent_tick0, h->fork_mark);
    if (s) {
      atr_inherit_claim(s);
      w->inh = s;
      break;
    }
    atr_wproc_t *p = atr_rec_image(h->ppid, h->parent_tick0);
    if (!p)
      break;
    if (atr_wproc_step(p) == 0)
      nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  Wp = w;
}

/* A new image: its writer state and the trace's first frame (header, process, modules),
 * written at once: a process killed before its first allocation still leaves a trace
 * that decodes, and `run` can tell it from a program that never loaded the tracer. */
atr_wproc_t *atr_wproc_open(void *base, int memfd, uint32_t stream) {
  atr_wproc_t *w = calloc(1, sizeof(*w));
  if (!w)
    return NULL;
  Wp = w;
  W.base = base;
  W.hdr = atr_shm_hdr(base);
  W.memfd = memfd;
  W.pid = W.hdr->pid;
  W.stream = stream;
  W.statm_fd = W.status_fd = -1;
  if (wproc_init(w) != 0) {
    atr_wproc_close(w);
    return NULL;
  }
  emit_hdr();
  emit_proc();
  /* the modules of the hand-over, not all there are by now: one loaded and unloaded
   * since (the recorder may come to the image late) is in the events' MODULES, after the
   * allocations its code made (tests/cli/processes.sh dlopen under load) */
  emit_modules(W.hdr->start_gen);
  end_frame();
  claim_inherited(w);
  return w;
}

/* One pass over the image's rings; returns the events taken. */
uint64_t atr_wproc_step(atr_wproc_t *w) {
  Wp = w;
  return W.failed ? 0 : step(0);
}

/* The process is gone (or exec'd): every event it published, then END. */
void atr_wproc_finish(atr_wproc_t *w) {
  Wp = w;
  if (W.failed)
    return;
  unsigned flags = atomic_load(&W.hdr->end_flags);
  full_flush(flags ? flags : ATR_END_KILLED);
}

void atr_wproc_close(atr_wproc_t *w) {
  Wp = w;
  atr_inherit_release(W.inh);
  if (W.hdr)
    atr_inherit_parent_gone(W.pid, W.hdr->tick0);
  if (W.statm_fd >= 0)
    close(W.statm_fd);
  if (W.status_fd >= 0)
    close(W.status_fd);
  for (uint32_t i = 0; i < ATR_MAX_THREADS; i++)
    if (W.thr[i])
      munmap(W.thr[i], ATR_THREAD_BYTES);
  for (uint32_t k = 0; k < ATR_ST_SEGS; k++)
    if (W.seg[k])
      munmap(W.seg[k], ATR_ST_SEG_BYTES);
  ZSTD_freeCCtx(W.cctx);
  free(W.buf);
  free(W.zbuf);
  free(W.frame);
  free(W.lw.w);
  free(W.lwr.pw);
  for (int i = 0; i < ATR_NCOLS; i++)
    free(W.col[i]);
  free(W.live.s);
  free(W.sites.s);
  free(W.trie.s);
  free(W.node_of);
  free(w);
  Wp = NULL;
}

uint32_t atr_wproc_pid(const atr_wproc_t *w) {
  return w->pid;
}

uint64_t atr_wproc_events(const atr_wproc_t *w) {
  return w->events;
}

uint64_t atr_wproc_tick0(const atr_wproc_t *w) {
  return w->hdr->tick0;
}
