// Workload cxxdeep: C++ allocations at stack depths ~30-60, reached through a
// chain of distinct template instantiations (~4.4 M events at scale 1). Must never
// let the chain be inlined or tail-called, or print besides its checksum line.
#include "bench_common.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

const uint64_t kDescents = 100000;  // ~40 events per descent at scale 1.0

struct Ctx {
    bench_lcg g{99};
    std::vector<std::unique_ptr<std::string>> keep =
        std::vector<std::unique_ptr<std::string>>(512);
    uint64_t n = 0;
};

// Bottom of every chain: a handful of container operations.
BENCH_NOINLINE uint64_t bottom(Ctx &c)
{
    std::vector<std::string> names;
    std::map<unsigned, std::vector<int>> groups;
    unsigned k = 2 + bench_next(&c.g) % 6;
    for (unsigned i = 0; i < k; i++) {
        names.emplace_back(20 + bench_next(&c.g) % 30, 'x');  // past the SSO
        groups[bench_next(&c.g) % 8].push_back(static_cast<int>(i));
    }
    // Replace a long-lived string so some blocks survive many descents.
    c.keep[c.n++ % c.keep.size()] = std::make_unique<std::string>(names.back());
    uint64_t s = names.size() * 131 + groups.size();
    for (const auto &kv : groups)
        s += kv.first * kv.second.size();
    return s;
}

template <int N> struct Level {
    BENCH_NOINLINE static uint64_t run(Ctx &c)
    {
        uint64_t extra = 0;
        if (N % 10 == 5) {
            // An allocation part-way down, so not every event is at the bottom.
            auto v = std::make_unique<std::vector<uint64_t>>(N + 8, N);
            extra = v->size();
        }
        uint64_t r = Level<N - 1>::run(c);
        return r * 3 + extra + N;  // work after the call: no sibling call
    }
};

template <> struct Level<0> {
    BENCH_NOINLINE static uint64_t run(Ctx &c) { return bottom(c) + 1; }
};

BENCH_NOINLINE uint64_t descend(Ctx &c)
{
    switch (bench_next(&c.g) % 3) {
    case 0: return Level<28>::run(c);
    case 1: return Level<43>::run(c);
    default: return Level<58>::run(c);
    }
}

}  // namespace

int main(int argc, char **argv)
{
    uint64_t n = bench_scaled(kDescents, bench_scale(argc, argv));
    Ctx c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum = sum * 7 + descend(c);
    bench_checksum("cxxdeep", sum);
    return 0;
}
