/* rust_cdylib_host LIB: a C program that dlopens a Rust cdylib (tests/rust/rust_cdylib.rs,
 * built by the test) and calls its `rs_work`, so the Rust allocator shims the recorder must
 * patch arrive after start-up, with dlopen. Exits with rs_work's result (0 = ok).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rust_cdylib_host LIBRARY\n");
    return 2;
  }
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) {
    fprintf(stderr, "rust_cdylib_host: %s\n", dlerror());
    return 2;
  }
  int (*work)(void);
  void *sym = dlsym(h, "rs_work");
  if (!sym) {
    fprintf(stderr, "rust_cdylib_host: no rs_work in %s\n", argv[1]);
    return 2;
  }
  memcpy(&work, &sym, sizeof(work)); /* POSIX: dlsym results convert to function pointers */
  return work();
}
