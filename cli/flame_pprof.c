/* `flamegraph --format pprof`: the trace as a gzipped profile.proto (cli/proto/profile.proto),
 * for go tool pprof, Pyroscope, Parca. One Location per recorded instruction address (its
 * inlined functions as Lines, innermost first), one Mapping per module with its build-id,
 * one Sample per stack carrying every sample type. protobuf-c's generated code encodes it
 * while zlib compresses. Never drops a cost: per type, the samples sum to summary's totals.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "config.h"
#include "escape.h"
#include "flame.h"
#include "profile.pb-c.h"
#include "report.h"

/* The sample types, in value order. Go's heap profiles name theirs alloc_objects/alloc_space. */
static const struct {
  const char *type, *unit;
  int metric; /* what --metric picks it as the default; -1: none */
} types[] = {
    {"alloc_objects", "count", ATR_M_ALLOCATIONS}, {"alloc_space", "bytes", ATR_M_ALLOCATED},
    {"peak_objects", "count", -1},                 {"peak_space", "bytes", ATR_M_PEAK},
    {"leaked_objects", "count", -1},               {"leaked_space", "bytes", ATR_M_LEAKED},
    {"temporary_objects", "count", ATR_M_TEMPORARY},
};
#define NTYPES (sizeof(types) / sizeof(*types))

static int values(const atr_cost_t *c, int64_t *v) {
  const uint64_t u[NTYPES] = {c->allocations, c->allocated,    c->peak_blocks, c->peak_bytes,
                              c->leaked_blocks, c->leaked_bytes, c->temporary};
  int any = 0;
  for (size_t k = 0; k < NTYPES; k++) {
    v[k] = (int64_t)u[k];
    any |= u[k] != 0;
  }
  return any;
}

/* ---- the gzip stream protobuf-c packs into ---- */

typedef struct {
  ProtobufCBuffer base;
  z_stream z;
  FILE *out;
  int bad;
  unsigned char buf[1 << 16];
} gz_sink_t;

static void gz_run(gz_sink_t *s, const uint8_t *data, size_t len, int flush) {
  s->z.next_in = (Bytef *)data;
  s->z.avail_in = (uInt)len;
  do {
    s->z.next_out = s->buf;
    s->z.avail_out = sizeof(s->buf);
    int rc = deflate(&s->z, flush);
    if (rc == Z_STREAM_ERROR) {
      s->bad = 1;
      return;
    }
    size_t have = sizeof(s->buf) - s->z.avail_out;
    if (have && fwrite(s->buf, 1, have, s->out) != have)
      s->bad = 1;
  } while (!s->bad && (s->z.avail_out == 0 || (flush == Z_FINISH && s->z.avail_in)));
}

static void gz_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
  gz_sink_t *s = (gz_sink_t *)b;
  while (!s->bad && len) { /* avail_in is 32 bits */
    size_t part = len > (1u << 30) ? 1u << 30 : len;
    gz_run(s, data, part, Z_NO_FLUSH);
    data += part;
    len -= part;
  }
}

/* ---- building the message ---- */

typedef struct {
  const atr_model_t *m;
  atr_symbolizer_t *sym;
  atr_flame_t names; /* strings and functions (frames), interned once */
  uint32_t *loc_of;  /* trace node -> location id (0: not used by any sample) */
  Perftools__Profiles__Location *locs;
  Perftools__Profiles__Location **loc_ptr;
  Perftools__Profiles__Line *lines;
  Perftools__Profiles__Line **line_ptr;
  size_t nlocs, nlines;
} build_t;

static int by_address(const void *pa, const void *pb, void *ctx) {
  const atr_trace_t *tr = ctx;
  const atr_rnode_t *a = &tr->nodes[*(const uint32_t *)pa], *b = &tr->nodes[*(const uint32_t *)pb];
  if (a->module != b->module)
    return a->module < b->module ? -1 : 1;
  return a->ip < b->ip ? -1 : a->ip > b->ip;
}

/* A frame's function id (frame id + 1), or 0 when out of memory. */
static uint64_t function_id(build_t *B, const atr_frame_t *fr, const char *cls) {
  uint32_t id = atr_flame_frame(&B->names, fr, cls);
  return id == ATR_FLAME_NONE ? 0 : (uint64_t)id + 1;
}

/* One Location per (module, address) on the stacks of the samples; node 0 (allocations the
 * recorder had no stack for) gets a "[no stack]" location of its own. */
