/* tests/classic/test_heap.c -- the classic heap (warden/heap.h): layout, C semantics,
 * merging, dump/walk/stats and wd_heap_check on deliberately corrupted
 * headers.  Misuse that must abort lives in test_heap_misuse.c, the random
 * model in test_heap_model.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <warden/heap.h>

#include "heap_util.h"
#include "test.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static _Alignas(64) unsigned char heap4k[4096];
static _Alignas(64) unsigned char heap8k[8192];
static _Alignas(64) unsigned char heap1m[1 << 20];
static uint64_t rng;
static int skipped_big;

/* ---- small helpers ------------------------------------------------------ */

static wd_heap_t *fresh(void *mem, size_t size) {
    errno = 0;
    wd_heap_t *h = wd_heap_init(mem, size);
    CHECK(h != NULL);
    return h;
}

static size_t rnd(size_t n) { return n ? (size_t)(test_rand(&rng) % n) : 0; }

static void shuffle(void **v, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd(i);
        void *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static void fill(void *p, size_t n, unsigned seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static int intact(const void *p, size_t n, unsigned seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 8)))
            return 0;
    return 1;
}

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static void stats_equal(const wd_heap_stats_t *a, const wd_heap_stats_t *b) {
    CHECK_EQ(a->heap_size, b->heap_size);
    CHECK_EQ(a->used_bytes, b->used_bytes);
    CHECK_EQ(a->free_bytes, b->free_bytes);
    CHECK_EQ(a->largest_free, b->largest_free);
    CHECK_EQ(a->allocated_blocks, b->allocated_blocks);
    CHECK_EQ(a->free_blocks, b->free_blocks);
    CHECK_EQ(a->peak_used_bytes, b->peak_used_bytes);
    CHECK_EQ(a->overhead_bytes, b->overhead_bytes);
}

/* The payload of the first range of a heap on 16-aligned memory. */
static unsigned char *first_payload(wd_heap_t *h, void *mem) {
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    return (unsigned char *)mem + st.overhead_bytes; /* ctrl + 16-byte header */
}

