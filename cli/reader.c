/* Trace reader (see reader.h): zstd frames in, validated records, semantic events out.
 * A frame is decoded whole before its records are parsed, so a truncated final frame
 * is skipped exactly. Two threads: the frame thread decompresses and decodes CHUNKs
 * (the live blocks are its own), the caller's thread parses every other record and
 * runs the visitor. Never crashes on any input: all reads are bounds-checked.
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
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "livemap.h"

#define ATR_INLINE inline __attribute__((always_inline))

struct atr_reader_priv {
  size_t cap_modules, cap_nodes, cap_sites, cap_threads, cap_notes;
  uint64_t seq, prev_ip;
  int have_hdr;
  atr_lw_t live; /* the parser's own record of live blocks among the newest ordinals */
  void *live_mem;
  const atr_visitor_t *v;
  void (*ev_fn)(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev); /* v->event, v->ctx */
  void *ev_ctx;
  struct pipe *pipe;
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

int atr_array_reserve(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : 64;
  while (c <= n)
    c *= 2;
  void *p = realloc(*arr, c * elem);
  if (!p)
    return -1;
  memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
  *arr = p;
  *cap = c;
  return 0;
}
#define RESERVE(tr, field, capfield, n)                                                  \
  atr_array_reserve((void **)&(tr)->field, &(tr)->priv->capfield, (n), sizeof(*(tr)->field))

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

/* ---- chunk decoding: the decoder's side (on the frame thread, a chunk ahead) ----
 * CHUNK events need the live blocks (a free names one by rank in the live window) and
 * nothing else of what came before but the number of sites and nothing after. The
 * decoder walks each frame's records as soon as the frame is decompressed, skips all
 * but CHUNKs (counting SITEs) and turns each CHUNK into a block of items: events with
 * their freed block resolved. The parser (parse_frame) applies every other record in
 * order and, at each CHUNK, delivers the next block. Both walk the same bytes; the
 * decoder owns the live set and the window, the parser everything in atr_trace_t.
 */

/* One decoded event (or a TIME step), in the order of the chunk's tags. */
typedef struct {
  uint8_t kind;  /* atr_evkind, or IT_TIME (old = microseconds to add) */
  uint8_t moved;
  uint16_t unused;
  uint32_t thread, site, old_site;
  uint64_t old; /* the freed block's ordinal */
} item_t;
#define IT_TIME 15
#define BLOCK_ITEMS 4096u /* events per block: NBLOCKS of them stay in the cache */

typedef struct {
  item_t *it; /* BLOCK_ITEMS */
  size_t n;
  size_t off, end; /* the CHUNK record's bytes in its frame */
  int last;        /* the chunk's last block */
  int status;      /* 0, or -1: the record is corrupt, msg says how */
  char msg[400];
} block_t;

/* The columns of a CHUNK being decoded (format.h). */
typedef struct {
  const uint8_t *slo, *shi, *send, *flo, *fhi, *fend;
  cursor_t misc;
} columns_t;

typedef struct {
  atr_liveset_t live;
  atr_lw_t lw; /* the live window (format.h): FREE's rank -> ordinal */
  void *lw_mem;
  uint64_t last_ordinal, last_free, last_rank, ext_thread, nsites;
  uint64_t frame; /* frames walked, from 1: the number in messages */
  const uint8_t *buf;
  cursor_t c; /* where the walk of the current frame is */
  int failed; /* a block said corrupt: nothing after it is decoded */
  /* the CHUNK being decoded, a block at a time */
  int in_chunk;
  const uint8_t *tags, *t, *tend;
  columns_t k;
  size_t coff, cend;
} dec_t;

static int dec_fail(block_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->msg, sizeof(b->msg), fmt, ap);
  va_end(ap);
  b->status = -1;
  return -1;
}

/* Takes block `ordinal` out of the live set and the live window; its site in *site. */
static ATR_INLINE int take_block(dec_t *D, uint64_t ordinal, uint32_t *site) {
  if (ordinal == 0 || ordinal > D->last_ordinal)
    return -1;
  *site = atr_liveset_take(&D->live, ordinal);
  if (!*site)
    return -1;
  if (atr_lw_inside(ordinal, D->last_ordinal))
    atr_lw_clear(&D->lw, ordinal);
  D->last_free = ordinal;
  return 0;
}

