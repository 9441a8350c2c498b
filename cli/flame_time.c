/* The flame graph's time view (see flame.h). Heap and RSS over time are kept in interval
 * buckets of a power-of-two width while the model loads (pairs merge when the run outgrows
 * them); the snapshots come from the model's live-bytes log at evenly spaced times and
 * from its costs at the peak. Without the log (over its budget) a second streaming pass
 * over the trace does both. Memory is bounded by tree nodes, interval buckets and a pair
 * budget, never by trace length.
 */
#define _GNU_SOURCE
#include "flame.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS (ATR_FLAME_TIME_POINTS / 2 - 1) /* two points each, plus the start */

typedef struct {
  uint64_t tmin, tmax, min, max, rss;
  int seen, rss_seen;
} bucket_t;

typedef struct {
  const atr_model_t *m;
  const uint32_t *map;
  size_t nmap, nout;
  uint64_t *live; /* per tree node */
  uint64_t total;
  uint64_t duration, peak;
  int peak_taken;
  bucket_t *b;
  uint64_t w; /* bucket width, us: a power of two */
  /* evenly spaced snapshot k is at duration * k / (ATR_FLAME_SNAPSHOTS - 2): one slot is the peak's */
  unsigned next_k, stride;
  atr_fsnap_t *snaps;
  size_t nsnaps, pairs;
  int oom;
} time_ctx_t;

static unsigned bucket_of(const time_ctx_t *c, uint64_t t) {
  uint64_t k = t / c->w;
  return k >= BUCKETS ? BUCKETS - 1 : (unsigned)k;
}

/* Doubles the bucket width (merging pairs) until t falls in the last bucket or before:
 * the width ends as the smallest power of two that holds the run in BUCKETS buckets,
 * whether the buckets were filled while the run was read or with its length known. */
static void widen(time_ctx_t *c, uint64_t t) {
  while (t / c->w >= BUCKETS && c->w < ((uint64_t)1 << 62)) {
    for (unsigned i = 0; i < BUCKETS; i++) {
      bucket_t m = {0};
      if (2 * i < BUCKETS)
        m = c->b[2 * i];
      if (2 * i + 1 < BUCKETS) {
        const bucket_t *b = &c->b[2 * i + 1];
        if (b->seen) { /* the earlier of equal extremes stays */
          if (!m.seen || b->max > m.max)
            m.max = b->max, m.tmax = b->tmax;
          if (!m.seen || b->min < m.min)
            m.min = b->min, m.tmin = b->tmin;
          m.seen = 1;
        }
        if (b->rss_seen && (!m.rss_seen || b->rss > m.rss))
          m.rss = b->rss, m.rss_seen = 1;
      }
      c->b[i] = m;
    }
    c->w *= 2;
  }
}

static void bucket_heap(time_ctx_t *c, uint64_t t, uint64_t total) {
  bucket_t *b = &c->b[bucket_of(c, t)];
  if (!b->seen || total > b->max) {
    b->max = total;
    b->tmax = t;
  }
  if (!b->seen || total < b->min) {
    b->min = total;
    b->tmin = t;
  }
  b->seen = 1;
}

static void bucket_rss(time_ctx_t *c, uint64_t t, uint64_t bytes) {
  bucket_t *b = &c->b[bucket_of(c, t)];
  if (!b->rss_seen || bytes > b->rss)
    b->rss = bytes;
  b->rss_seen = 1;
}

static uint64_t even_time(const time_ctx_t *c, unsigned k) {
  return c->duration * k / (ATR_FLAME_SNAPSHOTS - 2);
}

static void drop_snap(atr_fsnap_t *s) {
  free(s->node);
  free(s->bytes);
}

/* Keeps the page small: past the budget every other evenly spaced snapshot goes, and
 * from then on only every other one is taken. The peak and the end of the run stay. */
