/* tests/classic/test_heap.c -- the classic heap (warden/heap.h): layout and
 * the dump's format (the seed scenario), init, sizes, free(NULL) and errno,
 * calloc, walk and stats.  realloc, memalign, merging and wd_heap_check on
 * corrupted headers have programs of their own (test_heap_realloc.c,
 * test_heap_memalign.c, test_heap_merge.c, test_heap_corrupt.c); misuse that
 * must abort lives in test_heap_misuse.c, the random model in
 * test_heap_model.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "heap_util.h"
#include "test.h"
#include "test_heap.h"

static _Alignas(64) unsigned char heap8k[8192];

/* ---- small helpers (the shared ones are in test_heap.h) ---------------- */

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* The payload of the first range of a heap on 16-aligned memory. */
static unsigned char *first_payload(wd_heap_t *h, void *mem) {
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    return (unsigned char *)mem + st.overhead_bytes; /* ctrl + 16-byte header */
}

/* Prints the dump, then asserts each range line is byte for byte the seed's
 * format regenerated from its parsed fields. */
static void print_and_match_dump(wd_heap_t *h, const char *title) {
    size_t len;
    char *text = hu_dump_text(h, &len);
    printf("-- %s\n%s", title, text);
    char *line = text;
    while (*line) {
        char *nl = strchr(line, '\n');
        CHECK(nl != NULL);
        *nl = '\0';
        if (strncmp(line, "summary:", 8) != 0) {
            hu_range_t r = hu_parse_line(line);
            char want[256];
            snprintf(want, sizeof want,
                     "[0x%" PRIxPTR " -> 0x%" PRIxPTR ") : 0x%016" PRIx64 " (%s, size = %zu bytes)",
                     r.start, r.end, r.word, r.allocated ? "allocated" : "free", r.size);
            if (strcmp(want, line) != 0)
                fprintf(stderr, "dump line '%s'\n   wanted '%s'\n", line, want);
            CHECK(strcmp(want, line) == 0);
        }
        line = nl + 1;
    }
    free(text);
}

/* ---- the seed scenario -------------------------------------------------- */

static void test_seed_scenario(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    CHECK((void *)h == (void *)heap4k); /* the control block is at the start */
    unsigned char *first = first_payload(h, heap4k);
    char *a = wd_heap_malloc(h, 100);
    char *b = wd_heap_malloc(h, 240);
    char *c = wd_heap_malloc(h, 256);
    char *d = wd_heap_malloc(h, 333);
    CHECK(a && b && c && d);
    /* ranges of 128, 256, 272, 352 bytes, one after the other */
    CHECK((unsigned char *)a == first);
    CHECK(b == a + 128 && c == b + 256 && d == c + 272);
    CHECK_EQ(wd_heap_usable_size(h, a), 112);
    CHECK_EQ(wd_heap_usable_size(h, b), 240);
    CHECK_EQ(wd_heap_usable_size(h, c), 256);
    CHECK_EQ(wd_heap_usable_size(h, d), 336);
    CHECK_EQ(hu_info(a), HU_ALLOC_BIT | 128);
    CHECK_EQ(hu_info(d), HU_ALLOC_BIT | 352);
    CHECK_EQ(hu_tag(b) >> 32, 128 / 16);
    CHECK_EQ(hu_tag(c) >> 32, 256 / 16);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    CHECK_EQ(st.used_bytes, 128 + 256 + 272 + 352);
    CHECK_EQ(st.peak_used_bytes, 128 + 256 + 272 + 352);
    CHECK_EQ(st.allocated_blocks, 4);
    CHECK_EQ(st.free_blocks, 1);
    print_and_match_dump(h, "seed: after a, b, c, d");
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL); /* its probe raises the peak */

    wd_heap_free(h, b);
    wd_heap_free(h, c);
    print_and_match_dump(h, "seed: after free(b), free(c)");
    hu_view_t v = {0};
    hu_verify(h, heap4k, sizeof heap4k, 1, &v);
    CHECK_EQ(v.n, 4); /* a, b+c merged, d, the rest */
    CHECK_EQ(v.r[1].start, (uintptr_t)b - 16);
    CHECK_EQ(v.r[1].size, 256 + 272);
    CHECK(!v.r[1].allocated);
    CHECK_EQ(hu_info(b), 528); /* the merged range's header is b's */

    char *e = wd_heap_malloc(h, 400);
    CHECK(e == b);
    print_and_match_dump(h, "seed: after e = malloc(400)");
    hu_verify(h, heap4k, sizeof heap4k, 1, &v);
    CHECK_EQ(v.n, 5);
    CHECK_EQ(v.r[1].size, 416);
    CHECK_EQ(v.r[2].size, 112);
    CHECK(!v.r[2].allocated);
    hu_view_free(&v);

    wd_heap_stats(h, &st);
    CHECK_EQ(st.used_bytes, 128 + 416 + 352);
    CHECK_EQ(st.allocated_blocks, 3);
    CHECK_EQ(st.free_blocks, 2);
    CHECK_EQ(st.heap_size, 4096);

    wd_heap_free(h, a);
    wd_heap_free(h, d);
    wd_heap_free(h, e);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, 1);
    CHECK_EQ(st.used_bytes, 0);
    void *big = wd_heap_malloc(h, 3500);
    CHECK(big == first);
    wd_heap_free(h, big);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
}

