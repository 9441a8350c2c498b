/* `alloctrace replay TRACE [--allocator NAME|PATH.so]... [--repeat N] [--order recorded|deps]
 * [--json] [--save-ops FILE]`: decodes the trace once into an op file, re-executes it
 * with alloctrace-replayer under each allocator (runs interleaved round-robin so machine
 * noise is spread evenly) and prints medians with min-max, fastest first. --json (on
 * stdout) and -o FILE (next to the table) are schema "alloctrace.replay/1", which
 * scripts/plot_replay.py draws.
 * Never replays inside this process; never leaves its temporary files behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "commands.h"
#include "escape.h"
#include "outfile.h"
#include "replay_build.h"
#include "replay_run.h"
#include "util.h"

#define USAGE                                                                                      \
  "usage: alloctrace replay TRACE [--allocator glibc|jemalloc|mimalloc|tcmalloc|PATH.so]... "      \
  "[--repeat N] [--order recorded|deps] [--json] [-o JSON_FILE] [--save-ops FILE]"
#define MAX_ALLOCATORS 32

/* ---- temporary files: removed at exit and on SIGINT/SIGTERM ---- */

static char tmp_dir[4096], tmp_ops[4200], tmp_err[4200];

static void cleanup(void) {
  if (tmp_ops[0])
    unlink(tmp_ops);
  if (tmp_err[0])
    unlink(tmp_err);
  if (tmp_dir[0])
    rmdir(tmp_dir);
}

static void on_signal(int sig) {
  cleanup();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void make_tmp(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof(tmp_dir), "%s/alloctrace-replay.XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmp_dir)) {
    int e = errno;
    tmp_dir[0] = 0;
    atr_usage_error("cannot create a temporary directory for the replay: %s", strerror(e));
  }
  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  signal(SIGBUS, on_signal); /* an I/O error under the op file's mapping */
  snprintf(tmp_ops, sizeof(tmp_ops), "%s/ops.bin", tmp_dir);
  snprintf(tmp_err, sizeof(tmp_err), "%s/replayer.err", tmp_dir);
}

/* ---- statistics ---- */

typedef struct {
  double med, min, max;
} stat_t;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static stat_t stat_of(const double *v, size_t n) {
  double s[1024];
  memcpy(s, v, n * sizeof(*v));
  qsort(s, n, sizeof(*s), cmp_double);
  stat_t r = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
  return r;
}

typedef struct {
  atr_allocator_t a;
  double wall[1024], cpu[1024], peak[1024], heap_peak[1024], end[1024], base[1024];
  double faults[1024], frag[1024];
  uint64_t failed, waits;
  char substituted[128];
  stat_t s_wall, s_cpu, s_peak, s_heap_peak, s_end, s_base, s_faults, s_frag;
} column_t;

static int by_wall(const void *a, const void *b) {
  const column_t *x = *(column_t *const *)a, *y = *(column_t *const *)b;
  return cmp_double(&x->s_wall.med, &y->s_wall.med);
}

/* Which ops a missing function would have served (the replayer uses a stand-in). */
static uint64_t uses_of(const atr_replay_info_t *info, const char *fn) {
  static const struct {
    const char *fn;
    int op[2];
  } map[] = {{"reallocarray", {ATR_ROP_REALLOCARRAY_NEW, ATR_ROP_REALLOCARRAY}},
             {"aligned_alloc", {ATR_ROP_ALIGNED_ALLOC, 0}},
             {"memalign", {ATR_ROP_MEMALIGN, 0}},
             {"valloc", {ATR_ROP_VALLOC, 0}},
             {"pvalloc", {ATR_ROP_PVALLOC, 0}}};
  for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
    if (strcmp(map[i].fn, fn) == 0)
      return info->opcodes[map[i].op[0]] + (map[i].op[1] ? info->opcodes[map[i].op[1]] : 0);
  return 0;
}

/* The comma list of the replayer's stand-ins, kept to those this trace calls. */
static json_t *used_substitutes(const atr_replay_info_t *info, const char *list, char *text,
                                size_t n) {
  json_t *a = json_array();
  char copy[128], *save = NULL;
  snprintf(copy, sizeof(copy), "%s", list);
  text[0] = 0;
  for (char *fn = strtok_r(copy, ",", &save); fn; fn = strtok_r(NULL, ",", &save)) {
    if (!uses_of(info, fn))
      continue;
    json_array_append_new(a, atr_json_text(fn));
    size_t len = strlen(text);
    snprintf(text + len, n - len, "%s%s", len ? ", " : "", fn);
  }
  return a;
}

