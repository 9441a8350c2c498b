/* alloctrace trace format: record tags, kinds and the varint codec.
 * Shared by the recorder (libtrace/recorder/writer.c) and the reader (cli/reader.c);
 * the only header both sides include. Must never depend on anything but <stdint.h>.
 *
 * A trace file is a sequence of independent zstd frames (`zstd -d` reads it).
 * One file holds the traces of every process image of a run, each a stream of its own:
 * the recorder puts a zstd skippable frame (RFC 8878, 3.1.2) before each frame saying
 * whose it is, which `zstd -d` skips:
 *
 *   u32le 0x184D2A5A | u32le 20 | "ATRS" | u32le stream | u32le pid | u32le frame_bytes
 *   | u32le atr_stream_check(stream, pid, frame_bytes)
 *
 * frame_bytes is the size of the zstd frame that follows, so a reader skips another
 * stream's frames without decompressing them; pid is the process's (an exec'd image
 * has its pid and a stream of its own). The check makes a damaged tag an error rather
 * than a frame silently given to another stream; once a file has tags, a frame without
 * one is damage too. Streams are numbered from 0 in the order
 * the images reached the recorder (0: the program `alloctrace run` started); a file
 * without tags is one stream, 0. Within a stream the concatenated content of its frames
 * is a stream of records. Each record is one tag byte
 * followed by its fields; integers are LEB128 varints (u), zigzag varints (s),
 * strings are u length + bytes (no NUL).
 *
 *   tag        fields                                         meaning
 *   0x01 HDR   "ALLOCTRC" u:version                           first record of a file
 *   0x02 PROC  u:pid u:ppid u:start_unix_us str:exe u:argc    process identity
 *              argc x str:arg
 *   0x03 MOD   u:id u:bias u:lo u:hi str:path u:n n*byte      module mapped; [lo,hi) are
 *              (build-id)                                     absolute addresses
 *   0x04 UNMOD u:id                                           module unmapped (dlclose)
 *   0x05 THR   u:idx u:tid str:name                           thread idx -> tid and name
 *   0x06 NODE  u:parent s:ip-prev_ip                          stack trie node, ids 1,2,...
 *                                                              (0 is the root); prev_ip
 *                                                              is the ip of the last NODE
 *   0x07 SITE  u:node u:size u:kind u:align                   interned allocation site,
 *                                                              ids 1,2,...; align 0 = none
 *   0x09 RSS   u:rss_bytes                                    resident set sample
 *   0x0A END   u:events u:waits u:inconsistent u:unknown_frees recorder flushed at exit,
 *              u:stack_drops u:peak_rss u:flags u:reordered    exec or _exit (records may
 *                                                              follow: late frees at exit);
 *                                                              reordered: handoffs whose
 *                                                              stamps the writer put right
 *   0x0B NOTE  str:text                                       recorder remark (patch
 *                                                              refused, table full, ...)
 *   0x10 LAYER u:mask                                         recording layers active
 *   0x11 CHUNK u:ntags u:nsite u:nfree u:nmisc                a run of events, columnar:
 *              ntags*byte:tags                                 one tag byte per event,
 *              nsite*byte:site_lo nsite*byte:site_hi           site numbers (planes),
 *              nfree*byte:free_lo nfree*byte:free_hi           free values (planes),
 *              nmisc*byte:misc                                 every other field (varints)
 *
 * Events exist only inside CHUNKs. Their fields are not next to their tag: each field
 * is taken, in event order, from the column it belongs to. The writer ends a zstd block
 * after every column, so each column gets its own entropy tables: that is what makes a
 * 9-bit site number cost 9 bits instead of two mixed bytes (v3 is ~35% smaller than v2).
 * A plane value is lo | hi << 8; hi = 0xFF means the value is the next varint in misc
 * (values >= 0xFF00).
 *
 * An event tag is kind << 4 | t, t the thread index (0..14; 15 means "the index of the
 * last TEXT"); tags 0x00..0x0F carry no thread. (Tags inside a CHUNK are their own name
 * space: 0x10 there is an ALLOC, not a LAYER record.) Events and their columns:
 *
 *   tag        site column   free column            misc column          meaning
 *   0x10|t     site                                                      ALLOC: new block,
 *                                                                        ordinal + 1
 *   0x20|t     site (0: no   (r+1)<<1 | moved, or   s:delta if the free  REALLOC: old block
 *              new block)    moved when the old     value >> 1 is 0      (rank r, or FREED's
 *                            block is named by                           delta) freed, new
 *                            delta (FREED rule)                          block
 *   0x30|t                                                               FREE, r = 0
 *   0x40|t                                                               FREE, r = r_prev - 1
 *   0x50|t                                                               FREE, r = r_prev
 *   0x60|t                                                               FREE, r = r_prev + 1
 *   0x70|t                                                               FREE, r = 1
 *   0x80|t                   r                                           FREE, r as given
 *   0x90|t                                          s:delta              FREED: block
 *                                                                        last_freed + delta
 *   0x08 TIME                                       u:delta_us           now += delta (us
 *                                                                        since start)
 *   0x0C AFAIL                                      u:thread u:site      allocation returned
 *                                                                        NULL
 *   0x0D RFAIL                                      u:thread u:k u:site  realloc failed; block
 *                                                                        last_ordinal - k
 *                                                                        stays live
 *   0x0E UFREE                                      u:thread u:kind      free of a pointer
 *                                                                        not live here: kind
 *                                                                        0 never seen
 *                                                                        allocated, 1 a block
 *                                                                        the parent had live
 *                                                                        at the fork
 *   0x0F TEXT                                       u:thread             thread index of the
 *                                                                        next events whose
 *                                                                        t is 15
 * A FREE frees the live window block with r newer live blocks there (0 = the newest).
 * r_prev is the r of the last free that had one (FREE or REALLOC by rank; 0 at the start
 * of a file): containers torn down in order free neighbours, r_prev - 1 or r_prev, and
 * the tag alone says so, which compresses far better than the ranks (v4: 14% smaller
 * C++ traces than v3). The writer picks the first that fits of 0x30, 0x40, 0x50, 0x60,
 * 0x70, then 0x80; a reader accepts any that names a live block.
 * Every free form sets last_freed to the freed ordinal (0 at the start of a file).
 *
 * The live window (atr_lw_* below) is the set of live blocks among the newest
 * ATR_LW_SIZE ordinals; both sides keep it in step: an allocation enters it (pushing
 * out ordinal - ATR_LW_SIZE, which stays live), a free of a block in it leaves it.
 * FREE's r counts the live window blocks newer than the freed one (0 = the newest live
 * block): a temporary costs r = 0, a block in a pool of N live blocks log2(N) bits.
 * Blocks pushed out of the window are freed with FREED.
 *
 * Pointers never appear: the writer keeps the live-block map and names a block by its
 * allocation ordinal or its rank, which is what makes a temporary's free a single zero.
  */
