/* `flamegraph --format html`: the embedded page template with its stylesheet, scripts and
 * the data (schema "alloctrace.flame/1", read by cli/flamegraph/flame.js) put in place in
 * one pass over the template. Must never emit anything that could end the <script> the
 * data sits in (<, >, &, U+2028/9 are \u escapes) or refer to anything outside the file.
 *
 * Schema "alloctrace.flame/1" (one JSON object):
 *   meta        {program, cmdline, date, pid, totals: {allocations, frees, allocated_bytes,
 *               peak_bytes, leaked_bytes, temporary, peak_rss, duration_s}}
 *   metrics     ["peak","leaked","allocated","allocations","temporary"]: the order of the
 *               values in every cost row; default_metric: the one shown first
 *   diff        true when nodes.base holds the base trace's costs; inverted: start inverted
 *   strings     every name and file once; frames: [func string, file string or -1, line
 *               (0: unknown or several), module]; modules: [{name, class}] with class
 *               program|libc|libstdc++|rust-std|system|other; module_of_frame: per frame
 *   nodes       parent (-1 for the root "all", otherwise an earlier index: preorder), frame
 *               (-1 for the root), self: per node the self costs per metric, base: null or
 *               the same for the base trace. "[other]" nodes hold merged subtrees.
 *   timeline    {t: seconds, heap: live requested bytes, rss: bytes, peak_index} at most
 *               2000 points (per-interval minimum and maximum); empty arrays without events
 *   snapshots   [{t, peak?, live: [[node, live bytes], ...]}] at most 200, in time order;
 *               the one with peak:true is the state at the global peak, the last the exit
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flame.h"
#include "flame_assets.h"
#include "report.h"

static void write_meta(FILE *out, const atr_flame_doc_t *d) {
  const atr_model_t *m = d->m;
  const atr_totals_t *t = &m->t;
  char *cmd = malloc(8192), date[64] = "";
  if (cmd)
    atr_report_cmdline(&m->tr, cmd, 8192);
  time_t secs = (time_t)(m->tr.start_unix_us / 1000000);
  struct tm tm;
  if (m->tr.start_unix_us && gmtime_r(&secs, &tm))
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
  fputs("\"meta\":{\"program\":", out);
  atr__json_str(out, m->tr.exe ? m->tr.exe : "");
  fputs(",\"cmdline\":", out);
  atr__json_str(out, cmd ? cmd : "");
  fputs(",\"date\":", out);
  atr__json_str(out, date);
  fputs(",\"pid\":", out);
  atr__json_u64(out, m->tr.pid);
  fputs(",\"totals\":{\"allocations\":", out);
  atr__json_u64(out, t->allocations);
  fputs(",\"frees\":", out);
  atr__json_u64(out, t->frees);
  fputs(",\"allocated_bytes\":", out);
  atr__json_u64(out, t->allocated_bytes);
  fputs(",\"peak_bytes\":", out);
  atr__json_u64(out, t->peak_bytes);
  fputs(",\"leaked_bytes\":", out);
  atr__json_u64(out, t->leaked_bytes);
  fputs(",\"temporary\":", out);
  atr__json_u64(out, t->temporary);
  fputs(",\"peak_rss\":", out);
  atr__json_u64(out, t->peak_rss);
  fputs(",\"duration_s\":", out);
  atr__json_secs(out, (double)t->duration_us / 1e6);
  fputs("}}", out);
  free(cmd);
}

static void write_costs(FILE *out, const atr_flame_t *f, int base) {
  fputc('[', out);
  for (size_t i = 0; i < f->nnodes; i++) {
    const uint64_t *v = base ? f->nodes[i].base : f->nodes[i].self;
    fputs(i ? ",[" : "[", out);
    for (int k = 0; k < ATR_M_COUNT; k++) {
      if (k)
        putc(',', out);
      atr__json_u64(out, v[k]);
    }
    putc(']', out);
  }
  fputc(']', out);
}

static void write_time(FILE *out, const atr_ftime_t *t) {
  if (!t) {
    fputs(",\"timeline\":null,\"snapshots\":[]", out);
    return;
  }
  fputs(",\"timeline\":{\"t\":[", out);
  for (size_t i = 0; i < t->n; i++) {
    if (i)
      putc(',', out);
    atr__json_secs(out, t->t[i]);
  }
  fputs("],\"heap\":[", out);
  for (size_t i = 0; i < t->n; i++) {
    if (i)
      putc(',', out);
    atr__json_u64(out, t->heap[i]);
  }
  fputs("],\"rss\":[", out);
  for (size_t i = 0; i < t->n; i++) {
    if (i)
      putc(',', out);
    atr__json_u64(out, t->rss[i]);
  }
  fprintf(out, "],\"peak_index\":%zu},\"snapshots\":[", t->peak_index);
  for (size_t s = 0; s < t->nsnaps; s++) {
    const atr_fsnap_t *sn = &t->snaps[s];
    fputs(s ? ",\n{\"t\":" : "\n{\"t\":", out);
    atr__json_secs(out, sn->t);
    fputs(sn->peak ? ",\"peak\":true,\"live\":[" : ",\"live\":[", out);
    for (size_t i = 0; i < sn->n; i++) {
      fprintf(out, "%s[%u,", i ? "," : "", sn->node[i]);
      atr__json_u64(out, sn->bytes[i]);
      putc(']', out);
    }
    fputs("]}", out);
  }
  fputc(']', out);
}

static int write_data(FILE *out, const atr_flame_doc_t *d) {
  const atr_flame_t *f = d->tree;
  atr__flame_used_t u;
  if (atr__flame_used(f, &u) != 0) {
    atr__flame_used_free(&u);
    return -1;
  }
  fputs("{\"schema\":\"alloctrace.flame/1\",\n", out);
  write_meta(out, d);
  fputs(",\n\"metrics\":[", out);
  for (int k = 0; k < ATR_M_COUNT; k++)
    fprintf(out, "%s\"%s\"", k ? "," : "", atr_metric_names[k]);
  fprintf(out, "],\"default_metric\":\"%s\",\"diff\":%s,\"inverted\":%s,\n\"strings\":[",
          atr_metric_names[d->metric], f->diff ? "true" : "false", d->inverted ? "true" : "false");
  for (size_t i = 0; i < u.nstr; i++) {
    if (i)
      putc(',', out);
    atr__json_str(out, atr_flame_str(f, u.str_list[i]));
  }
  fputs("],\n\"frames\":[", out);
  for (size_t i = 0; i < u.nframe; i++) {
    const atr_fframe_t *x = &f->frames[u.frame_list[i]];
    fprintf(out, "%s[%u,%d,%u,%u]", i ? "," : "", u.str[x->func],
            x->file == ATR_FLAME_NONE ? -1 : (int)u.str[x->file], x->line, u.mod[x->module]);
  }
  fputs("],\n\"modules\":[", out);
  for (size_t i = 0; i < u.nmod; i++) {
    const atr_fmodule_t *md = &f->modules[u.mod_list[i]];
    fputs(i ? ",{\"name\":" : "{\"name\":", out);
    atr__json_str(out, atr_flame_str(f, md->name));
    fputs(",\"class\":", out);
    atr__json_str(out, md->cls);
    putc('}', out);
  }
  fputs("],\n\"module_of_frame\":[", out);
  for (size_t i = 0; i < u.nframe; i++)
    fprintf(out, "%s%u", i ? "," : "", u.mod[f->frames[u.frame_list[i]].module]);
  fputs("],\n\"nodes\":{\"parent\":[-1", out);
  for (size_t i = 1; i < f->nnodes; i++)
    fprintf(out, ",%u", f->nodes[i].parent);
  fputs("],\n\"frame\":[-1", out);
  for (size_t i = 1; i < f->nnodes; i++)
    fprintf(out, ",%u", u.frame[f->nodes[i].frame]);
  fputs("],\n\"self\":", out);
  write_costs(out, f, 0);
  fputs(",\n\"base\":", out);
  if (f->diff)
    write_costs(out, f, 1);
  else
    fputs("null", out);
  fputs("}", out);
  write_time(out, d->time);
  fputs("}", out);
  atr__flame_used_free(&u);
  return 0;
}

static const char *find(const unsigned char *hay, size_t n, const char *needle) {
  return memmem(hay, n, needle, strlen(needle));
}

static int contains_ci(const unsigned char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (strncasecmp((const char *)hay + i, needle, k) == 0)
      return 1;
  return 0;
}

int atr_flame_write_html(FILE *out, const atr_flame_doc_t *d) {
  /* the placeholders and what fills them (text NULL: the data) */
  static const struct {
    const char *name, *closing; /* closing: what the text must never contain */
    const unsigned char *text;
    const size_t *len;
  } fill[] = {
      {"/*ATR_CSS*/", "</style", atr_asset_css, &atr_asset_css_len},
      {"/*ATR_JS*/", "</script", atr_asset_js, &atr_asset_js_len},
      {"/*ATR_TABLE_JS*/", "</script", atr_asset_table_js, &atr_asset_table_js_len},
      {"/*ATR_DATA*/", NULL, NULL, NULL},
  };
  enum { N = sizeof(fill) / sizeof(*fill) };
  const unsigned char *tpl = atr_asset_template;
  size_t n = atr_asset_template_len;
  const char *at[N];
  int order[N];
  for (int i = 0; i < N; i++) {
    at[i] = find(tpl, n, fill[i].name);
    if (!at[i] || find((const unsigned char *)at[i] + 1, n - (size_t)(at[i] + 1 - (const char *)tpl),
                       fill[i].name))
      return -2; /* each placeholder exactly once */
    if (fill[i].text && contains_ci(fill[i].text, *fill[i].len, fill[i].closing))
      return -2;
    order[i] = i;
  }
  /* one pass over the template in placeholder order; inserted text is never scanned */
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++)
      if (at[order[j]] < at[order[i]]) {
        int x = order[i];
        order[i] = order[j];
        order[j] = x;
      }
  const char *pos = (const char *)tpl;
  for (int i = 0; i < N; i++) {
    int w = order[i];
    fwrite(pos, 1, (size_t)(at[w] - pos), out);
    if (fill[w].text)
      fwrite(fill[w].text, 1, *fill[w].len, out);
    else if (write_data(out, d) != 0)
      return -1;
    pos = at[w] + strlen(fill[w].name);
  }
  fwrite(pos, 1, n - (size_t)(pos - (const char *)tpl), out);
  return ferror(out) ? -1 : 0;
}
