/* warden/vec.h -- a typed vector grown with realloc (C, GNU C11).
 *
 * The seed's vector, made safe:
 *   - push doubles the capacity when the vector is full (amortised O(1));
 *   - pop halves it when the pop leaves the vector a quarter full (never
 *     below WD_VEC_MIN_CAP), so push/pop at a boundary cannot thrash;
 *   - a size overflow is checked before multiplying (ENOMEM, no realloc);
 *   - when realloc fails the vector and its items are untouched: push and
 *     reserve return -1 with errno = ENOMEM, and the vector stays usable;
 *   - wd_vec_at checks its index unless NDEBUG is defined: out of range, it
 *     aborts with one line on stderr,
 *       warden: index 7 out of range (len 3) at 0x<vector> in wd_vec_at
 *     and so does wd_vec_pop on an empty vector
 *       warden: pop from an empty vector at 0x<vector> in wd_vec_pop
 *     (with NDEBUG both are unchecked, like an array access).
 *
 *     typedef WD_VEC(int) int_vec;         // name the type to pass it around
 *     int_vec v;
 *     wd_vec_init(&v);
 *     if (wd_vec_push(&v, 42) != 0)        // errno == ENOMEM, v intact
 *         ...;
 *     wd_vec_at(&v, 0) += 1;               // an lvalue
 *     int last = wd_vec_pop(&v);
 *     wd_vec_free(&v);
 *
 * Every operation is a macro taking a pointer to the vector, which it
 * evaluates once; the element argument of wd_vec_push is evaluated once,
 * before any growth, and converted to the element type.  The fields data,
 * len and cap are public: data[0 .. len) are the items, cap >= len the
 * room; data is NULL when cap is 0.  Not thread-safe.
 *
 * The allocator hook: growth and shrinking call WD_VEC_REALLOC(p, bytes)
 * (default wd_realloc, warden's global allocator), and wd_vec_free and
 * wd_vec_shrink_to_fit to length 0 call WD_VEC_FREE(p) (default wd_free).
 * Define both before the first #include of this header to use another
 * allocator, e.g. realloc and free, or a failing one in a test:
 *     #define WD_VEC_REALLOC my_realloc
 *     #define WD_VEC_FREE    my_free
 *     #include <warden/vec.h>
 * WD_VEC_REALLOC must behave as C's realloc for a non-zero size (NULL on
 * failure, the old block intact); it is never called with size 0.
 *
 * Needs GNU C (statement expressions and __typeof__, as GCC and Clang
 * have).  Index checks call wd_vec_fail_index, which is in libwarden.
 */
#ifndef WARDEN_VEC_H
#define WARDEN_VEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "warden.h"

#ifndef WD_VEC_REALLOC
#define WD_VEC_REALLOC wd_realloc
#endif
#ifndef WD_VEC_FREE
#define WD_VEC_FREE wd_free
#endif

/* The first push allocates room for this many items; pops never shrink
 * below it. */
#define WD_VEC_MIN_CAP ((size_t)4)

#define WD_VEC(T) struct { T *data; size_t len, cap; }
#define WD_VEC_INIT {NULL, 0, 0}

/* The misuse reports (src/vec.c): one `warden:` line, then abort. */
WD_API __attribute__((noreturn, cold)) void
wd_vec_fail_index(const void *vec, size_t index, size_t len);
WD_API __attribute__((noreturn, cold)) void wd_vec_fail_empty(const void *vec);

/* --- helpers behind the macros: not API -------------------------------------- */

/* Sets *data to room for cap items of elem bytes; 0, or -1 with
 * errno = ENOMEM and *data, *capp untouched.  cap > 0. */
static inline int wd_vec_resize_(void **data, size_t *capp, size_t elem, size_t cap) {
    size_t bytes;
    if (__builtin_mul_overflow(cap, elem, &bytes) || bytes > PTRDIFF_MAX) {
        errno = ENOMEM;
        return -1;
    }
    void *p = WD_VEC_REALLOC(*data, bytes);
    if (p == NULL) {
        errno = ENOMEM; /* a hook need not set it */
        return -1;
    }
    *data = p;
    *capp = cap;
    return 0;
}

/* The vector is full: double its room (WD_VEC_MIN_CAP the first time). */
static __attribute__((noinline, cold, unused)) int
wd_vec_grow_(void **data, size_t *capp, size_t elem) {
    size_t cap;
    if (*capp == 0)
        cap = WD_VEC_MIN_CAP;
    else if (__builtin_mul_overflow(*capp, 2, &cap)) {
        errno = ENOMEM;
        return -1;
    }
    return wd_vec_resize_(data, capp, elem, cap);
}

/* A pop left len <= cap / 4 (and cap > WD_VEC_MIN_CAP): halve the room,
 * down to WD_VEC_MIN_CAP.  A failed shrink keeps the larger block (nothing
 * is lost) and leaves errno as it was. */
static __attribute__((noinline, unused)) void
wd_vec_halve_(void **data, size_t *capp, size_t elem) {
    size_t half = *capp / 2 < WD_VEC_MIN_CAP ? WD_VEC_MIN_CAP : *capp / 2;
    int saved = errno;
    (void)wd_vec_resize_(data, capp, elem, half);
    errno = saved;
}

/* cap = len: a realloc to len items, or a free when len is 0.  Should the
 * realloc fail, the block stays larger than cap says, which is harmless. */
static inline void wd_vec_fit_(void **data, size_t *capp, size_t len, size_t elem) {
    if (len == 0) {
        WD_VEC_FREE(*data);
        *data = NULL;
    } else if (len < *capp) {
        int saved = errno;
        (void)wd_vec_resize_(data, capp, elem, len);
        errno = saved;
    }
    *capp = len;
}

