/* Diagnostics without malloc or stdio: vsnprintf into a stack buffer, write(2) to
 * stderr. For the probe's own rare messages only; never on a hot path. Never writes past
 * RLIMIT_FSIZE when stderr is a file (the kernel would kill the program with SIGXFSZ
 * for a line of ours).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
  struct rlimit rl;
  struct stat st;
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && fstat(2, &st) == 0 &&
      S_ISREG(st.st_mode)) {
    off_t at = lseek(2, 0, SEEK_CUR); /* O_APPEND writes at st_size, beyond it anyway */
    if ((uint64_t)(at > st.st_size ? at : st.st_size) + len > (uint64_t)rl.rlim_cur)
      return;
  }
  ssize_t w = write(2, buf, len);
  (void)w;
}
