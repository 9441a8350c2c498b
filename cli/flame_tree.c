/* The flame tree (see flame.h): interning of names, frames and modules, one tree level
 * per symbolized frame, inclusive costs, "[other]" merging and the callers-of tree.
 * Never loses a byte or a count: every cost lands on exactly one node of every tree made.
 */
#define _GNU_SOURCE
#include "flame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- interning tables: open addressing over ids, compared through the tree ---- */

enum { T_STR, T_FRAME, T_MODULE, T_CHILD };

typedef struct {
  uint32_t *slot; /* ATR_FLAME_NONE = empty */
  uint64_t *key;  /* T_CHILD: parent << 32 | frame of each slot's node, so that a probe
                     never reads the node (a cache miss each: the tree has millions) */
  size_t mask, count;
} tab_t;

struct atr_flame_hash {
  tab_t t[4];
};

static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 29);
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return mix(h, 0);
}

static uint64_t hash_id(const atr_flame_t *f, int kind, uint32_t id) {
  switch (kind) {
  case T_STR:
    return hash_str(f->str[id]);
  case T_FRAME:
    return mix(f->frames[id].func, f->frames[id].file);
  case T_MODULE:
    return mix(f->modules[id].name, 7);
  default:
    return mix(f->nodes[id].parent, f->nodes[id].frame);
  }
}

static int tab_init(tab_t *t, size_t cap, int kind) {
  t->slot = malloc(cap * sizeof(uint32_t));
  t->key = kind == T_CHILD ? malloc(cap * sizeof(uint64_t)) : NULL;
  if (!t->slot || (kind == T_CHILD && !t->key)) {
    free(t->slot);
    free(t->key);
    t->slot = NULL;
    t->key = NULL;
    return -ENOMEM;
  }
  memset(t->slot, 0xff, cap * sizeof(uint32_t));
  t->mask = cap - 1;
  t->count = 0;
  return 0;
}

static int tab_grow(const atr_flame_t *f, int kind, tab_t *t) {
  tab_t n;
  if (tab_init(&n, (t->mask + 1) * 2, kind) != 0)
    return -ENOMEM;
  for (size_t i = 0; i <= t->mask; i++) {
    if (t->slot[i] == ATR_FLAME_NONE)
      continue;
    size_t j = (t->key ? mix(t->key[i] >> 32, (uint32_t)t->key[i]) : hash_id(f, kind, t->slot[i])) &
               n.mask;
    while (n.slot[j] != ATR_FLAME_NONE)
      j = (j + 1) & n.mask;
    n.slot[j] = t->slot[i];
    if (t->key)
      n.key[j] = t->key[i];
  }
  n.count = t->count;
  free(t->slot);
  free(t->key);
  *t = n;
  return 0;
}

#define GROW(arr, n, cap)                                                                    \
  ((n) < (cap) ? 0 : grow_array((void **)&(arr), &(cap), sizeof(*(arr))))

static int grow_array(void **arr, size_t *cap, size_t elem) {
  size_t c = *cap ? *cap * 2 : 256;
  void *p = realloc(*arr, c * elem);
  if (!p)
    return -ENOMEM;
  *arr = p;
  *cap = c;
  return 0;
}

/* Before inserting: make room so the probe below stays short. */
static int tab_reserve(atr_flame_t *f, int kind) {
  tab_t *t = &f->h->t[kind];
  return (t->count + 1) * 2 > t->mask + 1 ? tab_grow(f, kind, t) : 0;
}

static uint32_t intern_str(atr_flame_t *f, const char *s) {
  if (!s)
    return ATR_FLAME_NONE;
  if (tab_reserve(f, T_STR) != 0)
    return ATR_FLAME_NONE - 1;
  tab_t *t = &f->h->t[T_STR];
  size_t i = hash_str(s) & t->mask;
  for (; t->slot[i] != ATR_FLAME_NONE; i = (i + 1) & t->mask)
    if (strcmp(f->str[t->slot[i]], s) == 0)
      return t->slot[i];
  char *copy = strdup(s);
  if (!copy || GROW(f->str, f->nstr, f->cap_str) != 0) {
    free(copy);
    return ATR_FLAME_NONE - 1;
  }
  f->str[f->nstr] = copy;
  t->slot[i] = (uint32_t)f->nstr;
  t->count++;
  return (uint32_t)f->nstr++;
}

