/* The flame-graph model shared by `alloctrace flamegraph`'s writers: a tree with one
 * node per symbolized frame (inlined frames are levels of their own; root "all", callers
 * below callees), self costs per metric for a trace and optionally a base trace, small
 * subtrees merged into "[other]" with totals preserved exactly, and the time view (heap
 * over time, live bytes per node at chosen times). Never prints; errors are returned.
 */
#ifndef ATR_FLAME_H
#define ATR_FLAME_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "symbolize.h"

#define ATR_FLAME_NONE UINT32_MAX

typedef struct {
  uint32_t func, file; /* string ids; file ATR_FLAME_NONE when unknown */
  uint32_t line;       /* 0 when unknown or when the merged call sites disagree */
  uint32_t module;     /* index in modules */
  int line_set;
} atr_fframe_t;

typedef struct {
  uint32_t name;        /* string id */
  const char *cls;      /* program|libc|libstdc++|rust-std|system|other (static) */
} atr_fmodule_t;

typedef struct {
  uint32_t parent; /* ATR_FLAME_NONE for the root (node 0); always < own index */
  uint32_t frame;  /* ATR_FLAME_NONE for the root */
  uint64_t self[ATR_M_COUNT];
  uint64_t base[ATR_M_COUNT]; /* the base trace's self costs (diff) */
} atr_fnode_t;

typedef struct atr_flame_hash atr_flame_hash_t;

typedef struct {
  char **str;
  size_t nstr, cap_str;
  atr_fframe_t *frames;
  size_t nframes, cap_frames;
  atr_fmodule_t *modules;
  size_t nmodules, cap_modules;
  atr_fnode_t *nodes;
  size_t nnodes, cap_nodes;
  int diff;                   /* base costs are filled */
  uint32_t other_frame;       /* "[other]", ATR_FLAME_NONE until used */
  atr_flame_hash_t *h;        /* interning tables, freed with the tree */
} atr_flame_t;

int atr_flame_init(atr_flame_t *f);
void atr_flame_free(atr_flame_t *f);
const char *atr_flame_str(const atr_flame_t *f, uint32_t id);

/* The interning tables alone, for writers that number their own nodes (pprof): the id of a
 * string, and of a frame (identified by function and file, as the tree's levels). Both
 * return ATR_FLAME_NONE when out of memory. */
uint32_t atr_flame_string(atr_flame_t *f, const char *s);
uint32_t atr_flame_frame(atr_flame_t *f, const atr_frame_t *fr, const char *cls);

/* Adds every stack of the model as costs (or base costs when `base`). If `map` is not
 * NULL, *map gets a malloc'd array: trace node -> tree node. Returns 0 or -ENOMEM. */
int atr_flame_add(atr_flame_t *f, const atr_model_t *m, atr_symbolizer_t *sym, int base,
                  uint32_t **map);

/* Inclusive costs: out[n * ATR_M_COUNT + k] (and base likewise when outb != NULL). */
int atr_flame_inclusive(const atr_flame_t *f, uint64_t **out, uint64_t **outb);

/* A copy in preorder with children sorted by name, nodes with no cost dropped, and every
 * subtree whose share is below `min_share` (0..1) in all metrics of `metric_mask` (in
 * costs and base costs) merged into one "[other]" child of its parent. map_in (old node
 * -> new node, NULL to skip) becomes the composition with the new numbering; pruned
 * nodes go to their "[other]". Returns 0 or -ENOMEM. */
int atr_flame_prune(const atr_flame_t *in, double min_share, unsigned metric_mask,
                    atr_flame_t *out, uint32_t *map_in, size_t map_len);

/* The callers-of tree (every stack read from its allocating frame to its outermost
 * caller), in preorder with sorted children. Returns 0 or -ENOMEM. */
int atr_flame_invert(const atr_flame_t *in, atr_flame_t *out);

/* ---- time view ---- */

typedef struct {
  double t;
  uint32_t *node;
  uint64_t *bytes;
  size_t n;
  int peak, last; /* the global peak; the end of the run (what leaked) */
} atr_fsnap_t;

