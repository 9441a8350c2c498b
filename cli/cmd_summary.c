/* `alloctrace summary [--json] [--top N] TRACE`: totals with heaptrack's definitions,
 * the recorder's own health, and the top call sites by peak, leaks, allocation count
 * and temporary allocations, each with a symbolized backtrace.
 * JSON schema "alloctrace.summary/1" (documented in docs/json.md).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "escape.h"
#include "reader.h"
#include "growth.h"
#include "model.h"
#include "report.h"
#include "util.h"

static const struct {
  const char *title, *json;
  int metric, bytes;
} tops[] = {
    {"PEAK MEMORY CONSUMERS (live at the peak)", "peak", ATR_M_PEAK, 1},
    {"LEAKS (live at exit)", "leaked", ATR_M_LEAKED, 1},
    {"MOST CALLS TO ALLOCATION FUNCTIONS", "allocations", ATR_M_ALLOCATIONS, 0},
    {"MOST TEMPORARY ALLOCATIONS", "temporary", ATR_M_TEMPORARY, 0},
};

static const char *const layer_names[ATR_LAYER_COUNT] = {
    "libc", "C++ operators", "Rust allocator shim", "static jemalloc/mimalloc",
    "cooperative API", "own malloc"};

static json_t *layers_json(const atr_model_t *m) {
  json_t *a = json_array();
  unsigned mask = m->layers_seen | m->tr.layers;
  for (unsigned i = 0; i < ATR_LAYER_COUNT; i++)
    if (mask & (1u << i))
      json_array_append_new(a, atr_json_text(layer_names[i]));
  return a;
}

json_t *atr_summary_json(const atr_model_t *m, atr_symbolizer_t *sym, int top) {
  json_t *root = json_object();
  json_object_set_new(root, "schema", atr_json_text("alloctrace.summary/1"));
  json_object_set_new(root, "program", atr_json_text(m->tr.exe ? m->tr.exe : ""));
  json_object_set_new(root, "pid", atr_json_u64(m->tr.pid));
  json_t *argv = json_array();
  for (uint64_t i = 0; i < m->tr.argc; i++)
    json_array_append_new(argv, atr_json_text(m->tr.argv[i] ? m->tr.argv[i] : ""));
  json_object_set_new(root, "argv", argv);
  json_object_set_new(root, "totals", atr_report_totals_json(m));
  json_t *kinds = json_object();
  for (unsigned k = 1; k < ATR_KIND_COUNT; k++)
    if (m->t.kinds[k])
      json_object_set_new(kinds, atr_kind_name(k), atr_json_u64(m->t.kinds[k]));
  json_object_set_new(root, "kinds", kinds);
  json_object_set_new(root, "layers", layers_json(m));
  json_object_set_new(root, "alignment", atr_report_align_json(m));
  json_t *rec = json_object();
  json_object_set_new(rec, "events", atr_json_u64(m->tr.events));
  /* events the recorder had written when it wrote END; later ones (other threads, later
   * library destructors) follow the END record */
  json_object_set_new(rec, "events_at_end",
                      m->tr.has_end ? atr_json_u64(m->tr.end.events) : json_null());
  json_object_set_new(rec, "complete", json_boolean(m->tr.has_end && !m->tr.truncated));
  json_object_set_new(rec, "truncated", json_boolean(m->tr.truncated));
  /* how the process image ended: the recorder closes a killed one's trace itself */
  unsigned fl = (unsigned)m->tr.end.flags;
  json_object_set_new(rec, "ended",
                      !m->tr.has_end ? json_null()
                      : atr_json_text(fl & ATR_END_KILLED ? "killed" : fl & ATR_END_EXEC ? "exec"
                                    : fl & ATR_END_ERROR ? "error" : "exit"));
  json_object_set_new(rec, "ring_waits", atr_json_u64(m->tr.end.waits));
  json_object_set_new(rec, "inconsistencies", atr_json_u64(m->tr.end.inconsistent));
  json_object_set_new(rec, "reordered", atr_json_u64(m->tr.end.reordered));
  json_object_set_new(rec, "stack_drops", atr_json_u64(m->tr.end.stack_drops));
  json_object_set_new(rec, "frames", atr_json_u64(m->tr.frames));
  json_object_set_new(rec, "compressed_bytes", atr_json_u64(m->tr.compressed_bytes));
  json_t *notes = json_array();
  for (size_t i = 0; i < m->tr.nnotes; i++)
    json_array_append_new(notes, atr_json_text(m->tr.notes[i]));
  json_object_set_new(rec, "notes", notes);
  json_object_set_new(root, "recorder", rec);
  json_t *topo = json_object();
  for (size_t k = 0; k < sizeof(tops) / sizeof(*tops); k++) {
    atr_callsite_t *cs;
    size_t n = atr_model_callsites(m, sym, tops[k].metric, &cs);
    json_t *a = json_array();
    for (size_t i = 0; i < n && (int)i < top; i++) {
      uint64_t v = atr_cost_metric(&cs[i].cost, tops[k].metric);
      if (!v)
        break;
      json_t *o = atr_report_frame_json(cs[i].frame);
      json_object_set_new(o, tops[k].bytes ? "bytes" : "count", atr_json_u64(v));
      json_object_set_new(o, "allocations", atr_json_u64(cs[i].cost.allocations));
      if (tops[k].metric == ATR_M_LEAKED)
        json_object_set_new(o, "blocks", atr_json_u64(cs[i].cost.leaked_blocks));
      json_object_set_new(o, "stack", atr_report_stack_json(sym, cs[i].top_node, 32));
      json_array_append_new(a, o);
    }
    free(cs);
    json_object_set_new(topo, tops[k].json, a);
  }
  json_object_set_new(root, "top", topo);
  return root;
}

