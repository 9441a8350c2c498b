/* fake_rust_shim: what liballoctrace's patcher looks for in a Rust program, built by gcc
 * so that it is tested without any Rust toolchain. Rust allocator shims named like
 * rustc >= 1.8x's (`_RNvCs1234_7___rustc12___rust_alloc`, or the plain `__rust_alloc`
 * with -DATR_LEGACY_NAMES) that are a 5-byte `jmp rel32` to a std-like `__rdl_*`, and
 * entry points of a "statically linked" jemalloc (_rjem_*) and mimalloc (mi_*).
 *
 * Its allocations, when every patch that should succeed succeeded:
 *   __rust_alloc         (24, 8) (100, 1) (64, 64) (4096, 4096) (8, 128)
 *   __rust_realloc       24 -> 48 -> 96, align 8
 *   __rust_alloc_zeroed  (40, 8): this shim is not a jump (as with LTO), so it is NOT
 *                        patched: a NOTE says so and the libc layer sees calloc(40, 1)
 *   __rust_dealloc       all six blocks (its shim has no padding after it: the patcher
 *                        must use a trampoline near it, or refuse with ALLOCTRACE_PATCH=abs)
 *   jemalloc             _rjem_mallocx(100, MALLOCX_LG_ALIGN(6)) -> size 100 align 64,
 *                        _rjem_rallocx(p, 200, 0) -> 200, _rjem_sdallocx(p, 200, 0)
 *   _rjem_dallocx        branches back into its own first bytes: refused with a NOTE;
 *                        the malloc(10) it frees is seen by the libc layer
 *   mimalloc             mi_malloc(33), mi_free(p), mi_free(NULL) (mi_free starts with
 *                        test/je: the relocated prologue has a rewritten short branch)
 * So: 5 __rust_alloc, 2 __rust_realloc, 1 calloc, 1 malloc, 2 jemalloc allocations and
 * 1 realloc, 1 mimalloc; nothing counted twice although every fake calls libc inside.
 * It prints "ok" and exits 0; it checks every block it gets.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ATR_LEGACY_NAMES
#define SHIM(name) #name
#else
#define SHIM(name) "_RNvCs1234_7___rustc" SHIM_LEN_##name #name
#endif
#define SHIM_LEN___rust_alloc "12_"
#define SHIM_LEN___rust_dealloc "14_"
#define SHIM_LEN___rust_realloc "14_"
#define SHIM_LEN___rust_alloc_zeroed "19_"

/* ---- std's System allocator, as __rdl_* implements it ---- */
void *fake_rdl_alloc(size_t size, size_t align);
void fake_rdl_dealloc(void *p, size_t size, size_t align);
void *fake_rdl_realloc(void *p, size_t old, size_t align, size_t size);
void *fake_rdl_alloc_zeroed(size_t size, size_t align);

void *fake_rdl_alloc(size_t size, size_t align) {
  if (align <= 16 && align <= size)
    return malloc(size);
  void *p;
  return posix_memalign(&p, align < 8 ? 8 : align, size) == 0 ? p : NULL;
}

void fake_rdl_dealloc(void *p, size_t size, size_t align) {
  (void)size;
  (void)align;
  free(p);
}

void *fake_rdl_realloc(void *p, size_t old, size_t align, size_t size) {
  if (align <= 16 && align <= size)
    return realloc(p, size);
  void *q = fake_rdl_alloc(size, align);
  if (q) {
    memcpy(q, p, old < size ? old : size);
    free(p);
  }
  return q;
}

void *fake_rdl_alloc_zeroed(size_t size, size_t align) {
  if (align <= 16 && align <= size)
    return calloc(size, 1);
  void *p = fake_rdl_alloc(size, align);
  if (p)
    memset(p, 0, size);
  return p;
}

/* ---- the shims: `jmp rel32` (E9) exactly as rustc emits them, int3 padding ---- */
#define JMP_REL32(target) ".byte 0xe9\n .long " #target " - . - 4\n"
__asm__(".text\n"
        ".p2align 4\n"
        ".globl " SHIM(__rust_alloc) "\n"
        ".type " SHIM(__rust_alloc) ",@function\n" SHIM(__rust_alloc) ":\n" JMP_REL32(
            fake_rdl_alloc) ".size " SHIM(__rust_alloc) ",5\n"
        ".fill 11,1,0xcc\n"
        /* dealloc is followed at once by realloc: no room for a 14-byte jump */
        ".globl " SHIM(__rust_dealloc) "\n"
        ".type " SHIM(__rust_dealloc) ",@function\n" SHIM(__rust_dealloc) ":\n" JMP_REL32(
            fake_rdl_dealloc) ".size " SHIM(__rust_dealloc) ",5\n"
        ".globl " SHIM(__rust_realloc) "\n"
        ".type " SHIM(__rust_realloc) ",@function\n" SHIM(__rust_realloc) ":\n" JMP_REL32(
            fake_rdl_realloc) ".size " SHIM(__rust_realloc) ",5\n"
        ".p2align 4\n"
        /* what LTO or a custom global allocator leaves: a body, not a jump */
        ".globl " SHIM(__rust_alloc_zeroed) "\n"
        ".type " SHIM(__rust_alloc_zeroed) ",@function\n" SHIM(__rust_alloc_zeroed) ":\n"
        "  push %rbp\n"
        "  mov %rsp, %rbp\n"
        "  call fake_rdl_alloc_zeroed\n"
        "  pop %rbp\n"
        "  ret\n"
        ".size " SHIM(__rust_alloc_zeroed) ", . - " SHIM(__rust_alloc_zeroed) "\n"
        ".p2align 4\n");

