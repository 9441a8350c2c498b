/* Node -> call-site mapping (see sitemap.h): an open-addressing table keyed by the call
 * site's identity, filled from the grouped sites, then one lookup per allocating node.
 */
#define _GNU_SOURCE
#include "sitemap.h"

#include "escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t frame_hash(const atr_frame_t *f) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = f->func; p && *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  for (const char *p = f->file; p && *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h ^ f->line;
}

static int frame_eq(const atr_frame_t *a, const atr_frame_t *b) {
  if (a == b)
    return 1;
  if (a->line != b->line || strcmp(a->func ? a->func : "", b->func ? b->func : "") != 0)
    return 0;
  return (!a->file && !b->file) || (a->file && b->file && strcmp(a->file, b->file) == 0);
}

uint32_t *atr_sitemap_build(const atr_model_t *m, atr_symbolizer_t *sym, const atr_callsite_t *cs,
                            size_t ncs) {
  size_t cap = 16;
  while (cap < ncs * 2)
    cap *= 2;
  uint32_t *tab = malloc(cap * sizeof(*tab)); /* call-site index + 1, 0 = empty */
  uint32_t *map = malloc((m->tr.nnodes ? m->tr.nnodes : 1) * sizeof(*map));
  if (!tab || !map) {
    free(tab);
    free(map);
    return NULL;
  }
  memset(tab, 0, cap * sizeof(*tab));
  for (size_t i = 0; i < ncs; i++) {
    size_t j = frame_hash(cs[i].frame) & (cap - 1);
    while (tab[j] && !frame_eq(cs[tab[j] - 1].frame, cs[i].frame))
      j = (j + 1) & (cap - 1);
    if (!tab[j])
      tab[j] = (uint32_t)i + 1;
  }
  for (size_t n = 0; n < m->tr.nnodes; n++) {
    map[n] = UINT32_MAX;
    if (n == 0 || !atr_model_cost(m, (uint32_t)n)->allocations)
      continue;
    const atr_frame_t *f;
    atr_sym_callsite(sym, (uint32_t)n, &f);
    for (size_t j = frame_hash(f) & (cap - 1); tab[j]; j = (j + 1) & (cap - 1))
      if (frame_eq(cs[tab[j] - 1].frame, f)) {
        map[n] = tab[j] - 1;
        break;
      }
  }
  free(tab);
  return map;
}

const char *atr_sitemap_location(const atr_frame_t *f, char *buf, size_t n) {
  if (f->file) {
    snprintf(buf, n, "%s:%u", f->file, f->line);
    atr_utf8_trim(buf); /* a long name is cut between characters */
  } else
    snprintf(buf, n, "??");
  return buf;
}
