/* evil_names: allocation sites whose function names, file name and argv hold bytes that
 * no output may pass through raw (tests/cli/outputs.sh). Never prints anything.
 *
 * The file name (DWARF, from the #line below) is "evil\x1b]0;pwned\x07\xff.c": an OSC
 * window-title sequence, BEL and an invalid byte. The functions (asm labels: the symbol
 * names are these bytes; the symbolizer prefers them to DWARF's C names) each allocate
 * (1000 + i) * argc bytes with one malloc, called once from main, never freed:
 *   i=1 "evil\x1b[2Jclear"               ESC CSI: clears the screen
 *   i=2 "title\x1b]0;pwned\x07"          OSC 0 ... BEL: sets the window title
 *   i=3 "bad\xff\xfe"                    bytes that are never UTF-8
 *   i=4 "overlong\xc0\xaf\xe0\x80\xaf"  overlong forms of '/'
 *   i=5 "nonchar\xef\xbf\xbe\xef\xbf\xbf" U+FFFE U+FFFF (valid UTF-8, not XML Chars)
 *   i=6 "surrogate\xed\xa0\x80"          U+D800 encoded in UTF-8
 *   i=7 "big\xf4\x90\x80\x80"            U+110000, above the last code point
 *   i=8 "c1\xc2\x9b" "31m\x7f"           C1 CSI (U+009B) and DEL
 *   i=9 "caf\xc3\xa9_ok"                 valid UTF-8 that every output keeps as it is
 * and "grow\x1b[2J": malloc(16), then 11 reallocs doubling it to 32768 bytes, left live
 * (one growth chain of 11 steps).
 * Leaked in total: sum(1000+i, i=1..9) * argc = 9045 * argc bytes, plus 32768.
 * Its argv is whatever the test passes (the test passes such bytes too).
 */
#include <stdlib.h>

#line 1 "evil\x1b]0;pwned\x07\xff.c"
#define EVIL(fn, label)                                                                  \
  __attribute__((noinline)) void *fn(size_t n) __asm__("\"" label "\"");               \
  __attribute__((noinline)) void *fn(size_t n) { return malloc(n); }
EVIL(f1, "evil\x1b[2Jclear")
EVIL(f2, "title\x1b]0;pwned\x07")
EVIL(f3, "bad\xff\xfe")
EVIL(f4, "overlong\xc0\xaf\xe0\x80\xaf")
EVIL(f5, "nonchar\xef\xbf\xbe\xef\xbf\xbf")
EVIL(f6, "surrogate\xed\xa0\x80")
EVIL(f7, "big\xf4\x90\x80\x80")
EVIL(f8, "c1\xc2\x9b" "31m\x7f")
EVIL(f9, "caf\xc3\xa9_ok")

__attribute__((noinline)) void *grow(void) __asm__("\"grow\x1b[2J\"");
__attribute__((noinline)) void *grow(void) {
  char *p = malloc(16);
  for (size_t n = 32; n <= 32768 && p; n *= 2) {
    char *q = realloc(p, n);
    if (!q)
      break;
    q[n - 1] = 1;
    p = q;
  }
  return p;
}

void *volatile sink[10];

int main(int argc, char **argv) {
  (void)argv;
  size_t k = (size_t)argc;
  void *(*const fs[])(size_t) = {f1, f2, f3, f4, f5, f6, f7, f8, f9};
  for (size_t i = 0; i < 9; i++)
    sink[i] = fs[i]((1000 + i + 1) * k);
  sink[9] = grow();
  return 0;
}
