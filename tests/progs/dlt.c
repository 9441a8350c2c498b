/* libdlt: a library that tests/progs/procs dlopens and dlcloses. Its constructor
 * allocates 4 x 4001 B (the destructor frees one of them, 3 stay leaked) and dlt_work
 * allocates n x 4002 B that the caller frees after dlclose. Never prints.
 */
#include <stdlib.h>
#include <string.h>

static void *ctor_blocks[4];

__attribute__((noinline)) static void dlt_ctor_alloc(void) {
  for (int i = 0; i < 4; i++) {
    ctor_blocks[i] = malloc(4001);
    memset(ctor_blocks[i], i, 4001);
  }
}

__attribute__((constructor)) static void dlt_ctor(void) {
  dlt_ctor_alloc();
}

__attribute__((destructor)) static void dlt_dtor(void) {
  free(ctor_blocks[0]);
}

void dlt_work(void **out, int n);

__attribute__((noinline)) void dlt_work(void **out, int n) {
  for (int i = 0; i < n; i++) {
    out[i] = malloc(4002);
    memset(out[i], 7, 4002);
  }
}
