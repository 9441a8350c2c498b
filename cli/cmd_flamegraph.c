/* `alloctrace flamegraph [--format html|svg|folded|pprof|speedscope] [--metric M] [--inverted]
 * [--min-percent X] [-o OUT] TRACE` and `--diff BASE NEW`: allocation flame graphs.
 * html is one self-contained page (no network); svg is static; folded is for FlameGraph,
 * inferno; pprof is for go tool pprof and the profile stores; speedscope for speedscope.
 * Only this file prints and picks exit codes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "escape.h"
#include "flame.h"
#include "growth.h"
#include "outfile.h"
#include "report.h"
#include "util.h"

enum { F_HTML, F_SVG, F_FOLDED, F_PPROF, F_SPEEDSCOPE, F_COUNT };

static const struct {
  const char *name, *ext; /* ext: the default file name's, NULL: standard output */
} formats[F_COUNT] = {
    [F_HTML] = {"html", "html"},
    [F_SVG] = {"svg", "svg"},
    [F_FOLDED] = {"folded", NULL},
    [F_PPROF] = {"pprof", "pb.gz"},
    [F_SPEEDSCOPE] = {"speedscope", "speedscope.json"},
};

/* Default merging: the page must stay a few MB for any trace, the SVG readable; folded
 * stacks are for other tools and keep every stack. */
#define HTML_MIN_PERCENT 0.1
#define SVG_MIN_PERCENT 0.01 /* about 0.1 px, as flamegraph.pl's --minwidth */
#define HTML_MAX_NODES 40000

static const char usage_text[] =
    "usage: alloctrace flamegraph [--format html|svg|folded|pprof|speedscope] [--metric "
    "peak|leaked|allocated|allocations|temporary] [--inverted] [--min-percent X] [-o OUT] TRACE\n"
    "       alloctrace flamegraph --diff [options] BASE NEW";

typedef struct {
  atr_model_t m;
  atr_symbolizer_t *sym;
  atr_ftime_rec_t *rec; /* the time view's buckets, recorded while loading (html) */
  atr_livelog_t log;    /* and the live bytes per stack over time, for its snapshots */
} loaded_t;

static void start_warming(void *ctx, const atr_trace_t *tr) {
  *(atr_sym_warm_t **)ctx = atr_sym_warm_start(tr);
}

/* One pass over the trace; the symbolizer loads debug information meanwhile. */
static void load(loaded_t *l, const char *path, int time_view) {
  atr_sym_warm_t *warm = NULL;
  atr_model_opts_t o = {.started = start_warming, .started_ctx = &warm};
  atr_livelog_init(&l->log, time_view ? atr_growth_log_budget() : 0);
  if (time_view) {
    if (!(l->rec = atr_flame_time_rec_new(&l->m)))
      atr_input_error("out of memory");
    o.chain = atr_flame_time_rec_visitor(l->rec);
    o.log = &l->log;
  }
  if (atr_model_load_ex(&l->m, path, &o) != 0) {
    atr_sym_warm_drop(warm);
    atr_input_error(l->m.tr.error);
  }
  atr_report_truncated(&l->m.tr, path);
  l->sym = atr_sym_new_warm(&l->m.tr, warm);
  if (!l->sym)
    atr_input_error("out of memory");
}

static const char *default_output(const char *trace, int format, char *buf, size_t n) {
  const char *base = strrchr(trace, '/');
  base = base ? base + 1 : trace;
  size_t len = strlen(base);
  if (len > 4 && strcmp(base + len - 4, ".zst") == 0)
    len -= 4;
  snprintf(buf, n, "%.*s.%s", (int)len, base, formats[format].ext);
  return buf;
}

/* The output file (or standard output), fully buffered. A file is written through
 * atr_outfile: a temporary of ours renamed over the target once complete, so a failed
 * write leaves the old file as it was and a planted symlink redirects nothing. */
typedef struct {
  FILE *out;
  const char *path; /* NULL: standard output */
  atr_outfile_t file;
} output_t;

