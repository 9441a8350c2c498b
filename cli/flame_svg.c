/* `flamegraph --format svg|folded`: a static SVG laid out like flamegraph.pl's (1200 px
 * wide, one 16 px row per frame, a <title> per frame for hover), and Brendan Gregg's
 * collapsed stacks ("a;b;c 1234", or "a;b;c BASE NEW" for a diff as difffolded.pl
 * writes). Never emits bytes that are not well-formed XML / one stack per line.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "flame.h"
#include "report.h"
#include "util.h"

#define SVG_W 1200
#define XPAD 10
#define ROW 16
#define FONT 12
#define FONT_W 0.59
#define YPAD1 (FONT * 3)
#define YPAD2 (FONT * 2 + 10)
#define MIN_PX 0.1

static const char *frame_name(const atr_flame_t *f, uint32_t node) {
  return node == 0 ? "all" : atr_flame_str(f, f->frames[f->nodes[node].frame].func);
}

static uint32_t fnv(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The palette of cli/flamegraph/flame.js: stable per name, hue by module class. */
static void colour(const char *cls, const char *name, int merged, char *buf, size_t n) {
  uint32_t h = fnv(name);
  double a = (h & 255) / 255.0, b = ((h >> 8) & 255) / 255.0, c = ((h >> 16) & 255) / 255.0;
  double r, g, bl;
  if (merged || strcmp(cls, "other") == 0)
    r = 186 + 36 * a, g = 184 + 36 * a, bl = 178 + 36 * a;
  else if (strcmp(cls, "program") == 0)
    r = 205 + 50 * c, g = 55 + 135 * a, bl = 25 + 40 * b;
  else if (strcmp(cls, "libc") == 0)
    r = 222 + 28 * a, g = 196 + 36 * a, bl = 96 + 50 * b;
  else if (strcmp(cls, "libstdc++") == 0)
    r = 95 + 50 * a, g = 185 + 40 * a, bl = 178 + 40 * b;
  else if (strcmp(cls, "rust-std") == 0)
    r = 236 + 18 * a, g = 140 + 40 * b, bl = 120 + 35 * c;
  else
    r = 178 + 36 * a, g = 166 + 36 * a, bl = 210 + 30 * b;
  snprintf(buf, n, "rgb(%d,%d,%d)", (int)r, (int)g, (int)bl);
}

static void diff_colour(double d, double max_abs, char *buf, size_t n) {
  if (d == 0 || max_abs <= 0) {
    snprintf(buf, n, "rgb(236,236,230)");
    return;
  }
  double k = sqrt(fmin(1.0, fabs(d) / max_abs));
  if (d > 0)
    snprintf(buf, n, "rgb(255,%d,%d)", (int)(232 - 172 * k), (int)(226 - 176 * k));
  else
    snprintf(buf, n, "rgb(%d,%d,255)", (int)(226 - 176 * k), (int)(234 - 144 * k));
}

static int is_bytes(int metric) {
  return metric == ATR_M_PEAK || metric == ATR_M_LEAKED || metric == ATR_M_ALLOCATED;
}

static const char *value_text(char *buf, size_t n, uint64_t v, int metric) {
  char num[48];
  atr_count(num, sizeof(num), v);
  snprintf(buf, n, "%s %s", num,
           is_bytes(metric) ? "bytes" : metric == ATR_M_TEMPORARY ? "temporary" : "allocations");
  return buf;
}

static const char *metric_title(int metric) {
  static const char *const t[ATR_M_COUNT] = {"peak live bytes", "leaked bytes", "allocated bytes",
                                             "allocations", "temporary allocations"};
  return t[metric];
}

static void title_of(FILE *out, const atr_flame_t *f, uint32_t v, uint64_t val, uint64_t bval,
                     uint64_t total, int metric) {
  char buf[96];
  fputs("<title>", out);
  atr_xml_text(out, frame_name(f, v), SIZE_MAX, 0);
  fprintf(out, " (%s, %.2f%%)", value_text(buf, sizeof(buf), val, metric),
          total ? 100.0 * (double)val / (double)total : 0.0);
  if (f->diff) {
    long double d = (long double)val - (long double)bval;
    fprintf(out, "\nbase %s, change %s%.0Lf", value_text(buf, sizeof(buf), bval, metric),
            d > 0 ? "+" : "", d);
    if (bval)
      fprintf(out, " (%+.1Lf%%)", 100 * d / (long double)bval);
  }
  if (v && f->nodes[v].frame == f->other_frame) {
    fputs("\nsmaller frames merged", out);
  } else if (v) {
    const atr_fframe_t *fr = &f->frames[f->nodes[v].frame];
    fputc('\n', out);
    if (fr->file != ATR_FLAME_NONE) {
      atr_xml_text(out, atr_flame_str(f, fr->file), SIZE_MAX, 0);
      if (fr->line)
        fprintf(out, ":%u", fr->line);
      fputc(' ', out);
    }
    fputc('[', out);
    atr_xml_text(out, atr_flame_str(f, f->modules[fr->module].name), SIZE_MAX, 0);
    fputc(']', out);
  }
  fputs("</title>", out);
}