/* ---- init --------------------------------------------------------------- */

static void test_init(void) {
    size_t min = wd_heap_min_size();
    CHECK(min >= 48 && min <= 4096);

    errno = 0;
    CHECK(wd_heap_init(NULL, 4096) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(wd_heap_init(heap4k, 0) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(wd_heap_init(heap4k, min - 1) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(wd_heap_init(heap4k, 16) == NULL);
    CHECK_EQ(errno, EINVAL);

    /* exactly the minimum: one malloc(16), then nothing */
    wd_heap_t *h = fresh(heap4k, min);
    hu_verify(h, heap4k, min, 1, NULL);
    void *p = wd_heap_malloc(h, 16);
    CHECK(p != NULL);
    CHECK_EQ((uintptr_t)p % 16, 0);
    CHECK(wd_heap_usable_size(h, p) >= 16);
    memset(p, 0x5a, 16);
    hu_verify(h, heap4k, min, 1, NULL);
    errno = 0;
    CHECK(wd_heap_malloc(h, 0) == NULL);
    CHECK_EQ(errno, ENOMEM);
    wd_heap_free(h, p);
    p = wd_heap_malloc(h, 16);
    CHECK(p != NULL);
    wd_heap_free(h, p);
    hu_verify(h, heap4k, min, 1, NULL);

    /* dirty memory, re-init over a used heap */
    memset(heap4k, 0xa5, sizeof heap4k);
    h = fresh(heap4k, sizeof heap4k);
    wd_heap_stats_t st0, st;
    wd_heap_stats(h, &st0);
    CHECK_EQ(st0.heap_size, 4096);
    CHECK_EQ(st0.used_bytes, 0);
    CHECK_EQ(st0.allocated_blocks, 0);
    CHECK_EQ(st0.free_blocks, 1);
    CHECK_EQ(st0.peak_used_bytes, 0);
    CHECK_EQ(st0.free_bytes + st0.overhead_bytes, 4096);
    CHECK_EQ(st0.largest_free, st0.free_bytes - 16); /* one range, served whole */
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
    for (int i = 0; i < 10; i++)
        CHECK(wd_heap_malloc(h, 100) != NULL);
    h = fresh(heap4k, sizeof heap4k);
    wd_heap_stats(h, &st);
    stats_equal(&st0, &st);

    /* unaligned memory: the heap starts at the next 16-byte boundary */
    static const size_t offs[] = {1, 3, 8, 15};
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        unsigned char *mem = heap8k + offs[k];
        h = fresh(mem, 4096);
        CHECK((unsigned char *)h >= mem && (unsigned char *)h < mem + 16);
        hu_verify(h, mem, 4096, 1, NULL);
        void *ps[64];
        size_t n = 0;
        while (n < 64 && (ps[n] = wd_heap_malloc(h, 1 + rnd(300))) != NULL) {
            CHECK_EQ((uintptr_t)ps[n] % 16, 0);
            CHECK((unsigned char *)ps[n] >= mem &&
                  (unsigned char *)ps[n] + wd_heap_usable_size(h, ps[n]) <= mem + 4096);
            memset(ps[n], 0xee, wd_heap_usable_size(h, ps[n]));
            n++;
        }
        CHECK(n > 5);
        hu_verify(h, mem, 4096, 1, NULL);
        shuffle(ps, n);
        for (size_t i = 0; i < n; i++)
            wd_heap_free(h, ps[i]);
        hu_verify(h, mem, 4096, 1, NULL);
        wd_heap_stats(h, &st);
        CHECK_EQ(st.free_blocks, 1);
        CHECK(st.largest_free >= 3400);
        p = wd_heap_malloc(h, 3400);
        CHECK(p != NULL);
        wd_heap_free(h, p);
    }
    /* unaligned, minimum plus the alignment loss: still one malloc(16) */
    h = fresh(heap8k + 1, min + 15);
    p = wd_heap_malloc(h, 16);
    CHECK(p != NULL);
    wd_heap_free(h, p);
    hu_verify(h, heap8k + 1, min + 15, 0, NULL);
    /* unaligned with exactly the minimum: either refused or a working heap */
    errno = 0;
    h = wd_heap_init(heap8k + 1, min);
    if (h == NULL)
        CHECK_EQ(errno, EINVAL);
    else
        CHECK_EQ(wd_heap_check(h), 0);

    /* a size that is not a multiple of 16 */
    h = fresh(heap8k, 4100);
    hu_verify(h, heap8k, 4100, 1, NULL);
    p = wd_heap_malloc(h, 3500);
    CHECK(p != NULL);
    CHECK((unsigned char *)p + wd_heap_usable_size(h, p) <= heap8k + 4100);
    wd_heap_free(h, p);

    /* two heaps are independent */
    wd_heap_t *h1 = fresh(heap4k, sizeof heap4k);
    wd_heap_t *h2 = fresh(heap8k, sizeof heap8k);
    void *p1 = wd_heap_malloc(h1, 1000), *p2 = wd_heap_malloc(h2, 1000);
    CHECK(p1 && p2);
    CHECK((unsigned char *)p1 >= heap4k && (unsigned char *)p1 < heap4k + 4096);
    CHECK((unsigned char *)p2 >= heap8k && (unsigned char *)p2 < heap8k + 8192);
    wd_heap_free(h1, p1);
    hu_verify(h1, heap4k, sizeof heap4k, 1, NULL);
    hu_verify(h2, heap8k, sizeof heap8k, 1, NULL);
    wd_heap_free(h2, p2);
}

/* ---- sizes -------------------------------------------------------------- */

static void test_sizes(void) {
    wd_heap_t *h = fresh(heap1m, sizeof heap1m);
    static const size_t sizes[] = {0,   1,   2,   8,   15,   16,   17,   31,    32,    33,
                                   48,  100, 112, 113, 240,  256,  333,  1000,  4095,  4096,
                                   4097, 65536, 100000};
    void *ps[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        ps[i] = wd_heap_malloc(h, n);
        CHECK(ps[i] != NULL);
        CHECK_EQ((uintptr_t)ps[i] % 16, 0);
        size_t range = hu_range_size_for(n);
        CHECK_EQ(wd_heap_usable_size(h, ps[i]), range - 16);
        CHECK_EQ(hu_info(ps[i]), HU_ALLOC_BIT | range);
        if (i > 0) /* taken one after the other from the front of the rest */
            CHECK((char *)ps[i] == (char *)ps[i - 1] + hu_range_size_for(sizes[i - 1]));
        fill(ps[i], range - 16, (unsigned)i);
    }
    {
        void *p = wd_heap_malloc(h, 100);
        CHECK_EQ(wd_heap_usable_size(h, p), 112);
        wd_heap_free(h, p);
        p = wd_heap_malloc(h, 1);
        CHECK_EQ(wd_heap_usable_size(h, p), 16);
        wd_heap_free(h, p);
    }
    hu_verify(h, heap1m, sizeof heap1m, 1, NULL);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK(intact(ps[i], hu_range_size_for(sizes[i]) - 16, (unsigned)i));
        wd_heap_free(h, ps[i]);
    }
    hu_verify(h, heap1m, sizeof heap1m, 1, NULL);

    /* malloc(0): unique, freeable */
    void *z[3];
    for (int i = 0; i < 3; i++) {
        z[i] = wd_heap_malloc(h, 0);
        CHECK(z[i] != NULL);
        CHECK_EQ(wd_heap_usable_size(h, z[i]), 16);
        memset(z[i], 0x11, 16);
    }
    CHECK(z[0] != z[1] && z[1] != z[2] && z[0] != z[2]);
    for (int i = 0; i < 3; i++)
        wd_heap_free(h, z[i]);

    /* requests that cannot be served: NULL + ENOMEM, heap unchanged */
    static const size_t huge[] = {SIZE_MAX,
                                  SIZE_MAX - 1,
                                  SIZE_MAX - 15,
                                  SIZE_MAX - 16,
                                  SIZE_MAX - 31,
                                  SIZE_MAX - 4096,
                                  (size_t)PTRDIFF_MAX + 1,
                                  (size_t)PTRDIFF_MAX,
                                  (size_t)PTRDIFF_MAX - 15,
                                  (size_t)1 << 40,
                                  (size_t)64 << 30,
                                  1 << 20,
                                  (1 << 20) - 16};
    void *keep = wd_heap_malloc(h, 300);
    CHECK(keep != NULL);
    fill(keep, 300, 77);
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i];
        EXPECT_ENOMEM(h, wd_heap_malloc(h, n));
        EXPECT_ENOMEM(h, wd_heap_calloc(h, 1, n));
        EXPECT_ENOMEM(h, wd_heap_calloc(h, n, 1));
        EXPECT_ENOMEM(h, wd_heap_memalign(h, 16, n));
        EXPECT_ENOMEM(h, wd_heap_memalign(h, 4096, n));
        EXPECT_ENOMEM(h, wd_heap_realloc(h, NULL, n));
        EXPECT_ENOMEM(h, wd_heap_realloc(h, keep, n));
        CHECK(intact(keep, 300, 77));
        CHECK_EQ(wd_heap_usable_size(h, keep), hu_range_size_for(300) - 16);
    }
    wd_heap_free(h, keep);
    hu_verify(h, heap1m, sizeof heap1m, 1, NULL);
}

