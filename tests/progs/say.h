/* say(): printf to stdout without stdio's buffer, which would be an allocation of its own
 * in a program whose allocations a test counts. For the test programs only.
 */
#ifndef ATR_TEST_SAY_H
#define ATR_TEST_SAY_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0 || write(1, buf, (size_t)n) != n)
    _exit(99);
}

#endif
