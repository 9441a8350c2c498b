/* libFuzzer target for the trace reader and every command that reads a trace: the input
 * becomes a "trace file" (a memfd, reopened by path exactly as the CLI opens files), read
 * with atr_trace_read, loaded with atr_model_load and turned into replay ops with
 * atr_replay_build (replay's builder) in this process; then, when ATR_FUZZ_CLI names the
 * alloctrace binary (replay_corpus sets it; libFuzzer runs may), written to a file that
 * summary, dump, timeline, growth, check, diff and flamegraph in every format read, each
 * in a child process with a time limit (ATR_FUZZ_SECONDS, 30 s) and a memory limit
 * (ATR_FUZZ_MB, 1024 MiB peak RSS; also its address space without ASan): a hang, a
 * crash, a blown limit or an exit 2 without exactly one line naming the file aborts.
 * Must never crash, leak, hang or trip a sanitizer; the reader's promises to every
 * visitor are checked and abort when broken.
 * Two modes, by the first byte: 0x28 (zstd's first magic byte) -> the input is the file;
 * any other byte m -> the rest is a record stream that is compressed here into 1 + (m & 3)
 * frames, with (m >> 2 & 7) + 1 bytes cut off the end when m & 0x80. The second mode lets
 * mutations reach the record parser instead of dying at zstd's checksum.
 * Built with clang -fsanitize=fuzzer as the optional target fuzz_reader; replay_corpus.c
 * runs the same function over tests/fuzz/corpus/ in ordinary test runs.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "reader.h"
#include "replay_build.h"

#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMISE(cond)                                                                    \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz_reader: broken reader promise: %s (%s:%d)\n", #cond,       \
              __FILE__, __LINE__);                                                       \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

static void check_site(const atr_trace_t *tr, uint32_t site) {
  PROMISE(site > 0 && site < tr->nsites);
  const atr_rsite_t *s = &tr->sites[site];
  PROMISE(s->node < tr->nnodes);
  PROMISE(s->kind > 0 && s->kind < ATR_KIND_COUNT);
  uint32_t stack[128];
  size_t n = atr_trace_stack(tr, s->node, stack, 128);
  for (size_t i = 0; i < n; i++)
    PROMISE(stack[i] < tr->nnodes && (i == 0 || tr->nodes[stack[i - 1]].parent == stack[i]));
}

/* What every analysis relies on: sites and stacks in range, live ordinals consistent. */
static void on_event(void *ctx, const atr_trace_t *tr, const atr_ev_t *ev) {
  uint64_t *events = ctx;
  PROMISE(ev->index == (*events)++);
  switch (ev->kind) {
  case ATR_E_ALLOC:
    check_site(tr, ev->site);
    PROMISE(ev->ordinal == tr->last_ordinal && atr_trace_live_site(tr, ev->ordinal) == ev->site);
    break;
  case ATR_E_FREE:
    check_site(tr, ev->old_site);
    PROMISE(ev->old_ordinal && atr_trace_live_site(tr, ev->old_ordinal) == 0);
    break;
  case ATR_E_REALLOC:
    check_site(tr, ev->old_site);
    PROMISE(ev->old_ordinal && atr_trace_live_site(tr, ev->old_ordinal) == 0);
    if (ev->site) {
      check_site(tr, ev->site);
      PROMISE(atr_trace_live_site(tr, ev->ordinal) == ev->site);
    }
    break;
  case ATR_E_AFAIL:
    check_site(tr, ev->site);
    break;
  case ATR_E_RFAIL:
    check_site(tr, ev->site);
    check_site(tr, ev->old_site);
    PROMISE(atr_trace_live_site(tr, ev->old_ordinal) == ev->old_site);
    break;
  case ATR_E_UFREE:
  case ATR_E_IFREE:
    break;
  default:
    PROMISE(!"unknown event kind");
  }
}

static void on_rss(void *ctx, const atr_trace_t *tr, uint64_t time_us, uint64_t bytes) {
  (void)ctx;
  PROMISE(time_us == tr->time_us && bytes <= tr->peak_rss);
}

