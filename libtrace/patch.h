/* Internal interface of the code patcher: the x86-64 instruction decoder, the ELF
 * symbol reader, text writes and trampolines, and the hook tables that use them.
 * Nothing declared here allocates from the heap or calls a hooked function.
 */
#ifndef ATR_PATCH_H
#define ATR_PATCH_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "tracer.h"

/* ---- x86-64 instruction decoder (x86len.c) ---- */
enum atr_x86_branch {
  ATR_X86_NONE = 0,
  ATR_X86_JMP,  /* jmp rel8/rel32 */
  ATR_X86_JCC,  /* jcc rel8/rel32; cc in atr_x86_insn.cc */
  ATR_X86_CALL, /* call rel32 */
  ATR_X86_OTHER /* loop/jrcxz/xbegin: relative, cannot be relocated */
};

typedef struct atr_x86_insn {
  uint8_t len;
  uint8_t branch;   /* enum atr_x86_branch */
  uint8_t cc;       /* condition code of a jcc (0..15) */
  uint8_t rel_off;  /* offset of the rel8/rel32 of a branch */
  uint8_t rel_size; /* 1 or 4 */
  uint8_t rip_off;  /* offset of the disp32 of a RIP-relative operand, 0 = none */
  uint8_t ends;     /* ret, jmp or ud2/int3/hlt: control does not fall through */
} atr_x86_insn_t;

/* Decodes one instruction of at most `max` readable bytes. Returns its length, or 0
 * when the bytes are not an instruction this decoder knows (callers then refuse). */
ATR_HIDDEN int atr__x86_decode(const uint8_t *p, size_t max, atr_x86_insn_t *out);
/* Branch target of a decoded relative branch at address `at`. */
ATR_HIDDEN uintptr_t atr__x86_target(const uint8_t *p, uintptr_t at, const atr_x86_insn_t *in);

/* ---- ELF symbols of a module, read from its file (elfsyms.c) ---- */
typedef struct atr_elf {
  const uint8_t *map;
  size_t size;
  const void *syms; /* Elf64_Sym[] of .symtab, or .dynsym when the file is stripped */
  size_t nsyms;
  const char *strs;
  size_t strsize;
  const void *shdrs; /* Elf64_Shdr[] */
  unsigned nsh;
  int is_symtab; /* 0: only .dynsym */
} atr_elf_t;

typedef struct atr_elf_sym {
  const char *name;
  uint64_t value, size; /* link-time address and st_size */
  uint64_t sec_end;     /* end of its (executable) section */
  unsigned shndx;
} atr_elf_sym_t;

ATR_HIDDEN int atr__elf_open(atr_elf_t *e, const char *path); /* 0 or -errno */
ATR_HIDDEN void atr__elf_close(atr_elf_t *e);
/* The file's GNU build-id (SHT_NOTE); returns its length, 0 when it has none. */
ATR_HIDDEN size_t atr__elf_build_id(const atr_elf_t *e, uint8_t *out, size_t max);
/* Calls fn for every defined function symbol in an executable section; stops when fn
 * returns non-zero. */
ATR_HIDDEN void atr__elf_functions(const atr_elf_t *e, int (*fn)(const atr_elf_sym_t *, void *),
                                   void *ctx);
/* Address of the first symbol after each of addrs[0..n) in the same section (or the
 * section's end): how many bytes a patch there may use. */
ATR_HIDDEN void atr__elf_next_symbols(const atr_elf_t *e, const atr_elf_sym_t *syms, size_t n,
                                      uint64_t *next);

/* ---- text patching (patch.c) ---- */
typedef void (*atr_hook_fn)(void); /* a hook, whatever its real prototype */
/* A redirected entry jumps to a stub that loads the real function into r8 (the fifth
 * integer argument: every hooked function takes at most four) and jumps to the hook. */
typedef struct atr_patch_req {
  uintptr_t entry;     /* address of the function in memory */
  uintptr_t room;      /* bytes up to the next symbol */
  uintptr_t fn_size;   /* st_size of the function (0 = unknown) */
  atr_hook_fn hook;
  uintptr_t mod_lo, mod_hi; /* the module: a shim's jump must stay inside it */
  uintptr_t real;      /* out: what the hook must call */
  char why[96];        /* out: reason of a refusal */
  struct {             /* a detour planned but not yet written (atr__patch_detour_plan) */
    uintptr_t slot;    /* its trampoline: stub, relocated prologue, jump back */
    size_t tramp_len, head_len;
    uint8_t tramp[128];
    uint8_t head[32];  /* the new first bytes of the function */
  } plan;
} atr_patch_req_t;

/* The function at entry is `jmp rel32` (optionally after endbr64) to the real function:
 * rewrite it to jump to the hook instead. 0 or -1 with req->why set. */
ATR_HIDDEN int atr__patch_redirect_jmp(atr_patch_req_t *req);
/* Any function: move its first instructions to a trampoline that continues into the
 * rest of it, and make the entry jump to the hook. 0 or -1 with req->why set. */
ATR_HIDDEN int atr__patch_detour(atr_patch_req_t *req);
/* The same in two steps, so that a set of functions is patched entirely or not at all:
 * _plan decodes and builds everything (and reserves trampoline space) but writes
 * nothing; _apply writes what was planned. Each returns 0 or -1 with req->why set. */
ATR_HIDDEN int atr__patch_detour_plan(atr_patch_req_t *req);
ATR_HIDDEN int atr__patch_apply(atr_patch_req_t *req);
/* Open/close the writable view of our own memory around a batch of patches. */
ATR_HIDDEN void atr__patch_begin(void);
ATR_HIDDEN void atr__patch_end(void);

/* ---- module scanning (patch_scan.c) and the hook tables ---- */
ATR_HIDDEN void atr__patch_modules(void); /* new modules since the last call */

/* What a symbol is to one of the hook layers. */
typedef struct atr_hook_target {
  atr_hook_fn hook;
  int detour; /* 0: a `jmp rel32` shim to redirect; 1: patch the prologue */
  unsigned layer;
  const char *label; /* for notes */
} atr_hook_target_t;

/* Entry of every patched hook: record only when the thread is not already inside the
 * tracer or another hook and tracing is on. Code is patched only after atr__init, so
 * tracing is off here only when stopped or in a fork child, whose state page the fork
 * wiped (shm.c): atr__init starts the child's trace, as the libc hooks' first event
 * does. A child whose every allocation goes to a patched allocator (a program's own
 * malloc, static jemalloc) would otherwise never be traced. */
static inline int atr__patched_begin(void) {
  if (ATR_UNLIKELY(atr__tls.guard))
    return 0;
  if (ATR_UNLIKELY(atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON)) {
    atr__init();
    if (atomic_load_explicit(&atr__state, memory_order_relaxed) != ATR_ON)
      return 0;
  }
  atr__tls.guard = 1;
  return 1;
}
static inline void atr__patched_end(int saved_errno) {
  atr__tls.guard = 0;
  errno = saved_errno;
}

/* hooks_rust.c: Rust allocator shims (mangled and plain names). */
ATR_HIDDEN int atr__rust_shim_match(const char *name, atr_hook_target_t *out);
/* hooks_static.c: statically linked jemalloc (_rjem_*) and mimalloc (mi_*). */
ATR_HIDDEN int atr__static_alloc_match(const char *name, atr_hook_target_t *out);
/* hooks_static.c: malloc, free, calloc, ... defined by a module other than libc. */
ATR_HIDDEN int atr__own_alloc_match(const char *name, atr_hook_target_t *out);

#endif
