/* special.c -- the special-case allocators against general-purpose ones.
 *
 *   arena  batches of 1000 allocations of 8..128 bytes, each written once;
 *          then the whole batch goes: one wd_arena_reset, against 1000
 *          free calls.  ns per allocation (its share of the release
 *          included).
 *   pool   a live set of 2048 items of 48 bytes out of 4096; each step
 *          frees a random live item and allocates a new one (an object
 *          pool under churn).  ns per free + alloc pair.
 *   vec    pushes of ints into an empty vector: wd_vec_push grown by
 *          wd_realloc and by libc's realloc, against C++
 *          std::vector<int>::push_back (bench/vec_std.cpp, operator new).
 *          ns per push; once growing from empty (the realloc and page
 *          fault costs included), once after reserve(n) (no realloc, but
 *          the first touch of each page still faults).
 *
 * Each is compared with libc's malloc/free (glibc's: called by their names)
 * and with warden's wd_malloc/wd_free, in the same process.  That works
 * because this program is linked with a copy of warden's core *without*
 * src/override.c (bench/CMakeLists.txt: warden_bench_core): nothing
 * replaces the libc names, so malloc is glibc's and wd_malloc is warden's,
 * both called directly, with the same binary and the same arena and pool
 * code for every row.  (In the sanitizer builds, libc's malloc is the
 * sanitizer's: only the smoke run is meaningful there.)
 *
 * Best of 3 runs.  A benchmark, not a test: it exits 0 whatever the
 * timings, 1 only when a result is wrong.
 *
 * usage: special [--smoke] [--vec N]   (N pushes, default 100000000)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <warden.h>
#include <warden/arena.h>
#include <warden/pool.h>

/* wd_vec's allocator, switched at run time between warden and libc.  Only
 * growth goes through it (27 calls for 10^8 pushes), so the indirect call
 * costs nothing measurable. */
static void *(*vec_realloc)(void *, size_t) = wd_realloc;
static void (*vec_free)(void *) = wd_free;
#define WD_VEC_REALLOC vec_realloc
#define WD_VEC_FREE vec_free
#include <warden/vec.h>

/* bench/vec_std.cpp: n push_back calls (after reserve(n) when reserve is
 * set); returns ns per push, *sum the items' sum (so nothing is optimised
 * away). */
double bench_std_vector_push(size_t n, int reserve, long long *sum);

#define BATCH 1000
#define POOL_CAP 4096
#define POOL_LIVE 2048
#define POOL_ITEM 48
#define RING 65536 /* pre-drawn random numbers, reused in a ring */

static uint32_t ring[RING];
static int vec_reserved; /* vec rows: reserve(n) first, to time the push alone */
static size_t batch_sizes[BATCH];
static void *ptrs[POOL_CAP > BATCH ? POOL_CAP : BATCH];
static int failed;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps the compiler from eliding a malloc/free pair it can see through. */
static inline void escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "special: wrong result: %s\n", what);
        failed = 1;
    }
}

static void draw_randoms(void) {
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < RING; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        ring[i] = (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
    }
    for (size_t i = 0; i < BATCH; i++)
        batch_sizes[i] = 8 + 8 * (ring[i] % 16); /* 8 .. 128 */
}

/* --- arena ------------------------------------------------------------------ */

typedef enum { WITH_ARENA, WITH_LIBC, WITH_WARDEN } how_t;

static void *alloc_with(how_t how, size_t size) {
    return how == WITH_LIBC ? malloc(size) : wd_malloc(size);
}
static void free_with(how_t how, void *p) {
    if (how == WITH_LIBC)
        free(p);
    else
        wd_free(p);
}

/* One batch: BATCH allocations, each written, then all released. */
static void arena_batch(how_t how, wd_arena_t *a) {
    for (size_t i = 0; i < BATCH; i++) {
        void *p = how == WITH_ARENA ? wd_arena_alloc(a, batch_sizes[i])
                                    : alloc_with(how, batch_sizes[i]);
        *(size_t *)p = i;
        ptrs[i] = p;
        escape(p);
    }
    if (how == WITH_ARENA) {
        wd_arena_reset(a);
        return;
    }
    for (size_t i = 0; i < BATCH; i++)
        free_with(how, ptrs[i]);
}

static double arena_run(how_t how, size_t batches) {
    wd_arena_t *a = wd_arena_create(0);
    check(a != NULL, "wd_arena_create");
    double t0 = now_ns();
    for (size_t b = 0; b < batches; b++)
        arena_batch(how, a);
    double ns = (now_ns() - t0) / (double)(batches * BATCH);
    wd_arena_destroy(a);
    return ns;
}

/* --- pool ------------------------------------------------------------------- */

static unsigned char pool_mem[WD_POOL_MEM_SIZE(POOL_ITEM, POOL_CAP)] __attribute__((aligned(16)));

static void *pool_get(how_t how, wd_pool_t *p) {
    return how == WITH_ARENA ? wd_pool_alloc(p) : alloc_with(how, POOL_ITEM);
}

