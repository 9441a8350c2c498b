/* Trace reader (see reader.h): zstd frames in, validated records, semantic events out.
 * A frame is decompressed and parsed in pieces of whole records (at most ATR_PIECE_BYTES
 * and one record), and only once its block headers show it wholly in the file, so a
 * truncated final frame is skipped exactly and no frame is ever held whole. Never crashes
 * on any input: all reads are bounds-checked; never costs more time or memory than
 * docs/format.md ("What reading costs") states: every count a trace gives is capped.
 */
#define _GNU_SOURCE
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "livemap.h"

static void wait_recorded(int fd, const char *path);
static int trace_read(atr_trace_t *tr, const char *path, const atr_visitor_t *v);

#define ATR_INLINE inline __attribute__((always_inline))

struct atr_reader_priv {
  atr_liveset_t live;
  size_t cap_modules, cap_nodes, cap_sites, cap_threads, cap_notes;
  uint64_t prev_ip, last_free, last_rank;
  uint64_t ext_thread;
  atr_lw_t lw; /* the live window (format.h): FREE's rank -> ordinal */
  void *lw_mem;
  int have_hdr;
  const atr_visitor_t *v;
  void (*ev_fn)(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev); /* v->event, v->ctx */
  void *ev_ctx;
  uint64_t piece_off; /* where in its frame the piece being parsed starts */
  unsigned node_run;  /* NODE records since the last SITE */
};

const char *atr_kind_name(unsigned kind) {
  switch (kind) {
#define ATR_KIND_CASE(name, value, label, layer)                                         \
  case value:                                                                            \
    return label;
    ATR_KIND_LIST(ATR_KIND_CASE)
#undef ATR_KIND_CASE
  }
  return "?";
}

unsigned atr_kind_layer(unsigned kind) {
  switch (kind) {
#define ATR_KIND_CASE(name, value, label, layer)                                         \
  case value:                                                                            \
    return layer;
    ATR_KIND_LIST(ATR_KIND_CASE)
#undef ATR_KIND_CASE
  }
  return 0;
}

static int fail(atr_trace_t *tr, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(tr->error, sizeof(tr->error), "%s: %s", tr->file, msg);
  return -1;
}

/* Room for element n of a table whose elements are all written as they are appended:
 * not zeroed ahead, so the pages of its spare capacity stay untouched (the node table of
 * a large program's trace has millions of entries; doubling leaves up to half spare). */
static int append_reserve(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : 64;
  while (c <= n)
    c *= 2;
  void *p = realloc(*arr, c * elem);
  if (!p)
    return -1;
  *arr = p;
  *cap = c;
  return 0;
}

/* The same, the new capacity zeroed. */
int atr_array_reserve(void **arr, size_t *cap, size_t n, size_t elem) {
  size_t old = *cap;
  if (append_reserve(arr, cap, n, elem) != 0)
    return -1;
  memset((char *)*arr + old * elem, 0, (*cap - old) * elem);
  return 0;
}
#define RESERVE(tr, field, capfield, n)                                                  \
  atr_array_reserve((void **)&(tr)->field, &(tr)->priv->capfield, (n), sizeof(*(tr)->field))

#define APPEND_RESERVE(tr, field, capfield, n)                                           \
  append_reserve((void **)&(tr)->field, &(tr)->priv->capfield, (n), sizeof(*(tr)->field))

typedef struct {
  const uint8_t *p, *end;
  int bad;
} cursor_t;

