/* `alloctrace dump TRACE`: every event as one JSON object per line, for scripts:
 * {"i":N,"t_us":T,"thread":K,"event":"alloc","block":ORDINAL,"size":S,"align":A,
 *  "kind":"malloc","stack":NODE} and likewise "free", "realloc", "alloc_failed",
 * "realloc_failed", "unknown_free", "inherited_free" (a fork child's free of a block its
 * parent had live at the fork); then one {"stack":NODE,"parent":P,"ip":"0x…"} line
 * per stack node. Blocks are named by allocation ordinal (the trace has no pointers).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "reader.h"
#include "util.h"

static void site_fields(const atr_trace_t *tr, uint32_t site, const char *prefix) {
  const atr_rsite_t *s = &tr->sites[site];
  printf(",\"%ssize\":%llu,\"%salign\":%llu,\"%skind\":\"%s\",\"%sstack\":%u", prefix,
         (unsigned long long)s->size, prefix, (unsigned long long)s->align, prefix,
         atr_kind_name(s->kind), prefix, s->node);
}

static void dump_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  (void)ctx;
  static const char *names[] = {"", "alloc", "free", "realloc", "alloc_failed", "realloc_failed",
                                "unknown_free", "inherited_free"};
  printf("{\"i\":%llu,\"t_us\":%llu,\"thread\":%u,\"event\":\"%s\"", (unsigned long long)ev->index,
         (unsigned long long)ev->time_us, ev->thread, names[ev->kind]);
  if (ev->old_ordinal) {
    printf(",\"old_block\":%llu", (unsigned long long)ev->old_ordinal);
    site_fields(tr, ev->old_site, "old_");
  }
  if (ev->kind == ATR_E_REALLOC)
    printf(",\"moved\":%s", ev->moved ? "true" : "false");
  if (ev->ordinal)
    printf(",\"block\":%llu", (unsigned long long)ev->ordinal);
  if (ev->site)
    site_fields(tr, ev->site, "");
  fputs("}\n", stdout);
}

int cmd_dump(int argc, char **argv) {
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: alloctrace dump TRACE\n");
    return 0;
  }
  if (argc >= 2 && argv[1][0] == '-' && argv[1][1])
    atr_usage_error("bad option '%s' (usage: alloctrace dump TRACE)", argv[1]);
  if (argc != 2)
    atr_usage_error("usage: alloctrace dump TRACE");
  atr_trace_t tr;
  atr_visitor_t v = {NULL, dump_event, NULL};
  if (atr_trace_read(&tr, argv[1], &v) != 0) {
    fflush(stdout);
    atr_input_error(tr.error);
  }
  for (size_t i = 1; i < tr.nnodes; i++)
    printf("{\"stack\":%zu,\"parent\":%u,\"ip\":\"0x%llx\"}\n", i, tr.nodes[i].parent,
           (unsigned long long)tr.nodes[i].ip);
  if (tr.truncated)
    atr_warn("%s: the last frame is truncated; it was skipped", argv[1]);
  atr_trace_free(&tr);
  return 0;
}
