/* Budget settings (see budget.h): value parsing, tolerance arithmetic, flags over file,
 * and reading a budget file into memory for the INI or JSON loader.
 * Never exits: errors go to b->error for the command to report.
 */
#define _GNU_SOURCE
#include "budget.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *const atr_ck_names[ATR_CK_METRICS] = {"peak", "leaked", "allocated", "allocations",
                                                  "temporary", "rss"};

int atr_ck_parse(const char *name) {
  for (int i = 0; i < ATR_CK_METRICS; i++)
    if (strcmp(name, atr_ck_names[i]) == 0)
      return i;
  return -1;
}

int atr_ck_is_bytes(int metric) {
  return metric != ATR_M_ALLOCATIONS && metric != ATR_M_TEMPORARY;
}

uint64_t atr_ck_total(const atr_model_t *m, int metric) {
  switch (metric) {
  case ATR_M_PEAK: return m->t.peak_bytes;
  case ATR_M_LEAKED: return m->t.leaked_bytes;
  case ATR_M_ALLOCATED: return m->t.allocated_bytes;
  case ATR_M_ALLOCATIONS: return m->t.allocations;
  case ATR_M_TEMPORARY: return m->t.temporary;
  default: return m->t.peak_rss;
  }
}

__attribute__((format(printf, 2, 3))) static int fail(atr_budget_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->error, sizeof(b->error), fmt, ap);
  va_end(ap);
  return -1;
}

void atr_budget_init(atr_budget_t *b) {
  memset(b, 0, sizeof(*b));
}

void atr_budget_free(atr_budget_t *b) {
  for (size_t i = 0; i < b->nrules; i++)
    free(b->rules[i].pattern);
  free(b->rules);
  free(b->baseline);
  free(b->junit);
  free(b->json);
  memset(b, 0, sizeof(*b));
}

int atr_budget_set_limit(atr_budget_t *b, atr_limit_t *l, int metric, const char *value) {
  uint64_t v;
  if (atr_parse_size(value, &v) != 0)
    return fail(b, "'%s' is not a %s (for %s)", value,
                atr_ck_is_bytes(metric) ? "size like 64MiB or 1000" : "count like 100 or 10k",
                atr_ck_names[metric]);
  l->set = 1;
  l->v = v;
  return 0;
}

int atr_budget_set_tol(atr_budget_t *b, atr_tol_t *t, const char *value) {
  double v;
  int rel;
  if (atr_parse_tolerance(value, &v, &rel) != 0 || (rel && v > 1e6))
    return fail(b, "'%s' is not a tolerance like 5%% or 4KiB", value);
  t->set = 1;
  t->rel = rel;
  t->abs = rel ? 0 : (uint64_t)v;
  /* "49.9%" -> 0.499 -> 49900000e-8, exact for up to 6 decimals of a percent */
  t->rel_e8 = rel ? (uint64_t)(v * 1e8 + 0.5) : 0;
  snprintf(t->text, sizeof(t->text), "%s", value);
  return 0;
}

int atr_budget_tolerance_spec(atr_budget_t *b, const char *spec) {
  if (!*spec || spec[strspn(spec, ",")] == 0)
    return fail(b, "empty tolerance");
  char *copy = strdup(spec), *save = NULL;
  if (!copy)
    return fail(b, "out of memory");
  int rc = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) {
      rc = atr_budget_set_tol(b, &b->tol_default, tok);
      continue;
    }
    *eq = 0;
    int m = atr_ck_parse(tok);
    if (m < 0 && strcmp(tok, "default") != 0)
      rc = fail(b, "unknown metric '%s' in tolerance (peak, leaked, allocated, allocations, "
                   "temporary, rss or default)", tok);
    else
      rc = atr_budget_set_tol(b, m < 0 ? &b->tol_default : &b->tol[m], eq + 1);
  }
  free(copy);
  return rc;
}

atr_rule_t *atr_budget_rule(atr_budget_t *b, const char *pattern, int scope) {
  for (size_t i = 0; i < b->nrules; i++)
    if (b->rules[i].scope == scope && strcmp(b->rules[i].pattern, pattern) == 0)
      return &b->rules[i];
  atr_rule_t *r = realloc(b->rules, (b->nrules + 1) * sizeof(*r));
  if (!r)
    return NULL;
  b->rules = r;
  r = &b->rules[b->nrules];
  memset(r, 0, sizeof(*r));
  r->pattern = strdup(pattern);
  r->scope = scope;
  if (!r->pattern)
    return NULL;
  b->nrules++;
  return r;
}

