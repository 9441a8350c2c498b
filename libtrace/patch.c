/* Code patching: redirects a function entry to a hook through a small stub that puts
 * the real function in r8. Text is written through /proc/self/mem, so it never stops
 * being executable and never becomes writable; stubs and relocated prologues live in
 * trampoline pages mapped within +-2 GiB of the patched code. Never patches bytes it has
 * not fully decoded; every refusal says why. Callers serialise (patch_scan.c's lock).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "patch.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096u
#define REACH 0x7ff00000u /* a little under 2 GiB: rel32 from anywhere in a page */
#define STUB_SIZE 32u
#define ABS_JMP_SIZE 14u /* FF 25 00000000 imm64 */

static int memfd = -1;
static char exe_path[512];

static struct {
  uintptr_t base;
  size_t used;
} pages[64];
static unsigned npages;

void atr__patch_begin(void) {
  memfd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
  exe_path[n > 0 ? n : 0] = 0;
}

void atr__patch_end(void) {
  if (memfd >= 0)
    close(memfd);
  memfd = -1;
}

/* Writes code that may be executing: /proc/self/mem (FOLL_FORCE) keeps the mapping
 * read+execute; where that is not allowed, the pages go rwx for the copy, never rw. */
static int write_text(uintptr_t addr, const void *buf, size_t n) {
  if (memfd < 0 || pwrite(memfd, buf, n, (off_t)addr) != (ssize_t)n) {
    uintptr_t lo = addr & ~(uintptr_t)(PAGE - 1);
    uintptr_t hi = (addr + n + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
      return -1;
    memcpy((void *)addr, buf, n);
    mprotect((void *)lo, hi - lo, PROT_READ | PROT_EXEC);
  }
  return memcmp((const void *)addr, buf, n) == 0 ? 0 : -1;
}

static int within(uintptr_t a, uintptr_t b) {
  return (a > b ? a - b : b - a) < REACH;
}

static int fits_rel32(uintptr_t from_next, uintptr_t to) {
  int64_t d = (int64_t)(to - from_next);
  return d >= INT32_MIN && d <= INT32_MAX;
}

/* ---- finding room for a trampoline page near the code ---- */

struct gap_search {
  uintptr_t site, best, best_score;
  uintptr_t prev_end;
  int prev_grows; /* the mapping before the gap is [heap] or the program (brk follows it) */
};

/* Prefers the closest page below the code: above it lie brk and the main stack. */
static void consider_gap(struct gap_search *g, uintptr_t lo, uintptr_t hi, int next_is_stack) {
  if (lo < 0x10000)
    lo = 0x10000; /* vm.mmap_min_addr */
  if (hi <= lo || hi - lo < PAGE)
    return;
  uintptr_t cand, score;
  if (hi <= g->site && !next_is_stack) {
    cand = hi - PAGE;
    score = g->site - cand;
  } else if (lo > g->site && !g->prev_grows && !next_is_stack) {
    cand = lo;
    score = (cand - g->site) + ((uintptr_t)1 << 40);
  } else {
    return;
  }
  if (!within(cand, g->site) || !within(cand + PAGE, g->site))
    return;
  if (!g->best || score < g->best_score) {
    g->best = cand;
    g->best_score = score;
  }
}

/* One line of /proc/self/maps: "lo-hi perms offset dev inode   path". */
static void maps_line(struct gap_search *g, const char *s, size_t n) {
  uintptr_t lo = 0, hi = 0;
  size_t i = 0;
  for (; i < n && s[i] != '-'; i++)
    lo = lo * 16 + (uintptr_t)(s[i] <= '9' ? s[i] - '0' : (s[i] | 32) - 'a' + 10);
  for (i++; i < n && s[i] != ' '; i++)
    hi = hi * 16 + (uintptr_t)(s[i] <= '9' ? s[i] - '0' : (s[i] | 32) - 'a' + 10);
  const char *path = memchr(s, '/', n);
  if (!path)
    path = memchr(s, '[', n);
  size_t plen = path ? n - (size_t)(path - s) : 0;
  int is_stack = plen >= 7 && memcmp(path, "[stack]", 7) == 0;
  consider_gap(g, g->prev_end, lo, is_stack);
  g->prev_end = hi;
  g->prev_grows = (plen >= 6 && memcmp(path, "[heap]", 6) == 0) ||
                  (exe_path[0] && plen == strlen(exe_path) && memcmp(path, exe_path, plen) == 0);
}

static uintptr_t find_gap(uintptr_t site) {
  struct gap_search g = {.site = site};
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[4096];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof(buf) - have);
    if (r <= 0)
      break;
    have += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] == '\n') {
        maps_line(&g, buf + start, i - start);
        start = i + 1;
      }
    }
    memmove(buf, buf + start, have - start);
    have -= start;
    if (have == sizeof(buf))
      have = 0; /* a line longer than the buffer: drop it */
  }
  close(fd);
  consider_gap(&g, g.prev_end, (uintptr_t)0x7ffffffff000ull, 0);
  return g.best;
}

