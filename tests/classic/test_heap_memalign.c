/* tests/classic/test_heap_memalign.c -- the classic heap's memalign: bad
 * alignments (EINVAL), every power of two on a fresh heap, impossible ones
 * (ENOMEM), aligned blocks among others freed in random order, size 0, and
 * alignments up to the size of a 4 KiB heap. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "heap_util.h"
#include "test.h"
#include "test_heap.h"

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

int main(void) {
    rng = test_seed();
    test_memalign();
    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
