/* tests/api/api_util.h -- what the api programs (test_api*.c) share.
 *
 * Each program is built twice from its file (drop_in.cmake):
 *   NAME_static   linked with libwarden.a (WD_API_STATIC): the archive's malloc
 *                 replaces libc's, and -rdynamic exports the wd_ names;
 *   NAME_preload  linked with nothing of warden, run with
 *                 LD_PRELOAD=libwarden.so; the wd_ names come from dlsym;
 * and NAME_preload also runs with WARDEN_OPTIONS=harden=2.  Either way each
 * program first proves that warden really is the allocator in use
 * (resolve_names, then check_identity), and fails (never skips) when it is
 * not.
 *
 *   hide, hidep, escape       hide a value from the optimizer
 *   fill, verify_at, VERIFY   a pattern keyed by a number, written and checked
 *   all_zero, ALIGNED
 *   ops_t std_ops, wd_ops     the malloc family by its standard and wd_ names
 *   p_stats_get, p_stats_print, p_trim
 *                             warden's entry points that are not in ops_t
 *   resolve_names()           fills wd_ops, the free_sized pair and p_*
 *   check_identity()          warden is the allocator, or exit 1
 *   SECTION(call)             runs call and prints how long it took
 */
#ifndef WARDEN_TESTS_API_UTIL_H
#define WARDEN_TESTS_API_UTIL_H

#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <warden.h> /* declarations and wd_stats_t; only the *_static programs link them */

#include "test.h"

/* C23 names that glibc 2.36's headers lack. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define GiB ((size_t)1024 * 1024 * 1024)

/* Hide a value from the optimizer: keeps GCC from folding or warning about
 * malloc(SIZE_MAX), from deleting malloc/free pairs and from treating the
 * dirty memset before a free as a dead store. */