#ifndef ALLOCTRACE_FORMAT_H
#define ALLOCTRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define ATR_FORMAT_MAGIC "ALLOCTRC"
#define ATR_FORMAT_VERSION 4u /* 3: columnar CHUNKs, FREE by rank in the live window;
                                 4: FREE kinds relative to the last rank */

#define ATR_STREAM_MAGIC 0x184D2A5Au /* a zstd skippable frame magic (0x184D2A5?) */
#define ATR_STREAM_TAG_BYTES 28u /* magic, size, "ATRS", stream, pid, frame_bytes, check */
static inline uint32_t atr_stream_check(uint32_t stream, uint32_t pid, uint32_t frame_bytes) {
  uint32_t h = 0x41545253u ^ stream * 0x9E3779B1u;
  h = (h ^ (h >> 15)) * 0x85EBCA77u ^ pid;
  h = (h ^ (h >> 13)) * 0xC2B2AE3Du ^ frame_bytes;
  return (h ^ (h >> 16)) * 0x9E3779B1u;
}

enum atr_tag {
  ATR_TAG_HDR = 0x01,
  ATR_TAG_PROC = 0x02,
  ATR_TAG_MOD = 0x03,
  ATR_TAG_UNMOD = 0x04,
  ATR_TAG_THR = 0x05,
  ATR_TAG_NODE = 0x06,
  ATR_TAG_SITE = 0x07,
  ATR_TAG_TIME = 0x08,
  ATR_TAG_RSS = 0x09,
  ATR_TAG_END = 0x0A,
  ATR_TAG_NOTE = 0x0B,
  ATR_TAG_AFAIL = 0x0C,
  ATR_TAG_RFAIL = 0x0D,
  ATR_TAG_UFREE = 0x0E,
  ATR_TAG_TEXT = 0x0F,
  ATR_TAG_LAYER = 0x10,
  ATR_TAG_CHUNK = 0x11,
};

