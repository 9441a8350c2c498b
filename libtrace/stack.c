/* Stack capture: libunwind's unw_backtrace (default) or a validated frame-pointer walk
 * (ALLOCTRACE_UNWIND=fp), minus the tracer's own frames, behind a per-thread cache of the
 * stacks seen at each frame address. The only file that includes libunwind.h. Never
 * allocates outside the guard and never reads stack memory not known to be readable.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tracer.h"

static uintptr_t self_lo, self_hi;
static int have_avx2; /* find_word below */

void atr__self_range(uintptr_t lo, uintptr_t hi) {
  self_lo = lo;
  self_hi = hi;
}

int atr__stack_init(void) {
  if (atr__stacktab_init() != 0)
    return -1;
  atr__pipe_refuse = 1; /* its mem-validate pipe waits for a need (proc.c) */
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  unw_set_cache_size(unw_local_addr_space, 1024, 0);
  unw_context_t uc; /* the initialisation is lazy in some versions: done here */
  unw_cursor_t cur;
  if (unw_getcontext(&uc) == 0)
    unw_init_local(&cur, &uc);
  atr__pipe_refuse = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  have_avx2 = __builtin_cpu_supports("avx2");
#endif
  return 0;
}

/* ---- the per-thread stack cache (atr_scache_t in tracer.h) ----
 * A capture at the same frame address whose walk would read the same stack words gives
 * the same stack. The frame-pointer walk depends only on the [saved fp][return address]
 * words it reads: the entry records every one of them, so a hit is exact. libunwind's
 * walk also depends on the CFI of each frame, fixed by its return address, and on the
 * stack pointer, fixed by the frame address below it: the entry records the word holding
 * each return address (found by scanning up from the capture's frame). Only a frame whose
 * size changes at run time (alloca) while every return address above it still reads the
 * same could be misattributed; a changed word only costs a walk. */

static inline unsigned sc_set(uintptr_t sp) {
  return (unsigned)((sp >> 4) * 0x9E3779B97F4A7C15ull >> 60) & (ATR_SC_SETS - 1);
}

/* Branch once per 4 words: a hit reads them all anyway. */
static inline int sc_holds(const atr_sc_entry_t *e, uintptr_t sp) {
  const uintptr_t *base = (const uintptr_t *)sp;
  uint32_t i = 0, n = e->n;
  for (; i + 4 <= n; i += 4) {
    uintptr_t d = (base[e->off[i]] ^ e->val[i]) | (base[e->off[i + 1]] ^ e->val[i + 1]) |
                  (base[e->off[i + 2]] ^ e->val[i + 2]) | (base[e->off[i + 3]] ^ e->val[i + 3]);
    if (d)
      return 0;
  }
  for (; i < n; i++)
    if (base[e->off[i]] != e->val[i])
      return 0;
  return 1;
}

/* Records one word the walk read; 0 when it lies too far from sp to be cached. */
static inline int sc_note(atr_sc_entry_t *e, uintptr_t sp, const uintptr_t *addr, uintptr_t v) {
  uintptr_t off = ((uintptr_t)addr - sp) / sizeof(uintptr_t);
  if ((uintptr_t)addr < sp || off > UINT16_MAX || e->n >= ATR_SC_WORDS)
    return 0;
  e->off[e->n] = (uint16_t)off;
  e->val[e->n++] = v;
  return 1;
}

/* Each frame record is [saved fp][return address]; a frame is believed only if it lies
 * inside this thread's stack, above the previous one and 16-byte aligned. The lowest
 * believable frame is the capture's own (sp): the caller's frame lies above it. Every
 * word read is noted in e (e->n = 0 when one could not be). */
static int fp_walk(uintptr_t *ips, int max, uintptr_t sp, uintptr_t hi, atr_sc_entry_t *e) {
  const uintptr_t *fp = (const uintptr_t *)sp;
  int n = 0, ok = 1;
  while (n < max) {
    uintptr_t f = (uintptr_t)fp;
    if (f < sp || f + 16 > hi || (f & 15))
      break;
    uintptr_t ret = fp[1];
    ok &= sc_note(e, sp, fp + 1, ret);
    if (ret < 4096)
      break;
    ips[n++] = ret;
    const uintptr_t *next = (const uintptr_t *)fp[0];
    ok &= sc_note(e, sp, fp, (uintptr_t)next);
    if (next <= fp)
      break;
    fp = next;
  }
  if (!ok)
    e->n = 0;
  return n;
}

/* Is the page at addr readable? Known for the initial thread's stack (ring.c) and pages
 * seen before; otherwise process_vm_readv reports EFAULT instead of faulting (a few calls
 * per thread: the range grows). Where it is not allowed (seccomp) nothing past the
 * capture's own page is cached. */