static ATR_INLINE uint64_t get_u(cursor_t *c) {
  uint64_t v = 0;
  if (__builtin_expect(c->end - c->p >= 2 && !c->bad, 1)) { /* one or two bytes: most fields */
    const uint8_t *p = c->p;
    if (p[0] < 0x80) {
      c->p = p + 1;
      return p[0];
    }
    if (p[1] < 0x80) {
      c->p = p + 2;
      return (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
    }
  }
  if (c->bad)
    return 0;
  const uint8_t *p = atr_get_u(c->p, c->end, &v);
  if (!p) {
    c->bad = 1;
    return 0;
  }
  c->p = p;
  return v;
}

static ATR_INLINE int64_t get_s(cursor_t *c) {
  int64_t v = 0;
  if (c->bad)
    return 0;
  const uint8_t *p = atr_get_s(c->p, c->end, &v);
  if (!p) {
    c->bad = 1;
    return 0;
  }
  c->p = p;
  return v;
}

static char *get_str(cursor_t *c) {
  uint64_t n = get_u(c);
  if (c->bad || n > (uint64_t)(c->end - c->p)) {
    c->bad = 1;
    return NULL;
  }
  char *s = malloc(n + 1);
  if (!s) {
    c->bad = 1;
    return NULL;
  }
  memcpy(s, c->p, n);
  s[n] = 0;
  c->p += n;
  return s;
}

static ATR_INLINE void emit(atr_trace_t *tr, atr_ev_t *ev) {
  ev->time_us = tr->time_us;
  ev->index = tr->events++;
  struct atr_reader_priv *P = tr->priv;
  if (__builtin_expect(P->ev_fn != NULL, 1))
    P->ev_fn(P->ev_ctx, tr, ev);
}

/* Takes block `ordinal` out of the live table and the live window; its site in *site. */
static ATR_INLINE int take_block(atr_trace_t *tr, uint64_t ordinal, uint32_t *site) {
  struct atr_reader_priv *P = tr->priv;
  if (ordinal == 0 || ordinal > tr->last_ordinal)
    return -1;
  *site = atr_liveset_take(&P->live, ordinal);
  if (!*site)
    return -1;
  tr->live_bytes -= tr->sites[*site].size; /* <= live_bytes: it was added */
  if (atr_lw_inside(ordinal, tr->last_ordinal))
    atr_lw_clear(&P->lw, ordinal);
  P->last_free = ordinal;
  return 0;
}

/* A new live block: its size and the live total stay within the address space
 * (ATR_MAX_LIVE_BYTES), so no sum of live sizes wraps; so does the allocated total. */
static ATR_INLINE int new_block(atr_trace_t *tr, uint64_t site, atr_ev_t *ev) {
  if (site == 0 || site >= tr->nsites)
    return -1;
  uint64_t size = tr->sites[site].size;
  if (__builtin_expect(size > ATR_MAX_LIVE_BYTES - tr->live_bytes ||
                       size > UINT64_MAX - tr->allocated_bytes, 0))
    return -2;
  tr->live_bytes += size;
  tr->allocated_bytes += size;
  ev->site = (uint32_t)site;
  ev->ordinal = ++tr->last_ordinal;
  atr_lw_push(&tr->priv->lw, ev->ordinal);
  return atr_liveset_add(&tr->priv->live, ev->ordinal, (uint32_t)site);
}

/* The columns of a CHUNK being decoded (format.h). */
typedef struct {
  const uint8_t *slo, *shi, *send, *flo, *fhi, *fend;
  cursor_t misc;
} columns_t;

static ATR_INLINE uint64_t get_plane(const uint8_t **lo, const uint8_t **hi, const uint8_t *end,
                                 cursor_t *misc) {
  if (*lo >= end) {
    misc->bad = 1;
    return 0;
  }
  unsigned l = *(*lo)++, h = *(*hi)++;
  return h == 0xff ? get_u(misc) : (uint64_t)h << 8 | l;
}

/* The block a FREE's rank names, or 0. */
static ATR_INLINE uint64_t ranked(atr_trace_t *tr, uint64_t r) {
  return atr_lw_select(&tr->priv->lw, r, tr->last_ordinal);
}

#define BIG_BLOCK "allocation (the block, or the live total, over the 2^47-byte address space)"

/* Decodes the events of one CHUNK; c is past its tag. Returns 0 or -1 (error set). */
static int parse_chunk(atr_trace_t *tr, cursor_t *c, size_t off) {
  struct atr_reader_priv *P = tr->priv;
  uint64_t ntags = get_u(c), nsite = get_u(c), nfree = get_u(c), nmisc = get_u(c);
  uint64_t avail = (uint64_t)(c->end - c->p);
  if (c->bad || ntags > avail || nsite > avail / 2 || nfree > avail / 2 || nmisc > avail ||
      ntags + 2 * nsite + 2 * nfree + nmisc > avail)
    return fail(tr, "corrupt chunk record at byte %zu of frame %llu", off,
                (unsigned long long)tr->frames);
  const uint8_t *tags = c->p, *tend = c->p + ntags;
  columns_t k;
  k.slo = tend;
  k.shi = k.send = k.slo + nsite;
  k.flo = k.shi + nsite;
  k.fhi = k.fend = k.flo + nfree;
  k.misc = (cursor_t){k.fhi + nfree, k.fhi + nfree + nmisc, 0};
  c->p = k.misc.end;
  for (const uint8_t *t = tags; t < tend; t++) {
    unsigned tag = *t;
    const char *what = NULL;
    atr_ev_t ev = {0};
    unsigned kind = tag >> 4;
    if (kind) {
      unsigned ti = tag & 15;
      ev.thread = ti == ATR_THREAD_INLINE_MAX ? (uint32_t)P->ext_thread : ti;
      if (__builtin_expect(ev.thread >= tr->nthreads, 0)) /* THR names each index first */
        return fail(tr, "corrupt trace: event %zu of the chunk at byte %zu of frame %llu is of "
                        "thread %u, which no thread record named", (size_t)(t - tags), off,
                    (unsigned long long)tr->frames, ev.thread);
      uint64_t r = P->last_rank;
      switch (kind) {
      case ATR_CK_ALLOC: {
        ev.kind = ATR_E_ALLOC;
        int nb = new_block(tr, get_plane(&k.slo, &k.shi, k.send, &k.misc), &ev);
        if (nb != 0)
          what = nb == -2 ? BIG_BLOCK : "allocation";
        break;
      }
      case ATR_CK_REALLOC: {
        uint64_t site = get_plane(&k.slo, &k.shi, k.send, &k.misc); /* 0: no new block */
        uint64_t fv = get_plane(&k.flo, &k.fhi, k.fend, &k.misc);   /* (r+1)<<1 | moved */
        ev.kind = ATR_E_REALLOC;
        ev.moved = (int)(fv & 1);
        if (fv >> 1)
          ev.old_ordinal = ranked(tr, P->last_rank = (fv >> 1) - 1);
        else
          ev.old_ordinal = P->last_free + (uint64_t)get_s(&k.misc);
        int nb = 0;
        if (take_block(tr, ev.old_ordinal, &ev.old_site) != 0 ||
            (site && (nb = new_block(tr, site, &ev)) != 0))
          what = nb == -2 ? BIG_BLOCK : "realloc";
        break;
      }
      case ATR_CK_FREED:
        ev.kind = ATR_E_FREE;
        ev.old_ordinal = P->last_free + (uint64_t)get_s(&k.misc);
        if (take_block(tr, ev.old_ordinal, &ev.old_site) != 0)
          what = "free";
        break;
      default: /* FREE by rank: r from the kind, or the free column */
        switch (kind) {
        case ATR_CK_FREE_0: r = 0; break;
        case ATR_CK_FREE_NEXT: r = r - 1; break; /* r_prev = 0: UINT64_MAX, no block */
        case ATR_CK_FREE_SAME: break;
        case ATR_CK_FREE_BACK: r = r + 1; break;
        case ATR_CK_FREE_1: r = 1; break;
        case ATR_CK_FREE: r = get_plane(&k.flo, &k.fhi, k.fend, &k.misc); break;
        default:
          return fail(tr, "corrupt trace: unknown event tag 0x%02x in the chunk at byte %zu of "
                          "frame %llu", tag, off, (unsigned long long)tr->frames);
        }
        ev.kind = ATR_E_FREE;
        ev.old_ordinal = ranked(tr, P->last_rank = r);
        if (take_block(tr, ev.old_ordinal, &ev.old_site) != 0)
          what = "free";
      }
    } else {
      switch (tag) {
      case ATR_TAG_TIME: {
        uint64_t d = get_u(&k.misc);
        if (d > ATR_MAX_TIME_US - tr->time_us) /* a run of 8.9 years: no duration wraps */
          what = "time (past 2^48 us)";
        else
          tr->time_us += d;
        break;
      }
      case ATR_TAG_TEXT:
        P->ext_thread = get_u(&k.misc);
        if (P->ext_thread >= tr->nthreads)
          what = "thread";
        break;
      case ATR_TAG_AFAIL:
        ev.kind = ATR_E_AFAIL;
        ev.thread = (uint32_t)get_u(&k.misc);
        ev.site = (uint32_t)get_u(&k.misc);
        if (ev.site == 0 || ev.site >= tr->nsites || ev.thread >= tr->nthreads)
          what = "failed allocation";
        break;
      case ATR_TAG_RFAIL: {
        ev.kind = ATR_E_RFAIL;
        ev.thread = (uint32_t)get_u(&k.misc);
        uint64_t d = get_u(&k.misc);
        ev.site = (uint32_t)get_u(&k.misc);
        if (ev.site == 0 || ev.site >= tr->nsites || d >= tr->last_ordinal ||
            ev.thread >= tr->nthreads)
          what = "failed realloc";
        else if (!(ev.old_site = atr_liveset_get(&P->live, ev.old_ordinal = tr->last_ordinal - d)))
          what = "failed realloc";
        break;
      }
      case ATR_TAG_UFREE:
        ev.thread = (uint32_t)get_u(&k.misc);
        ev.kind = get_u(&k.misc) == ATR_UFREE_INHERITED ? ATR_E_IFREE : ATR_E_UFREE;
        if (ev.thread >= tr->nthreads)
          what = "unknown free";
        break;
      default:
        return fail(tr, "corrupt trace: unknown event tag 0x%02x in the chunk at byte %zu of "
                        "frame %llu", tag, off, (unsigned long long)tr->frames);
      }
    }
    if (what || k.misc.bad)
      return fail(tr, "corrupt %s event %zu of the chunk at byte %zu of frame %llu",
                  what ? what : "chunk", (size_t)(t - tags), off, (unsigned long long)tr->frames);
    if (ev.kind)
      emit(tr, &ev);
  }
  if (k.slo != k.send || k.flo != k.fend || k.misc.p != k.misc.end)
    return fail(tr, "corrupt chunk record at byte %zu of frame %llu (columns not used up)", off,
                (unsigned long long)tr->frames);
  return 0;
}

#define BAD(what) return fail(tr, "corrupt %s record at byte %zu of frame %llu", what, off, \
                              (unsigned long long)tr->frames)