static void print_text(const atr_model_t *m, atr_symbolizer_t *sym, int top) {
  char a[64], b[64], cmd[512];
  const atr_totals_t *t = &m->t;
  double secs = (double)t->duration_us / 1e6;
  atr_report_cmdline(&m->tr, cmd, sizeof(cmd));
  printf("alloctrace summary of %s (pid %llu)\n", m->tr.exe ? m->tr.exe : "?",
         (unsigned long long)m->tr.pid);
  printf("  command line:                   %s\n", cmd);
  printf("  duration:                       %.3f s\n", secs);
  printf("  calls to allocation functions:  %s (%.0f/s)\n", atr_count(a, sizeof(a), t->allocations),
         secs > 0 ? (double)t->allocations / secs : 0.0);
  printf("  frees:                          %s\n", atr_count(a, sizeof(a), t->frees));
  if (t->inherited_frees)
    printf("  frees of inherited blocks:      %s (allocated by parent %llu before the fork)\n",
           atr_count(a, sizeof(a), t->inherited_frees), (unsigned long long)m->tr.ppid);
  if (t->unknown_frees)
    printf("  frees of unknown blocks:        %s (never seen allocated: made before tracing "
           "began or by an allocator not traced)\n",
           atr_count(a, sizeof(a), t->unknown_frees));
  printf("  reallocs:                       %s\n", atr_count(a, sizeof(a), t->reallocs));
  printf("  temporary allocations:          %s (%.1f%% of calls)\n",
         atr_count(a, sizeof(a), t->temporary),
         t->allocations ? 100.0 * (double)t->temporary / (double)t->allocations : 0.0);
  printf("  allocated in total:             %s\n", atr_bytes(a, sizeof(a), (double)t->allocated_bytes));
  printf("  peak heap:                      %s at %.3f s\n", atr_bytes(a, sizeof(a), (double)t->peak_bytes),
         (double)t->peak_time_us / 1e6);
  printf("  peak RSS:                       %s\n", atr_bytes(a, sizeof(a), (double)t->peak_rss));
  printf("  leaked:                         %s in %s blocks\n",
         atr_bytes(a, sizeof(a), (double)t->leaked_bytes), atr_count(b, sizeof(b), t->leaked_blocks));
  if (t->failed)
    printf("  failed allocations:             %s\n", atr_count(a, sizeof(a), t->failed));
  printf("  seen through:                   ");
  unsigned mask = m->layers_seen | m->tr.layers;
  for (unsigned i = 0, first = 1; i < ATR_LAYER_COUNT; i++)
    if (mask & (1u << i)) {
      printf("%s%s", first ? "" : ", ", layer_names[i]);
      first = 0;
    }
  printf("\n");
  int over = 0;
  for (int i = 5; i < 16; i++)
    over += m->aligns[i].count > 0;
  if (over) {
    printf("  over-aligned allocations:      ");
    for (int i = 5; i < 16; i++)
      if (m->aligns[i].count)
        printf(" %llu x align %llu (padding <= %s)", (unsigned long long)m->aligns[i].count,
               (unsigned long long)m->aligns[i].align,
               atr_bytes(a, sizeof(a), (double)m->aligns[i].padding));
    printf("\n");
  }
  printf("  recorder:                       %s events%s, %llu ring waits, %llu inconsistencies",
         atr_count(a, sizeof(a), m->tr.events),
         m->tr.truncated ? " (last frame truncated)" : m->tr.has_end ? "" : " (no end record)",
         (unsigned long long)m->tr.end.waits, (unsigned long long)m->tr.end.inconsistent);
  if (m->tr.end.reordered)
    printf(" (%llu handoffs reordered)", (unsigned long long)m->tr.end.reordered);
  printf("\n");
  for (size_t i = 0; i < m->tr.nnotes; i++)
    printf("  note: %s\n", m->tr.notes[i]);

  for (size_t k = 0; k < sizeof(tops) / sizeof(*tops); k++) {
    atr_callsite_t *cs;
    size_t n = atr_model_callsites(m, sym, tops[k].metric, &cs);
    uint64_t total = tops[k].metric == ATR_M_PEAK      ? t->peak_bytes
                     : tops[k].metric == ATR_M_LEAKED  ? t->leaked_bytes
                     : tops[k].metric == ATR_M_TEMPORARY ? t->temporary
                                                       : t->allocations;
    if (!n || !atr_cost_metric(&cs[0].cost, tops[k].metric)) {
      free(cs);
      continue;
    }
    printf("\n%s\n", tops[k].title);
    for (size_t i = 0; i < n && (int)i < top; i++) {
      uint64_t v = atr_cost_metric(&cs[i].cost, tops[k].metric);
      if (!v)
        break;
      if (tops[k].bytes)
        atr_bytes(a, sizeof(a), (double)v);
      else
        atr_count(a, sizeof(a), v);
      printf("  %s (%.1f%%)", a, total ? 100.0 * (double)v / (double)total : 0.0);
      if (tops[k].metric == ATR_M_LEAKED)
        printf(" in %llu blocks", (unsigned long long)cs[i].cost.leaked_blocks);
      printf(" from ");
      atr_report_frame(stdout, cs[i].frame);
      printf("\n");
      atr_report_stack(stdout, sym, cs[i].top_node, "      ", 6);
    }
    free(cs);
  }
}

