/* test_vec.c -- warden/vec.h: growth by doubling, shrinking on pop, reserve,
 * shrink_to_fit, clear, free, overflow checks before any realloc, failed
 * reallocs that leave the vector intact (through the allocator hook), and
 * the index and empty-pop reports.  test_vec_ndebug.c checks the NDEBUG
 * build of the same macros. */

/* This file tests the checks, which NDEBUG (set by CMake's release build
 * types) turns off. */
#undef NDEBUG

#include <stddef.h>
#include <stdint.h>

#include <warden.h>

#include "test.h"

/* The hook: every realloc and free of the vectors below comes here, so the
 * test can count them and make the next ones fail.  Declared before the
 * header, whose helpers call it. */
static size_t realloc_calls, free_calls;
static int fail_reallocs; /* the next this many reallocs return NULL */

static void *test_realloc(void *p, size_t size) {
    realloc_calls++;
    CHECK(size > 0); /* the header never asks for 0 */
    if (fail_reallocs > 0) {
        fail_reallocs--;
        return NULL; /* like realloc: p stays valid; errno left alone on purpose */
    }
    return wd_realloc(p, size);
}

static void test_free(void *p) {
    free_calls++;
    wd_free(p);
}

#define WD_VEC_REALLOC test_realloc
#define WD_VEC_FREE    test_free
#include <warden/vec.h>

typedef WD_VEC(int) int_vec;

int vec_ndebug_check(void); /* test_vec_ndebug.c */

static void test_init_push_at(void) {
    int_vec v;
    wd_vec_init(&v);
    CHECK(v.data == NULL && v.len == 0 && v.cap == 0);
    int_vec w = WD_VEC_INIT;
    CHECK(w.data == NULL && w.len == 0 && w.cap == 0);
    realloc_calls = 0;
    size_t caps[] = {4, 8, 16, 32, 64, 128, 256, 512, 1024};
    size_t next_cap = 0;
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(wd_vec_push(&v, i * 3), 0);
        CHECK_EQ(v.len, (size_t)i + 1);
        if (v.len == 1 || v.len - 1 == caps[next_cap - 1])
            CHECK_EQ(v.cap, caps[next_cap++]);
        CHECK(v.cap >= v.len);
    }
    CHECK_EQ(v.cap, 1024);
    CHECK_EQ(realloc_calls, 9); /* 0 -> 4 -> 8 ... -> 1024: doubling */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(wd_vec_at(&v, i), i * 3);
    wd_vec_at(&v, 5) = -1; /* an lvalue */
    wd_vec_at(&v, 6) += 10;
    int *p = &wd_vec_at(&v, 7);
    *p = 77;
    CHECK(v.data[5] == -1 && v.data[6] == 28 && v.data[7] == 77);
    free_calls = 0;
    wd_vec_free(&v);
    CHECK(v.data == NULL && v.len == 0 && v.cap == 0);
    CHECK_EQ(free_calls, 1);
    wd_vec_free(&v); /* free of an empty vector: free(NULL) */
    CHECK_EQ(wd_vec_push(&v, 1), 0); /* usable again */
    wd_vec_free(&v);
}

/* Pop returns items last in, first out; the room halves when a pop leaves
 * the vector a quarter full, never below WD_VEC_MIN_CAP, and a push right
 * after a shrink does not grow again (no thrashing at a boundary). */
static void test_pop_shrink(void) {
    int_vec v = WD_VEC_INIT;
    for (int i = 0; i < 64; i++)
        CHECK_EQ(wd_vec_push(&v, i), 0);
    CHECK_EQ(v.cap, 64);
    realloc_calls = 0;
    for (int i = 63; i >= 17; i--)
        CHECK_EQ(wd_vec_pop(&v), i);
    CHECK_EQ(v.len, 17);
    CHECK_EQ(v.cap, 64);
    CHECK_EQ(realloc_calls, 0);
    CHECK_EQ(wd_vec_pop(&v), 16); /* len 16 == 64 / 4 */
    CHECK_EQ(v.cap, 32);
    CHECK_EQ(realloc_calls, 1);
    CHECK_EQ(wd_vec_push(&v, 16), 0); /* 17 of 32: no realloc */
    CHECK_EQ(wd_vec_pop(&v), 16);
    CHECK_EQ(realloc_calls, 1);
    for (int i = 15; i >= 0; i--)
        CHECK_EQ(wd_vec_pop(&v), i);
    CHECK_EQ(v.len, 0);
    CHECK_EQ(v.cap, WD_VEC_MIN_CAP);
    for (int i = 0; i < 100; i++) { /* at the floor: no realloc */
        CHECK_EQ(wd_vec_push(&v, i), 0);
        CHECK_EQ(wd_vec_pop(&v), i);
    }
    CHECK_EQ(v.cap, WD_VEC_MIN_CAP);
    /* a reserve(5) vector shrinks to the floor, not to 2 */
    CHECK_EQ(wd_vec_reserve(&v, 5), 0);
    CHECK_EQ(v.cap, 5);
    CHECK_EQ(wd_vec_push(&v, 1), 0);
    CHECK_EQ(wd_vec_pop(&v), 1);
    CHECK_EQ(v.cap, WD_VEC_MIN_CAP);
    wd_vec_free(&v);
}

