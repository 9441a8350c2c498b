/* JUnit XML writer (see junit.h). Writes to a temporary name next to the target and
 * renames, so a CI step never reads a half-written report.
 * Never emits a byte that would make the document ill-formed.
 */
#define _GNU_SOURCE
#include "junit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* length of the valid UTF-8 sequence at s, 0 if invalid */
static size_t utf8_len(const unsigned char *s) {
  if (s[0] < 0x80)
    return 1;
  size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
  if (!n || (n == 3 && s[0] >= 0xF0))
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  uint32_t cp = n == 2 ? (uint32_t)(s[0] & 0x1F) : n == 3 ? (uint32_t)(s[0] & 0x0F) : (uint32_t)(s[0] & 0x07);
  for (size_t i = 1; i < n; i++)
    cp = (cp << 6) | (s[i] & 0x3F);
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return 0;
  return n;
}

void atr_xml_escape(FILE *out, const char *str, int attr) {
  const unsigned char *s = (const unsigned char *)(str ? str : "");
  while (*s) {
    switch (*s) {
    case '&': fputs("&amp;", out); s++; continue;
    case '<': fputs("&lt;", out); s++; continue;
    case '>': fputs("&gt;", out); s++; continue;
    case '"': fputs("&quot;", out); s++; continue;
    case '\'': fputs("&apos;", out); s++; continue;
    case '\n': fputs(attr ? "&#10;" : "\n", out); s++; continue;
    case '\t': fputs(attr ? "&#9;" : "\t", out); s++; continue;
    default: break;
    }
    if (*s < 0x20) { /* not allowed in XML 1.0, not even as a reference */
      fputc('?', out);
      s++;
      continue;
    }
    size_t n = utf8_len(s);
    if (!n) {
      fputc('?', out);
      s++;
      continue;
    }
    fwrite(s, 1, n, out);
    s += n;
  }
}

int atr_junit_write(const char *path, const char *suite, const atr_junit_case_t *cases, size_t n,
                    double seconds, char *err, size_t errn) {
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(err, errn, "%s: cannot write the JUnit report: %s", path, strerror(errno));
    return -1;
  }
  size_t failures = 0;
  for (size_t i = 0; i < n; i++)
    failures += cases[i].failed != 0;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(f, "<testsuites name=\"alloctrace\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n",
          n, failures, seconds);
  fputs("  <testsuite name=\"", f);
  atr_xml_escape(f, suite, 1);
  fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n", n,
          failures, seconds);
  for (size_t i = 0; i < n; i++) {
    const atr_junit_case_t *c = &cases[i];
    fputs("    <testcase classname=\"", f);
    atr_xml_escape(f, suite, 1);
    fputs("\" name=\"", f);
    atr_xml_escape(f, c->name, 1);
    fputs("\" time=\"0\"", f);
    if (!c->failed && !c->output) {
      fputs("/>\n", f);
      continue;
    }
    fputs(">\n", f);
    if (c->failed) {
      fputs("      <failure type=\"alloctrace.check\" message=\"", f);
      atr_xml_escape(f, c->message, 1);
      fputs("\">", f);
      atr_xml_escape(f, c->details ? c->details : c->message, 0);
      fputs("</failure>\n", f);
    } else {
      fputs("      <system-out>", f);
      atr_xml_escape(f, c->output, 0);
      fputs("</system-out>\n", f);
    }
    fputs("    </testcase>\n", f);
  }
  fputs("  </testsuite>\n</testsuites>\n", f);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
    snprintf(err, errn, "%s: cannot write the JUnit report: %s", path, strerror(errno ? errno : EIO));
    unlink(tmp);
    return -1;
  }
  return 0;
}
