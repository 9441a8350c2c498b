/* `alloctrace growth [--json] [--top N] TRACE`: growth chains per call site (sizes,
 * factor, moves, bytes copied, the up-front reservation that avoids them), leak suspects
 * (live bytes that grow steadily until exit) and the size and alignment histograms.
 * JSON schema "alloctrace.growth/1" (docs/json.md); scripts/plot_growth.py draws it.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "escape.h"
#include "growth.h"
#include "report.h"
#include "util.h"

#define USAGE "usage: alloctrace growth [--json] [--top N] TRACE"

int cmd_growth(int argc, char **argv) {
  int json = 0, top = 10;
  static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                       {"top", required_argument, 0, 'n'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "jn:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = 1;
      break;
    case 'n':
      top = atr_flag_count("--top", optarg, 1000000);
      break;
    case 'h':
      printf("%s\n", USAGE);
      return 0;
    default:
      atr_bad_option(argv, USAGE);
    }
  }
  if (optind + 1 != argc)
    atr_usage_error("growth needs exactly one trace file (" USAGE ")");
  const char *path = argv[optind];
  atr_model_t m;
  atr_chains_t *ch;
  atr_livelog_t log;
  atr_sym_warm_t *warm;
  atr_livelog_init(&log, atr_growth_log_budget());
  if (atr_growth_load(&m, &ch, &log, &warm, path) != 0) {
    atr_sym_warm_drop(warm);
    atr_input_error(m.tr.error);
  }
  atr_report_truncated(&m.tr, path);
  atr_symbolizer_t *sym = atr_sym_new_warm(&m.tr, warm);
  if (!sym)
    atr_input_error("out of memory");
  atr_growth_t g;
  char err[600];
  if (atr_growth_analyze(&g, path, &m, sym, ch, &log, err, sizeof(err)) != 0)
    atr_input_error(err);
  if (json)
    atr_json_print(atr_growth_json(&g, &m, sym, top));
  else {
    atr_text_stdout(); /* names from the trace: no control bytes reach a terminal */
    atr_growth_print(stdout, &g, &m, sym, top);
  }
  atr_growth_free(&g);
  atr_livelog_free(&log);
  atr_chains_free(ch);
  atr_sym_free(sym);
  atr_model_free(&m);
  return 0;
}
