/* late_main: allocates 5 x malloc(5555) and hands them to liblate (tests/progs/late.c),
 * whose destructor frees them and does 3 malloc(3333)/free pairs after liballoctrace's
 * own destructor has run. Totals: 8 allocations, 8 frees, nothing leaked; 5 events
 * before the recorder's END record, 11 after it.
 */
#include <stdlib.h>

void late_keep(void *p);

int main(void) {
  for (int i = 0; i < 5; i++)
    late_keep(malloc(5555));
  return 0;
}
