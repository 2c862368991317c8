// tests/api/test_cxx.cpp -- warden behind C++'s operator new and delete: every
// replaceable form (plain, array, nothrow, aligned, sized, aligned sized),
// std::bad_alloc and the new_handler protocol on failure, and standard
// containers running on it.
//
// Built twice, like test_api.c: cxx_static (linked with libwarden.a,
// WD_API_STATIC, -rdynamic) and cxx_preload (nothing of warden linked, run
// with LD_PRELOAD=libwarden.so).  It first proves that the operators in use
// are warden's, and fails when they are not.
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <warden.h>

#include "test.h"

namespace {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * 1024;

inline size_t hide(size_t x) {
    __asm__ volatile("" : "+r"(x));
    return x;
}
inline void escape(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }
inline bool aligned(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

void (*p_stats_get)(wd_stats_t *);

void *must_sym(const char *name) {
    void *s = dlsym(RTLD_DEFAULT, name);
    if (!s) {
        fprintf(stderr, "FAIL: symbol %s not found: warden is not the allocator in use "
                        "(cxx_static must be linked with libwarden.a and -rdynamic, "
                        "cxx_preload run with LD_PRELOAD=libwarden.so)\n", name);
        exit(1);
    }
    return s;
}

size_t live_bytes() {
    wd_stats_t s;
    p_stats_get(&s);
    return s.live_bytes;
}

void check_identity() {
#ifdef WD_API_STATIC
    p_stats_get = wd_stats_get;
#else
    p_stats_get = reinterpret_cast<void (*)(wd_stats_t *)>(must_sym("wd_stats_get"));
#endif
    Dl_info want, got;
    CHECK(dladdr(must_sym("wd_malloc"), &want) != 0);
    // Every replaceable allocation and deallocation function of C++17 but
    // the nothrow forms of new: warden leaves those to libstdc++, whose
    // nothrow new calls the throwing form (warden's) inside try/catch --
    // what [new.delete.single] asks -- so their memory is checked below.
    static const char *const names[] = {
        "_Znwm",           // operator new(size_t)
        "_Znam",           // operator new[](size_t)
        "_ZnwmSt11align_val_t",
        "_ZnamSt11align_val_t",
        "_ZdlPv",          // operator delete(void *)
        "_ZdaPv",
        "_ZdlPvm",         // sized
        "_ZdaPvm",
        "_ZdlPvSt11align_val_t",
        "_ZdaPvSt11align_val_t",
        "_ZdlPvmSt11align_val_t",
        "_ZdaPvmSt11align_val_t",
        "_ZdlPvRKSt9nothrow_t",
        "_ZdaPvRKSt9nothrow_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t",
        "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    };
    for (const char *name : names) {
        void *s = must_sym(name);
        if (dladdr(s, &got) == 0 || got.dli_fbase != want.dli_fbase) {
            fprintf(stderr, "FAIL: %s resolves to %s, not to warden's object %s\n", name,
                    got.dli_fname ? got.dli_fname : "?", want.dli_fname ? want.dli_fname : "?");
            exit(1);
        }
    }
    // operator new's memory is accounted by warden
    size_t before = live_bytes();
    void *p = ::operator new(hide(MiB));
    memset(p, 1, MiB);
    CHECK(live_bytes() >= before + MiB);
    CHECK(malloc_usable_size(p) >= MiB);
    ::operator delete(p);
    CHECK(live_bytes() <= before); // fell back
    // The nothrow forms hand out warden's memory too.
    void *nt[4] = {::operator new(hide(MiB), std::nothrow), ::operator new[](hide(MiB), std::nothrow),
                   ::operator new(hide(MiB), std::align_val_t(4096), std::nothrow),
                   ::operator new[](hide(MiB), std::align_val_t(4096), std::nothrow)};
    for (void *q : nt) {
        CHECK(q != nullptr);
        memset(q, 2, MiB);
    }
    CHECK(live_bytes() >= before + 4 * MiB);
    ::operator delete(nt[0], std::nothrow);
    ::operator delete[](nt[1], std::nothrow);
    ::operator delete(nt[2], std::align_val_t(4096), std::nothrow);
    ::operator delete[](nt[3], std::align_val_t(4096), std::nothrow);
    CHECK(live_bytes() <= before);
    printf("ok: operator new/delete are warden's (%s)\n", want.dli_fname ? want.dli_fname : "?");
}

unsigned char pat(uint64_t key, size_t i) {
    uint64_t x = key ^ (static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    return static_cast<unsigned char>(x >> 56);
}
void fill(void *p, size_t n, uint64_t key) {
    auto *b = static_cast<unsigned char *>(p);
    for (size_t i = 0; i < n; i++)
        b[i] = pat(key, i);
    escape(p);
}
void verify(const void *p, size_t n, uint64_t key) {
    auto *b = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(key, i)) {
            fprintf(stderr, "pattern mismatch at %zu of %zu in %p\n", i, n, p);
            exit(1);
        }
}

// --- plain and array ---------------------------------------------------------
std::atomic<int> ctor_count, dtor_count;
struct Counted {
    int v;
    Counted() : v(7) { ctor_count++; }
    ~Counted() { dtor_count++; }
};

void t_plain_and_array() {
    void *z[32];
    for (int i = 0; i < 32; i++) {
        z[i] = ::operator new(hide(0));
        CHECK(z[i] != nullptr && aligned(z[i], 16));
        for (int j = 0; j < i; j++)
            CHECK(z[i] != z[j]);
    }
    for (int i = 0; i < 32; i++)
        ::operator delete(z[i]);
    void *za = ::operator new[](hide(0));
    CHECK(za != nullptr);
    ::operator delete[](za);

    const size_t sizes[] = {1, 7, 15, 16, 17, 100, 1000, 4096, 20 * KiB, 300 * KiB, 5 * MiB, 64 * MiB};
    for (size_t n : sizes) {
        void *p = ::operator new(hide(n));
        CHECK(aligned(p, __STDCPP_DEFAULT_NEW_ALIGNMENT__) && aligned(p, 16));
        fill(p, n, n);
        verify(p, n, n);
        ::operator delete(p);
        p = ::operator new[](hide(n));
        CHECK(aligned(p, 16));
        fill(p, n, n + 1);
        verify(p, n, n + 1);
        ::operator delete[](p);
        // sized forms with the size that was asked for
        p = ::operator new(hide(n));
        fill(p, n, n);
        ::operator delete(p, n);
        p = ::operator new[](hide(n));
        fill(p, n, n);
        ::operator delete[](p, n);
    }
    // new-expressions
    int *i = new int(42);
    CHECK(*i == 42);
    delete i;
    ctor_count = dtor_count = 0;
    Counted *c = new Counted[1000];
    CHECK(ctor_count == 1000 && c[999].v == 7);
    delete[] c; // array cookie: the size reaches operator delete[]
    CHECK(dtor_count == 1000);
    auto *big = new double[hide(1000000)];
    for (size_t k = 0; k < 1000000; k++)
        big[k] = static_cast<double>(k);
    CHECK(big[999999] == 999999.0);
    delete[] big;
    struct Obj {
        char buf[300];
        std::string s;
    };
    Obj *o = new Obj();
    o->s = std::string(1000, 'x');
    CHECK(o->buf[0] == 0 && o->s.size() == 1000);
    delete o; // sized delete of a class
    printf("ok: plain, array and sized new/delete\n");
}

// --- nothrow ------------------------------------------------------------------
void t_nothrow() {
    const size_t huge[] = {SIZE_MAX, static_cast<size_t>(PTRDIFF_MAX) + 1, SIZE_MAX - 4095,
                           static_cast<size_t>(PTRDIFF_MAX)};
    for (size_t n : huge) {
        CHECK(::operator new(hide(n), std::nothrow) == nullptr);
        CHECK(::operator new[](hide(n), std::nothrow) == nullptr);
        CHECK(::operator new(hide(n), std::align_val_t(64), std::nothrow) == nullptr);
        CHECK(::operator new[](hide(n), std::align_val_t(4096), std::nothrow) == nullptr);
    }
    char *a = new (std::nothrow) char[hide(static_cast<size_t>(PTRDIFF_MAX) / 2)];
    escape(a);
    CHECK(a == nullptr);
    void *p = ::operator new(hide(1000), std::nothrow);
    CHECK(p != nullptr && aligned(p, 16));
    fill(p, 1000, 1);
    ::operator delete(p, std::nothrow);
    p = ::operator new[](hide(300 * KiB), std::nothrow);
    CHECK(p != nullptr);
    fill(p, 300 * KiB, 2);
    ::operator delete[](p, std::nothrow);
    int *ip = new (std::nothrow) int[100]();
    CHECK(ip != nullptr && ip[99] == 0);
    delete[] ip;
    p = ::operator new(hide(100), std::align_val_t(512), std::nothrow);
    CHECK(p != nullptr && aligned(p, 512));
    ::operator delete(p, std::align_val_t(512), std::nothrow);
    p = ::operator new[](hide(100), std::align_val_t(8192), std::nothrow);
    CHECK(p != nullptr && aligned(p, 8192));
    ::operator delete[](p, std::align_val_t(8192), std::nothrow);
    printf("ok: nothrow new returns nullptr on failure\n");
}

// --- aligned ------------------------------------------------------------------
struct alignas(64) A64 {
    char c[64];
};
struct alignas(256) A256 {
    char c[100];
};
struct alignas(4096) A4096 {
    char c[10];
    int n = 3;
};

void t_aligned() {
    for (int r = 0; r < 100; r++) {
        A64 *a = new A64();
        A256 *b = new A256();
        A4096 *c = new A4096();
        CHECK(aligned(a, 64) && aligned(b, 256) && aligned(c, 4096) && c->n == 3);
        memset(a, 1, sizeof *a);
        memset(b, 2, sizeof *b);
        memset(c->c, 3, sizeof c->c);
        delete a;
        delete b;
        delete c;
        A64 *aa = new A64[10];
        A256 *ba = new A256[7];
        A4096 *ca = new A4096[3];
        CHECK(aligned(aa, 64) && aligned(ba, 256) && aligned(ca, 4096) && ca[2].n == 3);
        memset(aa, 1, 10 * sizeof *aa);
        memset(ba, 2, 7 * sizeof *ba);
        delete[] aa;
        delete[] ba;
        delete[] ca;
    }
    std::vector<A256> v(1000);
    CHECK(aligned(v.data(), 256));
    for (size_t al = 1; al <= (size_t(1) << 21); al <<= 1) {
        const size_t sizes[] = {1, 100, al, 3 * al + 1};
        for (size_t n : sizes) {
            if (n > 8 * MiB)
                continue;
            void *p = ::operator new(hide(n), std::align_val_t(al));
            CHECK(aligned(p, al) && aligned(p, 16));
            fill(p, n, al + n);
            verify(p, n, al + n);
            ::operator delete(p, std::align_val_t(al));
            p = ::operator new(hide(n), std::align_val_t(al));
            fill(p, n, al);
            ::operator delete(p, n, std::align_val_t(al)); // aligned sized
            p = ::operator new[](hide(n), std::align_val_t(al));
            CHECK(aligned(p, al));
            fill(p, n, al);
            ::operator delete[](p, std::align_val_t(al));
            p = ::operator new[](hide(n), std::align_val_t(al));
            fill(p, n, al);
            ::operator delete[](p, n, std::align_val_t(al));
        }
    }
    // 2 MiB alignment, several alive together
    void *h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = ::operator new(hide(size_t(1) << 20), std::align_val_t(size_t(1) << 21));
        CHECK(aligned(h[i], size_t(1) << 21));
        fill(h[i], size_t(1) << 20, static_cast<uint64_t>(i));
    }
    for (int i = 0; i < 8; i++) {
        verify(h[i], size_t(1) << 20, static_cast<uint64_t>(i));
        ::operator delete(h[i], size_t(1) << 20, std::align_val_t(size_t(1) << 21));
    }
    printf("ok: aligned new/delete (alignas 64/256/4096, align_val_t up to 2 MiB)\n");
}

// --- failure: bad_alloc and the new_handler ------------------------------------
int handler_calls;
int handler_limit;
void counting_handler() {
    handler_calls++;
    if (handler_calls >= handler_limit)
        std::set_new_handler(nullptr); // uninstalls itself: the next failure throws
}
struct MyBadAlloc : std::bad_alloc {
    const char *what() const noexcept override { return "mine"; }
};
void throwing_handler() {
    handler_calls++;
    throw MyBadAlloc();
}

int failures; // checks that do not stop the test

template <class F> bool throws_bad_alloc(F f) {
    try {
        f();
    } catch (const std::bad_alloc &) {
        return true;
    }
    return false;
}

void t_failure() {
    const size_t huge[] = {SIZE_MAX, static_cast<size_t>(PTRDIFF_MAX) + 1,
                           static_cast<size_t>(PTRDIFF_MAX)};
    for (size_t n : huge) {
        CHECK(throws_bad_alloc([&] { ::operator delete(::operator new(hide(n))); }));
        CHECK(throws_bad_alloc([&] { ::operator delete[](::operator new[](hide(n))); }));
        CHECK(throws_bad_alloc([&] {
            ::operator delete(::operator new(hide(n), std::align_val_t(128)), std::align_val_t(128));
        }));
        CHECK(throws_bad_alloc([&] {
            ::operator delete[](::operator new[](hide(n), std::align_val_t(1 << 16)),
                                std::align_val_t(1 << 16));
        }));
    }
    CHECK(throws_bad_alloc([&] {
        char *c = new char[hide(static_cast<size_t>(PTRDIFF_MAX) / 2)];
        escape(c);
        delete[] c;
    }));
    CHECK(std::get_new_handler() == nullptr);

    // The handler is called before bad_alloc, again after each failed retry.
    struct Case {
        const char *name;
        int kind;
    } cases[] = {{"new", 0}, {"new[]", 1}, {"aligned new", 2}, {"nothrow new", 3},
                 {"aligned nothrow new", 4}};
    for (const Case &c : cases) {
        for (int limit = 1; limit <= 3; limit++) {
            handler_calls = 0;
            handler_limit = limit;
            std::set_new_handler(counting_handler);
            bool threw = false;
            void *r = reinterpret_cast<void *>(1);
            try {
                switch (c.kind) {
                case 0: r = ::operator new(hide(SIZE_MAX)); break;
                case 1: r = ::operator new[](hide(SIZE_MAX / 2)); break;
                case 2: r = ::operator new(hide(SIZE_MAX), std::align_val_t(256)); break;
                case 3: r = ::operator new(hide(SIZE_MAX), std::nothrow); break;
                default: r = ::operator new(hide(SIZE_MAX), std::align_val_t(256), std::nothrow); break;
                }
            } catch (const std::bad_alloc &) {
                threw = true;
            }
            bool nothrow = c.kind >= 3;
            if (handler_calls != limit || threw == nothrow || (nothrow && r != nullptr) ||
                std::get_new_handler() != nullptr) {
                fprintf(stderr, "FAIL: %s with a new_handler that uninstalls itself after %d calls: "
                                "%d calls, %s, result %p\n",
                        c.name, limit, handler_calls, threw ? "threw bad_alloc" : "did not throw", r);
                failures++;
                std::set_new_handler(nullptr);
                break;
            }
        }
    }
    // A handler that throws: the exception comes out of operator new (and
    // nothrow new turns it into nullptr).
    handler_calls = 0;
    std::set_new_handler(throwing_handler);
    bool mine = false;
    try {
        void *r = ::operator new(hide(SIZE_MAX));
        ::operator delete(r);
    } catch (const MyBadAlloc &) {
        mine = true;
    } catch (...) {
    }
    CHECK(mine && handler_calls == 1);
    // [new.delete.single]: nothrow new behaves as if it called the ordinary
    // form and caught bad_alloc, so the throwing handler ends in nullptr.
    void *r = ::operator new(hide(SIZE_MAX), std::nothrow);
    if (r != nullptr || handler_calls != 2) {
        fprintf(stderr, "FAIL: nothrow new with a new_handler that throws: %d handler calls "
                        "(wanted 1), result %p\n", handler_calls - 1, r);
        failures++;
    }
    std::set_new_handler(nullptr);
    // and allocation still works
    std::vector<int> v(1000, 1);
    CHECK(v[999] == 1);
    printf("%s: bad_alloc on failure, new_handler called before it\n", failures ? "FAILED" : "ok");
}

// --- containers ----------------------------------------------------------------
void t_containers() {
    const int N = 100000;
    size_t before = live_bytes();
    {
        std::vector<int> v;
        for (int i = 0; i < N; i++)
            v.push_back(i * 3);
        CHECK(live_bytes() >= before + N * sizeof(int));
        long long sum = 0;
        for (int x : v)
            sum += x;
        CHECK(sum == 3LL * (long long)N * (N - 1) / 2);
        v.resize(10);
        v.shrink_to_fit();
        CHECK(v.size() == 10 && v[9] == 27);

        std::vector<std::string> vs;
        for (int i = 0; i < N; i++)
            vs.push_back("string number " + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'z'));
        std::sort(vs.begin(), vs.end());
        CHECK(std::is_sorted(vs.begin(), vs.end()));
        CHECK(std::find(vs.begin(), vs.end(), "string number 4242" + std::string(42, 'z')) != vs.end());

        std::string s;
        for (int i = 0; i < N; i++)
            s += static_cast<char>('a' + i % 26);
        CHECK(s.size() == static_cast<size_t>(N) && s[N - 1] == static_cast<char>('a' + (N - 1) % 26));
        std::string t = s + s;
        CHECK(t.size() == 2 * s.size() && t.compare(static_cast<size_t>(N), static_cast<size_t>(N), s) == 0);

        std::map<int, int> m;
        for (int i = 0; i < N; i++)
            m[(i * 7919) % N] = i;
        CHECK(m.size() == static_cast<size_t>(N));
        for (int i = 0; i < N; i += 2)
            m.erase(i);
        CHECK(m.size() == static_cast<size_t>(N / 2));
        CHECK(m.count(1) == 1 && m.count(2) == 0);

        std::unordered_map<std::string, int> um;
        for (int i = 0; i < N; i++)
            um["key-" + std::to_string(i)] = i;
        CHECK(um.size() == static_cast<size_t>(N));
        for (int i = 0; i < N; i += 1000)
            CHECK(um.at("key-" + std::to_string(i)) == i);
        um.rehash(4 * static_cast<size_t>(N));
        CHECK(um["key-99999"] == 99999);
        for (int i = 0; i < N; i += 3)
            um.erase("key-" + std::to_string(i));
        CHECK(um.size() == static_cast<size_t>(N - (N + 2) / 3));
    }
    // everything went back
    CHECK(live_bytes() <= before + 64 * KiB);

    // the same in several threads at once
    std::atomic<int> bad{0};
    std::vector<std::thread> th;
    for (int t = 0; t < 4; t++)
        th.emplace_back([t, &bad] {
            std::map<int, std::string> m;
            std::unordered_map<int, std::vector<int>> u;
            for (int i = 0; i < 20000; i++) {
                m[i] = std::to_string(i * t);
                u[i].assign(static_cast<size_t>(i % 17), i);
            }
            for (int i = 0; i < 20000; i++)
                if (m[i] != std::to_string(i * t) || u[i].size() != static_cast<size_t>(i % 17))
                    bad++;
        });
    for (auto &x : th)
        x.join();
    CHECK(bad == 0);
    printf("ok: vector, string, map, unordered_map with 1e5 elements\n");
}

} // namespace

int main() {
    (void)test_failures;
    setvbuf(stdout, nullptr, _IOLBF, 0);
    check_identity();
    t_plain_and_array();
    t_nothrow();
    t_aligned();
    t_failure();
    t_containers();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all C++ checks passed\n");
    return 0;
}
