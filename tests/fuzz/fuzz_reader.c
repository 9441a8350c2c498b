/* libFuzzer target for the trace reader and the analysis model: the input becomes a
 * "trace file" (a memfd, reopened by path exactly as the CLI opens files), read with
 * atr_trace_read and loaded with atr_model_load. Must never crash, leak, hang or trip a
 * sanitizer; the reader's promises to every visitor are checked and abort when broken.
 * Two modes, by the first byte: 0x28 (zstd's first magic byte) -> the input is the file;
 * any other byte m -> the rest is a record stream that is compressed here into 1 + (m & 3)
 * frames, with (m >> 2 & 7) + 1 bytes cut off the end when m & 0x80. The second mode lets
 * mutations reach the record parser instead of dying at zstd's checksum.
 * Built with clang -fsanitize=fuzzer as the optional target fuzz_reader; replay_corpus.c
 * runs the same function over tests/fuzz/corpus/ in ordinary test runs.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.h"
#include "reader.h"

#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMISE(cond)                                                                    \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz_reader: broken reader promise: %s (%s:%d)\n", #cond,       \
              __FILE__, __LINE__);                                                       \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

static void check_site(const atr_trace_t *tr, uint32_t site) {
  PROMISE(site > 0 && site < tr->nsites);
  const atr_rsite_t *s = &tr->sites[site];
  PROMISE(s->node < tr->nnodes);
  PROMISE(s->kind > 0 && s->kind < ATR_KIND_COUNT);
  uint32_t stack[128];
  size_t n = atr_trace_stack(tr, s->node, stack, 128);
  for (size_t i = 0; i < n; i++)
    PROMISE(stack[i] < tr->nnodes && (i == 0 || tr->nodes[stack[i - 1]].parent == stack[i]));
}

/* What every analysis relies on: sites and stacks in range, live ordinals consistent. */
static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  uint64_t *events = ctx;
  PROMISE(ev->index == (*events)++);
  switch (ev->kind) {
  case ATR_E_ALLOC:
    check_site(tr, ev->site);
    PROMISE(ev->ordinal == tr->last_ordinal && atr_trace_live_site(tr, ev->ordinal) == ev->site);
    break;
  case ATR_E_FREE:
    check_site(tr, ev->old_site);
    PROMISE(ev->old_ordinal && atr_trace_live_site(tr, ev->old_ordinal) == 0);
    break;
  case ATR_E_REALLOC:
    check_site(tr, ev->old_site);
    PROMISE(ev->old_ordinal && atr_trace_live_site(tr, ev->old_ordinal) == 0);
    if (ev->site) {
      check_site(tr, ev->site);
      PROMISE(atr_trace_live_site(tr, ev->ordinal) == ev->site);
    }
    break;
  case ATR_E_AFAIL:
    check_site(tr, ev->site);
    break;
  case ATR_E_RFAIL:
    check_site(tr, ev->site);
    check_site(tr, ev->old_site);
    PROMISE(atr_trace_live_site(tr, ev->old_ordinal) == ev->old_site);
    break;
  case ATR_E_UFREE:
  case ATR_E_IFREE:
    break;
  default:
    PROMISE(!"unknown event kind");
  }
}

static void on_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  (void)ctx;
  PROMISE(time_us == tr->time_us && bytes <= tr->peak_rss);
}

static void check_trace(const atr_trace_t *tr) {
  PROMISE(tr->nnodes >= 1 && tr->nsites >= 1);
  for (size_t i = 1; i < tr->nnodes; i++) {
    PROMISE(tr->nodes[i].parent < i);
    PROMISE(tr->nodes[i].module >= -1 && tr->nodes[i].module < (int32_t)tr->nmodules);
  }
  for (size_t i = 0; i < tr->nmodules; i++)
    PROMISE(tr->modules[i].lo <= tr->modules[i].hi && tr->modules[i].build_id_len <= 64);
  for (uint64_t i = 0; i < tr->argc; i++)
    PROMISE(tr->argv[i] != NULL);
}

/* Raw mode: the records in data[1..] as zstd frames (see the top); *out is malloc'd. */
static size_t compress_records(const uint8_t *data, size_t size, uint8_t **out) {
  unsigned mode = data[0], frames = 1 + (mode & 3);
  const uint8_t *rec = data + 1;
  size_t n = size - 1, cap = 0, len = 0;
  for (unsigned f = 0; f < frames; f++)
    cap += ZSTD_compressBound(n / frames + n % frames);
  *out = malloc(cap);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  PROMISE(*out && cctx);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  for (unsigned f = 0; f < frames; f++) {
    size_t from = n / frames * f, to = f + 1 == frames ? n : n / frames * (f + 1);
    size_t r = ZSTD_compress2(cctx, *out + len, cap - len, rec + from, to - from);
    PROMISE(!ZSTD_isError(r));
    len += r;
  }
  ZSTD_freeCCtx(cctx);
  size_t cut = mode & 0x80 ? 1 + (mode >> 2 & 7) : 0;
  return cut < len ? len - cut : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
    if (fd < 0) {
      perror("fuzz_reader: memfd_create");
      abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  }
  uint8_t *raw = NULL;
  if (size && data[0] != 0x28)
    size = compress_records(data, size, &raw);
  const uint8_t *file = raw ? raw : data;
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, file, size, 0) != (ssize_t)size)) {
    perror("fuzz_reader: writing the input");
    abort();
  }
  free(raw);

  uint64_t events = 0;
  atr_visitor_t v = {&events, on_event, on_rss};
  atr_trace_t tr;
  int rc = atr_trace_read(&tr, path, &v);
  PROMISE(rc == 0 || rc == -1);
  if (rc == 0) {
    check_trace(&tr);
    PROMISE(events == tr.events && tr.frames >= 1);
  } else {
    /* one line naming the file */
    PROMISE(tr.error[0] != 0 && strchr(tr.error, '\n') == NULL);
    PROMISE(strncmp(tr.error, path, strlen(path)) == 0);
  }
  atr_trace_free(&tr);

  atr_model_t m;
  int mrc = atr_model_load(&m, path, NULL);
  PROMISE(mrc == rc); /* the model reads exactly what the reader reads */
  if (mrc == 0) {
    PROMISE(m.t.leaked_blocks <= m.t.allocations);
    PROMISE(m.t.temporary <= m.t.frees + m.t.reallocs);
  }
  atr_model_free(&m);
  return 0;
}
