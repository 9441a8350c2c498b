/* `alloctrace check TRACE [--max-METRIC V]... [--budget FILE] [--baseline BASE
 * [--tolerance T]...] [--json] [--junit FILE] [--top N] [-q]`: memory budgets and
 * baseline regressions for CI. Exit 0 pass, 1 a limit exceeded, 2 usage or input error.
 * Each check is one line; a failure adds the top call sites responsible (with stacks for
 * regressions). JSON schema "alloctrace.check/1"; JUnit has one testcase per check.
 * Never prints a verdict it did not compute: a missing metric is an input error.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "escape.h"
#include "commands.h"
#include "junit.h"
#include "model.h"
#include "outfile.h"
#include "report.h"
#include "sites.h"
#include "util.h"

enum { CK_LIMIT, CK_RULE, CK_BASELINE };

typedef struct {
  char name[320];
  int metric, kind, passed;
  const atr_rule_t *rule;
  uint64_t value, limit, base;
  atr_tol_t tol;
  size_t matched; /* rules: call sites whose function matched */
  char message[640];
  char *details; /* message plus responsible call sites, for text and JUnit */
  json_t *json;
} check_t;

typedef struct {
  const char *path;
  atr_model_t m;
  atr_symbolizer_t *sym;
  atr_sites_t all;
  int loaded;
} side_t;

typedef struct {
  const atr_budget_t *b;
  side_t cur, base;
  check_t *v;
  size_t n, cap;
  int top, quiet;
  char note[600]; /* a comparison that could not be made */
  char error[700];
} ctx_t;

/* ---- formatting ---- */

static const char *amount(char *buf, size_t n, int metric, uint64_t v) {
  if (!atr_ck_is_bytes(metric))
    snprintf(buf, n, "%llu", (unsigned long long)v);
  else if (v < (1u << 20))
    snprintf(buf, n, "%llu B", (unsigned long long)v);
  else {
    char h[32];
    snprintf(buf, n, "%llu B (%s)", (unsigned long long)v, atr_bytes(h, sizeof(h), (double)v));
  }
  return buf;
}

static const char *delta(char *buf, size_t n, int metric, uint64_t from, uint64_t to) {
  int up = to >= from;
  unsigned long long d = up ? to - from : from - to;
  snprintf(buf, n, "%c%llu%s", up ? '+' : '-', d, atr_ck_is_bytes(metric) ? " B" : "");
  return buf;
}

static const char *base_of(const char *p) {
  const char *s = p ? strrchr(p, '/') : NULL;
  return s ? s + 1 : p ? p : "?";
}

static void frame_short(FILE *out, const atr_frame_t *f) {
  fputs(f->func ? f->func : "??", out);
  if (f->file)
    fprintf(out, " (%s:%u)", base_of(f->file), f->line);
  else
    fprintf(out, " [%s]", f->module ? f->module : "?");
}

/* the callers of a site, innermost first, starting after the site's own frame */
static void stack_short(FILE *out, atr_symbolizer_t *sym, uint32_t node, int max) {
  const atr_frame_t *site;
  uint32_t from = atr_sym_callsite(sym, node, &site);
  int printed = 0, started = 0;
  for (uint32_t n = from; n && printed < max; n = atr_sym_callsite_parent(sym, n)) {
    const atr_frame_t *fr;
    int k = atr_sym_node(sym, n, &fr);
    for (int i = 0; i < k && printed < max; i++) {
      if (!started) {
        started = &fr[i] == site;
        continue;
      }
      fputs("          at ", out);
      frame_short(out, &fr[i]);
      fputc('\n', out);
      printed++;
      if (fr[i].func && strcmp(fr[i].func, "main") == 0)
        return; /* what runs main is the same for every program */
    }
  }
}

/* ---- loading ---- */

static int load_side(ctx_t *c, side_t *s, const char *path) {
  s->path = path;
  if (atr_model_load(&s->m, path, NULL) != 0) {
    snprintf(c->error, sizeof(c->error), "%s", s->m.tr.error);
    atr_model_free(&s->m);
    return -1;
  }
  s->loaded = 1;
  atr_report_truncated(&s->m.tr, path);
  s->sym = atr_sym_new(&s->m.tr);
  if (!s->sym || atr_sites_collect(&s->all, &s->m, s->sym, NULL, ATR_MATCH_ALL) != 0) {
    snprintf(c->error, sizeof(c->error), "%s: out of memory", path);
    return -1;
  }
  return 0;
}

