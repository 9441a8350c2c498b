/* JSON text shared by the flame graph's JSON writers (the html page's data, speedscope):
 * strings, seconds, and the frames, strings and modules a tree's nodes use, renumbered.
 * Never emits invalid UTF-8 or anything that could end a <script> element.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "flame.h"

/* JSON string, valid UTF-8 (bad bytes become U+FFFD), safe inside <script>. */
void atr__json_str(FILE *out, const char *s) {
  atr_json_quoted(out, s);
}

/* Seconds with microsecond precision and no trailing zeros. */
void atr__json_secs(FILE *out, double s) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.6f", s);
  char *e = buf + strlen(buf);
  while (e > buf && e[-1] == '0')
    *--e = 0;
  if (e > buf && e[-1] == '.')
    *--e = 0;
  fputs(buf, out);
}

void atr__json_u64(FILE *out, uint64_t v) {
  fprintf(out, "%llu", (unsigned long long)v);
}

static uint32_t use(uint32_t *map, uint32_t *list, size_t *n, uint32_t id) {
  if (map[id] == ATR_FLAME_NONE) {
    map[id] = (uint32_t)*n;
    list[(*n)++] = id;
  }
  return map[id];
}

int atr__flame_used(const atr_flame_t *f, atr__flame_used_t *u) {
  memset(u, 0, sizeof(*u));
  size_t nf = f->nframes + 1, ns = f->nstr + 1, nm = f->nmodules + 1;
  u->frame = malloc(nf * sizeof(uint32_t));
  u->str = malloc(ns * sizeof(uint32_t));
  u->mod = malloc(nm * sizeof(uint32_t));
  u->frame_list = malloc(nf * sizeof(uint32_t));
  u->str_list = malloc(ns * sizeof(uint32_t));
  u->mod_list = malloc(nm * sizeof(uint32_t));
  if (!u->frame || !u->str || !u->mod || !u->frame_list || !u->str_list || !u->mod_list)
    return -1;
  memset(u->frame, 0xff, nf * sizeof(uint32_t));
  memset(u->str, 0xff, ns * sizeof(uint32_t));
  memset(u->mod, 0xff, nm * sizeof(uint32_t));
  for (size_t i = 1; i < f->nnodes; i++) {
    uint32_t fr = f->nodes[i].frame;
    if (u->frame[fr] != ATR_FLAME_NONE)
      continue;
    use(u->frame, u->frame_list, &u->nframe, fr);
    const atr_fframe_t *x = &f->frames[fr];
    use(u->str, u->str_list, &u->nstr, x->func);
    if (x->file != ATR_FLAME_NONE)
      use(u->str, u->str_list, &u->nstr, x->file);
    use(u->mod, u->mod_list, &u->nmod, x->module);
  }
  return 0;
}

void atr__flame_used_free(atr__flame_used_t *u) {
  free(u->frame);
  free(u->str);
  free(u->mod);
  free(u->frame_list);
  free(u->str_list);
  free(u->mod_list);
}