static int parse_frame(atr_trace_t *tr, const uint8_t *buf, size_t len) {
  struct atr_reader_priv *P = tr->priv;
  cursor_t c = {buf, buf + len, 0};
  while (c.p < c.end) {
    size_t off = (size_t)(P->piece_off + (uint64_t)(c.p - buf));
    unsigned tag = *c.p++;
    if (!P->have_hdr && tag != ATR_TAG_HDR)
      return fail(tr, "not an alloctrace trace (no header record)");
    if ((tag >= ATR_TAG_AFAIL && tag <= ATR_TAG_TEXT) || tag == ATR_TAG_TIME)
      return fail(tr, "corrupt trace: event tag 0x%02x outside a chunk at byte %zu of frame %llu",
                  tag, off, (unsigned long long)tr->frames);
    switch (tag) {
    case ATR_TAG_HDR:
      if (c.end - c.p < 8 || memcmp(c.p, ATR_FORMAT_MAGIC, 8) != 0)
        return fail(tr, "not an alloctrace trace (bad magic)");
      c.p += 8;
      tr->version = get_u(&c);
      if (c.bad)
        BAD("header");
      if (tr->version > ATR_FORMAT_VERSION)
        return fail(tr, "trace format version %llu is newer than this alloctrace (%u)",
                    (unsigned long long)tr->version, ATR_FORMAT_VERSION);
      if (tr->version < ATR_FORMAT_VERSION)
        return fail(tr, "trace format version %llu is older than this alloctrace reads (%u)",
                    (unsigned long long)tr->version, ATR_FORMAT_VERSION);
      P->have_hdr = 1;
      break;
    case ATR_TAG_PROC: {
      tr->pid = get_u(&c);
      tr->ppid = get_u(&c);
      tr->start_unix_us = get_u(&c);
      free(tr->exe);
      tr->exe = get_str(&c);
      uint64_t argc = get_u(&c);
      if (c.bad || argc > (uint64_t)(c.end - c.p))
        BAD("process");
      for (uint64_t i = 0; i < tr->argc; i++)
        free(tr->argv[i]);
      free(tr->argv);
      tr->argv = calloc(argc + 1, sizeof(char *));
      tr->argc = 0;
      for (uint64_t i = 0; tr->argv && i < argc && !c.bad; i++)
        tr->argv[tr->argc++] = get_str(&c);
      if (c.bad || !tr->argv)
        BAD("process");
      break;
    }
    case ATR_TAG_MOD: {
      if (tr->nmodules >= ATR_READ_MAX_MODULES)
        return fail(tr, "corrupt trace: more than %u modules at byte %zu of frame %llu",
                    ATR_READ_MAX_MODULES, off, (unsigned long long)tr->frames);
      if (RESERVE(tr, modules, cap_modules, tr->nmodules))
        return fail(tr, "out of memory");
      atr_rmodule_t *m = &tr->modules[tr->nmodules];
      m->id = get_u(&c);
      m->bias = get_u(&c);
      m->lo = get_u(&c);
      m->hi = get_u(&c);
      m->path = get_str(&c);
      uint64_t n = get_u(&c);
      if (c.bad || n > sizeof(m->build_id) || n > (uint64_t)(c.end - c.p) || m->lo > m->hi ||
          m->id >= ATR_READ_MAX_MODULES) {
        free(m->path);
        m->path = NULL;
        BAD("module");
      }
      memcpy(m->build_id, c.p, n);
      m->build_id_len = (uint32_t)n;
      c.p += n;
      m->load_node = tr->nnodes;
      m->unload_node = 0;
      tr->nmodules++;
      break;
    }
    case ATR_TAG_UNMOD: {
      uint64_t id = get_u(&c);
      if (c.bad)
        BAD("module unload");
      for (size_t i = tr->nmodules; i-- > 0;)
        if (tr->modules[i].id == id && !tr->modules[i].unload_node) {
          tr->modules[i].unload_node = tr->nnodes;
          break;
        }
      break;
    }
    case ATR_TAG_THR: {
      uint64_t idx = get_u(&c), tid = get_u(&c);
      char *name = get_str(&c);
      /* indexes are handed out 0, 1, 2, ... each named once (writer.c): a new one is the next */
      if (c.bad || idx > tr->nthreads || RESERVE(tr, threads, cap_threads, idx)) {
        free(name);
        BAD("thread");
      }
      if (idx >= tr->nthreads)
        tr->nthreads = idx + 1;
      free(tr->threads[idx].name);
      tr->threads[idx].tid = (uint32_t)tid;
      tr->threads[idx].name = name;
      break;
    }
    case ATR_TAG_NODE: {
      uint64_t parent = get_u(&c);
      int64_t d = get_s(&c);
      if (c.bad || parent >= tr->nnodes)
        BAD("stack node");
      if (++P->node_run > ATR_READ_MAX_RUN)
        return fail(tr, "corrupt trace: more than %u stack nodes in a row without a site at "
                        "byte %zu of frame %llu", ATR_READ_MAX_RUN, off,
                    (unsigned long long)tr->frames);
      if (tr->nnodes >= ATR_READ_MAX_NODES)
        return fail(tr, "corrupt trace: more than %u stack nodes at byte %zu of frame %llu",
                    ATR_READ_MAX_NODES, off, (unsigned long long)tr->frames);
      if (APPEND_RESERVE(tr, nodes, cap_nodes, tr->nnodes))
        return fail(tr, "out of memory for %zu stack nodes at byte %zu of frame %llu",
                    tr->nnodes, off, (unsigned long long)tr->frames);
      atr_rnode_t *n = &tr->nodes[tr->nnodes++];
      n->parent = (uint32_t)parent;
      n->ip = P->prev_ip + (uint64_t)d;
      n->module = -1;
      P->prev_ip = n->ip;
      break;
    }
    case ATR_TAG_SITE: {
      uint64_t node = get_u(&c), size = get_u(&c), kind = get_u(&c), align = get_u(&c);
      if (c.bad || node >= tr->nnodes || kind == 0 || kind >= ATR_KIND_COUNT || tr->nsites > UINT32_MAX - 1)
        BAD("site");
      if (APPEND_RESERVE(tr, sites, cap_sites, tr->nsites))
        return fail(tr, "out of memory for %zu sites at byte %zu of frame %llu", tr->nsites, off,
                    (unsigned long long)tr->frames);
      tr->sites[tr->nsites++] = (atr_rsite_t){(uint32_t)node, (uint32_t)kind, size, align};
      P->node_run = 0;
      break;
    }
    case ATR_TAG_RSS: {
      uint64_t rss = get_u(&c);
      if (c.bad)
        BAD("rss");
      if (rss > tr->peak_rss)
        tr->peak_rss = rss;
      if (P->v && P->v->rss)
        P->v->rss(P->v->ctx, tr, tr->time_us, rss);
      break;
    }
    case ATR_TAG_END:
      tr->end.events = get_u(&c);
      tr->end.waits = get_u(&c);
      tr->end.inconsistent = get_u(&c);
      tr->end.unknown_frees = get_u(&c);
      tr->end.stack_drops = get_u(&c);
      tr->end.peak_rss = get_u(&c);
      tr->end.flags = get_u(&c);
      tr->end.reordered = get_u(&c);
      if (c.bad)
        BAD("end");
      tr->has_end = 1;
      if (tr->end.peak_rss > tr->peak_rss)
        tr->peak_rss = tr->end.peak_rss;
      break;
    case ATR_TAG_NOTE: {
      char *s = get_str(&c);
      if (c.bad || tr->nnotes >= ATR_READ_MAX_NOTES || RESERVE(tr, notes, cap_notes, tr->nnotes)) {
        free(s);
        BAD("note");
      }
      tr->notes[tr->nnotes++] = s;
      break;
    }
    case ATR_TAG_CHUNK:
      if (parse_chunk(tr, &c, off) != 0)
        return -1;
      break;
    case ATR_TAG_LAYER:
      tr->layers |= (unsigned)get_u(&c);
      if (c.bad)
        BAD("layer");
      break;
    default:
      return fail(tr, "corrupt trace: unknown record tag 0x%02x at byte %zu of frame %llu", tag,
                  off, (unsigned long long)tr->frames);
    }
  }
  return 0;
}