static uint32_t intern_module(atr_flame_t *f, const char *name, const char *cls) {
  uint32_t id = intern_str(f, name ? name : "?");
  if (id >= ATR_FLAME_NONE - 1 || tab_reserve(f, T_MODULE) != 0)
    return ATR_FLAME_NONE;
  tab_t *t = &f->h->t[T_MODULE];
  size_t i = mix(id, 7) & t->mask;
  for (; t->slot[i] != ATR_FLAME_NONE; i = (i + 1) & t->mask)
    if (f->modules[t->slot[i]].name == id)
      return t->slot[i];
  if (GROW(f->modules, f->nmodules, f->cap_modules) != 0)
    return ATR_FLAME_NONE;
  f->modules[f->nmodules] = (atr_fmodule_t){id, cls};
  t->slot[i] = (uint32_t)f->nmodules;
  t->count++;
  return (uint32_t)f->nmodules++;
}

/* Frames are identified by function and source file (not address), so the same function
 * merges across call sites, inlining contexts and, in a diff, across builds. */
static uint32_t intern_frame(atr_flame_t *f, const char *func, const char *file, unsigned line,
                             const char *module, const char *cls) {
  uint32_t fn = intern_str(f, func ? func : "??");
  uint32_t fl = intern_str(f, file);
  if (fn >= ATR_FLAME_NONE - 1 || fl == ATR_FLAME_NONE - 1 || tab_reserve(f, T_FRAME) != 0)
    return ATR_FLAME_NONE;
  tab_t *t = &f->h->t[T_FRAME];
  size_t i = mix(fn, fl) & t->mask;
  for (; t->slot[i] != ATR_FLAME_NONE; i = (i + 1) & t->mask) {
    atr_fframe_t *fr = &f->frames[t->slot[i]];
    if (fr->func == fn && fr->file == fl) {
      if (line && !fr->line_set) {
        fr->line = line;
        fr->line_set = 1;
      } else if (line && fr->line != line) {
        fr->line = 0; /* called from several lines: the file alone is true */
      }
      return t->slot[i];
    }
  }
  uint32_t mod = intern_module(f, module, cls);
  if (mod == ATR_FLAME_NONE || GROW(f->frames, f->nframes, f->cap_frames) != 0)
    return ATR_FLAME_NONE;
  f->frames[f->nframes] = (atr_fframe_t){fn, fl, line, mod, line != 0};
  t->slot[i] = (uint32_t)f->nframes;
  t->count++;
  return (uint32_t)f->nframes++;
}

static uint32_t child(atr_flame_t *f, uint32_t parent, uint32_t frame) {
  if (tab_reserve(f, T_CHILD) != 0)
    return ATR_FLAME_NONE;
  tab_t *t = &f->h->t[T_CHILD];
  uint64_t key = (uint64_t)parent << 32 | frame;
  size_t i = mix(parent, frame) & t->mask;
  for (; t->slot[i] != ATR_FLAME_NONE; i = (i + 1) & t->mask)
    if (t->key[i] == key)
      return t->slot[i];
  if (GROW(f->nodes, f->nnodes, f->cap_nodes) != 0)
    return ATR_FLAME_NONE;
  memset(&f->nodes[f->nnodes], 0, sizeof(atr_fnode_t));
  f->nodes[f->nnodes].parent = parent;
  f->nodes[f->nnodes].frame = frame;
  t->slot[i] = (uint32_t)f->nnodes;
  t->key[i] = key;
  t->count++;
  return (uint32_t)f->nnodes++;
}

int atr_flame_init(atr_flame_t *f) {
  memset(f, 0, sizeof(*f));
  f->other_frame = ATR_FLAME_NONE;
  f->h = calloc(1, sizeof(*f->h));
  if (!f->h)
    return -ENOMEM;
  for (int k = 0; k < 4; k++)
    if (tab_init(&f->h->t[k], 1024, k) != 0) {
      atr_flame_free(f);
      return -ENOMEM;
    }
  if (GROW(f->nodes, f->nnodes, f->cap_nodes) != 0) {
    atr_flame_free(f);
    return -ENOMEM;
  }
  memset(&f->nodes[0], 0, sizeof(atr_fnode_t));
  f->nodes[0].parent = f->nodes[0].frame = ATR_FLAME_NONE;
  f->nnodes = 1;
  return 0;
}