static ATR_INLINE int new_block(dec_t *D, uint64_t site, item_t *it) {
  if (site == 0 || site >= D->nsites)
    return -1;
  it->site = (uint32_t)site;
  uint64_t o = ++D->last_ordinal;
  atr_lw_push(&D->lw, o);
  return atr_liveset_add(&D->live, o, (uint32_t)site);
}

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
static ATR_INLINE uint64_t ranked(dec_t *D, uint64_t r) {
  return atr_lw_select(&D->lw, r, D->last_ordinal);
}

/* Opens the CHUNK record at off (c past its tag; c then past the record). 0, or -1 with
 * b's message. */
static int chunk_open(dec_t *D, cursor_t *c, size_t off, block_t *b) {
  uint64_t ntags = get_u(c), nsite = get_u(c), nfree = get_u(c), nmisc = get_u(c);
  uint64_t avail = (uint64_t)(c->end - c->p);
  if (c->bad || ntags > avail || nsite > avail / 2 || nfree > avail / 2 || nmisc > avail ||
      ntags + 2 * nsite + 2 * nfree + nmisc > avail)
    return dec_fail(b, "corrupt chunk record at byte %zu of frame %llu", off,
                    (unsigned long long)D->frame);
  columns_t *k = &D->k;
  D->tags = D->t = c->p;
  D->tend = c->p + ntags;
  k->slo = D->tend;
  k->shi = k->send = k->slo + nsite;
  k->flo = k->shi + nsite;
  k->fhi = k->fend = k->flo + nfree;
  k->misc = (cursor_t){k->fhi + nfree, k->fhi + nfree + nmisc, 0};
  c->p = k->misc.end;
  D->coff = off;
  D->cend = (size_t)(c->p - D->buf);
  D->in_chunk = 1;
  return 0;
}

/* Decodes the open CHUNK's next events (up to BLOCK_ITEMS) into b. 0, or -1 with b's
 * message. */
