/* x86-64 instruction-length decoder for the patcher: how long an instruction is,
 * whether it is a relative branch and where a RIP-relative displacement sits.
 * Pure function of the bytes; never guesses: unknown encodings return 0.
 */
#include <string.h>

#include "patch.h"

/* Operand shape of the one-byte opcodes (and of 0F xx in the second table). */
enum {
  X = 0,  /* invalid in 64-bit mode or not supported: refuse */
  N,      /* no ModRM, no immediate */
  M,      /* ModRM */
  MB,     /* ModRM + imm8 */
  MZ,     /* ModRM + imm16/32 */
  B,      /* imm8 */
  W,      /* imm16 */
  Z,      /* imm16/32 */
  V,      /* mov r, imm16/32/64 (B8+r) */
  A,      /* moffs: 8 bytes (4 with 0x67) */
  E,      /* enter: imm16 + imm8 */
  F,      /* F6/F7: ModRM, immediate only for /0 and /1 */
  P,      /* prefix */
  R,      /* REX */
  S,      /* 0F escape */
  VX2,    /* C5: two-byte VEX */
  VX3,    /* C4: three-byte VEX */
  EV,     /* 62: EVEX */
};

static const uint8_t one[256] = {
    /* 00 */ M, M, M, M, B, Z, X, X, M, M, M, M, B, Z, X, S,
    /* 10 */ M, M, M, M, B, Z, X, X, M, M, M, M, B, Z, X, X,
    /* 20 */ M, M, M, M, B, Z, P, X, M, M, M, M, B, Z, P, X,
    /* 30 */ M, M, M, M, B, Z, P, X, M, M, M, M, B, Z, P, X,
    /* 40 */ R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 50 */ N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N,
    /* 60 */ X, X, EV, M, P, P, P, P, Z, MZ, B, MB, N, N, N, N,
    /* 70 */ B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    /* 80 */ MB, MZ, X, MB, M, M, M, M, M, M, M, M, M, M, M, M,
    /* 90 */ N, N, N, N, N, N, N, N, N, N, X, N, N, N, N, N,
    /* A0 */ A, A, A, A, N, N, N, N, B, Z, N, N, N, N, N, N,
    /* B0 */ B, B, B, B, B, B, B, B, V, V, V, V, V, V, V, V,
    /* C0 */ MB, MB, W, N, VX3, VX2, MB, MZ, E, N, W, N, N, B, X, N,
    /* D0 */ M, M, M, M, X, X, X, N, M, M, M, M, M, M, M, M,
    /* E0 */ B, B, B, B, B, B, B, B, Z, Z, X, B, N, N, N, N,
    /* F0 */ P, N, P, P, N, N, F, F, N, N, N, N, N, N, M, M,
};

