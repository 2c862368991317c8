/* test_vec_ndebug.c -- part of test_vec: warden/vec.h with NDEBUG defined
 * (as CMake's Release and RelWithDebInfo builds define it), where
 * wd_vec_at and wd_vec_pop do not check.  Only in-range use is exercised:
 * out of range is undefined there, as for an array.  Also uses the default
 * allocator (wd_realloc / wd_free), without a hook. */
#ifndef NDEBUG
#define NDEBUG 1
#endif

#include <warden/vec.h>

int vec_ndebug_check(void); /* called by test_vec.c */

int vec_ndebug_check(void) {
    WD_VEC(long) v = WD_VEC_INIT;
    for (long i = 0; i < 100000; i++)
        if (wd_vec_push(&v, i * i) != 0)
            return 1;
    long sum = 0;
    for (size_t i = 0; i < v.len; i++)
        sum += wd_vec_at(&v, i) - (long)(i * i);
    wd_vec_at(&v, 0) = 42;
    if (sum != 0 || v.data[0] != 42 || v.cap != 131072)
        return 2;
    while (v.len > 1)
        (void)wd_vec_pop(&v);
    if (wd_vec_pop(&v) != 42 || v.cap != WD_VEC_MIN_CAP)
        return 3;
    wd_vec_free(&v);
    return 0;
}
