/* replay_threads [N]: N threads (default 1000) started one after the other, each
 * malloc(64) + free and joined, then the main thread's malloc(1 MiB), every page written,
 * freed: the heap peak comes after every worker has finished. The replay starts all N
 * threads at once; their stacks must still count in its RSS at the heap peak, as they do
 * in its baseline. Must never print or allocate outside this pattern (pthread_create's
 * own thread-descriptor callocs aside).
 * Totals without pthread's callocs: N + 1 malloc calls, N + 1 frees, 64 N + 1 MiB bytes,
 * peak 1 MiB (1048576 B) plus what pthread keeps live of its own (a few hundred bytes
 * with glibc 2.36), nothing leaked.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *worker(void *arg) {
  (void)arg;
  free(malloc(64));
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  for (int i = 0; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
      return 1;
  }
  char *p = malloc(1u << 20);
  if (!p)
    return 1;
  memset(p, 1, 1u << 20);
  free(p);
  return 0;
}