static void open_output(output_t *o, const char *path) {
  static char buf[1 << 20];
  o->out = stdout;
  o->path = path && strcmp(path, "-") != 0 ? path : NULL;
  if (o->path) {
    char why[512];
    if (atr_outfile_open(&o->file, o->path, why, sizeof(why)) != 0) {
      fprintf(stderr, "%s: cannot write %s: %s\n", atr_cmd, o->path, why);
      exit(ATR_EXIT_USAGE);
    }
    o->out = o->file.f;
  }
  setvbuf(o->out, buf, _IOFBF, sizeof(buf));
}

/* rc: the writer's (0, -1 write failed, -2 the embedded template is damaged). Returns 0
 * or -1 after printing the one-line error. */
static int close_output(output_t *o, int rc) {
  char why[512];
  int bad;
  if (!o->path) {
    errno = 0;
    bad = fflush(o->out) != 0 || rc != 0;
    snprintf(why, sizeof(why), "%s", strerror(errno ? errno : EIO));
  } else if (rc != 0) {
    int e = errno ? errno : EIO;
    atr_outfile_abort(&o->file);
    snprintf(why, sizeof(why), "%s", strerror(e));
    bad = 1;
  } else {
    bad = atr_outfile_commit(&o->file, why, sizeof(why)) != 0;
  }
  if (!bad)
    return 0;
  if (rc == -2)
    fprintf(stderr, "%s: internal error: the embedded page template is damaged\n", atr_cmd);
  else
    fprintf(stderr, "%s: cannot write %s: %s\n", atr_cmd, o->path ? o->path : "standard output",
            why);
  return -1;
}