void atr_flame_free(atr_flame_t *f) {
  for (size_t i = 0; i < f->nstr; i++)
    free(f->str[i]);
  free(f->str);
  free(f->frames);
  free(f->modules);
  free(f->nodes);
  if (f->h)
    for (int k = 0; k < 4; k++) {
      free(f->h->t[k].slot);
      free(f->h->t[k].key);
    }
  free(f->h);
  memset(f, 0, sizeof(*f));
}

const char *atr_flame_str(const atr_flame_t *f, uint32_t id) {
  return id < f->nstr ? f->str[id] : "";
}

uint32_t atr_flame_string(atr_flame_t *f, const char *s) {
  uint32_t id = intern_str(f, s ? s : "");
  return id == ATR_FLAME_NONE - 1 ? ATR_FLAME_NONE : id;
}

uint32_t atr_flame_frame(atr_flame_t *f, const atr_frame_t *fr, const char *cls) {
  return intern_frame(f, fr->func, fr->file, fr->line, fr->module, cls);
}

static uint32_t other_frame(atr_flame_t *f) {
  if (f->other_frame == ATR_FLAME_NONE)
    f->other_frame = intern_frame(f, "[other]", NULL, 0, "[merged]", "other");
  return f->other_frame;
}

/* ---- building from a trace ---- */

static int has_cost(const atr_cost_t *c) {
  return c->allocations || c->allocated || c->temporary || c->leaked_bytes || c->peak_bytes;
}

/* The frame ids of each distinct address, interned once: the symbolizer hands out one
 * frames array per address (module, ip), which many stack nodes share. */
typedef struct {
  const atr_frame_t **key;
  uint32_t *off; /* into ids */
  size_t mask, count;
  uint32_t *ids;
  size_t nids, cap_ids;
} frame_cache_t;

static int fc_grow(frame_cache_t *c) {
  size_t nm = c->mask ? c->mask * 2 + 1 : 4095;
  const atr_frame_t **k = calloc(nm + 1, sizeof(*k));
  uint32_t *o = malloc((nm + 1) * sizeof(*o));
  if (!k || !o) {
    free(k);
    free(o);
    return -ENOMEM;
  }
  for (size_t i = 0; c->key && i <= c->mask; i++) {
    if (!c->key[i])
      continue;
    size_t j = mix((uintptr_t)c->key[i], 0) & nm;
    while (k[j])
      j = (j + 1) & nm;
    k[j] = c->key[i];
    o[j] = c->off[i];
  }
  free(c->key);
  free(c->off);
  c->key = k;
  c->off = o;
  c->mask = nm;
  return 0;
}

/* The ids of frames fr[0..k) (symbolized with module class cls), or NULL: out of memory. */
static const uint32_t *frame_ids(atr_flame_t *f, frame_cache_t *c, const atr_frame_t *fr, int k,
                                 const char *cls) {
  if ((c->count + 1) * 2 > c->mask + 1 && fc_grow(c) != 0)
    return NULL;
  size_t j = mix((uintptr_t)fr, 0) & c->mask;
  for (; c->key[j]; j = (j + 1) & c->mask)
    if (c->key[j] == fr)
      return &c->ids[c->off[j]];
  while (c->nids + (size_t)k > c->cap_ids)
    if (grow_array((void **)&c->ids, &c->cap_ids, sizeof(*c->ids)) != 0)
      return NULL;
  uint32_t off = (uint32_t)c->nids;
  for (int i = k - 1; i >= 0; i--) { /* outermost first, as the tree is walked */
    uint32_t id = intern_frame(f, fr[i].func, fr[i].file, fr[i].line, fr[i].module, cls);
    if (id == ATR_FLAME_NONE)
      return NULL;
    c->ids[off + (uint32_t)i] = id;
  }
  c->nids += (size_t)k;
  c->key[j] = fr;
  c->off[j] = off;
  c->count++;
  return &c->ids[off];
}

