/* Unit test of cli/escape.c and cli/outfile.c: the strict UTF-8 decoder on every class of
 * bad sequence, the JSON, XML and terminal escapers byte for byte (the terminal stream
 * fed one byte per write, so every sequence is split across writes), cutting between
 * characters, and an output file replacing a symlink instead of writing through it.
 * Prints TAP. Never writes outside the temporary directory it makes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "outfile.h"

static int ntest, nfailed;

static void check(int cond, const char *what, const char *got) {
  ntest++;
  if (!cond)
    nfailed++;
  printf("%s %d - %s", cond ? "ok" : "not ok", ntest, what);
  if (!cond && got) {
    printf(": got '");
    for (const unsigned char *p = (const unsigned char *)got; *p; p++)
      printf(*p >= 0x20 && *p < 0x7f ? "%c" : "\\x%02x", *p);
    printf("'");
  }
  printf("\n");
}

static void seq(const char *s, int want_len, unsigned want_cp, const char *what) {
  uint32_t cp = 0;
  int len = atr_utf8_seq((const unsigned char *)s, &cp);
  check(len == want_len && (!len || cp == want_cp), what, NULL);
}

/* what a writer prints for s, as a NUL-terminated string */
static char *capture(void (*fn)(FILE *, const char *), const char *s) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  fn(f, s);
  fclose(f);
  return buf;
}
static void xml_text(FILE *f, const char *s) { atr_xml_text(f, s, SIZE_MAX, 0); }
static void xml_attr(FILE *f, const char *s) { atr_xml_text(f, s, SIZE_MAX, 1); }
static void xml_cut(FILE *f, const char *s) { atr_xml_text(f, s, 7, 0); }

static void expect_out(void (*fn)(FILE *, const char *), const char *in, const char *want,
                       const char *what) {
  char *got = capture(fn, in);
  check(strcmp(got, want) == 0, what, got);
  free(got);
}

/* what the terminal stream writes to a file for s, fed one byte per write (unbuffered) */
static void text_bytes(FILE *out, const char *s) {
  char path[] = "/tmp/atr-escape.XXXXXX";
  int fd = mkstemp(path);
  FILE *to = fdopen(fd, "w+");
  FILE *t = atr_text_stream(to);
  setvbuf(t, NULL, _IONBF, 0);
  for (const char *p = s; *p; p++)
    fputc(*p, t);
  fclose(t);
  char buf[512] = "";
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  fclose(to);
  unlink(path);
  fputs(buf, out);
}

int main(void) {
  seq("A", 1, 'A', "ASCII");
  seq("\xc3\xa9", 2, 0xe9, "two bytes");
  seq("\xe2\x82\xac", 3, 0x20ac, "three bytes");
  seq("\xf0\x9f\x98\x80", 4, 0x1f600, "four bytes");
  seq("\xef\xbf\xbe", 3, 0xfffe, "U+FFFE is well-formed UTF-8");
  seq("\xc0\xaf", 0, 0, "overlong two-byte form rejected");
  seq("\xe0\x80\xaf", 0, 0, "overlong three-byte form rejected");
  seq("\xf0\x80\x80\xaf", 0, 0, "overlong four-byte form rejected");
  seq("\xed\xa0\x80", 0, 0, "surrogate rejected");
  seq("\xf4\x90\x80\x80", 0, 0, "above U+10FFFF rejected");
  seq("\xf5\x80\x80\x80", 0, 0, "0xf5 lead rejected");
  seq("\x80", 0, 0, "stray continuation rejected");
  seq("\xe2\x82", 0, 0, "cut sequence rejected (stops at the NUL)");

  json_t *j = atr_json_text("a\xff\xed\xa0\x80z\x1b");
  check(j && strcmp(json_string_value(j), "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\x1b") == 0,
        "JSON: one U+FFFD per bad byte, ESC kept (jansson escapes it)", j ? json_string_value(j) : "NULL");
  json_decref(j);
  j = atr_json_text(NULL);
  check(j && json_is_null(j), "JSON: NULL is null", NULL);
  json_decref(j);
  expect_out(atr_json_quoted, "<\"\xff\xe2\x80\xa8\x01>", "\"\\u003c\\\"\\ufffd\\u2028\\u0001\\u003e\"",
             "JSON quoted: markup, quote, bad byte, U+2028, control");

  expect_out(xml_text, "a&<\x1b\xef\xbf\xbe\xed\xa0\x80\t\n\r\xc2\x85z",
             "a&amp;&lt;\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\t\n&#13;\xc2\x85z",
             "XML text: only XML 1.0 Chars");
  expect_out(xml_attr, "\"\t\n'", "&quot;&#9;&#10;&apos;", "XML attribute: tab and newline as references");
  expect_out(xml_cut, "abcde\xc3\xa9\xc3\xa9", "abcde\xc3\xa9", "XML: cut between characters");

  expect_out(text_bytes, "ok\t\n\x1b[2J\x07\x7f\xff\xc2\x9b\xc3\xa9\xe2\x80\xae\xf0\x9f\x98\x80\xe2\x82",
             "ok\t\n\\x1b[2J\\x07\\x7f\\xff\\u009b\xc3\xa9\\u202e\xf0\x9f\x98\x80\\xe2\\x82",
             "terminal: controls, DEL, bad bytes, C1, bidi escaped; split sequences joined");

  check(atr_utf8_fit("ab\xc3\xa9", 3) == 2, "fit: not inside a sequence", NULL);
  char cut[] = "ab\xe2\x82";
  atr_utf8_trim(cut);
  check(strcmp(cut, "ab") == 0, "trim: a cut sequence dropped", cut);
  char whole[] = "ab\xe2\x82\xac";
  atr_utf8_trim(whole);
  check(strcmp(whole, "ab\xe2\x82\xac") == 0, "trim: a whole sequence kept", whole);

  char dir[] = "/tmp/atr-outfile.XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char victim[256], target[256], err[256];
  snprintf(victim, sizeof(victim), "%s/victim", dir);
  snprintf(target, sizeof(target), "%s/out", dir);
  FILE *v = fopen(victim, "w");
  fputs("victim\n", v);
  fclose(v);
  if (symlink(victim, target) != 0)
    return 1;
  atr_outfile_t o;
  int rc = atr_outfile_open(&o, target, err, sizeof(err));
  if (rc == 0) {
    fputs("new\n", o.f);
    rc = atr_outfile_commit(&o, err, sizeof(err));
  }
  struct stat st;
  char got[64] = "";
  v = fopen(victim, "r");
  if (!fgets(got, sizeof(got), v))
    got[0] = 0;
  fclose(v);
  check(rc == 0 && lstat(target, &st) == 0 && S_ISREG(st.st_mode) && strcmp(got, "victim\n") == 0,
        "outfile: a symlink at the target is replaced, its file untouched", got);
  rc = atr_outfile_open(&o, target, err, sizeof(err));
  fputs("half", o.f);
  atr_outfile_abort(&o);
  v = fopen(target, "r");
  if (!fgets(got, sizeof(got), v))
    got[0] = 0;
  fclose(v);
  check(rc == 0 && strcmp(got, "new\n") == 0, "outfile: an aborted write leaves the old file", got);
  unlink(target);
  unlink(victim);
  check(rmdir(dir) == 0, "outfile: no temporary left behind", NULL);

  printf("1..%d\n", ntest);
  return nfailed != 0;
}