int atr_budget_set_path(atr_budget_t *b, char **slot, const char *value, const char *dir) {
  if (!*value)
    return fail(b, "empty path");
  char *p;
  if (value[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0)
    p = strdup(value);
  else if (asprintf(&p, "%s/%s", dir, value) < 0)
    p = NULL;
  if (!p)
    return fail(b, "out of memory");
  free(*slot);
  *slot = p;
  return 0;
}

int atr_budget_overlay(atr_budget_t *b, const atr_budget_t *o) {
  for (int i = 0; i < ATR_CK_METRICS; i++) {
    if (o->max[i].set)
      b->max[i] = o->max[i];
    if (o->tol[i].set)
      b->tol[i] = o->tol[i];
  }
  if (o->tol_default.set)
    b->tol_default = o->tol_default;
  for (size_t i = 0; i < o->nrules; i++) {
    atr_rule_t *r = atr_budget_rule(b, o->rules[i].pattern, o->rules[i].scope);
    if (!r)
      return fail(b, "out of memory");
    for (int k = 0; k < ATR_M_COUNT; k++)
      if (o->rules[i].max[k].set)
        r->max[k] = o->rules[i].max[k];
  }
  char *const *from[] = {&o->baseline, &o->junit, &o->json};
  char **to[] = {&b->baseline, &b->junit, &b->json};
  for (int i = 0; i < 3; i++)
    if (*from[i] && atr_budget_set_path(b, to[i], *from[i], NULL) != 0)
      return -1;
  return 0;
}

int atr_budget_empty(const atr_budget_t *b) {
  for (int i = 0; i < ATR_CK_METRICS; i++)
    if (b->max[i].set)
      return 0;
  for (size_t i = 0; i < b->nrules; i++)
    for (int k = 0; k < ATR_M_COUNT; k++)
      if (b->rules[i].max[k].set)
        return 0;
  return !b->baseline;
}

atr_tol_t atr_budget_tol(const atr_budget_t *b, int metric) {
  if (b->tol[metric].set)
    return b->tol[metric];
  if (b->tol_default.set)
    return b->tol_default;
  atr_tol_t t = {1, 0, 0, 0, "0"};
  if (metric == ATR_CK_RSS) { /* a small program's RSS moves by a few hundred KiB per run */
    t.rel = 1;
    t.rel_e8 = 10000000;
    t.abs = 1u << 20;
    snprintf(t.text, sizeof(t.text), "max(10%%, 1 MiB)");
  }
  return t;
}

uint64_t atr_tol_limit(const atr_tol_t *t, uint64_t base) {
  __extension__ typedef unsigned __int128 u128;
  u128 add = t->rel ? (u128)base * t->rel_e8 / 100000000u : 0;
  if (add < t->abs)
    add = t->abs;
  u128 lim = (u128)base + add;
  return lim > UINT64_MAX ? UINT64_MAX : (uint64_t)lim;
}

/* ---- files ---- */

static char *slurp(const char *path, char *err, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, n, "%s: cannot read the budget file: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (len + 1 < cap)
      break;
    if (cap >= (1u << 24)) {
      snprintf(err, n, "%s: the budget file is larger than 16 MiB", path);
      free(buf);
      fclose(f);
      return NULL;
    }
    char *nb = realloc(buf, cap * 2);
    if (!nb)
      free(buf);
    buf = nb;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    snprintf(err, n, "%s: cannot read the budget file: %s", path, buf ? "read error" : "out of memory");
    free(buf);
    return NULL;
  }
  buf[len] = 0;
  if (strlen(buf) != len) {
    snprintf(err, n, "%s: the budget file contains a NUL byte (not a text file)", path);
    free(buf);
    return NULL;
  }
  return buf;
}

int atr_budget_load(atr_budget_t *b, const char *path) {
  char *text = slurp(path, b->error, sizeof(b->error));
  if (!text)
    return -1;
  char *dir = strdup(path);
  if (!dir) {
    free(text);
    return fail(b, "out of memory");
  }
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir ? 1 : 0] = 0;
  else
    strcpy(dir, ".");
  const char *p = text;
  if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
    p += 3;
  p += strspn(p, " \t\r\n");
  int rc = *p == '{' ? atr__budget_json(b, path, text, dir) : atr__budget_ini(b, path, text, dir);
  free(dir);
  free(text);
  return rc;
}
