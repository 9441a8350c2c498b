/* Every subcommand's entry point; main.c dispatches on the table of these. Each
 * returns the process exit code and reports its own errors (one line, exit 2).
 */
#ifndef ATR_COMMANDS_H
#define ATR_COMMANDS_H

#include <jansson.h>

#include <stdio.h>

#include "growth.h"
#include "model.h"

int cmd_run(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_growth(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_replay(int argc, char **argv);

/* run --check: checks TRACE against the budget file; returns 0 pass, 1 fail, 2 error */
int atr_check_run(const char *trace, const char *budget_file);
/* run --check, before running: 0 if the budget file is readable and valid, else -1 after
 * printing the problem (one line) */
int atr_check_validate(const char *budget_file);

/* summary --json document, shared with run's check and the flame graph header */
json_t *atr_summary_json(const atr_model_t *m, atr_symbolizer_t *sym, int top);

/* What `summary` computes for one process image of a trace: the model with the growth
 * tracker (one pass, a second only when the live log outgrew its budget), the
 * symbolizer and the growth analysis. Shared by summary and run's end-of-run lines. */
typedef struct {
  atr_model_t m;
  atr_chains_t *ch;
  atr_livelog_t log;
  atr_symbolizer_t *sym;
  atr_growth_t g;
  int analysed;
  char err[600];
} atr_summary_t;
int atr_summary_load(atr_summary_t *s, const char *path); /* 0, or -1 and s->err */
void atr_summary_brief(FILE *f, const atr_summary_t *s, const char *prefix, int top);
void atr_summary_free(atr_summary_t *s);

#endif
