/* placeholder until the check command lands (same session) */
#include "commands.h"
int atr_check_run(const char *trace, const char *budget_file) {
  (void)trace;
  (void)budget_file;
  return 2;
}
