/* JSON budget files through jansson: the same settings as the INI form,
 * {"limits": {...}, "sites": [{"function"|"under": PATTERN, "max-…": …}], "baseline": FILE,
 *  "tolerance": {...}, "output": {...}}. Values are numbers or strings ("64MiB", "5%").
 * Never accepts a key it does not know: a typo must not silently disable a check.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"

/* jansson keeps integers in an int64 and rejects a longer literal as "too big integer",
 * so 9223372036854775808 (2^63) could never be read, let alone rejected with the rule
 * it belongs to. Integer literals of 19 digits or more are turned into strings marked
 * with BIG_MARK before parsing; scalar() gives them back as numbers to the exact parser
 * (budget.c), and places that want a string refuse them. NULL when out of memory. */
#define BIG_MARK '\x1f'
static char *quote_big_integers(const char *text) {
  size_t len = strlen(text);
  char *out = malloc(len * 2 + 1), *o = out; /* a quoted literal grows by 8 of its >= 19 */
  if (!out)
    return NULL;
  int in_string = 0;
  for (const char *p = text; *p;) {
    if (in_string) {
      if (*p == '\\' && p[1]) {
        *o++ = *p++;
      } else if (*p == '"') {
        in_string = 0;
      }
      *o++ = *p++;
      continue;
    }
    if (*p == '"') {
      in_string = 1;
      *o++ = *p++;
      continue;
    }
    if ((*p == '-' || (*p >= '0' && *p <= '9')) &&
        (p == text || !((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.' || p[-1] == 'e' ||
                        p[-1] == 'E' || p[-1] == '+' || p[-1] == '-'))) {
      const char *q = p + (*p == '-');
      size_t digits = strspn(q, "0123456789");
      if (digits >= 19 && !strchr(".eE", q[digits])) {
        size_t n = (size_t)(q + digits - p);
        *o++ = '"';
        memcpy(o, "\\u001f", 6);
        o += 6;
        memcpy(o, p, n);
        o += n;
        *o++ = '"';
        p += n;
        continue;
      }
    }
    *o++ = *p++;
  }
  *o = 0;
  return out;
}

static int is_text(const json_t *v) {
  return json_is_string(v) && json_string_value(v)[0] != BIG_MARK;
}

/* number or string -> text for the shared setters */
static int scalar(const json_t *v, char *buf, size_t n) {
  if (json_is_string(v) && json_string_value(v)[0] == BIG_MARK)
    snprintf(buf, n, "%s", json_string_value(v) + 1);
  else if (json_is_string(v))
    snprintf(buf, n, "%s", json_string_value(v));
  else if (json_is_integer(v) && json_integer_value(v) >= 0)
    snprintf(buf, n, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v) && json_real_value(v) >= 0)
    snprintf(buf, n, "%.17g", json_real_value(v));
  else
    return -1;
  return 0;
}

typedef struct {
  atr_budget_t *b;
  const char *path, *dir;
} jctx_t;

__attribute__((format(printf, 3, 4))) static int fail(jctx_t *c, const char *where, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(c->b->error, sizeof(c->b->error), "%s: %s: %s", c->path, where, msg);
  return -1;
}

/* the setters leave their message in b->error: prefix file and key */
static int wrap(jctx_t *c, const char *where, int rc) {
  if (rc != 0) {
    char msg[sizeof(c->b->error)];
    snprintf(msg, sizeof(msg), "%s", c->b->error);
    return fail(c, where, "%s", msg);
  }
  return 0;
}

/* rule: how a site rule's setter errors name it ("function \"parse_*\""), else NULL */
static int limits(jctx_t *c, const json_t *obj, atr_limit_t *max, int allow_rss, const char *where,
                  const char *rule) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    char at[600], val[128];
    snprintf(at, sizeof(at), "%s.%s", where, key);
    if (strcmp(key, "function") == 0 || strcmp(key, "under") == 0)
      continue; /* the pattern of a site rule */
    int m = strncmp(key, "max-", 4) == 0 ? atr_ck_parse(key + 4) : -1;
    if (m < 0)
      return fail(c, at, "unknown key (max-peak, max-leaked, max-allocated, max-allocations, "
                         "max-temporary%s)", allow_rss ? ", max-rss" : "");
    if (m == ATR_CK_RSS && !allow_rss)
      return fail(c, at, "max-rss is a whole-process limit: put it in \"limits\"");
    if (scalar(v, val, sizeof(val)) != 0)
      return fail(c, at, "expected a number or a string like \"64MiB\"");
    if (atr_budget_set_limit(c->b, &max[m], m, val) != 0) {
      char msg[sizeof(c->b->error)];
      snprintf(msg, sizeof(msg), "%s", c->b->error);
      return rule ? fail(c, at, "%s in the rule for %s", msg, rule) : fail(c, at, "%s", msg);
    }
  }
  return 0;
}

