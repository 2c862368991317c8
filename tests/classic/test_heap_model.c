/* tests/classic/test_heap_model.c -- randomized model test of the classic heap.
 *
 * Millions of malloc/calloc/realloc/memalign/free on an 8 MiB heap against a
 * table of live blocks.  Every block is filled over its whole usable size
 * with a pattern derived from its own tag and verified before it is freed or
 * reallocated; realloc must keep min(old, new) bytes; calloc must give zeros;
 * alignment, usable sizes, failures (only when largest_free is too small),
 * used_bytes, counters and peak are checked against the model; wd_heap_check
 * every few thousand operations, a full dump/walk cross-check now and then.
 * At the end everything is freed in random order and the heap must be one
 * free range again, as fresh.
 *
 * WD_TEST_SEED replays a run; WD_TEST_QUICK (or a sanitizer build) runs
 * 300k operations instead of 2 million.  (Single-threaded: TSan has nothing
 * to find here, only time to take.) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "heap_util.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__) || TEST_TSAN
#define MODEL_SANITIZED 1
#else
#define MODEL_SANITIZED 0
#endif

#define HEAP_SIZE ((size_t)8 << 20)
#define SLOTS 4096
#define LIGHT_EVERY 4096
#define FULL_EVERY 65536

typedef struct slot {
    unsigned char *p;
    size_t req;     /* bytes asked for */
    size_t usable;  /* wd_heap_usable_size when it was made */
    uint64_t tag;   /* pattern seed */
} slot_t;

static _Alignas(64) unsigned char heap_mem[HEAP_SIZE];
static slot_t slots[SLOTS];
static uint64_t rng;
static wd_heap_t *H;

/* the model */
static size_t live, used, model_peak, peak_hi, max_live;
static uint64_t next_tag = 1;
static unsigned long long n_ops, n_fail, n_malloc, n_calloc, n_memalign, n_realloc, n_free,
    n_inplace;

static size_t rnd(size_t n) { return n ? (size_t)(test_rand(&rng) % n) : 0; }

static size_t pick_size(void) {
    size_t r = rnd(100);
    if (r < 70)
        return rnd(257);
    if (r < 96)
        return 257 + rnd(4096 - 257 + 1);
    return 4097 + rnd(65536 - 4097 + 1);
}

static uint64_t pat_word(uint64_t tag, size_t i) {
    uint64_t x = tag * 0x9E3779B97F4A7C15ULL ^ (uint64_t)i * 0xD6E8FEB86659FD93ULL;
    return x ^ (x >> 29);
}

static void pat_fill(unsigned char *p, size_t n, uint64_t tag) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pat_word(tag, i / 8);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = pat_word(tag, i / 8);
        memcpy(p + i, &w, n - i);
    }
}

/* Index of the first byte that differs from the pattern, or n. */
static size_t pat_check(const unsigned char *p, size_t n, uint64_t tag) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pat_word(tag, i / 8), got;
        memcpy(&got, p + i, 8);
        if (got != w)
            break;
    }
    for (; i < n; i++) {
        uint64_t w = pat_word(tag, i / 8);
        if (p[i] != (unsigned char)(w >> (8 * (i % 8))))
            return i;
    }
    return n;
}

static void expect_pattern(const slot_t *s, size_t n, const unsigned char *at, const char *when) {
    size_t bad = pat_check(at, n, s->tag);
    if (bad != n) {
        fprintf(stderr, "op %llu: block %p (req %zu, usable %zu) damaged at byte %zu %s\n", n_ops,
                (void *)s->p, s->req, s->usable, bad, when);
        CHECK(!"block contents intact");
    }
}

static void note_used(size_t transient) {
    if (used > model_peak)
        model_peak = used;
    if (transient > peak_hi)
        peak_hi = transient;
    if (used > peak_hi)
        peak_hi = used;
}

/* A request failed: it must be ENOMEM, and (except for memalign, whose
 * padding we do not model) no free range may have been able to serve it. */
static void failed(size_t req, int aligned) {
    CHECK_EQ(errno, ENOMEM);
    n_fail++;
    if (!aligned) {
        wd_heap_stats_t st;
        wd_heap_stats(H, &st);
        if (st.largest_free >= req)
            fprintf(stderr, "op %llu: request of %zu failed, largest_free %zu\n", n_ops, req,
                    st.largest_free);
        CHECK(st.largest_free < req);
    }
}