/* ---- output ---- */

static const char *time_unit(double v, double *div) {
  if (v < 1e-3) {
    *div = 1e-6;
    return "us";
  }
  if (v < 1) {
    *div = 1e-3;
    return "ms";
  }
  *div = 1;
  return "s";
}

static json_t *stat_json(stat_t s) {
  json_t *o = json_object();
  json_object_set_new(o, "median", json_real(s.med));
  json_object_set_new(o, "min", json_real(s.min));
  json_object_set_new(o, "max", json_real(s.max));
  return o;
}

/* The memory the replay may hold: the recorded order follows the trace step for step,
 * so its heap peak is the trace's; the deps order orders only the ops of one block slot,
 * so its threads can hold every slot's costliest block at once (replay_build.h), which
 * can be many times the recorded peak (a 256 MiB trace reached 2 GiB). One thread runs
 * in program order either way. */
static uint64_t memory_bound(const atr_replay_info_t *info, const char *order) {
  return strcmp(order, "deps") == 0 && info->threads > 1 ? info->deps_bound : info->peak_bytes;
}

static json_t *to_json(const char *trace, const atr_replay_info_t *info, const char *order,
                       int repeat, column_t **cols, size_t ncols) {
  json_t *root = json_object();
  json_object_set_new(root, "schema", json_string("alloctrace.replay/1"));
  json_object_set_new(root, "program", atr_json_text(info->program));
  json_object_set_new(root, "trace", atr_json_text(trace));
  json_object_set_new(root, "repeat", json_integer(repeat));
  json_object_set_new(root, "order", json_string(order));
  json_object_set_new(root, "threads", atr_json_u64(info->threads));
  json_object_set_new(root, "ops", atr_json_u64(info->ops));
  json_object_set_new(root, "allocations", atr_json_u64(info->allocations));
  json_object_set_new(root, "peak_live_bytes", atr_json_u64(info->peak_bytes));
  json_object_set_new(root, "deps_bound_bytes", atr_json_u64(info->deps_bound));
  json_object_set_new(root, "memory_bound_bytes", atr_json_u64(memory_bound(info, order)));
  json_object_set_new(root, "handoffs", atr_json_u64(info->handoffs));
  json_object_set_new(root, "truncated", json_boolean(info->truncated));
  json_object_set_new(root, "complete", json_boolean(info->complete));
  json_t *skipped = json_object();
  json_object_set_new(skipped, "failed", atr_json_u64(info->failed));
  json_object_set_new(skipped, "unknown_frees", atr_json_u64(info->unknown_frees));
  json_object_set_new(root, "skipped", skipped);
  json_t *results = json_array();
  for (size_t i = 0; i < ncols; i++) {
    const column_t *c = cols[i];
    json_t *o = json_object();
    char text[128];
    json_object_set_new(o, "allocator", json_string(c->a.name));
    json_object_set_new(o, "library", c->a.lib[0] ? atr_json_text(c->a.lib) : json_null());
    json_object_set_new(o, "wall_s", stat_json(c->s_wall));
    json_object_set_new(o, "cpu_s", stat_json(c->s_cpu));
    json_object_set_new(o, "peak_rss", atr_json_u64((uint64_t)c->s_peak.med));
    json_object_set_new(o, "heap_peak_rss", atr_json_u64((uint64_t)c->s_heap_peak.med));
    json_object_set_new(o, "end_rss", atr_json_u64((uint64_t)c->s_end.med));
    json_object_set_new(o, "baseline_rss", atr_json_u64((uint64_t)c->s_base.med));
    json_object_set_new(o, "page_faults", atr_json_u64((uint64_t)c->s_faults.med));
    json_object_set_new(o, "fragmentation",
                        info->peak_bytes ? json_real(c->s_frag.med) : json_null());
    json_object_set_new(o, "failed", atr_json_u64(c->failed));
    json_object_set_new(o, "waits", atr_json_u64(c->waits));
    json_object_set_new(o, "substituted",
                        used_substitutes(info, c->substituted, text, sizeof(text)));
    json_array_append_new(results, o);
  }
  json_object_set_new(root, "results", results);
  return root;
}

