// growth_vector: C++ containers that grow by allocate-bigger + copy + free (libstdc++
// never calls realloc), for the growth-chain analysis. No output; exact numbers:
//
//   push_ints       std::vector<int>, 100000 push_back calls: libstdc++ doubles the
//                   capacity from 1 to 131072, so 18 operator new calls of 4, 8, ...,
//                   524288 bytes, each growth moving the old block: one chain of 17
//                   steps, factor 2, 17 moves copying 4 + 8 + ... + 262144 = 524284 B
//   reserved_ints   the same after reserve(100000): one operator new(400000), no chain
//   append_chars    std::string, 1000 push_back calls: past the 15-byte SSO buffer the
//                   capacity doubles 30, 60, ..., 1920 (allocations of capacity + 1 =
//                   31, 61, 121, 241, 481, 961, 1921 bytes): one chain of 6 steps,
//                   6 moves copying 31 + 61 + 121 + 241 + 481 + 961 = 1896 B
#include <string>
#include <vector>

__attribute__((noinline)) static void push_ints() {
  std::vector<int> v;
  for (int i = 0; i < 100000; i++)
    v.push_back(i);
  asm volatile("" : : "r"(v.data()) : "memory");
}

__attribute__((noinline)) static void reserved_ints() {
  std::vector<int> v;
  v.reserve(100000);
  for (int i = 0; i < 100000; i++)
    v.push_back(i);
  asm volatile("" : : "r"(v.data()) : "memory");
}

__attribute__((noinline)) static void append_chars() {
  std::string s;
  for (int i = 0; i < 1000; i++)
    s.push_back(static_cast<char>('a' + i % 26));
  asm volatile("" : : "r"(s.data()) : "memory");
}

int main() {
  push_ints();
  reserved_ints();
  append_chars();
  return 0;
}