/* The process tree of a run's trace: one row per process image with allocations
 * (pid, parent, command, duration from its start (a fork child's from its fork), calls,
 * peak, leaked). Each image is read on its own. Images without an allocation are only
 * counted: a shell's fork children that exec at once would be clutter. */
static json_t *processes(const char *path, int json, const atr_model_t *shown) {
  atr_stream_t *st;
  size_t n;
  if (atr_trace_streams(path, &st, &n) != 0 || n < 2) {
    if (n < 2)
      free(st);
    return NULL;
  }
  uint32_t keep_pid = atr_reader_pid, keep_image = atr_reader_image, keep_stream = atr_reader_stream;
  json_t *arr = json ? json_array() : NULL;
  size_t quiet = 0;
  if (!json)
    printf("\nPROCESSES (%zu images; select one with --pid PID[.N])\n"
           "  %8s %8s %9s %12s %10s %10s  %s\n", n, "pid", "parent", "duration", "calls",
           "peak", "leaked", "command");
  for (size_t i = 0; i < n; i++) {
    /* the image the summary above is of was read already */
    int is_shown = keep_pid ? st[i].pid == keep_pid && st[i].image == keep_image
                            : st[i].stream == keep_stream;
    atr_reader_pid = 0;
    atr_reader_stream = st[i].stream;
    atr_model_t loaded, *mp = &loaded;
    if (is_shown)
      mp = (atr_model_t *)shown;
    else if (atr_model_load(&loaded, path, NULL) != 0) {
      atr_model_free(&loaded);
      continue;
    }
    const atr_model_t m = *mp;
    char cmdline[160] = "";
    for (uint64_t a = 0, used = 0; a < m.tr.argc && used + 2 < sizeof(cmdline); a++)
      used += (uint64_t)snprintf(cmdline + used, sizeof(cmdline) - used, "%s%s", a ? " " : "",
                                 m.tr.argv[a]);
    atr_utf8_trim(cmdline); /* cut between characters */
    if (json) {
      json_t *o = json_object();
      json_object_set_new(o, "pid", atr_json_u64(m.tr.pid));
      json_object_set_new(o, "ppid", atr_json_u64(m.tr.ppid));
      json_object_set_new(o, "image", atr_json_u64(st[i].image));
      json_object_set_new(o, "command", atr_json_text(cmdline));
      json_object_set_new(o, "duration_us", atr_json_u64(m.t.duration_us));
      json_object_set_new(o, "allocations", atr_json_u64(m.t.allocations));
      json_object_set_new(o, "peak_bytes", atr_json_u64(m.t.peak_bytes));
      json_object_set_new(o, "leaked_bytes", atr_json_u64(m.t.leaked_bytes));
      json_object_set_new(o, "inherited_frees", atr_json_u64(m.t.inherited_frees));
      json_array_append_new(arr, o);
    } else if (m.t.allocations == 0) {
      quiet++;
    } else {
      char pid[32], d[32], c[32], pk[32], lk[32];
      snprintf(pid, sizeof(pid), st[i].image ? "%llu.%u" : "%llu", (unsigned long long)m.tr.pid,
               st[i].image);
      snprintf(d, sizeof(d), "%.3f s", (double)m.t.duration_us / 1e6);
      printf("  %8s %8llu %9s %12s %10s %10s  %s\n", pid, (unsigned long long)m.tr.ppid, d,
             atr_count(c, sizeof(c), m.t.allocations), atr_bytes(pk, sizeof(pk), (double)m.t.peak_bytes),
             atr_bytes(lk, sizeof(lk), (double)m.t.leaked_bytes), cmdline);
    }
    if (!is_shown)
      atr_model_free(&loaded);
  }
  if (!json && quiet)
    printf("  (and %zu image%s that made no allocation)\n", quiet, quiet == 1 ? "" : "s");
  atr_reader_pid = keep_pid;
  atr_reader_image = keep_image;
  atr_reader_stream = keep_stream;
  free(st);
  return arr;
}