static inline size_t hide(size_t x) {
    __asm__ volatile("" : "+r"(x));
    return x;
}
static inline void *hidep(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}
static inline void escape(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* --- patterns ------------------------------------------------------------- */
static inline unsigned char pat(uint64_t key, size_t i) {
    uint64_t x = key ^ ((uint64_t)i * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    return (unsigned char)(x >> 56);
}
static inline void fill(void *p, size_t n, uint64_t key) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pat(key, i);
    escape(p);
}
/* Returns the first offset that differs, or n when all match. */
static inline size_t verify_at(const void *p, size_t n, uint64_t key) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(key, i))
            return i;
    return n;
}
#define VERIFY(p, n, key)                                                      \
    do {                                                                       \
        size_t vn_ = (n), vo_ = verify_at((p), vn_, (key));                    \
        if (vo_ != vn_) {                                                      \
            fprintf(stderr, "%s:%d: pattern mismatch at offset %zu of %zu (block %p)\n", \
                    __FILE__, __LINE__, vo_, vn_, (const void *)(p));          \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static inline int all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}
#define ALIGNED(p, a) (((uintptr_t)(p) & ((uintptr_t)(a) - 1)) == 0)

/* --- the two sets of names ------------------------------------------------ */
typedef struct ops {
    const char *name;
    void *(*malloc_)(size_t);
    void *(*calloc_)(size_t, size_t);
    void *(*realloc_)(void *, size_t);
    void *(*reallocarray_)(void *, size_t, size_t);
    void (*free_)(void *);
    void (*free_sized_)(void *, size_t);
    void (*free_aligned_sized_)(void *, size_t, size_t);
    void *(*aligned_alloc_)(size_t, size_t);
    int (*posix_memalign_)(void **, size_t, size_t);
    void *(*memalign_)(size_t, size_t);
    void *(*valloc_)(size_t);
    void *(*pvalloc_)(size_t);
    size_t (*usable_)(const void *);
    char *(*strdup_)(const char *);
    char *(*strndup_)(const char *, size_t);
} ops_t;

static inline size_t std_usable(const void *p) { return malloc_usable_size((void *)(uintptr_t)p); }

static ops_t std_ops = {
    .name = "standard",
    .malloc_ = malloc,
    .calloc_ = calloc,
    .realloc_ = realloc,
    .reallocarray_ = reallocarray,
    .free_ = free,
    .aligned_alloc_ = aligned_alloc,
    .posix_memalign_ = posix_memalign,
    .memalign_ = memalign,
    .valloc_ = valloc,
    .pvalloc_ = pvalloc,
    .usable_ = std_usable,
    .strdup_ = strdup,
    .strndup_ = strndup,
};
static ops_t wd_ops = {.name = "wd_"};

/* warden's own entry points that are not in ops_t. */
static void (*p_stats_get)(wd_stats_t *);
static void (*p_stats_print)(FILE *);
static int (*p_trim)(size_t);

static inline void *must_sym(const char *name) {
    void *s = dlsym(RTLD_DEFAULT, name);
    if (!s) {
        fprintf(stderr, "FAIL: symbol %s not found: warden is not the allocator in use "
                        "(*_static must be linked with libwarden.a and -rdynamic, "
                        "*_preload run with LD_PRELOAD=libwarden.so)\n", name);
        exit(1);
    }
    return s;
}

static inline void resolve_names(void) {
    (void)must_sym("wd_malloc"); /* first: the clearest sign of the wrong allocator */
#ifdef WD_API_STATIC
    std_ops.free_sized_ = free_sized;
    std_ops.free_aligned_sized_ = free_aligned_sized;
    wd_ops.malloc_ = wd_malloc;
    wd_ops.calloc_ = wd_calloc;
    wd_ops.realloc_ = wd_realloc;
    wd_ops.reallocarray_ = wd_reallocarray;
    wd_ops.free_ = wd_free;
    wd_ops.free_sized_ = wd_free_sized;
    wd_ops.free_aligned_sized_ = wd_free_aligned_sized;
    wd_ops.aligned_alloc_ = wd_aligned_alloc;
    wd_ops.posix_memalign_ = wd_posix_memalign;
    wd_ops.memalign_ = wd_memalign;
    wd_ops.valloc_ = wd_valloc;
    wd_ops.pvalloc_ = wd_pvalloc;
    wd_ops.usable_ = wd_malloc_usable_size;
    wd_ops.strdup_ = wd_strdup;
    wd_ops.strndup_ = wd_strndup;
    p_stats_get = wd_stats_get;
    p_stats_print = wd_stats_print;
    p_trim = wd_trim;
#else
    std_ops.free_sized_ = (void (*)(void *, size_t))must_sym("free_sized");
    std_ops.free_aligned_sized_ = (void (*)(void *, size_t, size_t))must_sym("free_aligned_sized");
    wd_ops.malloc_ = (void *(*)(size_t))must_sym("wd_malloc");
    wd_ops.calloc_ = (void *(*)(size_t, size_t))must_sym("wd_calloc");
    wd_ops.realloc_ = (void *(*)(void *, size_t))must_sym("wd_realloc");
    wd_ops.reallocarray_ = (void *(*)(void *, size_t, size_t))must_sym("wd_reallocarray");
    wd_ops.free_ = (void (*)(void *))must_sym("wd_free");
    wd_ops.free_sized_ = (void (*)(void *, size_t))must_sym("wd_free_sized");
    wd_ops.free_aligned_sized_ = (void (*)(void *, size_t, size_t))must_sym("wd_free_aligned_sized");
    wd_ops.aligned_alloc_ = (void *(*)(size_t, size_t))must_sym("wd_aligned_alloc");
    wd_ops.posix_memalign_ = (int (*)(void **, size_t, size_t))must_sym("wd_posix_memalign");
    wd_ops.memalign_ = (void *(*)(size_t, size_t))must_sym("wd_memalign");
    wd_ops.valloc_ = (void *(*)(size_t))must_sym("wd_valloc");
    wd_ops.pvalloc_ = (void *(*)(size_t))must_sym("wd_pvalloc");
    wd_ops.usable_ = (size_t (*)(const void *))must_sym("wd_malloc_usable_size");
    wd_ops.strdup_ = (char *(*)(const char *))must_sym("wd_strdup");
    wd_ops.strndup_ = (char *(*)(const char *, size_t))must_sym("wd_strndup");
    p_stats_get = (void (*)(wd_stats_t *))must_sym("wd_stats_get");
    p_stats_print = (void (*)(FILE *))must_sym("wd_stats_print");
    p_trim = (int (*)(size_t))must_sym("wd_trim");
#endif
}

/* Proves that warden is the allocator: wd_malloc is visible to dlsym, and
 * every standard name resolves (for the dynamic linker, which is what libc
 * and every library see) into the same object as wd_malloc. */
static inline void check_identity(void) {
    void *wdm = must_sym("wd_malloc");
    Dl_info want, got;
    CHECK(dladdr(wdm, &want) != 0);
    static const char *const names[] = {
        "malloc",       "free",          "calloc",           "realloc",
        "reallocarray", "aligned_alloc", "posix_memalign",   "memalign",
        "valloc",       "pvalloc",       "malloc_usable_size", "free_sized",
        "free_aligned_sized", "mallinfo2", "malloc_trim",   "malloc_stats",
        "mallopt",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *s = must_sym(names[i]);
        if (dladdr(s, &got) == 0 || got.dli_fbase != want.dli_fbase) {
            fprintf(stderr, "FAIL: %s resolves to %s, not to warden's object %s\n", names[i],
                    got.dli_fname ? got.dli_fname : "?", want.dli_fname ? want.dli_fname : "?");
            exit(1);
        }
    }
    /* Facts only warden's blocks have: the smallest block is 16 bytes
     * (glibc's is 24, jemalloc's 8; with harden=2 a block is exactly the
     * request), and wd_malloc_usable_size accepts a block from the
     * standard malloc (it aborts on foreign pointers). */
    size_t smallest = test_harden2() ? 1 : 16;
    void *p = malloc(hide(1));
    CHECK(p != NULL);
    CHECK_EQ(malloc_usable_size(p), smallest);
    CHECK_EQ(wd_ops.usable_(p), smallest);
    void *q = wd_ops.malloc_(100);
    CHECK(q != NULL);
    CHECK_EQ(malloc_usable_size(q), wd_ops.usable_(q));
    free(q); /* wd_malloc'd block, standard free */
    wd_ops.free_(p);
    printf("ok: warden is the allocator (%s)\n", want.dli_fname ? want.dli_fname : "?");
}

#define SECTION(call)                                                          \
    do {                                                                       \
        double t0_ = test_now();                                               \
        call;                                                                  \
        printf("   (%s: %.2f s)\n", #call, test_now() - t0_);                  \
    } while (0)

#endif /* WARDEN_TESTS_API_UTIL_H */