void *rust_alloc(size_t size, size_t align) __asm__(SHIM(__rust_alloc));
void rust_dealloc(void *p, size_t size, size_t align) __asm__(SHIM(__rust_dealloc));
void *rust_realloc(void *p, size_t old, size_t align, size_t size) __asm__(SHIM(__rust_realloc));
void *rust_alloc_zeroed(size_t size, size_t align) __asm__(SHIM(__rust_alloc_zeroed));

/* ---- a "static jemalloc": ordinary C functions with ordinary prologues ---- */
void *_rjem_mallocx(size_t size, int flags);
void *_rjem_rallocx(void *p, size_t size, int flags);
void _rjem_sdallocx(void *p, size_t size, int flags);
void _rjem_dallocx(void *p, int flags);
void fake_free_impl(void *p);

void *_rjem_mallocx(size_t size, int flags) {
  size_t align = (size_t)1 << (flags & 0x3f);
  void *p;
  return posix_memalign(&p, align < 8 ? 8 : align, size) == 0 ? p : NULL;
}

void *_rjem_rallocx(void *p, size_t size, int flags) {
  (void)flags;
  return realloc(p, size);
}

void _rjem_sdallocx(void *p, size_t size, int flags) {
  (void)size;
  (void)flags;
  free(p);
}

void fake_free_impl(void *p) {
  free(p);
}

/* _rjem_dallocx loops back to its second instruction, inside the bytes a patch would
 * move: the patcher must refuse it. mi_free starts with test/je (a short branch to
 * relocate) then tail-jumps to the real free. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl _rjem_dallocx\n"
        ".type _rjem_dallocx,@function\n"
        "_rjem_dallocx:\n"
        "  xor %eax, %eax\n"
        "1: add $1, %eax\n"
        "  cmp $3, %eax\n"
        "  jne 1b\n"
        "  jmp fake_free_impl\n"
        ".size _rjem_dallocx, . - _rjem_dallocx\n"
        ".p2align 4\n"
        ".globl mi_free\n"
        ".type mi_free,@function\n"
        "mi_free:\n"
        "  test %rdi, %rdi\n"
        "  je 1f\n"
        "  jmp fake_free_impl\n"
        "1: ret\n"
        ".size mi_free, . - mi_free\n");

void *mi_malloc(size_t size);
void mi_free(void *p);

void *mi_malloc(size_t size) {
  return malloc(size);
}

static void check(void *p, size_t align, const char *what) {
  if (!p || ((uintptr_t)p & (align - 1))) {
    fprintf(stderr, "fake_rust_shim: bad block from %s\n", what);
    exit(1);
  }
}

int main(void) {
  static const size_t layouts[][2] = {{24, 8}, {100, 1}, {64, 64}, {4096, 4096}, {8, 128}};
  void *blocks[5];
  for (int i = 0; i < 5; i++) {
    blocks[i] = rust_alloc(layouts[i][0], layouts[i][1]);
    check(blocks[i], layouts[i][1], "__rust_alloc");
    memset(blocks[i], i, layouts[i][0]);
  }
  blocks[0] = rust_realloc(blocks[0], 24, 8, 48);
  check(blocks[0], 8, "__rust_realloc");
  blocks[0] = rust_realloc(blocks[0], 48, 8, 96);
  check(blocks[0], 8, "__rust_realloc");
  unsigned char *z = rust_alloc_zeroed(40, 8);
  check(z, 8, "__rust_alloc_zeroed");
  for (int i = 0; i < 40; i++)
    if (z[i])
      return 1;
  rust_dealloc(z, 40, 8);
  for (int i = 0; i < 5; i++)
    rust_dealloc(blocks[i], i == 0 ? 96 : layouts[i][0], layouts[i][1]);

  void *j = _rjem_mallocx(100, 6);
  check(j, 64, "_rjem_mallocx");
  j = _rjem_rallocx(j, 200, 0);
  check(j, 8, "_rjem_rallocx");
  _rjem_sdallocx(j, 200, 0);
  _rjem_dallocx(malloc(10), 0);

  void *m = mi_malloc(33);
  check(m, 8, "mi_malloc");
  mi_free(m);
  mi_free(NULL);
  puts("ok");
  return 0;
}
