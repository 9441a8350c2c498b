/* alloctrace trace format: record tags, kinds and the varint codec.
 * Shared by the recorder (libtrace/writer.c) and the reader (cli/reader.c);
 * the only header both sides include. Must never depend on anything but <stdint.h>.
 *
 * A trace file is a sequence of independent zstd frames (`zstd -d` reads it).
 * Their concatenated content is a stream of records. Each record is one tag byte
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
 *   0x08 TIME  u:delta_us                                     events below happen at
 *                                                              now += delta (us since start)
 *   0x09 RSS   u:rss_bytes                                    resident set sample
 *   0x0A END   u:events u:waits u:inconsistent u:unknown_frees recorder flushed at exit,
 *              u:stack_drops u:peak_rss u:flags                exec or _exit (records may
 *                                                              follow: late frees at exit)
 *   0x0B NOTE  str:text                                       recorder remark (patch
 *                                                              refused, table full, ...)
 *   0x0C AFAIL u:thread u:site                                allocation returned NULL
 *   0x0D RFAIL u:thread u:k u:site                            realloc failed; block k
 *                                                              stays live
 *   0x0E UFREE u:thread u:kind                                free of a pointer this trace
 *                                                              never saw allocated
 *   0x0F TEXT  u:thread                                       thread idx of next event
 *                                                              when idx >= 63
 *   0x10 LAYER u:mask                                         recording layers active
 *   0x20|t FREED   s:delta                                    free block (last_freed +
 *                                                              delta), t = thread 0..30
 *   0x40|t FREE    u:k                                        free block with ordinal
 *                                                              (last_ordinal - k)
 * Both free forms set last_freed to the freed ordinal (0 at the start of a file).
 *   0x80|t ALLOC   u:site                                     new block, ordinal+1
 *   0xC0|t REALLOC u:(k<<1|moved) u:site                      block k freed, new block
 *                                                              (site 0: freed, no block)
 * t (0..62) is the thread index; 63 means "the index of the last TEXT".
 *
 * Pointers never appear: the writer keeps the live-block map and names a block by its
 * allocation ordinal, which is what makes a temporary's free a single small varint.
 */
#ifndef ALLOCTRACE_FORMAT_H
#define ALLOCTRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define ATR_FORMAT_MAGIC "ALLOCTRC"
#define ATR_FORMAT_VERSION 2u /* 2: FREED records */

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
  ATR_TAG_FREED = 0x20, /* 0x20..0x3E */
  ATR_TAG_FREE = 0x40,
  ATR_TAG_ALLOC = 0x80,
  ATR_TAG_REALLOC = 0xC0,
};

#define ATR_THREAD_INLINE_MAX 63u /* t == 63: use the TEXT index */
#define ATR_TAG_FREED_MAX_THREAD 30u

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
  X(API, 19, "atr_report_alloc", ATR_LAYER_API)

enum atr_kind {
#define ATR_KIND_ENUM(name, value, label, layer) ATR_KIND_##name = value,
  ATR_KIND_LIST(ATR_KIND_ENUM)
#undef ATR_KIND_ENUM
      ATR_KIND_COUNT
};

/* Which recording layer saw an allocation (bit mask in LAYER records). */
enum atr_layer {
  ATR_LAYER_LIBC = 1u << 0,
  ATR_LAYER_CXX = 1u << 1,
  ATR_LAYER_RUST_SHIM = 1u << 2,
  ATR_LAYER_STATIC_ALLOC = 1u << 3,
  ATR_LAYER_API = 1u << 4,
};

/* END flags */
#define ATR_END_EXIT 1u  /* process exit (exit, _exit or return from main) */
#define ATR_END_EXEC 2u  /* process image replaced by exec */
#define ATR_END_ERROR 4u /* the recorder stopped on an internal error (see NOTE) */

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

#endif
