/* x86len_check FILE: decodes every function of FILE (.symtab or .dynsym) with the
 * patcher's x86-64 decoder and prints one line per instruction, "ADDR LEN" in hex, or
 * "FAIL ADDR BYTES" where the decoder gives up, so a test can compare with objdump.
 * Test tool only: reads the file, never runs any of it.
 */
#include <elf.h>
#include <stdio.h>

#include "patch.h"

struct ctx {
  const atr_elf_t *e;
  unsigned long insns, fails;
};

static int one_function(const atr_elf_sym_t *s, void *arg) {
  struct ctx *c = arg;
  const Elf64_Shdr *sec = (const Elf64_Shdr *)c->e->shdrs + s->shndx;
  if (sec->sh_type != SHT_PROGBITS || !s->size)
    return 0;
  uint64_t off = sec->sh_offset + (s->value - sec->sh_addr);
  if (off > c->e->size || s->size > c->e->size - off)
    return 0;
  const uint8_t *p = c->e->map + off;
  uint64_t at = 0;
  printf("F %llx %llx\n", (unsigned long long)s->value, (unsigned long long)s->size);
  while (at < s->size) {
    atr_x86_insn_t in;
    int n = atr__x86_decode(p + at, (size_t)(s->size - at), &in);
    if (n <= 0) {
      printf("FAIL %llx", (unsigned long long)(s->value + at));
      for (uint64_t i = at; i < at + 8 && i < s->size; i++)
        printf(" %02x", p[i]);
      printf("\n");
      c->fails++;
      break;
    }
    printf("%llx %x", (unsigned long long)(s->value + at), n);
    if (in.branch)
      printf(" b%u>%llx", in.branch,
             (unsigned long long)atr__x86_target(p + at, (uintptr_t)(s->value + at), &in));
    if (in.rip_off)
      printf(" r%u", in.rip_off);
    printf("\n");
    c->insns++;
    at += (uint64_t)n;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: x86len_check ELF-FILE\n");
    return 2;
  }
  atr_elf_t e;
  int r = atr__elf_open(&e, argv[1]);
  if (r != 0) {
    fprintf(stderr, "x86len_check: %s: cannot read symbols (%d)\n", argv[1], r);
    return 2;
  }
  struct ctx c = {&e, 0, 0};
  atr__elf_functions(&e, one_function, &c);
  fprintf(stderr, "x86len_check: %s: %lu instructions, %lu functions not decoded\n", argv[1],
          c.insns, c.fails);
  atr__elf_close(&e);
  return 0;
}
