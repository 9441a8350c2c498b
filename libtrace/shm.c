/* The probe's side of the shared region and of the recorder connection: makes the
 * region (a memfd, layout in shm.h), hands it to the recorder over its unix socket,
 * maps its pieces as threads and stacks need them (atr__shm_piece), rings the
 * recorder's doorbell, and gives a fork child a region of its own.
 * Only system calls: never allocates, never takes a lock the program can hold, never
 * starts a thread, never grows a file past RLIMIT_FSIZE (the kernel would kill the
 * program with SIGXFSZ). Everything heavy happens in the recorder process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

#include "real.h"
#include "shm.h"

void *atr__shm;
int atr__said_why;
atr_shm_hdr_t *atr__shmh;

/* Before a region exists stamps read a clock share nobody bumps. */
static struct atr_clock_share clk_boot;
struct atr_clock_share *atr__clkp = &clk_boot;

/* atr__state lives in a page the kernel wipes in every fork child (MADV_WIPEONFORK,
 * madvise(2)): a child made by fork(), or by a raw clone(2) that runs no atfork handler
 * (Chromium's zygote forks with the syscall), finds tracing off and comes through
 * atr__init(), which gives it a region of its own before it records anything. Without
 * it such a child would write into its parent's rings. */
static _Atomic int state_boot;
_Atomic int *atr__statep = &state_boot;

/* the socket to the recorder; -1 before connecting. Atomic: dup2 from a signal handler
 * can move it while the interrupted dup2 is moving it (proc.c vacate) */
static _Atomic int conn = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;

int atr__shm_state_page(void) {
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return -1;
  if (madvise(p, 4096, MADV_WIPEONFORK) != 0) { /* Linux < 4.14 */
    munmap(p, 4096);
    return -1;
  }
  atr__statep = p;
  return 0;
}

/* The region's descriptor, held for the image's whole life like the connection: a
 * tracer-owned descriptor, close-on-exec, moved out of the program's numbers
 * (atr__fd_move_high) and protected from its closing (proc.c); a fork child replaces it
 * with its own region's. Pieces are mapped through it (atr__shm_piece). While the
 * program's dup2/dup3 takes its number (proc.c vacate, atr__region_vacate) region_busy
 * is not 0, and each such change bumps region_gen: a piece mapped across one may be of
 * the program's file and is undone (never touched). */
static _Atomic int region_fd = -1;
static _Atomic uint32_t region_gen, region_busy;

/* How big the file may be: the whole layout, or less under RLIMIT_FSIZE, past which
 * ftruncate raises SIGXFSZ, which kills a program that does not ignore it (`ulimit -f`):
 * never try. */
static uint64_t file_size(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      (uint64_t)rl.rlim_cur >= ATR_SHM_MAX)
    return ATR_SHM_MAX;
  return (uint64_t)rl.rlim_cur;
}

static void *map_at(int fd, uint64_t off, uint64_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)off);
  return p == MAP_FAILED ? NULL : p;
}

/* Can the tracer hold its two descriptors (the connection, the region) without taking a
 * number the program could have had? Above the soft RLIMIT_NOFILE where the hard one
 * leaves room (atr__fd_move_high); otherwise they take two of the program's numbers,
 * which is allowed only from ATR_NOFILE_MIN on: below it a program at its limit is
 * likely (a test of the limit, a sandbox) and tracing is off, the program unchanged. */
#define ATR_NOFILE_MIN 64u
static int nofile_room(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      rl.rlim_max == RLIM_INFINITY || rl.rlim_max - rl.rlim_cur >= 2 ||
      rl.rlim_cur >= ATR_NOFILE_MIN)
    return 1;
  atr__log("the descriptor limit (ulimit -n %llu) leaves no room for the tracer's 2 "
           "descriptors; tracing is off", (unsigned long long)rl.rlim_cur);
  atr__said_why = 1;
  return 0;
}

/* A new region: the memfd, sized once (file_size), its descriptor moved high, and its
 * fixed part mapped anywhere. */
static void *map_region(int *fd_out) {
  uint64_t size = file_size();
  if (size < ATR_SHM_FIXED) {
    atr__log("the file size limit (ulimit -f) is below the shared region's %llu bytes; "
             "tracing is off", (unsigned long long)ATR_SHM_FIXED);
    atr__said_why = 1;
    return NULL;
  }
  int fd = (int)syscall(SYS_memfd_create, "alloctrace", MFD_CLOEXEC);
  if (fd < 0)
    return NULL;
  void *p = NULL;
  if (ftruncate(fd, (off_t)size) != 0 || !(p = map_at(fd, 0, ATR_SHM_FIXED))) {
    atr__real.close(fd);
    return NULL;
  }
  atr_shm_hdr_t *h = atr_shm_hdr(p);
  h->file_bytes = size;
  atomic_store(&h->piece_next, ATR_SHM_FIXED);
  *fd_out = atr__fd_move_high(fd);
  return p;
}

