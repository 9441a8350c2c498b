/* Safe creation of the CLI's output files (see outfile.h): a temporary made with
 * O_EXCL beside the target, written, fsync'd, renamed over it.
 * Never opens the target name for writing unless it is a device or FIFO already.
 */
#define _GNU_SOURCE
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporaries not committed yet, removed by the atexit handler (exit(2) from any error
 * path). A command writes at most a few files. */
#define MAX_PENDING 8
static char *pending[MAX_PENDING];
static int registered;

static void remove_pending(void) {
  for (int i = 0; i < MAX_PENDING; i++)
    if (pending[i]) {
      unlink(pending[i]);
      pending[i] = NULL;
    }
}

static int track(char *tmp) {
  if (!registered) {
    if (atexit(remove_pending) != 0)
      return -1;
    registered = 1;
  }
  for (int i = 0; i < MAX_PENDING; i++)
    if (!pending[i]) {
      pending[i] = tmp;
      return 0;
    }
  return -1;
}

static void untrack(const char *tmp) {
  for (int i = 0; i < MAX_PENDING; i++)
    if (pending[i] == tmp)
      pending[i] = NULL;
}

static int fail(char *err, size_t errn, const char *path, int e) {
  (void)path;
  snprintf(err, errn, "%s", strerror(e ? e : EIO));
  return -1;
}

/* A device or FIFO the target already is (through symlinks: /dev/stdout): opened
 * directly, without O_CREAT or O_TRUNC. 1 opened, 0 not such a target, -1 error. */
static int open_direct(atr_outfile_t *o, const char *path, char *err, size_t errn) {
  struct stat st;
  if (stat(path, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))
    return 0;
  int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return fail(err, errn, path, errno);
  if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    close(fd); /* replaced meanwhile: take the ordinary way */
    return 0;
  }
  if (!(o->f = fdopen(fd, "w"))) {
    close(fd);
    return fail(err, errn, path, errno);
  }
  return 1;
}

int atr_outfile_open(atr_outfile_t *o, const char *path, char *err, size_t errn) {
  memset(o, 0, sizeof(*o));
  struct stat st;
  if (!*path || (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))) /* before any work */
    return fail(err, errn, path, *path ? EISDIR : ENOENT);
  if (!(o->path = strdup(path)))
    return fail(err, errn, path, ENOMEM);
  int d = open_direct(o, path, err, errn);
  if (d != 0) {
    if (d < 0) {
      free(o->path);
      o->path = NULL;
    }
    return d < 0 ? -1 : 0;
  }
  /* DIR/.BASE.XXXXXX, BASE cut so the name stays within NAME_MAX */
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  const char *base = path + dirlen;
  size_t baselen = strlen(base);
  if (baselen > 200)
    baselen = 200;
  size_t n = dirlen + baselen + 16;
  if (!(o->tmp = malloc(n))) {
    free(o->path);
    o->path = NULL;
    return fail(err, errn, path, ENOMEM);
  }
  snprintf(o->tmp, n, "%.*s.%.*s.XXXXXX", (int)dirlen, path, (int)baselen, base);
  int fd = mkostemp(o->tmp, O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof(*o));
    return fail(err, errn, path, e);
  }
  if (track(o->tmp) != 0 || !(o->f = fdopen(fd, "w"))) {
    int e = errno ? errno : ENOMEM;
    close(fd);
    untrack(o->tmp);
    unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof(*o));
    return fail(err, errn, path, e);
  }
  return 0;
}

/* The mode the target gets: an existing regular file's permission bits, else what a
 * new file gets (0666 less the umask). */
static mode_t target_mode(const char *path) {
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
    return st.st_mode & 0777;
  mode_t u = umask(022);
  umask(u);
  return 0666 & ~u;
}

static void sync_dir(const char *tmp) {
  const char *slash = strrchr(tmp, '/');
  char dir[4096];
  snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - tmp) + 1 : 1, slash ? tmp : ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd); /* best effort: the rename is already visible */
    close(fd);
  }
}

static void release(atr_outfile_t *o) {
  free(o->tmp);
  free(o->path);
  memset(o, 0, sizeof(*o));
}

int atr_outfile_commit(atr_outfile_t *o, char *err, size_t errn) {
  errno = 0;
  int bad = fflush(o->f) != 0 || ferror(o->f);
  int e = errno;
  if (!bad && o->tmp && (fchmod(fileno(o->f), target_mode(o->path)) != 0 ||
                         fsync(fileno(o->f)) != 0)) {
    bad = 1;
    e = errno;
  }
  if (fclose(o->f) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  o->f = NULL;
  if (!bad && o->tmp && rename(o->tmp, o->path) != 0) {
    bad = 1;
    e = errno;
  }
  if (o->tmp) {
    if (bad)
      unlink(o->tmp);
    else
      sync_dir(o->tmp);
    untrack(o->tmp);
  }
  int rc = bad ? fail(err, errn, o->path, e) : 0;
  release(o);
  return rc;
}

void atr_outfile_abort(atr_outfile_t *o) {
  if (o->f)
    fclose(o->f);
  if (o->tmp) {
    unlink(o->tmp);
    untrack(o->tmp);
  }
  release(o);
}