static void test_reserve_fit_clear(void) {
    int_vec v = WD_VEC_INIT;
    CHECK_EQ(wd_vec_reserve(&v, 100), 0);
    CHECK_EQ(v.cap, 100);
    CHECK_EQ(v.len, 0);
    realloc_calls = 0;
    CHECK_EQ(wd_vec_reserve(&v, 50), 0); /* smaller: nothing */
    CHECK_EQ(wd_vec_reserve(&v, 100), 0);
    CHECK_EQ(v.cap, 100);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(wd_vec_push(&v, i), 0);
    CHECK_EQ(realloc_calls, 0);
    for (int i = 0; i < 90; i++)
        (void)wd_vec_pop(&v);
    CHECK_EQ(v.len, 10);
    wd_vec_shrink_to_fit(&v);
    CHECK_EQ(v.cap, 10);
    CHECK_EQ(v.len, 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(wd_vec_at(&v, i), i);
    wd_vec_shrink_to_fit(&v); /* already fits: no realloc */
    CHECK_EQ(v.cap, 10);
    wd_vec_clear(&v);
    CHECK_EQ(v.len, 0);
    CHECK_EQ(v.cap, 10); /* the room stays */
    free_calls = 0;
    wd_vec_shrink_to_fit(&v); /* len 0: the block is freed */
    CHECK(v.data == NULL && v.cap == 0);
    CHECK_EQ(free_calls, 1);
    wd_vec_shrink_to_fit(&v); /* empty and no block: fine */
    CHECK(v.data == NULL && v.cap == 0);
    wd_vec_free(&v);
}

/* A failed realloc: -1, errno ENOMEM, and len, cap, data and every item as
 * they were; the vector works on once the allocator does. */
static void test_realloc_failure(void) {
    int_vec v = WD_VEC_INIT;
    errno = 0;
    fail_reallocs = 1;
    CHECK_EQ(wd_vec_push(&v, 1), -1); /* the first push allocates */
    CHECK(errno == ENOMEM && v.data == NULL && v.len == 0 && v.cap == 0);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(wd_vec_push(&v, i), 0);
    int *data = v.data;
    fail_reallocs = 1;
    errno = 0;
    CHECK_EQ(wd_vec_push(&v, 16), -1);
    CHECK(errno == ENOMEM);
    CHECK(v.data == data && v.len == 16 && v.cap == 16);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(v.data[i], i);
    fail_reallocs = 1;
    errno = 0;
    CHECK_EQ(wd_vec_reserve(&v, 1000), -1);
    CHECK(errno == ENOMEM && v.data == data && v.len == 16 && v.cap == 16);
    CHECK_EQ(wd_vec_push(&v, 16), 0);
    CHECK_EQ(v.cap, 32);
    /* a failed shrink on pop: the pop succeeds, the block stays larger,
     * errno is left as it was */
    for (int i = 16; i > 8; i--)
        CHECK_EQ(wd_vec_pop(&v), i);
    fail_reallocs = 1;
    errno = 4321;
    CHECK_EQ(wd_vec_pop(&v), 8); /* len 8 == 32 / 4 */
    CHECK_EQ(errno, 4321);
    CHECK_EQ(v.cap, 32);
    CHECK_EQ(wd_vec_pop(&v), 7); /* the next pop tries again */
    CHECK_EQ(v.cap, 16);
    /* a failed shrink_to_fit still leaves cap == len */
    fail_reallocs = 1;
    errno = 99;
    wd_vec_shrink_to_fit(&v);
    CHECK_EQ(errno, 99);
    CHECK_EQ(v.cap, 7);
    CHECK_EQ(v.len, 7);
    for (int i = 0; i < 7; i++)
        CHECK_EQ(v.data[i], i);
    for (int i = 7; i < 100; i++) /* and grows from there as usual */
        CHECK_EQ(wd_vec_push(&v, i), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(v.data[i], i);
    CHECK_EQ(fail_reallocs, 0);
    wd_vec_free(&v);
}

/* Sizes that would overflow fail with ENOMEM before any realloc. */
static void test_overflow(void) {
    int_vec v = WD_VEC_INIT;
    realloc_calls = 0;
    size_t bad[] = {SIZE_MAX, SIZE_MAX / sizeof(int) + 1, (size_t)PTRDIFF_MAX / sizeof(int) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK_EQ(wd_vec_reserve(&v, bad[i]), -1);
        CHECK(errno == ENOMEM && v.data == NULL && v.cap == 0);
    }
    CHECK_EQ(realloc_calls, 0);
    /* push on a (pretend) full vector whose doubled capacity overflows:
     * cap * 2 and cap * 2 * sizeof(int) both; the data is never touched */
    int dummy[4] = {0};
    size_t caps[] = {SIZE_MAX / 2 + 1, SIZE_MAX / 4, (size_t)PTRDIFF_MAX / sizeof(int)};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        int_vec fake = {dummy, caps[i], caps[i]};
        errno = 0;
        CHECK_EQ(wd_vec_push(&fake, 1), -1);
        CHECK(errno == ENOMEM && fake.data == dummy && fake.len == caps[i]);
    }
    CHECK_EQ(realloc_calls, 0);
    /* a real allocation failure (the hook passes through to wd_realloc) */
    errno = 0;
    CHECK_EQ(wd_vec_reserve(&v, (size_t)1 << 56), -1);
    CHECK(errno == ENOMEM && v.data == NULL && v.cap == 0);
}

/* Other element types; every argument evaluated once. */
struct point {
    double x, y;
    char tag;
};

static void test_types_and_evaluation(void) {
    WD_VEC(struct point) pts = WD_VEC_INIT;
    for (int i = 0; i < 50; i++)
        CHECK_EQ(wd_vec_push(&pts, ((struct point){i, -i, (char)('a' + i % 26)})), 0);
    struct point last = wd_vec_pop(&pts);
    CHECK(last.x == 49 && last.y == -49 && last.tag == 'a' + 49 % 26);
    CHECK(wd_vec_at(&pts, 3).tag == 'd');
    wd_vec_free(&pts);

    WD_VEC(char *) strs = WD_VEC_INIT;
    CHECK_EQ(wd_vec_push(&strs, "one"), 0);
    CHECK_EQ(wd_vec_push(&strs, "two"), 0);
    CHECK(strcmp(wd_vec_at(&strs, 1), "two") == 0);
    wd_vec_free(&strs);

    int_vec vs[2] = {WD_VEC_INIT, WD_VEC_INIT};
    int_vec *vp = vs;
    int x = 0;
    CHECK_EQ(wd_vec_push(vp++, x++), 0);
    CHECK(vp == vs + 1 && x == 1 && vs[0].len == 1 && vs[0].data[0] == 0);
    size_t idx = 0;
    CHECK_EQ(wd_vec_at(&vs[0], idx++), 0);
    CHECK_EQ(idx, 1);
    vp = vs;
    CHECK_EQ(wd_vec_pop(vp++), 0);
    CHECK(vp == vs + 1);
    vp = vs;
    CHECK_EQ(wd_vec_reserve(vp++, 10), 0);
    CHECK(vp == vs + 1 && vs[0].cap == 10);
    /* push an item of the vector itself: read before the growth moves it */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(wd_vec_push(&vs[1], i), 0);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(wd_vec_push(&vs[1], vs[1].data[0] + 100), 0);
    CHECK_EQ(wd_vec_at(&vs[1], 29), 100);
    wd_vec_free(&vs[0]);
    wd_vec_free(&vs[1]);

    WD_VEC(double) d = WD_VEC_INIT;
    CHECK_EQ(wd_vec_push(&d, 1), 0); /* converted to the element type */
    CHECK(wd_vec_at(&d, 0) == 1.0);
    wd_vec_free(&d);
}

/* --- misuse -------------------------------------------------------------------- */

static int_vec misuse_vec;

static void at_out_of_range(void) { (void)wd_vec_at(&misuse_vec, 3); }
static void at_negative(void) { (void)wd_vec_at(&misuse_vec, -1); }
static void at_empty(void) {
    int_vec e = WD_VEC_INIT;
    (void)wd_vec_at(&e, 0);
}
static void pop_empty(void) {
    wd_vec_clear(&misuse_vec);
    (void)wd_vec_pop(&misuse_vec);
}

static void test_misuse(void) {
    wd_vec_init(&misuse_vec);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(wd_vec_push(&misuse_vec, i), 0);
    char want[160];
    snprintf(want, sizeof want, "warden: index 3 out of range (len 3) at 0x%lx in wd_vec_at\n",
             (unsigned long)(uintptr_t)&misuse_vec);
    EXPECT_ABORT(at_out_of_range, want);
    snprintf(want, sizeof want, "warden: index %zu out of range (len 3) at 0x", SIZE_MAX);
    EXPECT_ABORT(at_negative, want);
    EXPECT_ABORT(at_empty, "warden: index 0 out of range (len 0) at 0x");
    snprintf(want, sizeof want, "warden: pop from an empty vector at 0x%lx in wd_vec_pop\n",
             (unsigned long)(uintptr_t)&misuse_vec);
    EXPECT_ABORT(pop_empty, want);
    wd_vec_free(&misuse_vec);
}

int main(void) {
    test_init_push_at();
    test_pop_shrink();
    test_reserve_fit_clear();
    test_realloc_failure();
    test_overflow();
    test_types_and_evaluation();
    test_misuse();
    CHECK_EQ(vec_ndebug_check(), 0);
    if (test_failures)
        return 1;
    printf("test_vec: ok\n");
    return 0;
}
