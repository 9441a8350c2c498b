/* JUnit XML writer (see junit.h). Writes through atr_outfile (a temporary of its own
 * beside the target, renamed over it), so a CI step never reads a half-written report
 * and a planted symlink redirects nothing.
 * Never emits a byte that would make the document ill-formed (escape.c's XML text).
 */
#define _GNU_SOURCE
#include "junit.h"

#include <stdint.h>
#include <stdio.h>

#include "escape.h"
#include "outfile.h"

int atr_junit_write(const char *path, const char *suite, const atr_junit_case_t *cases, size_t n,
                    double seconds, char *err, size_t errn) {
  atr_outfile_t of;
  char why[600];
  if (atr_outfile_open(&of, path, why, sizeof(why)) != 0) {
    snprintf(err, errn, "%s: cannot write the JUnit report: %s", path, why);
    return -1;
  }
  FILE *f = of.f;
  size_t failures = 0;
  for (size_t i = 0; i < n; i++)
    failures += cases[i].failed != 0;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(f, "<testsuites name=\"alloctrace\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n",
          n, failures, seconds);
  fputs("  <testsuite name=\"", f);
  atr_xml_text(f, suite, SIZE_MAX, 1);
  fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n", n,
          failures, seconds);
  for (size_t i = 0; i < n; i++) {
    const atr_junit_case_t *c = &cases[i];
    fputs("    <testcase classname=\"", f);
    atr_xml_text(f, suite, SIZE_MAX, 1);
    fputs("\" name=\"", f);
    atr_xml_text(f, c->name, SIZE_MAX, 1);
    fputs("\" time=\"0\"", f);
    if (!c->failed && !c->output) {
      fputs("/>\n", f);
      continue;
    }
    fputs(">\n", f);
    if (c->failed) {
      fputs("      <failure type=\"alloctrace.check\" message=\"", f);
      atr_xml_text(f, c->message, SIZE_MAX, 1);
      fputs("\">", f);
      atr_xml_text(f, c->details ? c->details : c->message, SIZE_MAX, 0);
      fputs("</failure>\n", f);
    } else {
      fputs("      <system-out>", f);
      atr_xml_text(f, c->output, SIZE_MAX, 0);
      fputs("</system-out>\n", f);
    }
    fputs("    </testcase>\n", f);
  }
  fputs("  </testsuite>\n</testsuites>\n", f);
  if (atr_outfile_commit(&of, why, sizeof(why)) != 0) {
    snprintf(err, errn, "%s: cannot write the JUnit report: %s", path, why);
    return -1;
  }
  return 0;
}