static void adopt(slot_t *s, unsigned char *p, size_t req, int exact_range) {
    CHECK_EQ((uintptr_t)p % 16, 0);
    CHECK(p >= heap_mem && p < heap_mem + HEAP_SIZE);
    size_t us = wd_heap_usable_size(H, p);
    CHECK(us >= req);
    CHECK(p + us <= heap_mem + HEAP_SIZE);
    if (exact_range) { /* the range is split unless less than 48 bytes remain (32 of the top) */
        size_t want = hu_range_size_for(req) - 16;
        if (us < want || us >= want + 48)
            fprintf(stderr, "op %llu: request %zu got usable %zu\n", n_ops, req, us);
        CHECK(us >= want && us < want + 48);
    }
    s->p = p;
    s->req = req;
    s->usable = us;
    s->tag = next_tag++;
    pat_fill(p, us, s->tag);
}

static void do_alloc(slot_t *s) {
    size_t req = pick_size();
    size_t used_before = used;
    size_t r = rnd(100);
    unsigned char *p;
    errno = 0;
    if (r < 45) {
        n_malloc++;
        p = wd_heap_malloc(H, req);
        if (!p) {
            failed(req, 0);
            return;
        }
        adopt(s, p, req, 1);
    } else if (r < 65) {
        n_calloc++;
        size_t n = 1 + rnd(8), sz = req / n;
        req = n * sz;
        p = wd_heap_calloc(H, n, sz);
        if (!p) {
            failed(req, 0);
            return;
        }
        for (size_t i = 0; i < req; i++)
            if (p[i] != 0) {
                fprintf(stderr, "op %llu: calloc(%zu, %zu) byte %zu is %u\n", n_ops, n, sz, i,
                        p[i]);
                CHECK(!"calloc zeroes");
            }
        adopt(s, p, req, 1);
    } else if (r < 85) {
        n_memalign++;
        size_t al = rnd(20) == 0 ? (size_t)1 << (13 + rnd(4)) : (size_t)1 << rnd(13);
        if (rnd(4) == 0)
            req = rnd(200);
        p = wd_heap_memalign(H, al, req);
        if (!p) {
            failed(req, 1);
            return;
        }
        CHECK_EQ((uintptr_t)p % (al < 16 ? 16 : al), 0);
        adopt(s, p, req, 1);
        live++;
        used += s->usable + 16;
        note_used(used_before + s->usable + 16 + al + 32);
        return;
    } else {
        n_realloc++;
        p = wd_heap_realloc(H, NULL, req);
        if (!p) {
            failed(req, 0);
            return;
        }
        adopt(s, p, req, 1);
    }
    live++;
    used += s->usable + 16;
    note_used(used);
}

static void do_free(slot_t *s) {
    n_free++;
    expect_pattern(s, s->usable, s->p, "before free");
    CHECK_EQ(wd_heap_usable_size(H, s->p), s->usable);
    int saved = errno = (int)(n_ops & 0xffff);
    wd_heap_free(H, s->p);
    CHECK_EQ(errno, saved);
    live--;
    used -= s->usable + 16;
    s->p = NULL;
}

static void do_realloc(slot_t *s) {
    n_realloc++;
    size_t req = rnd(50) == 0 ? 0 : pick_size();
    expect_pattern(s, s->usable, s->p, "before realloc");
    size_t used_before = used;
    errno = 0;
    unsigned char *q = wd_heap_realloc(H, s->p, req);
    if (req == 0) { /* frees, returns NULL */
        CHECK(q == NULL);
        live--;
        used -= s->usable + 16;
        s->p = NULL;
        return;
    }
    if (q == NULL) {
        failed(req, 0);
        CHECK(req > s->usable);
        expect_pattern(s, s->usable, s->p, "after a failed realloc");
        CHECK_EQ(wd_heap_usable_size(H, s->p), s->usable);
        return;
    }
    if (q == s->p)
        n_inplace++;
    size_t keep = req < s->req ? req : s->req;
    expect_pattern(s, keep, q, "after realloc (the kept part)");
    size_t old_usable = s->usable;
    adopt(s, q, req, 0);
    used = used - old_usable + s->usable;
    note_used(used_before + s->usable + 16);
}

static void light_check(void) {
    CHECK_EQ(wd_heap_check(H), 0);
    wd_heap_stats_t st;
    wd_heap_stats(H, &st);
    CHECK_EQ(st.heap_size, HEAP_SIZE);
    CHECK_EQ(st.allocated_blocks, live);
    CHECK_EQ(st.used_bytes, used);
    CHECK_EQ(st.used_bytes + st.free_bytes + st.overhead_bytes, HEAP_SIZE);
    if (st.peak_used_bytes < model_peak || st.peak_used_bytes > peak_hi)
        fprintf(stderr, "op %llu: peak %zu outside [%zu, %zu]\n", n_ops, st.peak_used_bytes,
                model_peak, peak_hi);
    CHECK(st.peak_used_bytes >= model_peak && st.peak_used_bytes <= peak_hi);
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const slot_t *)a)->p, y = (uintptr_t)((const slot_t *)b)->p;
    return x < y ? -1 : x > y;
}

