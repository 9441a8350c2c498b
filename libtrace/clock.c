/* Timestamp source: the TSC when the kernel trusts it as clocksource, else
 * CLOCK_MONOTONIC. Converts ticks to microseconds since start for the writer.
 * Never calibrates by sleeping: the rate is refined from elapsed wall time.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tracer.h"

int atr__clock_tsc;
static uint64_t tick0, mono0;
static double us_per_tick = 0.001;


/* The TSC orders events across CPUs when it is invariant (constant_tsc + nonstop_tsc):
 * then rdtsc costs ~7 ns where a paravirtual clock_gettime (kvm-clock) costs 20-50.
 * Kernels in VMs often mark it "unstable" for timekeeping (tsc=unstable), which is about
 * drift against wall time, not cross-CPU order; ALLOCTRACE_CLOCK=monotonic forces the
 * portable path. The multi-thread ordering test asserts zero inconsistencies. */
static int tsc_usable(void) {
  const char *force = getenv("ALLOCTRACE_CLOCK");
  if (force && strcmp(force, "monotonic") == 0)
    return 0;
  static char buf[8192];
  int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  size_t n = 0;
  for (ssize_t r; n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0;)
    n += (size_t)r; /* procfs hands out a page at a time */
  close(fd);
  buf[n] = 0;
  char *flags = strstr(buf, "\nflags");
  if (!flags)
    return 0;
  char *eol = strchr(flags + 1, '\n');
  if (eol)
    *eol = 0;
  return strstr(flags, " constant_tsc") && strstr(flags, " nonstop_tsc");
}

/* atr__stamp's clock read (out of line: once per ATR_STAMP_REUSE events at most). */
uint64_t atr__stamp_read(atr_thread_t *t, uint32_t epoch) {
  uint64_t now = atr__now();
  if (ATR_UNLIKELY(now <= t->stamp_last)) /* never below a stamp given before */
    now = t->stamp_last + 1;
  t->stamp_last = now;
  t->stamp_epoch = epoch;
  t->stamp_left = atomic_load_explicit(&atr__clk.multi, memory_order_relaxed) ? 0 : ATR_STAMP_REUSE;
  return now;
}

#ifdef ATR_TEST_SEAMS
uint64_t atr__skew[2];

static uint64_t skew_ticks(int us) {
  uint64_t t = atr__us_to_ticks((uint64_t)(us < 0 ? -us : us));
  return us < 0 ? 0 - t : t;
}
#endif

void atr__clock_init(void) {
#if defined(__x86_64__)
  atr__clock_tsc = tsc_usable();
#endif
  mono0 = atr__mono_ns();
  tick0 = atr__now();
  if (!atr__clock_tsc) {
    us_per_tick = 0.001;
  } else { /* a first rate from a 50 us spin; refine() sharpens it as the run goes on */
    uint64_t m;
    do
      m = atr__mono_ns();
    while (m < mono0 + 50000);
    uint64_t t = atr__now();
    if (t > tick0)
      us_per_tick = (double)(m - mono0) / 1000.0 / (double)(t - tick0);
  }
#ifdef ATR_TEST_SEAMS
  atr__skew[0] = skew_ticks(atr__cfg.skew_us[0]); /* needs the rate */
  atr__skew[1] = skew_ticks(atr__cfg.skew_us[1]);
#endif
}

uint64_t atr__clock_tick0(void) {
  return tick0;
}

/* Writer only: refine the TSC rate from the time elapsed so far. */
static void refine(uint64_t ticks) {
  if (!atr__clock_tsc)
    return;
  uint64_t m = atr__mono_ns(), t = atr__now();
  if (t > tick0 && m > mono0 + 1000000)
    us_per_tick = (double)(m - mono0) / 1000.0 / (double)(t - tick0);
  (void)ticks;
}

uint64_t atr__ticks_to_us(uint64_t ticks) {
  static unsigned calls;
  if ((calls++ & 1023) == 0)
    refine(ticks);
  return ticks > tick0 ? (uint64_t)((double)(ticks - tick0) * us_per_tick) : 0;
}

uint64_t atr__us_to_ticks(uint64_t us) {
  return (uint64_t)((double)us / us_per_tick);
}
