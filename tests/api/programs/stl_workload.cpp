// stl_workload.cpp -- a deterministic C++ STL workload (~1e6 container
// operations) printing checksums.  Built as a plain executable, NOT linked
// with warden: program_stl runs it once without and once with libwarden.so
// preloaded (operator new/delete and malloc then come from warden) and
// compares the two stdouts.  Nothing printed depends on addresses or timing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

struct Rng { // a 64-bit LCG: the same stream everywhere
    std::uint64_t s;
    explicit Rng(std::uint64_t seed) : s(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
    std::uint32_t next() {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>(s >> 33);
    }
};

std::uint64_t fnv(const std::string &s, std::uint64_t h = 1469598103934665603ULL) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

void maps() {
    Rng r(1);
    std::map<int, std::string> m;
    for (int i = 0; i < 200000; i++) {
        int k = static_cast<int>(r.next() % 500000);
        m[k] += std::to_string(i % 1000);
        if (i % 7 == 0)
            m.erase(static_cast<int>(r.next() % 500000));
    }
    std::uint64_t h = 0;
    std::size_t total = 0;
    for (const auto &kv : m) {
        h = mix(h, static_cast<std::uint64_t>(kv.first));
        h = mix(h, fnv(kv.second));
        total += kv.second.size();
    }
    auto lo = m.lower_bound(100000), hi = m.upper_bound(200000);
    std::printf("map: %zu %zu %016llx %ld\n", m.size(), total, static_cast<unsigned long long>(h),
                static_cast<long>(std::distance(lo, hi)));

    std::multimap<std::string, int> mm;
    for (int i = 0; i < 60000; i++)
        mm.emplace("key" + std::to_string(r.next() % 5000), i);
    std::uint64_t h2 = 0;
    for (const auto &kv : mm)
        h2 = mix(h2, fnv(kv.first) ^ static_cast<std::uint64_t>(kv.second));
    std::printf("multimap: %zu %zu %016llx\n", mm.size(), mm.count("key42"),
                static_cast<unsigned long long>(h2));
}

void unordered() {
    Rng r(2);
    std::unordered_map<std::string, int> um;
    for (int i = 0; i < 200000; i++) {
        std::string k = "k" + std::to_string(r.next() % 150000) + "-" + std::to_string(i % 13);
        um[k] += i;
        if (i % 5 == 0)
            um.erase("k" + std::to_string(r.next() % 150000) + "-" + std::to_string(i % 13));
    }
    // iteration order of unordered containers is stable for a given library
    // and insertion sequence, but sum/xor it anyway: order-independent.
    std::uint64_t sum = 0, x = 0;
    for (const auto &kv : um) {
        sum += static_cast<std::uint64_t>(kv.second);
        x ^= fnv(kv.first) * static_cast<std::uint64_t>(kv.second + 1);
    }
    std::unordered_set<std::uint32_t> us;
    for (int i = 0; i < 150000; i++)
        us.insert(r.next() % 100000);
    um.rehash(0);
    std::printf("unordered_map: %zu %llu %016llx set %zu\n", um.size(),
                static_cast<unsigned long long>(sum), static_cast<unsigned long long>(x), us.size());
}

void vectors_and_sort() {
    Rng r(3);
    std::vector<std::uint32_t> v;
    for (int i = 0; i < 400000; i++)
        v.push_back(r.next());
    std::vector<std::uint32_t> w(v);
    std::sort(v.begin(), v.end());
    std::stable_sort(w.begin(), w.end(), [](std::uint32_t a, std::uint32_t b) { return a % 1000 < b % 1000; });
    std::vector<std::string> strs;
    strs.reserve(100000);
    for (int i = 0; i < 100000; i++)
        strs.push_back(std::to_string(r.next()) + "/" + std::to_string(i));
    std::sort(strs.begin(), strs.end());
    auto last = std::unique(v.begin(), v.end());
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < w.size(); i += 97)
        h = mix(h, w[i]);
    for (std::size_t i = 0; i < strs.size(); i += 101)
        h = mix(h, fnv(strs[i]));
    std::vector<std::vector<int>> nested(2000);
    for (int i = 0; i < 200000; i++)
        nested[static_cast<std::size_t>(i) % nested.size()].push_back(i);
    long long nsum = 0;
    for (auto &n : nested) {
        n.shrink_to_fit();
        nsum += std::accumulate(n.begin(), n.end(), 0LL);
    }
    std::printf("sort: %u %u %ld %016llx %s %lld\n", v.front(), v[v.size() / 2],
                static_cast<long>(last - v.begin()), static_cast<unsigned long long>(h),
                strs.front().c_str(), nsum);
}

void strings() {
    std::string s;
    for (int i = 0; i < 100000; i++) {
        s += std::to_string(i * 7 % 1009);
        s.push_back(',');
    }
    std::string t = s;
    std::reverse(t.begin(), t.end());
    std::size_t pos = 0, count = 0;
    while ((pos = s.find("100", pos)) != std::string::npos) {
        count++;
        pos++;
    }
    std::ostringstream os;
    for (int i = 0; i < 50000; i++)
        os << i << ':' << (i * 0.5) << ';';
    std::string o = os.str();
    std::vector<std::string> parts;
    std::istringstream is(o);
    for (std::string part; std::getline(is, part, ';');)
        parts.push_back(part);
    std::string joined;
    for (const auto &p : parts)
        joined += p.substr(0, p.find(':'));
    std::printf("string: %zu %016llx %016llx %zu %zu %zu %016llx\n", s.size(),
                static_cast<unsigned long long>(fnv(s)), static_cast<unsigned long long>(fnv(t)), count,
                o.size(), parts.size(), static_cast<unsigned long long>(fnv(joined)));
}