int atr_summary_load(atr_summary_t *s, const char *path) {
  memset(s, 0, sizeof(*s));
  atr_sym_warm_t *warm;
  atr_livelog_init(&s->log, atr_growth_log_budget());
  if (atr_growth_load(&s->m, &s->ch, &s->log, &warm, path) != 0) {
    atr_sym_warm_drop(warm);
    snprintf(s->err, sizeof(s->err), "%s", s->m.tr.error);
    return -1;
  }
  s->sym = atr_sym_new_warm(&s->m.tr, warm);
  if (!s->sym) {
    snprintf(s->err, sizeof(s->err), "%s: out of memory", path);
    return -1;
  }
  if (atr_growth_analyze(&s->g, path, &s->m, s->sym, s->ch, &s->log, s->err, sizeof(s->err)) != 0)
    return -1;
  s->analysed = 1;
  return 0;
}

void atr_summary_free(atr_summary_t *s) {
  if (s->analysed)
    atr_growth_free(&s->g);
  atr_livelog_free(&s->log);
  atr_chains_free(s->ch);
  atr_sym_free(s->sym);
  atr_model_free(&s->m);
}

/* run's lines at the end of a run: the totals, the `top` biggest sites of the peak and
 * of the leaks (no backtrace) and the growth findings, each line prefixed. */