static int chunk_step(dec_t *D, block_t *b) {
  unsigned long long fr = (unsigned long long)D->frame;
  size_t off = D->coff;
  const uint8_t *tags = D->tags, *tend = D->tend;
  if ((size_t)(tend - D->t) > BLOCK_ITEMS)
    tend = D->t + BLOCK_ITEMS;
  columns_t k = D->k;
  b->off = D->coff;
  b->end = D->cend;
  item_t *out = b->it;
  const uint8_t *t = D->t;
  for (; t < tend; t++) {
    unsigned tag = *t;
    const char *what = NULL;
    item_t it = {0};
    unsigned kind = tag >> 4;
    if (kind) {
      unsigned ti = tag & 15;
      it.thread = ti == ATR_THREAD_INLINE_MAX ? (uint32_t)D->ext_thread : ti;
      uint64_t r = D->last_rank;
      switch (kind) {
      case ATR_CK_ALLOC:
        it.kind = ATR_E_ALLOC;
        if (new_block(D, get_plane(&k.slo, &k.shi, k.send, &k.misc), &it) != 0)
          what = "allocation";
        break;
      case ATR_CK_REALLOC: {
        uint64_t site = get_plane(&k.slo, &k.shi, k.send, &k.misc); /* 0: no new block */
        uint64_t fv = get_plane(&k.flo, &k.fhi, k.fend, &k.misc);   /* (r+1)<<1 | moved */
        it.kind = ATR_E_REALLOC;
        it.moved = (uint8_t)(fv & 1);
        if (fv >> 1)
          it.old = ranked(D, D->last_rank = (fv >> 1) - 1);
        else
          it.old = D->last_free + (uint64_t)get_s(&k.misc);
        if (take_block(D, it.old, &it.old_site) != 0 || (site && new_block(D, site, &it) != 0))
          what = "realloc";
        break;
      }
      case ATR_CK_FREED:
        it.kind = ATR_E_FREE;
        it.old = D->last_free + (uint64_t)get_s(&k.misc);
        if (take_block(D, it.old, &it.old_site) != 0)
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
          return dec_fail(b, "corrupt trace: unknown event tag 0x%02x in the chunk at byte %zu "
                             "of frame %llu", tag, off, fr);
        }
        it.kind = ATR_E_FREE;
        it.old = ranked(D, D->last_rank = r);
        if (take_block(D, it.old, &it.old_site) != 0)
          what = "free";
      }
    } else {
      switch (tag) {
      case ATR_TAG_TIME:
        it.kind = IT_TIME;
        it.old = get_u(&k.misc);
        break;
      case ATR_TAG_TEXT:
        D->ext_thread = get_u(&k.misc);
        break;
      case ATR_TAG_AFAIL:
        it.kind = ATR_E_AFAIL;
        it.thread = (uint32_t)get_u(&k.misc);
        it.site = (uint32_t)get_u(&k.misc);
        if (it.site == 0 || it.site >= D->nsites)
          what = "failed allocation";
        break;
      case ATR_TAG_RFAIL: {
        it.kind = ATR_E_RFAIL;
        it.thread = (uint32_t)get_u(&k.misc);
        uint64_t d = get_u(&k.misc);
        it.site = (uint32_t)get_u(&k.misc);
        if (it.site == 0 || it.site >= D->nsites || d >= D->last_ordinal)
          what = "failed realloc";
        else if (!(it.old_site = atr_liveset_get(&D->live, it.old = D->last_ordinal - d)))
          what = "failed realloc";
        break;
      }
      case ATR_TAG_UFREE:
        it.kind = ATR_E_UFREE;
        it.thread = (uint32_t)get_u(&k.misc);
        get_u(&k.misc);
        break;
      default:
        return dec_fail(b, "corrupt trace: unknown event tag 0x%02x in the chunk at byte %zu of "
                           "frame %llu", tag, off, fr);
      }
    }
    if (what || k.misc.bad)
      return dec_fail(b, "corrupt %s event %zu of the chunk at byte %zu of frame %llu",
                      what ? what : "chunk", (size_t)(t - tags), off, fr);
    if (it.kind)
      *out++ = it;
  }
  b->n = (size_t)(out - b->it);
  D->t = t;
  D->k = k;
  if (t != D->tend)
    return 0;
  D->in_chunk = 0;
  b->last = 1;
  if (k.slo != k.send || k.flo != k.fend || k.misc.p != k.misc.end)
    return dec_fail(b, "corrupt chunk record at byte %zu of frame %llu (columns not used up)",
                    off, fr);
  return 0;
}

static void skip_str(cursor_t *c) {
  uint64_t n = get_u(c);
  if (c->bad || n > (uint64_t)(c->end - c->p))
    c->bad = 1;
  else
    c->p += n;
}

/* Steps over one record that is not a CHUNK (tag already read), as parse_frame reads it;
 * counts SITEs. The parser validates what it means; a record this cannot even step over
 * is one the parser reports before it needs the blocks after it. */
static void skip_record(dec_t *D, cursor_t *c, unsigned tag) {
  uint64_t n;
  switch (tag) {
  case ATR_TAG_HDR:
    if (c->end - c->p < 8)
      c->bad = 1;
    else
      c->p += 8;
    get_u(c);
    break;
  case ATR_TAG_PROC:
    get_u(c), get_u(c), get_u(c);
    skip_str(c);
    n = get_u(c);
    for (uint64_t i = 0; i < n && !c->bad; i++)
      skip_str(c);
    break;
  case ATR_TAG_MOD:
    get_u(c), get_u(c), get_u(c), get_u(c);
    skip_str(c);
    skip_str(c); /* build-id: u:n n*byte */
    break;
  case ATR_TAG_THR:
    get_u(c), get_u(c);
    skip_str(c);
    break;
  case ATR_TAG_NODE:
    get_u(c), get_s(c);
    break;
  case ATR_TAG_SITE:
    get_u(c), get_u(c), get_u(c), get_u(c);
    D->nsites++;
    break;
  case ATR_TAG_END:
    for (int i = 0; i < 8; i++)
      get_u(c);
    break;
  case ATR_TAG_NOTE:
    skip_str(c);
    break;
  case ATR_TAG_UNMOD:
  case ATR_TAG_RSS:
  case ATR_TAG_LAYER:
    get_u(c);
    break;
  default:
    c->bad = 1;
  }
}

