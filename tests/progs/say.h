/* say(): printf to stdout (say_err: stderr) without stdio's buffer, which would be an
 * allocation of its own in a program whose allocations a test counts; vsnprintf of
 * these formats allocates nothing, so a fork child may use it whatever locks it
 * inherited. For the test programs only.
 */
#ifndef ATR_TEST_SAY_H
#define ATR_TEST_SAY_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static inline void vsay(int fd, const char *fmt, va_list ap) {
  char buf[512];
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  if (n >= (int)sizeof(buf))
    n = (int)sizeof(buf) - 1;
  if (n < 0 || write(fd, buf, (size_t)n) != n)
    _exit(99);
}

__attribute__((format(printf, 1, 2))) static inline void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(1, fmt, ap);
  va_end(ap);
}

__attribute__((format(printf, 1, 2))) static inline void say_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay(2, fmt, ap);
  va_end(ap);
}

#endif
