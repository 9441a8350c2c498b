/* own_early: a library whose constructor allocates through the executable's own malloc
 * (own_malloc_early links it). ld.so runs its constructor before liballoctrace's, as it
 * runs rustc's libLLVM's: the tracer has not patched that malloc yet. Like a C++ static
 * constructor it first registers its destructor with __cxa_atexit, then keeps
 * EARLY_BLOCKS blocks of EARLY_SIZE bytes, which the destructor frees at exit.
 */
#include <stdlib.h>

#define EARLY_BLOCKS 100
#define EARLY_SIZE 1777

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);
extern void *__dso_handle;

int own_early_blocks(void);

static void *keep[EARLY_BLOCKS];
static int kept;

static void release(void *arg) {
  (void)arg;
  for (int i = 0; i < EARLY_BLOCKS; i++)
    free(keep[i]);
}

__attribute__((constructor)) static void early(void) {
  __cxa_atexit(release, NULL, &__dso_handle);
  for (int i = 0; i < EARLY_BLOCKS; i++)
    kept += (keep[i] = malloc(EARLY_SIZE)) != NULL;
}

/* how many blocks the constructor holds (own_malloc_early checks it, and so needs us) */
__attribute__((visibility("default"))) int own_early_blocks(void) {
  return kept;
}
