/* Diagnostics without malloc or stdio: vsnprintf into a stack buffer. A message of the
 * probe goes to the recorder as a note of the image's trace (the recorder also prints
 * it on its own stderr, `run`'s terminal), and to descriptor 2 only when no recorder
 * can hear it and descriptor 2 is the terminal the user started the run from: a
 * daemon's descriptor 2 may be its data file (issue 20). Never on a hot path; never
 * writes to a descriptor the program owns otherwise.
 * Never writes past RLIMIT_FSIZE when stderr is a file (the kernel would kill the
 * program with SIGXFSZ for a line of ours).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

int atr__fmt(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return r;
}

/* Descriptor 2 is the user's terminal: the one `run` recorded (ALLOCTRACE_TTY), or,
 * preloaded by hand before any recorder exists, a terminal at all. */
static int stderr_is_users_terminal(void) {
  struct stat st;
  if (fstat(2, &st) != 0 || !S_ISCHR(st.st_mode) || !isatty(2))
    return 0;
  return atr__cfg.tty < 0 || (atr__cfg.tty > 0 && (long long)st.st_rdev == atr__cfg.tty);
}

void atr__log(const char *fmt, ...) {
  char buf[512];
  int off = atr__fmt(buf, sizeof(buf), ATR_LOG_PREFIX "[%d]: ", (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(buf + off, sizeof(buf) - (size_t)off - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)off + (r < 0 ? 0 : (size_t)r);
  if (len > sizeof(buf) - 2)
    len = sizeof(buf) - 2;
  buf[len] = 0;
  if (atr__shmh && atr__conn_fd() >= 0) { /* the recorder hears it */
    atr__note(buf);
    return;
  }
  if (!stderr_is_users_terminal())
    return;
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

#ifdef ATR_DEBUG
void atr__assert_fail(const char *what, const char *file, int line) {
  atr__log("assertion failed: %s (%s:%d)", what, file, line);
  abort();
}
#endif