/* The mapping of a piece reserved at off, through the region's descriptor; NULL if the
 * mapping fails (RLIMIT_AS). Never waits. */
void *atr__shm_map_piece(uint64_t off, uint64_t len) {
  for (int tries = 0; tries < 4; tries++) {
    uint32_t g = atomic_load(&region_gen);
    int fd = atomic_load(&region_fd);
    if (atomic_load(&region_busy) || fd < 0)
      continue; /* the program's dup2 is taking the number: try again, a few times */
    void *p = map_at(fd, off, len);
    if (atomic_load(&region_gen) == g && !atomic_load(&region_busy))
      return p;
    if (p) /* mapped across the number's change: perhaps not ours; never touched */
      munmap(p, len);
  }
  return NULL;
}

/* A piece of len bytes (a thread state, an arena segment): its file offset reserved (one
 * atomic add: no lock, so no thread waits for one that a signal handler interrupted
 * here, nor a fork child for a thread the fork left behind), mapped here. Its offset goes to *off; the caller publishes it in the
 * header once it is ready. NULL when the file has no room left (RLIMIT_FSIZE at the
 * region's creation) or the mapping fails (RLIMIT_AS): the reservation is not returned.
 * Never waits. */
void *atr__shm_piece(uint64_t len, uint64_t *off) {
  atr_shm_hdr_t *h = atr__shmh;
  if (!h || atomic_load_explicit(&h->piece_next, memory_order_relaxed) + len > h->file_bytes)
    return NULL;
  uint64_t at = atomic_fetch_add(&h->piece_next, len);
  if (at + len > h->file_bytes)
    return NULL;
  *off = at;
  return atr__shm_map_piece(at, len);
}

int atr__region_fd(void) {
  return atomic_load_explicit(&region_fd, memory_order_relaxed);
}

/* proc.c: the program's dup2/dup3 is about to take the region's number (begin = 1): the
 * region moves to another number first; after the call (begin = 0) the change is
 * over. begin = -1: forget the number (a fork child's copy of its parent's). */
void atr__region_vacate(int begin) {
  if (begin < 0) { /* a child's copy of its parent's: the number is the child's */
    atomic_store(&region_fd, -1);
    return;
  }
  if (!begin) {
    atomic_fetch_sub(&region_busy, 1);
    return;
  }
  atomic_fetch_add(&region_busy, 1);
  atomic_fetch_add(&region_gen, 1);
  int fd = atomic_load(&region_fd);
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
  /* no number left above it: the number is the program's, no piece is mapped any more */
  atomic_store(&region_fd, moved >= 0 ? moved : -1);
  if (moved < 0)
    atr__note("the program took every descriptor number above the tracer's: no thread or "
              "stack segment was mapped after that");
}

static ssize_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t n = 0;
  for (ssize_t r; n < cap && (r = read(fd, buf + n, cap - n)) > 0;)
    n += (size_t)r;
  atr__real.close(fd);
  return (ssize_t)n;
}

static void identity(atr_shm_hdr_t *h, unsigned origin, uint64_t tick0) {
  h->magic = ATR_SHM_MAGIC;
  h->version = ATR_SHM_VERSION;
  h->size = ATR_SHM_FIXED;
  h->origin = origin;
  h->pid = (uint32_t)getpid();
  h->ppid = (uint32_t)getppid();
  h->tick0 = tick0;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  h->start_unix_us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Hands the region to the recorder: the hello and the memfd in one message. */
static int hand_over(int memfd) {
  atr__shmh->start_gen = atr__modules_generation();
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -1;
  if (connect(s, (struct sockaddr *)&addr, addr_len) != 0) {
    atr__real.close(s);
    return -1;
  }
  atr_hello_t hello = {ATR_SHM_MAGIC, ATR_SHM_VERSION, (uint32_t)getpid()};
  struct iovec iov = {&hello, sizeof(hello)};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof(u));
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                     .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &memfd, sizeof(int));
  if (sendmsg(s, &m, MSG_NOSIGNAL) != (ssize_t)sizeof(hello)) {
    atr__real.close(s);
    return -1;
  }
  s = atr__fd_move_high(s);
  conn = s;
  return 0;
}