/* A request must fail with ENOMEM and leave the heap as it was. */
#define EXPECT_ENOMEM(h, expr)                                                 \
    do {                                                                       \
        wd_heap_stats_t before_, after_;                                       \
        wd_heap_stats(h, &before_);                                            \
        errno = 0;                                                             \
        void *r_ = (expr);                                                     \
        if (r_ != NULL)                                                        \
            fprintf(stderr, "%s:%d: %s succeeded\n", __FILE__, __LINE__, #expr);\
        CHECK(r_ == NULL);                                                     \
        CHECK_EQ(errno, ENOMEM);                                               \
        wd_heap_stats(h, &after_);                                             \
        stats_equal(&before_, &after_);                                        \
        CHECK_EQ(wd_heap_check(h), 0);                                         \
    } while (0)

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

/* ---- realloc ------------------------------------------------------------ */

static void test_realloc(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);

    /* realloc(NULL, n) is malloc(n) */
    char *p = wd_heap_realloc(h, NULL, 100);
    CHECK(p != NULL);
    CHECK_EQ(wd_heap_usable_size(h, p), 112);
    char *z = wd_heap_realloc(h, NULL, 0);
    CHECK(z != NULL && z != p);
    wd_heap_free(h, z);
    wd_heap_free(h, p);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);

    /* grows in place into a free next neighbour */
    h = fresh(heap4k, sizeof heap4k);
    char *a = wd_heap_malloc(h, 64), *b = wd_heap_malloc(h, 64), *g = wd_heap_malloc(h, 64);
    CHECK(a && b && g);
    fill(a, 64, 1);
    wd_heap_free(h, b);
    char *r = wd_heap_realloc(h, a, 100);
    CHECK(r == a);
    CHECK(intact(a, 64, 1));
    CHECK(wd_heap_usable_size(h, a) >= 100);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
    r = wd_heap_realloc(h, a, 144); /* exactly a + b: 160-byte range */
    CHECK(r == a);
    CHECK_EQ(wd_heap_usable_size(h, a), 144);
    CHECK(intact(a, 64, 1));
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);

    /* grows in place into the rest of the heap */
    char *t = wd_heap_malloc(h, 100);
    fill(t, 100, 2);
    r = wd_heap_realloc(h, t, 2000);
    CHECK(r == t);
    CHECK(intact(t, 100, 2));
    CHECK(wd_heap_usable_size(h, t) >= 2000);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);

    /* shrinks in place */
    fill(t, 2000, 3);
    r = wd_heap_realloc(h, t, 1000);
    CHECK(r == t && intact(t, 1000, 3));
    CHECK(wd_heap_usable_size(h, t) >= 1000);
    r = wd_heap_realloc(h, t, 990);
    CHECK(r == t && intact(t, 990, 3));
    r = wd_heap_realloc(h, t, 17);
    CHECK(r == t && intact(t, 17, 3));
    r = wd_heap_realloc(h, t, wd_heap_usable_size(h, t));
    CHECK(r == t && intact(t, 17, 3));
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
    wd_heap_free(h, t);
    wd_heap_free(h, a);
    wd_heap_free(h, g);

    /* moves when the next range is taken; the old range is freed */
    h = fresh(heap4k, sizeof heap4k);
    a = wd_heap_malloc(h, 64);
    b = wd_heap_malloc(h, 64);
    fill(a, 64, 4);
    r = wd_heap_realloc(h, a, 1000);
    CHECK(r != NULL && r != a);
    CHECK_EQ((uintptr_t)r % 16, 0);
    CHECK(intact(r, 64, 4));
    hu_view_t v = {0};
    hu_verify(h, heap4k, sizeof heap4k, 1, &v);
    CHECK_EQ(v.r[0].start, (uintptr_t)a - 16);
    CHECK(!v.r[0].allocated);
    hu_view_free(&v);
    {
        wd_heap_stats_t st;
        wd_heap_stats(h, &st);
        CHECK_EQ(st.allocated_blocks, 2);
    }

    /* a failed realloc leaves the block and its contents alone */
    fill(r, 1000, 5);
    size_t us = wd_heap_usable_size(h, r);
    EXPECT_ENOMEM(h, wd_heap_realloc(h, r, 4096));
    EXPECT_ENOMEM(h, wd_heap_realloc(h, r, 1 << 20));
    EXPECT_ENOMEM(h, wd_heap_realloc(h, r, SIZE_MAX));
    EXPECT_ENOMEM(h, wd_heap_realloc(h, r, SIZE_MAX - 8));
    EXPECT_ENOMEM(h, wd_heap_realloc(h, r, (size_t)PTRDIFF_MAX + 1));
    CHECK(intact(r, 1000, 5));
    CHECK_EQ(wd_heap_usable_size(h, r), us);
    /* ... also when nothing at all is free */
    void *rest[64];
    size_t nrest = hu_fill_rest(h, rest, 64);
    EXPECT_ENOMEM(h, wd_heap_realloc(h, r, us + 1));
    CHECK(intact(r, 1000, 5));
    for (size_t i = 0; i < nrest; i++)
        wd_heap_free(h, rest[i]);

    /* realloc(p, 0) frees p and returns NULL */
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    size_t before = st.allocated_blocks;
    CHECK(wd_heap_realloc(h, b, 0) == NULL);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.allocated_blocks, before - 1);
    wd_heap_free(h, r);
    hu_verify(h, heap4k, sizeof heap4k, 1, &v);
    CHECK_EQ(v.n, 1);
    hu_view_free(&v);

    /* a free previous neighbour and a taken next one: contents survive */
    h = fresh(heap4k, sizeof heap4k);
    a = wd_heap_malloc(h, 300);
    b = wd_heap_malloc(h, 300);
    g = wd_heap_malloc(h, 16);
    fill(b, 300, 6);
    wd_heap_free(h, a);
    r = wd_heap_realloc(h, b, 500);
    CHECK(r != NULL && intact(r, 300, 6));
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
    wd_heap_free(h, r);
    wd_heap_free(h, g);

    /* an aligned block is reallocated like any other */
    h = fresh(heap4k, sizeof heap4k);
    a = wd_heap_memalign(h, 256, 100);
    CHECK(a != NULL && (uintptr_t)a % 256 == 0);
    b = wd_heap_malloc(h, 16);
    fill(a, 100, 7);
    r = wd_heap_realloc(h, a, 700);
    CHECK(r != NULL && intact(r, 100, 7));
    r = wd_heap_realloc(h, r, 50);
    CHECK(r != NULL && intact(r, 50, 7));
    wd_heap_free(h, r);
    wd_heap_free(h, b);
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
}

/* ---- memalign ----------------------------------------------------------- */