static void thin(time_ctx_t *c) {
  while (c->pairs > ATR_FLAME_SNAPSHOT_PAIRS && c->stride < (1u << 20)) {
    size_t o = 0, even = 0;
    for (size_t i = 0; i < c->nsnaps; i++) {
      atr_fsnap_t *s = &c->snaps[i];
      if (!s->peak && !s->last && (even++ & 1)) {
        c->pairs -= s->n;
        drop_snap(s);
        continue;
      }
      c->snaps[o++] = *s;
    }
    if (o == c->nsnaps)
      break;
    c->nsnaps = o;
    c->stride *= 2;
  }
}

static void take(time_ctx_t *c, uint64_t time_us, int peak, int last) {
  atr_fsnap_t s = {(double)time_us / 1e6, NULL, NULL, 0, peak, last};
  size_t n = 0;
  for (size_t i = 0; i < c->nout; i++)
    n += c->live[i] != 0;
  if (n) {
    s.node = malloc(n * sizeof(uint32_t));
    s.bytes = malloc(n * sizeof(uint64_t));
    if (!s.node || !s.bytes) {
      drop_snap(&s);
      c->oom = 1;
      return;
    }
    for (size_t i = 0; i < c->nout; i++)
      if (c->live[i]) {
        s.node[s.n] = (uint32_t)i;
        s.bytes[s.n++] = c->live[i];
      }
  }
  c->snaps[c->nsnaps++] = s;
  c->pairs += s.n;
  thin(c);
}

/* Evenly spaced snapshots due before an event at time t: the state after every event up
 * to their time. One at the peak's time comes after the peak's own (which the page, taking
 * the first of equally near snapshots, picks for the peak), and shows the state once that
 * microsecond is over, as its neighbours do. */
static void snapshots_until(time_ctx_t *c, uint64_t t, int final) {
  while (c->next_k <= ATR_FLAME_SNAPSHOTS - 2) {
    uint64_t at = even_time(c, c->next_k);
    if (!final && t <= at)
      break;
    int last = c->next_k == ATR_FLAME_SNAPSHOTS - 2;
    /* a short run: of the snapshots at one microsecond only the latest says something */
    int same = !last && even_time(c, c->next_k + 1) == at;
    if ((c->next_k % c->stride == 0 || last) && !same)
      take(c, at, 0, last);
    c->next_k++;
  }
}

static void add(time_ctx_t *c, const atr_trace_t *tr, uint32_t site, int sign) {
  if (site == 0 || site >= tr->nsites)
    return;
  const atr_rsite_t *s = &tr->sites[site];
  uint32_t node = s->node < c->nmap ? c->map[s->node] : 0;
  if (node >= c->nout)
    node = 0;
  if (sign > 0) {
    c->live[node] += s->size;
    c->total += s->size;
  } else {
    c->live[node] -= s->size;
    c->total -= s->size;
  }
}

static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  time_ctx_t *c = ctx;
  if (c->oom)
    return;
  snapshots_until(c, ev->time_us, 0);
  switch (ev->kind) {
  case ATR_E_ALLOC:
    add(c, tr, ev->site, 1);
    break;
  case ATR_E_FREE:
    add(c, tr, ev->old_site, -1);
    break;
  case ATR_E_REALLOC:
    add(c, tr, ev->old_site, -1);
    add(c, tr, ev->site, 1);
    break;
  default:
    return;
  }
  /* The model's peak is the first state with the maximum live bytes: the same state here. */
  if (!c->peak_taken && c->peak && c->total == c->peak) {
    c->peak_taken = 1;
    take(c, ev->time_us, 1, 0);
  }
  bucket_heap(c, ev->time_us, c->total);
}

static void on_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  (void)tr;
  bucket_rss(ctx, time_us, bytes);
}

/* ---- buckets while the model loads ---- */

struct atr_ftime_rec {
  atr_visitor_t v;
  const atr_model_t *m;
  bucket_t *b;
  uint64_t w;
};

static time_ctx_t rec_ctx(atr_ftime_rec_t *r) {
  time_ctx_t c = {0};
  c.b = r->b;
  c.w = r->w;
  return c;
}