static int page_readable(atr_scache_t *c, uintptr_t addr) {
  uintptr_t page = addr & ~(uintptr_t)4095;
  if (page >= c->mapped_lo && page < c->mapped_hi)
    return 1;
  uintptr_t word;
  struct iovec local = {&word, sizeof(word)}, remote = {(void *)page, sizeof(word)};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof(word))
    return 0;
  if (page + 4096 == c->mapped_lo)
    c->mapped_lo = page;
  else if (page == c->mapped_hi)
    c->mapped_hi = page + 4096;
  else if (page < c->mapped_lo || page >= c->mapped_hi) {
    c->mapped_lo = page;
    c->mapped_hi = page + 4096;
  }
  return 1;
}

/* ---- finding a word in the stack ----
 * unw_slots below scans the stack upwards for each return address. On clang++ -O2 of
 * bench/tmpl_heavy.cc (frames of ~470 bytes, 64 of them) a fill read 3,800 words, 11.8 G
 * words in the run: with a compare and branch per word that scan was 22% of all the
 * run's CPU (perf annotate of capture_slow), more than libunwind's own walk. Eight words
 * per step with SSE2 (every x86-64 has it) or AVX2 where the CPU has it make it a few
 * percent. Each returns the first word in [p, lim) equal to v, or lim; never reads at or
 * past lim (the caller checked [p, lim) readable). */
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static const uintptr_t *find_word_avx2(const uintptr_t *p,
                                                                        const uintptr_t *lim,
                                                                        uintptr_t v) {
  const __m256i key = _mm256_set1_epi64x((long long)v);
  for (; p + 8 <= lim; p += 8) {
    __m256i a = _mm256_cmpeq_epi64(_mm256_loadu_si256((const __m256i *)p), key);
    __m256i b = _mm256_cmpeq_epi64(_mm256_loadu_si256((const __m256i *)(p + 4)), key);
    if (!_mm256_testz_si256(_mm256_or_si256(a, b), _mm256_or_si256(a, b)))
      break;
  }
  for (; p < lim; p++)
    if (*p == v)
      return p;
  return lim;
}

static const uintptr_t *find_word_sse2(const uintptr_t *p, const uintptr_t *lim, uintptr_t v) {
  const __m128i key = _mm_set1_epi64x((long long)v);
  for (; p + 8 <= lim; p += 8) {
    /* 32-bit compares: a word matches where both of its halves do */
    __m128i m0 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)p), key);
    __m128i m1 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(p + 2)), key);
    __m128i m2 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(p + 4)), key);
    __m128i m3 = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(p + 6)), key);
    m0 = _mm_and_si128(m0, _mm_shuffle_epi32(m0, _MM_SHUFFLE(2, 3, 0, 1)));
    m1 = _mm_and_si128(m1, _mm_shuffle_epi32(m1, _MM_SHUFFLE(2, 3, 0, 1)));
    m2 = _mm_and_si128(m2, _mm_shuffle_epi32(m2, _MM_SHUFFLE(2, 3, 0, 1)));
    m3 = _mm_and_si128(m3, _mm_shuffle_epi32(m3, _MM_SHUFFLE(2, 3, 0, 1)));
    if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3))))
      break;
  }
  for (; p < lim; p++)
    if (*p == v)
      return p;
  return lim;
}

static inline const uintptr_t *find_word(const uintptr_t *p, const uintptr_t *lim, uintptr_t v) {
  return have_avx2 ? find_word_avx2(p, lim, v) : find_word_sse2(p, lim, v);
}
#else
static inline const uintptr_t *find_word(const uintptr_t *p, const uintptr_t *lim, uintptr_t v) {
  for (; p < lim; p++)
    if (*p == v)
      return p;
  return lim;
}
#endif

/* How many root-side frames of ips[0..n) the last fill had too, each still in the word
 * that held it then (a known-readable page, within reach of sp): frames whose slots need
 * no search. Those frames have not returned since, so the words are theirs. */
static int unw_reusable(const atr_scache_t *c, const uintptr_t *ips, int n, uintptr_t sp) {
  int k = 0;
  for (int i = n - 1, l = (int)c->last_n - 1; i >= 1 && l >= 1; i--, l--, k++) {
    uintptr_t at = c->last_at[l];
    if (c->last_ip[l] != ips[i] || at < sp || (at - sp) / sizeof(uintptr_t) > UINT16_MAX ||
        !((at & ~(uintptr_t)4095) == (sp & ~(uintptr_t)4095) ||
          (at >= c->mapped_lo && at < c->mapped_hi)) ||
        *(const uintptr_t *)at != ips[i])
      break;
  }
  return k;
}

/* libunwind gives return addresses only: find the word holding each one, going up from
 * the capture's frame, reading only pages known readable (the chain may change stacks).
 * ips[0] is the capture's own call of unw_backtrace, below sp, fixed by sp. The frames
 * nearer the root that the last fill had in the same words are taken from it: on clang++
 * of bench/tmpl_heavy.cc that cut the words read per fill from ~3,800 to ... */