static int build_locations(build_t *B) {
  const atr_trace_t *tr = &B->m->tr;
  size_t n = tr->nnodes;
  uint32_t *order = malloc((n + 1) * sizeof(uint32_t));
  B->loc_of = calloc(n + 1, sizeof(uint32_t));
  if (!order || !B->loc_of) {
    free(order);
    return -1;
  }
  size_t nused = 0;
  int64_t v[NTYPES];
  for (size_t i = 1; i < n; i++) /* loc_of doubles as the "on a sample's stack" mark */
    if (values(atr_model_cost(B->m, (uint32_t)i), v))
      for (size_t a = i; a != 0 && !B->loc_of[a]; a = tr->nodes[a].parent) {
        B->loc_of[a] = 1;
        order[nused++] = (uint32_t)a;
      }
  qsort_r(order, nused, sizeof(uint32_t), by_address, (void *)tr);
  size_t nlines = 1; /* [no stack] */
  for (size_t i = 0; i < nused; i++) {
    const atr_frame_t *fr;
    nlines += (size_t)atr_sym_node(B->sym, order[i], &fr);
  }
  B->locs = calloc(nused + 1, sizeof(*B->locs));
  B->loc_ptr = calloc(nused + 1, sizeof(*B->loc_ptr));
  B->lines = calloc(nlines, sizeof(*B->lines));
  B->line_ptr = calloc(nlines, sizeof(*B->line_ptr));
  if (!B->locs || !B->loc_ptr || !B->lines || !B->line_ptr) {
    free(order);
    return -1;
  }
  for (size_t i = 0; i < nused; i++) {
    uint32_t node = order[i];
    const atr_rnode_t *rn = &tr->nodes[node];
    if (i && by_address(&order[i - 1], &order[i], (void *)tr) == 0) {
      B->loc_of[node] = B->loc_of[order[i - 1]];
      continue;
    }
    Perftools__Profiles__Location *L = &B->locs[B->nlocs];
    perftools__profiles__location__init(L);
    L->id = B->nlocs + 1;
    L->mapping_id = rn->module >= 0 ? (uint64_t)rn->module + 1 : 0;
    L->address = rn->ip;
    const atr_frame_t *fr;
    int k = atr_sym_node(B->sym, node, &fr);
    const char *cls = atr_sym_module_class(B->sym, rn->module);
    L->line = &B->line_ptr[B->nlines];
    for (int j = 0; j < k; j++) { /* innermost first, as pprof wants */
      Perftools__Profiles__Line *ln = &B->lines[B->nlines];
      perftools__profiles__line__init(ln);
      ln->function_id = function_id(B, &fr[j], cls);
      ln->line = fr[j].line;
      if (!ln->function_id) {
        free(order);
        return -1;
      }
      B->line_ptr[B->nlines++] = ln;
    }
    L->n_line = (size_t)k;
    B->loc_ptr[B->nlocs] = L;
    B->loc_of[node] = (uint32_t)++B->nlocs;
  }
  free(order);
  if (values(atr_model_cost(B->m, 0), v)) {
    static const atr_frame_t none = {"[no stack]", NULL, 0, "?", 0};
    Perftools__Profiles__Location *L = &B->locs[B->nlocs];
    Perftools__Profiles__Line *ln = &B->lines[B->nlines];
    perftools__profiles__location__init(L);
    perftools__profiles__line__init(ln);
    if (!(ln->function_id = function_id(B, &none, "other")))
      return -1;
    B->line_ptr[B->nlines] = ln;
    L->line = &B->line_ptr[B->nlines++];
    L->n_line = 1;
    L->id = B->nlocs + 1;
    B->loc_ptr[B->nlocs] = L;
    B->loc_of[0] = (uint32_t)++B->nlocs;
  }
  return 0;
}

static uint64_t str(build_t *B, const char *s, int *oom) {
  uint32_t id = atr_flame_string(&B->names, s);
  if (id == ATR_FLAME_NONE)
    *oom = 1;
  return id == ATR_FLAME_NONE ? 0 : id;
}

