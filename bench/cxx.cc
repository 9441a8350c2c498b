// Workload cxx: C++ container and string churn -- std::vector push_back
// growth, std::string concatenation, std::map / std::unordered_map inserts
// (~11 M events at scale 1). Must never print more than its checksum line.
#include "bench_common.h"

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

const uint64_t kRounds = 42000;  // ~262 events per round at scale 1.0

BENCH_NOINLINE uint64_t vector_growth(bench_lcg &g)
{
    std::vector<uint32_t> v;
    std::vector<std::vector<uint16_t>> nested;
    unsigned n = 1 + bench_next(&g) % 300;
    for (unsigned i = 0; i < n; i++)
        v.push_back(bench_next(&g));
    for (unsigned i = 0; i < 4; i++) {
        nested.emplace_back();
        for (unsigned j = 0; j < 20 + i * 10; j++)
            nested.back().push_back(static_cast<uint16_t>(j * i));
    }
    uint64_t s = v.size() + v.back();
    for (const auto &x : nested)
        s += x.size();
    return s;
}

BENCH_NOINLINE std::string build_string(bench_lcg &g)
{
    static const char *const words[] = {"alloc", "trace", "heap",  "stack",
                                        "frame", "unwind", "event", "block"};
    std::string s;
    unsigned n = 4 + bench_next(&g) % 24;
    for (unsigned i = 0; i < n; i++) {
        // operator+ makes temporaries, += grows the result geometrically.
        s += std::string(words[bench_next(&g) & 7]) + "-" +
             std::to_string(bench_next(&g) % 100000) + "/";
    }
    return s;
}

BENCH_NOINLINE uint64_t ordered_map(bench_lcg &g)
{
    std::map<uint32_t, std::string> m;
    unsigned n = 8 + bench_next(&g) % 32;
    for (unsigned i = 0; i < n; i++) {
        size_t len = 4 + bench_next(&g) % 40;  // some fit the SSO, some don't
        m.emplace(bench_next(&g) % 1000, std::string(len, 'a' + (char)(i % 26)));
    }
    uint64_t s = m.size();
    for (const auto &kv : m)
        s += kv.first + kv.second.size();
    return s;
}

BENCH_NOINLINE uint64_t unordered_map(bench_lcg &g)
{
    std::unordered_map<uint64_t, uint64_t> um;
    unsigned n = 16 + bench_next(&g) % 64;
    for (unsigned i = 0; i < n; i++)
        um[bench_next(&g) % 4096] += i;
    uint64_t s = um.size();
    for (const auto &kv : um)
        s += kv.first ^ kv.second;
    return s;
}

}  // namespace

int main(int argc, char **argv)
{
    uint64_t rounds = bench_scaled(kRounds, bench_scale(argc, argv));
    bench_lcg g = {777};
    std::vector<std::string> keep(1000);  // long-lived strings, replaced over time
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        sum += vector_growth(g);
        std::string s = build_string(g);
        sum += s.size() + static_cast<unsigned char>(s[s.size() / 2]);
        keep[r % keep.size()] = std::move(s);
        sum += ordered_map(g);
        sum += unordered_map(g);
    }
    for (const auto &s : keep)
        sum += s.size();
    bench_checksum("cxx", sum);
    return 0;
}