static void test_memalign(void) {
    wd_heap_t *h = fresh(heap1m, sizeof heap1m);
    static const size_t bad[] = {0, 3, 5, 24, 48, 100, 4095, 4097, (1 << 20) + 16, SIZE_MAX,
                                 (size_t)3 << 40, ((size_t)1 << 63) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wd_heap_stats_t a, b;
        wd_heap_stats(h, &a);
        errno = 0;
        CHECK(wd_heap_memalign(h, bad[i], 100) == NULL);
        CHECK_EQ(errno, EINVAL);
        wd_heap_stats(h, &b);
        stats_equal(&a, &b);
    }
    /* every power of two: aligned or, when impossible, NULL + ENOMEM */
    for (unsigned s = 0; s < 64; s++) {
        size_t al = (size_t)1 << s;
        for (size_t sz = 0; sz <= 200; sz += 100) {
            errno = 0;
            void *p = wd_heap_memalign(h, al, sz);
            if (al <= sizeof heap1m / 4 && p == NULL)
                fprintf(stderr, "memalign(%zu, %zu) failed on a fresh 1 MiB heap\n", al, sz);
            if (al <= sizeof heap1m / 4)
                CHECK(p != NULL);
            if (p == NULL) {
                CHECK_EQ(errno, ENOMEM);
                hu_verify(h, heap1m, sizeof heap1m, 0, NULL);
                continue;
            }
            CHECK_EQ((uintptr_t)p % (al < 16 ? 16 : al), 0);
            CHECK(wd_heap_usable_size(h, p) >= sz);
            CHECK((unsigned char *)p >= heap1m &&
                  (unsigned char *)p + wd_heap_usable_size(h, p) <= heap1m + sizeof heap1m);
            memset(p, 0x77, wd_heap_usable_size(h, p));
            hu_verify(h, heap1m, sizeof heap1m, 1, NULL);
            wd_heap_free(h, p);
            wd_heap_stats_t st;
            wd_heap_stats(h, &st);
            CHECK_EQ(st.free_blocks, 1); /* the padding merged back */
            CHECK_EQ(st.allocated_blocks, 0);
        }
    }
    EXPECT_ENOMEM(h, wd_heap_memalign(h, (size_t)1 << 63, 16));
    EXPECT_ENOMEM(h, wd_heap_memalign(h, 4096, SIZE_MAX - 100));
    EXPECT_ENOMEM(h, wd_heap_memalign(h, (size_t)1 << 40, 1));

    /* a busy heap: aligned blocks among others, freed in random order */
    void *ps[400];
    size_t n = 0;
    for (size_t i = 0; i < 400; i++) {
        void *p;
        size_t al = (size_t)1 << rnd(14), sz = rnd(3000);
        if (rnd(3) == 0) {
            al = 16;
            p = wd_heap_malloc(h, sz);
        } else {
            p = wd_heap_memalign(h, al, sz);
        }
        if (p == NULL) {
            CHECK_EQ(errno, ENOMEM);
            continue;
        }
        CHECK_EQ((uintptr_t)p % (al < 16 ? 16 : al), 0);
        CHECK(wd_heap_usable_size(h, p) >= sz);
        memset(p, (int)i, sz);
        ps[n++] = p;
    }
    CHECK(n > 100);
    hu_verify(h, heap1m, sizeof heap1m, 1, NULL);
    shuffle(ps, n);
    for (size_t i = 0; i < n; i++) {
        wd_heap_free(h, ps[i]);
        if (i % 50 == 0)
            hu_verify(h, heap1m, sizeof heap1m, 0, NULL);
    }
    hu_view_t v = {0};
    hu_verify(h, heap1m, sizeof heap1m, 1, &v);
    CHECK_EQ(v.n, 1);
    hu_view_free(&v);

    /* memalign(a, 0) is unique and freeable; 1, 2, 4, 8 mean 16 */
    void *z0 = wd_heap_memalign(h, 64, 0), *z1 = wd_heap_memalign(h, 1, 0),
         *z2 = wd_heap_memalign(h, 8, 1);
    CHECK(z0 && z1 && z2 && z0 != z1 && z1 != z2);
    CHECK((uintptr_t)z0 % 64 == 0 && (uintptr_t)z1 % 16 == 0 && (uintptr_t)z2 % 16 == 0);
    wd_heap_free(h, z0);
    wd_heap_free(h, z1);
    wd_heap_free(h, z2);

    /* a 4 KiB heap: alignments up to the heap size */
    wd_heap_t *s = fresh(heap4k, sizeof heap4k);
    for (size_t al = 16; al <= 8192; al *= 2) {
        errno = 0;
        void *p = wd_heap_memalign(s, al, 64);
        if (al <= 1024)
            CHECK(p != NULL);
        if (p == NULL) {
            CHECK_EQ(errno, ENOMEM);
            continue;
        }
        CHECK_EQ((uintptr_t)p % al, 0);
        hu_verify(s, heap4k, sizeof heap4k, 1, NULL);
        wd_heap_free(s, p);
        hu_verify(s, heap4k, sizeof heap4k, 1, NULL);
    }
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

/* ---- merging: every order of freeing five neighbours -------------------- */

static const size_t five_sizes[5] = {48, 100, 16, 200, 64}; /* ranges 64 128 32 224 80 */

static int next_perm(int *v, int n) {
    int i = n - 2;
    while (i >= 0 && v[i] > v[i + 1])
        i--;
    if (i < 0)
        return 0;
    int j = n - 1;
    while (v[j] < v[i])
        j--;
    int t = v[i];
    v[i] = v[j];
    v[j] = t;
    for (int l = i + 1, r = n - 1; l < r; l++, r--) {
        t = v[l];
        v[l] = v[r];
        v[r] = t;
    }
    return 1;
}

/* Free ranges expected when the blocks marked in `freed` are free; slot 5 is
 * the rest of the heap (free when `tail`). */
static size_t runs_of(const int *freed, int tail) {
    size_t runs = 0;
    for (int i = 0; i < 6; i++) {
        int f = i < 5 ? freed[i] : tail;
        int prev = i == 0 ? 0 : (i - 1 < 5 ? freed[i - 1] : 0);
        if (f && !prev)
            runs++;
    }
    return runs;
}

static void coalesce_one(const int *order, int guarded) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    void *g0 = NULL, *g1 = NULL, *rest[64];
    size_t nrest = 0, total = 0;
    if (guarded)
        g0 = wd_heap_malloc(h, 16);
    char *b[5];
    for (int i = 0; i < 5; i++) {
        b[i] = wd_heap_malloc(h, five_sizes[i]);
        CHECK(b[i] != NULL);
        if (i > 0)
            CHECK(b[i] == b[i - 1] + hu_range_size_for(five_sizes[i - 1]));
        total += hu_range_size_for(five_sizes[i]);
        fill(b[i], five_sizes[i], (unsigned)i);
    }
    if (guarded) {
        g1 = wd_heap_malloc(h, 16);
        nrest = hu_fill_rest(h, rest, 64);
    }
    wd_heap_stats_t fresh_st;
    int freed[5] = {0};
    for (int k = 0; k < 5; k++) {
        int i = order[k];
        for (int j = 0; j < 5; j++)
            if (!freed[j])
                CHECK(intact(b[j], five_sizes[j], (unsigned)j));
        wd_heap_free(h, b[i]);
        freed[i] = 1;
        CHECK_EQ(wd_heap_check(h), 0);
        wd_heap_stats_t st;
        wd_heap_stats(h, &st);
        CHECK_EQ(st.free_blocks, runs_of(freed, !guarded));
        if (k == 2)
            hu_verify(h, heap4k, sizeof heap4k, 0, NULL);
    }
    hu_view_t v = {0};
    hu_verify(h, heap4k, sizeof heap4k, 1, &v);
    if (guarded) {
        /* one free range of exactly the five, and malloc gives it back whole */
        CHECK_EQ(v.n, 3 + nrest);
        CHECK_EQ(v.r[1].start, (uintptr_t)b[0] - 16);
        CHECK_EQ(v.r[1].size, total);
        CHECK(!v.r[1].allocated);
        wd_heap_stats(h, &fresh_st);
        CHECK_EQ(fresh_st.free_blocks, 1);
        CHECK_EQ(fresh_st.largest_free, total - 16);
        char *all = wd_heap_malloc(h, total - 16);
        CHECK(all == b[0]);
        wd_heap_free(h, all);
        wd_heap_free(h, g0);
        wd_heap_free(h, g1);
        for (size_t i = 0; i < nrest; i++)
            wd_heap_free(h, rest[i]);
    }
    hu_verify(h, heap4k, sizeof heap4k, 0, &v);
    CHECK_EQ(v.n, 1);
    CHECK(!v.r[0].allocated);
    hu_view_free(&v);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    h = fresh(heap4k, sizeof heap4k);
    wd_heap_stats(h, &fresh_st);
    CHECK_EQ(st.largest_free, fresh_st.largest_free);
    CHECK_EQ(st.free_bytes, fresh_st.free_bytes);
}