int atr_flame_write_pprof(FILE *out, const atr_model_t *m, atr_symbolizer_t *sym, int metric) {
  const atr_trace_t *tr = &m->tr;
  build_t B = {.m = m, .sym = sym};
  char **strs = NULL, **fixed = NULL; /* the string table as written, and its replaced names */
  Perftools__Profiles__Profile P;
  perftools__profiles__profile__init(&P);
  Perftools__Profiles__ValueType vt[NTYPES + 1], *vt_ptr[NTYPES];
  Perftools__Profiles__Sample *samples = NULL, **sample_ptr = NULL;
  Perftools__Profiles__Mapping *maps = NULL, **map_ptr = NULL;
  Perftools__Profiles__Function *funcs = NULL, **func_ptr = NULL;
  int64_t *vals = NULL;
  uint64_t *stacks = NULL;
  int rc = -1, oom = 0;
  if (atr_flame_init(&B.names) != 0 || atr_flame_string(&B.names, "") != 0 ||
      build_locations(&B) != 0)
    goto done;

  /* samples: every stack with a cost, leaf first */
  size_t n = tr->nnodes, nsamples = 0, depth_sum = 0;
  int64_t v[NTYPES];
  for (size_t i = 0; i < n; i++)
    if (values(atr_model_cost(m, (uint32_t)i), v)) {
      nsamples++;
      size_t depth = 0; /* node 0: its "[no stack]" location */
      for (size_t a = i; a != 0; a = tr->nodes[a].parent)
        depth++;
      depth_sum += i ? depth : 1;
    }
  samples = calloc(nsamples + 1, sizeof(*samples));
  sample_ptr = calloc(nsamples + 1, sizeof(*sample_ptr));
  vals = calloc((nsamples + 1) * NTYPES, sizeof(*vals));
  stacks = calloc(depth_sum + 1, sizeof(*stacks));
  if (!samples || !sample_ptr || !vals || !stacks)
    goto done;
  size_t s = 0, used = 0;
  for (size_t i = 0; i < n; i++) {
    if (!values(atr_model_cost(m, (uint32_t)i), &vals[s * NTYPES]))
      continue;
    Perftools__Profiles__Sample *S = &samples[s];
    perftools__profiles__sample__init(S);
    S->value = &vals[s * NTYPES];
    S->n_value = NTYPES;
    S->location_id = &stacks[used];
    if (i == 0)
      stacks[used++] = B.loc_of[0];
    for (size_t a = i; a != 0 && used < depth_sum; a = tr->nodes[a].parent)
      stacks[used++] = B.loc_of[a];
    S->n_location_id = (size_t)(&stacks[used] - S->location_id);
    sample_ptr[s++] = S;
  }

  /* mappings: the main program first (pprof takes mapping[0] for the program) */
  maps = calloc(tr->nmodules + 1, sizeof(*maps));
  map_ptr = calloc(tr->nmodules + 1, sizeof(*map_ptr));
  if (!maps || !map_ptr)
    goto done;
  size_t first = 0;
  for (size_t i = 0; tr->exe && i < tr->nmodules; i++)
    if (tr->modules[i].path && strcmp(tr->modules[i].path, tr->exe) == 0) {
      first = i;
      break;
    }
  for (size_t i = 0; i < tr->nmodules; i++) {
    const atr_rmodule_t *rm = &tr->modules[i];
    Perftools__Profiles__Mapping *M = &maps[i];
    perftools__profiles__mapping__init(M);
    M->id = i + 1;
    M->memory_start = rm->lo;
    M->memory_limit = rm->hi;
    M->filename = str(&B, rm->path, &oom);
    char hex[2 * sizeof(rm->build_id) + 1];
    for (uint32_t k = 0; k < rm->build_id_len; k++)
      snprintf(hex + 2 * k, 3, "%02x", rm->build_id[k]);
    hex[2 * rm->build_id_len] = 0;
    M->build_id = str(&B, hex, &oom);
    /* symbolized here already: pprof must not look for the binaries */
    M->has_functions = M->has_filenames = M->has_line_numbers = M->has_inline_frames = 1;
    map_ptr[i == first ? 0 : i < first ? i + 1 : i] = M;
  }

  /* sample types, the default one, what the run was */
  for (size_t k = 0; k < NTYPES; k++) {
    perftools__profiles__value_type__init(&vt[k]);
    vt[k].type = str(&B, types[k].type, &oom);
    vt[k].unit = str(&B, types[k].unit, &oom);
    vt_ptr[k] = &vt[k];
    if (types[k].metric == metric)
      P.default_sample_type = (int64_t)vt[k].type;
  }
  perftools__profiles__value_type__init(&vt[NTYPES]);
  vt[NTYPES].type = str(&B, "allocations", &oom);
  vt[NTYPES].unit = str(&B, "count", &oom);
  P.period_type = &vt[NTYPES];
  P.period = 1; /* every allocation is recorded: nothing is sampled */
  char cmd[4096], line[4200];
  atr_report_cmdline(tr, cmd, sizeof(cmd));
  int64_t comments[4];
  snprintf(line, sizeof(line), "alloctrace %s, pid %llu: %s", ATR_VERSION,
           (unsigned long long)tr->pid, cmd);
  comments[0] = (int64_t)str(&B, line, &oom);
  snprintf(line, sizeof(line), "peak_*: live at the peak of the heap (%llu bytes at %.6f s)",
           (unsigned long long)m->t.peak_bytes, (double)m->t.peak_time_us / 1e6);
  comments[1] = (int64_t)str(&B, line, &oom);
  comments[2] = (int64_t)str(&B, "leaked_*: live at exit", &oom);
  comments[3] = (int64_t)str(
      &B, "temporary_objects: allocations freed with no other allocation in between", &oom);

  /* functions: one per interned frame (function and source file) */
  funcs = calloc(B.names.nframes + 1, sizeof(*funcs));
  func_ptr = calloc(B.names.nframes + 1, sizeof(*func_ptr));
  if (oom || !funcs || !func_ptr)
    goto done;
  for (size_t i = 0; i < B.names.nframes; i++) {
    const atr_fframe_t *fr = &B.names.frames[i];
    perftools__profiles__function__init(&funcs[i]);
    funcs[i].id = i + 1;
    funcs[i].name = funcs[i].system_name = fr->func;
    funcs[i].filename = fr->file == ATR_FLAME_NONE ? 0 : fr->file;
    func_ptr[i] = &funcs[i];
  }

  P.n_sample_type = NTYPES;
  P.sample_type = vt_ptr;
  P.n_sample = nsamples;
  P.sample = sample_ptr;
  P.n_mapping = tr->nmodules;
  P.mapping = map_ptr;
  P.n_location = B.nlocs;
  P.location = B.loc_ptr;
  P.n_function = B.names.nframes;
  P.function = func_ptr;
  /* proto3 strings are UTF-8 (decoders reject others): names as escape.c replaces them */
  strs = calloc(B.names.nstr ? B.names.nstr : 1, sizeof(char *));
  fixed = calloc(B.names.nstr ? B.names.nstr : 1, sizeof(char *));
  if (!strs || !fixed)
    goto done;
  for (size_t i = 0; i < B.names.nstr; i++) {
    strs[i] = B.names.str[i];
    if (!atr_utf8_valid(strs[i]) && (fixed[i] = atr_utf8_replace(strs[i])))
      strs[i] = fixed[i];
  }
  P.n_string_table = B.names.nstr;
  P.string_table = strs;
  P.n_comment = 4;
  P.comment = comments;
  P.time_nanos = (int64_t)(tr->start_unix_us * 1000);
  P.duration_nanos = (int64_t)(m->t.duration_us * 1000);

  gz_sink_t *sink = calloc(1, sizeof(*sink));
  if (!sink)
    goto done;
  sink->base.append = gz_append;
  sink->out = out;
  if (deflateInit2(&sink->z, 6, Z_DEFLATED, 15 + 16 /* gzip */, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(sink);
    goto done;
  }
  perftools__profiles__profile__pack_to_buffer(&P, &sink->base);
  if (!sink->bad)
    gz_run(sink, NULL, 0, Z_FINISH);
  deflateEnd(&sink->z);
  rc = sink->bad ? -1 : 0;
  if (sink->bad && !errno)
    errno = EIO;
  free(sink);
done:
  for (size_t i = 0; fixed && i < B.names.nstr; i++)
    free(fixed[i]);
  free(fixed);
  free(strs);
  free(samples);
  free(sample_ptr);
  free(vals);
  free(stacks);
  free(maps);
  free(map_ptr);
  free(funcs);
  free(func_ptr);
  free(B.loc_of);
  free(B.locs);
  free(B.loc_ptr);
  free(B.lines);
  free(B.line_ptr);
  atr_flame_free(&B.names);
  return rc == 0 && !ferror(out) ? 0 : -1;
}