static int module_contains(const atr_rmodule_t *m, uint64_t ip) {
  return ip >= m->lo && ip < m->hi;
}

/* Modules by start address for resolve_modules: ties in record order. */
static _Thread_local const atr_rmodule_t *sort_mods; /* by_lo's table (qsort has no context) */
static int by_lo(const void *a, const void *b) {
  const atr_rmodule_t *x = &sort_mods[*(const uint32_t *)a], *y = &sort_mods[*(const uint32_t *)b];
  if (x->lo != y->lo)
    return x->lo < y->lo ? -1 : 1;
  return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Modules resolve_modules weighs for one address, newest first: more modules over one
 * address than this (a library reloaded at the same place more often) are not looked
 * at for it: the nodes of its oldest copies may be left without a module. */
#define RESOLVE_SCAN 64

/* A node belongs to the module mapped at its address when it was recorded; code that
 * ran inside dlopen (constructors) is recorded before its module: take the next one.
 * The modules are sorted by start address with the running maximum of their ends, so a
 * node costs a binary search and at most RESOLVE_SCAN of the modules over its address:
 * O(nodes * log(modules)), not nodes * modules (issue 20: 300 k empty modules and 300 k
 * nodes took hours). Empty modules contain nothing and are left out. */
static void resolve_modules(atr_trace_t *tr) {
  size_t nm = 0;
  uint32_t *ord = malloc((tr->nmodules + 1) * sizeof(uint32_t));
  uint64_t *maxhi = malloc((tr->nmodules + 1) * sizeof(uint64_t));
  if (!ord || !maxhi) {
    free(ord);
    free(maxhi);
    return; /* every node stays without a module: symbols are lost, nothing else */
  }
  for (size_t m = 0; m < tr->nmodules; m++)
    if (tr->modules[m].lo < tr->modules[m].hi)
      ord[nm++] = (uint32_t)m;
  sort_mods = tr->modules;
  qsort(ord, nm, sizeof(*ord), by_lo);
  for (size_t j = 0; j < nm; j++) {
    uint64_t hi = tr->modules[ord[j]].hi;
    maxhi[j] = j && maxhi[j - 1] > hi ? maxhi[j - 1] : hi;
  }
  int32_t last = -1;
  for (size_t i = 1; i < tr->nnodes; i++) {
    atr_rnode_t *n = &tr->nodes[i];
    uint64_t ip = n->ip - 1;
    if (last >= 0 && module_contains(&tr->modules[last], ip) &&
        tr->modules[last].load_node <= i &&
        (!tr->modules[last].unload_node || i < tr->modules[last].unload_node)) {
      n->module = last;
      continue;
    }
    size_t lo = 0, hi = nm; /* first sorted module starting above ip */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (tr->modules[ord[mid]].lo <= ip)
        lo = mid + 1;
      else
        hi = mid;
    }
    int32_t active = -1, later = -1;
    for (size_t j = lo, seen = 0; j-- > 0 && maxhi[j] > ip && seen < RESOLVE_SCAN;) {
      const atr_rmodule_t *mod = &tr->modules[ord[j]];
      int32_t m = (int32_t)ord[j];
      if (!module_contains(mod, ip))
        continue;
      seen++;
      if (mod->load_node <= i && (!mod->unload_node || i < mod->unload_node)) {
        if (active < 0 || m < active)
          active = m;
      } else if (mod->load_node > i && (later < 0 || m < later)) {
        later = m;
      }
    }
    n->module = active >= 0 ? active : later;
    last = n->module;
  }
  free(ord);
  free(maxhi);
}

/* ---- frame source: the file's zstd frames, decompressed whole, one at a time ---- */

typedef struct {
  int fd;
  ZSTD_DCtx *dctx;
  uint8_t *in;
  size_t in_cap;
  ZSTD_inBuffer zin;
  size_t last_ret;  /* zstd's last answer: 0 when the last frame ended cleanly */
  int first;        /* nothing read yet */
  int boundary;     /* between two frames: stream tags may come (format.h) */
  int eof;          /* read() said end of file */
  int tagged;       /* a stream tag was seen: every frame must have one */
  int out_full;     /* the last call filled the output: zstd may still hold data */
  int truncated;    /* the file ends inside the frame after the last one read */
  uint64_t frames;  /* frames completed so far */
  uint64_t frame_off; /* content bytes of the current frame handed over so far */
  uint64_t compressed_bytes;
  uint8_t walk[4096]; /* frame_whole's window on the file */
  off_t walk_off;
  size_t walk_len;
  _Atomic int *follow; /* atr_reader_follow when the read began */
} src_t;

_Atomic int *atr_reader_follow;

/* Following a file still being written, are we past its last write? */
static int follow_over(const src_t *s) {
  return !s->follow || atomic_load(s->follow);
}

/* read(2); following a file, end of file only once its writer is done (the flag is read
 * before the read: what was written before it was set is always taken). */