static void print_table(const atr_replay_info_t *info, const char *order, int repeat,
                        column_t **cols, size_t ncols) {
  char a[64], b[64], c[64];
  printf("replay of %s: %s calls (%s allocations) on %llu thread%s in the %s order; "
         "peak heap %s\n",
         info->program, atr_count(a, sizeof(a), info->ops),
         atr_count(b, sizeof(b), info->allocations), (unsigned long long)info->threads,
         info->threads == 1 ? "" : "s", order, atr_bytes(c, sizeof(c), (double)info->peak_bytes));
  if (info->threads > 1 && strcmp(order, "deps") == 0)
    printf("the threads run concurrently: they can hold up to %s at once (each block slot's "
           "largest block)\n",
           atr_bytes(a, sizeof(a), (double)info->deps_bound));
  if (info->threads > 1 && strcmp(order, "recorded") == 0)
    printf("the threads take turns as recorded: %s hand-overs per run (--order deps lets them "
           "run concurrently)\n",
           atr_count(a, sizeof(a), info->handoffs));
  if (repeat > 1)
    printf("%d runs per allocator, interleaved round-robin; median (min-max); fastest first\n\n",
           repeat);
  else
    printf("1 run per allocator; fastest first\n\n");
  printf("%-12s %-26s %10s %10s %10s %10s %8s %6s\n", "allocator", "wall time", "CPU time",
         "peak RSS", "end RSS", "base RSS", "faults", "frag");
  for (size_t i = 0; i < ncols; i++) {
    const column_t *col = cols[i];
    double div;
    const char *unit = time_unit(col->s_wall.med, &div);
    char wall[64], cpu[32], frag[32], e[64], f[64];
    snprintf(wall, sizeof(wall), "%.2f %s (%.2f-%.2f)", col->s_wall.med / div, unit,
             col->s_wall.min / div, col->s_wall.max / div);
    unit = time_unit(col->s_cpu.med, &div);
    snprintf(cpu, sizeof(cpu), "%.2f %s", col->s_cpu.med / div, unit);
    if (info->peak_bytes)
      snprintf(frag, sizeof(frag), "%.2fx", col->s_frag.med);
    else
      snprintf(frag, sizeof(frag), "-");
    printf("%-12s %-26s %10s %10s %10s %10s %8s %6s\n", col->a.name, wall, cpu,
           atr_bytes(a, sizeof(a), col->s_peak.med), atr_bytes(b, sizeof(b), col->s_end.med),
           atr_bytes(e, sizeof(e), col->s_base.med),
           atr_count(f, sizeof(f), (uint64_t)col->s_faults.med), frag);
  }
  printf("\nbase RSS: the replayer before the first call (libraries, op buffers, block table); "
         "frag = (RSS at the heap peak - base RSS) / peak heap\n");
}

/* ---- the command ---- */

static void add_allocator(column_t *cols, size_t *n, const char *spec) {
  char err[1024];
  if (*n >= MAX_ALLOCATORS)
    atr_usage_error("at most %d allocators per replay", MAX_ALLOCATORS);
  if (atr_allocator_find(spec, &cols[*n].a, err, sizeof(err)) != 0)
    atr_usage_error("%s", err);
  for (size_t i = 0; i < *n; i++)
    if (strcmp(cols[i].a.name, cols[*n].a.name) == 0 && strcmp(cols[i].a.lib, cols[*n].a.lib) == 0)
      return;
  (*n)++;
}

/* Every allocated page gets written: a replay whose memory bound does not fit in the free
 * memory (or under the address-space limit, ulimit -v, with room for the replayer's own
 * libraries and tables) would push the machine into swap or the OOM killer, or fail its
 * allocations. */
static void check_memory(const char *trace, const atr_replay_info_t *info, const char *order) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  unsigned long long kib = 0;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  double avail = (double)kib * 1024.0 * 0.9;
  const char *what = "memory is available";
  struct rlimit rl;
  double own = 64.0 * 1048576 + (double)info->slots * 20; /* libraries, buffers, slot table */
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (!kib || (double)rl.rlim_cur - own < avail)) {
    avail = (double)rl.rlim_cur > own ? (double)rl.rlim_cur - own : 0;
    what = "address space is left under its limit (ulimit -v) for the replay's blocks";
  } else if (!kib) {
    return;
  }
  double need = (double)memory_bound(info, order);
  if (need > avail) {
    char a[64], b[64], c[64], d[64];
    if (strcmp(order, "deps") == 0 && info->threads > 1)
      atr_usage_error("%s: the deps order can hold %s at once (each of %s block slots' largest "
                      "block; the recorded peak is %s), but only %s of %s (--order recorded "
                      "needs only the recorded peak)",
                      trace, atr_bytes(a, sizeof(a), need), atr_count(c, sizeof(c), info->slots),
                      atr_bytes(b, sizeof(b), (double)info->peak_bytes),
                      atr_bytes(d, sizeof(d), avail), what);
    atr_usage_error("%s: the replay writes every page of a %s heap peak, but only %s of %s", trace,
                    atr_bytes(a, sizeof(a), need), atr_bytes(b, sizeof(b), avail), what);
  }
}

