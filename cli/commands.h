/* Every subcommand's entry point; main.c dispatches on the table of these. Each
 * returns the process exit code and reports its own errors (one line, exit 2).
 */
#ifndef ATR_COMMANDS_H
#define ATR_COMMANDS_H

#include <jansson.h>

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

#endif
