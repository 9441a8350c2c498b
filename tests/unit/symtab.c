/* Unit test of the symbol index (cli/symtab.c) against dwfl_module_addrinfo, the scan it
 * replaces: the same name and address for every address of the fixtures (aliases, nested
 * and overlapping symbols, sizeless labels, with and without .symtab) and, sampled, of
 * every object this program has loaded (libc, libdw, libelf, ...) and of the files given
 * as arguments. Prints TAP. Must never depend on anything but libdw, libelf and libc.
 */
#define _GNU_SOURCE
#include <elfutils/libdwfl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symtab.h"

#define BIAS 0x7f0000000000ull /* a load address as the recorder would record one */
#define SAMPLES 1500           /* random addresses (and symbols) per big module */

static int ntest, nfailed;
static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

typedef struct {
  Dwfl_Module *mod;
  atr_symtab_t *t;
  unsigned long checked, bad;
  char first_bad[300];
} check_t;

static void check_at(check_t *c, uint64_t addr) {
  GElf_Off off;
  GElf_Sym sym;
  const char *want = dwfl_module_addrinfo(c->mod, addr, &off, &sym, NULL, NULL, NULL);
  uint64_t value = 0;
  const char *got = atr_symtab_lookup(c->t, addr, &value);
  c->checked++;
  if (got == want && (!got || value == addr - off))
    return;
  if (!c->bad++)
    snprintf(c->first_bad, sizeof(c->first_bad), "at +0x%llx: dwfl %s+0x%llx, index %s+0x%llx",
             (unsigned long long)(addr - BIAS), want ? want : "(none)", (unsigned long long)off,
             got ? got : "(none)", (unsigned long long)(addr - value));
}

/* every: check each address of the module (small ones), else symbol edges and samples */
static void check_file(const char *path, int every) {
  Dwfl *dwfl = dwfl_begin(&callbacks);
  dwfl_report_begin(dwfl);
  Dwfl_Module *mod = dwfl_report_elf(dwfl, "m", path, -1, BIAS, false);
  dwfl_report_end(dwfl, NULL, NULL);
  ntest++;
  if (!mod) {
    printf("not ok %d - %s: dwfl_report_elf: %s\n", ntest, path, dwfl_errmsg(-1));
    nfailed++;
    dwfl_end(dwfl);
    return;
  }
  check_t c = {.mod = mod, .t = atr_symtab_build(mod)};
  if (!c.t) {
    printf("not ok %d - %s: atr_symtab_build failed\n", ntest, path);
    nfailed++;
    dwfl_end(dwfl);
    return;
  }
  Dwarf_Addr lo, hi;
  dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
  if (every) {
    for (uint64_t a = lo - 16; a < hi + 16; a++)
      check_at(&c, a);
  } else {
    int n = dwfl_module_getsymtab(mod);
    int stride = n > SAMPLES ? n / SAMPLES : 1;
    for (int i = 1; i < n; i += stride) {
      GElf_Sym sym;
      GElf_Addr v;
      if (!dwfl_module_getsym_info(mod, i, &sym, &v, NULL, NULL, NULL))
        continue;
      uint64_t at[] = {v - 1, v, v + 1, v + sym.st_size / 2, v + sym.st_size - 1, v + sym.st_size};
      for (size_t k = 0; k < sizeof(at) / sizeof(*at); k++)
        check_at(&c, at[k]);
    }
    for (int i = 0; i < SAMPLES && hi > lo; i++)
      check_at(&c, lo + next() % (hi - lo));
  }
  check_at(&c, 0);
  check_at(&c, UINT64_MAX - 1);
  if (c.bad) {
    printf("not ok %d - %s: %lu of %lu addresses differ, first %s\n", ntest, path, c.bad,
           c.checked, c.first_bad);
    nfailed++;
  } else {
    printf("ok %d - %s: %lu addresses as dwfl_module_addrinfo\n", ntest, path, c.checked);
  }
  atr_symtab_free(c.t);
  dwfl_end(dwfl);
}

static int on_object(struct dl_phdr_info *info, size_t size, void *ctx) {
  if (info->dlpi_name && info->dlpi_name[0] == '/')
    check_file(info->dlpi_name, 0);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++)
    check_file(argv[i], 1); /* the fixtures: every address */
  for (i++; i < argc; i++)
    check_file(argv[i], 0);
  check_file("/proc/self/exe", 0);
  dl_iterate_phdr(on_object, NULL);
  printf("1..%d\n", ntest);
  return nfailed ? 1 : 0;
}