/* The tasks this process may still start: ulimit -u (which root's capabilities bypass)
 * less this process, and what the pids controller of its cgroup (v2, else v1) has left;
 * UINT64_MAX when unlimited. */
static uint64_t task_room(const char **what) {
  uint64_t room = UINT64_MAX;
  struct rlimit rl;
  if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    room = rl.rlim_cur ? rl.rlim_cur - 1 : 0;
    *what = "ulimit -u (processes and threads per user)";
  }
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[4096], path[4300] = "";
  while (f && fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = 0;
    if (strncmp(line, "0::", 3) == 0 && !path[0])
      snprintf(path, sizeof(path), "/sys/fs/cgroup%s", line + 3);
    char *p = strstr(line, ":pids:");
    if (p)
      snprintf(path, sizeof(path), "/sys/fs/cgroup/pids%s", p + 6);
  }
  if (f)
    fclose(f);
  char file[4400];
  unsigned long long max = 0, cur = 0;
  snprintf(file, sizeof(file), "%s/pids.max", path);
  FILE *m = path[0] ? fopen(file, "r") : NULL;
  int have_max = m && fscanf(m, "%llu", &max) == 1;
  if (m)
    fclose(m);
  snprintf(file, sizeof(file), "%s/pids.current", path);
  FILE *c = have_max ? fopen(file, "r") : NULL;
  if (c && fscanf(c, "%llu", &cur) == 1 && max - (cur < max ? cur : max) < room) {
    room = max - (cur < max ? cur : max);
    *what = "the pids.max of this cgroup";
  }
  if (c)
    fclose(c);
  return room;
}

static uint64_t proc_number(const char *file) {
  FILE *f = fopen(file, "r");
  unsigned long long v = 0;
  int ok = f && fscanf(f, "%llu", &v) == 1;
  if (f)
    fclose(f);
  return ok ? v : UINT64_MAX;
}

/* Memory mappings a replay thread adds: its stack, the stack's guard page, its op buffer. */
#define MAPS_PER_THREAD 3u

/* The replayer starts one thread per recorded thread before the first call: a trace
 * with more threads than may be started would fail with a bare EAGAIN. */
static void check_threads(const char *trace, const atr_replay_info_t *info) {
  const char *what = NULL;
  uint64_t room = task_room(&what);
  uint64_t v = proc_number("/proc/sys/kernel/threads-max");
  if (v < room) {
    room = v;
    what = "kernel.threads-max";
  }
  v = proc_number("/proc/sys/kernel/pid_max");
  if (v < room) {
    room = v;
    what = "kernel.pid_max";
  }
  v = proc_number("/proc/sys/vm/max_map_count");
  if (v != UINT64_MAX && info->threads * MAPS_PER_THREAD + 1024 > v) {
    char a[64], b[64], c[64];
    atr_usage_error("%s: the replay runs %s threads at once, about %s memory mappings, but "
                    "vm.max_map_count is %s",
                    trace, atr_count(a, sizeof(a), info->threads),
                    atr_count(b, sizeof(b), info->threads * MAPS_PER_THREAD + 1024),
                    atr_count(c, sizeof(c), v));
  }
  if (room != UINT64_MAX && info->threads > room) {
    char a[64], b[64];
    atr_usage_error("%s: the replay runs %s threads at once, but %s leaves room for %s more "
                    "(next to this alloctrace)",
                    trace, atr_count(a, sizeof(a), info->threads), what,
                    atr_count(b, sizeof(b), room));
  }
}

