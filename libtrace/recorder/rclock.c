/* The recorder's view of the traced images' clocks: a process stamps events with the
 * TSC or with CLOCK_MONOTONIC in ns (libtrace/clock.c, its header says which); here the
 * TSC rate is measured against CLOCK_MONOTONIC, first over a 50 us spin and then over
 * the recorder's whole life. Never sleeps to calibrate.
 */
#define _GNU_SOURCE
#include <time.h>

#include "recorder.h"
#include "tracer.h"

static uint64_t tick0, mono0;
static double us_per_tick = 0.001;


void atr_rec_clock_init(void) {
  mono0 = atr__mono_ns();
  tick0 = atr__rdtsc();
  uint64_t m;
  do
    m = atr__mono_ns();
  while (m < mono0 + 50000);
  uint64_t t = atr__rdtsc();
  if (t > tick0)
    us_per_tick = (double)(m - mono0) / 1000.0 / (double)(t - tick0);
}

static void refine(void) {
  static unsigned calls;
  if ((calls++ & 1023) != 0)
    return;
  uint64_t m = atr__mono_ns(), t = atr__rdtsc();
  if (t > tick0 && m > mono0 + 1000000)
    us_per_tick = (double)(m - mono0) / 1000.0 / (double)(t - tick0);
}

uint64_t atr_rec_now(const atr_shm_hdr_t *h) {
  return h->clock_tsc ? atr__rdtsc() : atr__mono_ns();
}

uint64_t atr_rec_ticks_to_us(const atr_shm_hdr_t *h, uint64_t ticks) {
  if (ticks <= h->tick0)
    return 0;
  if (!h->clock_tsc)
    return (ticks - h->tick0) / 1000u;
  refine();
  return (uint64_t)((double)(ticks - h->tick0) * us_per_tick);
}

uint64_t atr_rec_us_to_ticks(const atr_shm_hdr_t *h, uint64_t us) {
  return h->clock_tsc ? (uint64_t)((double)us / us_per_tick) : us * 1000u;
}
