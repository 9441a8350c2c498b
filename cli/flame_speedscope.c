/* `flamegraph --format speedscope`: speedscope's JSON file format (the schema at
 * speedscope.app/file-format-schema.json): one "sampled" profile per metric, each tree node
 * with a self cost one sample, and a time-ordered one, the heap over time: every snapshot of
 * the time view in order, as a frame "@ T s" (as wide as the heap was then) over the stacks
 * live at that moment. Never drops a cost: each metric's weights sum to summary's total.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flame.h"

static const char *const titles[ATR_M_COUNT] = {
    [ATR_M_PEAK] = "live bytes at the peak",
    [ATR_M_LEAKED] = "bytes leaked (live at exit)",
    [ATR_M_ALLOCATED] = "bytes allocated",
    [ATR_M_ALLOCATIONS] = "calls to allocation functions",
    [ATR_M_TEMPORARY] = "temporary allocations (freed with no other allocation in between)",
};

static int is_bytes(int metric) {
  return metric == ATR_M_PEAK || metric == ATR_M_LEAKED || metric == ATR_M_ALLOCATED;
}

/* A node's stack root first ("all" left out), as speedscope frame indices. */
static void write_stack(FILE *out, const atr_flame_t *f, const atr__flame_used_t *u,
                        uint32_t node, uint32_t *buf, long prefix) {
  size_t n = 0;
  for (uint32_t a = node; a != 0; a = f->nodes[a].parent)
    buf[n++] = u->frame[f->nodes[a].frame];
  putc('[', out);
  if (prefix >= 0)
    fprintf(out, "%ld%s", prefix, n ? "," : "");
  while (n--)
    fprintf(out, "%u%s", buf[n], n ? "," : "");
  putc(']', out);
}

static void profile_head(FILE *out, const char *name, const char *unit, uint64_t total) {
  fputs("\n{\"type\":\"sampled\",\"name\":", out);
  atr__json_str(out, name);
  fprintf(out, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":", unit);
  atr__json_u64(out, total);
}

int atr_flame_write_speedscope(FILE *out, const atr_flame_doc_t *d) {
  const atr_flame_t *f = d->tree;
  const atr_ftime_t *tv = d->time;
  atr__flame_used_t u;
  uint64_t *inc = NULL;
  uint32_t *buf = malloc((f->nnodes + 1) * sizeof(uint32_t));
  if (!buf || atr__flame_used(f, &u) != 0 || atr_flame_inclusive(f, &inc, NULL) != 0) {
    free(buf);
    atr__flame_used_free(&u);
    return -1;
  }
  const char *prog = d->m->tr.exe ? d->m->tr.exe : "?";
  const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
  char name[4200];
  fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n\"exporter\":"
        "\"alloctrace " ATR_VERSION "\",\"name\":",
        out);
  snprintf(name, sizeof(name), "%s (pid %llu)", base, (unsigned long long)d->m->tr.pid);
  atr__json_str(out, name);
  fprintf(out, ",\"activeProfileIndex\":%d,\n\"shared\":{\"frames\":[", d->metric);
  for (size_t i = 0; i < u.nframe; i++) {
    const atr_fframe_t *fr = &f->frames[u.frame_list[i]];
    fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
    atr__json_str(out, atr_flame_str(f, fr->func));
    if (fr->file != ATR_FLAME_NONE) {
      fputs(",\"file\":", out);
      atr__json_str(out, atr_flame_str(f, fr->file));
      if (fr->line)
        fprintf(out, ",\"line\":%u", fr->line);
    }
    putc('}', out);
  }
  /* the time view's snapshot frames follow the tree's */
  for (size_t s = 0; tv && s < tv->nsnaps; s++) {
    const atr_fsnap_t *sn = &tv->snaps[s];
    char t[64];
    snprintf(t, sizeof(t), "%s@ %.6f s", sn->peak ? "peak " : sn->last ? "exit " : "", sn->t);
    fputs(",\n{\"name\":", out);
    atr__json_str(out, t);
    putc('}', out);
  }
  fputs("]},\n\"profiles\":[", out);
  for (int k = 0; k < ATR_M_COUNT; k++) {
    snprintf(name, sizeof(name), "%s: %s", atr_metric_names[k], titles[k]);
    if (k)
      fputs(",", out);
    profile_head(out, name, is_bytes(k) ? "bytes" : "none", inc[k]);
    fputs(",\"samples\":[", out);
    int first = 1;
    for (size_t i = 1; i < f->nnodes; i++) {
      if (!f->nodes[i].self[k])
        continue;
      fputs(first ? "\n" : ",\n", out);
      first = 0;
      write_stack(out, f, &u, (uint32_t)i, buf, -1);
    }
    fputs("],\"weights\":[", out);
    first = 1;
    for (size_t i = 1; i < f->nnodes; i++)
      if (f->nodes[i].self[k]) {
        fputs(first ? "" : ",", out);
        first = 0;
        atr__json_u64(out, f->nodes[i].self[k]);
      }
    fputs("]}", out);
  }
  if (tv) {
    uint64_t total = 0;
    size_t moments = 0; /* the snapshots with something live */
    for (size_t s = 0; s < tv->nsnaps; s++) {
      moments += tv->snaps[s].n != 0;
      for (size_t i = 0; i < tv->snaps[s].n; i++)
        total += tv->snaps[s].bytes[i];
    }
    snprintf(name, sizeof(name),
             "heap over time: what was live at %zu moments, in time order (use Time Order)",
             moments);
    fputs(",", out);
    profile_head(out, name, "bytes", total);
    fputs(",\"samples\":[", out);
    int first = 1;
    for (size_t s = 0; s < tv->nsnaps; s++)
      for (size_t i = 0; i < tv->snaps[s].n; i++) {
        fputs(first ? "\n" : ",\n", out);
        first = 0;
        write_stack(out, f, &u, tv->snaps[s].node[i], buf, (long)(u.nframe + s));
      }
    fputs("],\"weights\":[", out);
    first = 1;
    for (size_t s = 0; s < tv->nsnaps; s++)
      for (size_t i = 0; i < tv->snaps[s].n; i++) {
        fputs(first ? "" : ",", out);
        first = 0;
        atr__json_u64(out, tv->snaps[s].bytes[i]);
      }
    fputs("]}", out);
  }
  fputs("]}\n", out);
  free(buf);
  free(inc);
  atr__flame_used_free(&u);
  return ferror(out) ? -1 : 0;
}