int atr_flame_write_svg(FILE *out, const atr_flame_doc_t *d) {
  const atr_flame_t *f = d->tree;
  const int M = ATR_M_COUNT, k = d->metric;
  size_t n = f->nnodes;
  uint64_t *inc = NULL, *incb = NULL, *cursor = malloc(n * sizeof(uint64_t));
  uint64_t *x = malloc(n * sizeof(uint64_t));
  uint32_t *depth = malloc(n * sizeof(uint32_t));
  if (!cursor || !x || !depth || atr_flame_inclusive(f, &inc, f->diff ? &incb : NULL) != 0) {
    free(cursor);
    free(x);
    free(depth);
    return -1;
  }
  uint64_t total = inc[k];
  double scale = total ? (double)(SVG_W - 2 * XPAD) / (double)total : 0;
  double max_abs = 0;
  uint32_t maxd = 0;
  x[0] = cursor[0] = 0;
  depth[0] = 0;
  for (size_t i = 1; i < n; i++) { /* preorder: siblings left to right in name order */
    uint32_t p = f->nodes[i].parent;
    x[i] = cursor[p];
    cursor[p] += inc[i * M + k];
    cursor[i] = x[i];
    depth[i] = depth[p] + 1;
    if ((double)inc[i * M + k] * scale >= MIN_PX && depth[i] > maxd)
      maxd = depth[i];
    if (incb)
      max_abs = fmax(max_abs, fabs((double)inc[i * M + k] - (double)incb[i * M + k]));
  }
  int height = (int)(maxd + 1) * ROW + YPAD1 + YPAD2;
  char cmd[1024], tot[96], col[48];
  atr_report_cmdline(&d->m->tr, cmd, sizeof(cmd));
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
          "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "xmlns=\"http://www.w3.org/2000/svg\">\n"
          "<!-- alloctrace flamegraph: frame width = %s; hover a frame for its numbers -->\n"
          "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
          "<stop stop-color=\"#eeeeee\" offset=\"5%%\"/><stop stop-color=\"%s\" offset=\"95%%\"/>"
          "</linearGradient></defs>\n"
          "<style type=\"text/css\">text { font-family: Verdana, sans-serif; font-size: %dpx; "
          "fill: rgb(0,0,0); } .title { font-size: 17px; text-anchor: middle; } "
          ".sub { fill: rgb(90,90,90); } g:hover rect { stroke: black; stroke-width: 0.5; }</style>\n"
          "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#background)\"/>\n"
          "<text class=\"title\" x=\"%d\" y=\"24\">",
          SVG_W, height, SVG_W, height, metric_title(k), f->diff ? "#e0e0ff" : "#eeeeb0", FONT,
          SVG_W, height, SVG_W / 2);
  fprintf(out, "%s%s: %s", f->diff ? "Differential allocation " : "Allocation ",
          d->inverted ? "icicle graph (inverted)" : "flame graph", metric_title(k));
  fprintf(out, "</text>\n<text class=\"sub\" x=\"%d\" y=\"%d\">", XPAD, height - 10);
  atr_xml_text(out, cmd, 200, 0);
  fprintf(out, " \xe2\x80\x94 total %s", value_text(tot, sizeof(tot), total, k));
  if (f->diff)
    fprintf(out, " (base %s); red grew, blue shrank", value_text(tot, sizeof(tot), incb[k], k));
  fputs("</text>\n", out);
  for (size_t i = 0; i < n; i++) {
    double w = (double)inc[i * M + k] * scale;
    if (w < MIN_PX || (i && !total))
      continue;
    double x1 = XPAD + (double)x[i] * scale;
    int y = d->inverted ? YPAD1 + (int)depth[i] * ROW : height - YPAD2 - (int)(depth[i] + 1) * ROW;
    const char *name = frame_name(f, (uint32_t)i);
    if (f->diff && i)
      diff_colour((double)inc[i * M + k] - (double)incb[i * M + k], max_abs, col, sizeof(col));
    else if (i == 0)
      snprintf(col, sizeof(col), "rgb(214,210,202)");
    else
      colour(f->modules[f->frames[f->nodes[i].frame].module].cls, name,
             f->nodes[i].frame == f->other_frame, col, sizeof(col));
    fputs("<g>", out);
    title_of(out, f, (uint32_t)i, inc[i * M + k], incb ? incb[i * M + k] : 0, total, k);
    fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" rx=\"2\" ry=\"2\"/>",
            x1, y, w, ROW - 1, col);
    size_t fit = (size_t)((w - 6) / (FONT * FONT_W));
    if (fit >= 3) {
      fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x1 + 3, y + 10.5);
      size_t len = strlen(name);
      atr_xml_text(out, name, len <= fit ? len : fit - 2, 0);
      if (len > fit)
        fputs("..", out);
      fputs("</text>", out);
    }
    fputs("</g>\n", out);
  }
  fputs("</svg>\n", out);
  free(inc);
  free(incb);
  free(cursor);
  free(x);
  free(depth);
  return ferror(out) ? -1 : 0;
}

/* A frame name as one folded-stack element: ';' separates frames and the line ends the stack. */
static void folded_name(FILE *out, const char *s) {
  for (; *s; s++)
    putc(*s == ';' ? ':' : *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

int atr_flame_write_folded(FILE *out, const atr_flame_doc_t *d) {
  const atr_flame_t *f = d->tree;
  uint32_t *path = malloc((f->nnodes + 1) * sizeof(uint32_t));
  if (!path)
    return -1;
  size_t depth = 0;
  for (size_t i = 1; i < f->nnodes; i++) {
    /* preorder: the ancestors of i are a prefix of the current path */
    while (depth && path[depth - 1] != f->nodes[i].parent)
      depth--;
    path[depth++] = (uint32_t)i;
    uint64_t v = f->nodes[i].self[d->metric], b = f->nodes[i].base[d->metric];
    if (!v && !(f->diff && b))
      continue;
    for (size_t j = 0; j < depth; j++) {
      if (j)
        putc(';', out);
      folded_name(out, frame_name(f, path[d->inverted ? depth - 1 - j : j]));
    }
    if (f->diff)
      fprintf(out, " %llu %llu\n", (unsigned long long)b, (unsigned long long)v);
    else
      fprintf(out, " %llu\n", (unsigned long long)v);
  }
  free(path);
  return ferror(out) ? -1 : 0;
}
