/* `alloctrace diff BASE NEW [--json] [--top N] [--metrics LIST]`: what changed between
 * two traces, per metric and per call site, sites sorted by absolute change. Call sites
 * match by function and source file (sites.h), never by address or line, so two builds
 * compare. A trace diffed with itself reports nothing. JSON schema "alloctrace.diff/1".
 * Never judges: exit 0 whatever changed (`check --baseline` is the verdict).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "escape.h"
#include "commands.h"
#include "model.h"
#include "report.h"
#include "sites.h"
#include "util.h"

typedef struct {
  const char *path;
  atr_model_t m;
  atr_symbolizer_t *sym;
  atr_sites_t all;
} side_t;

typedef struct {
  const atr_site_t *base, *cur; /* either may be NULL (site only on one side) */
  uint64_t b, n;
} change_t;

static void load(side_t *s, const char *path) {
  s->path = path;
  if (atr_model_load(&s->m, path, NULL) != 0)
    atr_input_error(s->m.tr.error);
  atr_report_truncated(&s->m.tr, path);
  s->sym = atr_sym_new(&s->m.tr);
  if (!s->sym || atr_sites_collect(&s->all, &s->m, s->sym, NULL, ATR_MATCH_ALL) != 0)
    atr_input_error("out of memory");
}

static void unload(side_t *s) {
  atr_sites_free(&s->all);
  atr_sym_free(s->sym);
  atr_model_free(&s->m);
}

static uint64_t absdiff(uint64_t a, uint64_t b) {
  return a > b ? a - b : b - a;
}

static int by_change(const void *x, const void *y) {
  const change_t *a = x, *b = y;
  uint64_t u = absdiff(a->b, a->n), v = absdiff(b->b, b->n);
  if (u != v)
    return u < v ? 1 : -1;
  const atr_site_t *sa = a->cur ? a->cur : a->base, *sb = b->cur ? b->cur : b->base;
  int c = strcmp(sa->func, sb->func);
  return c ? c : strcmp(sa->where, sb->where);
}

/* Sites whose metric differs, sorted by absolute change; caller frees. */
static size_t site_changes(const side_t *base, const side_t *cur, int metric, change_t **out) {
  change_t *v = malloc((base->all.n + cur->all.n + 1) * sizeof(*v));
  size_t n = 0;
  if (!v)
    atr_input_error("out of memory");
  for (size_t i = 0; i < cur->all.n; i++) {
    const atr_site_t *s = &cur->all.v[i];
    const atr_site_t *o = atr_sites_find(&base->all, s->func, s->where);
    uint64_t a = o ? atr_cost_metric(&o->cost, metric) : 0, b = atr_cost_metric(&s->cost, metric);
    if (a != b)
      v[n++] = (change_t){o, s, a, b};
  }
  for (size_t i = 0; i < base->all.n; i++) {
    const atr_site_t *s = &base->all.v[i];
    uint64_t a = atr_cost_metric(&s->cost, metric);
    if (a && !atr_sites_find(&cur->all, s->func, s->where))
      v[n++] = (change_t){s, NULL, a, 0};
  }
  qsort(v, n, sizeof(*v), by_change);
  *out = v;
  return n;
}

static const char *amount(char *buf, size_t n, int metric, uint64_t v) {
  if (atr_ck_is_bytes(metric))
    snprintf(buf, n, "%llu B", (unsigned long long)v);
  else
    snprintf(buf, n, "%llu", (unsigned long long)v);
  return buf;
}

static const char *signed_amount(char *buf, size_t n, int metric, uint64_t from, uint64_t to) {
  snprintf(buf, n, "%c%llu%s", to >= from ? '+' : '-', (unsigned long long)absdiff(from, to),
           atr_ck_is_bytes(metric) ? " B" : "");
  return buf;
}

static const char *base_of(const char *p) {
  const char *s = p ? strrchr(p, '/') : NULL;
  return s ? s + 1 : p ? p : "?";
}

static const char *program(const side_t *s) {
  return s->m.tr.exe && *s->m.tr.exe ? base_of(s->m.tr.exe) : base_of(s->path);
}

static json_t *side_json(const side_t *s) {
  json_t *o = json_object();
  json_object_set_new(o, "trace", atr_json_text(s->path));
  json_object_set_new(o, "program", atr_json_text(program(s)));
  return o;
}

static json_t *relative_json(uint64_t a, uint64_t b) {
  return a ? json_real(((double)b - (double)a) / (double)a) : json_null();
}