static void dec_frame(dec_t *D, const uint8_t *buf, size_t len) {
  D->frame++;
  D->buf = buf;
  D->c = (cursor_t){buf, buf + len, 0};
}

/* The next CHUNK of the current frame decoded into b: 1, or 0 when the frame has no
 * more (or the decoder stopped at a corrupt record: b then says so, once). */
static int dec_next(dec_t *D, block_t *b) {
  b->n = 0;
  b->status = 0;
  b->last = 0;
  if (D->failed)
    return 0;
  if (D->in_chunk) {
    if (chunk_step(D, b) != 0)
      D->failed = 1;
    return 1;
  }
  cursor_t *c = &D->c;
  while (c->p < c->end) {
    size_t off = (size_t)(c->p - D->buf);
    unsigned tag = *c->p++;
    if (tag == ATR_TAG_CHUNK) {
      b->off = off;
      if (chunk_open(D, c, off, b) != 0 || chunk_step(D, b) != 0)
        D->failed = 1;
      return 1;
    }
    skip_record(D, c, tag);
    if (c->bad) {
      D->failed = 1;
      dec_fail(b, "corrupt record (tag 0x%02x) at byte %zu of frame %llu", tag, off,
               (unsigned long long)D->frame);
      return 1;
    }
  }
  return 0;
}

/* Hands a decoded block's events to the visitor (the parser's side). */
static void deliver(atr_trace_t *tr, const block_t *b) {
  for (size_t i = 0; i < b->n; i++) {
    const item_t *it = &b->it[i];
    if (it->kind == IT_TIME) {
      tr->time_us += it->old;
      continue;
    }
    atr_ev_t ev = {.kind = it->kind, .moved = it->moved, .thread = it->thread,
                   .site = it->site, .old_site = it->old_site, .old_ordinal = it->old};
    if ((it->kind == ATR_E_FREE || it->kind == ATR_E_REALLOC) &&
        atr_lw_inside(it->old, tr->last_ordinal))
      atr_lw_clear(&tr->priv->live, it->old);
    if (it->kind == ATR_E_ALLOC || (it->kind == ATR_E_REALLOC && it->site))
      atr_lw_push(&tr->priv->live, ev.ordinal = ++tr->last_ordinal);
    emit(tr, &ev);
  }
}

static const block_t *next_block(atr_trace_t *tr);
static void done_block(atr_trace_t *tr);

#define BAD(what) return fail(tr, "corrupt %s record at byte %zu of frame %llu", what, off, \
                              (unsigned long long)tr->frames)

