/* `alloctrace timeline [--csv|--json] [--interval MS] [--top N] TRACE`: the heap over
 * time: live requested bytes, RSS, allocation and free rates, and the live bytes of the
 * top N call sites, the rest as "other" (CSV by default). JSON schema
 * "alloctrace.timeline/1" (docs/json.md); scripts/plot_timeline.py draws it.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "escape.h"
#include "growth.h"
#include "timeline.h"
#include "report.h"
#include "util.h"

#define USAGE "usage: alloctrace timeline [--csv|--json] [--interval MS] [--top N] TRACE"

int cmd_timeline(int argc, char **argv) {
  int json = 0, csv = 0, top = 8;
  double interval_ms = 0;
  static const struct option opts[] = {
      {"json", no_argument, 0, 'j'},           {"csv", no_argument, 0, 'c'},
      {"interval", required_argument, 0, 'i'}, {"top", required_argument, 0, 'n'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "jci:n:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = 1;
      break;
    case 'c':
      csv = 1;
      break;
    case 'i':
      interval_ms = atr_flag_interval_ms("--interval", optarg);
      break;
    case 'n':
      top = atr_flag_count("--top", optarg, 1000);
      break;
    case 'h':
      printf("%s\n", USAGE);
      return 0;
    default:
      atr_bad_option(argv, USAGE);
    }
  }
  if (json && csv)
    atr_usage_error("--csv and --json exclude each other");
  if (optind + 1 != argc)
    atr_usage_error("timeline needs exactly one trace file (" USAGE ")");
  const char *path = argv[optind];
  atr_model_t m;
  atr_chains_t *ch;
  if (atr_growth_load(&m, &ch, NULL, NULL, path) != 0)
    atr_input_error(m.tr.error);
  atr_report_truncated(&m.tr, path);
  atr_symbolizer_t *sym = atr_sym_new(&m.tr);
  if (!sym)
    atr_input_error("out of memory");
  char err[600];
  if (!json)
    atr_text_stdout(); /* the CSV's names come from the trace: no control bytes */
  int rc = atr_timeline_write(stdout, path, &m, sym, ch, interval_ms, top, !json, err, sizeof(err));
  if (rc == -2)
    atr_usage_error("%s", err);
  if (rc != 0)
    atr_input_error(err);
  atr_chains_free(ch);
  atr_sym_free(sym);
  atr_model_free(&m);
  return 0;
}
