/* heap_o1.c -- does a malloc/free pair on the classic heap cost the same
 * with 1,000 free holes as with 200,000?
 *
 * For each H: map a heap, allocate 2H blocks of varied small sizes (1 to
 * 2047 bytes, log-uniform, so the ranges fall into ~60 size classes), free
 * every other block (H free holes, no two adjacent), then time N pairs
 * wd_heap_malloc(size drawn from the same distribution) + wd_heap_free of
 * that block.  Median of R runs, in ns per pair.
 *
 * Two layouts of the same holes:
 *   shuffled     sizes in random address order;
 *   small-first  sizes sorted, smallest at the lowest address: where a
 *                first-fit heap drifts after a while (small remainders
 *                collect at the front), and its worst realistic case.
 * warden's cost should not depend on H or on the layout.  For contrast the
 * same holes are also timed with a naive first-fit heap written below (the
 * tutorial's classic heap: walk the ranges from the start), whose cost is the
 * number of ranges it walks.
 *
 * A benchmark, not a test: it exits 0 whatever the timings.  It exits 1
 * only when the heap misbehaves (a NULL, or wd_heap_check failing).
 *
 * usage: heap_o1 [--quick] [--smoke] [--runs N] [--seed S]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <warden/heap.h>

#define MAX_RUNS 100
#define REQ_COUNT (1u << 16) /* pre-drawn request sizes, reused in a ring */
#define NAIVE_BUDGET_NS 250000000.0 /* naive first-fit: stop a run after 0.25 s */

typedef struct config {
    const size_t *holes; /* the values of H */
    size_t nholes;
    size_t pairs;        /* N: pairs per run */
    int runs;
    uint64_t seed;
    const char *label;
} config_t;

typedef struct result {
    double ns_pair;      /* median over the runs */
    double walked;       /* naive only: ranges visited per malloc */
    size_t pairs;        /* pairs in one run (the naive heap may do fewer) */
} result_t;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* 1..2047 bytes: an exponent e in [0, 10], then uniform in [2^e, 2^(e+1)). */
static size_t draw_size(void) {
    size_t e = (size_t)(rng_next() % 11);
    size_t base = (size_t)1 << e;
    return base + (size_t)(rng_next() % base);
}

