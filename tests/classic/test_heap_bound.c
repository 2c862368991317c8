/* tests/classic/test_heap_bound.c -- malloc, free, realloc and memalign do a
 * bounded amount of work, whatever the heap holds.
 *
 * This program compiles src/classic/heap.c itself, built alone
 * (WD_HEAP_FREESTANDING) with its work counters on (WD_HEAP_COUNT_WORK):
 * headers verified (checksums computed to check), headers written, list
 * links followed.  Instructions are counted by `make bench-heap` under
 * callgrind; here the count of the steps that could grow with the heap is
 * asserted, so the test is deterministic.
 *
 * The constructed worst case: N free ranges of 1040 bytes, all in one size
 * class, nothing else free, and a request (1056 bytes) that none of them
 * can hold.  A heap that scans its class would follow N links; this one
 * must follow none, verify at most one header, and fail with the same work
 * for N = 1,000, 10,000 and 50,000.  Then random operations check that no
 * single call exceeds the bound stated in include/warden/heap.h. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "test.h"

struct wd_heap_work { unsigned long verified, written, links; };
extern struct wd_heap_work wd_heap_work;

void wd_heap_fatal(const char *what, const void *addr, const char *fn) {
    fprintf(stderr, "warden: %s at %p in %s\n", what, addr, fn);
    abort();
}

/* The bound of include/warden/heap.h, per call. */
#define MALLOC_VERIFIED 1
#define MALLOC_WRITTEN  2
#define MALLOC_LINKS    4
#define FREE_VERIFIED   3
#define FREE_WRITTEN    1
#define FREE_LINKS      8

static struct wd_heap_work work_since(struct wd_heap_work before) {
    struct wd_heap_work w = {wd_heap_work.verified - before.verified,
                             wd_heap_work.written - before.written,
                             wd_heap_work.links - before.links};
    return w;
}

static int within(struct wd_heap_work w, unsigned long v, unsigned long wr, unsigned long l,
                  const char *what) {
    if (w.verified <= v && w.written <= wr && w.links <= l)
        return 1;
    fprintf(stderr, "%s: verified %lu (bound %lu), written %lu (%lu), links %lu (%lu)\n", what,
            w.verified, v, w.written, wr, w.links, l);
    return 0;
}

/* N free ranges of 1040 bytes (class [1024, 1088)), guarded so that they
 * cannot merge, and no other free byte; then malloc(1056) must fail.
 * Returns the work of that malloc. */
static struct wd_heap_work worst_case(size_t n) {
    size_t size = n * (1040 + 32) + (1 << 16);
    unsigned char *mem = malloc(size);
    CHECK(mem != NULL);
    wd_heap_t *h = wd_heap_init_seeded(mem, size, 42);
    CHECK(h != NULL);
    void **holes = malloc(n * sizeof *holes);
    CHECK(holes != NULL);
    for (size_t i = 0; i < n; i++) {
        holes[i] = wd_heap_malloc(h, 1024); /* a 1040-byte range */
        CHECK(holes[i] != NULL);
        CHECK(wd_heap_malloc(h, 16) != NULL); /* the guard */
    }
    for (int i = 0; i < 64; i++) { /* take every other free byte */
        wd_heap_stats_t st;
        wd_heap_stats(h, &st);
        if (st.free_blocks == 0)
            break;
        CHECK(wd_heap_malloc(h, st.largest_free) != NULL);
    }
    for (size_t i = 0; i < n; i++)
        wd_heap_free(h, holes[i]);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, n);
    CHECK_EQ(st.largest_free, 1024); /* what malloc can serve, exactly */
    struct wd_heap_work before = wd_heap_work;
    void *p = wd_heap_malloc(h, 1056);
    struct wd_heap_work w = work_since(before);
    CHECK(p == NULL);
    CHECK(wd_heap_malloc(h, 1024) != NULL); /* a range of the class still serves */
    CHECK_EQ(wd_heap_check(h), 0);
    free(holes);
    free(mem);
    printf("worst case, %6zu free ranges in one class: malloc(1056) fails after %lu header(s) "
           "verified, %lu link(s) followed\n",
           n, w.verified, w.links);
    return w;
}

static void test_worst_case(void) {
    struct wd_heap_work w1 = worst_case(1000), w2 = worst_case(10000), w3 = worst_case(50000);
    CHECK(within(w1, MALLOC_VERIFIED, 0, 0, "failing malloc"));
    CHECK_EQ(w1.verified, w2.verified);
    CHECK_EQ(w1.verified, w3.verified);
    CHECK_EQ(w1.links, w2.links);
    CHECK_EQ(w1.links, w3.links);
}

/* Random malloc, free, realloc, memalign on a 1 MiB heap: each call within
 * its bound (realloc: a free plus a malloc plus one resize; memalign: a
 * malloc plus a split and a resize). */
static void test_random_calls(void) {
    static _Alignas(16) unsigned char mem[1 << 20];
    uint64_t rng = test_seed();
    wd_heap_t *h = wd_heap_init_seeded(mem, sizeof mem, rng);
    CHECK(h != NULL);
    enum { SLOTS = 2048 };
    static void *live[SLOTS];
    unsigned long max_malloc = 0, max_free = 0;
    for (int op = 0; op < 400000; op++) {
        size_t i = (size_t)(test_rand(&rng) % SLOTS);
        size_t n = (size_t)16 << (test_rand(&rng) % 8);
        n += (size_t)(test_rand(&rng) % n);
        struct wd_heap_work before = wd_heap_work, w;
        if (live[i] == NULL) {
            int align = test_rand(&rng) % 8 == 0;
            live[i] = align ? wd_heap_memalign(h, (size_t)32 << (test_rand(&rng) % 6), n)
                            : wd_heap_malloc(h, n);
            w = work_since(before);
            if (align)
                CHECK(within(w, MALLOC_VERIFIED + FREE_VERIFIED, MALLOC_WRITTEN + 4,
                             MALLOC_LINKS + FREE_LINKS, "memalign"));
            else
                CHECK(within(w, MALLOC_VERIFIED, MALLOC_WRITTEN, MALLOC_LINKS, "malloc"));
            if (!align && w.links > max_malloc)
                max_malloc = w.links;
        } else if (test_rand(&rng) % 4 == 0) {
            void *q = wd_heap_realloc(h, live[i], n);
            w = work_since(before);
            CHECK(within(w, MALLOC_VERIFIED + 2 * FREE_VERIFIED, MALLOC_WRITTEN + 2 * FREE_WRITTEN,
                         MALLOC_LINKS + 2 * FREE_LINKS, "realloc"));
            if (q)
                live[i] = q;
        } else {
            wd_heap_free(h, live[i]);
            w = work_since(before);
            CHECK(within(w, FREE_VERIFIED, FREE_WRITTEN, FREE_LINKS, "free"));
            if (w.links > max_free)
                max_free = w.links;
            live[i] = NULL;
        }
        if (op % 50000 == 0)
            CHECK_EQ(wd_heap_check(h), 0);
    }
    printf("random calls: at most %lu links in a malloc, %lu in a free\n", max_malloc, max_free);
    CHECK_EQ(wd_heap_check(h), 0);
}

int main(void) {
    test_worst_case();
    test_random_calls();
    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
