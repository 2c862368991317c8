/* tests/classic/test_heap.h -- what the test_heap programs share:
 * test_heap.c, test_heap_realloc.c, test_heap_memalign.c, test_heap_merge.c
 * and test_heap_corrupt.c.  The whole-heap checks (dump, walk, stats and the
 * raw headers cross-checked) are in heap_util.h.
 *
 *   heap4k, heap1m           static, 64-aligned memory to make heaps in
 *   rng, rnd(n), shuffle     random numbers; a program that uses them seeds
 *                            rng with test_seed() first
 *   fresh(mem, size)         wd_heap_init, which must succeed
 *   fill, intact             a pattern keyed by a seed, written and checked
 *   stats_equal(a, b)        two wd_heap_stats_t agree field by field
 *   EXPECT_ENOMEM(h, expr)   expr fails with ENOMEM and leaves the heap as it was
 */
#ifndef WARDEN_TESTS_TEST_HEAP_H
#define WARDEN_TESTS_TEST_HEAP_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "test.h"

static _Alignas(64) unsigned char heap4k[4096];
/* Not every program makes a heap of 1 MiB. */
static _Alignas(64) unsigned char heap1m[1 << 20] __attribute__((unused));
static uint64_t rng;

static inline wd_heap_t *fresh(void *mem, size_t size) {
    errno = 0;
    wd_heap_t *h = wd_heap_init(mem, size);
    CHECK(h != NULL);
    return h;
}

static inline size_t rnd(size_t n) { return n ? (size_t)(test_rand(&rng) % n) : 0; }

static inline void shuffle(void **v, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd(i);
        void *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static inline void fill(void *p, size_t n, unsigned seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static inline int intact(const void *p, size_t n, unsigned seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 8)))
            return 0;
    return 1;
}

static inline void stats_equal(const wd_heap_stats_t *a, const wd_heap_stats_t *b) {
    CHECK_EQ(a->heap_size, b->heap_size);
    CHECK_EQ(a->used_bytes, b->used_bytes);
    CHECK_EQ(a->free_bytes, b->free_bytes);
    CHECK_EQ(a->largest_free, b->largest_free);
    CHECK_EQ(a->allocated_blocks, b->allocated_blocks);
    CHECK_EQ(a->free_blocks, b->free_blocks);
    CHECK_EQ(a->peak_used_bytes, b->peak_used_bytes);
    CHECK_EQ(a->overhead_bytes, b->overhead_bytes);
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

#endif /* WARDEN_TESTS_TEST_HEAP_H */