static void free_side(side_t *s) {
  if (!s->loaded)
    return;
  atr_sites_free(&s->all);
  atr_sym_free(s->sym);
  atr_model_free(&s->m);
}

static check_t *new_check(ctx_t *c, int kind, int metric) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    check_t *v = realloc(c->v, cap * sizeof(*v));
    if (!v)
      return NULL;
    c->v = v;
    c->cap = cap;
  }
  check_t *k = &c->v[c->n++];
  memset(k, 0, sizeof(*k));
  k->kind = kind;
  k->metric = metric;
  return k;
}

/* ---- responsible call sites ---- */

typedef struct {
  const atr_site_t *site;
  uint64_t value, base; /* base: the baseline's value at the same site (regressions) */
} blame_t;

static int by_growth(const void *a, const void *b) {
  const blame_t *x = a, *y = b;
  uint64_t u = x->value - x->base, v = y->value - y->base;
  if (u != v)
    return u < v ? 1 : -1;
  int r = strcmp(x->site->func, y->site->func);
  return r ? r : strcmp(x->site->where, y->site->where);
}

/* The top sites in `sites` by value (limits) or by growth over the baseline; writes them
 * to the details text and the check's JSON. RSS has no per-site value: heap at the peak
 * stands in for it, said so in the JSON. */
static void blame(ctx_t *c, check_t *k, atr_sites_t *sites, FILE *out) {
  int metric = k->metric == ATR_CK_RSS ? ATR_M_PEAK : k->metric;
  int regress = k->kind == CK_BASELINE;
  blame_t *b = calloc(sites->n ? sites->n : 1, sizeof(*b));
  size_t nb = 0;
  if (!b)
    return;
  json_t *arr = json_array();
  for (size_t i = 0; i < sites->n; i++) {
    const atr_site_t *s = &sites->v[i];
    uint64_t v = atr_cost_metric(&s->cost, metric), base = 0;
    if (regress) {
      const atr_site_t *o = atr_sites_find(&c->base.all, s->func, s->where);
      base = o ? atr_cost_metric(&o->cost, metric) : 0;
    }
    if (v > base)
      b[nb++] = (blame_t){s, v, base};
  }
  qsort(b, nb, sizeof(*b), by_growth);
  if (k->metric == ATR_CK_RSS)
    json_object_set_new(k->json, "sites_metric", atr_json_text("peak"));
  if (nb && k->metric == ATR_CK_RSS)
    fprintf(out, "    largest heap at the peak:\n");
  for (size_t i = 0; i < nb && (int)i < c->top; i++) {
    char a[64], d[64], e[64];
    const atr_frame_t *f = atr_site_frame(c->cur.sym, b[i].site, metric);
    if (regress)
      fprintf(out, "    %s (%s -> %s) in ", delta(d, sizeof(d), metric, b[i].base, b[i].value),
              amount(a, sizeof(a), metric, b[i].base), amount(e, sizeof(e), metric, b[i].value));
    else
      fprintf(out, "    %s in ", amount(a, sizeof(a), metric, b[i].value));
    frame_short(out, f);
    fputc('\n', out);
    if (regress)
      stack_short(out, c->cur.sym, b[i].site->top[metric], 4);
    json_t *o = atr_report_frame_json(f);
    json_object_set_new(o, "value", atr_json_u64(b[i].value));
    if (regress) {
      json_object_set_new(o, "baseline", atr_json_u64(b[i].base));
      json_object_set_new(o, "change", atr_json_u64(b[i].value - b[i].base));
    }
    json_object_set_new(o, "stack", atr_site_stack_json(c->cur.sym, b[i].site->top[metric], 16));
    json_array_append_new(arr, o);
  }
  json_object_set_new(k->json, "sites", arr);
  free(b);
}

/* ---- evaluating ---- */