int cmd_diff(int argc, char **argv) {
  static const char *usage =
      "usage: alloctrace diff BASE NEW [--json] [--top N] [--metrics peak,leaked,...]";
  static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                       {"top", required_argument, 0, 'n'},
                                       {"metrics", required_argument, 0, 'm'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int json = 0, top = 10, c;
  int want[ATR_CK_METRICS];
  for (int i = 0; i < ATR_CK_METRICS; i++)
    want[i] = 1;
  while ((c = getopt_long(argc, argv, "jn:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = 1;
      break;
    case 'n':
      top = atoi(optarg);
      if (top <= 0)
        atr_usage_error("--top needs a positive number, not '%s'", optarg);
      break;
    case 'm': {
      memset(want, 0, sizeof(want));
      char *copy = strdup(optarg), *save = NULL;
      int any = 0;
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = atr_ck_parse(t);
        if (k < 0)
          atr_usage_error("--metrics: unknown metric '%s' (peak, leaked, allocated, allocations, "
                          "temporary, rss)", t);
        want[k] = any = 1;
      }
      free(copy);
      if (!any)
        atr_usage_error("--metrics needs at least one metric");
      break;
    }
    case 'h':
      printf("%s\n", usage);
      return 0;
    default:
      atr_bad_option(argv, usage);
    }
  }
  if (optind + 2 != argc)
    atr_usage_error("diff needs two trace files, BASE and NEW, got %d (%s)", argc - optind, usage);
  side_t base = {0}, cur = {0};
  load(&base, argv[optind]);
  load(&cur, argv[optind + 1]);

  json_t *root = json_object(), *metrics = json_array(), *unchanged = json_array();
  json_t *sites = json_object(), *counts = json_object();
  json_object_set_new(root, "schema", atr_json_text("alloctrace.diff/1"));
  json_object_set_new(root, "base", side_json(&base));
  json_object_set_new(root, "new", side_json(&cur));
  if (!json)
    atr_text_stdout(); /* names from the traces: no control bytes reach a terminal */
  if (!json)
    printf("alloctrace diff %s (%s) -> %s (%s)\n", program(&base), base.path, program(&cur),
           cur.path);
  int changed = 0, header = 0;
  for (int m = 0; m < ATR_CK_METRICS; m++) {
    if (!want[m])
      continue;
    uint64_t a = atr_ck_total(&base.m, m), b = atr_ck_total(&cur.m, m);
    if (a == b) {
      json_array_append_new(unchanged, atr_json_text(atr_ck_names[m]));
      continue;
    }
    changed = 1;
    json_t *o = json_object();
    json_object_set_new(o, "metric", atr_json_text(atr_ck_names[m]));
    json_object_set_new(o, "base", atr_json_u64(a));
    json_object_set_new(o, "new", atr_json_u64(b));
    json_object_set_new(o, "change", json_integer((json_int_t)b - (json_int_t)a));
    json_object_set_new(o, "relative", relative_json(a, b));
    json_array_append_new(metrics, o);
    if (!json) {
      char x[48], y[48], d[48], r[32] = "";
      if (!header++)
        printf("  %-12s %16s %16s %16s\n", "metric", "base", "new", "change");
      if (a)
        snprintf(r, sizeof(r), " (%+.1f%%)", 100.0 * ((double)b - (double)a) / (double)a);
      printf("  %-12s %16s %16s %16s%s\n", atr_ck_names[m], amount(x, sizeof(x), m, a),
             amount(y, sizeof(y), m, b), signed_amount(d, sizeof(d), m, a, b), r);
    }
  }
  if (!json && json_array_size(unchanged)) {
    printf("  unchanged:");
    for (size_t i = 0; i < json_array_size(unchanged); i++)
      printf("%s %s", i ? "," : "", json_string_value(json_array_get(unchanged, i)));
    printf("\n");
  }
  for (int m = 0; m < ATR_M_COUNT; m++) {
    if (!want[m])
      continue;
    change_t *v;
    size_t n = site_changes(&base, &cur, m, &v);
    if (n) {
      changed = 1;
      json_t *arr = json_array();
      if (!json)
        printf("\n%s: %zu call site%s changed\n", atr_ck_names[m], n, n == 1 ? "" : "s");
      for (size_t i = 0; i < n && (int)i < top; i++) {
        const side_t *side = v[i].cur ? &cur : &base;
        const atr_site_t *s = v[i].cur ? v[i].cur : v[i].base;
        const atr_frame_t *f = atr_site_frame(side->sym, s, m);
        json_t *o = atr_report_frame_json(f);
        json_object_set_new(o, "base", atr_json_u64(v[i].b));
        json_object_set_new(o, "new", atr_json_u64(v[i].n));
        json_object_set_new(o, "change", json_integer((json_int_t)v[i].n - (json_int_t)v[i].b));
        json_object_set_new(o, "only_in", v[i].cur && v[i].base ? json_null()
                                          : atr_json_text(v[i].cur ? "new" : "base"));
        json_object_set_new(o, "stack", atr_site_stack_json(side->sym, s->top[m], 16));
        json_array_append_new(arr, o);
        if (!json) {
          char x[48], y[48], d[48];
          printf("  %16s  (%s -> %s)  %s", signed_amount(d, sizeof(d), m, v[i].b, v[i].n),
                 amount(x, sizeof(x), m, v[i].b), amount(y, sizeof(y), m, v[i].n),
                 f->func ? f->func : "??");
          if (f->file)
            printf(" (%s:%u)", base_of(f->file), f->line);
          else
            printf(" [%s]", f->module ? f->module : "?");
          printf("%s\n", v[i].cur && v[i].base ? "" : v[i].cur ? " [new site]" : " [gone]");
        }
      }
      if (!json && n > (size_t)top)
        printf("  ... and %zu more (--top)\n", n - (size_t)top);
      json_object_set_new(sites, atr_ck_names[m], arr);
      json_object_set_new(counts, atr_ck_names[m], atr_json_u64(n));
    }
    free(v);
  }
  if (!json && !changed)
    printf("  no change: same totals and the same costs at every call site\n");
  json_object_set_new(root, "changed", json_boolean(changed));
  json_object_set_new(root, "metrics", metrics);
  json_object_set_new(root, "unchanged", unchanged);
  json_object_set_new(root, "sites", sites);
  json_object_set_new(root, "sites_changed", counts);
  if (json)
    atr_json_print(root);
  else
    json_decref(root);
  unload(&cur);
  unload(&base);
  return 0;
}
