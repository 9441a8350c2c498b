/* Options from the environment (ALLOCTRACE_*), each defined once in the table below.
 * Read once at start-up, before the first event; never allocates (getenv only).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tracer.h"

struct atr_config atr__cfg = {
    .unwind = ATR_UNWIND_LIBUNWIND, .follow = 1, .depth = ATR_MAX_DEPTH, .level = 1, .patch = 1,
    .tty = -1};

static void set_unwind(const char *v) {
  atr__cfg.unwind = strcmp(v, "fp") == 0 ? ATR_UNWIND_FP : ATR_UNWIND_LIBUNWIND;
}
static void set_follow(const char *v) { atr__cfg.follow = strcmp(v, "0") != 0; }
static void set_depth(const char *v) {
  int d = atoi(v);
  atr__cfg.depth = d < 1 ? 1 : d > ATR_MAX_DEPTH ? ATR_MAX_DEPTH : d;
}
static void set_level(const char *v) {
  int l = atoi(v);
  atr__cfg.level = l < 1 ? 1 : l > 19 ? 19 : l;
}
static void set_output(const char *v) {
  strncpy(atr__cfg.output, v, sizeof(atr__cfg.output) - 1);
}
static void set_tty(const char *v) { atr__cfg.tty = strtoll(v, NULL, 10); }
static void set_patch(const char *v) {
  atr__cfg.patch = strcmp(v, "0") == 0 ? 0 : strcmp(v, "abs") == 0 ? 2 : 1;
}

/* tests only: stamps shifted by up to 40 us (the writer looks MARGIN_US = 50 us ahead) */
static int skew_us(const char *v) {
  int us = atoi(v);
  return us < -40 ? -40 : us > 40 ? 40 : us;
}
static void set_skew_alloc(const char *v) { atr__cfg.skew_us[0] = skew_us(v); }
static void set_skew_free(const char *v) { atr__cfg.skew_us[1] = skew_us(v); }

static const struct {
  const char *name;
  void (*set)(const char *);
} options[] = {
    {"ALLOCTRACE_UNWIND", set_unwind}, /* libunwind (default) | fp */
    {"ALLOCTRACE_FOLLOW", set_follow}, /* 1 (default): trace fork/exec children; 0: not */
    {"ALLOCTRACE_DEPTH", set_depth},   /* frames per stack, 1..64 */
    {"ALLOCTRACE_LEVEL", set_level},   /* zstd level, default 1 */
    {"ALLOCTRACE_OUTPUT", set_output}, /* trace path of the root process */
    {"ALLOCTRACE_TTY", set_tty},       /* set by run and spawn.c: the user's terminal */
    {"ALLOCTRACE_PATCH", set_patch},   /* 1 (default) | 0 | abs: patch Rust shims and static
                                          allocators; abs: only with 14-byte jumps */
    /* tests only: microseconds added to the stamps of acquisitions / releases, so that
     * handoffs arrive out of order and the writer's repair (writer.c pending()) runs;
     * read always, applied only by the tests' liballoctrace-seams.so (tracer.h ATR_SKEW) */
    {"ALLOCTRACE_TEST_SKEW_ALLOC_US", set_skew_alloc},
    {"ALLOCTRACE_TEST_SKEW_FREE_US", set_skew_free},
};

void atr__config_load(void) {
  for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
    const char *v = getenv(options[i].name);
    if (v && *v)
      options[i].set(v);
  }
}