static const uint8_t two[256] = {
    /* 00 */ M, M, M, M, X, N, N, N, N, N, X, N, X, M, N, X,
    /* 10 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* 20 */ M, M, M, M, X, X, X, X, M, M, M, M, M, M, M, M,
    /* 30 */ N, N, N, N, N, N, X, N, S, X, S, X, X, X, X, X,
    /* 40 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* 50 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* 60 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* 70 */ MB, MB, MB, MB, M, M, M, N, M, M, X, X, M, M, M, M,
    /* 80 */ Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z,
    /* 90 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* A0 */ N, N, N, M, MB, M, X, X, N, N, N, M, MB, M, M, M,
    /* B0 */ M, M, M, M, M, M, M, M, M, M, MB, M, M, M, M, M,
    /* C0 */ M, M, MB, M, MB, MB, MB, M, N, N, N, N, N, N, N, N,
    /* D0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* E0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    /* F0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
};

/* VEX/EVEX map 1 opcodes that carry an imm8. */
static int map1_imm8(uint8_t op) {
  return (op >= 0x70 && op <= 0x73) || op == 0xC2 || (op >= 0xC4 && op <= 0xC6);
}

/* Parses ModRM (+SIB, displacement) at p[i]; returns the new index or 0 on overrun. */
static size_t modrm(const uint8_t *p, size_t i, size_t max, atr_x86_insn_t *out) {
  if (i >= max)
    return 0;
  uint8_t m = p[i++];
  unsigned mod = m >> 6, rm = m & 7;
  if (mod == 3)
    return i;
  if (rm == 4) {
    if (i >= max)
      return 0;
    uint8_t sib = p[i++];
    if (mod == 0 && (sib & 7) == 5)
      i += 4;
  } else if (mod == 0 && rm == 5) {
    out->rip_off = (uint8_t)i;
    i += 4;
  }
  if (mod == 1)
    i += 1;
  else if (mod == 2)
    i += 4;
  return i <= max ? i : 0;
}

static int finish(size_t i, size_t max, atr_x86_insn_t *out) {
  if (i == 0 || i > max || i > 15)
    return 0;
  out->len = (uint8_t)i;
  return (int)i;
}

/* VEX (C4/C5) and EVEX (62): prefix bytes, opcode, ModRM, maybe imm8. */
static int vex(const uint8_t *p, size_t i, size_t max, atr_x86_insn_t *out) {
  uint8_t lead = p[i];
  unsigned map;
  if (lead == 0xC5) {
    if (i + 2 >= max)
      return 0;
    map = 1;
    i += 2;
  } else if (lead == 0xC4) {
    if (i + 3 >= max)
      return 0;
    map = p[i + 1] & 0x1f;
    i += 3;
  } else { /* EVEX */
    if (i + 4 >= max || (p[i + 2] & 0x04) == 0)
      return 0;
    map = p[i + 1] & 0x07;
    i += 4;
  }
  if (map < 1 || map > 3) {
    if (lead != 0x62 || (map != 5 && map != 6))
      return 0;
  }
  uint8_t op = p[i++];
  if (lead != 0x62 && map == 1 && op == 0x77) /* vzeroupper / vzeroall */
    return finish(i, max, out);
  i = modrm(p, i, max, out);
  if (!i)
    return 0;
  if (map == 3 || (map == 1 && map1_imm8(op)))
    i += 1;
  return finish(i, max, out);
}

int atr__x86_decode(const uint8_t *p, size_t max, atr_x86_insn_t *out) {
  memset(out, 0, sizeof(*out));
  if (max > 15)
    max = 15;
  size_t i = 0;
  int opsize16 = 0, addr32 = 0, rexw = 0;
  for (;;) {
    if (i >= max)
      return 0;
    uint8_t b = p[i];
    if (one[b] == P) {
      opsize16 |= b == 0x66;
      addr32 |= b == 0x67;
      rexw = 0; /* a legacy prefix after REX cancels it */
      i++;
      continue;
    }
    if (one[b] == R) {
      rexw = (b & 8) != 0;
      i++;
      if (i < max && (one[p[i]] == P || one[p[i]] == R))
        rexw = 0;
      continue;
    }
    break;
  }
  if (rexw)
    opsize16 = 0;
  uint8_t op = p[i];
  uint8_t shape = one[op];
  size_t start = i++;
  switch (shape) {
  case X:
    return 0;
  case VX2:
  case VX3:
  case EV:
    return vex(p, start, max, out);
  case S: {
    if (i >= max)
      return 0;
    uint8_t op2 = p[i++];
    uint8_t s2 = two[op2];
    if (s2 == S) { /* 0F 38 / 0F 3A */
      if (i >= max)
        return 0;
      i++;
      i = modrm(p, i, max, out);
      if (!i)
        return 0;
      if (op2 == 0x3A)
        i += 1;
      return finish(i, max, out);
    }
    if (op2 >= 0x80 && op2 <= 0x8F) { /* jcc rel32 */
      out->branch = ATR_X86_JCC;
      out->cc = op2 & 15;
      out->rel_off = (uint8_t)i;
      out->rel_size = 4;
      return finish(i + 4, max, out);
    }
    if (op2 == 0x0B) /* ud2 */
      out->ends = 1;
    switch (s2) {
    case X:
      return 0;
    case N:
      return finish(i, max, out);
    case M:
      return finish(modrm(p, i, max, out), max, out);
    case MB:
      i = modrm(p, i, max, out);
      return i ? finish(i + 1, max, out) : 0;
    default:
      return 0;
    }
  }
  default:
    break;
  }

  if (op >= 0x70 && op <= 0x7F) {
    out->branch = ATR_X86_JCC;
    out->cc = op & 15;
    out->rel_off = (uint8_t)i;
    out->rel_size = 1;
    return finish(i + 1, max, out);
  }
  if (op >= 0xE0 && op <= 0xE3) { /* loop*, jrcxz */
    out->branch = ATR_X86_OTHER;
    out->rel_off = (uint8_t)i;
    out->rel_size = 1;
    return finish(i + 1, max, out);
  }
  if (op == 0xEB || op == 0xE9 || op == 0xE8) {
    if (opsize16)
      return 0; /* rel16 forms: never emitted by compilers */
    out->branch = op == 0xE8 ? ATR_X86_CALL : ATR_X86_JMP;
    out->ends = op != 0xE8;
    out->rel_off = (uint8_t)i;
    out->rel_size = op == 0xEB ? 1 : 4;
    return finish(i + out->rel_size, max, out);
  }
  if (op == 0x8F && i < max && ((p[i] >> 3) & 7) != 0)
    return 0; /* XOP */
  out->ends = op == 0xC3 || op == 0xC2 || op == 0xCB || op == 0xCA || op == 0xCF ||
              op == 0xCC || op == 0xF4;

  size_t z = opsize16 ? 2 : 4;
  switch (shape) {
  case N:
    return finish(i, max, out);
  case M:
    i = modrm(p, i, max, out);
    if (i && op == 0xFF) {
      unsigned reg = (p[start + 1] >> 3) & 7;
      out->ends = reg == 4 || reg == 5; /* jmp r/m */
    }
    return finish(i, max, out);
  case MB:
    i = modrm(p, i, max, out);
    return i ? finish(i + 1, max, out) : 0;
  case MZ:
    if (op == 0xC7 && i < max && p[i] == 0xF8) { /* xbegin rel32 */
      out->branch = ATR_X86_OTHER;
      out->rel_off = (uint8_t)(i + 1);
      out->rel_size = (uint8_t)z;
      return finish(i + 1 + z, max, out);
    }
    i = modrm(p, i, max, out);
    return i ? finish(i + z, max, out) : 0;
  case B:
    return finish(i + 1, max, out);
  case W:
    return finish(i + 2, max, out);
  case Z:
    return finish(i + z, max, out);
  case V:
    return finish(i + (rexw ? 8 : z), max, out);
  case A:
    return finish(i + (addr32 ? 4 : 8), max, out);
  case E:
    return finish(i + 3, max, out);
  case F: {
    if (i >= max)
      return 0;
    unsigned reg = (p[i] >> 3) & 7;
    i = modrm(p, i, max, out);
    if (!i)
      return 0;
    if (reg <= 1)
      i += op == 0xF6 ? 1 : z;
    return finish(i, max, out);
  }
  default:
    return 0;
  }
}

uintptr_t atr__x86_target(const uint8_t *p, uintptr_t at, const atr_x86_insn_t *in) {
  int64_t rel;
  if (in->rel_size == 1) {
    rel = (int8_t)p[in->rel_off];
  } else if (in->rel_size == 2) {
    int16_t r;
    memcpy(&r, p + in->rel_off, 2);
    rel = r;
  } else {
    int32_t r;
    memcpy(&r, p + in->rel_off, 4);
    rel = r;
  }
  return at + in->len + (uintptr_t)rel;
}