static void rec_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  atr_ftime_rec_t *r = ctx;
  (void)tr;
  if (ev->kind != ATR_E_ALLOC && ev->kind != ATR_E_FREE && ev->kind != ATR_E_REALLOC)
    return;
  time_ctx_t c = rec_ctx(r);
  widen(&c, ev->time_us);
  bucket_heap(&c, ev->time_us, r->m->t.live_bytes); /* the model has counted the event */
  r->w = c.w;
}

static void rec_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  atr_ftime_rec_t *r = ctx;
  (void)tr;
  time_ctx_t c = rec_ctx(r);
  widen(&c, time_us);
  bucket_rss(&c, time_us, bytes);
  r->w = c.w;
}

atr_ftime_rec_t *atr_flame_time_rec_new(const atr_model_t *m) {
  atr_ftime_rec_t *r = calloc(1, sizeof(*r));
  if (!r || !(r->b = calloc(BUCKETS, sizeof(bucket_t)))) {
    free(r);
    return NULL;
  }
  r->m = m;
  r->w = 1;
  r->v = (atr_visitor_t){r, rec_event, rec_rss};
  return r;
}

const atr_visitor_t *atr_flame_time_rec_visitor(atr_ftime_rec_t *r) { return &r->v; }

void atr_flame_time_rec_free(atr_ftime_rec_t *r) {
  if (r)
    free(r->b);
  free(r);
}

/* The snapshots from the model's live-bytes log (keyed by cost slot) and, at the peak,
 * from its costs: the same states the second pass would take. */
static int snapshots_from_log(time_ctx_t *c, const atr_livelog_t *log) {
  const atr_model_t *m = c->m;
  uint32_t *key_out = malloc((m->nslots ? m->nslots : 1) * sizeof(*key_out));
  uint64_t *pk = calloc(c->nout, sizeof(*pk));
  if (!key_out || !pk) {
    free(key_out);
    free(pk);
    return -1;
  }
  for (size_t s = 0; s < m->nslots; s++) {
    uint32_t node = m->slot_node[s];
    uint32_t o = s && node < c->nmap ? c->map[node] : 0;
    key_out[s] = o < c->nout ? o : 0;
    if (s)
      pk[key_out[s]] += m->cost[s].peak_bytes;
  }
  atr_livelog_pos_t pos;
  atr_livelog_pos_init(log, &pos);
  int peak_done = !c->peak;
  for (c->next_k = 0; c->next_k <= ATR_FLAME_SNAPSHOTS - 2 && !c->oom; c->next_k++) {
    uint64_t at = even_time(c, c->next_k);
    if (!peak_done && at >= m->t.peak_time_us) {
      uint64_t *live = c->live;
      c->live = pk;
      take(c, m->t.peak_time_us, 1, 0);
      c->live = live;
      peak_done = 1;
    }
    atr_livelog_advance(log, &pos, at, key_out, m->nslots, c->live, c->nout);
    int last = c->next_k == ATR_FLAME_SNAPSHOTS - 2;
    int same = !last && even_time(c, c->next_k + 1) == at;
    if ((c->next_k % c->stride == 0 || last) && !same)
      take(c, at, 0, last);
  }
  free(key_out);
  free(pk);
  return c->oom ? -1 : 0;
}