static void finish(ctx_t *c, check_t *k, atr_sites_t *sites) {
  char v[64], l[64], d[64], b[64];
  k->passed = k->value <= k->limit;
  const char *name = k->name;
  if (k->kind == CK_BASELINE) {
    double pct = k->base ? 100.0 * ((double)k->value - (double)k->base) / (double)k->base : 0;
    char rel[48] = "";
    if (k->base)
      snprintf(rel, sizeof(rel), ", %+.1f%%", pct);
    snprintf(k->message, sizeof(k->message), "%s: %s %s %s + %s = %s (change %s%s)", name,
             amount(v, sizeof(v), k->metric, k->value), k->passed ? "<=" : ">",
             amount(b, sizeof(b), k->metric, k->base), k->tol.text,
             amount(l, sizeof(l), k->metric, k->limit),
             delta(d, sizeof(d), k->metric, k->base, k->value), rel);
  } else {
    snprintf(k->message, sizeof(k->message), "%s: %s %s limit %s", name,
             amount(v, sizeof(v), k->metric, k->value), k->passed ? "<=" : ">",
             amount(l, sizeof(l), k->metric, k->limit));
    if (!k->passed) {
      size_t len = strlen(k->message);
      snprintf(k->message + len, sizeof(k->message) - len, " (%s over)",
               delta(d, sizeof(d), k->metric, k->limit, k->value) + 1);
    }
  }
  if (k->kind == CK_RULE && !k->matched) {
    size_t len = strlen(k->message);
    snprintf(k->message + len, sizeof(k->message) - len, " (no call site matched)");
  }
  atr_utf8_trim(k->message); /* cut at its size between characters, never inside one */
  k->json = json_object();
  json_object_set_new(k->json, "name", atr_json_text(k->name));
  json_object_set_new(k->json, "metric", atr_json_text(atr_ck_names[k->metric]));
  json_object_set_new(k->json, "scope",
                      atr_json_text(k->kind == CK_BASELINE                  ? "baseline"
                                  : k->kind == CK_LIMIT                   ? "total"
                                  : k->rule->scope == ATR_SCOPE_UNDER ? "under"
                                                                          : "site"));
  if (k->kind == CK_RULE) {
    json_object_set_new(k->json, "pattern", atr_json_text(k->rule->pattern));
    json_object_set_new(k->json, "matched_sites", atr_json_u64(k->matched));
  }
  json_object_set_new(k->json, "value", atr_json_u64(k->value));
  json_object_set_new(k->json, "limit", atr_json_u64(k->limit));
  if (k->kind == CK_BASELINE) {
    json_object_set_new(k->json, "baseline", atr_json_u64(k->base));
    json_object_set_new(k->json, "tolerance", atr_json_text(k->tol.text));
    json_object_set_new(k->json, "change",
                        json_integer((json_int_t)k->value - (json_int_t)k->base));
  }
  json_object_set_new(k->json, "passed", json_boolean(k->passed));
  json_object_set_new(k->json, "message", atr_json_text(k->message));
  size_t len = 0;
  FILE *out = open_memstream(&k->details, &len);
  if (!out)
    return;
  fprintf(out, "%s\n", k->message);
  if (!k->passed && sites)
    blame(c, k, sites, out);
  fclose(out);
}

static int add_limits(ctx_t *c) {
  for (int m = 0; m < ATR_CK_METRICS; m++) {
    if (!c->b->max[m].set)
      continue;
    if (m == ATR_CK_RSS && !c->cur.m.t.peak_rss) {
      snprintf(c->error, sizeof(c->error), "%s: the trace has no RSS sample, so max-rss cannot be "
               "checked", c->cur.path);
      return -1;
    }
    check_t *k = new_check(c, CK_LIMIT, m);
    if (!k)
      return -1;
    snprintf(k->name, sizeof(k->name), "%s", atr_ck_names[m]);
    k->value = atr_ck_total(&c->cur.m, m);
    k->limit = c->b->max[m].v;
    finish(c, k, &c->cur.all);
  }
  return 0;
}

/* One rule's checks; nodes: its stacks when the pattern is a name (literal), else it is
 * matched here. */
static int add_rule(ctx_t *c, const atr_rule_t *rule, const uint32_t *nodes, size_t n) {
  atr_sites_t s;
  if ((atr_pattern_is_literal(rule->pattern)
           ? atr_sites_collect_nodes(&s, &c->cur.m, c->cur.sym, nodes, n)
           : atr_sites_collect(&s, &c->cur.m, c->cur.sym, rule->pattern, rule->scope)) != 0)
    return -1;
  for (int m = 0; m < ATR_M_COUNT; m++) {
    if (!rule->max[m].set)
      continue;
    check_t *k = new_check(c, CK_RULE, m);
    if (!k) {
      atr_sites_free(&s);
      return -1;
    }
    k->rule = rule;
    snprintf(k->name, sizeof(k->name), "%s %s %s", atr_ck_names[m],
             rule->scope == ATR_SCOPE_UNDER ? "under" : "in", rule->pattern);
    atr_utf8_trim(k->name); /* a long pattern is cut between characters */
    for (size_t i = 0; i < s.n; i++)
      k->value += atr_cost_metric(&s.v[i].cost, m);
    k->matched = s.n;
    k->limit = rule->max[m].v;
    finish(c, k, &s);
  }
  atr_sites_free(&s);
  return 0;
}