static double pool_run(how_t how, size_t steps) {
    wd_pool_t p;
    check(wd_pool_init(&p, pool_mem, sizeof pool_mem, POOL_ITEM) == 0, "wd_pool_init");
    for (size_t i = 0; i < POOL_LIVE; i++)
        ptrs[i] = pool_get(how, &p);
    double t0 = now_ns();
    for (size_t s = 0; s < steps; s++) {
        size_t k = ring[s % RING] % POOL_LIVE;
        if (how == WITH_ARENA)
            wd_pool_free(&p, ptrs[k]);
        else
            free_with(how, ptrs[k]);
        void *q = pool_get(how, &p);
        *(size_t *)q = s;
        ptrs[k] = q;
    }
    double ns = (now_ns() - t0) / (double)steps;
    for (size_t i = 0; i < POOL_LIVE; i++)
        if (how == WITH_ARENA)
            wd_pool_free(&p, ptrs[i]);
        else
            free_with(how, ptrs[i]);
    check(how != WITH_ARENA || wd_pool_count(&p) == 0, "pool count");
    return ns;
}

/* --- vec -------------------------------------------------------------------- */

static double vec_run(how_t how, size_t n) {
    vec_realloc = how == WITH_LIBC ? realloc : wd_realloc;
    vec_free = how == WITH_LIBC ? free : wd_free;
    WD_VEC(int) v = WD_VEC_INIT;
    if (vec_reserved)
        check(wd_vec_reserve(&v, n) == 0, "wd_vec_reserve");
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        if (wd_vec_push(&v, (int)(i & 0xffff)) != 0)
            check(0, "wd_vec_push");
    double ns = (now_ns() - t0) / (double)n;
    long long sum = 0;
    for (size_t i = 0; i < v.len; i++)
        sum += v.data[i];
    long long want = 0;
    for (size_t i = 0; i < n; i++)
        want += (long long)(i & 0xffff);
    check(sum == want && v.len == n, "vector items");
    wd_vec_free(&v);
    return ns;
}

static double std_run(how_t how, size_t n) {
    (void)how;
    long long sum = 0, want = 0;
    double ns = bench_std_vector_push(n, vec_reserved, &sum);
    for (size_t i = 0; i < n; i++)
        want += (long long)(i & 0xffff);
    check(sum == want, "std::vector items");
    return ns;
}

/* --- driver ------------------------------------------------------------------- */

typedef double (*run_fn)(how_t, size_t);

static double best_of(int runs, run_fn fn, how_t how, size_t n) {
    double best = fn(how, n);
    for (int r = 1; r < runs; r++) {
        double t = fn(how, n);
        best = t < best ? t : best;
    }
    return best;
}

static void report(const char *name, const char *special, int runs, run_fn fn, size_t n) {
    double s = best_of(runs, fn, WITH_ARENA, n);
    double g = best_of(runs, fn, WITH_LIBC, n);
    double w = best_of(runs, fn, WITH_WARDEN, n);
    printf("%s\n", name);
    printf("  %-28s %7.2f ns\n", special, s);
    printf("  %-28s %7.2f ns   (%s %.1fx faster)\n", "libc malloc + free", g, name, g / s);
    printf("  %-28s %7.2f ns   (%s %.1fx faster)\n", "wd_malloc + wd_free", w, name, w / s);
}

/* The vector rows, as time relative to std::vector (below 1: faster). */
static void report_vec(int runs, size_t n) {
    double vw = best_of(runs, vec_run, WITH_WARDEN, n);
    double vg = best_of(runs, vec_run, WITH_LIBC, n);
    double vs = best_of(runs, std_run, WITH_LIBC, n);
    printf("vec (%zu pushes of int, %s)\n", n,
           vec_reserved ? "after reserve(n): no realloc; page faults remain" : "no reserve");
    printf("  %-28s %7.2f ns   (%.2fx the time of std::vector)\n", "wd_vec_push, wd_realloc",
           vw, vw / vs);
    printf("  %-28s %7.2f ns   (%.2fx the time of std::vector)\n", "wd_vec_push, libc realloc",
           vg, vg / vs);
    printf("  %-28s %7.2f ns\n", "std::vector::push_back", vs);
}

int main(int argc, char **argv) {
    int smoke = 0;
    size_t vec_n = 100000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
            vec_n = 100000;
        } else if (strcmp(argv[i], "--vec") == 0 && i + 1 < argc)
            vec_n = strtoull(argv[++i], NULL, 10);
    }
    int runs = smoke ? 1 : 3;
    size_t batches = smoke ? 20 : 20000, steps = smoke ? 20000 : 20000000;
    draw_randoms();
    printf("special-case allocators, ns per operation, best of %d\n", runs);
    report("arena", "wd_arena_alloc + reset", runs, arena_run, batches);
    report("pool", "wd_pool_free + alloc", runs, pool_run, steps);

    for (vec_reserved = 0; vec_reserved < 2; vec_reserved++)
        report_vec(runs, vec_n);
    printf("result: special %s\n", failed ? "FAILED" : "ok");
    return failed;
}