typedef struct {
  double *t;
  uint64_t *heap, *rss;
  size_t n, peak_index;
  atr_fsnap_t *snaps;
  size_t nsnaps;
} atr_ftime_t;

#define ATR_FLAME_TIME_POINTS 2000
#define ATR_FLAME_SNAPSHOTS 200
#define ATR_FLAME_SNAPSHOT_PAIRS 120000 /* ~1.5 MB of JSON: the page must stay small */

/* Heap and RSS over time recorded while the model loads: pass the visitor as the model's
 * chain (atr_model_opts_t.chain), with `m` the model being loaded. */
typedef struct atr_ftime_rec atr_ftime_rec_t;
atr_ftime_rec_t *atr_flame_time_rec_new(const atr_model_t *m); /* NULL: out of memory */
const atr_visitor_t *atr_flame_time_rec_visitor(atr_ftime_rec_t *r);
void atr_flame_time_rec_free(atr_ftime_rec_t *r);

/* Heap (and RSS) over time in at most ATR_FLAME_TIME_POINTS points (per-interval minimum
 * and maximum, so peaks survive), and live bytes per tree node (trace node -> tree node
 * through `map`) at evenly spaced times plus exactly at the global peak. From `rec` and
 * the model's live-bytes log `log` when both are there and the log was kept (one pass);
 * otherwise the trace is read again. Returns 0, or -1 with a one-line message in err. */
int atr_flame_time(const atr_model_t *m, const uint32_t *map, size_t nout, atr_ftime_rec_t *rec,
                   const atr_livelog_t *log, atr_ftime_t *out, char *err, size_t errlen);
void atr_flame_time_free(atr_ftime_t *t);

/* ---- JSON text for the JSON writers (flame_json.c) ---- */

/* A JSON string: valid UTF-8 (bad bytes become U+FFFD), safe inside <script> (<, >, &,
 * U+2028/9 as \u escapes). */
void atr__json_str(FILE *out, const char *s);
void atr__json_secs(FILE *out, double s); /* microsecond precision, no trailing zeros */
void atr__json_u64(FILE *out, uint64_t v);

/* Only the frames, strings and modules the nodes use, renumbered densely. */
typedef struct {
  uint32_t *frame, *str, *mod; /* old id -> new id, ATR_FLAME_NONE when unused */
  uint32_t *str_list, *frame_list, *mod_list;
  size_t nstr, nframe, nmod;
} atr__flame_used_t;
int atr__flame_used(const atr_flame_t *f, atr__flame_used_t *u); /* 0 or -1 (free it still) */
void atr__flame_used_free(atr__flame_used_t *u);

/* ---- writers (each returns 0 or -1 when writing failed) ---- */

typedef struct {
  const atr_model_t *m;       /* the trace shown (the new one in a diff) */
  const atr_flame_t *tree;
  const atr_ftime_t *time;    /* NULL: no time view */
  int metric;                 /* default / chosen metric */
  int inverted;
} atr_flame_doc_t;

int atr_flame_write_html(FILE *out, const atr_flame_doc_t *d);
int atr_flame_write_svg(FILE *out, const atr_flame_doc_t *d);
/* Collapsed stacks "a;b;c VALUE" root first (leaf first when inverted); a diff writes
 * "a;b;c BASE NEW" as FlameGraph's difffolded.pl does. Lines with 0 are omitted. */
int atr_flame_write_folded(FILE *out, const atr_flame_doc_t *d);
/* speedscope's file format: a sampled profile per metric (d->metric shown first) and, with
 * d->time, the heap over time (flame_speedscope.c). */
int atr_flame_write_speedscope(FILE *out, const atr_flame_doc_t *d);
/* pprof's profile.proto, gzipped, straight from the trace's stacks (flame_pprof.c); `metric`
 * picks the default sample type. */
int atr_flame_write_pprof(FILE *out, const atr_model_t *m, atr_symbolizer_t *sym, int metric);

#endif