static int sites(jctx_t *c, const json_t *arr) {
  if (!json_is_array(arr))
    return fail(c, "sites", "expected an array of {\"function\": PATTERN, \"max-…\": …}");
  size_t i;
  json_t *r;
  json_array_foreach(arr, i, r) {
    char at[64];
    snprintf(at, sizeof(at), "sites[%zu]", i);
    if (!json_is_object(r))
      return fail(c, at, "expected an object");
    const json_t *f = json_object_get(r, "function"), *u = json_object_get(r, "under");
    if (!!f == !!u || !is_text(f ? f : u) || !*json_string_value(f ? f : u))
      return fail(c, at, "needs exactly one of \"function\" (the allocating function) or "
                         "\"under\" (any function on the stack), a pattern string");
    char rule_name[400]; /* names the rule: function "parse_*" */
    snprintf(rule_name, sizeof(rule_name), "%s \"%.300s\"", f ? "function" : "under",
             json_string_value(f ? f : u));
    atr_limit_t max[ATR_CK_METRICS] = {{0, 0}};
    if (limits(c, r, max, 0, at, rule_name) != 0)
      return -1;
    atr_rule_t *rule = atr_budget_rule(c->b, json_string_value(f ? f : u),
                                       f ? ATR_SCOPE_SITE : ATR_SCOPE_UNDER);
    if (!rule)
      return fail(c, at, "out of memory");
    for (int k = 0; k < ATR_M_COUNT; k++)
      if (max[k].set)
        rule->max[k] = max[k];
  }
  return 0;
}

static int tolerances(jctx_t *c, const json_t *obj) {
  if (!json_is_object(obj))
    return fail(c, "tolerance", "expected an object like {\"default\": \"5%%\", \"rss\": \"20%%\"}");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    char at[300], val[128];
    snprintf(at, sizeof(at), "tolerance.%s", key);
    int m = atr_ck_parse(key);
    if (m < 0 && strcmp(key, "default") != 0)
      return fail(c, at, "unknown key (default, peak, leaked, allocated, allocations, "
                         "temporary, rss)");
    if (scalar(v, val, sizeof(val)) != 0)
      return fail(c, at, "expected a number or a string like \"5%%\"");
    if (wrap(c, at, atr_budget_set_tol(c->b, m < 0 ? &c->b->tol_default : &c->b->tol[m], val)) != 0)
      return -1;
  }
  return 0;
}

static int path_value(jctx_t *c, const char *at, const json_t *v, char **slot) {
  if (!is_text(v))
    return fail(c, at, "expected a file name string");
  return wrap(c, at, atr_budget_set_path(c->b, slot, json_string_value(v), c->dir));
}

static int outputs(jctx_t *c, const json_t *obj) {
  if (!json_is_object(obj))
    return fail(c, "output", "expected an object like {\"junit\": \"alloctrace.xml\"}");
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    char at[300];
    snprintf(at, sizeof(at), "output.%s", key);
    if (strcmp(key, "junit") == 0 || strcmp(key, "json") == 0) {
      if (path_value(c, at, v, key[1] == 'u' ? &c->b->junit : &c->b->json) != 0)
        return -1;
    } else
      return fail(c, at, "unknown key (junit or json)");
  }
  return 0;
}

int atr__budget_json(atr_budget_t *b, const char *path, const char *text, const char *dir) {
  jctx_t c = {b, path, dir};
  json_error_t je;
  char *quoted = quote_big_integers(text);
  if (!quoted) {
    snprintf(b->error, sizeof(b->error), "%s: out of memory", path);
    return -1;
  }
  json_t *root = json_loads(quoted, JSON_REJECT_DUPLICATES, &je);
  free(quoted);
  if (!root) {
    snprintf(b->error, sizeof(b->error), "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return -1;
  }
  int rc = 0;
  const char *key;
  json_t *v;
  if (!json_is_object(root))
    rc = fail(&c, "top level", "expected an object");
  else
    json_object_foreach(root, key, v) {
      if (strcmp(key, "limits") == 0)
        rc = json_is_object(v) ? limits(&c, v, b->max, 1, "limits", NULL)
                               : fail(&c, "limits", "expected an object like {\"max-peak\": \"64MiB\"}");
      else if (strcmp(key, "sites") == 0)
        rc = sites(&c, v);
      else if (strcmp(key, "baseline") == 0)
        rc = path_value(&c, "baseline", v, &b->baseline);
      else if (strcmp(key, "tolerance") == 0)
        rc = tolerances(&c, v);
      else if (strcmp(key, "output") == 0)
        rc = outputs(&c, v);
      else if (strcmp(key, "$schema") != 0 && strcmp(key, "comment") != 0)
        rc = fail(&c, key, "unknown key (limits, sites, baseline, tolerance, output, comment)");
      if (rc != 0)
        break;
    }
  json_decref(root);
  return rc;
}
