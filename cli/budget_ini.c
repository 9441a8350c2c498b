/* INI budget files through inih: [limits], [site "PATTERN"], [under "PATTERN"],
 * [baseline], [tolerance], [output] (the format is documented in docs/ci.md).
 * Never accepts a key it does not know: a typo must not silently disable a check.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"

typedef struct {
  atr_budget_t *b;
  const char *path, *dir, *p;
  int line;     /* lines handed to inih so far */
  int err_line; /* first semantic error (0: none) */
  char err[400];
} ini_ctx_t;

/* fgets for inih that counts lines and drops leading blanks: inih would otherwise take
 * an indented "key = value" for a continuation of the previous value. */
static char *reader(char *str, int num, void *stream) {
  ini_ctx_t *c = stream;
  if (!*c->p)
    return NULL;
  c->line++;
  while (*c->p == ' ' || *c->p == '\t')
    c->p++;
  size_t len = strcspn(c->p, "\n");
  size_t take = len + (c->p[len] == '\n');
  if (take > (size_t)num - 1) {
    if (!c->err_line) {
      c->err_line = c->line;
      snprintf(c->err, sizeof(c->err), "line longer than %d characters", num - 2);
    }
    memcpy(str, c->p, (size_t)num - 2);
    str[num - 2] = '\n';
    str[num - 1] = 0;
  } else {
    memcpy(str, c->p, take);
    str[take] = 0;
  }
  c->p += take;
  return str;
}

static const char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = 0;
  return s;
}

/* `site "parse_*"` -> scope and pattern; 0 or -1 */
static int site_section(const char *sec, int *scope, char *pat, size_t n) {
  static const struct {
    const char *word;
    int scope;
  } kinds[] = {{"site", ATR_SCOPE_SITE}, {"under", ATR_SCOPE_UNDER}};
  for (size_t i = 0; i < 2; i++) {
    size_t w = strlen(kinds[i].word);
    if (strncmp(sec, kinds[i].word, w) != 0 || !isspace((unsigned char)sec[w]))
      continue;
    const char *p = sec + w;
    while (isspace((unsigned char)*p))
      p++;
    size_t len = strlen(p);
    if (len >= 2 && (p[0] == '"' || p[0] == '\'') && p[len - 1] == p[0]) {
      p++;
      len -= 2;
    }
    if (!len || len >= n)
      return -1;
    memcpy(pat, p, len);
    pat[len] = 0;
    *scope = kinds[i].scope;
    return 0;
  }
  return -1;
}

/* "max-peak" -> metric; -1 if not a max-* key */
static int max_key(const char *name) {
  return strncmp(name, "max-", 4) == 0 ? atr_ck_parse(name + 4) : -1;
}

static int handle(ini_ctx_t *c, const char *section, const char *name, const char *value) {
  atr_budget_t *b = c->b;
  char secbuf[256], pat[256];
  snprintf(secbuf, sizeof(secbuf), "%s", section);
  const char *sec = trim(secbuf);
  int m, scope;
  if (!*sec) {
    snprintf(b->error, sizeof(b->error), "'%s' is outside a section ([limits], [site \"PATTERN\"], "
             "[under \"PATTERN\"], [baseline], [tolerance] or [output])", name);
    return -1;
  }
  if (strcmp(sec, "limits") == 0) {
    if ((m = max_key(name)) < 0)
      goto unknown;
    return atr_budget_set_limit(b, &b->max[m], m, value);
  }
  if (site_section(sec, &scope, pat, sizeof(pat)) == 0) {
    if ((m = max_key(name)) < 0)
      goto unknown;
    if (m == ATR_CK_RSS) {
      snprintf(b->error, sizeof(b->error), "max-rss is a whole-process limit: put it in [limits]");
      return -1;
    }
    atr_rule_t *r = atr_budget_rule(b, pat, scope);
    if (!r) {
      snprintf(b->error, sizeof(b->error), "out of memory");
      return -1;
    }
    if (atr_budget_set_limit(b, &r->max[m], m, value) != 0) {
      size_t len = strlen(b->error); /* name the rule: the line alone is far from it */
      snprintf(b->error + len, sizeof(b->error) - len, " in [%s]", sec);
      return -1;
    }
    return 0;
  }
  if (strcmp(sec, "baseline") == 0) {
    if (strcmp(name, "trace") != 0)
      goto unknown;
    return atr_budget_set_path(b, &b->baseline, value, c->dir);
  }
  if (strcmp(sec, "tolerance") == 0) {
    if (strcmp(name, "default") == 0)
      return atr_budget_set_tol(b, &b->tol_default, value);
    if ((m = atr_ck_parse(name)) < 0)
      goto unknown;
    return atr_budget_set_tol(b, &b->tol[m], value);
  }
  if (strcmp(sec, "output") == 0) {
    if (strcmp(name, "junit") == 0)
      return atr_budget_set_path(b, &b->junit, value, c->dir);
    if (strcmp(name, "json") == 0)
      return atr_budget_set_path(b, &b->json, value, c->dir);
    goto unknown;
  }
  snprintf(b->error, sizeof(b->error), "unknown section [%s] (use [limits], [site \"PATTERN\"], "
           "[under \"PATTERN\"], [baseline], [tolerance] or [output])", sec);
  return -1;
unknown:
  snprintf(b->error, sizeof(b->error), "unknown key '%s' in [%s]%s", name, sec,
           strcmp(sec, "baseline") == 0    ? " (only trace = FILE)"
           : strcmp(sec, "tolerance") == 0 ? " (default or a metric: peak, leaked, allocated, "
                                             "allocations, temporary, rss)"
           : strcmp(sec, "output") == 0    ? " (junit or json)"
                                           : " (max-peak, max-leaked, max-allocated, "
                                             "max-allocations, max-temporary, max-rss)");
  return -1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  ini_ctx_t *c = user;
  if (c->err_line)
    return 1; /* report the first error only */
  if (handle(c, section, name, value ? value : "") != 0) {
    c->err_line = c->line;
    snprintf(c->err, sizeof(c->err), "%s", c->b->error);
  }
  return 1;
}

int atr__budget_ini(atr_budget_t *b, const char *path, const char *text, const char *dir) {
  ini_ctx_t c = {b, path, dir, text, 0, 0, {0}};
  /* skip a UTF-8 byte-order mark: the reader strips blanks before inih could see it */
  if (strncmp(c.p, "\xEF\xBB\xBF", 3) == 0)
    c.p += 3;
  int syntax = ini_parse_stream(reader, &c, handler, &c);
  if (syntax < 0) {
    snprintf(b->error, sizeof(b->error), "%s: out of memory", path);
    return -1;
  }
  if (syntax > 0 && (!c.err_line || syntax < c.err_line)) {
    snprintf(b->error, sizeof(b->error),
             "%s:%d: syntax error (expected [section], key = value or a # comment)", path, syntax);
    return -1;
  }
  if (c.err_line) {
    snprintf(b->error, sizeof(b->error), "%s:%d: %s", path, c.err_line, c.err);
    return -1;
  }
  return 0;
}
