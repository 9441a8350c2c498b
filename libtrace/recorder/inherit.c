/* What a fork child inherits: the blocks its parent had live at the fork, kept for the
 * child's writer so that a free of one is named inherited, not unknown (a PostgreSQL
 * backend or an nginx worker frees thousands of the parent's blocks).
 *
 * The parent announces each fork with an ATR_EV_FORK numbered in its image
 * (lifecycle.c atfork_prepare); when the parent's writer reaches it in the merged order
 * it hands its live map here (atr_inherit_mark), which keeps the pointers sorted. The
 * child's header names the same fork (ppid, parent_tick0, fork_mark): its writer takes
 * the set when it opens (atr_inherit_claim) and asks it on every free the child's own
 * map does not know. A set lives until its child's writer closes; one nobody claims (a
 * child that exec'd or died before its first allocation) goes once its parent image is
 * gone for GRACE_MS, or when the parent has made PER_PARENT newer ones. All sets
 * together stay under BUDGET bytes: a fork past it gets an empty set (its child's frees
 * of the parent's blocks read as unknown) and one line on stderr.
 * Never touches a traced process's region.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recorder.h"

#define BUDGET (512ull << 20)
#define PER_PARENT 64u
#define GRACE_MS 10000u

struct atr_inherit {
  uint32_t ppid;
  uint64_t ptick0, mark;
  uint64_t *ptrs; /* sorted */
  size_t n;
  int claimed;
  uint64_t orphan_since_ms; /* unclaimed and its parent image gone since then; 0 = not */
  struct atr_inherit *next;
};

static atr_inherit_t *sets;
static uint64_t bytes;

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void unlink_set(atr_inherit_t *s) {
  for (atr_inherit_t **p = &sets; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  ATR_ASSERT(bytes >= s->n * sizeof(uint64_t));
  bytes -= s->n * sizeof(uint64_t);
  free(s->ptrs);
  free(s);
}

int atr_inherit_room(uint64_t n) {
  return bytes + n * sizeof(uint64_t) <= BUDGET;
}

void atr_inherit_mark(uint32_t ppid, uint64_t ptick0, uint64_t mark, uint64_t *ptrs, size_t n,
                      uint64_t live) {
  atr_inherit_t *s = calloc(1, sizeof(*s));
  if (!s) {
    free(ptrs);
    return; /* the child finds none and goes on: its frees read as unknown */
  }
  s->ppid = ppid;
  s->ptick0 = ptick0;
  s->mark = mark;
  /* the oldest unclaimed set of this parent past PER_PARENT goes */
  unsigned mine = 0;
  atr_inherit_t *oldest = NULL;
  for (atr_inherit_t *o = sets; o; o = o->next)
    if (o->ppid == ppid && o->ptick0 == ptick0 && !o->claimed) {
      mine++;
      oldest = o; /* the list is newest first */
    }
  if (mine >= PER_PARENT && oldest)
    unlink_set(oldest);
  if (ptrs) {
    ATR_ASSERT(atr_inherit_room(n)); /* the writer asked before it collected them */
    qsort(ptrs, n, sizeof(uint64_t), cmp_u64);
    s->ptrs = ptrs;
    s->n = n;
    bytes += n * sizeof(uint64_t);
  } else if (live) {
    atr_rec_log("process %u: the %llu blocks live at a fork are not kept (over %llu MiB in "
                "all); the child's frees of them are counted as unknown",
                ppid, (unsigned long long)live, BUDGET >> 20);
  }
  s->next = sets;
  sets = s;
}

atr_inherit_t *atr_inherit_find(uint32_t ppid, uint64_t ptick0, uint64_t mark) {
  for (atr_inherit_t *s = sets; s; s = s->next)
    if (s->ppid == ppid && s->ptick0 == ptick0 && s->mark == mark && !s->claimed)
      return s;
  return NULL;
}

void atr_inherit_claim(atr_inherit_t *s) {
  ATR_ASSERT(!s->claimed); /* a set belongs to one child */
  s->claimed = 1;
}

int atr_inherit_has(const atr_inherit_t *s, uint64_t ptr) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->ptrs[mid] < ptr)
      lo = mid + 1;
    else
      hi = mid;
  }
  ATR_ASSERT(lo == s->n || s->ptrs[lo] >= ptr);
  ATR_ASSERT(lo == 0 || s->ptrs[lo - 1] < ptr);
  return lo < s->n && s->ptrs[lo] == ptr;
}

void atr_inherit_release(atr_inherit_t *s) {
  if (s)
    unlink_set(s);
}

void atr_inherit_parent_gone(uint32_t ppid, uint64_t ptick0) {
  uint64_t now = mono_ms();
  for (atr_inherit_t *s = sets; s; s = s->next)
    if (s->ppid == ppid && s->ptick0 == ptick0 && !s->claimed && !s->orphan_since_ms)
      s->orphan_since_ms = now ? now : 1;
}

void atr_inherit_gc(void) {
  uint64_t now = mono_ms();
  for (atr_inherit_t *s = sets, *next; s; s = next) {
    next = s->next;
    if (!s->claimed && s->orphan_since_ms && now - s->orphan_since_ms >= GRACE_MS)
      unlink_set(s);
  }
}
