/* JUnit XML reports (the format GitHub Actions test reporters, GitLab and Jenkins read):
 * one <testsuite> with one <testcase> per check, a <failure> carrying the short message.
 * Never writes text that is not well-formed XML 1.0: escapes markup, replaces control
 * characters and invalid UTF-8.
 */
#ifndef ATR_JUNIT_H
#define ATR_JUNIT_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
  const char *name;    /* testcase name: "peak", "leaked under parse_*" */
  int failed;
  const char *message; /* one line, for the failure's message attribute */
  const char *details; /* the failure's text: responsible call sites with stacks */
  const char *output;  /* <system-out> of a passing case (may be NULL) */
} atr_junit_case_t;

/* Writes the report; 0, or -1 with err set to "FILE: reason". */
int atr_junit_write(const char *path, const char *suite, const atr_junit_case_t *cases, size_t n,
                    double seconds, char *err, size_t errn);

#endif
