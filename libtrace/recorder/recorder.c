/* alloctrace-record: the recorder process of a run. Listens on an abstract unix socket
 * for the traced images' regions (shm.h), drains every image's rings with its writer
 * (writer.c), and writes all their traces into the run's one file, each zstd frame
 * after its stream tag (format.h). An image's trace is closed when its connection ends
 * (exit, exec or any signal): the region outlives the process, so every event it
 * published is kept. One thread; a traced program never waits for it but on a full ring.
 *
 * usage: alloctrace-record [--detach] --sock NAME --output PATH [--status-fd N]
 *                          [--control-fd N]
 * status lines: "ready", "error <text>", "loaded <pid>",
 *               "done <pid> <end flags> <events> <recorder CPU us> <recorder max RSS KiB>".
 * It exits once --control-fd is closed (or not given) and no image is connected.
 * --detach (a program preloaded by hand, ../spawn.c): only "ready" or "error" is
 * written; the recorder leaves the process that started it and locks the trace file
 * until it exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "recorder.h"

typedef struct conn {
  int fd;
  int memfd;        /* the region's descriptor: the writer maps pieces through it */
  uint32_t pid;
  void *base;       /* the image's region, NULL until its hello */
  atr_wproc_t *w;
  struct conn *next;
} conn_t;

static int out_fd = -1, status_fd = -1;
static conn_t *conns;
static uint32_t next_stream;
static volatile sig_atomic_t stop;

void atr_rec_log(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "alloctrace-record: %s\n", buf);
}

#ifdef ATR_DEBUG
/* ATR_ASSERT (tracer.h) in the recorder: an ordinary process, so stdio */
void atr__assert_fail(const char *what, const char *file, int line) {
  fprintf(stderr, "alloctrace-record: assertion failed: %s (%s:%d)\n", what, file, line);
  abort();
}
#endif

static void status(const char *fmt, ...) {
  if (status_fd < 0)
    return;
  char buf[600];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > sizeof(buf) - 2)
    n = (int)sizeof(buf) - 2;
  buf[n++] = '\n';
  ssize_t w = write(status_fd, buf, (size_t)n);
  (void)w;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

int atr_rec_sink_frame(uint32_t stream, uint32_t pid, const uint8_t *frame, size_t len) {
  uint8_t tag[ATR_STREAM_TAG_BYTES];
  put32(tag, ATR_STREAM_MAGIC);
  put32(tag + 4, ATR_STREAM_TAG_BYTES - 8);
  memcpy(tag + 8, "ATRS", 4);
  put32(tag + 12, stream);
  put32(tag + 16, pid);
  put32(tag + 20, (uint32_t)len);
  put32(tag + 24, atr_stream_check(stream, pid, (uint32_t)len));
  struct iovec iov[2] = {{tag, sizeof(tag)}, {(void *)frame, len}};
  int cnt = 2;
  struct iovec *v = iov;
  while (cnt > 0) {
    ssize_t w = writev(out_fd, v, cnt);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    while (cnt > 0 && (size_t)w >= v->iov_len) {
      w -= (ssize_t)v->iov_len;
      v++;
      cnt--;
    }
    if (cnt > 0) {
      v->iov_base = (char *)v->iov_base + w;
      v->iov_len -= (size_t)w;
    }
  }
  return 0;
}

atr_wproc_t *atr_rec_image(uint32_t pid, uint64_t tick0) {
  for (conn_t *c = conns; c; c = c->next)
    if (c->w && c->pid == pid && atr_wproc_tick0(c->w) == tick0)
      return c->w;
  return NULL;
}