static void check_trace(const atr_trace_t *tr) {
  PROMISE(tr->nnodes >= 1 && tr->nsites >= 1);
  for (size_t i = 1; i < tr->nnodes; i++) {
    PROMISE(tr->nodes[i].parent < i);
    PROMISE(tr->nodes[i].module >= -1 && tr->nodes[i].module < (int32_t)tr->nmodules);
  }
  for (size_t i = 0; i < tr->nmodules; i++)
    PROMISE(tr->modules[i].lo <= tr->modules[i].hi && tr->modules[i].build_id_len <= 64);
  for (uint64_t i = 0; i < tr->argc; i++)
    PROMISE(tr->argv[i] != NULL);
}

/* Raw mode: the records in data[1..] as zstd frames (see the top); *out is malloc'd. */
static size_t compress_records(const uint8_t *data, size_t size, uint8_t **out) {
  unsigned mode = data[0], frames = 1 + (mode & 3);
  const uint8_t *rec = data + 1;
  size_t n = size - 1, cap = 0, len = 0;
  for (unsigned f = 0; f < frames; f++)
    cap += ZSTD_compressBound(n / frames + n % frames);
  *out = malloc(cap);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  PROMISE(*out && cctx);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  for (unsigned f = 0; f < frames; f++) {
    size_t from = n / frames * f, to = f + 1 == frames ? n : n / frames * (f + 1);
    size_t r = ZSTD_compress2(cctx, *out + len, cap - len, rec + from, to - from);
    PROMISE(!ZSTD_isError(r));
    len += r;
  }
  ZSTD_freeCCtx(cctx);
  size_t cut = mode & 0x80 ? 1 + (mode >> 2 & 7) : 0;
  return cut < len ? len - cut : 0;
}

/* Every command that reads a trace ("@" is the trace, "%" a file in the scratch
 * directory); replay is its builder, run in process above. */
static const char *const commands[][8] = {
    {"summary", "--json", "@"},
    {"summary", "@"},
    {"dump", "@"},
    {"timeline", "--json", "@"},
    {"growth", "--json", "@"},
    {"check", "@", "--max-peak", "1GiB"},
    {"diff", "@", "@"},
    {"flamegraph", "-o", "%out.html", "@"},
    {"flamegraph", "--format", "svg", "-o", "%out.svg", "@"},
    {"flamegraph", "--format", "folded", "-o", "%out.folded", "@"},
    {"flamegraph", "--format", "pprof", "-o", "%out.pb.gz", "@"},
    {"flamegraph", "--format", "speedscope", "-o", "%out.json", "@"},
    {"flamegraph", "--diff", "-o", "%diff.html", "@", "@"},
};

static long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* Runs one command on the trace at path in a child; aborts on a broken promise. */
static void run_command(const char *cli, const char *dir, const char *path, const char *const *c) {
  char *argv[16], bufs[8][4200], errpath[4200];
  int n = 0;
  argv[n++] = (char *)cli;
  for (int i = 0; i < 8 && c[i]; i++) {
    if (c[i][0] == '@')
      argv[n++] = (char *)path;
    else if (c[i][0] == '%')
      snprintf(argv[n++] = bufs[i], sizeof(bufs[i]), "%s/%s", dir, c[i] + 1);
    else
      argv[n++] = (char *)c[i];
  }
  argv[n] = NULL;
  snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
  long secs = env_long("ATR_FUZZ_SECONDS", 30), mb = env_long("ATR_FUZZ_MB", 1024);
  fflush(NULL);
  pid_t pid = fork();
  PROMISE(pid >= 0);
  if (pid == 0) {
    int nul = open("/dev/null", O_RDWR), err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (nul < 0 || err < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(err, 2) < 0)
      _exit(126);
#ifndef __SANITIZE_ADDRESS__ /* ASan reserves terabytes of address space: RSS is checked */
    struct rlimit rl = {(rlim_t)mb << 20, (rlim_t)mb << 20};
    setrlimit(RLIMIT_AS, &rl);
#endif
    execv(cli, argv);
    _exit(127);
  }
  int st = 0;
  struct rusage ru;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    pid_t w = wait4(pid, &st, WNOHANG, &ru);
    PROMISE(w >= 0);
    if (w == pid)
      break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec >= secs) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      fprintf(stderr, "fuzz_reader: alloctrace %s took more than %ld s\n", c[0], secs);
      abort();
    }
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  if (WIFSIGNALED(st) || ru.ru_maxrss > mb * 1024) {
    fprintf(stderr, "fuzz_reader: alloctrace %s %s (peak RSS %ld KiB)\n", c[0],
            WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exceeded the memory limit", ru.ru_maxrss);
    abort();
  }
  int code = WEXITSTATUS(st);
  if (!(code == 0 || code == 2 || (code == 1 && strcmp(c[0], "check") == 0)))
    fprintf(stderr, "fuzz_reader: alloctrace %s %s exited %d\n", c[0], c[1] ? c[1] : "", code);
  PROMISE(code == 0 || code == 2 || (code == 1 && strcmp(c[0], "check") == 0));
  if (code == 2) { /* one line naming the file */
    char msg[2048] = {0};
    FILE *f = fopen(errpath, "r");
    size_t got = f ? fread(msg, 1, sizeof(msg) - 1, f) : 0;
    if (f)
      fclose(f);
    char *nl = strchr(msg, '\n');
    if (!(got > 0 && nl && nl[1] == 0 && strstr(msg, path))) {
      fprintf(stderr, "fuzz_reader: alloctrace %s exit 2 without one line naming the file: %s\n",
              c[0], msg);
      abort();
    }
  }
}