static int points(time_ctx_t *c, atr_ftime_t *out) {
  out->t = malloc(ATR_FLAME_TIME_POINTS * sizeof(double));
  out->heap = malloc(ATR_FLAME_TIME_POINTS * sizeof(uint64_t));
  out->rss = malloc(ATR_FLAME_TIME_POINTS * sizeof(uint64_t));
  if (!out->t || !out->heap || !out->rss)
    return -1;
  uint64_t rss = 0;
  int peak_found = 0;
  for (unsigned i = 0; i < BUCKETS && !rss; i++) /* before the first sample: the first one */
    rss = c->b[i].rss_seen ? c->b[i].rss : 0;
  unsigned first = 0;
  while (first < BUCKETS && !c->b[first].seen)
    first++;
  if (first < BUCKETS && (c->b[first].tmin > 0 && c->b[first].tmax > 0)) {
    out->t[0] = 0; /* the run starts with an empty heap */
    out->heap[0] = 0;
    out->rss[out->n++] = rss;
  }
  for (unsigned i = 0; i < BUCKETS; i++) {
    const bucket_t *b = &c->b[i];
    if (b->rss_seen)
      rss = b->rss;
    if (!b->seen)
      continue;
    uint64_t tv[2], hv[2];
    int k = 0;
    if (b->tmin < b->tmax || (b->tmin == b->tmax && b->min == b->max)) {
      tv[k] = b->tmin, hv[k++] = b->min;
      if (b->tmax != b->tmin || b->max != b->min)
        tv[k] = b->tmax, hv[k++] = b->max;
    } else {
      tv[k] = b->tmax, hv[k++] = b->max;
      tv[k] = b->tmin, hv[k++] = b->min;
    }
    for (int j = 0; j < k; j++) {
      if (!peak_found && c->peak && hv[j] == c->peak && tv[j] == c->m->t.peak_time_us) {
        out->peak_index = out->n;
        peak_found = 1;
      }
      out->t[out->n] = (double)tv[j] / 1e6;
      out->heap[out->n] = hv[j];
      out->rss[out->n++] = rss;
    }
  }
  if (!peak_found)
    for (size_t i = 1; i < out->n; i++)
      if (out->heap[i] > out->heap[out->peak_index])
        out->peak_index = i;
  return 0;
}

int atr_flame_time(const atr_model_t *m, const uint32_t *map, size_t nout, atr_ftime_rec_t *rec,
                   const atr_livelog_t *log, atr_ftime_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  time_ctx_t c = {0};
  c.m = m;
  c.map = map;
  c.nmap = m->tr.nnodes;
  c.nout = nout ? nout : 1;
  c.duration = m->t.duration_us;
  c.peak = m->t.peak_bytes;
  c.stride = 1;
  c.w = 1;
  c.live = calloc(c.nout, sizeof(uint64_t));
  c.snaps = calloc(ATR_FLAME_SNAPSHOTS + 1, sizeof(atr_fsnap_t));
  int one_pass = rec && log && !log->dropped;
  if (one_pass) {
    c.b = rec->b; /* taken over */
    c.w = rec->w;
    rec->b = NULL;
  } else {
    c.b = calloc(BUCKETS, sizeof(bucket_t));
  }
  int rc = -1;
  if (!c.live || !c.b || !c.snaps) {
    snprintf(err, errlen, "%s: out of memory", m->tr.file ? m->tr.file : "trace");
    goto done;
  }
  widen(&c, c.duration);
  if (one_pass) {
    if (snapshots_from_log(&c, log) != 0)
      c.oom = 1;
  } else {
    atr_trace_t tr;
    atr_visitor_t v = {&c, on_event, on_rss};
    if (atr_trace_read(&tr, m->tr.file, &v) != 0) {
      snprintf(err, errlen, "%s", tr.error);
      atr_trace_free(&tr);
      goto done;
    }
    atr_trace_free(&tr);
    if (!c.oom)
      snapshots_until(&c, c.duration, 1);
  }
  if (c.oom || points(&c, out) != 0) {
    snprintf(err, errlen, "%s: out of memory", m->tr.file);
    goto done;
  }
  out->snaps = c.snaps;
  out->nsnaps = c.nsnaps;
  c.snaps = NULL;
  rc = 0;
done:
  if (c.snaps)
    for (size_t i = 0; i < c.nsnaps; i++)
      drop_snap(&c.snaps[i]);
  free(c.snaps);
  free(c.live);
  free(c.b);
  if (rc != 0)
    atr_flame_time_free(out);
  return rc;
}

void atr_flame_time_free(atr_ftime_t *t) {
  for (size_t i = 0; i < t->nsnaps; i++)
    drop_snap(&t->snaps[i]);
  free(t->snaps);
  free(t->t);
  free(t->heap);
  free(t->rss);
  memset(t, 0, sizeof(*t));
}
