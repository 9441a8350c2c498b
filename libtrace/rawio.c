/* Diagnostics without malloc or stdio: vsnprintf into a stack buffer, write(2) to
 * stderr. For the recorder's own rare messages only; never on a hot path.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tracer.h"

int atr__fmt(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return r;
}

void atr__log(const char *fmt, ...) {
  char buf[512];
  int off = atr__fmt(buf, sizeof(buf), "alloctrace[%d]: ", (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(buf + off, sizeof(buf) - (size_t)off - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)off + (r < 0 ? 0 : (size_t)r);
  if (len > sizeof(buf) - 2)
    len = sizeof(buf) - 2;
  buf[len++] = '\n';
  ssize_t w = write(2, buf, len);
  (void)w;
}

#ifdef ATR_DEBUG
void atr__assert_fail(const char *what, const char *file, int line) {
  atr__log("assertion failed: %s (%s:%d)", what, file, line);
  abort();
}
#endif