int atr_flame_add(atr_flame_t *f, const atr_model_t *m, atr_symbolizer_t *sym, int base,
                  uint32_t **map) {
  const atr_trace_t *tr = &m->tr;
  size_t n = tr->nnodes ? tr->nnodes : 1;
  uint32_t *tmap = malloc(n * sizeof(uint32_t));
  frame_cache_t fc = {0};
  if (!tmap)
    return -ENOMEM;
  /* about one tree node per stack node: size the child table once */
  tab_t *ct = &f->h->t[T_CHILD];
  while ((ct->count + n) * 2 > ct->mask + 1)
    if (tab_grow(f, T_CHILD, ct) != 0)
      goto oom;
  tmap[0] = 0;
  if (tr->nnodes && has_cost(atr_model_cost(m, 0))) { /* the recorder could not capture a stack */
    uint32_t fr = intern_frame(f, "[no stack]", NULL, 0, "?", "other");
    tmap[0] = fr == ATR_FLAME_NONE ? ATR_FLAME_NONE : child(f, 0, fr);
  }
  if (tmap[0] == ATR_FLAME_NONE)
    goto oom;
  for (size_t i = 1; i < tr->nnodes; i++) {
    const atr_rnode_t *rn = &tr->nodes[i];
    uint32_t p = rn->parent ? tmap[rn->parent] : 0;
    const atr_frame_t *fr;
    int k = atr_sym_node(sym, (uint32_t)i, &fr);
    const uint32_t *ids = frame_ids(f, &fc, fr, k, atr_sym_module_class(sym, rn->module));
    if (!ids)
      goto oom;
    for (int j = k - 1; j >= 0 && p != ATR_FLAME_NONE; j--) /* outermost first */
      p = child(f, p, ids[j]);
    if (p == ATR_FLAME_NONE)
      goto oom;
    tmap[i] = p;
  }
  for (size_t s = 1; s < m->nslots; s++) {
    const atr_cost_t *c = &m->cost[s];
    uint32_t i = m->slot_node[s];
    uint64_t *dst = base ? f->nodes[tmap[i]].base : f->nodes[tmap[i]].self;
    for (int k = 0; k < ATR_M_COUNT; k++)
      dst[k] += atr_cost_metric(c, k);
  }
  if (base)
    f->diff = 1;
  if (map)
    *map = tmap;
  else
    free(tmap);
  free(fc.key);
  free(fc.off);
  free(fc.ids);
  return 0;
oom:
  free(tmap);
  free(fc.key);
  free(fc.off);
  free(fc.ids);
  return -ENOMEM;
}

int atr_flame_inclusive(const atr_flame_t *f, uint64_t **out, uint64_t **outb) {
  size_t n = f->nnodes;
  uint64_t *a = malloc(n * ATR_M_COUNT * sizeof(uint64_t));
  uint64_t *b = outb ? malloc(n * ATR_M_COUNT * sizeof(uint64_t)) : NULL;
  if (!a || (outb && !b)) {
    free(a);
    free(b);
    return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < ATR_M_COUNT; k++) {
      a[i * ATR_M_COUNT + k] = f->nodes[i].self[k];
      if (b)
        b[i * ATR_M_COUNT + k] = f->nodes[i].base[k];
    }
  for (size_t i = n - 1; i > 0; i--) {
    size_t p = f->nodes[i].parent;
    for (int k = 0; k < ATR_M_COUNT; k++) {
      a[p * ATR_M_COUNT + k] += a[i * ATR_M_COUNT + k];
      if (b)
        b[p * ATR_M_COUNT + k] += b[i * ATR_M_COUNT + k];
    }
  }
  *out = a;
  if (outb)
    *outb = b;
  return 0;
}

/* ---- preorder copies ---- */

/* Same strings, frames and modules with the same ids, fresh nodes (just the root). */
static int copy_tables(const atr_flame_t *in, atr_flame_t *out) {
  if (atr_flame_init(out) != 0)
    return -ENOMEM;
  for (size_t i = 0; i < in->nstr; i++)
    if (intern_str(out, in->str[i]) != i)
      goto oom;
  for (size_t i = 0; i < in->nmodules; i++)
    if (intern_module(out, in->str[in->modules[i].name], in->modules[i].cls) != i)
      goto oom;
  for (size_t i = 0; i < in->nframes; i++) {
    const atr_fframe_t *fr = &in->frames[i];
    const atr_fmodule_t *md = &in->modules[fr->module];
    if (intern_frame(out, in->str[fr->func], fr->file == ATR_FLAME_NONE ? NULL : in->str[fr->file],
                     fr->line, in->str[md->name], md->cls) != i)
      goto oom;
    out->frames[i] = *fr;
  }
  out->other_frame = in->other_frame;
  out->diff = in->diff;
  return 0;
oom:
  atr_flame_free(out);
  return -ENOMEM;
}