/* `size` bytes of trampoline space, within reach of `site` when near is set. */
static uintptr_t tramp_alloc(uintptr_t site, size_t size, int near) {
  if (near && atr__cfg.patch == 2)
    return 0;
  size = (size + 31) & ~(size_t)31;
  for (unsigned i = 0; i < npages; i++)
    if (pages[i].used + size <= PAGE && (!near || within(pages[i].base, site)))
      return pages[i].base + (pages[i].used += size) - size;
  if (npages == sizeof(pages) / sizeof(*pages))
    return 0;
  void *p = MAP_FAILED;
  for (int attempt = 0; near && attempt < 4 && p == MAP_FAILED; attempt++) {
    uintptr_t at = find_gap(site);
    if (!at)
      break;
    p = mmap((void *)at, PAGE, PROT_READ | PROT_EXEC,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != MAP_FAILED && (uintptr_t)p != at) { /* old kernel: the flag was a hint */
      munmap(p, PAGE);
      p = MAP_FAILED;
    }
  }
  if (!near)
    p = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return 0;
  pages[npages].base = (uintptr_t)p;
  pages[npages].used = size;
  npages++;
  return (uintptr_t)p;
}

/* ---- code emission ---- */

static uint8_t *put_abs_jmp(uint8_t *o, uintptr_t to) {
  static const uint8_t jmp_rip[6] = {0xFF, 0x25, 0, 0, 0, 0};
  memcpy(o, jmp_rip, 6);
  memcpy(o + 6, &to, 8);
  return o + ABS_JMP_SIZE;
}

static uint8_t *put_rel(uint8_t *o, const uint8_t *opcode, size_t oplen, uintptr_t at,
                        uintptr_t to) {
  memcpy(o, opcode, oplen);
  int32_t rel = (int32_t)(int64_t)(to - (at + oplen + 4));
  memcpy(o + oplen, &rel, 4);
  return o + oplen + 4;
}

/* mov r8, real; jmp [rip+0] -> hook */
static void put_stub(uint8_t *o, uintptr_t real, atr_hook_fn hook) {
  memset(o, 0xCC, STUB_SIZE);
  o[0] = 0x49;
  o[1] = 0xB8;
  memcpy(o + 2, &real, 8);
  put_abs_jmp(o + 10, (uintptr_t)hook);
}

static void hex_bytes(char *out, size_t n, const uint8_t *p, size_t count) {
  size_t o = 0;
  for (size_t i = 0; i < count && o + 4 < n; i++)
    o += (size_t)atr__fmt(out + o, n - o, "%s%02x", i ? " " : "", p[i]);
}

static int refuse(atr_patch_req_t *req, const char *why) {
  atr__fmt(req->why, sizeof(req->why), "%s", why);
  return -1;
}

