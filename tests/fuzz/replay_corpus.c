/* Runs the reader fuzz target (fuzz_reader.c) over stored inputs, like libFuzzer's own
 * replay but without clang: every file in the directories (or files) given on the
 * command line, in sorted order. Exit 0 when every input was processed; a broken promise
 * or a sanitizer report aborts. Prints TAP.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, int n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("not ok %d - %s: %s\n", n, path, strerror(errno));
    return 1;
  }
  size_t cap = 1 << 16, len = 0, got;
  uint8_t *buf = malloc(cap);
  while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      uint8_t *b = realloc(buf, cap *= 2);
      if (!b)
        free(buf);
      buf = b;
    }
  }
  fclose(f);
  if (!buf) {
    printf("not ok %d - %s: out of memory\n", n, path);
    return 1;
  }
  fflush(stdout);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  printf("ok %d - %s (%zu bytes)\n", n, path, len);
  return 0;
}

int main(int argc, char **argv) {
  int n = 0, failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      printf("not ok %d - %s: %s\n", ++n, argv[i], strerror(errno));
      failed++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed += run_file(argv[i], ++n);
      continue;
    }
    struct dirent **ents;
    int k = scandir(argv[i], &ents, NULL, alphasort);
    if (k < 0) {
      printf("not ok %d - %s: %s\n", ++n, argv[i], strerror(errno));
      failed++;
      continue;
    }
    for (int j = 0; j < k; j++) {
      if (ents[j]->d_name[0] != '.') {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[i], ents[j]->d_name);
        failed += run_file(path, ++n);
      }
      free(ents[j]);
    }
    free(ents);
  }
  printf("1..%d\n", n);
  return failed || n == 0 ? 1 : 0;
}
