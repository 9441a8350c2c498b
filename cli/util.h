/* Small helpers shared by the commands: byte and duration formatting, size and
 * percentage parsing, the one-line error convention (exit 2) and JSON output.
 * Never exits by itself except through atr_usage_error / atr_input_error.
 */
#ifndef ATR_UTIL_H
#define ATR_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Invariants, checked in debug and sanitizer builds (meson.build defines ATR_DEBUG there)
 * and compiled out of the default build the benchmarks measure. */
#ifdef ATR_DEBUG
void atr__assert_fail(const char *what, const char *file, int line)
    __attribute__((noreturn, cold));
#define ATR_ASSERT(c) (__builtin_expect(!!(c), 1) ? (void)0 : atr__assert_fail(#c, __FILE__, __LINE__))
#else
#define ATR_ASSERT(c) ((void)0)
#endif

#define ATR_EXIT_FAIL 1  /* a check failed */
#define ATR_EXIT_USAGE 2 /* bad flags or input files */

extern const char *atr_cmd; /* "alloctrace summary" etc., for messages */

void atr_usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void atr_input_error(const char *msg) __attribute__((noreturn));
/* For getopt's '?' (main.c sets opterr = 0 so getopt prints nothing): one line naming
 * the offending option, then exit 2. */
void atr_bad_option(char **argv, const char *usage) __attribute__((noreturn));
void atr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *atr_bytes(char *buf, size_t n, double bytes); /* "1.50 MiB" */
const char *atr_count(char *buf, size_t n, uint64_t v);   /* "1,234,567" */
/* "64MiB", "1.5G", "1000", "10k" -> bytes; -1 on error */
int atr_parse_size(const char *s, uint64_t *out);
/* Flag values, or a one-line usage error (exit 2) naming the flag. */
int atr_flag_count(const char *flag, const char *arg, long max);   /* 1..max */
double atr_flag_interval_ms(const char *flag, const char *arg);      /* 0.001..1e9 */
/* "5%" -> relative 0.05 (*rel=1); "4096" / "4KiB" -> absolute (*rel=0) */
int atr_parse_tolerance(const char *s, double *value, int *rel);

/* A file installed beside this executable: $ENV when set, else the first of the
 * printf patterns (each with one %s = our directory) that exists with access `mode`.
 * Returns 0 with the resolved path in out, -1 if none. */
int atr_find_beside_self(const char *env, const char *const *patterns, size_t npatterns,
                         int mode, char *out, size_t n);

/* Prints the JSON value to stdout (indent 2) and frees it. */
void atr_json_print(json_t *v);
json_t *atr_json_u64(uint64_t v);

#endif