static int by_name(const void *pa, const void *pb, void *ctx) {
  const atr_flame_t *f = ctx;
  uint32_t a = f->nodes[*(const uint32_t *)pa].frame, b = f->nodes[*(const uint32_t *)pb].frame;
  if (a == b)
    return 0;
  const atr_fframe_t *x = &f->frames[a], *y = &f->frames[b];
  int c = strcmp(f->str[x->func], f->str[y->func]);
  if (c)
    return c;
  if (x->file != y->file) {
    if (x->file == ATR_FLAME_NONE || y->file == ATR_FLAME_NONE)
      return x->file == ATR_FLAME_NONE ? -1 : 1;
    c = strcmp(f->str[x->file], f->str[y->file]);
    if (c)
      return c;
  }
  return a < b ? -1 : 1;
}

static int nonzero(const uint64_t *v, const uint64_t *vb) {
  for (int k = 0; k < ATR_M_COUNT; k++)
    if (v[k] || (vb && vb[k]))
      return 1;
  return 0;
}

static int big_enough(const uint64_t *v, const uint64_t *tot, const uint64_t *vb,
                      const uint64_t *totb, double min_share, unsigned mask) {
  if (min_share <= 0)
    return 1;
  for (int k = 0; k < ATR_M_COUNT; k++) {
    if (!(mask & (1u << k)))
      continue;
    if (tot[k] && (double)v[k] >= min_share * (double)tot[k])
      return 1;
    if (vb && totb[k] && (double)vb[k] >= min_share * (double)totb[k])
      return 1;
  }
  return 0;
}