static ssize_t src_read(src_t *s, void *buf, size_t n) {
  for (;;) {
    int over = follow_over(s);
    ssize_t got = read(s->fd, buf, n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got != 0 || over)
      return got;
    nanosleep(&(struct timespec){0, 2000000}, NULL);
  }
}

typedef struct {
  uint8_t *buf;
  size_t len, cap;
  size_t carry;    /* bytes after len: the start of a record the next piece completes */
  uint64_t frame;  /* the frame this piece is of, from 1 */
  uint64_t off;    /* where in that frame's content the piece starts */
  int frame_end;   /* the piece ends its frame */
  int status; /* 1: whole records of a frame in buf[0, len); 0: end of file; -1: error in msg */
  char msg[400];
} slot_t;

uint32_t atr_reader_stream;
uint32_t atr_reader_pid, atr_reader_image;

int atr_reader_select(const char *spec) {
  char *end;
  unsigned long pid = strtoul(spec, &end, 10), image = 0;
  if (end == spec || pid == 0 || pid > UINT32_MAX)
    return -1;
  if (*end == '.') {
    const char *q = end + 1;
    image = strtoul(q, &end, 10);
    if (end == q || image > UINT32_MAX)
      return -1;
  }
  if (*end)
    return -1;
  atr_reader_pid = (uint32_t)pid;
  atr_reader_image = (uint32_t)image;
  return 0;
}

/* Streams seen so far and their pids: which image of its pid a stream is. */
#define MAX_SEEN 4096
typedef struct {
  uint32_t stream, pid;
} seen_t;
static _Thread_local seen_t seen[MAX_SEEN];
static _Thread_local size_t nseen;

static int wanted(uint32_t stream, uint32_t pid) {
  if (!atr_reader_pid)
    return stream == atr_reader_stream;
  if (pid != atr_reader_pid)
    return 0;
  uint32_t image = 0;
  for (size_t i = 0; i < nseen; i++) {
    if (seen[i].stream == stream)
      return image == atr_reader_image;
    image += seen[i].pid == pid;
  }
  if (nseen < MAX_SEEN)
    seen[nseen++] = (seen_t){stream, pid};
  return image == atr_reader_image;
}

/* At least `need` unread bytes in the input buffer, unless the file ends first: the
 * unread rest moves to the front, then more is read. Returns the bytes unread, or -1. */