/* Walk and dump against the table: the same blocks, the same sizes. */
static void full_check(void) {
    light_check();
    hu_view_t v = {0};
    hu_verify(H, heap_mem, HEAP_SIZE, 0, &v);
    /* malloc(largest_free) must work and malloc(largest_free + 1) not; the
     * probe counts in the peak like any block (its range may take up to 16
     * more bytes when the rest would be under 32) */
    wd_heap_stats_t st;
    wd_heap_stats(H, &st);
    hu_probe_largest(H, heap_mem, HEAP_SIZE, &v);
    hu_view_free(&v);
    if (st.free_blocks > 0)
        note_used(used + hu_range_size_for(st.largest_free) + 16);
    if (st.free_blocks > 0 && used + hu_range_size_for(st.largest_free) > model_peak)
        model_peak = used + hu_range_size_for(st.largest_free);
    static slot_t sorted[SLOTS];
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].p)
            sorted[n++] = slots[i];
    qsort(sorted, n, sizeof sorted[0], cmp_ptr);
    hu_walk_t w = {0};
    hu_collect_walk(H, &w);
    size_t k = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (!w.e[i].allocated)
            continue;
        CHECK(k < n);
        CHECK_EQ(w.e[i].start, (uintptr_t)sorted[k].p);
        CHECK_EQ(w.e[i].size, sorted[k].usable);
        k++;
    }
    CHECK_EQ(k, n);
    free(w.e);
}

int main(void) {
    rng = test_seed();
    const char *quick = getenv("WD_TEST_QUICK");
    unsigned long long nops = (quick && *quick && strcmp(quick, "0") != 0) || MODEL_SANITIZED
                                  ? 300000ULL
                                  : 2000000ULL;
    printf("operations: %llu\n", nops);

    H = wd_heap_init(heap_mem, HEAP_SIZE);
    CHECK(H != NULL);
    wd_heap_stats_t fresh_st;
    wd_heap_stats(H, &fresh_st);
    CHECK_EQ(fresh_st.free_blocks, 1);
    CHECK_EQ(fresh_st.heap_size, HEAP_SIZE);

    for (n_ops = 0; n_ops < nops; n_ops++) {
        slot_t *s = &slots[rnd(SLOTS)];
        if (!s->p) {
            do_alloc(s);
        } else if (rnd(100) < 55) {
            do_free(s);
        } else {
            do_realloc(s);
        }
        if (live > max_live)
            max_live = live;
        if (n_ops % LIGHT_EVERY == 0)
            light_check();
        if (n_ops % FULL_EVERY == 0)
            full_check();
    }
    full_check();
    printf("malloc %llu calloc %llu memalign %llu realloc %llu (in place %llu) free %llu; "
           "failed %llu; live at most %zu; peak %zu\n",
           n_malloc, n_calloc, n_memalign, n_realloc, n_inplace, n_free, n_fail, max_live,
           model_peak);
    CHECK(n_fail < nops / 10); /* the mix must mostly succeed to mean anything */

    /* everything back, in random order */
    size_t order[SLOTS];
    for (size_t i = 0; i < SLOTS; i++)
        order[i] = i;
    for (size_t i = SLOTS; i > 1; i--) {
        size_t j = rnd(i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < SLOTS; i++) {
        slot_t *s = &slots[order[i]];
        if (s->p)
            do_free(s);
        if (i % 512 == 0)
            light_check();
    }
    full_check();
    wd_heap_stats_t st;
    wd_heap_stats(H, &st);
    CHECK_EQ(st.allocated_blocks, 0);
    CHECK_EQ(st.used_bytes, 0);
    CHECK_EQ(st.free_blocks, 1);
    CHECK_EQ(st.free_bytes, fresh_st.free_bytes);
    CHECK_EQ(st.largest_free, fresh_st.largest_free);
    void *all = wd_heap_malloc(H, st.largest_free);
    CHECK(all != NULL);
    wd_heap_free(H, all);

    /* a fresh heap on the same memory agrees */
    H = wd_heap_init(heap_mem, HEAP_SIZE);
    CHECK(H != NULL);
    wd_heap_stats_t again;
    wd_heap_stats(H, &again);
    CHECK_EQ(again.largest_free, st.largest_free);
    CHECK_EQ(again.free_bytes, st.free_bytes);
    printf("ok\n");
    return test_failures ? 1 : 0;
}