/* The range a request occupies: header included, 16-byte steps, 32 minimum. */
static size_t range_size(size_t n) {
    size_t r = (n + 16 + 15) & ~(size_t)15;
    return r < 32 ? 32 : r;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double median(double *v, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n <= MAX_RUNS */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static void *map_or_die(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("heap_o1: mmap");
        exit(1);
    }
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (p == NULL) {
        perror("heap_o1: calloc");
        exit(1);
    }
    return p;
}

static void fail(const char *what, size_t holes) {
    fprintf(stderr, "heap_o1: FAILED with H = %zu: %s\n", holes, what);
    exit(1);
}

/* ---- naive first-fit, for comparison ------------------------------------
 * The tutorial's classic heap reduced to its core, with warden's header layout:
 * ranges tile the memory, each starting with a 16-byte header whose first
 * word is the range size with bit 63 set when allocated.  malloc walks the
 * ranges from the start and takes the first free one that fits, splitting
 * off the rest; free clears the bit and merges with a free next range.  Its
 * cost is the number of ranges it walks: O(n). */

#define NV_ALLOC ((size_t)1 << 63)

typedef struct naive {
    unsigned char *start, *end;
    size_t walked; /* ranges visited by nv_malloc, summed */
} naive_t;

static void nv_init(naive_t *nv, void *mem, size_t size) {
    nv->start = mem;
    nv->end = nv->start + (size & ~(size_t)15);
    nv->walked = 0;
    *(size_t *)nv->start = (size_t)(nv->end - nv->start); /* one free range */
}

static void *nv_malloc(naive_t *nv, size_t n) {
    size_t need = range_size(n), steps = 0;
    for (unsigned char *r = nv->start; r < nv->end; steps++) {
        size_t info = *(size_t *)r, size = info & ~NV_ALLOC;
        if (!(info & NV_ALLOC) && size >= need) {
            if (size - need >= 32) { /* split: the rest stays free */
                *(size_t *)(r + need) = size - need;
                size = need;
            }
            *(size_t *)r = size | NV_ALLOC;
            nv->walked += steps + 1;
            return r + 16;
        }
        r += size;
    }
    nv->walked += steps;
    return NULL;
}

/* Lays out blocks of sizes[0..n) from the start, then one free tail: what n
 * nv_malloc calls on a fresh heap give, without walking n^2 / 2 ranges. */
static void nv_fill(naive_t *nv, const size_t *sizes, size_t n, void **ptr) {
    unsigned char *r = nv->start;
    for (size_t i = 0; i < n; i++) {
        size_t size = range_size(sizes[i]);
        *(size_t *)r = size | NV_ALLOC;
        ptr[i] = r + 16;
        r += size;
    }
    *(size_t *)r = (size_t)(nv->end - r);
}

static void nv_free(naive_t *nv, void *p) {
    unsigned char *r = (unsigned char *)p - 16;
    size_t size = *(size_t *)r & ~NV_ALLOC;
    unsigned char *next = r + size;
    if (next < nv->end && !(*(size_t *)next & NV_ALLOC))
        size += *(size_t *)next; /* [ this ][ next|free ] -> [ this ...... ] */
    *(size_t *)r = size;
}

/* ---- the two contestants ------------------------------------------------ */

typedef struct setup {
    const size_t *sizes; /* 2H block sizes, in address order */
    size_t holes;        /* H */
    const size_t *req;   /* REQ_COUNT request sizes */
    size_t heap_bytes;
} setup_t;

static result_t bench_warden(const setup_t *s, const config_t *cfg) {
    size_t nblocks = 2 * s->holes;
    void **ptr = xcalloc(nblocks, sizeof *ptr);
    void *mem = map_or_die(s->heap_bytes);
    wd_heap_t *h = wd_heap_init(mem, s->heap_bytes);
    if (h == NULL)
        fail("wd_heap_init returned NULL", s->holes);

    for (size_t i = 0; i < nblocks; i++)
        if ((ptr[i] = wd_heap_malloc(h, s->sizes[i])) == NULL)
            fail("wd_heap_malloc returned NULL while filling the heap", s->holes);
    for (size_t i = 0; i < nblocks; i += 2)
        wd_heap_free(h, ptr[i]);

    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    if (st.free_blocks != s->holes + 1) /* the holes and the tail */
        fail("free_blocks is not H + 1 after freeing every other block", s->holes);

    double ns[MAX_RUNS];
    for (int run = 0; run < cfg->runs; run++) {
        double t0 = now_ns();
        for (size_t i = 0; i < cfg->pairs; i++) {
            void *p = wd_heap_malloc(h, s->req[i & (REQ_COUNT - 1)]);
            if (p == NULL)
                fail("wd_heap_malloc returned NULL in the timed loop", s->holes);
            wd_heap_free(h, p);
        }
        ns[run] = (now_ns() - t0) / (double)cfg->pairs;
    }

    if (wd_heap_check(h) != 0)
        fail("wd_heap_check(h) != 0 after the timed pairs", s->holes);
    for (size_t i = 1; i < nblocks; i += 2)
        wd_heap_free(h, ptr[i]);
    wd_heap_stats(h, &st);
    if (wd_heap_check(h) != 0 || st.free_blocks != 1 || st.allocated_blocks != 0)
        fail("the heap is not one free range after freeing everything", s->holes);

    munmap(mem, s->heap_bytes);
    free(ptr);
    return (result_t){median(ns, cfg->runs), 0, cfg->pairs};
}

static result_t bench_naive(const setup_t *s, const config_t *cfg) {
    size_t nblocks = 2 * s->holes;
    void **ptr = xcalloc(nblocks, sizeof *ptr);
    void *mem = map_or_die(s->heap_bytes);
    naive_t nv;
    nv_init(&nv, mem, s->heap_bytes);

    nv_fill(&nv, s->sizes, nblocks, ptr);
    for (size_t i = 0; i < nblocks; i += 2)
        nv_free(&nv, ptr[i]);

    /* A walk costs up to ~1 ms at H = 200,000: each run stops after
     * NAIVE_BUDGET_NS, checking the clock every 64 pairs. */
    double ns[MAX_RUNS];
    size_t done = 0;
    nv.walked = 0;
    size_t total = 0;
    for (int run = 0; run < cfg->runs; run++) {
        double t0 = now_ns(), t = t0;
        for (done = 0; done < cfg->pairs;) {
            for (size_t k = 0; k < 64 && done < cfg->pairs; k++, done++) {
                void *p = nv_malloc(&nv, s->req[done & (REQ_COUNT - 1)]);
                if (p == NULL)
                    fail("naive first-fit returned NULL in the timed loop", s->holes);
                nv_free(&nv, p);
            }
            if ((t = now_ns()) - t0 >= NAIVE_BUDGET_NS)
                break;
        }
        ns[run] = (t - t0) / (double)done;
        total += done;
    }

    munmap(mem, s->heap_bytes);
    free(ptr);
    return (result_t){median(ns, cfg->runs), (double)nv.walked / (double)total, done};
}

/* ---- driver ------------------------------------------------------------- */

enum { SHUFFLED, SMALL_FIRST, NLAYOUTS };
static const char *const layout_name[NLAYOUTS] = {"shuffled", "small-first"};

typedef struct row {
    size_t holes;
    result_t wd[NLAYOUTS], nv[NLAYOUTS];
} row_t;

static void measure(size_t holes, const size_t *req, const config_t *cfg, row_t *row) {
    size_t nblocks = 2 * holes, bytes = 0;
    size_t *sizes = xcalloc(nblocks, sizeof *sizes);
    for (size_t i = 0; i < nblocks; i++) {
        sizes[i] = draw_size();
        bytes += range_size(sizes[i]);
    }
    /* Room for the blocks, the control block and a free tail; pages never
     * touched cost nothing (MAP_NORESERVE). */
    setup_t s = {sizes, holes, req, bytes + bytes / 4 + ((size_t)1 << 20)};
    row->holes = holes;
    for (int l = 0; l < NLAYOUTS; l++) {
        if (l == SMALL_FIRST)
            qsort(sizes, nblocks, sizeof *sizes, cmp_size);
        row->wd[l] = bench_warden(&s, cfg);
        row->nv[l] = bench_naive(&s, cfg);
    }
    free(sizes);
}

static void print_row(const row_t *r) {
    printf("%9zu  %9.1f  %11.1f    %9.1f (%6.0f)  %11.1f (%6.0f)\n", r->holes,
           r->wd[SHUFFLED].ns_pair, r->wd[SMALL_FIRST].ns_pair,
           r->nv[SHUFFLED].ns_pair, r->nv[SHUFFLED].walked,
           r->nv[SMALL_FIRST].ns_pair, r->nv[SMALL_FIRST].walked);
    fflush(stdout);
}

static void print_ratios(const row_t *lo, const row_t *hi) {
    printf("\ncost at H = %zu / cost at H = %zu:\n", hi->holes, lo->holes);
    for (int l = 0; l < NLAYOUTS; l++)
        printf("  %-12s warden %5.2fx    naive first-fit %8.2fx\n", layout_name[l],
               hi->wd[l].ns_pair / lo->wd[l].ns_pair, hi->nv[l].ns_pair / lo->nv[l].ns_pair);
}

static void usage(void) {
    fprintf(stderr, "usage: heap_o1 [--quick] [--smoke] [--runs N] [--seed S]\n"
                    "  --quick   200,000 pairs per run instead of 2,000,000\n"
                    "  --smoke   H in {100, 1000}, 10,000 pairs, 1 run (ctest)\n"
                    "  --runs N  runs per measurement, median reported (default 5)\n"
                    "  --seed S  seed of the size generator (default 1)\n");
    exit(2);
}

static unsigned long long parse_num(const char *s) {
    char *end;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0')
        usage();
    return v;
}

static config_t parse_args(int argc, char **argv) {
    static const size_t full[] = {1000, 10000, 50000, 200000};
    static const size_t smoke[] = {100, 1000};
    config_t cfg = {full, 4, 2000000, 5, 1, "full"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            cfg.pairs = 200000;
            cfg.label = "quick";
        } else if (strcmp(argv[i], "--smoke") == 0) {
            cfg = (config_t){smoke, 2, 10000, 1, cfg.seed, "smoke"};
        } else if (strcmp(argv[i], "--runs") == 0) {
            unsigned long long r = parse_num(++i < argc ? argv[i] : NULL);
            if (r < 1 || r > MAX_RUNS)
                usage();
            cfg.runs = (int)r;
        } else if (strcmp(argv[i], "--seed") == 0) {
            cfg.seed = parse_num(++i < argc ? argv[i] : NULL);
        } else {
            usage();
        }
    }
    return cfg;
}

