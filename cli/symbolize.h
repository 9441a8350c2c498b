/* Symbolization of recorded instruction pointers with elfutils libdwfl (offline, one
 * Dwfl per module so reloaded libraries resolve correctly; names from a symbol index
 * built once per module, symtab.h; lines and inlined frames from DWARF) and demangling
 * with libiberty (C++ and both Rust manglings). Each distinct address (module, ip) is
 * resolved once per symbolizer; its frames are cached.
 * Never fails hard: an address that cannot be resolved gets "module+0xoffset".
 */
#ifndef ATR_SYMBOLIZE_H
#define ATR_SYMBOLIZE_H

#include <stdint.h>

#include "reader.h"

typedef struct {
  const char *func;   /* demangled; "??" when unknown */
  const char *file;   /* NULL when unknown */
  unsigned line;
  const char *module; /* basename */
  int inlined;        /* this frame was inlined into the next (outer) one */
} atr_frame_t;

typedef struct atr_symbolizer atr_symbolizer_t;

atr_symbolizer_t *atr_sym_new(const atr_trace_t *tr);
void atr_sym_free(atr_symbolizer_t *s);

/* Warming: loads the debug information of the modules the trace has mapped so far (the
 * program and the C/C++/Rust runtimes) on a background thread while the trace is still
 * being read; atr_sym_new_warm waits for it and adopts what it loaded. Only speed
 * depends on it. atr_sym_warm_start returns NULL when it cannot start (not an error). */
typedef struct atr_sym_warm atr_sym_warm_t;
atr_sym_warm_t *atr_sym_warm_start(const atr_trace_t *tr);
/* Both consume w (may be NULL); drop when no symbolizer is wanted after all. */
atr_symbolizer_t *atr_sym_new_warm(const atr_trace_t *tr, atr_sym_warm_t *w);
void atr_sym_warm_drop(atr_sym_warm_t *w);

/* Frames for one stack node (innermost first, inlined frames expanded); returns the
 * count, valid until atr_sym_free. */
int atr_sym_node(atr_symbolizer_t *s, uint32_t node, const atr_frame_t **frames);

/* Is this frame part of the allocator machinery (malloc, operator new, Rust alloc
 * shims, Vec growth internals) rather than the code that asked for memory? */
int atr_sym_is_alloc_frame(const atr_frame_t *f);

/* The first frame of the node's stack that is not allocator machinery: the call site. */
uint32_t atr_sym_callsite(atr_symbolizer_t *s, uint32_t node, const atr_frame_t **frame);

/* Parent of a node (0 at the root). */
uint32_t atr_sym_callsite_parent(atr_symbolizer_t *s, uint32_t node);

/* Module class for colouring: program|libc|libstdc++|rust-std|system|other. */
const char *atr_sym_module_class(atr_symbolizer_t *s, int module);

#endif
