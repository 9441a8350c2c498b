/* `alloctrace plot [-o DIR] [--replay FILE] [--svg] [--interval MS] [--top N] TRACE`:
 * writes DIR/timeline.json and DIR/growth.json, then runs scripts/plot_all.py with a
 * Python that has matplotlib ($ALLOCTRACE_PYTHON, else the one found at build time, else
 * /usr/bin/python3 or python3 on PATH) and lists every file written. Never draws
 * anything itself; exit 2 with one line when no interpreter has matplotlib.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "growth.h"
#include "outfile.h"
#include "timeline.h"
#include "report.h"
#include "util.h"

#define USAGE                                                                                      \
  "usage: alloctrace plot [-o DIR] [--replay FILE] [--svg] [--interval MS] [--top N] TRACE"

/* Runs argv with stdout/stderr sent to /dev/null when quiet, else stderr into `errbuf`
 * (the last n - 1 bytes kept) when it is given; returns the exit status, or -1 when it
 * could not run. */
static int run_child_err(char *const argv[], int quiet, char *errbuf, size_t n) {
  fflush(stdout);
  fflush(stderr);
  int pfd[2] = {-1, -1};
  if (errbuf && (n < 2 || pipe2(pfd, O_CLOEXEC) != 0))
    errbuf = NULL;
  pid_t pid = fork();
  if (pid < 0) {
    if (errbuf) {
      close(pfd[0]);
      close(pfd[1]);
    }
    return -1;
  }
  if (pid == 0) {
    if (quiet) {
      int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    } else if (errbuf) {
      dup2(pfd[1], 2);
    }
    setenv("MPLBACKEND", "Agg", 1);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    execvp(argv[0], argv);
    _exit(127);
  }
  if (errbuf) {
    close(pfd[1]);
    size_t len = 0;
    char chunk[4096];
    for (;;) {
      ssize_t got = read(pfd[0], chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      for (ssize_t i = 0; i < got; i++) { /* keep the tail: the error is the last line */
        if (len == n - 1) {
          memmove(errbuf, errbuf + n / 2, len - n / 2);
          len -= n / 2;
        }
        errbuf[len++] = chunk[i];
      }
    }
    errbuf[len] = 0;
    close(pfd[0]);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_child(char *const argv[], int quiet) { return run_child_err(argv, quiet, NULL, 0); }

/* The last non-empty line of text, without its newline (text is modified). */
static const char *last_line(char *text) {
  size_t len = strlen(text);
  while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    text[--len] = 0;
  char *nl = strrchr(text, '\n');
  return nl ? nl + 1 : text;
}

static int has_matplotlib(const char *py) {
  char *argv[] = {(char *)py, "-c", "import matplotlib, numpy", NULL};
  return py[0] && run_child(argv, 1) == 0;
}

/* $ALLOCTRACE_PYTHON alone when set; else ATR_PLOT_PYTHON (checked by meson at build
 * time), then Debian's python3, then python3 on PATH. */
static const char *find_python(void) {
  const char *env = getenv("ALLOCTRACE_PYTHON");
  if (env && *env)
    return has_matplotlib(env) ? env : NULL;
  static const char *cands[] = {ATR_PLOT_PYTHON, "/usr/bin/python3", "python3"};
  for (size_t i = 0; i < sizeof(cands) / sizeof(*cands); i++)
    if (has_matplotlib(cands[i]))
      return cands[i];
  return NULL;
}

static const char *scripts_dir(void) {
  static char p[4096];
  snprintf(p, sizeof(p), "%s/plot_all.py", ATR_SCRIPTS_SRC);
  return access(p, R_OK) == 0 ? ATR_SCRIPTS_SRC : ATR_SCRIPTS_INSTALLED;
}

/* Default output directory: the trace's name without .zst, plus "-plots". */
static void default_dir(const char *trace, char *buf, size_t n) {
  const char *base = strrchr(trace, '/');
  base = base ? base + 1 : trace;
  size_t len = strlen(base);
  if (len > 4 && strcmp(base + len - 4, ".zst") == 0)
    len -= 4;
  snprintf(buf, n, "%.*s-plots", (int)len, base);
}

/* DIR/NAME through atr_outfile: a temporary of ours, renamed over the target when
 * complete (removed at exit if any error comes first). */
static FILE *create(atr_outfile_t *of, const char *dir, const char *name, char *path, size_t n) {
  char why[512];
  snprintf(path, n, "%s/%s", dir, name);
  if (atr_outfile_open(of, path, why, sizeof(why)) != 0)
    atr_usage_error("%s: cannot write: %s", path, why);
  return of->f;
}

static void close_or_die(atr_outfile_t *of, const char *path) {
  char why[512];
  if (atr_outfile_commit(of, why, sizeof(why)) != 0)
    atr_usage_error("%s: write error: %s", path, why);
}

int cmd_plot(int argc, char **argv) {
  const char *dir = NULL, *replay = NULL;
  int svg = 0, top = 8;
  double interval_ms = 0;
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"replay", required_argument, 0, 'r'},
                                       {"svg", no_argument, 0, 's'},
                                       {"interval", required_argument, 0, 'i'},
                                       {"top", required_argument, 0, 'n'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "o:r:si:n:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      dir = optarg;
      break;
    case 'r':
      replay = optarg;
      break;
    case 's':
      svg = 1;
      break;
    case 'i':
      interval_ms = atr_flag_interval_ms("--interval", optarg);
      break;
    case 'n':
      top = atr_flag_count("--top", optarg, 1000);
      break;
    case 'h':
      printf("%s\n", USAGE);
      return 0;
    default:
      atr_bad_option(argv, USAGE);
    }
  }
  if (optind + 1 != argc)
    atr_usage_error("plot needs exactly one trace file (" USAGE ")");
  const char *path = argv[optind];
  if (replay && access(replay, R_OK) != 0)
    atr_usage_error("%s: cannot read: %s", replay, strerror(errno));
  char defdir[4096];
  if (!dir) {
    default_dir(path, defdir, sizeof(defdir));
    dir = defdir;
  }

  atr_model_t m;
  atr_chains_t *ch;
  atr_livelog_t log;
  atr_livelog_init(&log, atr_growth_log_budget());
  if (atr_growth_load(&m, &ch, &log, NULL, path) != 0)
    atr_input_error(m.tr.error);
  atr_report_truncated(&m.tr, path);
  /* after reading the trace, so a bad trace is reported as such on any machine */
  const char *py = find_python();
  const char *env = getenv("ALLOCTRACE_PYTHON");
  if (!py && env && *env)
    atr_usage_error("ALLOCTRACE_PYTHON=%s cannot import matplotlib and numpy; install "
                    "python3-matplotlib or unset it",
                    env);
  if (!py)
    atr_usage_error("no Python interpreter with matplotlib found (tried %s%s/usr/bin/python3 and "
                    "python3 on PATH); install python3-matplotlib",
                    ATR_PLOT_PYTHON, ATR_PLOT_PYTHON[0] ? ", " : "");
  atr_symbolizer_t *sym = atr_sym_new(&m.tr);
  if (!sym)
    atr_input_error("out of memory");
  atr_growth_t g;
  char err[600];
  if (atr_growth_analyze(&g, path, &m, sym, ch, &log, err, sizeof(err)) != 0)
    atr_input_error(err);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    atr_usage_error("%s: cannot create directory: %s", dir, strerror(errno));

  char tl_path[4200], gr_path[4200], rp_path[4200];
  atr_outfile_t of;
  FILE *f = create(&of, dir, "timeline.json", tl_path, sizeof(tl_path));
  int rc = atr_timeline_write(f, path, &m, sym, ch, interval_ms, top, 0, err, sizeof(err));
  if (rc == -2)
    atr_usage_error("%s", err);
  if (rc != 0)
    atr_input_error(err);
  close_or_die(&of, tl_path);
  f = create(&of, dir, "growth.json", gr_path, sizeof(gr_path));
  json_t *gj = atr_growth_json(&g, &m, sym, 10);
  json_dumpf(gj, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  fputc('\n', f);
  json_decref(gj);
  close_or_die(&of, gr_path);
  atr_growth_free(&g);
  atr_livelog_free(&log);
  atr_chains_free(ch);
  atr_sym_free(sym);
  atr_model_free(&m);

  if (!replay) {
    snprintf(rp_path, sizeof(rp_path), "%s/replay.json", dir);
    if (access(rp_path, R_OK) == 0)
      replay = rp_path;
  }
  char script[4200];
  snprintf(script, sizeof(script), "%s/plot_all.py", scripts_dir());
  if (access(script, R_OK) != 0)
    atr_usage_error("%s: the plot scripts are missing: %s", script, strerror(errno));
  /* --opt=VALUE: a path that starts with '-' (a trace named -n.zst gives the directory
   * -n-plots) would otherwise be taken by argparse for an option */
  char *args[16], a_tl[4300], a_gr[4300], a_rp[4300], a_dir[4300];
  int n = 0;
  snprintf(a_tl, sizeof(a_tl), "--timeline=%s", tl_path);
  snprintf(a_gr, sizeof(a_gr), "--growth=%s", gr_path);
  snprintf(a_dir, sizeof(a_dir), "--outdir=%s", dir);
  args[n++] = (char *)py;
  args[n++] = script;
  args[n++] = a_tl;
  args[n++] = a_gr;
  if (replay) {
    snprintf(a_rp, sizeof(a_rp), "--replay=%s", replay);
    args[n++] = a_rp;
  }
  args[n++] = a_dir;
  if (svg)
    args[n++] = "--svg";
  args[n] = NULL;
  printf("%s\n%s\n", tl_path, gr_path);
  char script_err[2048] = "";
  int st = run_child_err(args, 0, script_err, sizeof(script_err));
  if (st == 3)
    atr_usage_error("%s cannot import matplotlib (plot_all.py exit 3)", py);
  if (st != 0) { /* one line: the script's own error (its last line), naming the trace */
    const char *why = last_line(script_err);
    fprintf(stderr, "%s: %s: %s%s(plot_all.py exit %d)\n", atr_cmd, path, why, *why ? " " : "",
            st);
    return st == 2 ? ATR_EXIT_USAGE : 1;
  }
  return 0;
}
