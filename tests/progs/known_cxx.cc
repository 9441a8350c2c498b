/* known_cxx: a C++ program whose allocations are known exactly, through every operator
 * new/delete variant, std::vector growth, std::string, a thrown exception and a
 * bad_alloc. Tests compare the decoded trace with the numbers below. Prints one line
 * (with write(2): stdio would allocate a buffer) whose checksum depends on the data, so
 * a test can check the traced run behaves exactly like the untraced one.
 *
 *   known_cxx          everything below, then "known_cxx checksum=<n> ..." and exit 0
 *   known_cxx none     nothing but the line (the libstdc++ start-up allocations only)
 *
 * Widget is 48 B, Cache 192 B aligned 64, Page 512 B aligned 256 (all trivially
 * destructible, so new[] has no array cookie). Call sites (function: calls):
 *   make_widgets(int)   6 x new Widget                    6 x operator new 48 B
 *   free_widgets()      5 deleted (sized delete), widgets[5] is never freed: leaked 48 B
 *   make_arrays()       new int[100] 400 B, new Widget[3] 144 B      2 x operator new[]
 *                       ::operator new(24)  -> ::operator delete(p)          (unsized)
 *                       ::operator new[](1000) -> ::operator delete[](p, 1000) (sized)
 *                       then delete[] both arrays
 *   nothrow_allocs()    new (nothrow) Widget 48 B (operator new), new (nothrow) int[10]
 *                       40 B (operator new[]), freed with the nothrow deletes
 *   aligned_allocs()    new Cache 192/64 (operator new(align)), new Page[2] 1024/256
 *                       (operator new[](align)), ::operator new(100, 64, nothrow),
 *                       ::operator new[](300, 256, nothrow),
 *                       ::operator new(64, 64), ::operator new[](512, 256); freed through
 *                       all six aligned deletes (sized, unsized, nothrow)
 *   grow_vector()       std::vector<int> push_back x 100: 8 x operator new of 4, 8, 16,
 *                       32, 64, 128, 256, 512 B (capacity doubling), all freed
 *   make_strings()      std::string(100,'x') 101 B; std::string(50,'y') 51 B; append ->
 *                       201 B (capacity doubles to 200), 101 freed; then 51, 201 freed.
 *                       new std::string(40,'z'): 32 B object + 41 B buffer, leaked
 *   throw_and_catch()   throw Oops{7}: one malloc by __cxa_allocate_exception (thrown
 *                       size 4 + the ABI header), freed when the catch ends
 *   huge_new()          new char[2^62]: the malloc inside fails (a failed operator new[]
 *                       of 2^62 B); bad_alloc is thrown: one malloc for the exception
 *                       object (8 B + header), freed when caught.
 *                       new (nothrow) char[2^62]: likewise a failed operator new[] of 2^62
 *                       and one exception object (thrown and caught inside libstdc++),
 *                       returns nullptr
 *   build_peak()        new char[1 MiB] and ::operator new(64 KiB, 256) live together
 * Program totals (what the trace holds beyond `known_cxx none`, whose only allocation is
 * libstdc++'s emergency exception pool, live to the end):
 *   36 allocations: 21 operator new (6 widgets, 24, nothrow 48, 8 vector, 5 string),
 *   5 operator new[] (400, 144, 1000, 40, 1 MiB), 4 operator new(align) (192/64, 100/64,
 *   64/64, 64 KiB/256), 3 operator new[](align) (1024/256, 300/256, 512/256), 3 malloc
 *   (the exception objects: thrown size + the 128-byte __cxa_refcounted_exception header
 *   of the x86-64 C++ ABI: 132, 136, 136); 2 failed operator new[] of 2^62 B.
 *   33 frees; allocated 1120098 B; leaked 121 B in 3 blocks (widget 48, string 32 + 41);
 *   peak 1114233 B above the pool (the 121 leaked + 1 MiB + 64 KiB in build_peak);
 *   7 temporary (heaptrack's definition: operator new(24), new[](1000), the 64 KiB block,
 *   the three exception objects, and the first widget, whose site is the latest's).
 */
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <unistd.h>
#include <vector>

struct Widget {
  long v[6];
};
struct alignas(64) Cache {
  char b[192];
};
struct alignas(256) Page {
  char b[512];
};
struct Oops {
  int code;
};

static unsigned long checksum;
static Widget *widgets[6];
static std::string *kept;

static void mix(const void *p, size_t n) {
  const unsigned char *c = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++)
    checksum = checksum * 31 + c[i];
}

