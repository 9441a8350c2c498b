/* Trace -> replay op file (see replay_build.h, replay_ops.h). Maps every allocation
 * function to one a C program can call, reuses block slots LIFO so the replayer's table
 * is sized by peak live blocks, and marks the thread hand-overs of the recorded order.
 * Never trusts the trace beyond what the reader validated; never prints.
 */
#define _GNU_SOURCE
#include "replay_build.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "livemap.h"
#include "model.h"
#include "replay_ops.h"
#include "util.h"

#define MAX_THREADS (1u << 24)
#define ALIGN_DEFAULT 16u /* glibc's MALLOC_ALIGNMENT on 64-bit: more needs an aligned call */
#define ROOM_EVERY 4096u  /* ops between two looks at the free space (128 KiB written) */

typedef struct {
  atr_rop_t op;
  uint32_t thread; /* trace thread index */
  uint32_t pad;
} seqrec_t;

typedef struct {
  FILE *seq;
  atr_livemap_t blocks; /* allocation ordinal -> slot */
  uint32_t *free_slots;
  size_t nfree, cap_free;
  uint32_t *slot_ops; /* ops seen per slot: the deps order's wait counts */
  size_t nslots, cap_slots;
  uint64_t *slot_max; /* per slot: the costliest block it holds (deps_bound) */
  size_t cap_max;
  uint64_t *thread_ops; /* per trace thread index */
  size_t cap_threads;
  seqrec_t pending;             /* held back one op: its HANDOFF depends on the next op's thread */
  uint64_t live, peak, peak_op; /* live requested bytes; the op that first reaches the peak */
  int have_pending;
  atr_replay_info_t *info;
  char tmpdir[4096]; /* where the temporary and op files go, for messages */
  char msg[512];
} build_t;

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 1024;
  while (c < need)
    c *= 2;
  void *p = realloc(*arr, c * elem);
  if (!p)
    return -1;
  memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
  *arr = p;
  *cap = c;
  return 0;
}

