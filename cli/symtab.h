/* A sorted index of one module's symbol table, built once from what libdwfl loaded
 * (dwfl_module_getsym_info over .symtab, .dynsym or the auxiliary table), answering what
 * dwfl_module_addrinfo answers in O(log n) instead of its scan of every symbol per
 * address. Never changes an answer: the same name at the same address for every input.
 */
#ifndef ATR_SYMTAB_H
#define ATR_SYMTAB_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

typedef struct atr_symtab atr_symtab_t;

/* Indexes mod's symbol table; the names stay owned by mod's Dwfl (free the index before
 * dwfl_end). Returns NULL only when out of memory. */
atr_symtab_t *atr_symtab_build(Dwfl_Module *mod);
void atr_symtab_free(atr_symtab_t *t);

/* The symbol dwfl_module_addrinfo(mod, addr, ...) returns, its address in *value;
 * NULL when it returns none. */
const char *atr_symtab_lookup(const atr_symtab_t *t, uint64_t addr, uint64_t *value);

#endif
