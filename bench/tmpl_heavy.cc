// Input of bench/real.sh's compiler workload: a template-heavy translation unit that
// makes clang++/g++ allocate the way real C++ builds do (<regex>, <map>, <variant>,
// recursive templates, many distinct instantiations). Only ever compiled, never run.
// TH_N (default 4) sets how many instantiation families are generated: compile time
// grows about linearly with it (clang++-14 -O2 here: ~3.7 s plus ~1.5 s per family;
// TH_N=4 makes ~8.4 M allocation calls).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#ifndef TH_N
#define TH_N 4
#endif

namespace th {

// A compile-time type list walked recursively: every element instantiates containers,
// algorithms and a regex of its own.
template <int I> struct Key {
    int v = I;
    std::string s = std::string(I % 7 + 1, char('a' + I % 26));
    bool operator<(const Key &o) const { return std::tie(v, s) < std::tie(o.v, o.s); }
    bool operator==(const Key &o) const { return v == o.v && s == o.s; }
};

template <int I> struct KeyHash {
    size_t operator()(const Key<I> &k) const { return std::hash<std::string>()(k.s) ^ k.v; }
};

template <int I> using Val = std::variant<int, double, std::string, std::vector<Key<I>>>;

template <int I> struct Family {
    using Map = std::map<Key<I>, Val<I>>;
    using Hash = std::unordered_map<Key<I>, std::vector<Val<I>>, KeyHash<I>>;
    using Multi = std::multimap<std::string, std::tuple<Key<I>, int, double>>;

    static size_t run(const std::string &text)
    {
        Map m;
        Hash h;
        Multi mm;
        std::set<std::pair<int, std::string>> seen;
        std::regex re("([a-z]+)_(" + std::to_string(I) + ")[[:digit:]]*");
        std::smatch sm;
        size_t n = 0;
        for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
             it != std::sregex_iterator(); ++it) {
            Key<I> k;
            k.s = (*it)[1];
            m[k] = std::string((*it)[2]);
            h[k].push_back(Val<I>(static_cast<int>(n)));
            mm.emplace(k.s, std::make_tuple(k, I, 1.5 * n));
            seen.emplace(I, k.s);
            n++;
        }
        if (std::regex_search(text, sm, re))
            n += sm.size();
        std::vector<std::pair<Key<I>, Val<I>>> flat(m.begin(), m.end());
        std::stable_sort(flat.begin(), flat.end(), [](const auto &a, const auto &b) {
            return std::visit(
                [](const auto &x, const auto &y) {
                    using X = std::decay_t<decltype(x)>;
                    using Y = std::decay_t<decltype(y)>;
                    if constexpr (std::is_same_v<X, Y> && !std::is_same_v<X, std::vector<Key<I>>>)
                        return x < y;
                    else
                        return sizeof(X) < sizeof(Y);
                },
                a.second, b.second);
        });
        std::ostringstream os;
        for (const auto &kv : flat)
            std::visit([&](const auto &x) {
                using X = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<X, std::vector<Key<I>>>)
                    os << x.size();
                else
                    os << x;
            }, kv.second);
        std::function<size_t(size_t)> f = [&](size_t x) { return x + h.size() + mm.count("a"); };
        return f(n) + os.str().size() + seen.size() +
               std::accumulate(flat.begin(), flat.end(), size_t{0},
                               [](size_t s, const auto &kv) { return s + kv.first.s.size(); });
    }
};

// Recursion over the families, plus a compile-time computation deep enough to make the
// front end allocate for every level.
template <int I> struct Walk {
    static size_t run(const std::string &t) { return Family<I>::run(t) + Walk<I - 1>::run(t); }
};
template <> struct Walk<0> {
    static size_t run(const std::string &) { return 0; }
};

template <int N, int... Acc> struct Seq : Seq<N - 1, N, Acc...> {};
template <int... Acc> struct Seq<0, Acc...> {
    static constexpr int sum = (0 + ... + Acc);
    static std::tuple<Key<Acc>...> make() { return {}; }
};

template <typename Tuple, size_t... Is>
size_t tuple_len(const Tuple &t, std::index_sequence<Is...>)
{
    return (std::get<Is>(t).s.size() + ... + size_t{0});
}

}  // namespace th

size_t th_entry(const std::string &text)
{
    auto keys = th::Seq<TH_N>::make();
    return th::Walk<TH_N>::run(text) + th::Seq<TH_N>::sum +
           th::tuple_len(keys, std::make_index_sequence<TH_N>{});
}
