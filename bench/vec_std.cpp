// vec_std.cpp -- the std::vector side of bench/special.c's vector benchmark:
// n push_back calls on an empty std::vector<int> (reserved or not), timed here so
// that the C side does not need to know C++.  operator new is libc's
// malloc: the benchmark is not linked with warden's override.
#include <chrono>
#include <cstddef>
#include <vector>

extern "C" double bench_std_vector_push(std::size_t n, int reserve, long long *sum);

extern "C" double bench_std_vector_push(std::size_t n, int reserve, long long *sum) {
    std::vector<int> v;
    if (reserve)
        v.reserve(n);
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; i++)
        v.push_back(static_cast<int>(i & 0xffff));
    auto t1 = std::chrono::steady_clock::now();
    long long s = 0;
    for (int x : v)
        s += x;
    *sum = s;
    double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    return n ? ns / static_cast<double>(n) : 0;
}
