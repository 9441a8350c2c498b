/* ck_base: the baseline of the `check` / `diff` test pairs; its allocations are known
 * exactly. Must never print (stdio would allocate a buffer).
 * The variants ck_leak.c, ck_more.c and ck_peak.c define one CK_* macro and #include this
 * file, so every function keeps ck_base.c as its source file in the debug information:
 * call sites match across the builds by function and file, as they would across commits.
 *
 *   load_table   8 x malloc(1024), kept until free_all            8 calls, 8192 B
 *   parse_input  CK_TOKENS x { malloc(64); free }, 16 in the base   16 calls, 1024 B, 16 temporary
 *   remember     malloc(256), kept until free_all                  1 call, 256 B
 *   build_index  malloc(CK_INDEX) from two lines, both live, then both freed (the older
 *                first, so neither is temporary); CK_INDEX is 16384 in the base
 *                                                                   2 calls, 32768 B
 *   free_all     frees the remembered block, then the table
 * Base totals: 27 allocation calls, 27 frees, 42240 B allocated, 16 temporary, peak
 * 41216 B inside build_index (table 8192 + remembered 256 + index 32768), leaked 0.
 * Peak by call site: build_index 32768, load_table 8192, remember 256.
 */
#include <stdlib.h>
#include <string.h>

#ifndef CK_TOKENS
#define CK_TOKENS 16
#endif
#ifndef CK_INDEX
#define CK_INDEX 16384
#endif

static void *table[8], *remembered;

__attribute__((noinline)) static void load_table(void) {
  for (int i = 0; i < 8; i++) {
    table[i] = malloc(1024);
    memset(table[i], i, 1024);
  }
}

__attribute__((noinline)) static void parse_input(void) {
  for (int i = 0; i < CK_TOKENS; i++) {
    volatile char *tok = malloc(64);
    tok[0] = (char)i;
    free((void *)tok);
  }
}

__attribute__((noinline)) static void remember(void) {
  remembered = malloc(256);
  memset(remembered, 7, 256);
}

__attribute__((noinline)) static void build_index(void) {
  char *a = malloc(CK_INDEX);
  char *b = malloc(CK_INDEX);
  memset(a, 1, CK_INDEX);
  memset(b, 2, CK_INDEX);
  free(a);
  free(b);
}

__attribute__((noinline)) static void free_all(void) {
#ifndef CK_LEAK
  free(remembered);
#endif
  remembered = NULL;
  for (int i = 0; i < 8; i++)
    free(table[i]);
}

int main(void) {
  load_table();
  parse_input();
  remember();
  build_index();
  free_all();
  return 0;
}