/* UFREE kinds */
enum atr_ufree_kind { ATR_UFREE_UNKNOWN = 0, ATR_UFREE_INHERITED = 1 };

/* Event kinds inside a CHUNK (tag >> 4; tag & 15 is the thread). */
enum atr_chunk_kind {
  ATR_CK_ALLOC = 0x1,
  ATR_CK_REALLOC = 0x2,
  ATR_CK_FREE_0 = 0x3,    /* r = 0 */
  ATR_CK_FREE_NEXT = 0x4, /* r = r_prev - 1 */
  ATR_CK_FREE_SAME = 0x5, /* r = r_prev */
  ATR_CK_FREE_BACK = 0x6, /* r = r_prev + 1 */
  ATR_CK_FREE_1 = 0x7,    /* r = 1 */
  ATR_CK_FREE = 0x8,      /* r in the free column */
  ATR_CK_FREED = 0x9,     /* last_freed + delta */
};

#define ATR_THREAD_INLINE_MAX 15u /* t == 15: use the TEXT index */

/* The allocation function a site was reached through. Values are stable. */
#define ATR_KIND_LIST(X)                                                                 \
  X(MALLOC, 1, "malloc", ATR_LAYER_LIBC)                                                 \
  X(CALLOC, 2, "calloc", ATR_LAYER_LIBC)                                                 \
  X(REALLOC, 3, "realloc", ATR_LAYER_LIBC)                                               \
  X(REALLOCARRAY, 4, "reallocarray", ATR_LAYER_LIBC)                                     \
  X(POSIX_MEMALIGN, 5, "posix_memalign", ATR_LAYER_LIBC)                                 \
  X(ALIGNED_ALLOC, 6, "aligned_alloc", ATR_LAYER_LIBC)                                   \
  X(MEMALIGN, 7, "memalign", ATR_LAYER_LIBC)                                             \
  X(VALLOC, 8, "valloc", ATR_LAYER_LIBC)                                                 \
  X(PVALLOC, 9, "pvalloc", ATR_LAYER_LIBC)                                               \
  X(NEW, 10, "operator new", ATR_LAYER_CXX)                                              \
  X(NEW_ARRAY, 11, "operator new[]", ATR_LAYER_CXX)                                      \
  X(NEW_ALIGNED, 12, "operator new(align)", ATR_LAYER_CXX)                               \
  X(NEW_ARRAY_ALIGNED, 13, "operator new[](align)", ATR_LAYER_CXX)                       \
  X(RUST_ALLOC, 14, "__rust_alloc", ATR_LAYER_RUST_SHIM)                                 \
  X(RUST_ALLOC_ZEROED, 15, "__rust_alloc_zeroed", ATR_LAYER_RUST_SHIM)                   \
  X(RUST_REALLOC, 16, "__rust_realloc", ATR_LAYER_RUST_SHIM)                             \
  X(JEMALLOC, 17, "jemalloc", ATR_LAYER_STATIC_ALLOC)                                    \
  X(MIMALLOC, 18, "mimalloc", ATR_LAYER_STATIC_ALLOC)                                    \
  X(API, 19, "atr_report_alloc", ATR_LAYER_API)                                          \
  X(OWN_MALLOC, 20, "own malloc", ATR_LAYER_OWN_ALLOC)                                   \
  X(OWN_CALLOC, 21, "own calloc", ATR_LAYER_OWN_ALLOC)                                   \
  X(OWN_REALLOC, 22, "own realloc", ATR_LAYER_OWN_ALLOC)                                 \
  X(OWN_REALLOCARRAY, 23, "own reallocarray", ATR_LAYER_OWN_ALLOC)                       \
  X(OWN_POSIX_MEMALIGN, 24, "own posix_memalign", ATR_LAYER_OWN_ALLOC)                   \
  X(OWN_ALIGNED_ALLOC, 25, "own aligned_alloc", ATR_LAYER_OWN_ALLOC)                     \
  X(OWN_MEMALIGN, 26, "own memalign", ATR_LAYER_OWN_ALLOC)                               \
  X(OWN_VALLOC, 27, "own valloc", ATR_LAYER_OWN_ALLOC)                                   \
  X(OWN_PVALLOC, 28, "own pvalloc", ATR_LAYER_OWN_ALLOC)

