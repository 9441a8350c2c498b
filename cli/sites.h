/* Call-site costs keyed by function name and source file basename (the module when there
 * is no debug info), so one call site matches across builds, line shifts and addresses:
 * what `check` and `diff` compare. Optionally restricted to a function-name pattern.
 * Never copies names: they point into the symbolizer and live until atr_sym_free.
 */
#ifndef ATR_SITES_H
#define ATR_SITES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "symbolize.h"

typedef struct {
  const char *func, *where;      /* where: file basename, else module basename */
  atr_cost_t cost;               /* sum over the site's stacks */
  uint32_t top[ATR_M_COUNT];     /* heaviest stack node per metric, for its backtrace */
  uint64_t top_val[ATR_M_COUNT];
} atr_site_t;

typedef struct {
  atr_site_t *v;
  size_t n, cap;
  uint32_t *tab; /* open addressing: index + 1, 0 empty */
  size_t mask;
} atr_sites_t;

/* Which stacks count: every one (ATR_MATCH_ALL), those whose call site's function
 * matches the pattern (SITE), or those with a matching function anywhere on the stack
 * (UNDER). Patterns are fnmatch(3) globs on the demangled name. */
enum { ATR_MATCH_ALL = -1 };
int atr_sites_collect(atr_sites_t *out, const atr_model_t *m, atr_symbolizer_t *sym,
                      const char *pattern, int scope);
void atr_sites_free(atr_sites_t *s);

/* Budget rules whose pattern has no glob character are names: they are matched all at
 * once, one pass over the stacks with the names hashed, where collecting per rule would
 * cost rules x stacks. For rules[r] literal, its stack nodes are nodes[start[r] ..
 * start[r+1]), ascending (empty for glob rules); both arrays are the caller's to free.
 * 0, or -1 out of memory. collect_nodes sums such a node list like atr_sites_collect. */
int atr_pattern_is_literal(const char *pattern);
struct atr_rule_s;
int atr_sites_match_literals(const atr_model_t *m, atr_symbolizer_t *sym,
                             const struct atr_rule_s *rules, size_t n, size_t **start,
                             uint32_t **nodes);
int atr_sites_collect_nodes(atr_sites_t *out, const atr_model_t *m, atr_symbolizer_t *sym,
                            const uint32_t *nodes, size_t n);

/* Descending by the metric, ties by name; lookups keep working after a sort. */
void atr_sites_sort(atr_sites_t *s, int metric);
const atr_site_t *atr_sites_find(const atr_sites_t *s, const char *func, const char *where);

/* The call-site frame of the site's heaviest stack in the metric (it has the line). */
const atr_frame_t *atr_site_frame(atr_symbolizer_t *sym, const atr_site_t *s, int metric);

/* The backtrace of a stack node as JSON frames, from its call site outward, ending after
 * main (what runs main is the same everywhere, and symbolizing it costs libc's debug
 * information) or after max frames. */
json_t *atr_site_stack_json(atr_symbolizer_t *sym, uint32_t node, int max);

#endif