static int is_padding(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    atr_x86_insn_t in;
    int len = atr__x86_decode(p + i, 15, &in);
    if (len <= 0)
      return 0;
    size_t k = 0;
    while (k < (size_t)len && (p[i + k] == 0x66 || p[i + k] == 0x2E))
      k++;
    int nop = (len == 1 && (p[i] == 0xCC || p[i] == 0x90)) ||
              (k + 1 < (size_t)len && p[i + k] == 0x0F && p[i + k + 1] == 0x1F) ||
              (k == (size_t)len - 1 && p[i + k] == 0x90);
    if (!nop)
      return 0;
    i += (size_t)len;
  }
  return 1;
}

static const uint8_t endbr64[4] = {0xF3, 0x0F, 0x1E, 0xFA};

int atr__patch_redirect_jmp(atr_patch_req_t *req) {
  const uint8_t *p = (const uint8_t *)req->entry;
  size_t off = req->room >= 9 && memcmp(p, endbr64, 4) == 0 ? 4 : 0;
  if (req->room < off + 5)
    return refuse(req, "too small to patch");
  if (p[off] != 0xE9) {
    char hex[64];
    hex_bytes(hex, sizeof(hex), p, req->room < 6 ? req->room : 6);
    atr__fmt(req->why, sizeof(req->why), "unexpected bytes %s", hex);
    return -1;
  }
  atr_x86_insn_t in = {.len = 5, .rel_off = 1, .rel_size = 4};
  uintptr_t real = atr__x86_target(p + off, req->entry + off, &in);
  if (real < req->mod_lo || real >= req->mod_hi)
    return refuse(req, "jump leaves the module");
  uintptr_t site = req->entry + off;
  uint8_t code[ABS_JMP_SIZE];
  uintptr_t stub = tramp_alloc(site, STUB_SIZE, 1);
  size_t n;
  if (stub) {
    static const uint8_t e9 = 0xE9;
    n = (size_t)(put_rel(code, &e9, 1, site, stub) - code);
  } else {
    if (req->room < off + ABS_JMP_SIZE || !is_padding(p + off + 5, ABS_JMP_SIZE - 5))
      return refuse(req, "no room for a 14-byte jump and no trampoline page near it");
    stub = tramp_alloc(site, STUB_SIZE, 0);
    if (!stub)
      return refuse(req, "cannot map a trampoline page");
    n = (size_t)(put_abs_jmp(code, stub) - code);
  }
  uint8_t s[STUB_SIZE];
  put_stub(s, real, req->hook);
  if (write_text(stub, s, sizeof(s)) != 0 || write_text(site, code, n) != 0)
    return refuse(req, "cannot write to text (/proc/self/mem and mprotect refused)");
  req->real = real;
  return 0;
}

/* Relocates one displaced instruction from `from` to `to`; returns bytes written or 0. */
static size_t relocate(uint8_t *o, const uint8_t *src, uintptr_t from, uintptr_t to,
                       const atr_x86_insn_t *in, uintptr_t lo, uintptr_t hi) {
  if (in->branch == ATR_X86_OTHER)
    return 0;
  if (in->branch) {
    uintptr_t target = atr__x86_target(src, from, in);
    if (target >= lo && target < hi)
      return 0; /* a branch within the displaced bytes */
    uint8_t op[2];
    size_t oplen;
    if (in->branch == ATR_X86_JMP) {
      op[0] = 0xE9;
      oplen = 1;
    } else if (in->branch == ATR_X86_CALL) {
      op[0] = 0xE8;
      oplen = 1;
    } else {
      op[0] = 0x0F;
      op[1] = (uint8_t)(0x80 | in->cc);
      oplen = 2;
    }
    if (!fits_rel32(to + oplen + 4, target))
      return 0;
    return (size_t)(put_rel(o, op, oplen, to, target) - o);
  }
  memcpy(o, src, in->len);
  if (in->rip_off) {
    int32_t disp;
    memcpy(&disp, src + in->rip_off, 4);
    uintptr_t target = from + in->len + (uintptr_t)(int64_t)disp;
    if (target >= lo && target < hi)
      return 0;
    if (!fits_rel32(to + in->len, target))
      return 0;
    disp = (int32_t)(int64_t)(target - (to + in->len));
    memcpy(o + in->rip_off, &disp, 4);
  }
  return in->len;
}