/* Literal rule names are matched all at once (atr_sites_match_literals), globs one by
 * one: 200k named rules cost one pass over the stacks, not 200k. */
static int add_rules(ctx_t *c) {
  size_t *start = NULL;
  uint32_t *nodes = NULL;
  if (c->b->nrules && atr_sites_match_literals(&c->cur.m, c->cur.sym, c->b->rules, c->b->nrules,
                                               &start, &nodes) != 0)
    return -1;
  int rc = 0;
  for (size_t r = 0; r < c->b->nrules && rc == 0; r++)
    rc = add_rule(c, &c->b->rules[r], nodes + start[r], start[r + 1] - start[r]);
  free(start);
  free(nodes);
  return rc;
}

static int add_baseline(ctx_t *c) {
  for (int m = 0; m < ATR_CK_METRICS; m++) {
    uint64_t base = atr_ck_total(&c->base.m, m), cur = atr_ck_total(&c->cur.m, m);
    if (m == ATR_CK_RSS && (!base || !cur)) {
      snprintf(c->note, sizeof(c->note), "rss vs baseline not checked: no RSS sample in %s",
               base ? c->cur.path : c->base.path);
      continue;
    }
    check_t *k = new_check(c, CK_BASELINE, m);
    if (!k)
      return -1;
    snprintf(k->name, sizeof(k->name), "%s vs baseline", atr_ck_names[m]);
    k->tol = atr_budget_tol(c->b, m);
    k->base = base;
    k->value = cur;
    k->limit = atr_tol_limit(&k->tol, base);
    finish(c, k, &c->cur.all);
  }
  return 0;
}

/* ---- output ---- */

static const char *program_of(const ctx_t *c) {
  const char *exe = c->cur.m.tr.exe;
  return exe && *exe ? base_of(exe) : base_of(c->cur.path);
}

static json_t *report_json(const ctx_t *c, size_t failed) {
  json_t *root = json_object();
  json_object_set_new(root, "schema", atr_json_text("alloctrace.check/1"));
  json_object_set_new(root, "trace", atr_json_text(c->cur.path));
  json_object_set_new(root, "program", atr_json_text(program_of(c)));
  json_object_set_new(root, "baseline", c->base.loaded ? atr_json_text(c->base.path) : json_null());
  json_object_set_new(root, "passed", json_boolean(failed == 0));
  json_object_set_new(root, "checks_run", atr_json_u64(c->n));
  json_object_set_new(root, "failed", atr_json_u64(failed));
  json_t *arr = json_array();
  for (size_t i = 0; i < c->n; i++)
    json_array_append(arr, c->v[i].json);
  json_object_set_new(root, "checks", arr);
  json_t *notes = json_array();
  if (c->note[0])
    json_array_append_new(notes, atr_json_text(c->note));
  json_object_set_new(root, "notes", notes);
  return root;
}

static int write_junit(ctx_t *c, const char *path, double secs) {
  atr_junit_case_t *cases = calloc(c->n ? c->n : 1, sizeof(*cases));
  if (!cases) {
    snprintf(c->error, sizeof(c->error), "out of memory");
    return -1;
  }
  for (size_t i = 0; i < c->n; i++)
    cases[i] = (atr_junit_case_t){c->v[i].name, !c->v[i].passed, c->v[i].message,
                                  c->v[i].details, c->v[i].passed ? c->v[i].message : NULL};
  char suite[300];
  snprintf(suite, sizeof(suite), "alloctrace.%s", program_of(c));
  int rc = atr_junit_write(path, suite, cases, c->n, secs, c->error, sizeof(c->error));
  free(cases);
  return rc;
}

typedef struct {
  FILE *text;           /* NULL: no text report */
  int json_stdout;
  const char *junit, *json_file;
} outputs_t;

