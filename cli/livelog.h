/* Live bytes per stack node (a key the caller chooses: the model's cost slot) at every timestamp, kept as a change log while the model
 * loads, so the leak-suspect grid (whose points depend on the trace's duration, known only
 * at the end) is sampled exactly without reading the trace twice. Bounded by a byte
 * budget: past it the log drops itself and callers fall back to a second pass.
 * Never reads traces; never changes a value the model reports.
 */
#ifndef ATR_LIVELOG_H
#define ATR_LIVELOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct atr_livelog {
  /* The log, one group per timestamp with changes: u:time - previous group's time,
   * u:entries, then per entry s:node - previous entry's node and s:live bytes - the
   * node's previous entry's (format.h's varints). Entries whose node ends the timestamp
   * where it began are left out. A clang++ trace of 21.8 M events logs in 15 MB, 1.8
   * bytes an entry, where arrays of (node, live) took 12 bytes an entry and 16 a group
   * (105 MB: over the budget, so the trace was read twice). */
  uint8_t *buf;
  size_t len, cap;
  uint64_t last_time; /* of the last group written */
  uint32_t last_node; /* of the last entry written */
  uint32_t *dirty;    /* nodes changed at the current timestamp ... */
  uint64_t *before;   /* ... and their live bytes before the first change */
  size_t ndirty, capd;
  uint64_t time;    /* the current timestamp */
  uint64_t mark;    /* a node is in dirty[] when its mark equals this */
  size_t max_bytes; /* budget for buf */
  int dropped;      /* over budget or out of memory: the log is empty and unusable */
} atr_livelog_t;

void atr_livelog_init(atr_livelog_t *l, size_t max_bytes);
void atr_livelog_free(atr_livelog_t *l);

/* Marks `node` changed at the current timestamp (its mark lives in the caller's per-node
 * array); pre: `live` is its live bytes before this change. Returns 0, or -1 when the
 * log dropped itself. */
int atr_livelog__push(atr_livelog_t *l, uint32_t node, uint64_t live);
static inline int atr_livelog_touch(atr_livelog_t *l, uint64_t *mark, uint32_t node,
                                    uint64_t live) {
  if (*mark == l->mark)
    return 0;
  *mark = l->mark;
  return atr_livelog__push(l, node, live);
}

/* Closes the current timestamp: logs every marked node's live bytes (live[node * stride]
 * in units of uint64_t), then moves on to `time`. Returns 0 or -1 (dropped). */
int atr_livelog_flush(atr_livelog_t *l, const uint64_t *live, size_t stride, uint64_t time);

/* Fills out[j * ncols + col] (zeroed here) with the summed live bytes of the nodes of each
 * call site that has a column (site_col[node_site[key_node[key]]] >= 0), after every event
 * with a timestamp <= t[j]; the log's entries are keys (< nkeys) of the nodes key_node[].
 * Returns 0 or -1 when out of memory. */
int atr_livelog_grid(const atr_livelog_t *l, const uint32_t *node_site, const uint32_t *key_node,
                     size_t nkeys, const int32_t *site_col, size_t nsites, size_t ncols,
                     const uint64_t *t, unsigned grid, uint64_t *out);

/* Reads the log forward in time: atr_livelog_advance applies the entries of every group
 * with a timestamp <= t not applied yet, out[key_out[key]] += change (keys >= nkeys and
 * outputs >= nout are skipped), so out holds live bytes after those events. */
typedef struct {
  const uint8_t *p;
  uint64_t time, key, count;
  int have; /* a group header read (time, count) and not applied yet */
} atr_livelog_pos_t;
void atr_livelog_pos_init(const atr_livelog_t *l, atr_livelog_pos_t *pos);
void atr_livelog_advance(const atr_livelog_t *l, atr_livelog_pos_t *pos, uint64_t t,
                         const uint32_t *key_out, size_t nkeys, uint64_t *out, size_t nout);

#endif
