/* Reads the function symbols of a loaded module from its file on disk (.symtab, or
 * .dynsym when stripped) with plain ELF parsing over a read-only mmap of the file.
 * Never allocates and never trusts an offset in the file without a bounds check.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "patch.h"

static int in_file(const atr_elf_t *e, uint64_t off, uint64_t len) {
  return off <= e->size && len <= e->size - off;
}

static const Elf64_Shdr *shdr(const atr_elf_t *e, unsigned i) {
  return (const Elf64_Shdr *)e->shdrs + i;
}

static int use_table(atr_elf_t *e, const Elf64_Shdr *sh) {
  if (sh->sh_entsize != sizeof(Elf64_Sym) || !in_file(e, sh->sh_offset, sh->sh_size) ||
      sh->sh_link >= e->nsh)
    return -1;
  const Elf64_Shdr *str = shdr(e, sh->sh_link);
  if (str->sh_type != SHT_STRTAB || !in_file(e, str->sh_offset, str->sh_size))
    return -1;
  e->syms = e->map + sh->sh_offset;
  e->nsyms = sh->sh_size / sizeof(Elf64_Sym);
  e->strs = (const char *)e->map + str->sh_offset;
  e->strsize = str->sh_size;
  return 0;
}

int atr__elf_open(atr_elf_t *e, const char *path) {
  memset(e, 0, sizeof(*e));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
    close(fd);
    return -ENOEXEC;
  }
  void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED)
    return -errno;
  e->map = m;
  e->size = (size_t)st.st_size;
  const Elf64_Ehdr *eh = m;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
      eh->e_shentsize != sizeof(Elf64_Shdr) ||
      !in_file(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr))) {
    atr__elf_close(e);
    return -ENOEXEC;
  }
  e->shdrs = e->map + eh->e_shoff;
  e->nsh = eh->e_shnum;
  const Elf64_Shdr *dyn = NULL;
  for (unsigned i = 0; i < e->nsh; i++) {
    const Elf64_Shdr *sh = shdr(e, i);
    if (sh->sh_type == SHT_SYMTAB && use_table(e, sh) == 0) {
      e->is_symtab = 1;
      return 0;
    }
    if (sh->sh_type == SHT_DYNSYM)
      dyn = sh;
  }
  if (dyn && use_table(e, dyn) == 0)
    return 0;
  atr__elf_close(e);
  return -ENOENT;
}

void atr__elf_close(atr_elf_t *e) {
  if (e->map)
    munmap((void *)e->map, e->size);
  memset(e, 0, sizeof(*e));
}

size_t atr__elf_build_id(const atr_elf_t *e, uint8_t *out, size_t max) {
  for (unsigned i = 0; i < e->nsh; i++) {
    const Elf64_Shdr *sh = shdr(e, i);
    if (sh->sh_type != SHT_NOTE || !in_file(e, sh->sh_offset, sh->sh_size))
      continue;
    const uint8_t *p = e->map + sh->sh_offset, *end = p + sh->sh_size;
    while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
      Elf64_Nhdr nh;
      memcpy(&nh, p, sizeof(nh));
      size_t name = (nh.n_namesz + 3u) & ~3u, desc = (nh.n_descsz + 3u) & ~3u;
      if (name > (size_t)(end - p) - sizeof(nh) || desc > (size_t)(end - p) - sizeof(nh) - name)
        break;
      const uint8_t *n = p + sizeof(nh);
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(n, "GNU", 4) == 0 &&
          nh.n_descsz <= max) {
        memcpy(out, n + name, nh.n_descsz);
        return nh.n_descsz;
      }
      p += sizeof(nh) + name + desc;
    }
  }
  return 0;
}

/* Fills *out for symbol i when it is a defined function in an executable section. */
static int function_at(const atr_elf_t *e, size_t i, atr_elf_sym_t *out) {
  const Elf64_Sym *s = (const Elf64_Sym *)e->syms + i;
  if (ELF64_ST_TYPE(s->st_info) != STT_FUNC) /* an IFUNC symbol is its resolver */
    return 0;
  if (s->st_shndx == SHN_UNDEF || s->st_shndx >= e->nsh || s->st_name >= e->strsize)
    return 0;
  const Elf64_Shdr *sec = shdr(e, s->st_shndx);
  if (!(sec->sh_flags & SHF_EXECINSTR) || s->st_value < sec->sh_addr ||
      s->st_value >= sec->sh_addr + sec->sh_size)
    return 0;
  const char *name = e->strs + s->st_name;
  if (!memchr(name, 0, e->strsize - s->st_name))
    return 0;
  out->name = name;
  out->value = s->st_value;
  out->size = s->st_size;
  out->sec_end = sec->sh_addr + sec->sh_size;
  out->shndx = s->st_shndx;
  return 1;
}

void atr__elf_functions(const atr_elf_t *e, int (*fn)(const atr_elf_sym_t *, void *), void *ctx) {
  atr_elf_sym_t s;
  for (size_t i = 0; i < e->nsyms; i++)
    if (function_at(e, i, &s) && fn(&s, ctx))
      return;
}

void atr__elf_next_symbols(const atr_elf_t *e, const atr_elf_sym_t *syms, size_t n,
                           uint64_t *next) {
  for (size_t k = 0; k < n; k++)
    next[k] = syms[k].sec_end;
  for (size_t i = 0; i < e->nsyms; i++) {
    const Elf64_Sym *s = (const Elf64_Sym *)e->syms + i;
    unsigned type = ELF64_ST_TYPE(s->st_info);
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS ||
        s->st_shndx == SHN_UNDEF)
      continue;
    for (size_t k = 0; k < n; k++)
      if (s->st_shndx == syms[k].shndx && s->st_value > syms[k].value && s->st_value < next[k])
        next[k] = s->st_value;
  }
}
