/* alloctrace program-side API: report allocations made by a custom allocator that
 * liballoctrace cannot see (arena/pool allocators, Rust global allocators inlined by
 * LTO). Resolve these with dlsym(RTLD_DEFAULT, ...) so the program runs unchanged
 * without the tracer; every function is a no-op when tracing is off.
 */
#ifndef ALLOCTRACE_API_H
#define ALLOCTRACE_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A block of `size` bytes with alignment `align` (0 = default) now lives at `ptr`. */
void atr_report_alloc(void *ptr, size_t size, size_t align);
/* The block at `ptr` was released. */
void atr_report_free(void *ptr);
/* The block at `old` was resized to `size` bytes at `ptr` (ptr may equal old). */
void atr_report_realloc(void *old, void *ptr, size_t size, size_t align);
/* The same in two halves around the resize, for allocators used by several threads:
 * once the old block is released, another thread may be given its address, and the
 * trace must see the release first. Pass _begin's token to _end; ptr NULL with size > 0
 * means the resize failed and `old` is still live. */
int atr_report_realloc_begin(void *old);
void atr_report_realloc_end(int token, void *old, void *ptr, size_t size, size_t align);

/* Wrap the call into the underlying allocator with these when it is itself traced
 * (malloc): allocations between them are not recorded, so the block is counted once,
 * with the size and alignment given to atr_report_*. Returns a token for _end. */
int atr_suppress_begin(void);
void atr_suppress_end(int token);

#ifdef __cplusplus
}
#endif

#endif