enum atr_kind {
#define ATR_KIND_ENUM(name, value, label, layer) ATR_KIND_##name = value,
  ATR_KIND_LIST(ATR_KIND_ENUM)
#undef ATR_KIND_ENUM
      ATR_KIND_COUNT
};

/* The C function an ATR_KIND_OWN_* stands for: the C entry points of an allocator the
 * program defines itself (malloc in the executable or a library), same order as 1..9. */
static inline unsigned atr_kind_c_function(unsigned kind) {
  return kind >= ATR_KIND_OWN_MALLOC && kind <= ATR_KIND_OWN_PVALLOC
             ? kind - ATR_KIND_OWN_MALLOC + ATR_KIND_MALLOC
             : kind;
}

/* Which recording layer saw an allocation (bit mask in LAYER records). */
enum atr_layer {
  ATR_LAYER_LIBC = 1u << 0,
  ATR_LAYER_CXX = 1u << 1,
  ATR_LAYER_RUST_SHIM = 1u << 2,
  ATR_LAYER_STATIC_ALLOC = 1u << 3,
  ATR_LAYER_API = 1u << 4,
  ATR_LAYER_OWN_ALLOC = 1u << 5, /* malloc & co. defined by the program itself (detoured) */
};
#define ATR_LAYER_COUNT 6u

/* END flags */
#define ATR_END_EXIT 1u  /* process exit (exit, _exit or return from main) */
#define ATR_END_EXEC 2u  /* process image replaced by exec */
#define ATR_END_ERROR 4u /* the recorder stopped on an internal error (see NOTE) */
#define ATR_END_KILLED 8u /* the process ended without exit or exec (a signal): the
                           * recorder closed its trace with every event it published */

/* ---- varint codec: encoders write into a buffer the caller sized (<= 10 bytes) ---- */