/* The hello and the region's descriptor. 1 done, 0 not yet, -1 a peer to drop. */
static int take_hello(conn_t *c) {
  atr_hello_t hello;
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct iovec iov = {&hello, sizeof(hello)};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                     .msg_controllen = sizeof(u.buf)};
  ssize_t n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
  int memfd = -1;
  if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
    memcpy(&memfd, CMSG_DATA(cm), sizeof(int));
  if (n != (ssize_t)sizeof(hello) || hello.magic != ATR_SHM_MAGIC ||
      hello.version != ATR_SHM_VERSION || memfd < 0) {
    if (memfd >= 0)
      close(memfd);
    return -1;
  }
  void *base = mmap(NULL, ATR_SHM_FIXED, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                    memfd, 0);
  struct stat st;
  if (base == MAP_FAILED || fstat(memfd, &st) != 0 || (uint64_t)st.st_size < ATR_SHM_FIXED) {
    if (base != MAP_FAILED)
      munmap(base, ATR_SHM_FIXED);
    close(memfd);
    return -1;
  }
  atr_shm_hdr_t *h = atr_shm_hdr(base);
  if (h->magic != ATR_SHM_MAGIC || h->size != ATR_SHM_FIXED) {
    munmap(base, ATR_SHM_FIXED);
    close(memfd);
    return -1;
  }
  c->base = base;
  c->memfd = memfd;
  c->pid = h->pid;
  c->w = atr_wproc_open(base, memfd, next_stream++);
  if (!c->w) {
    atr_rec_log("process %u: out of memory; not traced", c->pid);
    return -1;
  }
  status("loaded %u", c->pid);
  return 1;
}

static void drop(int ep, conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (c->w) {
    atr_wproc_finish(c->w);
    struct rusage ru; /* what recording has cost so far, for `run --stats` */
    getrusage(RUSAGE_SELF, &ru);
    uint64_t cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    status("done %u %u %llu %llu %ld", c->pid, atomic_load(&atr_shm_hdr(c->base)->end_flags),
           (unsigned long long)atr_wproc_events(c->w), (unsigned long long)cpu_us, ru.ru_maxrss);
    atr_wproc_close(c->w);
  }
  if (c->base)
    munmap(c->base, ATR_SHM_FIXED);
  if (c->memfd >= 0)
    close(c->memfd);
  for (conn_t **p = &conns; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  free(c);
}

static int listen_fd = -1;
static void readable(int ep, conn_t *c);

/* Every connection waiting to be accepted, with its hello (and its end, if it has
 * ended). Done before an image's end is handled too: a child that connected before its
 * parent ended (and was perhaps killed since) is then in the file before the parent's
 * "done" (tests/cli/real_runs.sh killed children, under load: the root's end came first
 * in one epoll batch and `run` returned before the children's traces were written). */
static void accept_all(int ep) {
  conn_t *fresh[64];
  for (;;) {
    size_t n = 0;
    for (int fd; n < 64 && (fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
      conn_t *nc = calloc(1, sizeof(*nc));
      if (!nc) {
        close(fd);
        continue;
      }
      nc->fd = fd;
      nc->memfd = -1;
      nc->next = conns;
      conns = nc;
      struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = nc};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
      fresh[n++] = nc;
    }
    if (n == 0)
      return;
    for (size_t i = 0; i < n; i++)
      readable(ep, fresh[i]);
  }
}

/* Readable: the hello, doorbells, or the end of the image (0 bytes). */
static void readable(int ep, conn_t *c) {
  if (!c->base) {
    int r = take_hello(c);
    if (r < 0)
      drop(ep, c);
    if (r <= 0)
      return;
  }
  char buf[256];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    accept_all(ep);
    drop(ep, c); /* EOF, or an error: the image is gone either way */
    return;
  }
}

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --detach, first: descriptors 0-2 on /dev/null, the status pipe at 3, nothing else of
 * the program's kept open (a pipeline reading its output must end with it). */
static void detach_files(void) {
  if (status_fd >= 0 && status_fd != 3) {
    dup2(status_fd, 3);
    status_fd = 3;
  }
  close_range(status_fd >= 0 ? 4 : 3, ~0u, 0);
  int dn = open("/dev/null", O_RDWR);
  for (int fd = 0; dn >= 0 && fd < 3; fd++)
    if (fd != dn)
      dup2(dn, fd);
  if (dn > 2)
    close(dn);
  if (chdir("/") != 0) { /* not holding a directory busy; paths given are absolute */
  }
}

/* --detach, once the output and the socket exist: the trace file locked while it is
 * written (readers wait for it: cli/reader.c), a fork whose parent (the process the
 * program spawned) exits at once, and a session of our own (no job-control signal of
 * the program's terminal stops the recorder). */