/* --- the API ------------------------------------------------------------------ */

/* Empty, no memory.  (Or initialise with = WD_VEC_INIT.)  O(1). */
#define wd_vec_init(v)                                                         \
    __extension__({                                                            \
        __typeof__(v) wd_vp_ = (v);                                            \
        wd_vp_->data = NULL;                                                   \
        wd_vp_->len = wd_vp_->cap = 0;                                         \
        (void)0;                                                               \
    })

/* Appends x; 0, or -1 with errno = ENOMEM (v and its items untouched).
 * Amortised O(1): a compare and a store, a realloc when full. */
#define wd_vec_push(v, x)                                                      \
    __extension__({                                                            \
        __typeof__(v) wd_vp_ = (v);                                            \
        __typeof__(*wd_vp_->data) wd_vx_ = (x);                                \
        int wd_vr_ = 0;                                                        \
        if (__builtin_expect(wd_vp_->len == wd_vp_->cap, 0)) {                 \
            void *wd_vd_ = wd_vp_->data;                                       \
            wd_vr_ = wd_vec_grow_(&wd_vd_, &wd_vp_->cap, sizeof *wd_vp_->data);\
            wd_vp_->data = wd_vd_;                                             \
        }                                                                      \
        if (wd_vr_ == 0)                                                       \
            wd_vp_->data[wd_vp_->len++] = wd_vx_;                              \
        wd_vr_;                                                                \
    })

#ifdef NDEBUG
#define WD_VEC_CHECK_INDEX_(vp, i) ((void)0)
#define WD_VEC_CHECK_NONEMPTY_(vp) ((void)0)
#else
#define WD_VEC_CHECK_INDEX_(vp, i)                                             \
    (__builtin_expect((i) >= (vp)->len, 0) ? wd_vec_fail_index(vp, i, (vp)->len) \
                                           : (void)0)
#define WD_VEC_CHECK_NONEMPTY_(vp)                                             \
    (__builtin_expect((vp)->len == 0, 0) ? wd_vec_fail_empty(vp) : (void)0)
#endif

/* Removes and returns the last item; then halves the room when len fell to
 * cap / 4 (and cap > WD_VEC_MIN_CAP).  The vector must not be empty
 * (checked unless NDEBUG).  Amortised O(1). */
#define wd_vec_pop(v)                                                          \
    __extension__({                                                            \
        __typeof__(v) wd_vp_ = (v);                                            \
        WD_VEC_CHECK_NONEMPTY_(wd_vp_);                                        \
        __typeof__(*wd_vp_->data) wd_vx_ = wd_vp_->data[--wd_vp_->len];        \
        if (__builtin_expect(wd_vp_->len <= wd_vp_->cap / 4, 0) &&             \
            wd_vp_->cap > WD_VEC_MIN_CAP) {                                    \
            void *wd_vd_ = wd_vp_->data;                                       \
            wd_vec_halve_(&wd_vd_, &wd_vp_->cap, sizeof *wd_vp_->data);        \
            wd_vp_->data = wd_vd_;                                             \
        }                                                                      \
        wd_vx_;                                                                \
    })

/* The item at index i, as an lvalue (read it, assign it, take its
 * address).  i < len is checked unless NDEBUG.  O(1). */
#define wd_vec_at(v, i)                                                        \
    (*__extension__({                                                          \
        __typeof__(v) wd_vp_ = (v);                                            \
        size_t wd_vi_ = (size_t)(i);                                           \
        WD_VEC_CHECK_INDEX_(wd_vp_, wd_vi_);                                   \
        &wd_vp_->data[wd_vi_];                                                 \
    }))

/* Makes cap >= n (exactly n when it grows); 0, or -1 with errno = ENOMEM
 * (v untouched).  O(len) when it moves the items. */
#define wd_vec_reserve(v, n)                                                   \
    __extension__({                                                            \
        __typeof__(v) wd_vp_ = (v);                                            \
        size_t wd_vn_ = (size_t)(n);                                           \
        int wd_vr_ = 0;                                                        \
        if (wd_vn_ > wd_vp_->cap) {                                            \
            void *wd_vd_ = wd_vp_->data;                                       \
            wd_vr_ = wd_vec_resize_(&wd_vd_, &wd_vp_->cap,                     \
                                    sizeof *wd_vp_->data, wd_vn_);             \
            wd_vp_->data = wd_vd_;                                             \
        }                                                                      \
        wd_vr_;                                                                \
    })

/* Leaves cap == len: frees the block when len is 0.  Never fails. */
#define wd_vec_shrink_to_fit(v)                                                \
    __extension__({                                                            \
        __typeof__(v) wd_vp_ = (v);                                            \
        void *wd_vd_ = wd_vp_->data;                                           \
        wd_vec_fit_(&wd_vd_, &wd_vp_->cap, wd_vp_->len, sizeof *wd_vp_->data); \
        wd_vp_->data = wd_vd_;                                                 \
        (void)0;                                                               \
    })

/* len = 0; the room stays (wd_vec_shrink_to_fit or wd_vec_free give it
 * back).  O(1). */
#define wd_vec_clear(v) ((void)((v)->len = 0))

/* Gives the room back; v is empty and may be used again.  O(1). */
#define wd_vec_free(v)                                                         \
    __extension__({                                                            \
        __typeof__(v) wd_vp_ = (v);                                            \
        WD_VEC_FREE(wd_vp_->data);                                             \
        wd_vp_->data = NULL;                                                   \
        wd_vp_->len = wd_vp_->cap = 0;                                         \
        (void)0;                                                               \
    })

#endif /* WARDEN_VEC_H */