void atr_summary_brief(FILE *to, const atr_summary_t *s, const char *prefix, int top) {
  FILE *f = atr_text_stream(to); /* names from the trace, on a terminal: sanitised */
  if (!f)
    f = to;
  const atr_model_t *m = &s->m;
  const atr_totals_t *t = &m->t;
  char a[64], b[64], c[64], d[64];
  fprintf(f, "%s%s calls to allocation functions, %s temporary; peak heap %s; leaked %s in %llu "
             "blocks\n", prefix, atr_count(a, sizeof(a), t->allocations),
          atr_count(b, sizeof(b), t->temporary), atr_bytes(c, sizeof(c), (double)t->peak_bytes),
          atr_bytes(d, sizeof(d), (double)t->leaked_bytes), (unsigned long long)t->leaked_blocks);
  for (size_t k = 0; k < 2; k++) { /* peak, leaks */
    atr_callsite_t *cs;
    size_t n = atr_model_callsites(m, s->sym, tops[k].metric, &cs);
    uint64_t total = k == 0 ? t->peak_bytes : t->leaked_bytes;
    for (size_t i = 0; i < n && (int)i < top; i++) {
      uint64_t v = atr_cost_metric(&cs[i].cost, tops[k].metric);
      if (!v)
        break;
      fprintf(f, "%s  %s %s (%.1f%%) from ", prefix, k == 0 ? "peak: " : "leaks:",
              atr_bytes(a, sizeof(a), (double)v), total ? 100.0 * (double)v / (double)total : 0.0);
      atr_report_frame(f, cs[i].frame);
      fprintf(f, "\n");
    }
    free(cs);
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *g = open_memstream(&buf, &len);
  if (g) {
    atr_growth_print_summary(g, &s->g, top);
    fclose(g);
    for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
      nl = strchr(line, '\n');
      if (nl)
        *nl = 0;
      if (*line)
        fprintf(f, "%s%s\n", prefix, line);
    }
    free(buf);
  }
  if (f != to)
    fclose(f);
}

int cmd_summary(int argc, char **argv) {
  int json = 0, top = 10;
  static const struct option opts[] = {
      {"json", no_argument, 0, 'j'}, {"top", required_argument, 0, 'n'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "+jn:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = 1;
      break;
    case 'n':
      top = atoi(optarg);
      if (top <= 0)
        atr_usage_error("--top needs a positive number, not '%s'", optarg);
      break;
    case 'h':
      printf("usage: alloctrace summary [--json] [--top N] TRACE\n");
      return 0;
    default:
      atr_bad_option(argv, "usage: alloctrace summary [--json] [--top N] TRACE");
    }
  }
  if (optind + 1 != argc)
    atr_usage_error("summary needs exactly one trace file (usage: alloctrace summary [--json] TRACE)");
  atr_summary_t S;
  if (atr_summary_load(&S, argv[optind]) != 0)
    atr_input_error(S.err);
  atr_report_truncated(&S.m.tr, argv[optind]);
  if (json) {
    json_t *root = atr_summary_json(&S.m, S.sym, top);
    json_object_set_new(root, "growth", atr_growth_summary_json(&S.g, 3));
    json_t *procs = processes(argv[optind], 1, &S.m);
    if (procs)
      json_object_set_new(root, "processes", procs);
    atr_json_print(root);
  } else {
    atr_text_stdout(); /* names and argv from the trace: no control bytes reach a terminal */
    print_text(&S.m, S.sym, top);
    atr_growth_print_summary(stdout, &S.g, 3);
    processes(argv[optind], 0, &S.m);
  }
  atr_summary_free(&S);
  return 0;
}