/* The commands and replay's builder on the input (written to a scratch file). */
static void run_commands(const uint8_t *file, size_t size, int reader_rc) {
  static char dir[64];
  if (!dir[0]) {
    snprintf(dir, sizeof(dir), "%s/atr-fuzz.XXXXXX", "/tmp");
    PROMISE(mkdtemp(dir) != NULL);
  }
  char path[128], ops[128], err[600];
  snprintf(path, sizeof(path), "%s/trace.zst", dir);
  snprintf(ops, sizeof(ops), "%s/trace.ops", dir);
  FILE *f = fopen(path, "wb");
  PROMISE(f && (size == 0 || fwrite(file, 1, size, f) == size) && fclose(f) == 0);
  atr_replay_info_t info;
  int rrc = atr_replay_build(path, ops, &info, err, sizeof(err));
  PROMISE(rrc == 0 || (rrc == -1 && err[0] && !strchr(err, '\n')));
  PROMISE(rrc != 0 || reader_rc == 0); /* the builder reads no more than the reader */
  unlink(ops);
  const char *cli = getenv("ATR_FUZZ_CLI");
  for (size_t i = 0; cli && *cli && i < sizeof(commands) / sizeof(commands[0]); i++)
    run_command(cli, dir, path, commands[i]);
  unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
    if (fd < 0) {
      perror("fuzz_reader: memfd_create");
      abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  }
  uint8_t *raw = NULL;
  if (size && data[0] != 0x28)
    size = compress_records(data, size, &raw);
  const uint8_t *file = raw ? raw : data;
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, file, size, 0) != (ssize_t)size)) {
    perror("fuzz_reader: writing the input");
    abort();
  }

  uint64_t events = 0;
  atr_visitor_t v = {&events, on_event, on_rss};
  atr_trace_t tr;
  int rc = atr_trace_read(&tr, path, &v);
  PROMISE(rc == 0 || rc == -1);
  if (rc == 0) {
    check_trace(&tr);
    PROMISE(events == tr.events && tr.frames >= 1);
  } else {
    /* one line naming the file */
    PROMISE(tr.error[0] != 0 && strchr(tr.error, '\n') == NULL);
    PROMISE(strncmp(tr.error, path, strlen(path)) == 0);
  }
  atr_trace_free(&tr);

  atr_model_t m;
  int mrc = atr_model_load(&m, path, NULL);
  PROMISE(mrc == rc); /* the model reads exactly what the reader reads */
  if (mrc == 0) {
    PROMISE(m.t.leaked_blocks <= m.t.allocations);
    PROMISE(m.t.temporary <= m.t.frees + m.t.reallocs);
  }
  atr_model_free(&m);
  run_commands(file, size, rc);
  free(raw);
  return 0;
}