static int set_address(void) {
  const char *name = getenv(ATR_SOCK_ENV);
  if (!name || name[0] != '@' || strlen(name) >= sizeof(addr.sun_path))
    return -1;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  size_t n = strlen(name + 1);
  memcpy(addr.sun_path + 1, name + 1, n); /* abstract: sun_path[0] = 0 (unix(7)) */
  addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
  return 0;
}

static void publish(void *base) {
  atr__shm = base;
  atr__shmh = atr_shm_hdr(base);
  atr__clkp = &atr__shmh->clk;
}

/* Start-up of an image: a region of its own, filled with what the recorder cannot read
 * once the process is gone (exe, command line); atr__shm_connect hands it over. */
int atr__shm_start(void) {
  if (!getenv(ATR_SOCK_ENV) && atr__spawn_recorder() != 0) /* preloaded by hand (spawn.c) */
    return -1;
  if (set_address() != 0) {
    atr__log("%s is not a recorder's address (@NAME): tracing is off", ATR_SOCK_ENV);
    return -1;
  }
  if (!nofile_room())
    return -1;
  int fd;
  void *base = map_region(&fd);
  if (!base)
    return -1;
  atr_shm_hdr_t *h = atr_shm_hdr(base);
  identity(h, ATR_ORIGIN_START, atr__clock_tick0());
  ssize_t n = readlink("/proc/self/exe", h->exe, sizeof(h->exe) - 1);
  h->exe_len = n > 0 ? (uint32_t)n : 0;
  n = read_file("/proc/self/cmdline", h->cmdline, sizeof(h->cmdline));
  h->cmdline_len = n > 0 ? (uint32_t)n : 0;
  h->clock_tsc = atr__clock_tsc;
  h->level = atr__cfg.level;
  h->skew[0] = ATR_SKEW(0);
  h->skew[1] = ATR_SKEW(1);
  publish(base);
  atomic_store(&region_fd, fd);
  return 0;
}

/* After the module scan: the recorder's first frame lists the modules. */
int atr__shm_connect(void) {
  atr__ring_premap(); /* if there is no room for it, the thread goes untraced (ring.c) */
  int rc = hand_over(atomic_load(&region_fd));
  if (rc != 0) {
    atr__real.close(atomic_exchange(&region_fd, -1));
    atr__log("cannot reach the recorder (%s); tracing is off", strerror(errno));
    return -1;
  }
  return 0;
}

/* A fork child (found by the wiped state page, or told by the atfork handler): it
 * shares its parent's region until it maps its own over it. The module table and what
 * the parent learnt at start-up carry over; rings, threads and stacks start empty. */
int atr__shm_fork_child(uint64_t fork_tick, uint64_t fork_mark) {
  atr__shm_drop_parent_conn();
  atr_shm_hdr_t *old = atr__shmh;
  if (!old)
    return -1;
  int fd;
  void *base = map_region(&fd);
  if (!base)
    return -1;
  atr_shm_hdr_t *h = atr_shm_hdr(base);
  memcpy(h, old, offsetof(atr_shm_hdr_t, nthreads));
  identity(h, ATR_ORIGIN_FORK, fork_tick);
  h->ppid = old->pid; /* getppid() is 1 by now if the parent has gone meanwhile */
  h->parent_tick0 = old->tick0;
  h->fork_mark = fork_mark;
  uint32_t nmods = atomic_load(&old->nmods);
  atr_module_t *mods = atr_shm_mods(base);
  memcpy(mods, atr_shm_mods(atr__shm), nmods * sizeof(atr_module_t));
  for (uint32_t i = 0; i < nmods; i++)
    mods[i].emitted = 0; /* the recorder's marks for the parent's trace */
  atomic_store(&h->nmods, nmods);
  atomic_store(&h->layers, atomic_load(&old->layers));
  unsigned on = atomic_load(&old->nnotes), nn = 0;
  on = on > ATR_MAX_NOTES ? ATR_MAX_NOTES : on;
  for (unsigned i = 0; i < on; i++) /* the parent's diagnostics (rawio.c) stay its own */
    if (strncmp(old->notes[i], ATR_LOG_PREFIX "[", sizeof(ATR_LOG_PREFIX)) != 0)
      memcpy(h->notes[nn++], old->notes[i], sizeof(h->notes[0]));
  atomic_store(&h->nnotes, nn);
  atomic_store(&h->notes_written, nn);
  /* the new region takes the old one's place: every address into it stays valid */
  void *at = mremap(base, ATR_SHM_FIXED, ATR_SHM_FIXED, MREMAP_MAYMOVE | MREMAP_FIXED, atr__shm);
  if (at == MAP_FAILED) {
    munmap(base, ATR_SHM_FIXED);
    atr__real.close(fd);
    return -1;
  }
  publish(at);
  atomic_store(&region_fd, fd);
  atomic_store(&region_busy, 0); /* a dup2 in another thread of the parent at the fork */
  atr__ring_after_fork(); /* the parent's pieces go; the child maps its own */
  atr__modules_after_fork();
  atr__patch_after_fork();
  int rc = atr__stacktab_init();
  atr__ring_premap();
  if (rc == 0)
    rc = hand_over(fd);
  if (rc != 0)
    atr__real.close(atomic_exchange(&region_fd, -1));
  return rc;
}