static void test_coalesce_permutations(void) {
    for (int guarded = 0; guarded <= 1; guarded++) {
        int order[5] = {0, 1, 2, 3, 4};
        int count = 0;
        do {
            coalesce_one(order, guarded);
            count++;
        } while (next_perm(order, 5));
        CHECK_EQ(count, 120);
    }
}

/* ---- the 4096-byte array serves malloc(3500) after any free order -------- */

static void test_4096_reuse(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    void *big = wd_heap_malloc(h, 3500);
    CHECK(big != NULL);
    wd_heap_free(h, big);
    for (int round = 0; round < 2000; round++) {
        void *ps[128];
        size_t n = 0;
        for (;;) {
            void *p;
            size_t sz = rnd(4) == 0 ? rnd(1200) : rnd(160);
            switch (rnd(4)) {
            case 0: p = wd_heap_calloc(h, 1, sz); break;
            case 1: p = wd_heap_memalign(h, (size_t)16 << rnd(5), sz); break;
            case 2: /* grown by realloc (never to 0, which would free it) */
                p = wd_heap_malloc(h, sz / 2);
                if (p) {
                    void *q = wd_heap_realloc(h, p, sz + 1);
                    if (q == NULL)
                        q = p;
                    p = q;
                }
                break;
            default: p = wd_heap_malloc(h, sz); break;
            }
            if (p == NULL)
                break;
            CHECK(n < 128);
            ps[n++] = p;
        }
        shuffle(ps, n);
        for (size_t i = 0; i < n; i++) {
            wd_heap_free(h, ps[i]);
            if (round % 64 == 0)
                CHECK_EQ(wd_heap_check(h), 0);
        }
        CHECK_EQ(wd_heap_check(h), 0);
        big = wd_heap_malloc(h, 3500);
        CHECK(big != NULL);
        wd_heap_free(h, big);
    }
    hu_verify(h, heap4k, sizeof heap4k, 1, NULL);
}

