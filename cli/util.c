/* Shared CLI helpers (see util.h). */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *atr_cmd = "alloctrace";

void atr_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", atr_cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(ATR_EXIT_USAGE);
}

void atr_input_error(const char *msg) {
  fprintf(stderr, "%s: %s\n", atr_cmd, msg);
  exit(ATR_EXIT_USAGE);
}

void atr_bad_option(char **argv, const char *usage) {
  /* getopt has already stepped past the bad word (unknown option, or one missing its
   * value); optopt names a bad short option inside a cluster such as -jx. */
  const char *word = optind > 0 ? argv[optind - 1] : "?";
  if (strncmp(word, "--", 2) != 0 && optopt > ' ' && optopt < 127)
    fprintf(stderr, "%s: bad option '-%c' (unknown, or missing its value); %s\n", atr_cmd,
            optopt, usage);
  else
    fprintf(stderr, "%s: bad option '%s' (unknown, or missing its value); %s\n", atr_cmd, word,
            usage);
  exit(ATR_EXIT_USAGE);
}

void atr_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: warning: ", atr_cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

#ifdef ATR_DEBUG
void atr__assert_fail(const char *what, const char *file, int line) {
  fprintf(stderr, "%s: assertion failed: %s (%s:%d)\n", atr_cmd, what, file, line);
  abort();
}
#endif

const char *atr_bytes(char *buf, size_t n, double b) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = b < 0 ? -b : b;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (b < 0)
    v = -v;
  if (u == 0)
    snprintf(buf, n, "%.0f B", v);
  else
    snprintf(buf, n, "%.2f %s", v, units[u]);
  return buf;
}

const char *atr_count(char *buf, size_t n, uint64_t v) {
  char tmp[32];
  int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
  size_t o = 0;
  for (int i = 0; i < len && o + 2 < n; i++) {
    if (i && (len - i) % 3 == 0)
      buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = 0;
  return buf;
}

int atr_parse_size(const char *s, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-')
    return -1;
  double v = strtod(s, &end);
  if (end == s || !isfinite(v) || v < 0)
    return -1;
  while (*end == ' ')
    end++;
  double mul = 1;
  if (*end) {
    char c = (char)tolower((unsigned char)*end);
    int binary = end[1] == 'i' || end[1] == 'I';
    double base = binary ? 1024.0 : 1000.0;
    switch (c) {
    case 'k': mul = base; break;
    case 'm': mul = base * base; break;
    case 'g': mul = base * base * base; break;
    case 't': mul = base * base * base * base; break;
    case 'b': mul = 1; break;
    default: return -1;
    }
    const char *rest = end + 1 + binary;
    if (c != 'b' && (*rest == 'B' || *rest == 'b'))
      rest++;
    if (*rest)
      return -1;
  }
  double r = v * mul;
  if (r > 1.8e19)
    return -1;
  *out = (uint64_t)llround(r);
  return 0;
}

int atr_parse_tolerance(const char *s, double *value, int *rel) {
  size_t n = s ? strlen(s) : 0;
  if (n > 1 && s[n - 1] == '%') {
    char *end;
    double v = strtod(s, &end);
    if (end != s + n - 1 || !isfinite(v) || v < 0)
      return -1;
    *value = v / 100.0;
    *rel = 1;
    return 0;
  }
  uint64_t b;
  if (atr_parse_size(s, &b) != 0)
    return -1;
  *value = (double)b;
  *rel = 0;
  return 0;
}

void atr_json_print(json_t *v) {
  json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  fputc('\n', stdout);
  json_decref(v);
}

json_t *atr_json_u64(uint64_t v) {
  return v > (uint64_t)INT64_MAX ? json_real((double)v) : json_integer((json_int_t)v);
}

int atr_find_beside_self(const char *env, const char *const *patterns, size_t npatterns,
                         int mode, char *out, size_t n) {
  const char *v = env ? getenv(env) : NULL;
  if (v && *v) {
    snprintf(out, n, "%s", v);
    return access(out, mode);
  }
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0)
    return -1;
  self[len] = 0;
  char *dir = dirname(self);
  for (size_t i = 0; i < npatterns; i++) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), patterns[i], dir);
    if (n >= PATH_MAX && realpath(p, out) && access(out, mode) == 0)
      return 0;
  }
  return -1;
}

int atr_flag_count(const char *flag, const char *arg, long max) {
  char *end;
  long v = strtol(arg, &end, 10);
  if (end == arg || *end || v <= 0 || v > max)
    atr_usage_error("%s needs a number from 1 to %ld, not '%s'", flag, max, arg);
  return (int)v;
}

double atr_flag_interval_ms(const char *flag, const char *arg) {
  char *end;
  double v = strtod(arg, &end);
  if (end == arg || *end || !isfinite(v) || v < 0.001 || v > 1e9)
    atr_usage_error("%s needs milliseconds (0.001 or more), not '%s'", flag, arg);
  return v;
}
