/* rusage_run [-o FILE] [-t] CMD...: fork/exec CMD and write "<wall s> <max RSS KiB of
 * its descendants> <exit code> <user s> <sys s> <peak KiB of the whole tree>" to FILE
 * (else stderr); exits with CMD's code. Wall ends when CMD ends; CPU and max RSS are of
 * every descendant, orphans included (it is their subreaper and waits for them all).
 * -t samples the whole process tree every 10 ms: RssAnon + RssFile summed over the
 * processes alive at once, plus the largest RssShmem (a region two processes share, like
 * alloctrace's rings, counted once); without -t the last field is 0.
 * Must never touch CMD's stdin/stdout/stderr or count its own memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr, "usage: rusage_run [-o FILE] [-t] [--] CMD [ARGS...]\n");
    exit(125);
}

/* Adds pid's RssAnon + RssFile (KiB) to *sum and raises *shmem to its RssShmem, then does
 * the same for its children (each thread's). */
static void sample_tree(pid_t pid, long *sum, long *shmem, int depth)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        long v;
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "RssAnon: %ld", &v) == 1 || sscanf(line, "RssFile: %ld", &v) == 1)
                *sum += v;
            else if (sscanf(line, "RssShmem: %ld", &v) == 1 && v > *shmem)
                *shmem = v;
        }
        fclose(f);
    }
    if (depth > 32)
        return;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char cpath[300];
        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
        FILE *c = fopen(cpath, "r");
        if (!c)
            continue;
        int child;
        while (fscanf(c, "%d", &child) == 1)
            sample_tree(child, sum, shmem, depth + 1);
        fclose(c);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int tree = 0;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-t") == 0) {
            tree = 1;
            i++;
        } else {
            usage();
        }
    }
    if (i >= argc)
        usage();

    FILE *res = stderr;
    if (out) {
        res = fopen(out, "w");
        if (!res) {
            fprintf(stderr, "rusage_run: %s: %s\n", out, strerror(errno));
            return 125;
        }
    }

    prctl(PR_SET_CHILD_SUBREAPER, 1); /* alloctrace's recorder may outlive `alloctrace run` */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rusage_run: fork: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        execvp(argv[i], &argv[i]);
        fprintf(stderr, "rusage_run: %s: %s\n", argv[i], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status = 0, done = 0;
    long peak = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, tree ? WNOHANG : 0);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == ECHILD)
            break;
        if (w < 0) {
            fprintf(stderr, "rusage_run: waitpid: %s\n", strerror(errno));
            return 125;
        }
        if (w == pid) {
            status = st;
            done = 1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
        }
        if (w == 0) {
            long sum = 0, shmem = 0;
            sample_tree(getpid(), &sum, &shmem, 0);
            if (sum + shmem > peak)
                peak = sum + shmem;
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
    }
    if (!done)
        return 125;

    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);   /* ru_maxrss: largest descendant, KiB */
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
    double wall = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(res, "%.6f %ld %d %ld.%06ld %ld.%06ld %ld\n", wall, ru.ru_maxrss, code,
            (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, peak);
    if (res != stderr && fclose(res) != 0)
        return 125;
    return code;
}