/* ---- heaps of 4 KiB, 1 MiB, 1 GiB; the 64 GiB cap ---------------------- */

/* Fills the heap with blocks of up to maxblock bytes (log-uniform), frees
 * them in random order and requires the whole heap back. */
static void exercise(void *mem, size_t size, size_t maxblock, size_t cap, size_t expect_size) {
    wd_heap_t *h = fresh(mem, size);
    wd_heap_stats_t st0, st;
    wd_heap_stats(h, &st0);
    CHECK_EQ(st0.heap_size, expect_size);
    CHECK_EQ(st0.free_blocks, 1);
    hu_verify(h, mem, expect_size, 1, NULL);
    void **ps = malloc(cap * sizeof *ps);
    CHECK(ps != NULL);
    size_t n = 0;
    unsigned bits = 0;
    while ((maxblock >> bits) > 1)
        bits++;
    while (n < cap) {
        size_t sz = rnd((size_t)1 << (4 + rnd(bits - 3)));
        if (sz > maxblock)
            sz = maxblock;
        void *p = wd_heap_malloc(h, sz);
        if (p == NULL) {
            CHECK_EQ(errno, ENOMEM);
            wd_heap_stats(h, &st);
            CHECK(st.largest_free < sz);
            break;
        }
        CHECK_EQ((uintptr_t)p % 16, 0);
        size_t us = wd_heap_usable_size(h, p);
        CHECK(us >= sz);
        ((unsigned char *)p)[0] = 1;
        ((unsigned char *)p)[us - 1] = 2;
        ps[n++] = p;
    }
    n += hu_fill_rest(h, ps + n, cap - n);
    printf("heap of %zu bytes: %zu blocks\n", expect_size, n);
    CHECK(n >= 4);
    hu_verify(h, mem, expect_size, 1, NULL);
    shuffle(ps, n);
    size_t every = n / 20 + 1;
    for (size_t i = 0; i < n; i++) {
        wd_heap_free(h, ps[i]);
        if (i % every == 0)
            CHECK_EQ(wd_heap_check(h), 0);
    }
    wd_heap_stats(h, &st);
    CHECK_EQ(st.allocated_blocks, 0);
    CHECK_EQ(st.free_blocks, 1);
    CHECK_EQ(st.used_bytes, 0);
    CHECK_EQ(st.free_bytes, st0.free_bytes);
    CHECK_EQ(st.largest_free, st0.largest_free);
    /* (almost) the whole heap in one malloc */
    size_t whole = st.free_bytes - 16;
    printf("  largest_free %zu of %zu usable in one range\n", st.largest_free, whole);
    CHECK_EQ(st.largest_free, whole);
    hu_view_t v = {0};
    hu_verify(h, mem, expect_size, 1, &v);
    CHECK_EQ(v.n, 1);
    void *all = wd_heap_malloc(h, st.largest_free);
    CHECK(all != NULL && (uintptr_t)all == v.r[0].start + 16);
    wd_heap_free(h, all);
    hu_view_free(&v);
    free(ps);
}

