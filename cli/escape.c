/* Escaping trace strings for JSON, XML and the terminal (see escape.h).
 * Never emits a byte sequence that is not valid for the target format; never reads
 * past a string's NUL.
 */
#define _GNU_SOURCE
#include "escape.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int atr_utf8_seq(const unsigned char *p, uint32_t *cp) {
  unsigned c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, v = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, v = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, v = c & 0x07;
  else
    return 0;
  for (int i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) /* a NUL stops here too */
      return 0;
    v = v << 6 | (p[i] & 0x3f);
  }
  if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
      (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

/* ---- JSON ---- */

int atr_utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  uint32_t cp;
  while (*p) {
    int len = atr_utf8_seq(p, &cp);
    if (!len)
      return 0;
    p += len;
  }
  return 1;
}

char *atr_utf8_replace(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  char *c = malloc(3 * n + 1), *o = c; /* at most 3 bytes out per byte in */
  if (!c)
    return NULL;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int len = atr_utf8_seq(p + i, &cp);
    if (!len) {
      memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
      o += 3;
      i++;
    } else {
      memcpy(o, p + i, (size_t)len);
      o += len;
      i += (size_t)len;
    }
  }
  *o = 0;
  return c;
}

json_t *atr_json_text(const char *s) {
  if (!s)
    return json_null();
  if (atr_utf8_valid(s))
    return json_string_nocheck(s);
  char *c = atr_utf8_replace(s);
  json_t *j = c ? json_string_nocheck(c) : NULL;
  free(c);
  return j;
}

void atr_json_quoted(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  putc('"', out);
  while (*p) {
    uint32_t cp;
    int len = atr_utf8_seq(p, &cp);
    if (!len) {
      fputs("\\ufffd", out);
      p++;
      continue;
    }
    if (cp == '"' || cp == '\\')
      fprintf(out, "\\%c", (int)cp);
    else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x2028 || cp == 0x2029)
      fprintf(out, "\\u%04x", (unsigned)cp);
    else
      fwrite(p, 1, (size_t)len, out);
    p += len;
  }
  putc('"', out);
}

/* ---- XML ---- */

void atr_xml_text(FILE *out, const char *s, size_t max, int attr) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t used = 0;
  while (*p) {
    uint32_t cp;
    int len = atr_utf8_seq(p, &cp);
    size_t step = len ? (size_t)len : 1;
    if (used + step > max)
      break;
    used += step;
    switch (len ? cp : 0xfffd) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    case '\'': fputs("&apos;", out); break;
    case '\r': fputs("&#13;", out); break; /* a raw one would be read as a newline */
    case '\n': fputs(attr ? "&#10;" : "\n", out); break;
    case '\t': fputs(attr ? "&#9;" : "\t", out); break;
    default:
      /* XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF];
       * surrogates and values above U+10FFFF never decode */
      if (!len || cp < 0x20 || cp == 0xfffe || cp == 0xffff)
        fputs("\xef\xbf\xbd", out);
      else
        fwrite(p, 1, (size_t)len, out);
    }
    p += step;
  }
}

/* ---- terminal text ---- */

typedef struct {
  int fd;
  unsigned char pend[4]; /* the start of a sequence the last write cut */
  size_t npend;
  int failed;
  void *older; /* the stream made before: open_texts below */
} text_t;

/* The streams made so far, newest first. exit() flushes a stream but never closes it,
 * and LeakSanitizer did not count the cookie inside glibc's FILE as reachable (it
 * reported the stdout stream's 24 bytes as a direct leak, 1 input in the fuzz corpus):
 * held here, they are. */
static text_t *open_texts;

static int put_all(text_t *t, const char *b, size_t n) {
  while (n && !t->failed) {
    ssize_t w = write(t->fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      t->failed = 1;
      break;
    }
    b += w;
    n -= (size_t)w;
  }
  return t->failed ? -1 : 0;
}

