/* limits: a program at its resource limits, for tests/cli/limits.sh. It must behave the
 * same traced as untraced; it never writes a file.
 *
 *   limits nofile SOFT HARD  sets RLIMIT_NOFILE and executes itself again ("opens"), so
 *                            that the tracer starts under the limit; "opens" opens
 *                            /dev/null until EMFILE, prints "opened K", closes them, then
 *                            makes 100 allocations of 100 B and frees 60 of them (leaks
 *                            40 blocks, 4000 B)
 *   limits as MIB            sets RLIMIT_AS to MIB MiB and executes itself again
 *                            ("blocks"): mallocs 64 KiB blocks until malloc fails (at
 *                            most 65536), prints "blocks K", frees them all
 *   limits count N           mallocs N 64 KiB blocks, prints "blocks N", frees them: the
 *                            baseline of "blocks" (its allocations are N + those of
 *                            printing)
 *   limits hello             prints "hello", makes the same 100 allocations as "opens"
 *
 * Exit status 0; 3 when the re-execution failed. Allocations are through malloc/free
 * only, and stdout's buffer is the only other one (printf).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void *blocks[65536];

static void hundred(void) {
  for (int i = 0; i < 100; i++)
    blocks[i] = malloc(100);
  for (int i = 0; i < 60; i++)
    free(blocks[i]);
}

static int again(char *self, const char *mode) {
  execl("/proc/self/exe", self, mode, (char *)NULL);
  return 3;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "nofile") == 0) {
    struct rlimit rl = {strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10)};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      return 3;
    return again(argv[0], "opens");
  }
  if (argc >= 3 && strcmp(argv[1], "as") == 0) {
    struct rlimit rl = {strtoul(argv[2], NULL, 10) << 20, strtoul(argv[2], NULL, 10) << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
      return 3;
    return again(argv[0], "blocks");
  }
  if (argc >= 2 && strcmp(argv[1], "opens") == 0) {
    int n = 0, fds[65536];
    for (int fd; n < 65536 && (fd = open("/dev/null", O_RDONLY)) >= 0;)
      fds[n++] = fd;
    int e = errno;
    printf("opened %d%s\n", n, e == EMFILE ? "" : " (not EMFILE)");
    for (int i = 0; i < n; i++)
      close(fds[i]);
    hundred();
    return 0;
  }
  if (argc >= 2 && (strcmp(argv[1], "blocks") == 0 || strcmp(argv[1], "count") == 0)) {
    int max = argc >= 3 ? atoi(argv[2]) : 65536, n = 0;
    if (max > 65536)
      max = 65536;
    while (n < max && (blocks[n] = malloc(65536)) != NULL)
      n++;
    printf("blocks %d\n", n);
    for (int i = 0; i < n; i++)
      free(blocks[i]);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "hello") == 0) {
    printf("hello\n");
    hundred();
    return 0;
  }
  return 3;
}
