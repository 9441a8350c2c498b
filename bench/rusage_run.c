/* rusage_run [-o FILE] CMD...: fork/exec CMD and write "<wall s> <max RSS KiB of
 * its descendants> <exit code> <user s> <sys s>" to FILE (else stderr); exits with CMD's code.
 * Must never touch CMD's stdin/stdout/stderr or count its own memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr, "usage: rusage_run [-o FILE] [--] CMD [ARGS...]\n");
    exit(125);
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[i + 1];
            i += 2;
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
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "rusage_run: waitpid: %s\n", strerror(errno));
            return 125;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);   /* ru_maxrss: largest descendant, KiB */
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
    double wall = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(res, "%.6f %ld %d %ld.%06ld %ld.%06ld\n", wall, ru.ru_maxrss, code,
            (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
    if (res != stderr && fclose(res) != 0)
        return 125;
    return code;
}