/* ---- free(NULL), errno -------------------------------------------------- */

static void test_free_null_errno(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    void *p = wd_heap_malloc(h, 10);
    wd_heap_stats_t a, b;
    wd_heap_stats(h, &a);
    errno = 1234;
    wd_heap_free(h, NULL);
    CHECK_EQ(errno, 1234);
    wd_heap_stats(h, &b);
    stats_equal(&a, &b);
    CHECK_EQ(wd_heap_usable_size(h, NULL), 0);
    errno = 4321;
    wd_heap_free(h, p);
    CHECK_EQ(errno, 4321);
    /* freeing a block between two free ranges, too (three-way merge) */
    void *x = wd_heap_malloc(h, 50), *y = wd_heap_malloc(h, 50), *z = wd_heap_malloc(h, 50);
    void *g = wd_heap_malloc(h, 50);
    wd_heap_free(h, x);
    wd_heap_free(h, z);
    errno = 999;
    wd_heap_free(h, y);
    CHECK_EQ(errno, 999);
    wd_heap_free(h, g);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
}

/* ---- calloc ------------------------------------------------------------- */

static void test_calloc(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    void *rest[64];

    /* overflowing products */
    EXPECT_ENOMEM(h, wd_heap_calloc(h, SIZE_MAX / 2 + 1, 2));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, 2, SIZE_MAX / 2 + 1));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, (size_t)1 << 32, (size_t)1 << 32));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, SIZE_MAX, SIZE_MAX));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, SIZE_MAX, 2));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, ((size_t)1 << 62) + 1, 4));
    /* products that fit but are too big */
    EXPECT_ENOMEM(h, wd_heap_calloc(h, 1, (size_t)PTRDIFF_MAX + 1));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, (size_t)1 << 31, (size_t)1 << 32));
    EXPECT_ENOMEM(h, wd_heap_calloc(h, 4096, 2));
    /* zero-byte products behave as malloc(0) */
    void *z1 = wd_heap_calloc(h, 0, 0), *z2 = wd_heap_calloc(h, 0, SIZE_MAX),
         *z3 = wd_heap_calloc(h, SIZE_MAX, 0);
    CHECK(z1 && z2 && z3 && z1 != z2 && z2 != z3 && z1 != z3);
    wd_heap_free(h, z1);
    wd_heap_free(h, z2);
    wd_heap_free(h, z3);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);

    /* memory that was dirty when the heap was made */
    memset(heap4k, 0xee, sizeof heap4k);
    h = fresh(heap4k, sizeof heap4k);
    unsigned char *p = wd_heap_calloc(h, 1, 3000);
    CHECK(p != NULL && all_zero(p, 3000));
    wd_heap_free(h, p);

    /* a dirty block reused: the only free range is p's */
    h = fresh(heap4k, sizeof heap4k);
    p = wd_heap_malloc(h, 500);
    void *g = wd_heap_malloc(h, 16);
    CHECK(p && g);
    size_t nrest = hu_fill_rest(h, rest, 64);
    memset(p, 0xab, wd_heap_usable_size(h, p));
    wd_heap_free(h, p);
    unsigned char *q = wd_heap_calloc(h, 500, 1);
    CHECK(q == p);
    CHECK(all_zero(q, 500));
    memset(q, 0xcd, 500);
    wd_heap_free(h, q);
    q = wd_heap_calloc(h, 5, 100);
    CHECK(q == p && all_zero(q, 500));
    memset(q, 0xcd, 500);
    wd_heap_free(h, q);
    q = wd_heap_calloc(h, 100, 5);
    CHECK(q == p && all_zero(q, 500));
    wd_heap_free(h, q);

    /* two dirty neighbours merged: the old header in the middle is zeroed too */
    for (size_t i = 0; i < nrest; i++)
        wd_heap_free(h, rest[i]);
    wd_heap_free(h, g);
    h = fresh(heap4k, sizeof heap4k);
    unsigned char *a = wd_heap_malloc(h, 200), *b = wd_heap_malloc(h, 200);
    g = wd_heap_malloc(h, 16);
    CHECK(a && b && g && b == a + 224);
    hu_fill_rest(h, rest, 64);
    memset(a, 0xcd, 208);
    memset(b, 0xcd, 208);
    wd_heap_free(h, a);
    wd_heap_free(h, b);
    q = wd_heap_calloc(h, 2, 216); /* range 448 = both */
    CHECK(q == a);
    CHECK(all_zero(q, 432));
    CHECK(wd_heap_usable_size(h, q) >= 432);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
}

