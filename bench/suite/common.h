/* common.h -- what every workload of the benchmark suite shares.
 *
 * Each workload is a small program that stresses one habit of an allocator.
 * It is linked with nothing but libc: the allocator under test comes in
 * through LD_PRELOAD (bench/run), or is plain glibc (ctest's smoke runs).
 * It takes a size and, where threads matter, a thread count as positional
 * arguments, uses fixed seeds, and prints one line
 *     result: <name> <figure> <unit> [key=value ...]
 * before it exits 0.  Helpers here are static inline: one header, no library.
 */
#ifndef BENCH_SUITE_COMMON_H
#define BENCH_SUITE_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keeps the compiler from proving a block unused and eliding the malloc/free
 * pair (GCC does that at -O2 for a block that is written but never read). */
static inline void escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static inline void die(const char *what)
{
    fprintf(stderr, "fatal: %s (%s)\n", what, strerror(errno));
    exit(1);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        die("malloc");
    return p;
}

static inline void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL)
        die("realloc");
    return q;
}

/* --- deterministic random numbers: splitmix64, one state per thread ------ */
typedef struct { uint64_t s; } rng_t;

static inline rng_t rng_seed(uint64_t seed)
{
    rng_t r = { seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull };
    return r;
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline size_t rng_below(rng_t *r, size_t n) { return (size_t)(rng_next(r) % n); }

/* Roughly log-uniform in [lo, hi): a power-of-two band picked uniformly, then
 * a uniform size inside it.  lo >= 1, hi > lo. */
static inline size_t rng_logsize(rng_t *r, size_t lo, size_t hi)
{
    unsigned lb = 0, hb = 0;
    while (((size_t)2 << lb) <= lo) lb++;
    while (((size_t)1 << hb) < hi) hb++;
    unsigned band = lb + (unsigned)rng_below(r, hb - lb);
    size_t base = (size_t)1 << band;
    size_t sz = base + rng_below(r, base);
    return sz < lo ? lo : sz >= hi ? hi - 1 : sz;
}

/* --- time, memory, arguments ------------------------------------------- */
static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Resident set size now, in KiB (second field of /proc/self/statm). */
static inline long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* argv[i] as a positive count, or dflt when absent; exits 2 on a bad one. */
static inline size_t arg_count(int argc, char **argv, int i, size_t dflt)
{
    if (argc <= i)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || argv[i][0] == '-') {
        fprintf(stderr, "usage: %s [SIZE [THREADS]]  (positive integers; bad: '%s')\n",
                argv[0], argv[i]);
        exit(2);
    }
    return (size_t)v;
}

static inline void report_ops(const char *name, double ops, double secs)
{
    printf("result: %s %.0f ops/s\n", name, secs > 0 ? ops / secs : 0.0);
}

/* Starts n threads running fn(index) and waits for all of them. */
typedef void *(*thread_fn)(void *);
static inline void run_threads(size_t n, thread_fn fn, void *args, size_t arg_size)
{
    pthread_t *tid = xmalloc(n * sizeof *tid);
    for (size_t i = 0; i < n; i++) {
        errno = pthread_create(&tid[i], NULL, fn, (char *)args + i * arg_size);
        if (errno != 0)
            die("pthread_create");
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    free(tid);
}

/* The argument of a worker that runs `count` steps (operations, batches)
 * of its own: its index (for its seed, or its role) and the count. */
typedef struct { size_t index, count; } counted_arg_t;

/* Runs n such workers, each given its index and count; returns the wall
 * time they took together (the arguments are made before the clock
 * starts). */
static inline double run_counted(size_t n, thread_fn fn, size_t count)
{
    counted_arg_t *args = xmalloc(n * sizeof *args);
    for (size_t i = 0; i < n; i++)
        args[i] = (counted_arg_t){ i, count };
    double t0 = now_sec();
    run_threads(n, fn, args, sizeof *args);
    double secs = now_sec() - t0;
    free(args);
    return secs;
}

/* run_counted for a workload with a one-thread form and an _mt form:
 * threads 0 runs fn in the main thread of a process that never starts
 * another (some allocators, glibc among them, take a cheaper path while
 * the process is single-threaded, and that is the figure of such
 * programs), else in `threads` threads at once.  Returns seconds. */
static inline double run_main_or_counted(size_t threads, thread_fn fn, size_t count)
{
    if (threads > 0)
        return run_counted(threads, fn, count);
    counted_arg_t arg = { 0, count };
    double t0 = now_sec();
    fn(&arg);
    return now_sec() - t0;
}

/* A workload's _mt form is the same source built with WORKLOAD_MT
 * (bench/suite/CMakeLists.txt): MT says which form this is, and
 * ONE_OR_MT(one, mt) picks the form's name or default size (a bare token,
 * so that a name still joins the string literals beside it). */
#ifdef WORKLOAD_MT
#define MT 1
#define ONE_OR_MT(one, mt) mt
#else
#define MT 0
#define ONE_OR_MT(one, mt) one
#endif

/* The whole of a workload with a one-thread form and an _mt form (mt != 0):
 * the count from argv[1] (dflt when absent); for the _mt form the threads
 * from argv[2] (default 2), else the main thread alone (so that glibc's
 * single-thread path counts); fn run with the count; the result line of
 * count * threads * per operations. */
static inline int run_workload(int argc, char **argv, int mt, size_t dflt, thread_fn fn,
                               const char *name, size_t per)
{
    size_t count = arg_count(argc, argv, 1, dflt);
    size_t threads = mt ? arg_count(argc, argv, 2, 2) : 0;
    double secs = run_main_or_counted(threads, fn, count);
    report_ops(name, (double)(count * (threads ? threads : 1) * per), secs);
    return 0;
}

#endif
