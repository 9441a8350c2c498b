/* libhostile_cd.so: a library whose constructor chdirs to $HOSTILE_CHDIR (when set)
 * before liballoctrace's constructor runs (ld.so initialises an executable's own
 * libraries before LD_PRELOAD's), like a daemon library moving to its state directory.
 * It allocates nothing, so the tracer has not started when the directory changes.
 * Linked into hostile_cd (hostile.c) for tests/cli/hostile_env.sh; never writes.
 */
#include <stdlib.h>
#include <unistd.h>

static int moved;

__attribute__((constructor)) static void move_away(void) {
  const char *d = getenv("HOSTILE_CHDIR");
  if (d && chdir(d) != 0)
    _exit(8);
  moved = d != NULL;
}

int hostile_cd_moved(void); /* 1 when the constructor changed directory */
int hostile_cd_moved(void) {
  return moved;
}