int atr__patch_detour_plan(atr_patch_req_t *req) {
  const uint8_t *p = (const uint8_t *)req->entry;
  size_t size = req->fn_size;
  if (!size)
    return refuse(req, "unknown function size");
  if (size > req->room)
    return refuse(req, "function overlaps the next symbol");
  uintptr_t slot = tramp_alloc(req->entry, 128, 1);
  int near = slot != 0;
  if (!slot)
    slot = tramp_alloc(req->entry, 128, 0);
  if (!slot)
    return refuse(req, "cannot map a trampoline page");
  size_t need = near ? 5 : ABS_JMP_SIZE;

  /* the displaced instructions */
  atr_x86_insn_t ins[16];
  size_t n = 0, k = 0;
  while (n < need) {
    if (k == 16 || atr__x86_decode(p + n, size - n, &ins[k]) <= 0)
      return refuse(req, "prologue not decodable");
    if (ins[k].ends && n + ins[k].len < need)
      return refuse(req, "function too short to patch");
    n += ins[k++].len;
  }
  /* nothing in the function may branch into the displaced bytes (after the entry) */
  for (size_t at = 0; at < size;) {
    atr_x86_insn_t in;
    int len = atr__x86_decode(p + at, size - at, &in);
    if (len <= 0)
      return refuse(req, "function body not decodable");
    if (in.branch) {
      uintptr_t t = atr__x86_target(p + at, req->entry + at, &in);
      if (t > req->entry && t < req->entry + n)
        return refuse(req, "a branch targets the prologue");
    }
    at += (size_t)len;
  }

  uint8_t *code = req->plan.tramp;
  memset(code, 0xCC, sizeof(req->plan.tramp));
  uintptr_t copy = slot + STUB_SIZE;
  uint8_t *o = code + STUB_SIZE;
  for (size_t i = 0, at = 0; i < k; at += ins[i++].len) {
    size_t w = relocate(o, p + at, req->entry + at, copy + (size_t)(o - code - STUB_SIZE),
                        &ins[i], req->entry, req->entry + n);
    if (!w)
      return refuse(req, "prologue not relocatable");
    o += w;
  }
  uintptr_t back = req->entry + n, here = slot + (size_t)(o - code);
  if (fits_rel32(here + 5, back)) {
    static const uint8_t e9 = 0xE9;
    o = put_rel(o, &e9, 1, here, back);
  } else {
    o = put_abs_jmp(o, back);
  }
  put_stub(code, copy, req->hook);

  uint8_t *entry = req->plan.head;
  memset(entry, 0xCC, sizeof(req->plan.head));
  if (near) {
    static const uint8_t e9 = 0xE9;
    put_rel(entry, &e9, 1, req->entry, slot);
  } else {
    put_abs_jmp(entry, slot);
  }
  req->plan.slot = slot;
  req->plan.tramp_len = (size_t)(o - code);
  req->plan.head_len = n;
  req->real = copy;
  return 0;
}

int atr__patch_apply(atr_patch_req_t *req) {
  if (write_text(req->plan.slot, req->plan.tramp, req->plan.tramp_len) != 0 ||
      write_text(req->entry, req->plan.head, req->plan.head_len) != 0)
    return refuse(req, "cannot write to text (/proc/self/mem and mprotect refused)");
  return 0;
}

int atr__patch_detour(atr_patch_req_t *req) {
  return atr__patch_detour_plan(req) == 0 ? atr__patch_apply(req) : -1;
}