static ssize_t src_fill(src_t *s, size_t need) {
  size_t have = s->zin.size - s->zin.pos;
  if (have >= need || s->eof)
    return (ssize_t)have;
  if (have)
    memmove(s->in, (const uint8_t *)s->zin.src + s->zin.pos, have);
  s->zin = (ZSTD_inBuffer){s->in, have, 0};
  while (s->zin.size < need && s->zin.size < s->in_cap) {
    ssize_t got = src_read(s, s->in + s->zin.size, s->in_cap - s->zin.size);
    if (got < 0)
      return -1;
    if (got == 0) {
      s->eof = 1;
      break;
    }
    s->compressed_bytes += (uint64_t)got;
    s->zin.size += (size_t)got;
  }
  return (ssize_t)s->zin.size;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Between frames: each stream tag names the stream of the frame after it; frames of
 * other streams than atr_reader_stream are skipped unread. 1: a frame to decode comes
 * next (one of ours, or an untagged one), 0: end of file, -1: error in sl. */
static int src_tags(src_t *s, slot_t *sl) {
  for (;;) {
    ssize_t have = src_fill(s, ATR_STREAM_TAG_BYTES);
    if (have < 0) {
      snprintf(sl->msg, sizeof(sl->msg), "read error: %s", strerror(errno));
      return -1;
    }
    const uint8_t *p = (const uint8_t *)s->zin.src + s->zin.pos;
    if (s->first && have > 0) {
      s->first = 0;
      if (have < 4 || (memcmp(p, "\x28\xb5\x2f\xfd", 4) != 0 && get32(p) != ATR_STREAM_MAGIC)) {
        snprintf(sl->msg, sizeof(sl->msg), "not an alloctrace trace (not zstd-compressed)");
        return -1;
      }
    }
    if (have == 0)
      return 0;
    if (s->tagged && have < 4 && s->eof) { /* cut inside the next tag: the end */
      s->last_ret = !s->follow; /* followed: another image's frame being written */
      s->zin.pos = s->zin.size;
      return 0;
    }
    if (have < 4 || get32(p) != ATR_STREAM_MAGIC) {
      if (!s->tagged)
        return 1;
      snprintf(sl->msg, sizeof(sl->msg), "corrupt trace: frame %llu has no stream tag",
               (unsigned long long)s->frames + 1);
      return -1;
    }
    if (have < (ssize_t)ATR_STREAM_TAG_BYTES) { /* cut inside a tag: the end */
      s->last_ret = !s->follow;
      s->zin.pos = s->zin.size;
      return 0;
    }
    uint32_t stream = get32(p + 12), pid = get32(p + 16);
    uint64_t skip = get32(p + 20);
    if (get32(p + 4) != ATR_STREAM_TAG_BYTES - 8 || memcmp(p + 8, "ATRS", 4) != 0 ||
        get32(p + 24) != atr_stream_check(stream, pid, (uint32_t)skip)) {
      snprintf(sl->msg, sizeof(sl->msg), "corrupt trace: damaged stream tag before frame %llu",
               (unsigned long long)s->frames + 1);
      return -1;
    }
    s->tagged = 1;
    s->zin.pos += ATR_STREAM_TAG_BYTES;
    if (wanted(stream, pid))
      return 1;
    while (skip > 0) {
      size_t avail = s->zin.size - s->zin.pos;
      if (avail == 0) {
        if (s->eof)
          return 0;
        off_t to = lseek(s->fd, (off_t)skip, SEEK_CUR);
        if (to < 0) {
          snprintf(sl->msg, sizeof(sl->msg), "seek error: %s", strerror(errno));
          return -1;
        }
        struct stat st; /* followed, the frame is still coming: src_read waits for it */
        if (follow_over(s) && fstat(s->fd, &st) == 0 && to > st.st_size)
          s->eof = 1;
        break;
      }
      size_t k = avail < skip ? avail : (size_t)skip;
      s->zin.pos += k;
      skip -= k;
    }
  }
}

/* The bytes [off, off + n) of the file into out, through a 4 KiB window: 1, or 0 when
 * the file ends first (followed: once its writer is done), -1 on a read error. */
static int walk_get(src_t *s, off_t off, uint8_t *out, size_t n) {
  if (off < s->walk_off || off + (off_t)n > s->walk_off + (off_t)s->walk_len) {
    for (;;) {
      int over = follow_over(s);
      ssize_t got = pread(s->fd, s->walk, sizeof(s->walk), off);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        return -1;
      s->walk_off = off;
      s->walk_len = (size_t)got;
      if ((size_t)got >= n || over)
        break;
      nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    if (s->walk_len < n)
      return 0;
  }
  memcpy(out, s->walk + (off - s->walk_off), n);
  return 1;
}

/* Is the frame that starts at the next unread byte wholly in the file? Walks its block
 * headers (RFC 8878, 3.1.1) without decompressing, so that a frame cut off by the end of
 * the file is skipped whole, exactly as when frames were inflated before being parsed,
 * while a whole frame is decompressed piece by piece. 1: whole (or not a frame zstd
 * reads: zstd reports it), 0: cut off, -1: read error. Costs O(its compressed bytes). */
static int frame_whole(src_t *s) {
  off_t at = lseek(s->fd, 0, SEEK_CUR);
  if (at < 0)
    return -1;
  at -= (off_t)(s->zin.size - s->zin.pos);
  uint8_t h[8];
  int r = walk_get(s, at, h, 5);
  if (r <= 0)
    return r;
  uint32_t magic = get32(h);
  if ((magic & 0xFFFFFFF0u) == 0x184D2A50u) { /* a skippable frame: magic, size, bytes */
    if ((r = walk_get(s, at, h, 8)) <= 0)
      return r;
    at += 8 + (off_t)get32(h + 4);
    return walk_get(s, at - 1, h, 1);
  }
  if (magic != 0xFD2FB528u)
    return 1;
  /* the frame header: magic, descriptor, window byte unless single-segment, dictionary
   * id and content size as the descriptor says */
  unsigned fhd = h[4], single = (fhd >> 5) & 1, fcs = fhd >> 6;
  static const unsigned did_bytes[4] = {0, 1, 2, 4}, fcs_bytes[4] = {0, 2, 4, 8};
  size_t hsize = 5 + !single + did_bytes[fhd & 3] + (fcs ? fcs_bytes[fcs] : single);
  int checksum = (h[4] >> 2) & 1;
  off_t p = at + (off_t)hsize;
  for (;;) {
    uint8_t b[3];
    if ((r = walk_get(s, p, b, 3)) <= 0)
      return r;
    uint32_t bh = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
    unsigned type = (bh >> 1) & 3;
    if (type == 3)
      return 1; /* reserved: corrupt, zstd says so */
    p += 3 + (off_t)(type == 1 ? 1 : bh >> 3);
    if (bh & 1)
      break;
  }
  p += checksum ? 4 : 0;
  return walk_get(s, p - 1, h, 1);
}

/* The length of the record at p if it ends before end, else 0: it needs more bytes.
 * Reads only its lengths (format.h); a record that is not one (unknown tag, overlong
 * varint) counts as whole, for parse_frame to report. Fields are read in their order,
 * so one past end means "more to come". */
static size_t record_len(const uint8_t *p, const uint8_t *end) {
  const uint8_t *q = p + 1;
  uint64_t v[4];
#define SKIP_U(dst)                                                                      \
  do {                                                                                   \
    const uint8_t *n_ = atr_get_u(q, end, &(dst));                                       \
    if (!n_)                                                                             \
      return end - q >= 10 ? 1 : 0;                                                      \
    q = n_;                                                                              \
  } while (0)
#define SKIP_BYTES(n)                                                                    \
  do {                                                                                   \
    if ((n) > (uint64_t)(end - q))                                                       \
      return 0;                                                                          \
    q += (n);                                                                            \
  } while (0)
#define SKIP_STR()                                                                       \
  do {                                                                                   \
    SKIP_U(v[0]);                                                                        \
    SKIP_BYTES(v[0]);                                                                    \
  } while (0)
  switch (*p) {
  case ATR_TAG_HDR:
    SKIP_BYTES(8);
    SKIP_U(v[0]);
    break;
  case ATR_TAG_PROC:
    for (int i = 0; i < 3; i++)
      SKIP_U(v[0]);
    SKIP_STR();
    SKIP_U(v[1]);
    for (uint64_t i = 0; i < v[1]; i++)
      SKIP_STR();
    break;
  case ATR_TAG_MOD:
    for (int i = 0; i < 4; i++)
      SKIP_U(v[0]);
    SKIP_STR();
    SKIP_STR();
    break;
  case ATR_TAG_THR:
    SKIP_U(v[0]);
    SKIP_U(v[0]);
    SKIP_STR();
    break;
  case ATR_TAG_NODE:
  case ATR_TAG_UNMOD:
  case ATR_TAG_RSS:
  case ATR_TAG_LAYER:
    for (int i = *p == ATR_TAG_NODE ? 2 : 1; i > 0; i--)
      SKIP_U(v[0]);
    break;
  case ATR_TAG_SITE:
  case ATR_TAG_END:
    for (int i = *p == ATR_TAG_SITE ? 4 : 8; i > 0; i--)
      SKIP_U(v[0]);
    break;
  case ATR_TAG_NOTE:
    SKIP_STR();
    break;
  case ATR_TAG_CHUNK:
    for (int i = 0; i < 4; i++)
      SKIP_U(v[i]);
    if ((v[0] | v[1] | v[2] | v[3]) >= ATR_MAX_RECORD)
      return 1;
    SKIP_BYTES(v[0] + 2 * v[1] + 2 * v[2] + v[3]);
    break;
  default:
    return 1;
  }
#undef SKIP_U
#undef SKIP_BYTES
#undef SKIP_STR
  return (size_t)(q - p);
}

/* Where the whole records of buf[0, len) end: the last record is cut by the piece's end
 * (it is completed by the next piece). */
static size_t whole_records(const uint8_t *buf, size_t len) {
  size_t at = 0;
  while (at < len) {
    size_t n = record_len(buf + at, buf + len);
    if (!n)
      break;
    at += n;
  }
  return at;
}

/* The next piece of a frame into sl: whole records only, at most ATR_PIECE_BYTES plus
 * one record, the start of a record the piece cuts carried to the next piece (its slot
 * is free by then: slots are reused in order). A frame is decompressed in pieces only
 * once frame_whole saw it all in the file; the decoder's window is capped
 * (ATR_ZSTD_WINDOW_LOG_MAX), so memory stays bounded whatever a frame inflates to. */
static void src_next(src_t *s, slot_t *sl, slot_t *prev) {
  sl->len = 0;
  sl->frame_end = 0;
  sl->msg[0] = 0;
  if (prev->carry) { /* the record prev cut, to be completed here */
    if (sl->cap < prev->carry) {
      uint8_t *f = realloc(sl->buf, ATR_PIECE_BYTES + ATR_MAX_RECORD);
      if (!f) {
        snprintf(sl->msg, sizeof(sl->msg), "out of memory");
        sl->status = -1;
        return;
      }
      sl->buf = f;
      sl->cap = ATR_PIECE_BYTES + ATR_MAX_RECORD;
    }
    memcpy(sl->buf, prev->buf + prev->len, prev->carry);
    sl->len = prev->carry;
    prev->carry = 0;
  }
  for (;;) {
    if (s->boundary && !s->out_full) {
      int r = src_tags(s, sl);
      if (r > 0 && (r = frame_whole(s)) == 0)
        s->truncated = 1; /* skipped whole: tr->truncated */
      if (r < 0 && !sl->msg[0])
        snprintf(sl->msg, sizeof(sl->msg), "read error: %s", strerror(errno));
      if (r <= 0) {
        sl->status = r;
        return;
      }
      s->boundary = 0;
      s->frame_off = 0;
    }
    sl->frame = s->frames + 1;
    sl->off = s->frame_off;
    if (s->zin.pos == s->zin.size && !s->out_full) {
      ssize_t got = s->eof ? 0 : src_read(s, s->in, s->in_cap);
      if (got < 0) {
        if (errno == EINTR)
          continue;
        snprintf(sl->msg, sizeof(sl->msg), "read error: %s", strerror(errno));
        sl->status = -1;
        return;
      }
      if (got == 0) { /* frame_whole saw it whole: the file shrank */
        snprintf(sl->msg, sizeof(sl->msg), "corrupt trace: zstd frame %llu ends early",
                 (unsigned long long)s->frames + 1);
        sl->status = -1;
        return;
      }
      s->compressed_bytes += (uint64_t)got;
      s->zin = (ZSTD_inBuffer){s->in, (size_t)got, 0};
      continue;
    }
    if (sl->len == sl->cap) {
      if (sl->cap >= ATR_PIECE_BYTES + ATR_MAX_RECORD) { /* a piece: hand over its records */
        size_t whole = whole_records(sl->buf, sl->len), cut = sl->len - whole;
        if (cut >= ATR_MAX_RECORD) {
          snprintf(sl->msg, sizeof(sl->msg),
                   "corrupt trace: a record longer than %u MiB at byte %llu of frame %llu",
                   ATR_MAX_RECORD >> 20, (unsigned long long)(s->frame_off + whole),
                   (unsigned long long)s->frames + 1);
          sl->status = -1;
          return;
        }
        sl->len = whole;
        sl->carry = cut;
        s->frame_off += whole;
        sl->status = 1;
        return;
      }
      size_t cap = sl->cap ? sl->cap * 2 : 64u << 10;
      if (cap > ATR_PIECE_BYTES + ATR_MAX_RECORD)
        cap = ATR_PIECE_BYTES + ATR_MAX_RECORD;
      uint8_t *f = realloc(sl->buf, cap);
      if (!f) {
        snprintf(sl->msg, sizeof(sl->msg), "out of memory");
        sl->status = -1;
        return;
      }
      sl->buf = f;
      sl->cap = cap;
    }
    ZSTD_outBuffer zout = {sl->buf, sl->cap, sl->len};
    size_t ret = ZSTD_decompressStream(s->dctx, &zout, &s->zin);
    sl->len = zout.pos;
    s->out_full = zout.pos == zout.size;
    if (ZSTD_isError(ret)) {
      snprintf(sl->msg, sizeof(sl->msg), "corrupt trace: zstd frame %llu: %s",
               (unsigned long long)s->frames + 1, ZSTD_getErrorName(ret));
      sl->status = -1;
      return;
    }
    s->last_ret = ret;
    if (ret == 0) { /* the end of the frame */
      s->out_full = 0;
      s->boundary = 1;
      s->frames++;
      s->frame_off += sl->len;
      sl->carry = 0;
      sl->frame_end = 1;
      sl->status = 1;
      return;
    }
  }
}

/* Decompression runs on a second thread, NSLOTS frames ahead of the parser, so both
 * cores work; frames still reach the parser strictly in file order. */
#define NSLOTS 4

typedef struct {
  src_t src;
  slot_t slot[NSLOTS];
  uint64_t produced, consumed; /* frames handed over / given back */
  int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} pipe_t;

static void *producer(void *arg) {
  pipe_t *P = arg;
  for (;;) {
    pthread_mutex_lock(&P->mu);
    while (P->produced - P->consumed == NSLOTS && !P->stop)
      pthread_cond_wait(&P->cv, &P->mu);
    int stop = P->stop;
    slot_t *sl = &P->slot[P->produced % NSLOTS];
    pthread_mutex_unlock(&P->mu);
    if (stop)
      return NULL;
    src_next(&P->src, sl, &P->slot[(P->produced + NSLOTS - 1) % NSLOTS]);
    pthread_mutex_lock(&P->mu);
    P->produced++;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    if (sl->status != 1)
      return NULL;
  }
}

int atr_trace_read(atr_trace_t *tr, const char *path, const atr_visitor_t *v) {
  /* TRACE@PID selects for this read only: `diff A B@PID` reads A's own root */
  uint32_t keep_pid = atr_reader_pid, keep_image = atr_reader_image;
  int rc = trace_read(tr, path, v);
  atr_reader_pid = keep_pid;
  atr_reader_image = keep_image;
  return rc;
}

static int trace_read(atr_trace_t *tr, const char *path, const atr_visitor_t *v) {
  memset(tr, 0, sizeof(*tr));
  tr->file = path;
  tr->priv = calloc(1, sizeof(*tr->priv));
  if (!tr->priv)
    return fail(tr, "out of memory");
  tr->priv->v = v;
  if (v) {
    tr->priv->ev_fn = v->event;
    tr->priv->ev_ctx = v->ctx;
  }
  if (RESERVE(tr, nodes, cap_nodes, 0) || RESERVE(tr, sites, cap_sites, 0))
    return fail(tr, "out of memory");
  tr->nnodes = 1; /* root */
  tr->nodes[0].module = -1;
  tr->nsites = 1;

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  const char *at = strrchr(path, '@');
  if (fd < 0 && errno == ENOENT && at) { /* TRACE@PID[.N]: one process of a run's trace */
    char file[PATH_MAX];
    snprintf(file, sizeof(file), "%.*s", (int)(at - path), path);
    if (atr_reader_select(at + 1) == 0)
      fd = open(file, O_RDONLY | O_CLOEXEC);
    else
      errno = ENOENT;
  }
  if (fd < 0)
    return fail(tr, "cannot open: %s", strerror(errno));
  wait_recorded(fd, path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(tr, "not a regular file");
  }
  _Atomic int *follow = atr_reader_follow;
  if (st.st_size == 0 && !follow) {
    close(fd);
    return fail(tr, "empty file: the traced program wrote nothing");
  }
  uint64_t window = 4096; /* by file size: only speed depends on it, not the result */
  while (window < ATR_LIVE_WINDOW && (follow || window < (uint64_t)st.st_size))
    window *= 2;
  tr->priv->lw_mem = calloc(1, atr_lw_bytes());
  if (tr->priv->lw_mem)
    atr_lw_attach(&tr->priv->lw, tr->priv->lw_mem);
  if (!tr->priv->lw_mem || atr_liveset_init(&tr->priv->live, window) != 0) {
    close(fd);
    return fail(tr, "out of memory");
  }
  pipe_t *P = calloc(1, sizeof(*P));
  if (!P) {
    close(fd);
    return fail(tr, "out of memory");
  }
  /* small traces get small buffers: frame buffers grow by doubling as needed */
  P->src.fd = fd;
  P->src.first = 1;
  P->src.boundary = 1;
  P->src.follow = follow;
  nseen = 0;
  P->src.in_cap = st.st_size < (1 << 20) && !follow ? (size_t)st.st_size : 1u << 20;
  P->src.in = malloc(P->src.in_cap);
  P->src.dctx = ZSTD_createDCtx();
  if (P->src.dctx)
    ZSTD_DCtx_setParameter(P->src.dctx, ZSTD_d_windowLogMax, ATR_ZSTD_WINDOW_LOG_MAX);
  pthread_mutex_init(&P->mu, NULL);
  pthread_cond_init(&P->cv, NULL);
  int rc = 0, threaded = 0;
  pthread_t thr;
  if (!P->src.in || !P->src.dctx) {
    rc = fail(tr, "out of memory");
    goto out;
  }
  /* without a thread (pthread_create failed) the same source runs inline */
  threaded = pthread_create(&thr, NULL, producer, P) == 0;
  for (;;) {
    slot_t *sl = &P->slot[P->consumed % NSLOTS];
    if (threaded) {
      pthread_mutex_lock(&P->mu);
      while (P->produced == P->consumed)
        pthread_cond_wait(&P->cv, &P->mu);
      pthread_mutex_unlock(&P->mu);
    } else {
      src_next(&P->src, sl, &P->slot[(P->consumed + NSLOTS - 1) % NSLOTS]);
    }
    if (sl->status < 0) {
      rc = fail(tr, "%s", sl->msg);
      goto out;
    }
    if (sl->status == 0)
      break;
    tr->frames = sl->frame;
    tr->raw_bytes += sl->len;
    tr->priv->piece_off = sl->off;
    if (parse_frame(tr, sl->buf, sl->len) != 0) {
      rc = -1;
      goto out;
    }
    if (threaded) {
      pthread_mutex_lock(&P->mu);
      P->consumed++;
      pthread_cond_broadcast(&P->cv);
      pthread_mutex_unlock(&P->mu);
    } else {
      P->consumed++;
    }
  }
  if (P->src.first) {
    rc = fail(tr, "empty file");
    goto out;
  }
  if (P->src.last_ret != 0 || P->src.truncated)
    tr->truncated = 1;
  if (tr->frames == 0 && atr_reader_pid) {
    rc = fail(tr, "no process %u%s in this trace", atr_reader_pid, atr_reader_image ? " (image)" : "");
    goto out;
  }
  if (tr->frames == 0) {
    rc = fail(tr, "truncated trace: not even one complete frame");
    goto out;
  }
  if (!tr->priv->have_hdr) {
    rc = fail(tr, "not an alloctrace trace (no header record)");
    goto out;
  }
  resolve_modules(tr);
out:
  if (threaded) {
    pthread_mutex_lock(&P->mu);
    P->stop = 1;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    pthread_join(thr, NULL);
  }
  tr->compressed_bytes = P->src.compressed_bytes;
  pthread_mutex_destroy(&P->mu);
  pthread_cond_destroy(&P->cv);
  ZSTD_freeDCtx(P->src.dctx);
  free(P->src.in);
  for (int i = 0; i < NSLOTS; i++)
    free(P->slot[i].buf);
  free(P);
  close(fd);
  return rc;
}

uint32_t atr_trace_live_site(const atr_trace_t *tr, uint64_t ordinal) {
  return atr_liveset_get(&tr->priv->live, ordinal);
}

size_t atr_trace_stack(const atr_trace_t *tr, uint32_t node, uint32_t *out, size_t max) {
  size_t n = 0;
  while (node && node < tr->nnodes && n < max) {
    out[n++] = node;
    node = tr->nodes[node].parent;
  }
  return n;
}

void atr_trace_free(atr_trace_t *tr) {
  free(tr->exe);
  for (uint64_t i = 0; i < tr->argc; i++)
    free(tr->argv[i]);
  free(tr->argv);
  for (size_t i = 0; i < tr->nmodules; i++)
    free(tr->modules[i].path);
  free(tr->modules);
  free(tr->nodes);
  free(tr->sites);
  for (size_t i = 0; i < tr->nthreads; i++)
    free(tr->threads[i].name);
  free(tr->threads);
  for (size_t i = 0; i < tr->nnotes; i++)
    free(tr->notes[i]);
  free(tr->notes);
  if (tr->priv) {
    atr_liveset_free(&tr->priv->live);
    free(tr->priv->lw_mem);
  }
  free(tr->priv);
  memset(tr, 0, sizeof(*tr));
}

/* A trace a detached recorder still writes (a program preloaded by hand, whose run goes
 * on a moment after it exits: libtrace/spawn.c) is locked: wait for it up to 10 s, then
 * read what it holds so far. */
static void wait_recorded(int fd, const char *path) {
  static int said;
  for (int i = 0; i < 200; i++) {
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
      flock(fd, LOCK_UN);
      return;
    }
    if (errno != EWOULDBLOCK)
      return;
    if (!said++)
      fprintf(stderr, "alloctrace: %s: still being recorded; waiting for it\n", path);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
  }
  fprintf(stderr, "alloctrace: %s: still being recorded after 10 s; reading what it holds\n",
          path);
}

/* The streams of a run's file, from their tags alone (frames skipped by seeking):
 * stream ids and pids in order of first appearance. An untagged file is one stream. */
int atr_trace_streams(const char *path, atr_stream_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  wait_recorded(fd, path);
  atr_stream_t *v = NULL;
  size_t cap = 0, cnt = 0;
  uint8_t tag[ATR_STREAM_TAG_BYTES];
  int tagged = 0;
  for (;;) {
    ssize_t got = pread(fd, tag, sizeof(tag), lseek(fd, 0, SEEK_CUR));
    if (got < (ssize_t)sizeof(tag) || get32(tag) != ATR_STREAM_MAGIC ||
        get32(tag + 4) != ATR_STREAM_TAG_BYTES - 8 || memcmp(tag + 8, "ATRS", 4) != 0 ||
        get32(tag + 24) != atr_stream_check(get32(tag + 12), get32(tag + 16), get32(tag + 20)))
      break;
    tagged = 1;
    uint32_t stream = get32(tag + 12), pid = get32(tag + 16);
    size_t i = 0;
    while (i < cnt && v[i].stream != stream)
      i++;
    if (i == cnt) {
      if (cnt == cap) {
        size_t nc = cap ? cap * 2 : 16;
        atr_stream_t *nv = realloc(v, nc * sizeof(*v));
        if (!nv)
          break;
        v = nv;
        cap = nc;
      }
      uint32_t image = 0;
      for (size_t k = 0; k < cnt; k++)
        image += v[k].pid == pid;
      v[cnt++] = (atr_stream_t){stream, pid, image};
    }
    if (lseek(fd, (off_t)(sizeof(tag) + get32(tag + 20)), SEEK_CUR) < 0)
      break;
  }
  close(fd);
  if (!tagged) {
    free(v);
    v = calloc(1, sizeof(*v));
    if (!v)
      return -1;
    cnt = 1;
  }
  *out = v;
  *n = cnt;
  return 0;
}