static inline uint8_t *atr_put_u(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static inline uint8_t *atr_put_s(uint8_t *p, int64_t v) {
  return atr_put_u(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Decoders return the new position, or NULL when the varint runs past end or
 * is longer than 10 bytes: the caller reports a truncated/corrupt record. */
static inline const uint8_t *atr_get_u(const uint8_t *p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (p >= end)
      return NULL;
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return p;
    }
  }
  return NULL;
}

static inline const uint8_t *atr_get_s(const uint8_t *p, const uint8_t *end, int64_t *out) {
  uint64_t u;
  p = atr_get_u(p, end, &u);
  if (p)
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return p;
}

/* ---- the live window: FREE's r <-> ordinal (both sides, same arithmetic) ----
 * A bitmap over the newest ATR_LW_SIZE ordinals (slot = ordinal mod size) with a count
 * of set bits per 512-bit block and per 4096-bit group. The caller provides the memory
 * (atr_lw_bytes(), zeroed). Bits of ordinals that left the window are always clear, so
 * the circular bitmap never holds a stale block. A rank or select walks whole groups,
 * then blocks, then words: at most 8 + 8 + 256 + 8 + 8 steps, one for a temporary.
 */
#define ATR_LW_BITS 20u
#define ATR_LW_SIZE (1ull << ATR_LW_BITS)
#define ATR_LW_MASK (ATR_LW_SIZE - 1)
#define ATR_LW_WORDS (ATR_LW_SIZE / 64)
#define ATR_LW_BLOCKS (ATR_LW_SIZE / 512)
#define ATR_LW_GROUPS (ATR_LW_SIZE / 4096)

typedef struct {
  uint64_t *w;   /* ATR_LW_WORDS words of bits */
  uint16_t *b;   /* set bits per 512-bit block */
  uint16_t *g;   /* set bits per 4096-bit group */
  uint64_t live; /* set bits in all */
} atr_lw_t;

static inline size_t atr_lw_bytes(void) {
  return ATR_LW_WORDS * sizeof(uint64_t) + (ATR_LW_BLOCKS + ATR_LW_GROUPS) * sizeof(uint16_t);
}
static inline void atr_lw_attach(atr_lw_t *lw, void *mem) {
  lw->w = (uint64_t *)mem;
  lw->b = (uint16_t *)(lw->w + ATR_LW_WORDS);
  lw->g = lw->b + ATR_LW_BLOCKS;
  lw->live = 0;
}
/* Is ordinal o (<= newest n) inside the window? */
static inline int atr_lw_inside(uint64_t o, uint64_t n) {
  return n - o < ATR_LW_SIZE;
}
/* Clears o's slot (if set: the counts stay exact); 1 if it was set. */
static inline int atr_lw_clear(atr_lw_t *lw, uint64_t o) {
  uint64_t i = o & ATR_LW_MASK, m = 1ull << (i & 63);
  if (!(lw->w[i >> 6] & m))
    return 0;
  lw->w[i >> 6] &= ~m;
  lw->b[i >> 9]--;
  lw->g[i >> 12]--;
  lw->live--;
  return 1;
}
/* Allocation of the new newest ordinal o: o - ATR_LW_SIZE (same slot) leaves the window.
 * 1 if the slot was clear (0: that older block, still live, holds it for o). */
static inline int atr_lw_push(atr_lw_t *lw, uint64_t o) {
  uint64_t i = o & ATR_LW_MASK, m = 1ull << (i & 63);
  if (lw->w[i >> 6] & m)
    return 0;
  lw->w[i >> 6] |= m;
  lw->b[i >> 9]++;
  lw->g[i >> 12]++;
  lw->live++;
  return 1;
}
/* Set bits in k whole words going down from word wi: words to a block boundary, blocks
 * to a group boundary, groups, then blocks and words again. */
static inline uint64_t atr_lw_words_down(const atr_lw_t *lw, uint64_t wi, uint64_t k) {
  const uint64_t wmask = ATR_LW_WORDS - 1;
  uint64_t cnt = 0;
  for (; k && (wi & 7) != 7; k--, wi = (wi - 1) & wmask)
    cnt += (uint64_t)__builtin_popcountll(lw->w[wi]);
  for (; k >= 8 && (wi & 63) != 63; k -= 8, wi = (wi - 8) & wmask)
    cnt += lw->b[wi >> 3];
  for (; k >= 64; k -= 64, wi = (wi - 64) & wmask)
    cnt += lw->g[wi >> 6];
  for (; k >= 8; k -= 8, wi = (wi - 8) & wmask)
    cnt += lw->b[wi >> 3];
  for (; k; k--, wi = (wi - 1) & wmask)
    cnt += (uint64_t)__builtin_popcountll(lw->w[wi]);
  return cnt;
}
/* Live window blocks newer than o, with n the newest ordinal (o inside the window):
 * the set bits of slots o+1 .. n. */
static inline uint64_t atr_lw_rank(const atr_lw_t *lw, uint64_t o, uint64_t n) {
  uint64_t i = n & ATR_LW_MASK, s = o & ATR_LW_MASK, len = n - o;
  uint64_t top = lw->w[i >> 6] & (~0ull >> (63 - (i & 63))); /* bits 0 .. i of n's word */
  if (len <= (i & 63)) /* o's slot lies below n's in the same word */
    return (uint64_t)__builtin_popcountll(top >> (s & 63) >> 1);
  uint64_t mid = ((i >> 6) - (s >> 6) - 1) & (ATR_LW_WORDS - 1);
  return (uint64_t)__builtin_popcountll(top) +
         atr_lw_words_down(lw, ((i >> 6) - 1) & (ATR_LW_WORDS - 1), mid) +
         (uint64_t)__builtin_popcountll(lw->w[s >> 6] >> (s & 63) >> 1);
}
/* Position of the j-th lowest set bit of w (j < popcount(w)), without branches: halve
 * the word six times, keeping the half that holds the bit. */
static inline uint64_t atr_lw_halve(uint64_t *w, uint64_t *j, unsigned half) {
  uint64_t c = (uint64_t)__builtin_popcountll(*w & ((1ull << half) - 1));
  uint64_t up = 0 - (uint64_t)(*j >= c); /* all ones: the bit is in the upper half */
  *j -= c & up;
  *w >>= half & up;
  return half & up;
}
static inline uint64_t atr_lw_select_bit(uint64_t w, uint64_t j) {
  uint64_t pos = atr_lw_halve(&w, &j, 32);
  pos += atr_lw_halve(&w, &j, 16);
  pos += atr_lw_halve(&w, &j, 8);
  pos += atr_lw_halve(&w, &j, 4);
  pos += atr_lw_halve(&w, &j, 2);
  return pos + atr_lw_halve(&w, &j, 1);
}
/* The live window block with r newer live blocks, n the newest ordinal: its ordinal,
 * or 0 when there is none (a corrupt trace). Walks down from n: the rest of n's word and
 * block, then whole blocks to a group boundary, whole groups, and down into the group,
 * block and word that hold the block. Bits outside the window are clear, so with
 * r < live the walk ends inside it. */
static inline uint64_t atr_lw_select(const atr_lw_t *lw, uint64_t r, uint64_t n) {
  const uint64_t wmask = ATR_LW_WORDS - 1, bmask = ATR_LW_BLOCKS - 1, gmask = ATR_LW_GROUPS - 1;
  if (r >= lw->live)
    return 0;
  uint64_t i = n & ATR_LW_MASK, wi = i >> 6, bi, gi, w, c;
  w = lw->w[wi] & (~0ull >> (63 - (i & 63)));
  c = (uint64_t)__builtin_popcountll(w);
  if (r < c)
    goto found;
  r -= c;
  for (wi = (wi - 1) & wmask; (wi & 7) != 7; wi = (wi - 1) & wmask) {
    w = lw->w[wi];
    c = (uint64_t)__builtin_popcountll(w);
    if (r < c)
      goto found;
    r -= c;
  }
  for (bi = wi >> 3; (bi & 7) != 7; bi = (bi - 1) & bmask) {
    if (r < lw->b[bi])
      goto in_block;
    r -= lw->b[bi];
  }
  for (gi = bi >> 3; r >= lw->g[gi]; gi = (gi - 1) & gmask)
    r -= lw->g[gi];
  for (bi = gi * 8 + 7; r >= lw->b[bi]; bi--)
    r -= lw->b[bi];
in_block:
  for (wi = bi * 8 + 7;; wi--) {
    w = lw->w[wi];
    c = (uint64_t)__builtin_popcountll(w);
    if (r < c)
      break;
    r -= c;
  }
found:
  return n - ((i - (wi * 64 + atr_lw_select_bit(w, c - 1 - r))) & ATR_LW_MASK);
}

/* Plane values (site and free columns): lo | hi << 8, hi 0xFF = escaped to misc. */
#define ATR_PLANE_ESCAPE 0xFF00u

#endif