/* Runs every check of the budget on trace; 0 pass, 1 fail, 2 error (message printed). */
static int run_checks(const char *trace, const atr_budget_t *b, const outputs_t *o, int top,
                      int quiet) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ctx_t c;
  memset(&c, 0, sizeof(c));
  c.b = b;
  c.top = top;
  c.quiet = quiet;
  int rc = ATR_EXIT_USAGE;
  if (load_side(&c, &c.cur, trace) != 0 || (b->baseline && load_side(&c, &c.base, b->baseline) != 0))
    goto out;
  if (add_limits(&c) != 0 || add_rules(&c) != 0 || (b->baseline && add_baseline(&c) != 0)) {
    if (!c.error[0])
      snprintf(c.error, sizeof(c.error), "out of memory");
    goto out;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  size_t failed = 0;
  for (size_t i = 0; i < c.n; i++)
    failed += !c.v[i].passed;
  /* names from the trace: through the terminal sanitiser (escape.h) */
  FILE *text = o->text ? atr_text_stream(o->text) : NULL;
  if (o->text && !text)
    text = o->text;
  if (text) {
    fprintf(text, "alloctrace check %s (%s): %s, %zu of %zu checks failed\n", program_of(&c),
            trace, failed ? "FAILED" : "passed", failed, c.n);
    for (size_t i = 0; i < c.n; i++) {
      if (c.v[i].passed && quiet)
        continue;
      fputs(c.v[i].passed ? "ok   " : "FAIL ", text);
      fputs(c.v[i].details ? c.v[i].details : c.v[i].message, text);
      if (!c.v[i].details)
        fputc('\n', text);
    }
    if (c.note[0])
      fprintf(text, "note: %s\n", c.note);
    if (text != o->text)
      fclose(text);
    else
      fflush(text);
  }
  json_t *doc = report_json(&c, failed);
  if (o->json_file) {
    atr_outfile_t of;
    char why[512];
    int bad = atr_outfile_open(&of, o->json_file, why, sizeof(why)) != 0;
    if (!bad) {
      bad = json_dumpf(doc, of.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
      if (bad)
        atr_outfile_abort(&of);
      else
        bad = atr_outfile_commit(&of, why, sizeof(why)) != 0;
    }
    if (bad) {
      snprintf(c.error, sizeof(c.error), "%s: cannot write the JSON report: %s", o->json_file, why);
      json_decref(doc);
      goto out;
    }
  }
  if (o->json_stdout)
    atr_json_print(doc);
  else
    json_decref(doc);
  if (o->junit && write_junit(&c, o->junit, secs) != 0)
    goto out;
  rc = failed ? ATR_EXIT_FAIL : 0;
out:
  if (rc == ATR_EXIT_USAGE)
    fprintf(stderr, "%s: %s\n", atr_cmd, c.error);
  for (size_t i = 0; i < c.n; i++) {
    free(c.v[i].details);
    json_decref(c.v[i].json);
  }
  free(c.v);
  free_side(&c.base);
  free_side(&c.cur);
  return rc;
}

int atr_check_run(const char *trace, const char *budget_file) {
  atr_budget_t b;
  atr_budget_init(&b);
  int rc = ATR_EXIT_USAGE;
  if (atr_budget_load(&b, budget_file) != 0)
    fprintf(stderr, "%s: %s\n", atr_cmd, b.error);
  else if (atr_budget_empty(&b))
    fprintf(stderr, "%s: %s: the budget sets no limit and no baseline\n", atr_cmd, budget_file);
  else {
    outputs_t o = {stderr, 0, b.junit, b.json};
    rc = run_checks(trace, &b, &o, 3, 0);
  }
  atr_budget_free(&b);
  return rc;
}

int atr_check_validate(const char *budget_file) {
  atr_budget_t b;
  atr_budget_init(&b);
  int rc = 0;
  if (atr_budget_load(&b, budget_file) != 0) {
    fprintf(stderr, "%s: %s\n", atr_cmd, b.error);
    rc = -1;
  } else if (atr_budget_empty(&b)) {
    fprintf(stderr, "%s: %s: the budget sets no limit and no baseline\n", atr_cmd, budget_file);
    rc = -1;
  }
  atr_budget_free(&b);
  return rc;
}

#define USAGE                                                                                    \
  "usage: alloctrace check TRACE [--max-peak SIZE] [--max-leaked SIZE] [--max-allocations N] "   \
  "[--max-allocated SIZE] [--max-temporary N] [--max-rss SIZE] [--budget FILE] "                 \
  "[--baseline BASE] [--tolerance T] [--json] [--junit FILE] [--top N] [-q]"

static const char help[] =
    USAGE "\n\n"
    "Checks a trace against memory budgets; exit 0 pass, 1 a limit exceeded, 2 bad input.\n"
    "  --max-METRIC V   limit for the whole process (peak, leaked, allocated: bytes like 64MiB;\n"
    "                   allocations, temporary: counts; rss: peak RSS); value <= limit passes\n"
    "  --budget FILE    limits from an INI or JSON file, also per call site ([site \"parse_*\"],\n"
    "                   [under \"PATTERN\"]); flags override the file\n"
    "  --baseline BASE  compare every metric with the trace BASE\n"
    "  --tolerance T    allowed growth over the baseline: 5% or 4KiB for every metric, or\n"
    "                   METRIC=T for one (repeatable; default 0, rss max(10%, 1 MiB))\n"
    "  --json           the report as JSON (schema alloctrace.check/1) on stdout\n"
    "  --junit FILE     a JUnit XML report, one testcase per check\n"
    "  --top N          call sites named per failure (default 3)\n"
    "  -q, --quiet      print failed checks only\n";

int cmd_check(int argc, char **argv) {
  enum { O_BUDGET = 256, O_BASE, O_TOL, O_JUNIT, O_TOP, O_MAX };
  static const struct option opts[] = {
      {"max-peak", required_argument, 0, O_MAX + ATR_M_PEAK},
      {"max-leaked", required_argument, 0, O_MAX + ATR_M_LEAKED},
      {"max-allocated", required_argument, 0, O_MAX + ATR_M_ALLOCATED},
      {"max-allocations", required_argument, 0, O_MAX + ATR_M_ALLOCATIONS},
      {"max-temporary", required_argument, 0, O_MAX + ATR_M_TEMPORARY},
      {"max-rss", required_argument, 0, O_MAX + ATR_CK_RSS},
      {"budget", required_argument, 0, O_BUDGET},
      {"baseline", required_argument, 0, O_BASE},
      {"tolerance", required_argument, 0, O_TOL},
      {"junit", required_argument, 0, O_JUNIT},
      {"top", required_argument, 0, O_TOP},
      {"json", no_argument, 0, 'j'},
      {"quiet", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  atr_budget_t flags, b;
  atr_budget_init(&flags);
  atr_budget_init(&b);
  const char *budget_file = NULL, *junit = NULL;
  int json = 0, quiet = 0, top = 3, c;
  while ((c = getopt_long(argc, argv, "jqh", opts, NULL)) != -1) {
    if (c >= O_MAX && c < O_MAX + ATR_CK_METRICS) {
      if (atr_budget_set_limit(&flags, &flags.max[c - O_MAX], c - O_MAX, optarg) != 0)
        atr_usage_error("--max-%s: %s", atr_ck_names[c - O_MAX], flags.error);
      continue;
    }
    switch (c) {
    case O_BUDGET:
      budget_file = optarg;
      break;
    case O_BASE:
      if (atr_budget_set_path(&flags, &flags.baseline, optarg, NULL) != 0)
        atr_usage_error("--baseline: %s", flags.error);
      break;
    case O_TOL:
      if (atr_budget_tolerance_spec(&flags, optarg) != 0)
        atr_usage_error("--tolerance: %s", flags.error);
      break;
    case O_JUNIT:
      junit = optarg;
      break;
    case O_TOP:
      top = atoi(optarg);
      if (top <= 0)
        atr_usage_error("--top needs a positive number, not '%s'", optarg);
      break;
    case 'j':
      json = 1;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'h':
      fputs(help, stdout);
      return 0;
    default:
      atr_bad_option(argv, USAGE);
    }
  }
  if (optind + 1 != argc)
    atr_usage_error("check needs exactly one trace file, got %d (see alloctrace check --help)", argc - optind);
  if (budget_file && atr_budget_load(&b, budget_file) != 0)
    atr_input_error(b.error);
  if (atr_budget_overlay(&b, &flags) != 0)
    atr_input_error(b.error);
  if (atr_budget_empty(&b))
    atr_usage_error("nothing to check: give a --max-… limit, a --budget file or a --baseline");
  int tol_given = flags.tol_default.set;
  for (int m = 0; m < ATR_CK_METRICS; m++)
    tol_given |= flags.tol[m].set;
  if (tol_given && !b.baseline)
    atr_usage_error("--tolerance applies to a --baseline comparison, and there is none");
  outputs_t o = {json ? NULL : stdout, json, junit ? junit : b.junit, b.json};
  int rc = run_checks(argv[optind], &b, &o, top, quiet);
  atr_budget_free(&flags);
  atr_budget_free(&b);
  return rc;
}