int atr_flame_prune(const atr_flame_t *in, double min_share, unsigned metric_mask,
                    atr_flame_t *out, uint32_t *map_in, size_t map_len) {
  size_t n = in->nnodes;
  uint64_t *inc = NULL, *incb = NULL;
  uint8_t *keep = calloc(n, 1);
  uint32_t *first = calloc(n + 1, sizeof(uint32_t)), *kids = malloc(n * sizeof(uint32_t));
  uint32_t *newidx = malloc(n * sizeof(uint32_t)), *other = malloc(n * sizeof(uint32_t));
  uint64_t *osum = calloc(n * 2 * ATR_M_COUNT, sizeof(uint64_t)); /* merged costs per parent */
  uint32_t *stack = malloc((n + 1) * sizeof(uint32_t));
  int rc = -ENOMEM;
  if (!keep || !first || !kids || !newidx || !other || !osum || !stack ||
      atr_flame_inclusive(in, &inc, in->diff ? &incb : NULL) != 0 || copy_tables(in, out) != 0)
    goto done;
  const uint64_t *tot = inc, *totb = incb;
  uint8_t *has_other = calloc(n, 1);
  if (!has_other) {
    atr_flame_free(out);
    goto done;
  }
  keep[0] = 1;
  for (size_t i = 1; i < n; i++) {
    size_t p = in->nodes[i].parent;
    const uint64_t *v = &inc[i * ATR_M_COUNT], *vb = incb ? &incb[i * ATR_M_COUNT] : NULL;
    if (!keep[p] || !nonzero(v, vb))
      continue;
    if (big_enough(v, tot, vb, totb, min_share, metric_mask)) {
      keep[i] = 1;
      continue;
    }
    has_other[p] = 1;
    for (int k = 0; k < ATR_M_COUNT; k++) {
      osum[p * 2 * ATR_M_COUNT + k] += v[k];
      if (vb)
        osum[p * 2 * ATR_M_COUNT + ATR_M_COUNT + k] += vb[k];
    }
  }
  /* children of kept nodes, sorted by name */
  for (size_t i = 1; i < n; i++)
    if (keep[i])
      first[in->nodes[i].parent + 1]++;
  for (size_t i = 0; i < n; i++)
    first[i + 1] += first[i];
  {
    uint32_t *fill = malloc(n * sizeof(uint32_t));
    if (!fill) {
      free(has_other);
      atr_flame_free(out);
      goto done;
    }
    memcpy(fill, first, n * sizeof(uint32_t));
    for (size_t i = 1; i < n; i++)
      if (keep[i])
        kids[fill[in->nodes[i].parent]++] = (uint32_t)i;
    free(fill);
  }
  for (size_t i = 0; i < n; i++)
    if (first[i + 1] - first[i] > 1)
      qsort_r(kids + first[i], first[i + 1] - first[i], sizeof(uint32_t), by_name, (void *)in);
  for (size_t i = 0; i < n; i++)
    newidx[i] = other[i] = ATR_FLAME_NONE;
  /* preorder: the root's copy exists already; the "[other]" of a node comes last */
  newidx[0] = 0;
  memcpy(out->nodes[0].self, in->nodes[0].self, sizeof(out->nodes[0].self));
  memcpy(out->nodes[0].base, in->nodes[0].base, sizeof(out->nodes[0].base));
  size_t sp = 0;
  stack[sp++] = 0;
  uint8_t *expanded = keep; /* reuse: 2 = children pushed */
  while (sp) {
    uint32_t v = stack[sp - 1];
    if (expanded[v] == 1) {
      expanded[v] = 2;
      if (v != 0) {
        uint32_t id = child(out, newidx[in->nodes[v].parent], in->nodes[v].frame);
        if (id == ATR_FLAME_NONE)
          break;
        newidx[v] = id;
        memcpy(out->nodes[id].self, in->nodes[v].self, sizeof(out->nodes[id].self));
        memcpy(out->nodes[id].base, in->nodes[v].base, sizeof(out->nodes[id].base));
      }
      for (uint32_t j = first[v + 1]; j > first[v]; j--)
        stack[sp++] = kids[j - 1];
      continue;
    }
    sp--;
    if (has_other[v]) {
      uint32_t of = other_frame(out);
      uint32_t id = of == ATR_FLAME_NONE ? ATR_FLAME_NONE : child(out, newidx[v], of);
      if (id == ATR_FLAME_NONE)
        break;
      other[v] = id;
      for (int k = 0; k < ATR_M_COUNT; k++) {
        out->nodes[id].self[k] += osum[(size_t)v * 2 * ATR_M_COUNT + k];
        out->nodes[id].base[k] += osum[(size_t)v * 2 * ATR_M_COUNT + ATR_M_COUNT + k];
      }
    }
  }
  free(has_other);
  if (sp) { /* out of memory inside the walk */
    atr_flame_free(out);
    goto done;
  }
  /* old -> new for every node: pruned subtrees go to the "[other]" of their kept parent */
  for (size_t i = 1; i < n; i++) {
    if (newidx[i] != ATR_FLAME_NONE)
      continue;
    size_t p = in->nodes[i].parent;
    if (keep[p])
      newidx[i] = other[p] != ATR_FLAME_NONE ? other[p] : newidx[p];
    else
      newidx[i] = newidx[p];
  }
  if (map_in)
    for (size_t i = 0; i < map_len; i++)
      map_in[i] = map_in[i] < n ? newidx[map_in[i]] : 0;
  rc = 0;
done:
  free(inc);
  free(incb);
  free(keep);
  free(first);
  free(kids);
  free(newidx);
  free(other);
  free(osum);
  free(stack);
  return rc;
}

int atr_flame_invert(const atr_flame_t *in, atr_flame_t *out) {
  atr_flame_t tmp;
  if (copy_tables(in, &tmp) != 0)
    return -ENOMEM;
  memcpy(tmp.nodes[0].self, in->nodes[0].self, sizeof(tmp.nodes[0].self));
  memcpy(tmp.nodes[0].base, in->nodes[0].base, sizeof(tmp.nodes[0].base));
  for (size_t i = 1; i < in->nnodes; i++) {
    const atr_fnode_t *src = &in->nodes[i];
    if (!nonzero(src->self, in->diff ? src->base : NULL))
      continue;
    uint32_t v = 0;
    for (size_t a = i; a != 0 && v != ATR_FLAME_NONE; a = in->nodes[a].parent)
      v = child(&tmp, v, in->nodes[a].frame);
    if (v == ATR_FLAME_NONE) {
      atr_flame_free(&tmp);
      return -ENOMEM;
    }
    for (int k = 0; k < ATR_M_COUNT; k++) {
      tmp.nodes[v].self[k] += src->self[k];
      tmp.nodes[v].base[k] += src->base[k];
    }
  }
  int rc = atr_flame_prune(&tmp, 0, 0, out, NULL, 0);
  atr_flame_free(&tmp);
  return rc;
}