static void test_big_heaps(void) {
    exercise(heap4k, sizeof heap4k, 512, 256, sizeof heap4k);
    exercise(heap1m, sizeof heap1m, 16 * KiB, 1 << 16, sizeof heap1m);

    void *m = mmap(NULL, GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
        printf("skip: cannot map 1 GiB\n");
        skipped_big = 1;
    } else {
        exercise(m, GiB, 4 * MiB, 1 << 20, GiB);
        CHECK(munmap(m, GiB) == 0);
    }

    /* a range above 64 GiB is used up to 64 GiB */
    size_t cap = (size_t)64 << 30, len = cap + MiB;
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        printf("skip: cannot map 64 GiB + 1 MiB\n");
        skipped_big = 1;
        return;
    }
    wd_heap_t *h = fresh(m, len);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    CHECK_EQ(st.heap_size, cap);
    hu_verify(h, m, cap, 1, NULL);
    char *p = wd_heap_malloc(h, (size_t)48 << 30);
    CHECK(p != NULL);
    CHECK(p + wd_heap_usable_size(h, p) <= (char *)m + cap);
    p[0] = 1;
    p[((size_t)48 << 30) - 1] = 1;
    char *q = wd_heap_malloc(h, (size_t)8 << 30);
    CHECK(q != NULL);
    hu_verify(h, m, cap, 1, NULL);
    wd_heap_free(h, p);
    wd_heap_free(h, q);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, 1);
    CHECK_EQ(st.largest_free, st.free_bytes - 16);
    p = wd_heap_malloc(h, st.largest_free);
    CHECK(p != NULL);
    wd_heap_free(h, p);
    hu_verify(h, m, cap, 1, NULL);
    CHECK(munmap(m, len) == 0);
}

/* ---- wd_heap_check on deliberately corrupted headers -------------------- */

/* Layout used by every corruption: [a][x free][b][rest free]; x cannot merge. */
static unsigned char *ca, *cx, *cb;
static wd_heap_t *corrupt_setup(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    ca = wd_heap_malloc(h, 100);
    cx = wd_heap_malloc(h, 100);
    cb = wd_heap_malloc(h, 100);
    CHECK(ca && cx && cb);
    wd_heap_free(h, cx);
    CHECK_EQ(wd_heap_check(h), 0);
    return h;
}

/* Flips bit `bit` of the 64-bit word at addr; check must fail, must not
 * abort or crash; flipping back must make it pass again.  Runs in a child so
 * a crash is reported as such.  Returns 1 on failure. */
static int check_catches(const char *what, int which, int word, unsigned bit) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wd_heap_t *h = corrupt_setup();
        unsigned char *blk = which == 0 ? ca : which == 1 ? cx : cb;
        uint64_t *w = (uint64_t *)(void *)(blk + 8 * word); /* word -2: tag, -1: info */
        *w ^= (uint64_t)1 << bit;
        if (wd_heap_check(h) == 0)
            _exit(3);
        *w ^= (uint64_t)1 << bit;
        if (wd_heap_check(h) != 0)
            _exit(4);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        fprintf(stderr, "wd_heap_check missed: %s\n", what);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
        fprintf(stderr, "wd_heap_check still fails once %s is undone\n", what);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "wd_heap_check died of signal %d on: %s\n", WTERMSIG(status), what);
    else
        fprintf(stderr, "child failed (status %d) on: %s\n", status, what);
    return 1;
}