int cmd_flamegraph(int argc, char **argv) {
  int format = F_HTML, metric = ATR_M_PEAK, inverted = 0, diff = 0;
  double min_percent = -1;
  const char *output = NULL;
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"format", required_argument, 0, 'f'},
                                       {"metric", required_argument, 0, 'm'},
                                       {"inverted", no_argument, 0, 'i'},
                                       {"min-percent", required_argument, 0, 'p'},
                                       {"diff", no_argument, 0, 'd'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "o:f:m:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      output = optarg;
      break;
    case 'f':
      for (format = 0; format < F_COUNT && strcmp(optarg, formats[format].name) != 0;)
        format++;
      if (format == F_COUNT)
        atr_usage_error("unknown --format '%s' (html, svg, folded, pprof or speedscope)", optarg);
      break;
    case 'm':
      metric = atr_metric_parse(optarg);
      if (metric < 0)
        atr_usage_error("unknown --metric '%s' (peak, leaked, allocated, allocations or temporary)",
                        optarg);
      break;
    case 'i':
      inverted = 1;
      break;
    case 'p': {
      char *end;
      min_percent = strtod(optarg, &end);
      if (end == optarg || *end || !isfinite(min_percent) || min_percent < 0 || min_percent >= 100)
        atr_usage_error("--min-percent needs a number from 0 to below 100, not '%s'", optarg);
      break;
    }
    case 'd':
      diff = 1;
      break;
    case 'h':
      printf("%s\n", usage_text);
      return 0;
    default:
      atr_bad_option(argv, "usage: alloctrace flamegraph [options] TRACE | --diff [options] BASE NEW (see --help)");
    }
  }
  if (optind + (diff ? 2 : 1) != argc)
    atr_usage_error(diff ? "--diff needs two trace files, BASE and NEW (%s)"
                         : "flamegraph needs exactly one trace file (%s)",
                    "try alloctrace flamegraph --help");

  if (format == F_PPROF && (diff || inverted || min_percent >= 0))
    atr_usage_error("--format pprof takes no %s (pprof compares, inverts and trims by itself)",
                    diff ? "--diff" : inverted ? "--inverted" : "--min-percent");
  if (format == F_SPEEDSCOPE && (diff || inverted))
    atr_usage_error("--format speedscope takes no %s (its sandwich view shows callers)",
                    diff ? "--diff" : "--inverted");

  loaded_t base = {0}, cur = {0};
  if (diff)
    load(&base, argv[optind], 0);
  load(&cur, argv[argc - 1], format == F_HTML);

  char name[4096];
  if (!output && formats[format].ext && isatty(STDOUT_FILENO))
    output = default_output(argv[argc - 1], format, name, sizeof(name));
  if (format == F_PPROF) {
    output_t o;
    open_output(&o, output);
    int rc = atr_flame_write_pprof(o.out, &cur.m, cur.sym, metric);
    if (close_output(&o, rc) != 0)
      return ATR_EXIT_USAGE;
    atr_sym_free(cur.sym);
    atr_model_free(&cur.m);
    return 0;
  }

  atr_flame_t raw, tree;
  uint32_t *map = NULL;
  if (atr_flame_init(&raw) != 0 || (diff && atr_flame_add(&raw, &base.m, base.sym, 1, NULL) != 0) ||
      atr_flame_add(&raw, &cur.m, cur.sym, 0, &map) != 0)
    atr_input_error("out of memory building the flame graph");
  if (diff) {
    atr_sym_free(base.sym);
    atr_model_free(&base.m);
  }
  atr_sym_free(cur.sym);

  /* Merge small subtrees into "[other]"; by default keep the page bounded in size. */
  size_t nmap = cur.m.tr.nnodes;
  uint32_t *map0 = malloc((nmap ? nmap : 1) * sizeof(uint32_t));
  if (!map0)
    atr_input_error("out of memory");
  memcpy(map0, map, nmap * sizeof(uint32_t));
  int user_min = min_percent >= 0;
  if (!user_min)
    min_percent = format == F_HTML ? HTML_MIN_PERCENT
                  : format == F_SVG || format == F_SPEEDSCOPE ? SVG_MIN_PERCENT : 0;
  /* the page and speedscope's file show every metric: a subtree stays if one metric needs it */
  int all_metrics = format == F_HTML || format == F_SPEEDSCOPE;
  unsigned mask = all_metrics ? (1u << ATR_M_COUNT) - 1 : 1u << metric;
  for (;;) {
    if (atr_flame_prune(&raw, min_percent / 100.0, mask, &tree, map, nmap) != 0)
      atr_input_error("out of memory building the flame graph");
    if (format != F_HTML || user_min || tree.nnodes <= HTML_MAX_NODES || min_percent >= 50)
      break;
    atr_flame_free(&tree);
    memcpy(map, map0, nmap * sizeof(uint32_t));
    min_percent *= 2;
  }
  free(map0);
  atr_flame_free(&raw);

  if (format == F_SVG && inverted) {
    atr_flame_t inv;
    if (atr_flame_invert(&tree, &inv) != 0)
      atr_input_error("out of memory building the flame graph");
    atr_flame_free(&tree);
    tree = inv;
  }

  atr_ftime_t tv;
  int have_time = 0;
  if (all_metrics) {
    char err[600];
    if (atr_flame_time(&cur.m, map, tree.nnodes, cur.rec, &cur.log, &tv, err, sizeof(err)) != 0)
      atr_input_error(err);
    have_time = 1;
  }
  atr_flame_time_rec_free(cur.rec);
  atr_livelog_free(&cur.log);
  free(map);

  output_t o;
  open_output(&o, output);
  atr_flame_doc_t doc = {&cur.m, &tree, have_time ? &tv : NULL, metric, inverted};
  int rc;
  if (format == F_FOLDED) {
    /* plain text, often on a terminal: names through the text sanitiser (escape.h) */
    FILE *text = atr_text_stream(o.out);
    rc = text ? atr_flame_write_folded(text, &doc) : -1;
    if (text && fclose(text) != 0)
      rc = -1;
  } else {
    rc = format == F_HTML         ? atr_flame_write_html(o.out, &doc)
         : format == F_SVG        ? atr_flame_write_svg(o.out, &doc)
                                  : atr_flame_write_speedscope(o.out, &doc);
  }
  if (close_output(&o, rc) != 0)
    return ATR_EXIT_USAGE;
  if (o.path && isatty(STDERR_FILENO))
    fprintf(stderr, "%s: wrote %s (%zu frames)\n", atr_cmd, output, tree.nnodes);
  if (have_time)
    atr_flame_time_free(&tv);
  atr_flame_free(&tree);
  atr_model_free(&cur.m);
  return 0;
}