struct Node {
    int id;
    std::vector<std::shared_ptr<Node>> children;
    std::weak_ptr<Node> parent;
    std::string label;
};

void shared_ptrs() {
    Rng r(4);
    std::vector<std::shared_ptr<Node>> all;
    auto root = std::make_shared<Node>();
    root->id = 0;
    all.push_back(root);
    for (int i = 1; i < 100000; i++) {
        auto n = std::make_shared<Node>();
        n->id = i;
        n->label = "node" + std::to_string(i);
        auto &p = all[r.next() % all.size()];
        n->parent = p;
        p->children.push_back(n);
        all.push_back(n);
    }
    // drop every other external reference, then walk from the root
    for (std::size_t i = 1; i < all.size(); i += 2)
        all[i].reset();
    std::uint64_t h = 0;
    std::size_t nodes = 0, depth_sum = 0;
    std::function<void(const std::shared_ptr<Node> &, std::size_t)> walk =
        [&](const std::shared_ptr<Node> &n, std::size_t depth) {
            nodes++;
            depth_sum += depth;
            h = mix(h, static_cast<std::uint64_t>(n->id) * 31 + n->children.size());
            for (const auto &c : n->children)
                walk(c, depth + 1);
        };
    walk(root, 0);
    long alive_parents = 0;
    for (const auto &n : all)
        if (n && !n->parent.expired())
            alive_parents++;
    std::vector<std::unique_ptr<std::string>> uniq;
    for (int i = 0; i < 100000; i++)
        uniq.push_back(std::make_unique<std::string>(static_cast<std::size_t>(i % 200), 'a'));
    std::size_t ulen = 0;
    for (const auto &u : uniq)
        ulen += u->size();
    std::printf("shared_ptr: %zu %zu %016llx %ld %zu\n", nodes, depth_sum,
                static_cast<unsigned long long>(h), alive_parents, ulen);
    // the tree is freed here, recursively, when root and all go
}

void lists_and_deques() {
    std::list<int> l;
    std::deque<int> d;
    for (int i = 0; i < 200000; i++) {
        if (i % 3 == 0)
            l.push_front(i);
        else
            l.push_back(i);
        d.push_back(i);
        if (i % 4 == 0) {
            d.pop_front();
            d.push_front(-i);
        }
    }
    l.sort();
    l.remove_if([](int v) { return v % 5 == 0; });
    std::set<int> s(l.begin(), l.end());
    long long ls = std::accumulate(l.begin(), l.end(), 0LL);
    long long ds = std::accumulate(d.begin(), d.end(), 0LL);
    std::printf("list: %zu %lld deque: %zu %lld set: %zu %d\n", l.size(), ls, d.size(), ds, s.size(),
                *s.rbegin());
}

// Producer/consumer threads: blocks are allocated in one thread and freed in
// another, which is the case a thread-caching allocator must get right.
void threads() {
    const int kWorkers = 4;
    std::vector<std::uint64_t> results(kWorkers, 0);
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::unique_ptr<std::vector<std::string>>> queue;
    bool done = false;
    std::uint64_t consumed = 0;
    std::size_t consumed_items = 0;

    std::thread consumer([&] {
        for (;;) {
            std::unique_ptr<std::vector<std::string>> batch;
            {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [&] { return !queue.empty() || done; });
                if (queue.empty())
                    return;
                batch = std::move(queue.front());
                queue.pop_front();
            }
            for (const auto &s : *batch)
                consumed += fnv(s); // sum: independent of arrival order
            consumed_items += batch->size();
        }
    });
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; w++) {
        workers.emplace_back([&, w] {
            Rng r(100 + static_cast<std::uint64_t>(w));
            std::map<std::uint32_t, std::string> local;
            std::uint64_t h = 0;
            for (int i = 0; i < 30000; i++) {
                std::uint32_t k = r.next() % 20000;
                local[k] = std::string(k % 61 + 1, static_cast<char>('a' + w));
                if (i % 100 == 99) {
                    auto batch = std::make_unique<std::vector<std::string>>();
                    for (int j = 0; j < 100; j++)
                        batch->push_back("w" + std::to_string(w) + "-" + std::to_string(i) + "-" +
                                         std::to_string(j));
                    std::lock_guard<std::mutex> lock(mu);
                    queue.push_back(std::move(batch));
                    cv.notify_one();
                }
            }
            for (const auto &kv : local)
                h = mix(h, kv.first ^ fnv(kv.second));
            results[static_cast<std::size_t>(w)] = h;
        });
    }
    for (auto &t : workers)
        t.join();
    {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
    }
    cv.notify_all();
    consumer.join();
    for (int w = 0; w < kWorkers; w++)
        std::printf("thread%d: %016llx\n", w, static_cast<unsigned long long>(results[static_cast<std::size_t>(w)]));
    std::printf("consumer: %zu %016llx\n", consumed_items, static_cast<unsigned long long>(consumed));
}

} // namespace

int main() {
    for (int round = 1; round <= 3; round++) { // the same work thrice: reuse of freed memory
        std::printf("round %d\n", round);
        maps();
        unordered();
        vectors_and_sort();
        strings();
        shared_ptrs();
        lists_and_deques();
        threads();
    }
    std::printf("done\n");
    return 0;
}