/* The 1-minute load average: timings taken on a busy machine say so. */
static double load_average(void) {
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &load) != 1)
            load = -1;
        fclose(f);
    }
    return load;
}

int main(int argc, char **argv) {
    config_t cfg = parse_args(argc, argv);
    rng_state = cfg.seed * 0x9E3779B97F4A7C15ULL + 1;
    size_t *req = xcalloc(REQ_COUNT, sizeof *req);
    for (size_t i = 0; i < REQ_COUNT; i++)
        req[i] = draw_size();

    printf("heap_o1 (%s): one wd_heap_malloc + wd_heap_free pair against the number of free holes H\n"
           "sizes 1..2047 bytes log-uniform; %zu pairs per run, median of %d run%s, seed %llu\n"
           "layouts: shuffled = hole sizes in random address order;\n"
           "         small-first = sorted, smallest holes at the lowest addresses\n"
           "naive first-fit, for comparison: walks the ranges from the start (the tutorial's heap);\n"
           "         each run stops after 0.25 s; (walk) = ranges visited per malloc\n"
           "load average at start: %.2f (timings are wall clock, CLOCK_MONOTONIC)\n\n",
           cfg.label, cfg.pairs, cfg.runs, cfg.runs == 1 ? "" : "s",
           (unsigned long long)cfg.seed, load_average());
    printf("           warden heap, ns/pair      naive first-fit, for comparison: ns/pair (walk)\n"
           "  holes H   shuffled  small-first     shuffled           small-first\n");

    row_t rows[8];
    for (size_t i = 0; i < cfg.nholes; i++) {
        measure(cfg.holes[i], req, &cfg, &rows[i]);
        print_row(&rows[i]);
    }
    print_ratios(&rows[0], &rows[cfg.nholes - 1]);
    printf("wd_heap_check: 0 after every H (and one free range once all is freed)\n");
    free(req);
    return 0;
}
