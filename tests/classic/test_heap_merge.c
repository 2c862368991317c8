/* tests/classic/test_heap_merge.c -- free ranges merge back: every order of
 * freeing five neighbours, a 4 KiB heap that still serves malloc(3500) after
 * any mix of calls freed in any order, and heaps of 4 KiB, 1 MiB and 1 GiB
 * filled and emptied in random order until one range is left (and the
 * 64 GiB cap); the top range coming back when the last block is freed.  Skips (77) when the big heaps cannot be mapped, after
 * running everything else. */
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
#include "test_heap.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static int skipped_big;

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

/* ---- the top: the last range, when free, is in no list ----------------- */

/* A heap filled to its end has no top; freeing its last block makes the
 * last range free again, and wd_heap_check holds only if that range is the
 * top.  The block before it merges into it, a listed range elsewhere does
 * not change it, and a request for the whole top is carved at its start. */
static void test_top_returns(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    char *b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = wd_heap_malloc(h, 100); /* 128-byte ranges, side by side */
        CHECK(b[i] != NULL);
    }
    void *rest[64];
    CHECK_EQ(hu_fill_rest(h, rest, 64), 1); /* the top, whole */
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, 0);
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_free(h, rest[0]); /* the last range: the top again */
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_free(h, b[2]); /* merges into the top */
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, 1);
    size_t whole = st.largest_free;
    wd_heap_free(h, b[0]); /* a listed range */
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, 2);
    CHECK_EQ(st.largest_free, whole);
    char *p = wd_heap_malloc(h, whole);
    CHECK(p == b[2]);
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_free(h, p);
    wd_heap_free(h, b[1]); /* b[0], b[1] and the top: one range */
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_stats(h, &st);
    CHECK_EQ(st.free_blocks, 1);
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
            /* malloc(0) asks for the smallest range: it fails only when
             * there is no free range at all. */
            CHECK(st.largest_free < (sz ? sz : 1));
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

int main(void) {
    rng = test_seed();
    test_coalesce_permutations();
    test_top_returns();
    test_4096_reuse();
    test_big_heaps();
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
