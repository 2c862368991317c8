/* tests/classic/test_heap_realloc.c -- the classic heap's realloc: NULL and
 * 0, growing in place into a free neighbour or the rest of the heap,
 * shrinking in place, moving (the old range freed), failures that leave the
 * block alone, and aligned blocks resized. */
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

int main(void) {
    test_realloc();
    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