/* ---- walk and stats ----------------------------------------------------- */

static int count_visits;
static int stop_at_third(void *start, size_t size, int allocated, void *arg) {
    (void)start, (void)size, (void)allocated;
    count_visits++;
    return count_visits == 3 ? *(int *)arg : 0;
}

static void test_walk_stats(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    hu_walk_t w = {0};
    hu_collect_walk(h, &w);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    CHECK_EQ(w.n, 1);
    CHECK(!w.e[0].allocated);
    CHECK_EQ(w.e[0].start, (uintptr_t)heap4k + st.overhead_bytes);
    CHECK_EQ(w.e[0].size, st.free_bytes - 16);

    void *p[5];
    for (int i = 0; i < 5; i++)
        p[i] = wd_heap_malloc(h, 40 * (size_t)(i + 1));
    wd_heap_free(h, p[1]);
    hu_collect_walk(h, &w);
    CHECK_EQ(w.n, 6);
    static const int alloc[] = {1, 0, 1, 1, 1, 0};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(w.e[i].allocated, alloc[i]);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(w.e[i].start, (uintptr_t)p[i]);
        CHECK_EQ(w.e[i].size, hu_range_size_for(40 * (size_t)(i + 1)) - 16);
    }
    free(w.e);

    int ret = 42;
    count_visits = 0;
    CHECK_EQ(wd_heap_walk(h, stop_at_third, &ret), 42);
    CHECK_EQ(count_visits, 3);
    ret = -7;
    count_visits = 0;
    CHECK(wd_heap_walk(h, stop_at_third, &ret) == -7);
    CHECK_EQ(count_visits, 3);

    /* stats: used, free, counters and the peak */
    wd_heap_stats(h, &st);
    size_t used = 0;
    for (int i = 0; i < 5; i++)
        if (i != 1)
            used += hu_range_size_for(40 * (size_t)(i + 1));
    CHECK_EQ(st.used_bytes, used);
    CHECK_EQ(st.allocated_blocks, 4);
    CHECK_EQ(st.free_blocks, 2);
    CHECK_EQ(st.peak_used_bytes, used + hu_range_size_for(80));
    CHECK_EQ(st.used_bytes + st.free_bytes + st.overhead_bytes, 4096);
    for (int i = 0; i < 5; i++)
        if (i != 1)
            wd_heap_free(h, p[i]);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.used_bytes, 0);
    CHECK_EQ(st.peak_used_bytes, used + hu_range_size_for(80));
    CHECK_EQ(st.allocated_blocks, 0);
    CHECK_EQ(st.free_blocks, 1);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
}

int main(void) {
    rng = test_seed();
    test_seed_scenario();
    test_init();
    test_sizes();
    test_free_null_errno();
    test_calloc();
    test_walk_stats();
    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