/* code points a terminal acts on although they are printable-looking UTF-8 */
static int hidden(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Sanitises d[0..n); a sequence left incomplete at the end is kept in pend when more
 * may follow (last == 0). */
static int clean(text_t *t, const unsigned char *d, size_t n, int last) {
  char o[4096 + 16];
  size_t on = 0, i = 0;
  while (i < n) {
    if (on > 4096) {
      if (put_all(t, o, on) != 0)
        return -1;
      on = 0;
    }
    unsigned c = d[i];
    if (c >= 0x20 && c < 0x7f) {
      o[on++] = (char)c;
      i++;
      continue;
    }
    if (c == '\n' || c == '\t') {
      o[on++] = (char)c;
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xf4 && !last) {
      size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2, have = n - i, k = 1;
      while (k < have && k < need && (d[i + k] & 0xc0) == 0x80)
        k++;
      if (k == have && have < need) { /* cut by the buffer's end: wait for the rest */
        memcpy(t->pend, d + i, have);
        t->npend = have;
        break;
      }
    }
    unsigned char tmp[5] = {0};
    memcpy(tmp, d + i, n - i < 4 ? n - i : 4);
    uint32_t cp;
    int len = c >= 0x80 ? atr_utf8_seq(tmp, &cp) : 0;
    if (len && !hidden(cp)) {
      memcpy(o + on, d + i, (size_t)len);
      on += (size_t)len;
      i += (size_t)len;
    } else if (len) {
      on += (size_t)snprintf(o + on, 16, "\\u%04x", (unsigned)cp);
      i += (size_t)len;
    } else {
      on += (size_t)snprintf(o + on, 16, "\\x%02x", c);
      i++;
    }
  }
  return put_all(t, o, on);
}

static ssize_t text_write(void *cookie, const char *buf, size_t size) {
  text_t *t = cookie;
  const unsigned char *d = (const unsigned char *)buf;
  size_t n = size;
  unsigned char *joined = NULL;
  if (t->npend) {
    if (!(joined = malloc(t->npend + size)))
      return -1;
    memcpy(joined, t->pend, t->npend);
    memcpy(joined + t->npend, buf, size);
    d = joined;
    n += t->npend;
    t->npend = 0;
  }
  int rc = clean(t, d, n, 0);
  free(joined);
  return rc != 0 ? -1 : (ssize_t)size;
}

static int text_close(void *cookie) {
  text_t *t = cookie;
  int rc = t->npend ? clean(t, t->pend, t->npend, 1) : 0;
  rc |= t->failed ? -1 : 0;
  free(t);
  return rc;
}

FILE *atr_text_stream(FILE *to) {
  fflush(to);
  text_t *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->fd = fileno(to);
  t->older = open_texts;
  open_texts = t;
  cookie_io_functions_t io = {.write = text_write, .close = text_close};
  FILE *f = fopencookie(t, "w", io);
  if (!f) {
    open_texts = t->older;
    free(t);
  }
  return f;
}

void atr_text_stdout(void) {
  FILE *f = atr_text_stream(stdout);
  if (f)
    stdout = f;
}

/* ---- cutting ---- */

size_t atr_utf8_fit(const char *s, size_t max) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0;
  while (p[n]) {
    uint32_t cp;
    int len = atr_utf8_seq(p + n, &cp);
    size_t step = len ? (size_t)len : 1;
    if (n + step > max)
      break;
    n += step;
  }
  return n;
}

void atr_utf8_trim(char *buf) {
  size_t n = strlen(buf), k = 0;
  while (k < 3 && k < n && ((unsigned char)buf[n - 1 - k] & 0xc0) == 0x80)
    k++;
  if (k >= n)
    return;
  unsigned char lead = (unsigned char)buf[n - 1 - k];
  size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (lead >= 0xc0 && k + 1 < need)
    buf[n - 1 - k] = 0;
}
