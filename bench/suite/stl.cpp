// stl -- a C++ STL workload: std::map, std::unordered_map, std::string.
//
// What it stresses: what C++ programs do to an allocator through operator
// new/delete: red-black tree nodes keyed by heap strings (longer than the
// small-string buffer), hash nodes and bucket arrays that rehash, strings that
// grow by appending, and a vector of strings sorted and joined now and then.
// Both containers are held near 50,000 entries, so nodes churn.
//
// usage: stl [ROUNDS]   (default 2000000; ops = rounds)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next()
    {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

std::string make_key(Rng &r, size_t lo, size_t hi)
{
    size_t len = lo + r.below(hi - lo);
    std::string s;
    for (size_t i = 0; i < len; i++)
        s.push_back(static_cast<char>('a' + r.below(26)));
    return s;
}

const size_t kCap = 50000;

}  // namespace

int main(int argc, char **argv)
{
    size_t rounds = 2000000;
    if (argc > 1) {
        char *end;
        unsigned long long v = std::strtoull(argv[1], &end, 10);
        if (*end != '\0' || v == 0 || argv[1][0] == '-') {
            std::fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
            return 2;
        }
        rounds = static_cast<size_t>(v);
    }
    Rng r(77);
    std::map<std::string, uint64_t> tree;
    std::unordered_map<uint64_t, std::string> hash;
    uint64_t check = 0;

    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < rounds; i++) {
        tree[make_key(r, 16, 40)] += i;
        if (tree.size() > kCap) {
            auto it = tree.lower_bound(make_key(r, 1, 3));
            if (it == tree.end())
                it = tree.begin();
            check += it->second;
            tree.erase(it);
        }

        uint64_t k = r.next() % (2 * kCap);
        auto h = hash.find(k);
        if (h != hash.end()) {
            check += h->second.size();
            if (r.below(2) == 0)
                hash.erase(h);
            else
                h->second += make_key(r, 1, 20);
        } else {
            hash.emplace(k, make_key(r, 16, 200));
        }

        if (i % 1000 == 999) {
            std::vector<std::string> v;
            for (size_t j = 0; j < 1000; j++)
                v.push_back(make_key(r, 4, 60));
            std::sort(v.begin(), v.end());
            std::string joined;
            for (const auto &s : v) {
                joined += s;
                joined += ',';
            }
            check += joined.size();
            if (hash.size() > kCap)
                hash.clear();
        }
    }
    std::chrono::duration<double> secs = std::chrono::steady_clock::now() - t0;

    std::fprintf(stderr, "stl: %zu tree, %zu hash entries, checksum %llx\n", tree.size(),
                 hash.size(), static_cast<unsigned long long>(check));
    std::printf("result: stl %.0f ops/s\n", static_cast<double>(rounds) / secs.count());
    return 0;
}