static int become_orphan(void) {
  if (flock(out_fd, LOCK_EX) != 0) {
    status("error cannot lock the trace file: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    status("error fork: %s", strerror(errno));
    return -1;
  }
  if (pid > 0)
    _exit(0);
  setsid();
  return 0;
}

int main(int argc, char **argv) {
  const char *sock = NULL, *output = NULL;
  int control_fd = -1, detach = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--detach") == 0) {
      detach = 1;
      continue;
    }
    if (i + 1 >= argc)
      break;
    if (strcmp(argv[i], "--sock") == 0)
      sock = argv[++i];
    else if (strcmp(argv[i], "--output") == 0)
      output = argv[++i];
    else if (strcmp(argv[i], "--status-fd") == 0)
      status_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--control-fd") == 0)
      control_fd = atoi(argv[++i]);
  }
  if (!sock || !output || strlen(sock) + 2 > sizeof(((struct sockaddr_un *)0)->sun_path)) {
    fprintf(stderr, "usage: alloctrace-record [--detach] --sock NAME --output PATH "
                    "[--status-fd N] [--control-fd N]\n");
    return 2;
  }
  if (detach) /* started by a program preloaded by hand (spawn.c): hold none of its files */
    detach_files();
  signal(SIGINT, SIG_IGN); /* a ^C is for the program: the traces still get closed */
  signal(SIGQUIT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  /* past RLIMIT_FSIZE (`ulimit -f`, inherited from the user's shell) a write fails with
   * EFBIG instead of killing the recorder: the trace is cut, `run` says so, the program
   * goes on as it would untraced */
  signal(SIGXFSZ, SIG_IGN);
  signal(SIGTERM, on_term);
  struct rlimit nofile; /* a descriptor per image for its region: as many as allowed */
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  atr_rec_clock_init();
  out_fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out_fd < 0) {
    status("error %s: cannot create the trace file: %s", output, strerror(errno));
    return 2;
  }
  int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path + 1, sock, strlen(sock)); /* abstract (unix(7)) */
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sock));
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, alen) != 0 || listen(ls, 4096) != 0) {
    status("error cannot listen on @%s: %s", sock, strerror(errno));
    unlink(output);
    return 2;
  }
  listen_fd = ls;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static conn_t control; /* its address marks the control descriptor's events */
  if (control_fd >= 0) {
    ev.data.ptr = &control;
    epoll_ctl(ep, EPOLL_CTL_ADD, control_fd, &ev);
  }
  if (detach && become_orphan() != 0)
    return 2;
  status("ready");
  if (detach) { /* the probe reads one line */
    close(status_fd);
    status_fd = -1;
  }
  int control_open = control_fd >= 0;
  uint64_t linger_ms = detach ? 1000 : 200; /* a fork or exec child's hello may come late */
  long idle_ms = 1;
  uint64_t empty_since = mono_ms();
  while (!stop) {
    uint64_t done = 0;
    for (conn_t *c = conns; c; c = c->next)
      if (c->w)
        done += atr_wproc_step(c->w);
    if (!conns && !control_open && mono_ms() - empty_since >= linger_ms)
      break;
    atr_inherit_gc();
    int timeout = done >= 1024 ? 0 : (int)idle_ms;
    if (timeout)
      for (conn_t *c = conns; c; c = c->next)
        if (c->base)
          atomic_store(&atr_shm_hdr(c->base)->recorder_sleeping, 1);
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, timeout);
    for (conn_t *c = conns; c; c = c->next)
      if (c->base)
        atomic_store(&atr_shm_hdr(c->base)->recorder_sleeping, 0);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c == &control) {
        char b[64];
        if (read(control_fd, b, sizeof(b)) <= 0) {
          epoll_ctl(ep, EPOLL_CTL_DEL, control_fd, NULL);
          control_open = 0;
        }
      } else if (!c) {
        accept_all(ep);
      } else {
        readable(ep, c);
        if (!conns)
          empty_since = mono_ms();
      }
    }
    if (done == 0 && idle_ms < 10)
      idle_ms++;
    else if (done)
      idle_ms = 1;
  }
  while (conns) /* SIGTERM: close every trace with what it has */
    drop(ep, conns);
  close(out_fd);
  return 0;
}
