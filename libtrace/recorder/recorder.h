/* Internal interface of the recorder process (alloctrace-record): the per-image writer
 * (writer.c), the run's sink and connections (recorder.c) and the clock (clock.c here).
 * The recorder is an ordinary program: it may allocate, block and use stdio; it must
 * never write into a traced process's region but for the fields shm.h gives it.
 */
#ifndef ATR_RECORDER_H
#define ATR_RECORDER_H

#include <stdint.h>

#include "shm.h"

typedef struct atr_wproc atr_wproc_t;

/* writer.c: one traced process image, on its region's fixed part mapped at base; memfd
 * (the caller's, open while the writer lives) maps the pieces (shm.h) as they appear. */
atr_wproc_t *atr_wproc_open(void *base, int memfd, uint32_t stream);
uint64_t atr_wproc_step(atr_wproc_t *w);  /* one pass; the events taken */
void atr_wproc_finish(atr_wproc_t *w);    /* the image is gone: the rest, then END */
void atr_wproc_close(atr_wproc_t *w);
uint32_t atr_wproc_pid(const atr_wproc_t *w);
uint64_t atr_wproc_events(const atr_wproc_t *w);
uint64_t atr_wproc_tick0(const atr_wproc_t *w);

/* inherit.c: the blocks a parent image had live at each of its forks, for the child's
 * writer. */
typedef struct atr_inherit atr_inherit_t;
int atr_inherit_room(uint64_t n); /* may a set of n more pointers be kept */
/* Takes ptrs (n of them, malloc'd; NULL: none kept although `live` were live). */
void atr_inherit_mark(uint32_t ppid, uint64_t ptick0, uint64_t mark, uint64_t *ptrs, size_t n,
                      uint64_t live);
atr_inherit_t *atr_inherit_find(uint32_t ppid, uint64_t ptick0, uint64_t mark);
void atr_inherit_claim(atr_inherit_t *s);
int atr_inherit_has(const atr_inherit_t *s, uint64_t ptr);
void atr_inherit_release(atr_inherit_t *s); /* the child's writer is done with it */
void atr_inherit_parent_gone(uint32_t ppid, uint64_t ptick0);
void atr_inherit_gc(void);

/* recorder.c: the writer of an open image (pid, tick0), or NULL. */
atr_wproc_t *atr_rec_image(uint32_t pid, uint64_t tick0);

/* recorder.c: a whole zstd frame of stream `stream`, written after its stream tag
 * (format.h). 0 or -1. */
int atr_rec_sink_frame(uint32_t stream, uint32_t pid, const uint8_t *frame, size_t len);
void atr_rec_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* rclock.c: the image's clock (TSC or CLOCK_MONOTONIC, as its header says). */
void atr_rec_clock_init(void);
uint64_t atr_rec_now(const atr_shm_hdr_t *h);
uint64_t atr_rec_ticks_to_us(const atr_shm_hdr_t *h, uint64_t ticks); /* since h->tick0 */
uint64_t atr_rec_us_to_ticks(const atr_shm_hdr_t *h, uint64_t us);

#endif
