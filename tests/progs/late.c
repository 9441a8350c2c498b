/* liblate: a library late_main links (DT_NEEDED); its destructor runs after
 * liballoctrace's (the loader finalises a preloaded library before the program's other
 * libraries), so what it frees and allocates reaches the trace after the END record. */
#include <stdlib.h>
#include <string.h>

void late_keep(void *p);

static void *kept[16];
static int nkept;

void late_keep(void *p) {
  if (nkept < 16)
    kept[nkept++] = p;
}

__attribute__((noinline)) static void late_cleanup(void) {
  for (int i = 0; i < nkept; i++)
    free(kept[i]);
  for (int i = 0; i < 3; i++) {
    void *p = malloc(3333);
    memset(p, i, 3333);
    free(p);
  }
}

__attribute__((destructor)) static void late_dtor(void) {
  late_cleanup();
}
