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
  free(b->rule_tab);
  free(b->baseline);
  free(b->junit);
  free(b->json);
  memset(b, 0, sizeof(*b));
}

/* "64MiB", "1.5G", "10k", "4096", "1e6" -> an exact integer. Digits are accumulated as
 * integers (never through a double, whose 53-bit mantissa rounds 2^63 + 1 and wraps
 * 2^64 through llround), fractions rounded half up. Returns 0, -1 not a size, -2 larger
 * than ATR_LIMIT_MAX. */
int atr_budget_parse_size(const char *s, uint64_t *out) {
  __extension__ typedef unsigned __int128 u128;
  const u128 cap = (u128)1 << 80; /* far above any limit; times a unit still fits */
  u128 mant = 0;
  long exp10 = 0;
  int digits = 0, big = 0;
  const char *p = s;
  if (!p)
    return -1;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (mant < cap)
      mant = mant * 10 + (unsigned)(*p - '0');
    else
      exp10++; /* digits past 2^80 only scale what is already too big */
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
      if (mant < cap) {
        mant = mant * 10 + (unsigned)(*p - '0');
        exp10--;
      }
  }
  if (!digits)
    return -1;
  if ((*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-' || (p[1] >= '0' && p[1] <= '9'))) {
    int neg = p[1] == '-';
    long e = 0;
    p += p[1] == '+' || p[1] == '-' ? 2 : 1;
    if (*p < '0' || *p > '9')
      return -1;
    for (; *p >= '0' && *p <= '9'; p++)
      if (e < 100000)
        e = e * 10 + (*p - '0');
    exp10 += neg ? -e : e;
  }
  while (*p == ' ')
    p++;
  u128 mul = 1;
  if (*p) {
    char c = (char)(*p | 0x20);
    int binary = p[1] == 'i' || p[1] == 'I';
    unsigned base = binary ? 1024u : 1000u;
    int power = c == 'k' ? 1 : c == 'm' ? 2 : c == 'g' ? 3 : c == 't' ? 4 : c == 'b' ? 0 : -1;
    if (power < 0 || (c == 'b' && binary))
      return -1;
    for (int i = 0; i < power; i++)
      mul *= base;
    const char *rest = p + 1 + binary;
    if (c != 'b' && (*rest == 'B' || *rest == 'b'))
      rest++;
    if (*rest)
      return -1;
  }
  if (mant == 0) {
    *out = 0;
    return 0;
  }
  mant *= mul; /* < 2^81 * 2^40 */
  for (; exp10 > 0 && !big; exp10--)
    if ((mant *= 10) > ((u128)1 << 100))
      big = 1;
  if (exp10 > 0)
    big = 1;
  if (!big && exp10 < 0) {
    u128 div = 1;
    long i = 0;
    for (; i < -exp10 && div <= mant; i++)
      div *= 10;
    /* stopped early: the divisor is over ten times the value, which rounds to 0 */
    mant = i < -exp10 ? 0 : (mant + div / 2) / div; /* half up */
  }
  if (big || mant > ATR_LIMIT_MAX)
    return -2;
  *out = (uint64_t)mant;
  return 0;
}

int atr_budget_set_limit(atr_budget_t *b, atr_limit_t *l, int metric, const char *value) {
  uint64_t v;
  int rc = *value == '-' ? -1 : atr_budget_parse_size(value, &v);
  if (rc == -2)
    return fail(b, "%s limit '%s' is too large: limits go up to %llu (2^63-1, what the JSON "
                   "reports carry as an integer)",
                atr_ck_names[metric], value, (unsigned long long)ATR_LIMIT_MAX);
  if (rc != 0)
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
  uint64_t abs = 0;
  size_t n = strlen(value);
  rel = n > 1 && value[n - 1] == '%';
  int rc = rel ? 0 : *value == '-' ? -1 : atr_budget_parse_size(value, &abs);
  if (rc == -2)
    return fail(b, "tolerance '%s' is too large: tolerances go up to %llu (2^63-1)", value,
                (unsigned long long)ATR_LIMIT_MAX);
  if (rc != 0 || atr_parse_tolerance(value, &v, &rel) != 0 || (rel && v > 1e6))
    return fail(b, "'%s' is not a tolerance like 5%% or 4KiB", value);
  t->set = 1;
  t->rel = rel;
  t->abs = rel ? 0 : abs;
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

static uint64_t rule_hash(const char *pattern, int scope) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)scope;
  for (const char *p = pattern; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

/* The rule table's slot for (pattern, scope): the rule's, or the empty one to fill. */
static size_t rule_slot(const atr_budget_t *b, const char *pattern, int scope) {
  size_t j = rule_hash(pattern, scope) & b->rule_mask;
  while (b->rule_tab[j]) {
    const atr_rule_t *r = &b->rules[b->rule_tab[j] - 1];
    if (r->scope == scope && strcmp(r->pattern, pattern) == 0)
      break;
    j = (j + 1) & b->rule_mask;
  }
  return j;
}

static int rule_rehash(atr_budget_t *b, size_t mask) {
  uint32_t *t = calloc(mask + 1, sizeof(*t));
  if (!t)
    return -1;
  free(b->rule_tab);
  b->rule_tab = t;
  b->rule_mask = mask;
  for (size_t i = 0; i < b->nrules; i++)
    t[rule_slot(b, b->rules[i].pattern, b->rules[i].scope)] = (uint32_t)i + 1;
  return 0;
}

/* Hashed: a budget of 200k rules loads in linear time (a search per rule was quadratic:
 * 40k rules took 17 s). */
atr_rule_t *atr_budget_rule(atr_budget_t *b, const char *pattern, int scope) {
  if (b->nrules >= UINT32_MAX - 1)
    return NULL;
  if ((b->nrules + 1) * 2 > b->rule_mask + 1 &&
      rule_rehash(b, b->rule_mask ? b->rule_mask * 2 + 1 : 255) != 0)
    return NULL;
  size_t j = rule_slot(b, pattern, scope);
  if (b->rule_tab[j])
    return &b->rules[b->rule_tab[j] - 1];
  if (b->nrules == b->cap_rules) {
    size_t cap = b->cap_rules ? b->cap_rules * 2 : 16;
    atr_rule_t *r = realloc(b->rules, cap * sizeof(*r));
    if (!r)
      return NULL;
    b->rules = r;
    b->cap_rules = cap;
  }
  atr_rule_t *r = &b->rules[b->nrules];
  memset(r, 0, sizeof(*r));
  r->pattern = strdup(pattern);
  r->scope = scope;
  if (!r->pattern)
    return NULL;
  b->rule_tab[j] = (uint32_t)++b->nrules;
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
