// Workload server (bench/real.sh): a pool of threads serving "requests" the way a C++
// server does: each request goes down a fixed dispatch chain, then a route of handlers
// picked by the request's hash (8 handlers at each of 7 levels: 2 M routes), at whose end
// std::map / std::string / std::vector are built and dropped; some handlers keep a result
// in a per-thread cache for a while. Most routes are taken once or twice, so nearly every
// request allocates from stacks never seen before: ~1.5 M distinct stacks at scale 1.
// Must never let the handler chain be inlined or tail-called, depend on thread timing in
// its checksum, or print besides its checksum line.
#include "bench_common.h"

#include <map>
#include <memory>
#include <pthread.h>
#include <string>
#include <vector>

namespace {

const uint64_t kRequests = 500000;  // per run at scale 1.0, spread over the pool
const int kThreads = 4;
const int kLevels = 7;

struct Ctx {
    bench_lcg g;
    std::vector<std::unique_ptr<std::string>> cache =
        std::vector<std::unique_ptr<std::string>>(1024);
    uint64_t n = 0, sum = 0;
};

template <int K> BENCH_NOINLINE uint64_t handler(uint64_t route, int level, Ctx &c);

// The end of a route: the request's own containers, built and dropped.
BENCH_NOINLINE uint64_t respond(uint64_t route, Ctx &c)
{
    std::map<std::string, std::string> headers;
    unsigned k = 1 + bench_next(&c.g) % 3;
    for (unsigned i = 0; i < k; i++)
        headers.emplace(std::string(17 + i, 'h'), std::string(20 + k, 'v'));
    std::string body(24 + bench_next(&c.g) % 64, 'b');
    body += std::to_string(route);
    std::vector<uint32_t> ids;
    for (unsigned i = 0; i < k * 3; i++)
        ids.push_back(i);
    return headers.size() + headers.begin()->second.size() + body.size() + ids.size();
}

// The next handler on the route: each case is its own call site, so every route is a
// distinct stack.
BENCH_NOINLINE uint64_t next(uint64_t route, int level, Ctx &c)
{
    if (level == kLevels)
        return respond(route, c);
    uint64_t r = route >> 3;
    switch (route & 7) {
    case 0: return handler<0>(r, level + 1, c) + 1;
    case 1: return handler<1>(r, level + 1, c) + 2;
    case 2: return handler<2>(r, level + 1, c) + 3;
    case 3: return handler<3>(r, level + 1, c) + 4;
    case 4: return handler<4>(r, level + 1, c) + 5;
    case 5: return handler<5>(r, level + 1, c) + 6;
    case 6: return handler<6>(r, level + 1, c) + 7;
    default: return handler<7>(r, level + 1, c) + 8;
    }
}

// One of 8 handlers; one in four of them keeps a result in the cache for a while.
template <int K> BENCH_NOINLINE uint64_t handler(uint64_t route, int level, Ctx &c)
{
    uint64_t s = next(route, level, c);
    if ((K + level) % 4 == 3) {
        auto r = std::make_unique<std::string>(32 + K * 4, char('A' + level));
        s += r->size();
        c.cache[c.n++ % c.cache.size()] = std::move(r);
    }
    return s * 31 + K;
}

// A fixed dispatch chain above the handlers (accept, parse, route), as a server has.
template <int D> struct Dispatch {
    BENCH_NOINLINE static uint64_t run(uint64_t route, Ctx &c)
    {
        return Dispatch<D - 1>::run(route, c) * 3 + D;
    }
};
template <> struct Dispatch<0> {
    BENCH_NOINLINE static uint64_t run(uint64_t route, Ctx &c) { return next(route, 0, c); }
};

struct Worker {
    pthread_t t;
    uint64_t first, count, sum;
};

void *work(void *arg)
{
    Worker *w = static_cast<Worker *>(arg);
    Ctx c;
    c.g.s = w->first * 2654435761u + 7;
    for (uint64_t i = w->first; i < w->first + w->count; i++) {
        uint64_t route = (i * 0x9E3779B97F4A7C15ull) >> 40; // 24 bits: 8^7 routes + spare
        c.sum += Dispatch<12>::run(route, c);
    }
    w->sum = c.sum;
    return nullptr;
}

} // namespace

int main(int argc, char **argv)
{
    uint64_t total = bench_scaled(kRequests, bench_scale(argc, argv));
    Worker w[kThreads];
    for (int i = 0; i < kThreads; i++) {
        w[i].first = total / kThreads * i;
        w[i].count = i == kThreads - 1 ? total - w[i].first : total / kThreads;
        if (pthread_create(&w[i].t, nullptr, work, &w[i]) != 0)
            return 1;
    }
    uint64_t sum = 0;
    for (int i = 0; i < kThreads; i++) {
        pthread_join(w[i].t, nullptr);
        sum = sum * 1000003 + w[i].sum;
    }
    bench_checksum("server", sum);
    return 0;
}