/* A fork child holding its parent's connection would keep the parent's trace open: it
 * goes at the fork (atfork handler) or, after a raw clone(2), at the child's start, and
 * the parent's region descriptor with it (the child keeps the mapping until its own
 * region replaces it). */
void atr__shm_drop_parent_conn(void) {
  if (conn >= 0) {
    atr__fd_disown(conn);
    atr__real.close(conn);
    conn = -1;
  }
  int fd = atomic_exchange(&region_fd, -1);
  if (fd >= 0)
    atr__real.close(fd);
}

/* The doorbell: one byte on the connection. 0, or -1 when the recorder is gone. */
int atr__recorder_ring(void) {
  if (conn < 0)
    return -1;
  char b = 0;
  if (send(conn, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 || errno == EAGAIN || errno == EINTR)
    return 0;
  return -1;
}

/* Wake the recorder if it sleeps (a ring is half full). */
void atr__recorder_kick(void) {
  if (atr__shmh && atomic_load_explicit(&atr__shmh->recorder_sleeping, memory_order_relaxed))
    atr__recorder_ring();
}

int atr__conn_fd(void) {
  return conn;
}

/* The connection moved from `from` to `to`; 0 when it is no longer at `from` (a signal
 * handler's dup2 moved it first), and `to` is the caller's to close. */
int atr__conn_moved(int from, int to) {
  return atomic_compare_exchange_strong(&conn, &from, to);
}

/* Keep the descriptor out of the numbers the program can have. Where the hard limit of
 * RLIMIT_NOFILE is above the soft one the descriptor goes just above the soft limit
 * (raised for the one fcntl and set back at once): the program, which cannot open,
 * dup2 or close_range a number at or above its soft limit, then opens exactly as many
 * files as untraced. Otherwise it goes high (500, or half the limit), out of the low
 * numbers programs expect to own: one number fewer for the program at its limit per
 * descriptor (nofile_room above decides whether tracing may cost that). */
int atr__fd_move_high(int fd) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return fd;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < INT_MAX - 1 &&
      (uint64_t)fd < rl.rlim_cur) {
    struct rlimit up = {rl.rlim_max - rl.rlim_cur > 8 ? rl.rlim_cur + 8 : rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
      int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)rl.rlim_cur);
      setrlimit(RLIMIT_NOFILE, &rl);
      if (high >= 0) {
        atr__real.close(fd);
        return high;
      }
    }
  }
  int want = 500;
  if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)want * 2 > rl.rlim_cur)
    want = (int)(rl.rlim_cur / 2);
  if (fd >= want)
    return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, want);
  if (high < 0)
    return fd;
  atr__real.close(fd);
  return high;
}

void atr__note(const char *text) {
  if (!atr__shmh)
    return;
  unsigned i = atomic_fetch_add(&atr__shmh->nnotes, 1);
  if (i < ATR_MAX_NOTES)
    atr__fmt(atr__shmh->notes[i], sizeof(atr__shmh->notes[i]), "%s", text);
  atomic_fetch_add(&atr__shmh->notes_written, 1);
}

void atr__layer(unsigned mask) {
  if (atr__shmh)
    atomic_fetch_or(&atr__shmh->layers, mask);
}

/* At exit or exec: how the image ended and its peak RSS, which the recorder cannot
 * read once the process is a zombie. */
void atr__shm_end(unsigned flags) {
  if (!atr__shmh)
    return;
  char buf[4096];
  ssize_t n = read_file("/proc/self/status", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = 0;
    char *p = strstr(buf, "VmHWM:");
    if (p)
      atomic_store(&atr__shmh->peak_rss, strtoull(p + 6, NULL, 10) * 1024u);
  }
  atomic_store(&atr__shmh->end_flags, flags);
}