/* keeps the compiler from eliding a new/delete pair */
static void touch(void *p, size_t n, int v) {
  memset(p, v, n);
  __asm__ volatile("" : : "r"(p) : "memory");
  mix(p, n < 8 ? n : 8);
}

__attribute__((noinline)) void make_widgets(int n) {
  for (int i = 0; i < n; i++) {
    widgets[i] = new Widget;
    touch(widgets[i], sizeof(Widget), i);
  }
}

__attribute__((noinline)) void free_widgets() {
  for (int i = 0; i < 5; i++)
    delete widgets[i];
}

__attribute__((noinline)) void make_arrays() {
  int *ints = new int[100];
  touch(ints, 400, 1);
  Widget *ws = new Widget[3];
  touch(ws, sizeof(Widget) * 3, 2);
  void *p = ::operator new(24);
  touch(p, 24, 3);
  ::operator delete(p);
  void *q = ::operator new[](1000);
  touch(q, 1000, 4);
  ::operator delete[](q, 1000);
  delete[] ints;
  delete[] ws;
}

__attribute__((noinline)) void nothrow_allocs() {
  Widget *w = new (std::nothrow) Widget;
  touch(w, sizeof(Widget), 5);
  int *a = new (std::nothrow) int[10];
  touch(a, 40, 6);
  ::operator delete(w, std::nothrow);
  ::operator delete[](a, std::nothrow);
}

__attribute__((noinline)) void aligned_allocs() {
  Cache *c = new Cache;
  touch(c, sizeof(Cache), 7);
  Page *pg = new Page[2];
  touch(pg, sizeof(Page) * 2, 8);
  void *a = ::operator new(100, std::align_val_t(64), std::nothrow);
  touch(a, 100, 9);
  void *b = ::operator new[](300, std::align_val_t(256), std::nothrow);
  touch(b, 300, 10);
  void *d = ::operator new(64, std::align_val_t(64));
  touch(d, 64, 11);
  void *e = ::operator new[](512, std::align_val_t(256));
  touch(e, 512, 12);
  checksum += ((uintptr_t)c & 63) + ((uintptr_t)pg & 255) + ((uintptr_t)a & 63) +
              ((uintptr_t)b & 255) + ((uintptr_t)d & 63) + ((uintptr_t)e & 255);
  ::operator delete(c, sizeof(Cache), std::align_val_t(64));
  ::operator delete[](pg, std::align_val_t(256));
  ::operator delete(a, std::align_val_t(64), std::nothrow);
  ::operator delete[](b, std::align_val_t(256), std::nothrow);
  ::operator delete(d, std::align_val_t(64));
  ::operator delete[](e, 512, std::align_val_t(256));
}

__attribute__((noinline)) void grow_vector() {
  std::vector<int> v;
  for (int i = 0; i < 100; i++)
    v.push_back(i * 3);
  for (int x : v)
    checksum += (unsigned)x;
}

__attribute__((noinline)) void make_strings() {
  std::string s(100, 'x');
  std::string t(50, 'y');
  s += t;
  mix(s.data(), s.size());
  kept = new std::string(40, 'z');
  mix(kept->data(), kept->size());
}

__attribute__((noinline)) void throw_and_catch() {
  try {
    if (checksum != 1) /* always true: keeps the throw out of the compiler's reach */
      throw Oops{7};
  } catch (const Oops &o) {
    checksum += (unsigned)o.code;
  }
}

__attribute__((noinline)) void huge_new() {
  volatile size_t huge = (size_t)1 << 62;
  try {
    char *p = new char[huge];
    checksum += (uintptr_t)p; /* not reached */
  } catch (const std::bad_alloc &) {
    checksum += 1000;
  }
  char *q = new (std::nothrow) char[huge];
  checksum += q == nullptr ? 2000 : 1;
}

__attribute__((noinline)) void build_peak() {
  char *big = new char[1 << 20];
  touch(big, 1 << 20, 13);
  void *al = ::operator new(64 * 1024, std::align_val_t(256));
  touch(al, 64 * 1024, 14);
  ::operator delete(al, std::align_val_t(256));
  delete[] big;
}

int main(int argc, char **argv) {
  if (!(argc > 1 && strcmp(argv[1], "none") == 0)) {
    make_widgets(6);
    free_widgets();
    make_arrays();
    nothrow_allocs();
    aligned_allocs();
    grow_vector();
    make_strings();
    throw_and_catch();
    huge_new();
    build_peak();
  }
  char line[128];
  int n = snprintf(line, sizeof(line), "known_cxx checksum=%lu\n", checksum);
  ssize_t w = write(1, line, (size_t)n);
  return w == n ? 0 : 1;
}