static void unw_slots(atr_scache_t *c, atr_sc_entry_t *e, const uintptr_t *ips, int n,
                      uintptr_t sp) {
  const uintptr_t *p = (const uintptr_t *)sp;
  const uintptr_t *end = p + UINT16_MAX;
  /* sp's own page is this thread's live stack; [p, lim) is known readable */
  const uintptr_t *lim = (const uintptr_t *)((sp & ~(uintptr_t)4095) + 4096);
  int keep = unw_reusable(c, ips, n, sp), top = n - keep; /* frames [top, n) are reused */
  if (keep) /* the searched slots lie below the reused ones */
    end = (const uintptr_t *)c->last_at[(int)c->last_n - keep];
  uintptr_t at[ATR_MAX_DEPTH + 8];
  at[0] = 0;
  for (int i = n - 1, l = (int)c->last_n - 1; i >= top; i--, l--)
    at[i] = c->last_at[l];
  for (int i = 1; i < top; i++) {
    for (;;) {
      if (p >= end)
        goto fail;
      if (p >= lim) {
        uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
        if (!page_readable(c, page))
          goto fail;
        lim = (const uintptr_t *)(page + 4096);
      }
      const uintptr_t *stop = lim < end ? lim : end;
      p = find_word(p, stop, ips[i]);
      if (p < stop)
        break;
    }
    at[i] = (uintptr_t)p;
    if (!sc_note(e, sp, p, ips[i]))
      goto fail;
    p++;
  }
  for (int i = top; i < n; i++)
    if (!sc_note(e, sp, (const uintptr_t *)at[i], ips[i]))
      goto fail;
  c->last_n = (uint32_t)n;
  memcpy(c->last_ip, ips, (size_t)n * sizeof(*ips));
  memcpy(c->last_at, at, (size_t)n * sizeof(*at));
  return;
fail:
  c->last_n = 0;
  e->n = 0;
}

static ATR_NOINLINE uint32_t capture_slow(atr_thread_t *t, uintptr_t sp, unsigned set) {
  atr_scache_t *c = &t->sc;
  uintptr_t ips[ATR_MAX_DEPTH + 8];
  int max = atr__cfg.depth + 8;
  int n;
  /* a set missing again and again (many stacks at one frame address) fills 1 time in 8 */
  int fill = c->misses[set] < 16 || (c->misses[set] & 7) == 0;
  if (c->misses[set] < UINT8_MAX)
    c->misses[set]++;
  else
    c->misses[set] = 16;
  atr_sc_entry_t scratch;
  atr_sc_entry_t *e = &scratch;
  e->n = 0;
  if (atr__cfg.unwind == ATR_UNWIND_FP && t->stack_hi) {
    n = fp_walk(ips, max, sp, t->stack_hi, e);
  } else {
    n = unw_backtrace((void **)ips, max);
    if (fill)
      unw_slots(c, e, (const uintptr_t *)ips, n, sp);
  }
  /* Drop every tracer frame, not only the leading ones: an allocation libc makes for
   * a C++ operator new is recorded below libstdc++'s operator, above our _Znwm hook. */
  int m = 0;
  for (int i = 0; i < n && m < atr__cfg.depth; i++)
    if (ips[i] < self_lo || ips[i] >= self_hi)
      ips[m++] = ips[i];
  uint32_t id = m > 0 ? atr__stack_intern(ips, m) : 0;
  if (fill && e->n && (id || m == 0)) {
    atr_sc_entry_t *v = &c->e[set][c->victim[set]];
    c->mru[set] = c->victim[set];
    c->victim[set] = (uint8_t)((c->victim[set] + 1) & (ATR_SC_WAYS - 1));
    v->sp = sp;
    v->id = id;
    v->epoch = c->epoch;
    v->n = e->n;
    memcpy(v->off, e->off, e->n * sizeof(e->off[0]));
    memcpy(v->val, e->val, e->n * sizeof(e->val[0]));
  }
  return id;
}

ATR_NOINLINE uint32_t atr__stack_capture(atr_thread_t *t) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  unsigned set = sc_set(sp);
  atr_sc_entry_t *ways = t->sc.e[set];
  /* the way that hit last first: allocations come in runs from one stack, and a way
   * that does not match may share most of its words with the one that does */
  unsigned mru = t->sc.mru[set];
  for (unsigned k = 0; k < ATR_SC_WAYS; k++) {
    unsigned w = (mru + k) & (ATR_SC_WAYS - 1);
    atr_sc_entry_t *e = &ways[w];
    if (e->sp == sp && e->epoch == t->sc.epoch && sc_holds(e, sp)) {
      t->sc.misses[set] = 0;
      t->sc.mru[set] = (uint8_t)w;
      return e->id;
    }
  }
  return capture_slow(t, sp, set);
}
