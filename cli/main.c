/* alloctrace: the subcommand table and nothing else. Each command parses its own
 * flags, prints its own output and chooses its exit code (0 ok, 1 check failed,
 * 2 usage or input error).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "reader.h"
#include "config.h"
#include "util.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"run", cmd_run, "trace a program: run [-o FILE] [--unwind=libunwind|fp] [--no-follow] -- CMD ARGS"},
    {"summary", cmd_summary, "totals and top call sites: summary [--json] TRACE"},
    {"flamegraph", cmd_flamegraph, "flame graphs and profiles: flamegraph [--format html|svg|folded|pprof|speedscope] [--metric M] [--inverted] [--min-percent X] [-o OUT] TRACE | --diff BASE NEW"},
    {"dump", cmd_dump, "every event as JSON lines: dump TRACE"},
    {"check", cmd_check, "CI memory checks: check TRACE [--max-peak SIZE] [--budget FILE] [--baseline BASE] [--json] [--junit FILE]"},
    {"diff", cmd_diff, "what changed per metric and call site: diff BASE NEW [--json]"},
    {"timeline", cmd_timeline, "heap, RSS, rates and top call sites over time: timeline [--csv|--json] [--interval MS] [--top N] TRACE"},
    {"growth", cmd_growth, "realloc/growth chains, leak suspects, size and alignment histograms: growth [--json] [--top N] TRACE"},
    {"plot", cmd_plot, "matplotlib PNGs of timeline and growth: plot [-o DIR] [--replay FILE] [--svg] TRACE"},
    {"replay", cmd_replay, "time and RSS of the recorded allocations under each allocator: replay TRACE [--allocator glibc|jemalloc|mimalloc|tcmalloc|PATH.so]... [--repeat N] [--order recorded|deps] [--json] [-o JSON_FILE]"},
};

static int usage(FILE *out) {
  fprintf(out, "usage: alloctrace COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
  return out == stdout ? 0 : ATR_EXIT_USAGE;
}

/* --pid PID[.N] (any command but run): which process of a run's trace every command
 * reads (the reader's selection, reader.h); N counts the images a pid exec'd. */
static int take_pid_option(int *argc, char **argv) {
  for (int i = 2; i < *argc && strcmp(argv[i], "--") != 0; i++) {
    const char *v = NULL;
    int used = 0;
    if (strcmp(argv[i], "--pid") == 0 && i + 1 < *argc) {
      v = argv[i + 1];
      used = 2;
    } else if (strncmp(argv[i], "--pid=", 6) == 0) {
      v = argv[i] + 6;
      used = 1;
    }
    if (!v)
      continue;
    if (atr_reader_select(v) != 0) {
      fprintf(stderr, "alloctrace %s: --pid wants PID or PID.N, not '%s'\n", argv[1], v);
      return -1;
    }
    memmove(argv + i, argv + i + used, (size_t)(*argc - i - used + 1) * sizeof(*argv));
    *argc -= used;
    i--;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "run") != 0 && take_pid_option(&argc, argv) != 0)
    return ATR_EXIT_USAGE;
  if (argc < 2)
    return usage(stderr);
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
    return usage(stdout);
  if (strcmp(argv[1], "--version") == 0) {
    printf("alloctrace %s\n", ATR_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
    if (strcmp(argv[1], commands[i].name) == 0) {
      static char label[64];
      snprintf(label, sizeof(label), "alloctrace %s", commands[i].name);
      atr_cmd = label;
      opterr = 0; /* commands report a bad option in one line (atr_bad_option) */
      return commands[i].fn(argc - 1, argv + 1);
    }
  }
  fprintf(stderr, "alloctrace: unknown command '%s' (try alloctrace --help)\n", argv[1]);
  return ATR_EXIT_USAGE;
}