static void failf(build_t *B, const char *fmt, ...) {
  if (B->msg[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(B->msg, sizeof(B->msg), fmt, ap);
  va_end(ap);
}

static int take_slot(build_t *B, uint32_t *slot) {
  if (B->nfree) {
    *slot = B->free_slots[--B->nfree];
    return 0;
  }
  if (B->nslots >= UINT32_MAX)
    return -1;
  if (grow((void **)&B->slot_ops, &B->cap_slots, B->nslots + 1, sizeof(uint32_t)) != 0)
    return -1;
  *slot = (uint32_t)B->nslots++;
  return 0;
}

uint64_t atr_replay_block_cost(uint64_t size, uint64_t align) {
  static uint64_t page;
  if (!page)
    page = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t slack = align > ALIGN_DEFAULT ? align - ALIGN_DEFAULT : 0;
  if (size > UINT64_MAX / 2 || slack > UINT64_MAX / 4)
    return UINT64_MAX / 4; /* a failed allocation in the trace: never fits */
  uint64_t c = size + slack;
  if (c < (128u << 10)) {
    c = (c + 8 + 15) & ~(uint64_t)15;
    return c < 32 ? 32 : c;
  }
  return (c + 16 + page - 1) / page * page;
}

/* The slot will hold `cost` bytes at some moment. */
static int slot_cost(build_t *B, uint32_t slot, uint64_t cost) {
  if (grow((void **)&B->slot_max, &B->cap_max, (size_t)slot + 1, sizeof(uint64_t)) != 0)
    return -1;
  if (cost > B->slot_max[slot])
    B->slot_max[slot] = cost;
  return 0;
}

static int release_slot(build_t *B, uint32_t slot) {
  if (grow((void **)&B->free_slots, &B->cap_free, B->nfree + 1, sizeof(uint32_t)) != 0)
    return -1;
  B->free_slots[B->nfree++] = slot;
  return 0;
}

static uint8_t log2_ceil(uint64_t v) {
  uint8_t l = 0;
  while (l < 63 && (1ull << l) < v)
    l++;
  return l;
}

/* The call that reproduces an allocation of `kind` (the program's own malloc & co. are
 * replayed as the C function they are). operator new and the Rust, static allocator and
 * API kinds have no C entry point of their own: they become malloc (or calloc when
 * zeroed), or posix_memalign when over-aligned, which is what libstdc++'s operator new
 * and Rust's System allocator call underneath. */
static uint8_t alloc_op(build_t *B, unsigned kind, uint64_t align) {
  int over = align > ALIGN_DEFAULT;
  switch (atr_kind_c_function(kind)) {
  case ATR_KIND_MALLOC:
    return over ? ATR_ROP_POSIX_MEMALIGN : ATR_ROP_MALLOC;
  case ATR_KIND_CALLOC:
    return over ? ATR_ROP_POSIX_MEMALIGN : ATR_ROP_CALLOC;
  case ATR_KIND_REALLOC:
    return ATR_ROP_REALLOC_NEW;
  case ATR_KIND_REALLOCARRAY:
    return ATR_ROP_REALLOCARRAY_NEW;
  case ATR_KIND_POSIX_MEMALIGN:
    return ATR_ROP_POSIX_MEMALIGN;
  case ATR_KIND_ALIGNED_ALLOC:
    return ATR_ROP_ALIGNED_ALLOC;
  case ATR_KIND_MEMALIGN:
    return ATR_ROP_MEMALIGN;
  case ATR_KIND_VALLOC:
    return ATR_ROP_VALLOC;
  case ATR_KIND_PVALLOC:
    return ATR_ROP_PVALLOC;
  case ATR_KIND_RUST_ALLOC_ZEROED:
    B->info->mapped++;
    return over ? ATR_ROP_POSIX_MEMALIGN : ATR_ROP_CALLOC;
  case ATR_KIND_RUST_REALLOC:
    B->info->mapped++;
    return over ? ATR_ROP_POSIX_MEMALIGN : ATR_ROP_REALLOC_NEW;
  default: /* operator new variants, __rust_alloc, static jemalloc/mimalloc, API */
    B->info->mapped++;
    return over ? ATR_ROP_POSIX_MEMALIGN : ATR_ROP_MALLOC;
  }
}

static uint8_t resize_op(unsigned kind, uint64_t align) {
  if (atr_kind_c_function(kind) == ATR_KIND_REALLOCARRAY)
    return ATR_ROP_REALLOCARRAY;
  if (align > ALIGN_DEFAULT) /* Rust's realloc of an over-aligned block: alloc, copy, free */
    return ATR_ROP_REALLOC_ALIGNED;
  return ATR_ROP_REALLOC;
}

static void set_new(atr_rop_t *op, const atr_rsite_t *s) {
  op->size = s->size;
  op->align_log2 = s->align > 1 ? log2_ceil(s->align) : 0;
}

static void seq_write_failed(build_t *B);
static void check_room(build_t *B);

static void emit(build_t *B, seqrec_t *r) {
  if (grow((void **)&B->thread_ops, &B->cap_threads, (size_t)r->thread + 1, sizeof(uint64_t)) !=
      0) {
    failf(B, "out of memory");
    return;
  }
  B->thread_ops[r->thread]++;
  if (++B->info->ops % ROOM_EVERY == 0)
    check_room(B);
  B->info->opcodes[r->op.op]++;
  if (B->have_pending) {
    if (B->pending.thread != r->thread) {
      B->pending.op.flags |= ATR_ROP_HANDOFF;
      B->pending.op.next = r->thread; /* a trace index until the grouping pass */
      r->op.flags |= ATR_ROP_TURN;
      B->info->handoffs++;
    }
    if (fwrite(&B->pending, sizeof(B->pending), 1, B->seq) != 1)
      seq_write_failed(B);
  }
  B->pending = *r;
  B->have_pending = 1;
  if (B->live > B->peak) {
    B->peak = B->live;
    B->peak_op = B->info->ops - 1;
  }
}

/* The decoding pass's temporary file (one seqrec_t per op) hit an error, usually a full
 * filesystem: stdio reports ENOSPC as a failed write, never as a signal. */
static void seq_write_failed(build_t *B) {
  int e = errno;
  char a[64];
  failf(B, "cannot write the temporary op file in %s (%zu B per op, %s ops so far): %s%s",
        B->tmpdir, sizeof(seqrec_t), atr_count(a, sizeof(a), B->info->ops), strerror(e),
        e == ENOSPC ? " (TMPDIR chooses where replay's temporary files go)" : "");
}

/* While the decoding pass writes its temporary file (32 B per op), the op file to come
 * (24 B per op) must still fit next to it: the pass stops as soon as it cannot, with a
 * margin, rather than filling the filesystem up to ENOSPC (a few KiB of compressed trace
 * can hold millions of ops). */
static void check_room(build_t *B) {
  struct statvfs sv;
  if (fflush(B->seq) != 0) { /* what stdio holds back would not be counted */
    seq_write_failed(B);
    return;
  }
  if (fstatvfs(fileno(B->seq), &sv) != 0)
    return;
  uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
  uint64_t ops = B->info->ops, opfile = ops * sizeof(atr_rop_t);
  uint64_t need = opfile + opfile / 64 + (64u << 10);
  if (avail < need) {
    char a[64], b[64], c[64];
    failf(B, "the op file needs more than %s (%s ops of %zu B so far) in %s, but only %s is "
             "free there (TMPDIR chooses where replay's temporary files go)",
          atr_bytes(a, sizeof(a), (double)need), atr_count(c, sizeof(c), ops), sizeof(atr_rop_t),
          B->tmpdir, atr_bytes(b, sizeof(b), (double)avail));
  }
}

/* The op file is written through a shared mapping, where a full filesystem would be a
 * SIGBUS instead of an error: its size is checked against the free space (with a margin
 * for the filesystem's own metadata) and reserved with posix_fallocate before the first
 * byte is stored. */
static int reserve(build_t *B, int fd, const char *ops_path, size_t total) {
  struct statvfs sv;
  char a[64], b[64], c[64];
  uint64_t margin = total / 64 + (64u << 10);
  if (fstatvfs(fd, &sv) == 0) {
    uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (avail < total + margin)
      return failf(B, "the op file needs %s (%s ops of %zu B) in %s, but only %s is free there "
                      "(TMPDIR chooses where replay's temporary files go)",
                   atr_bytes(a, sizeof(a), (double)(total + margin)),
                   atr_count(c, sizeof(c), B->info->ops), sizeof(atr_rop_t), B->tmpdir,
                   atr_bytes(b, sizeof(b), (double)avail)),
             -1;
  }
  int e = posix_fallocate(fd, 0, (off_t)total);
  if (e != 0)
    return failf(B, "%s: cannot reserve %s for the op file: %s", ops_path,
                 atr_bytes(a, sizeof(a), (double)total), strerror(e)),
           -1;
  return 0;
}

static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  build_t *B = ctx;
  if (B->msg[0])
    return;
  B->info->events++;
  if (ev->thread >= MAX_THREADS) {
    failf(B, "thread index %u is too large to replay", ev->thread);
    return;
  }
  seqrec_t r = {.thread = ev->thread};
  uint32_t slot = 0;
  int release = 0;
  switch (ev->kind) {
  case ATR_E_ALLOC: {
    const atr_rsite_t *s = &tr->sites[ev->site];
    if (take_slot(B, &slot) != 0 || atr_live_put(&B->blocks, ev->ordinal, slot) != 0 ||
        slot_cost(B, slot, atr_replay_block_cost(s->size, s->align)) != 0) {
      failf(B, "out of memory");
      return;
    }
    r.op.op = alloc_op(B, s->kind, s->align);
    set_new(&r.op, s);
    B->info->allocations++;
    B->live += s->size;
    break;
  }
  case ATR_E_FREE:
    if (!atr_live_take(&B->blocks, ev->old_ordinal, &slot)) {
      B->info->unknown_frees++; /* the reader saw it live: cannot happen, never replayed */
      return;
    }
    r.op.op = ATR_ROP_FREE;
    release = 1;
    B->live -= tr->sites[ev->old_site].size;
    break;
  case ATR_E_REALLOC:
    if (!atr_live_take(&B->blocks, ev->old_ordinal, &slot)) {
      B->info->unknown_frees++;
      return;
    }
    B->live -= tr->sites[ev->old_site].size;
    if (ev->site) { /* the new block keeps the old one's slot */
      const atr_rsite_t *s = &tr->sites[ev->site], *o = &tr->sites[ev->old_site];
      /* a moving realloc holds the old block and the new one for the copy */
      if (atr_live_put(&B->blocks, ev->ordinal, slot) != 0 ||
          slot_cost(B, slot, atr_replay_block_cost(s->size, s->align) +
                                 atr_replay_block_cost(o->size, o->align)) != 0) {
        failf(B, "out of memory");
        return;
      }
      r.op.op = resize_op(s->kind, s->align);
      set_new(&r.op, s);
      B->info->allocations++;
      B->live += s->size;
    } else { /* realloc(p, 0) freed p: free() does that under every allocator */
      r.op.op = ATR_ROP_FREE;
      release = 1;
    }
    break;
  case ATR_E_AFAIL:
  case ATR_E_RFAIL:
    B->info->failed++;
    return;
  default: /* ATR_E_UFREE, ATR_E_IFREE: the block predates the trace */
    B->info->unknown_frees++;
    return;
  }
  r.op.slot = slot;
  r.op.wait = B->slot_ops[slot]++;
  if (release && release_slot(B, slot) != 0) {
    failf(B, "out of memory");
    return;
  }
  emit(B, &r);
}

/* Second pass: group the ops by thread, threads ranked by trace index. */
static int group(build_t *B, const char *ops_path) {
  size_t nt = 0;
  uint32_t *rank = calloc(B->cap_threads ? B->cap_threads : 1, sizeof(uint32_t));
  if (!rank)
    return failf(B, "out of memory"), -1;
  for (size_t t = 0; t < B->cap_threads; t++)
    if (B->thread_ops[t])
      rank[t] = (uint32_t)nt++;
  size_t head = sizeof(atr_rops_hdr_t) + nt * sizeof(atr_rops_thread_t);
  size_t total = head + B->info->ops * sizeof(atr_rop_t);
  int fd = open(ops_path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    free(rank);
    return failf(B, "%s: cannot create: %s", ops_path, strerror(errno)), -1;
  }
  if (reserve(B, fd, ops_path, total) != 0) {
    close(fd);
    free(rank);
    return -1;
  }
  uint8_t *out = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (out == MAP_FAILED) {
    free(rank);
    return failf(B, "%s: cannot write %zu bytes: %s", ops_path, total, strerror(errno)), -1;
  }
  atr_rops_hdr_t *h = (atr_rops_hdr_t *)out;
  memcpy(h->magic, ATR_ROPS_MAGIC, 8);
  h->version = ATR_ROPS_VERSION;
  h->nthreads = (uint32_t)nt;
  h->nops = B->info->ops;
  h->nslots = B->nslots;
  h->peak_bytes = B->info->peak_bytes;
  atr_rops_thread_t *th = (atr_rops_thread_t *)(out + sizeof(*h));
  uint64_t *cursor = calloc(nt ? nt : 1, sizeof(uint64_t));
  if (!cursor) {
    munmap(out, total);
    free(rank);
    return failf(B, "out of memory"), -1;
  }
  uint64_t first = 0;
  for (size_t t = 0; t < B->cap_threads; t++)
    if (B->thread_ops[t]) {
      th[rank[t]].first = first;
      th[rank[t]].count = B->thread_ops[t];
      cursor[rank[t]] = first;
      first += B->thread_ops[t];
    }
  atr_rop_t *ops = (atr_rop_t *)(out + head);
  static seqrec_t buf[4096];
  size_t got;
  uint64_t index = 0;
  rewind(B->seq);
  while ((got = fread(buf, sizeof(*buf), sizeof(buf) / sizeof(*buf), B->seq)) > 0) {
    for (size_t i = 0; i < got; i++, index++) {
      atr_rop_t op = buf[i].op;
      if (op.flags & ATR_ROP_HANDOFF)
        op.next = rank[op.next];
      if (index == B->peak_op && B->peak)
        op.flags |= ATR_ROP_PEAK;
      ops[cursor[rank[buf[i].thread]]++] = op;
    }
  }
  int rc = ferror(B->seq) ? -1 : 0;
  if (rc)
    failf(B, "cannot read the temporary op file back");
  if (msync(out, total, MS_SYNC) != 0 && !rc) {
    rc = -1;
    failf(B, "%s: cannot write: %s", ops_path, strerror(errno));
  }
  munmap(out, total);
  free(cursor);
  free(rank);
  B->info->threads = nt;
  B->info->slots = B->nslots;
  return rc;
}

int atr_replay_build(const char *trace, const char *ops_path, atr_replay_info_t *info, char *err,
                     size_t errlen) {
  memset(info, 0, sizeof(*info));
  build_t B = {.info = info};
  char seq_path[4096];
  snprintf(seq_path, sizeof(seq_path), "%s.seq", ops_path);
  int fd = open(seq_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create: %s", seq_path, strerror(errno));
    return -1;
  }
  unlink(seq_path); /* anonymous from here on: nothing to clean up on any exit */
  char dir_of[sizeof(seq_path)];
  snprintf(dir_of, sizeof(dir_of), "%s", seq_path);
  snprintf(B.tmpdir, sizeof(B.tmpdir), "%s", dirname(dir_of));
  B.seq = fdopen(fd, "w+b");
  if (!B.seq || atr_live_init(&B.blocks, 1024) != 0) {
    if (B.seq)
      fclose(B.seq);
    else
      close(fd);
    snprintf(err, errlen, "%s: out of memory", trace);
    return -1;
  }
  setvbuf(B.seq, NULL, _IOFBF, ROOM_EVERY * sizeof(seqrec_t));
  atr_visitor_t v = {&B, on_event, NULL};
  atr_model_t m;
  int rc = 0;
  if (atr_model_load(&m, trace, &v) != 0) {
    snprintf(err, errlen, "%s", m.tr.error);
    rc = -1;
  } else if (B.msg[0]) {
    snprintf(err, errlen, "%s: %s", trace, B.msg);
    rc = -1;
  } else {
    info->peak_bytes = m.t.peak_bytes;
    for (size_t i = 0; i < B.nslots && i < B.cap_max; i++) /* saturating: never wraps */
      info->deps_bound = B.slot_max[i] > UINT64_MAX - info->deps_bound
                             ? UINT64_MAX
                             : info->deps_bound + B.slot_max[i];
    info->truncated = m.tr.truncated;
    info->complete = m.tr.has_end && !m.tr.truncated;
    char exe[sizeof(info->program)];
    snprintf(exe, sizeof(exe), "%s", m.tr.exe && *m.tr.exe ? m.tr.exe : "?");
    snprintf(info->program, sizeof(info->program), "%s", basename(exe));
    if (B.have_pending && fwrite(&B.pending, sizeof(B.pending), 1, B.seq) != 1)
      seq_write_failed(&B);
    if (!B.msg[0] && fflush(B.seq) != 0)
      seq_write_failed(&B);
    if (B.msg[0] || group(&B, ops_path) != 0) {
      snprintf(err, errlen, "%s: %s", trace, B.msg[0] ? B.msg : "cannot write the op file");
      rc = -1;
    }
  }
  atr_model_free(&m);
  fclose(B.seq);
  free(B.blocks.s);
  free(B.free_slots);
  free(B.slot_ops);
  free(B.slot_max);
  free(B.thread_ops);
  return rc;
}