static int parse_frame(atr_trace_t *tr, const uint8_t *buf, size_t len) {
  struct atr_reader_priv *P = tr->priv;
  cursor_t c = {buf, buf + len, 0};
  while (c.p < c.end) {
    size_t off = (size_t)(c.p - buf);
    unsigned tag = *c.p++;
    P->seq++;
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
      if (RESERVE(tr, modules, cap_modules, tr->nmodules))
        return fail(tr, "out of memory");
      atr_rmodule_t *m = &tr->modules[tr->nmodules];
      m->id = get_u(&c);
      m->bias = get_u(&c);
      m->lo = get_u(&c);
      m->hi = get_u(&c);
      m->path = get_str(&c);
      uint64_t n = get_u(&c);
      if (c.bad || n > sizeof(m->build_id) || n > (uint64_t)(c.end - c.p) || m->lo > m->hi) {
        free(m->path);
        m->path = NULL;
        BAD("module");
      }
      memcpy(m->build_id, c.p, n);
      m->build_id_len = (uint32_t)n;
      c.p += n;
      m->load_seq = P->seq;
      m->unload_seq = 0;
      tr->nmodules++;
      break;
    }
    case ATR_TAG_UNMOD: {
      uint64_t id = get_u(&c);
      if (c.bad)
        BAD("module unload");
      for (size_t i = tr->nmodules; i-- > 0;)
        if (tr->modules[i].id == id && !tr->modules[i].unload_seq) {
          tr->modules[i].unload_seq = P->seq;
          break;
        }
      break;
    }
    case ATR_TAG_THR: {
      uint64_t idx = get_u(&c), tid = get_u(&c);
      char *name = get_str(&c);
      if (c.bad || idx > (1u << 24) || RESERVE(tr, threads, cap_threads, idx)) {
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
      if (c.bad || parent >= tr->nnodes || RESERVE(tr, nodes, cap_nodes, tr->nnodes))
        BAD("stack node");
      atr_rnode_t *n = &tr->nodes[tr->nnodes++];
      n->parent = (uint32_t)parent;
      n->depth = tr->nodes[parent].depth + 1;
      n->ip = P->prev_ip + (uint64_t)d;
      n->seq = P->seq;
      n->module = -1;
      P->prev_ip = n->ip;
      break;
    }
    case ATR_TAG_SITE: {
      uint64_t node = get_u(&c), size = get_u(&c), kind = get_u(&c), align = get_u(&c);
      if (c.bad || node >= tr->nnodes || kind == 0 || kind >= ATR_KIND_COUNT ||
          RESERVE(tr, sites, cap_sites, tr->nsites))
        BAD("site");
      tr->sites[tr->nsites++] = (atr_rsite_t){(uint32_t)node, (uint32_t)kind, size, align};
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
      if (c.bad || RESERVE(tr, notes, cap_notes, tr->nnotes)) {
        free(s);
        BAD("note");
      }
      tr->notes[tr->nnotes++] = s;
      break;
    }
    case ATR_TAG_CHUNK: /* its events, decoded by the frame thread, a block at a time */
      for (int last = 0; !last;) {
        const block_t *b = next_block(tr);
        if (!b)
          return fail(tr, "corrupt chunk record at byte %zu of frame %llu", off,
                      (unsigned long long)tr->frames);
        if (b->status != 0)
          return fail(tr, "%s", b->msg);
        if (b->off != off) /* the decoder and the parser disagree on where records are */
          return fail(tr, "corrupt record before byte %zu of frame %llu", off,
                      (unsigned long long)tr->frames);
        deliver(tr, b);
        c.p = buf + b->end;
        last = b->last;
        done_block(tr);
      }
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

/* A node belongs to the module mapped at its address when it was recorded; code that
 * ran inside dlopen (constructors) is recorded before its module: take the next one. */
static void resolve_modules(atr_trace_t *tr) {
  int32_t last = -1;
  for (size_t i = 1; i < tr->nnodes; i++) {
    atr_rnode_t *n = &tr->nodes[i];
    uint64_t ip = n->ip - 1;
    if (last >= 0 && module_contains(&tr->modules[last], ip) &&
        tr->modules[last].load_seq <= n->seq &&
        (!tr->modules[last].unload_seq || n->seq < tr->modules[last].unload_seq)) {
      n->module = last;
      continue;
    }
    int32_t later = -1;
    for (size_t m = 0; m < tr->nmodules; m++) {
      const atr_rmodule_t *mod = &tr->modules[m];
      if (!module_contains(mod, ip))
        continue;
      if (mod->load_seq <= n->seq && (!mod->unload_seq || n->seq < mod->unload_seq)) {
        n->module = (int32_t)m;
        break;
      }
      if (mod->load_seq > n->seq && later < 0)
        later = (int32_t)m;
    }
    if (n->module < 0)
      n->module = later;
    last = n->module;
  }
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
  int out_full;     /* the last call filled the output: zstd may still hold data */
  uint64_t frames;  /* frames completed so far */
  uint64_t compressed_bytes;
} src_t;

typedef struct {
  uint8_t *buf;
  size_t len, cap;
  int status; /* 1: a whole frame in buf[0, len); 0: end of file; -1: error in msg */
  char msg[400];
} slot_t;

/* Decompresses the next whole frame into sl (its buffer grows by doubling). */
static void src_next(src_t *s, slot_t *sl) {
  sl->len = 0;
  for (;;) {
    if (s->zin.pos == s->zin.size && !s->out_full) {
      ssize_t got = read(s->fd, s->in, s->in_cap);
      if (got < 0) {
        if (errno == EINTR)
          continue;
        snprintf(sl->msg, sizeof(sl->msg), "read error: %s", strerror(errno));
        sl->status = -1;
        return;
      }
      if (got == 0) {
        sl->status = 0;
        return;
      }
      if (s->first) {
        s->first = 0;
        if (got < 4 || memcmp(s->in, "\x28\xb5\x2f\xfd", 4) != 0) {
          snprintf(sl->msg, sizeof(sl->msg), "not an alloctrace trace (not zstd-compressed)");
          sl->status = -1;
          return;
        }
      }
      s->compressed_bytes += (uint64_t)got;
      s->zin = (ZSTD_inBuffer){s->in, (size_t)got, 0};
      continue;
    }
    if (sl->len == sl->cap) {
      if (sl->cap >= ((size_t)1 << 32)) {
        snprintf(sl->msg, sizeof(sl->msg), "corrupt trace: frame larger than 4 GiB");
        sl->status = -1;
        return;
      }
      size_t cap = sl->cap ? sl->cap * 2 : 64u << 10;
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
    if (ret == 0) { /* a whole frame */
      s->out_full = 0;
      s->frames++;
      sl->status = 1;
      return;
    }
  }
}

/* Decompression and chunk decoding run on a second thread (the frame thread), up to
 * NSLOTS frames and NBLOCKS chunks ahead of the parser, so both cores work; frames and
 * blocks still reach the parser strictly in file order. A frame's slot is handed over
 * as soon as it is decompressed (the parser reads it while its chunks are decoded: both
 * only read it) and taken back once parsed, after all its blocks. */
#define NSLOTS 4
#define NBLOCKS 8

struct pipe {
  src_t src;
  dec_t dec;
  slot_t slot[NSLOTS];
  block_t block[NBLOCKS];
  uint64_t produced, consumed;   /* frames handed over / given back */
  uint64_t bproduced, bconsumed; /* blocks */
  int threaded, stop, exited;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};
typedef struct pipe pipe_t;

static void *frame_thread(void *arg) {
  pipe_t *P = arg;
  for (;;) {
    pthread_mutex_lock(&P->mu);
    while (P->produced - P->consumed == NSLOTS && !P->stop)
      pthread_cond_wait(&P->cv, &P->mu);
    int go = !P->stop;
    slot_t *sl = &P->slot[P->produced % NSLOTS];
    pthread_mutex_unlock(&P->mu);
    if (!go)
      break;
    src_next(&P->src, sl);
    pthread_mutex_lock(&P->mu);
    P->produced++;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    if (sl->status != 1)
      break;
    dec_frame(&P->dec, sl->buf, sl->len);
    for (;;) {
      pthread_mutex_lock(&P->mu);
      while (P->bproduced - P->bconsumed == NBLOCKS && !P->stop)
        pthread_cond_wait(&P->cv, &P->mu);
      go = !P->stop;
      block_t *b = &P->block[P->bproduced % NBLOCKS];
      pthread_mutex_unlock(&P->mu);
      if (!go || !dec_next(&P->dec, b))
        break;
      pthread_mutex_lock(&P->mu);
      P->bproduced++;
      pthread_cond_broadcast(&P->cv);
      pthread_mutex_unlock(&P->mu);
    }
    if (!go)
      break;
  }
  pthread_mutex_lock(&P->mu);
  P->exited = 1;
  pthread_cond_broadcast(&P->cv);
  pthread_mutex_unlock(&P->mu);
  return NULL;
}

/* The block of the CHUNK the parser is at, or NULL if there is none (the decoder found
 * no more CHUNKs in this frame than the parser: they disagree on the records). */
static const block_t *next_block(atr_trace_t *tr) {
  pipe_t *P = tr->priv->pipe;
  block_t *b = &P->block[P->bconsumed % NBLOCKS];
  if (!P->threaded) {
    if (!dec_next(&P->dec, b))
      return NULL;
    P->bproduced++;
    return b;
  }
  pthread_mutex_lock(&P->mu);
  while (P->bproduced == P->bconsumed && !P->exited &&
         P->produced - P->consumed == 1) /* the frame thread is still on this frame */
    pthread_cond_wait(&P->cv, &P->mu);
  int have = P->bproduced != P->bconsumed;
  pthread_mutex_unlock(&P->mu);
  return have ? b : NULL;
}

static void done_block(atr_trace_t *tr) {
  pipe_t *P = tr->priv->pipe;
  if (!P->threaded) {
    P->bconsumed++;
    return;
  }
  pthread_mutex_lock(&P->mu);
  P->bconsumed++;
  pthread_cond_broadcast(&P->cv);
  pthread_mutex_unlock(&P->mu);
}

int atr_trace_read(atr_trace_t *tr, const char *path, const atr_visitor_t *v) {
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
  tr->priv->live_mem = calloc(1, atr_lw_bytes());
  if (!tr->priv->live_mem)
    return fail(tr, "out of memory");
  atr_lw_attach(&tr->priv->live, tr->priv->live_mem);
  tr->nnodes = 1; /* root */
  tr->nodes[0].module = -1;
  tr->nsites = 1;

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(tr, "cannot open: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(tr, "not a regular file");
  }
  if (st.st_size == 0) {
    close(fd);
    return fail(tr, "empty file: the traced program wrote nothing");
  }
  pipe_t *P = calloc(1, sizeof(*P));
  if (!P) {
    close(fd);
    return fail(tr, "out of memory");
  }
  tr->priv->pipe = P;
  uint64_t window = 4096; /* by file size: only speed depends on it, not the result */
  while (window < ATR_LIVE_WINDOW && window < (uint64_t)st.st_size)
    window *= 2;
  dec_t *D = &P->dec;
  D->nsites = 1;
  D->lw_mem = calloc(1, atr_lw_bytes());
  if (D->lw_mem)
    atr_lw_attach(&D->lw, D->lw_mem);
  /* small traces get small buffers: frame buffers grow by doubling as needed */
  P->src.fd = fd;
  P->src.first = 1;
  P->src.in_cap = st.st_size < (1 << 20) ? (size_t)st.st_size : 1u << 20;
  P->src.in = malloc(P->src.in_cap);
  P->src.dctx = ZSTD_createDCtx();
  pthread_mutex_init(&P->mu, NULL);
  pthread_cond_init(&P->cv, NULL);
  int rc = 0;
  pthread_t thr;
  int blocks_ok = 1;
  for (int i = 0; i < NBLOCKS; i++)
    blocks_ok &= (P->block[i].it = malloc(BLOCK_ITEMS * sizeof(item_t))) != NULL;
  if (!blocks_ok || !D->lw_mem || atr_liveset_init(&D->live, window) != 0 || !P->src.in ||
      !P->src.dctx) {
    rc = fail(tr, "out of memory");
    goto out;
  }
  /* without a thread (pthread_create failed) the same source and decoder run inline */
  P->threaded = pthread_create(&thr, NULL, frame_thread, P) == 0;
  for (;;) {
    slot_t *sl = &P->slot[P->consumed % NSLOTS];
    if (P->threaded) {
      pthread_mutex_lock(&P->mu);
      while (P->produced == P->consumed)
        pthread_cond_wait(&P->cv, &P->mu);
      pthread_mutex_unlock(&P->mu);
    } else {
      src_next(&P->src, sl);
      P->produced++;
      if (sl->status == 1)
        dec_frame(D, sl->buf, sl->len);
    }
    if (sl->status < 0) {
      rc = fail(tr, "%s", sl->msg);
      goto out;
    }
    if (sl->status == 0)
      break;
    tr->frames++;
    tr->raw_bytes += sl->len;
    if (parse_frame(tr, sl->buf, sl->len) != 0) {
      rc = -1;
      goto out;
    }
    if (P->threaded) {
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
  if (P->src.last_ret != 0 || P->slot[P->consumed % NSLOTS].len != 0)
    tr->truncated = 1;
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
  if (P->threaded) {
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
  for (int i = 0; i < NBLOCKS; i++)
    free(P->block[i].it);
  atr_liveset_free(&D->live);
  free(D->lw_mem);
  free(P);
  tr->priv->pipe = NULL;
  close(fd);
  return rc;
}

int atr_trace_is_live(const atr_trace_t *tr, uint64_t ordinal) {
  const atr_lw_t *lw = &tr->priv->live;
  uint64_t i = ordinal & ATR_LW_MASK;
  return ordinal && ordinal <= tr->last_ordinal && atr_lw_inside(ordinal, tr->last_ordinal) &&
         (lw->w[i >> 6] >> (i & 63) & 1);
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
  if (tr->priv)
    free(tr->priv->live_mem);
  free(tr->priv);
  memset(tr, 0, sizeof(*tr));
}
