/* Budgets for `alloctrace check`: limits on whole-process metrics, limits on the call
 * sites whose function matches a pattern, a baseline trace with per-metric tolerances,
 * and report files. Loaded from an INI (inih) or JSON (jansson) file and from flags.
 * Never reads traces; every error is one line naming the file, the line or key.
 */
#ifndef ATR_BUDGET_H
#define ATR_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The checked metrics: the model's five per-stack metrics plus peak RSS (whole process). */
#define ATR_CK_RSS ATR_M_COUNT
#define ATR_CK_METRICS (ATR_M_COUNT + 1)
extern const char *const atr_ck_names[ATR_CK_METRICS];
int atr_ck_parse(const char *name); /* -1 if unknown */
int atr_ck_is_bytes(int metric);    /* bytes (peak, leaked, allocated, rss) or a count */
/* whole-process value: peak heap, leaked bytes, ..., peak RSS */
uint64_t atr_ck_total(const atr_model_t *m, int metric);

typedef struct {
  int set;
  uint64_t v;
} atr_limit_t;

/* The largest limit or absolute tolerance: the JSON reports carry limits as integers,
 * which jansson keeps in an int64. Larger values are rejected, never clamped. */
#define ATR_LIMIT_MAX ((uint64_t)INT64_MAX)
/* A size or count ("64MiB", "1.5G", "10k", "1e6") parsed exactly: 0, -1 not a size,
 * -2 larger than ATR_LIMIT_MAX. */
int atr_budget_parse_size(const char *s, uint64_t *out);

/* A tolerance: absolute (bytes or count) or relative, kept as an exact fraction in
 * units of 1e-8 so "exactly at the limit" never depends on floating-point rounding.
 * Both set (only the built-in RSS default): the larger allowance wins. */
typedef struct {
  int set, rel;
  uint64_t abs, rel_e8;
  char text[40]; /* as written: "5%", "4KiB" */
} atr_tol_t;

enum atr_scope { ATR_SCOPE_SITE, ATR_SCOPE_UNDER };
typedef struct atr_rule_s {
  char *pattern; /* fnmatch(3) on the demangled function name */
  int scope;     /* SITE: the allocating function matches; UNDER: any frame on the stack */
  atr_limit_t max[ATR_M_COUNT];
} atr_rule_t;

typedef struct {
  atr_limit_t max[ATR_CK_METRICS];
  atr_rule_t *rules;
  size_t nrules, cap_rules;
  uint32_t *rule_tab; /* (scope, pattern) -> index + 1, open addressing; 0 empty */
  size_t rule_mask;
  char *baseline;
  atr_tol_t tol_default, tol[ATR_CK_METRICS];
  char *junit, *json; /* report files (budget files only; flags win) */
  char error[600];
} atr_budget_t;

void atr_budget_init(atr_budget_t *b);
void atr_budget_free(atr_budget_t *b);

/* Reads a budget file (JSON when it starts with '{', INI otherwise) into b; relative
 * paths in it are taken relative to the file's directory. 0, or -1 with b->error set. */
int atr_budget_load(atr_budget_t *b, const char *path);
/* Flags set in `over` replace the same settings in b (used for flags over the file). */
int atr_budget_overlay(atr_budget_t *b, const atr_budget_t *over);

/* Setters shared by the loaders and the flags; 0 or -1 with b->error = the problem
 * (without file or line: the caller prefixes those). */
int atr_budget_set_limit(atr_budget_t *b, atr_limit_t *l, int metric, const char *value);
int atr_budget_set_tol(atr_budget_t *b, atr_tol_t *t, const char *value);
/* "5%" sets the default; "peak=10%,rss=2MiB" sets single metrics. */
int atr_budget_tolerance_spec(atr_budget_t *b, const char *spec);
atr_rule_t *atr_budget_rule(atr_budget_t *b, const char *pattern, int scope);
int atr_budget_set_path(atr_budget_t *b, char **slot, const char *value, const char *dir);
int atr_budget_empty(const atr_budget_t *b); /* nothing to check */

/* The tolerance that applies to a metric: its own, else the default, else the built-in
 * one (0 for the heap metrics; 10% but at least 1 MiB for RSS, which drifts between runs). */
atr_tol_t atr_budget_tol(const atr_budget_t *b, int metric);
/* base plus the tolerance, rounded down: a value passes when value <= this. */
uint64_t atr_tol_limit(const atr_tol_t *t, uint64_t base);

/* format loaders (budget_ini.c, budget_json.c): text is the whole file */
int atr__budget_ini(atr_budget_t *b, const char *path, const char *text, const char *dir);
int atr__budget_json(atr_budget_t *b, const char *path, const char *text, const char *dir);

#endif