/* Runs fn in a child: it must exit 0 (not crash, not abort).  1 on failure. */
static int in_child(void (*fn)(void), const char *what) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: died of signal %d\n", what, WTERMSIG(status));
    else
        fprintf(stderr, "%s: failed (exit %d)\n", what, WEXITSTATUS(status));
    return 1;
}

/* An underflow of the first block runs into the control block's tail (list
 * heads and bitmaps). */
static void ctrl_tail_child(void) {
    wd_heap_t *h = corrupt_setup();
    unsigned char *tail = ca - 16 - 32; /* the 32 bytes before the first header */
    unsigned char saved[32];
    memcpy(saved, tail, 32);
    memset(tail, 0x41, 32);
    if (wd_heap_check(h) == 0) {
        fprintf(stderr, "wd_heap_check missed an overwritten control block tail\n");
        _exit(3);
    }
    memcpy(tail, saved, 32);
    if (wd_heap_check(h) != 0)
        _exit(4);
}
static int check_catches_ctrl_tail(void) {
    return in_child(ctrl_tail_child, "control block tail overwritten");
}

/* Headers saved while p was split off are written back after everything
 * merged: each has a valid checksum and the tiling is consistent, but the
 * lists and counters disagree with the ranges. */
static void replay_child(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    unsigned char *p = wd_heap_malloc(h, 1000);
    unsigned char *g = wd_heap_malloc(h, 16);
    CHECK(p && g);
    wd_heap_free(h, p); /* p's header now says: free, 1024 */
    unsigned char saved[16];
    memcpy(saved, p - 16, 16);
    wd_heap_free(h, g); /* all one range: p - 16 now says the whole size */
    CHECK_EQ(wd_heap_check(h), 0);
    memcpy(p - 16, saved, 16); /* [free 1024][free 32 (g's old)][free rest] */
    if (wd_heap_check(h) == 0) {
        fprintf(stderr, "wd_heap_check missed three touching free ranges made of replayed headers\n");
        _exit(3);
    }
}
static int check_catches_replayed_headers(void) {
    return in_child(replay_child, "replayed stale headers");
}

static void test_check_corruption(void) {
    static const struct {
        const char *what;
        int which, word;
        unsigned bit;
    } cases[] = {
        {"allocated block: info size bit 4", 0, -1, 4},
        {"allocated block: info size bit 9", 2, -1, 9},
        {"allocated block: info allocated bit", 0, -1, 63},
        {"allocated block: info bit 40", 2, -1, 40},
        {"allocated block: tag checksum bit 0", 0, -2, 0},
        {"allocated block: tag checksum bit 31", 2, -2, 31},
        {"allocated block: tag prev-size bit 32", 2, -2, 32},
        {"allocated block: tag prev-size bit 36", 2, -2, 36},
        {"free block: info size bit 4", 1, -1, 4},
        {"free block: info allocated bit", 1, -1, 63},
        {"free block: tag checksum bit 7", 1, -2, 7},
        {"free block: tag prev-size bit 35", 1, -2, 35},
        {"free block: first link bit 4", 1, 0, 4},
        {"free block: first link bit 44", 1, 0, 44},
        {"free block: second link bit 4", 1, 1, 4},
        {"free block: second link bit 60", 1, 1, 60},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_failures += check_catches(cases[i].what, cases[i].which, cases[i].word, cases[i].bit);
    test_failures += check_catches_ctrl_tail();
    test_failures += check_catches_replayed_headers();
    /* and in this process too, plainly: one flipped bit, check says -1 */
    wd_heap_t *h = corrupt_setup();
    uint64_t *info = (uint64_t *)(void *)(cb - 8);
    *info ^= 16;
    CHECK_EQ(wd_heap_check(h), -1);
    *info ^= 16;
    CHECK_EQ(wd_heap_check(h), 0);
}

int main(void) {
    rng = test_seed();
    test_seed_scenario();
    test_init();
    test_sizes();
    test_free_null_errno();
    test_calloc();
    test_realloc();
    test_memalign();
    test_walk_stats();
    test_coalesce_permutations();
    test_4096_reuse();
    test_big_heaps();
    test_check_corruption();
    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    if (skipped_big) {
        printf("all run parts passed; some big heaps could not be mapped: skip\n");
        return TEST_SKIP;
    }
    printf("ok\n");
    return 0;
}
