/* demo: the bundled example the README's first command traces. A small word-frequency
 * program with the patterns alloctrace reports: a hash table that grows by doubling, a
 * line buffer grown by realloc, temporary strings, a cache that leaks, and two threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  char *word;
  unsigned count;
  struct entry *next;
} entry_t;

typedef struct {
  entry_t **buckets;
  size_t nbuckets, size;
} table_t;

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

__attribute__((noinline)) static void table_grow(table_t *t) {
  size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
  entry_t **b = calloc(n, sizeof(*b));
  for (size_t i = 0; i < t->nbuckets; i++)
    for (entry_t *e = t->buckets[i], *next; e; e = next) {
      next = e->next;
      size_t j = hash(e->word) & (n - 1);
      e->next = b[j];
      b[j] = e;
    }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
}

__attribute__((noinline)) static void table_add(table_t *t, const char *w) {
  if (t->size >= t->nbuckets)
    table_grow(t);
  size_t j = hash(w) & (t->nbuckets - 1);
  for (entry_t *e = t->buckets[j]; e; e = e->next)
    if (strcmp(e->word, w) == 0) {
      e->count++;
      return;
    }
  entry_t *e = malloc(sizeof(*e));
  e->word = strdup(w);
  e->count = 1;
  e->next = t->buckets[j];
  t->buckets[j] = e;
  t->size++;
}

__attribute__((noinline)) static char *make_word(unsigned i) {
  char *tmp = malloc(32); /* temporary: formatted, copied, freed */
  snprintf(tmp, 32, "w%u", (i * 7919u) % 5000u);
  char *w = strdup(tmp);
  free(tmp);
  return w;
}

__attribute__((noinline)) static char *read_line(unsigned n) {
  size_t cap = 8, len = 0;
  char *buf = malloc(cap);
  for (unsigned i = 0; i < n; i++) {
    if (len + 1 >= cap) {
      cap *= 2;
      buf = realloc(buf, cap);
    }
    buf[len++] = (char)('a' + i % 26);
  }
  buf[len] = 0;
  return buf;
}

static void *cache[200];
__attribute__((noinline)) static void cache_put(unsigned i) {
  cache[i % 200] = malloc(100 + i % 50); /* overwritten slots leak */
}

static void *worker(void *arg) {
  table_t *t = arg;
  for (unsigned i = 0; i < 20000; i++) {
    char *w = make_word(i);
    table_add(t, w);
    free(w);
    if (i % 50 == 0)
      cache_put(i);
  }
  return NULL;
}

int main(void) {
  table_t a = {0}, b = {0};
  pthread_t th;
  pthread_create(&th, NULL, worker, &b);
  worker(&a);
  pthread_join(th, NULL);
  char *line = read_line(100000);
  printf("words: %zu + %zu, line %zu bytes\n", a.size, b.size, strlen(line));
  free(line);
  return 0;
}