static void notes(const char *trace, const atr_replay_info_t *info) {
  char a[64], b[64];
  if (info->truncated)
    atr_warn("%s: the last frame is truncated (the program was killed?): replaying the %s "
             "complete events before it",
             trace, atr_count(a, sizeof(a), info->events));
  else if (!info->complete)
    atr_warn("%s has no end record (the program was killed?): replaying the %s recorded events",
             trace, atr_count(a, sizeof(a), info->events));
  if (info->failed || info->unknown_frees)
    fprintf(stderr,
            "%s: not replayed: %s failed allocation%s, %s free%s of blocks allocated "
            "before tracing started\n",
            atr_cmd, atr_count(a, sizeof(a), info->failed), info->failed == 1 ? "" : "s",
            atr_count(b, sizeof(b), info->unknown_frees), info->unknown_frees == 1 ? "" : "s");
  if (info->mapped)
    fprintf(stderr,
            "%s: %s allocations through operator new, Rust or a custom allocator are "
            "replayed as malloc/calloc/realloc (posix_memalign when over-aligned)\n",
            atr_cmd, atr_count(a, sizeof(a), info->mapped));
}

int cmd_replay(int argc, char **argv) {
  static column_t cols[MAX_ALLOCATORS];
  size_t ncols = 0;
  int repeat = 3, json = 0;
  const char *order = "recorded", *save = NULL, *json_file = NULL;
  static const struct option opts[] = {{"allocator", required_argument, 0, 'a'},
                                       {"repeat", required_argument, 0, 'r'},
                                       {"order", required_argument, 0, 'R'},
                                       {"json", no_argument, 0, 'j'},
                                       {"save-ops", required_argument, 0, 's'},
                                       {"output", required_argument, 0, 'O'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "a:r:jo:h", opts, NULL)) != -1) {
    switch (c) {
    case 'a': {
      char copy[4096], *save_ptr = NULL;
      snprintf(copy, sizeof(copy), "%s", optarg);
      for (char *s = strtok_r(copy, ",", &save_ptr); s; s = strtok_r(NULL, ",", &save_ptr))
        add_allocator(cols, &ncols, s);
      break;
    }
    case 'r': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1000)
        atr_usage_error("--repeat needs a number from 1 to 1000, not '%s'", optarg);
      repeat = (int)v;
      break;
    }
    case 'R':
      if (strcmp(optarg, "recorded") != 0 && strcmp(optarg, "deps") != 0)
        atr_usage_error("--order must be recorded or deps, not '%s'", optarg);
      order = optarg;
      break;
    case 'j':
      json = 1;
      break;
    case 's':
      save = optarg;
      break;
    case 'o':
    case 'O':
      json_file = optarg;
      break;
    case 'h':
      printf("%s\n", USAGE);
      return 0;
    default:
      atr_bad_option(argv, USAGE);
    }
  }
  if (optind + 1 != argc)
    atr_usage_error("replay needs exactly one trace file (%s)", USAGE);
  const char *trace = argv[optind];
  /* a temporary of ours beside the target, renamed over it at the end: an existing file
   * stays as it was until the replays are done, and is kept after any error */
  atr_outfile_t json_of;
  FILE *json_out = NULL;
  char why[512];
  if (json_file && !save) {
    if (atr_outfile_open(&json_of, json_file, why, sizeof(why)) != 0)
      atr_usage_error("%s: cannot write: %s", json_file, why);
    json_out = json_of.f;
  }

  char replayer[4096];
  if (!save && atr_replayer_find(replayer, sizeof(replayer)) != 0)
    atr_usage_error("cannot find alloctrace-replayer next to this alloctrace (set "
                    "ALLOCTRACE_REPLAYER)");
  atr_replay_info_t info;
  char err[1024];
  const char *ops = save;
  atr_outfile_t saved = {0};
  if (!save) {
    make_tmp();
    ops = tmp_ops;
  } else { /* --save-ops FILE: a temporary beside it, renamed over it once complete */
    if (atr_outfile_open(&saved, save, err, sizeof(err)) != 0)
      atr_input_error(err);
    if (!saved.tmp)
      atr_usage_error("%s: --save-ops needs a regular file (the op file is mapped)", save);
    ops = saved.tmp;
  }
  if (atr_replay_build(trace, ops, &info, err, sizeof(err)) != 0)
    atr_input_error(err);
  notes(trace, &info);
  if (info.ops == 0)
    atr_usage_error("%s: no allocations to replay", trace);
  check_memory(trace, &info, order);
  if (!save)
    check_threads(trace, &info);
  if (save) {
    char a[64];
    if (atr_outfile_commit(&saved, err, sizeof(err)) != 0)
      atr_input_error(err);
    fprintf(stderr,
            "%s: wrote %s ops on %llu threads to %s (replay it with alloctrace-replayer "
            "[--order recorded|deps] %s)\n",
            atr_cmd, atr_count(a, sizeof(a), info.ops), (unsigned long long)info.threads, save,
            save);
    return 0;
  }

  /* after the trace was read: a bad file gets its one-line error and nothing else */
  if (ncols == 0) {
    for (int i = 0; atr_allocator_names[i]; i++) {
      if (atr_allocator_find(atr_allocator_names[i], &cols[ncols].a, err, sizeof(err)) == 0)
        ncols++;
      else
        fprintf(stderr, "%s: skipped: %s\n", atr_cmd, err);
    }
  }

  int progress = isatty(2);
  for (int r = 0; r < repeat; r++) {
    for (size_t k = 0; k < ncols; k++) {
      column_t *col = &cols[(k + (size_t)r) % ncols]; /* rotate who goes first */
      atr_replay_result_t res;
      if (progress)
        fprintf(stderr, "\r%s: run %d/%d under %-16s", atr_cmd, r + 1, repeat, col->a.name);
      if (atr_replay_run(replayer, ops, order, &col->a, tmp_err, &res, err, sizeof(err)) != 0) {
        if (progress)
          fputc('\n', stderr);
        atr_usage_error("%s: %s", trace, err);
      }
      col->wall[r] = res.wall_s;
      col->cpu[r] = res.cpu_s;
      col->peak[r] = (double)res.peak_rss;
      col->heap_peak[r] = (double)res.heap_peak_rss;
      col->end[r] = (double)res.end_rss;
      col->base[r] = (double)res.baseline_rss;
      col->faults[r] = (double)res.page_faults;
      col->frag[r] = info.peak_bytes ? ((double)res.heap_peak_rss - (double)res.baseline_rss) /
                                           (double)info.peak_bytes
                                     : NAN;
      col->failed += res.failed;
      col->waits += res.waits;
      snprintf(col->substituted, sizeof(col->substituted), "%s", res.substituted);
    }
  }
  if (progress)
    fprintf(stderr, "\r%-60s\r", "");

  column_t *sorted[MAX_ALLOCATORS];
  for (size_t i = 0; i < ncols; i++) {
    column_t *col = sorted[i] = &cols[i];
    col->s_wall = stat_of(col->wall, (size_t)repeat);
    col->s_cpu = stat_of(col->cpu, (size_t)repeat);
    col->s_peak = stat_of(col->peak, (size_t)repeat);
    col->s_heap_peak = stat_of(col->heap_peak, (size_t)repeat);
    col->s_end = stat_of(col->end, (size_t)repeat);
    col->s_base = stat_of(col->base, (size_t)repeat);
    col->s_faults = stat_of(col->faults, (size_t)repeat);
    col->s_frag = stat_of(col->frag, (size_t)repeat);
    char text[128], a[64];
    json_decref(used_substitutes(&info, col->substituted, text, sizeof(text)));
    if (text[0])
      fprintf(stderr, "%s: %s has no %s: replayed with realloc/posix_memalign instead\n", atr_cmd,
              col->a.name, text);
    if (col->failed)
      atr_warn("%s allocations failed during the replays under %s (out of memory?)",
               atr_count(a, sizeof(a), col->failed), col->a.name);
  }
  qsort(sorted, ncols, sizeof(*sorted), by_wall);
  if (json_out) {
    json_t *doc = to_json(trace, &info, order, repeat, sorted, ncols);
    int rc = json_dumpf(doc, json_out,
                        JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (rc != 0 || fputc('\n', json_out) == EOF) {
      atr_outfile_abort(&json_of);
      atr_usage_error("%s: cannot write: %s", json_file, strerror(errno ? errno : EIO));
    }
    if (atr_outfile_commit(&json_of, why, sizeof(why)) != 0)
      atr_usage_error("%s: cannot write: %s", json_file, why);
  }
  if (json)
    atr_json_print(to_json(trace, &info, order, repeat, sorted, ncols));
  else {
    atr_text_stdout(); /* the program's name comes from the trace: no control bytes */
    print_table(&info, order, repeat, sorted, ncols);
  }
  return 0;
}
