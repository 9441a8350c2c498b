/* Files the CLI writes (JUnit, JSON reports, flame graphs, plot data, replay results),
 * created the way the recorder creates traces: never through a name someone else made.
 * Never follows a symlink at the target, never writes into an existing file in place,
 * never leaves a temporary or a half-written target behind.
 */
#ifndef ATR_OUTFILE_H
#define ATR_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
  FILE *f;    /* write here */
  char *path; /* the target */
  char *tmp;  /* the temporary beside it; NULL when writing a device or FIFO directly */
} atr_outfile_t;

/* Creates a temporary of our own in the target's directory (mkostemp: O_CREAT|O_EXCL|
 * O_NOFOLLOW|O_CLOEXEC, mode 0600) and opens it for writing, fully buffered. A target
 * that is (or names) a character device or FIFO, such as /dev/stdout or /dev/null, is
 * written directly, since it cannot be replaced. The temporary is removed at exit unless
 * committed, so any error path (atr_input_error included) leaves nothing behind.
 * 0, or -1 with err set to the reason (strerror's text). */
int atr_outfile_open(atr_outfile_t *o, const char *path, char *err, size_t errn);
/* Flushes, fsyncs and renames the temporary over the target (an existing file keeps its
 * permission bits). The target changes only here, and only when everything was written.
 * 0, or -1 with err set to the reason and the temporary removed. */
int atr_outfile_commit(atr_outfile_t *o, char *err, size_t errn);
/* Closes and removes the temporary; the target is untouched. */
void atr_outfile_abort(atr_outfile_t *o);

#endif
