/* tests/api/test_api.c -- warden as the process's malloc: the semantics of the
 * standard names (malloc, free, calloc, realloc, the aligned family, the
 * glibc extras) and of the wd_ names, misuse reports, WARDEN_OPTIONS, and
 * allocation from awkward places (constructors, atexit, TLS destructors,
 * fork with busy threads, libc functions that allocate).
 *
 * Built twice from this file:
 *   api_static   linked with libwarden.a (WD_API_STATIC): the archive's malloc
 *                replaces libc's, and -rdynamic exports the wd_ names;
 *   api_preload  linked with nothing of warden, run with
 *                LD_PRELOAD=libwarden.so; the wd_ names come from dlsym.
 * Either way the test first proves that warden really is the allocator in
 * use, and fails (never skips) when it is not.
 *
 * Child modes (re-executions of this binary): --child-workload runs a small
 * allocation workload and exits 0 (used with WARDEN_OPTIONS set).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <warden.h> /* declarations and wd_stats_t; only api_static links them */

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

static size_t page_size;

/* --- patterns ------------------------------------------------------------- */
static inline unsigned char pat(uint64_t key, size_t i) {
    uint64_t x = key ^ ((uint64_t)i * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    return (unsigned char)(x >> 56);
}
static void fill(void *p, size_t n, uint64_t key) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pat(key, i);
    escape(p);
}
/* Returns the first offset that differs, or n when all match. */
static size_t verify_at(const void *p, size_t n, uint64_t key) {
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

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}
#define ALIGNED(p, a) (((uintptr_t)(p) & ((uintptr_t)(a) - 1)) == 0)

/* Writes the whole usable size: a memset, then the pattern over all of it
 * (small blocks) or over 4 KiB at each end (big ones). */
static void write_all(void *p, size_t usable, uint64_t key) {
    memset(p, 0x5A, usable);
    if (usable <= 8192) {
        fill(p, usable, key);
        VERIFY(p, usable, key);
        return;
    }
    fill(p, 4096, key);
    fill((char *)p + usable - 4096, 4096, key + 1);
    VERIFY(p, 4096, key);
    VERIFY((char *)p + usable - 4096, 4096, key + 1);
    CHECK(((unsigned char *)p)[usable / 2] == 0x5A);
}

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

static size_t std_usable(const void *p) { return malloc_usable_size((void *)(uintptr_t)p); }

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

static void *must_sym(const char *name) {
    void *s = dlsym(RTLD_DEFAULT, name);
    if (!s) {
        fprintf(stderr, "FAIL: symbol %s not found: warden is not the allocator in use "
                        "(api_static must be linked with libwarden.a and -rdynamic, "
                        "api_preload run with LD_PRELOAD=libwarden.so)\n", name);
        exit(1);
    }
    return s;
}

static void resolve_names(void) {
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
static void check_identity(void) {
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

/* --- semantics run through both sets of names ----------------------------- */
static void t_zero_and_null(const ops_t *o) {
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = o->malloc_(hide(0));
        CHECK(p[i] != NULL);
        CHECK(ALIGNED(p[i], 16));
        for (int j = 0; j < i; j++)
            CHECK(p[i] != p[j]);
    }
    for (int i = 0; i < N; i++)
        o->free_(p[i]);
    o->free_(NULL);
    free(NULL);
    /* realloc(NULL, n) is malloc(n) */
    void *r = o->realloc_(NULL, hide(100));
    CHECK(r != NULL && ALIGNED(r, 16) && o->usable_(r) >= 100);
    fill(r, 100, 7);
    VERIFY(r, 100, 7);
    o->free_(r);
    r = o->realloc_(NULL, hide(0));
    CHECK(r != NULL);
    o->free_(r);
    CHECK_EQ(o->usable_(NULL), 0);
}

static void t_small_alignment_and_sizes(const ops_t *o) {
    /* 1..15: every block 16-aligned, held together, no overlap. */
    enum { PER = 64 };
    static void *blk[16][PER];
    for (size_t n = 1; n <= 15; n++)
        for (size_t i = 0; i < PER; i++) {
            void *p = o->malloc_(hide(n));
            CHECK(p != NULL);
            if (!ALIGNED(p, 16)) {
                fprintf(stderr, "malloc(%zu) = %p is not 16-aligned\n", n, p);
                exit(1);
            }
            size_t u = o->usable_(p);
            CHECK(u >= n && (u >= 16 || test_harden2()));
            fill(p, u, n * 1000 + i);
            blk[n][i] = p;
        }
    for (size_t n = 1; n <= 15; n++)
        for (size_t i = 0; i < PER; i++) {
            VERIFY(blk[n][i], o->usable_(blk[n][i]), n * 1000 + i);
            o->free_(blk[n][i]);
        }

    /* Every size 0..8192 at once, usable >= n, whole usable written. */
    enum { MAXN = 8192 };
    static void *all[MAXN + 1];
    for (size_t n = 0; n <= MAXN; n++) {
        all[n] = o->malloc_(hide(n));
        CHECK(all[n] != NULL && ALIGNED(all[n], 16));
        size_t u = o->usable_(all[n]);
        if (u < n) {
            fprintf(stderr, "usable_size(malloc(%zu)) = %zu\n", n, u);
            exit(1);
        }
        fill(all[n], u, 0xABC0000 + n);
    }
    for (size_t n = 0; n <= MAXN; n++) {
        VERIFY(all[n], o->usable_(all[n]), 0xABC0000 + n);
        o->free_(all[n]);
    }

    /* Around every power of two up to 64 MiB (small, medium, large). */
    for (size_t s = 16; s <= 64 * MiB; s *= 2) {
        size_t sizes[3] = {s - 1, s, s + 1};
        for (int k = 0; k < 3; k++) {
            void *p = o->malloc_(hide(sizes[k]));
            CHECK(p != NULL && ALIGNED(p, 16));
            size_t u = o->usable_(p);
            CHECK(u >= sizes[k]);
            write_all(p, u, sizes[k]);
            o->free_(p);
        }
    }
    /* The sizes named by the contract: medium 20 KiB / 300 KiB, large 5 MiB /
     * 64 MiB, several held at once and written whole. */
    const size_t named[] = {20 * KiB, 300 * KiB, 5 * MiB, 64 * MiB};
    void *held[4][3];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 3; i++) {
            void *p = o->malloc_(hide(named[k]));
            CHECK(p != NULL && ALIGNED(p, 16));
            size_t u = o->usable_(p);
            CHECK(u >= named[k]);
            memset(p, 0x33, u);
            fill(p, named[k] / 2 < 65536 ? named[k] / 2 : 65536, (uint64_t)(k * 10 + i));
            held[k][i] = p;
        }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 3; i++) {
            VERIFY(held[k][i], named[k] / 2 < 65536 ? named[k] / 2 : 65536, (uint64_t)(k * 10 + i));
            unsigned char *b = held[k][i];
            size_t u = o->usable_(b);
            CHECK(b[u - 1] == 0x33);
            o->free_(b);
        }
}

#define EXPECT_ENOMEM(expr)                                                    \
    do {                                                                       \
        errno = 0;                                                             \
        void *enm_ = (expr);                                                   \
        if (enm_ != NULL || errno != ENOMEM) {                                 \
            fprintf(stderr, "%s:%d: %s = %p, errno %d; wanted NULL + ENOMEM\n", \
                    __FILE__, __LINE__, #expr, enm_, errno);                   \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static void t_failures(const ops_t *o) {
    const size_t big = (size_t)PTRDIFF_MAX + 1;
    EXPECT_ENOMEM(o->malloc_(hide(SIZE_MAX)));
    EXPECT_ENOMEM(o->malloc_(hide(big)));
    EXPECT_ENOMEM(o->malloc_(hide((size_t)PTRDIFF_MAX)));
    EXPECT_ENOMEM(o->malloc_(hide(SIZE_MAX - 4095))); /* page rounding must not wrap */
    EXPECT_ENOMEM(o->malloc_(hide(SIZE_MAX - 15)));
    EXPECT_ENOMEM(o->calloc_(hide(SIZE_MAX / 2), hide(3)));
    EXPECT_ENOMEM(o->calloc_(hide(3), hide(SIZE_MAX / 2)));
    EXPECT_ENOMEM(o->calloc_(hide((size_t)1 << 32), hide((size_t)1 << 32)));
    EXPECT_ENOMEM(o->calloc_(hide((size_t)PTRDIFF_MAX / 2 + 1), hide(2)));
    EXPECT_ENOMEM(o->reallocarray_(NULL, hide(SIZE_MAX / 2), hide(3)));
    EXPECT_ENOMEM(o->reallocarray_(NULL, hide((size_t)1 << 33), hide((size_t)1 << 31)));

    /* Failed growth leaves the old block intact and freeable. */
    const size_t olds[] = {24, 100, 20 * KiB, 300 * KiB, 5 * MiB};
    for (size_t k = 0; k < sizeof olds / sizeof olds[0]; k++) {
        size_t n = olds[k];
        void *p = o->malloc_(hide(n));
        CHECK(p != NULL);
        fill(p, n, 0x77 + k);
        EXPECT_ENOMEM(o->realloc_(p, hide(big)));
        EXPECT_ENOMEM(o->realloc_(p, hide(SIZE_MAX)));
        EXPECT_ENOMEM(o->realloc_(p, hide(SIZE_MAX - 4095)));
        EXPECT_ENOMEM(o->reallocarray_(p, hide(SIZE_MAX / 2), hide(3)));
        EXPECT_ENOMEM(o->reallocarray_(p, hide(3), hide(SIZE_MAX / 2)));
        VERIFY(p, n, 0x77 + k);
        CHECK(o->usable_(p) >= n);
        /* still a live block: it can grow for real afterwards */
        void *q = o->reallocarray_(p, hide(2), hide(n));
        CHECK(q != NULL);
        VERIFY(q, n, 0x77 + k);
        o->free_(q);
    }
}

static void t_realloc(const ops_t *o) {
    /* small -> medium -> large -> small ... preserving min(old, new) bytes */
    const size_t chain[] = {1,        40,        100,      1000,    20 * KiB, 300 * KiB,
                            5 * MiB,  64 * MiB,  50,       300 * KiB, 8 * MiB, 24,
                            20 * KiB, 20 * KiB + 1, 16 * KiB, 3 * MiB, 17,     0};
    void *p = NULL;
    size_t have = 0;
    uint64_t key = 1;
    for (size_t k = 0; k < sizeof chain / sizeof chain[0]; k++) {
        size_t n = chain[k];
        void *q = o->realloc_(p, hide(n));
        if (n == 0) {
            CHECK(q == NULL); /* realloc(p, 0) frees p, returns NULL */
            break;
        }
        CHECK(q != NULL && ALIGNED(q, 16));
        CHECK(o->usable_(q) >= n);
        size_t keep = have < n ? have : n;
        VERIFY(q, keep, key);
        key++;
        fill(q, n, key);
        p = q;
        have = n;
    }
    /* growing and shrinking by a little, many times */
    p = NULL;
    have = 0;
    for (size_t n = 1; n < 70000; n = n * 5 / 4 + 1) {
        void *q = o->realloc_(p, hide(n));
        CHECK(q != NULL);
        VERIFY(q, have, key);
        fill(q, n, ++key);
        p = q;
        have = n;
        q = o->realloc_(p, hide(n - n / 8));
        CHECK(q != NULL);
        have = n - n / 8;
        VERIFY(q, have, key);
        p = q;
    }
    o->free_(p);
    /* a large block shrunk and grown again, in place or not: the whole
     * usable size stays writable and the prefix survives */
    p = o->malloc_(hide(6 * MiB));
    CHECK(p != NULL);
    fill(p, 6 * MiB, 500);
    const size_t steps[] = {5 * MiB, 4 * MiB + 1, 6 * MiB - 4095, 3 * MiB, 7 * MiB, 2 * MiB + 17, 6 * MiB};
    have = 6 * MiB;
    key = 500;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        void *q = o->realloc_(p, hide(steps[k]));
        CHECK(q != NULL && ALIGNED(q, 16));
        size_t keep = have < steps[k] ? have : steps[k];
        VERIFY(q, keep, key);
        size_t u = o->usable_(q);
        CHECK(u >= steps[k]);
        memset(q, 0x11, u);
        fill(q, steps[k], ++key);
        p = q;
        have = steps[k];
    }
    o->free_(p);
    /* over-aligned blocks resized keep their data (and 16-byte alignment) */
    for (size_t a = 32; a <= MiB; a <<= 3) {
        void *q = NULL;
        CHECK_EQ(o->posix_memalign_(&q, a, hide(1000)), 0);
        fill(q, 1000, a);
        q = o->realloc_(q, hide(100000));
        CHECK(q != NULL && ALIGNED(q, 16));
        VERIFY(q, 1000, a);
        q = o->realloc_(q, hide(10));
        CHECK(q != NULL);
        VERIFY(q, 10, a);
        o->free_(q);
    }
    /* reallocarray success path */
    int *a = o->reallocarray_(NULL, hide(1000), sizeof(int));
    CHECK(a != NULL);
    for (int i = 0; i < 1000; i++)
        a[i] = i * 7;
    a = o->reallocarray_(a, hide(100000), sizeof(int));
    CHECK(a != NULL && o->usable_(a) >= 100000 * sizeof(int));
    for (int i = 0; i < 1000; i++)
        CHECK(a[i] == i * 7);
    o->free_(a);
}

static void t_calloc(const ops_t *o) {
    const size_t sizes[] = {1, 24, 100, 1000, 4000, 20 * KiB, 300 * KiB, 5 * MiB};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        int rounds = n >= MiB ? 12 : 100;
        for (int r = 0; r < rounds; r++) {
            void *d = o->malloc_(hide(n));
            CHECK(d != NULL);
            memset(d, 0xAA, o->usable_(d));
            escape(d);
            o->free_(d);
            unsigned char *z = (r & 1) ? o->calloc_(hide(n), 1) : o->calloc_(1, hide(n));
            CHECK(z != NULL && ALIGNED(z, 16));
            if (!all_zero(z, n)) {
                fprintf(stderr, "calloc(%zu) reused dirty memory (round %d)\n", n, r);
                exit(1);
            }
            memset(z, 0xAA, n);
            escape(z);
            o->free_(z);
        }
        /* many dirty blocks freed, then as many callocs */
        enum { M = 32 };
        void *d[M];
        int m = n >= MiB ? 4 : M;
        for (int i = 0; i < m; i++) {
            d[i] = o->malloc_(hide(n));
            CHECK(d[i] != NULL);
            memset(d[i], 0xAA, o->usable_(d[i]));
            escape(d[i]);
        }
        for (int i = 0; i < m; i++)
            o->free_(d[i]);
        for (int i = 0; i < m; i++) {
            d[i] = o->calloc_(hide(n / 4 + 1), 4);
            CHECK(d[i] != NULL && all_zero(d[i], n / 4 * 4 + 4));
        }
        for (int i = 0; i < m; i++)
            o->free_(d[i]);
    }
    /* a dirty bigger block freed, then a smaller calloc that may reuse it
     * (a cached large mapping, a split medium range, a bigger small class) */
    const size_t pairs[][2] = {{8 * MiB, 5 * MiB},   {5 * MiB, 2 * MiB},   {3 * MiB, 1100 * KiB},
                               {MiB, 600 * KiB},     {300 * KiB, 200 * KiB}, {20 * KiB, 12 * KiB},
                               {8 * KiB, 5 * KiB},   {1000, 700},          {64, 40}};
    for (int r = 0; r < 8; r++)
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            void *d = o->malloc_(hide(pairs[k][0]));
            CHECK(d != NULL);
            memset(d, 0xAA, o->usable_(d));
            escape(d);
            o->free_(d);
            unsigned char *c = o->calloc_(hide(pairs[k][1]), 1);
            CHECK(c != NULL);
            if (!all_zero(c, pairs[k][1])) {
                fprintf(stderr, "calloc(%zu) after free of a dirty %zu-byte block is not zeroed\n",
                        pairs[k][1], pairs[k][0]);
                exit(1);
            }
            o->free_(c);
        }
    void *z = o->calloc_(0, hide(10));
    CHECK(z != NULL);
    o->free_(z);
    z = o->calloc_(hide(10), 0);
    CHECK(z != NULL);
    o->free_(z);
}

static void t_posix_memalign(const ops_t *o) {
    void *p;
    const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, ((size_t)1 << 20) + 8,
                          SIZE_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        p = (void *)&p;
        errno = 12345;
        int rc = o->posix_memalign_(&p, hide(bad[k]), 100);
        if (rc != EINVAL || errno != 12345) {
            fprintf(stderr, "posix_memalign(align %zu) = %d, errno %d; wanted EINVAL, errno unchanged\n",
                    bad[k], rc, errno);
            exit(1);
        }
    }
    const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4095};
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++)
        for (size_t a = 8; a <= ((size_t)1 << 30); a <<= 11) {
            errno = 12345;
            int rc = o->posix_memalign_(&p, a, hide(huge[k]));
            if (rc != ENOMEM || errno != 12345) {
                fprintf(stderr, "posix_memalign(align %zu, size %zu) = %d, errno %d; wanted ENOMEM, errno unchanged\n",
                        a, huge[k], rc, errno);
                exit(1);
            }
        }
    /* size + alignment slack must not wrap */
    errno = 12345;
    CHECK_EQ(o->posix_memalign_(&p, (size_t)1 << 30, hide(SIZE_MAX - ((size_t)1 << 29))), ENOMEM);
    CHECK_EQ(errno, 12345);
    for (size_t a = 8; a <= GiB; a <<= 1) {
        const size_t sizes[] = {0, 1, 100, 5000, a <= MiB ? a : 1, a <= 64 * KiB ? 3 * a + 5 : 2};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            p = NULL;
            errno = 12345;
            int rc = o->posix_memalign_(&p, a, hide(sizes[k]));
            if (rc != 0 || p == NULL || !ALIGNED(p, a) || !ALIGNED(p, 16)) {
                fprintf(stderr, "posix_memalign(align %zu, size %zu) = %d, %p\n", a, sizes[k], rc, p);
                exit(1);
            }
            CHECK_EQ(errno, 12345);
            size_t u = o->usable_(p);
            CHECK(u >= sizes[k]);
            if (u)
                write_all(p, u, a + k);
            o->free_(p);
        }
    }
    /* several over-aligned blocks alive together */
    void *held[40];
    for (int i = 0; i < 40; i++) {
        size_t a = (size_t)1 << (4 + i % 14);
        CHECK_EQ(o->posix_memalign_(&held[i], a, hide((size_t)(i * 100 + 1))), 0);
        CHECK(ALIGNED(held[i], a));
        fill(held[i], (size_t)(i * 100 + 1), (uint64_t)i);
    }
    for (int i = 0; i < 40; i++) {
        VERIFY(held[i], (size_t)(i * 100 + 1), (uint64_t)i);
        o->free_(held[i]);
    }
}

static void t_aligned_alloc(const ops_t *o) {
    for (size_t a = 1; a <= GiB; a <<= 1) {
        const size_t sizes[] = {1, 100, a <= MiB ? a : 64, a <= 64 * KiB ? 5 * a : 3};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            void *p = o->aligned_alloc_(hide(a), hide(sizes[k]));
            if (p == NULL || !ALIGNED(p, a) || !ALIGNED(p, 16)) {
                fprintf(stderr, "aligned_alloc(%zu, %zu) = %p (errno %d)\n", a, sizes[k], p, errno);
                exit(1);
            }
            size_t u = o->usable_(p);
            CHECK(u >= sizes[k]);
            write_all(p, u, a ^ k);
            o->free_(p);
        }
    }
    void *z = o->aligned_alloc_(hide(64), hide(0));
    CHECK(z != NULL && ALIGNED(z, 64));
    o->free_(z);
    const size_t bad[] = {0, 3, 24, 48, 100, 4097, ((size_t)1 << 20) + 16, SIZE_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        errno = 0;
        void *p = o->aligned_alloc_(hide(bad[k]), 64);
        if (p != NULL || errno != EINVAL) {
            fprintf(stderr, "aligned_alloc(%zu, 64) = %p, errno %d; wanted NULL + EINVAL\n", bad[k], p, errno);
            exit(1);
        }
    }
    EXPECT_ENOMEM(o->aligned_alloc_(hide(4096), hide(SIZE_MAX - 100)));
    EXPECT_ENOMEM(o->aligned_alloc_(hide(64), hide((size_t)PTRDIFF_MAX + 1)));
    EXPECT_ENOMEM(o->aligned_alloc_(hide(GiB), hide(SIZE_MAX - GiB / 2)));
}

static void t_memalign_valloc(const ops_t *o) {
    /* glibc: a non-power-of-two alignment is rounded up to the next power. */
    const size_t al[][2] = {{24, 32}, {3, 16}, {48, 64}, {100, 128}, {5000, 8192},
                            {((size_t)1 << 20) + 1, (size_t)1 << 21}, {1, 16}, {0, 16}};
    for (size_t k = 0; k < sizeof al / sizeof al[0]; k++) {
        for (size_t n = 1; n <= 100000; n *= 10) {
            void *p = o->memalign_(hide(al[k][0]), hide(n));
            if (p == NULL || !ALIGNED(p, al[k][1])) {
                fprintf(stderr, "memalign(%zu, %zu) = %p; wanted %zu-aligned\n", al[k][0], n, p, al[k][1]);
                exit(1);
            }
            CHECK(o->usable_(p) >= n);
            write_all(p, o->usable_(p), n + k);
            o->free_(p);
        }
    }
    for (size_t a = 16; a <= 256 * MiB; a <<= 1) {
        void *p = o->memalign_(hide(a), 40);
        CHECK(p != NULL && ALIGNED(p, a));
        fill(p, 40, a);
        VERIFY(p, 40, a);
        o->free_(p);
    }
    EXPECT_ENOMEM(o->memalign_(hide(64), hide(SIZE_MAX)));

    const size_t vs[] = {1, 100, page_size - 1, page_size, page_size + 1, 20 * KiB, 5 * MiB};
    for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
        void *p = o->valloc_(hide(vs[k]));
        CHECK(p != NULL && ALIGNED(p, page_size));
        CHECK(o->usable_(p) >= vs[k]);
        write_all(p, o->usable_(p), k);
        o->free_(p);

        p = o->pvalloc_(hide(vs[k]));
        CHECK(p != NULL && ALIGNED(p, page_size));
        size_t rounded = (vs[k] + page_size - 1) / page_size * page_size;
        if (o->usable_(p) < rounded) {
            fprintf(stderr, "pvalloc(%zu): usable %zu < %zu\n", vs[k], o->usable_(p), rounded);
            exit(1);
        }
        write_all(p, o->usable_(p), k + 100);
        o->free_(p);
    }
    void *p = o->pvalloc_(hide(0));
    CHECK(p != NULL && ALIGNED(p, page_size) && o->usable_(p) >= page_size);
    write_all(p, o->usable_(p), 5);
    o->free_(p);
    EXPECT_ENOMEM(o->valloc_(hide(SIZE_MAX)));
    EXPECT_ENOMEM(o->pvalloc_(hide(SIZE_MAX - 10))); /* rounding up must not wrap */
    EXPECT_ENOMEM(o->pvalloc_(hide((size_t)PTRDIFF_MAX)));
}

static void t_free_errno(const ops_t *o) {
    const size_t sizes[] = {0, 16, 100, 20 * KiB, 300 * KiB, 5 * MiB, 64 * MiB};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        void *p = o->malloc_(hide(sizes[k]));
        CHECK(p != NULL);
        memset(p, 1, sizes[k]);
        escape(p);
        errno = 4242;
        o->free_(p);
        if (errno != 4242) {
            fprintf(stderr, "%s free of a %zu-byte block changed errno to %d\n", o->name, sizes[k], errno);
            exit(1);
        }
        CHECK_EQ(o->posix_memalign_(&p, 4096, hide(sizes[k])), 0);
        errno = 4242;
        o->free_(p);
        CHECK_EQ(errno, 4242);
    }
    errno = 4242;
    o->free_(NULL);
    CHECK_EQ(errno, 4242);
}

static void t_strings(const ops_t *o) {
    const char *s = "warden: a string to copy";
    char *d = o->strdup_(s);
    CHECK(d != NULL && d != s && strcmp(d, s) == 0);
    CHECK(o->usable_(d) >= strlen(s) + 1);
    o->free_(d);
    d = o->strdup_("");
    CHECK(d != NULL && d[0] == '\0');
    free(d);
    d = o->strndup_(s, 6);
    CHECK(d != NULL && strcmp(d, "warden") == 0);
    o->free_(d);
    d = o->strndup_(s, 1000);
    CHECK(d != NULL && strcmp(d, s) == 0);
    o->free_(d);
    d = o->strndup_(s, 0);
    CHECK(d != NULL && d[0] == '\0');
    o->free_(d);
    /* a long string: medium-sized copy */
    size_t n = 100 * KiB;
    char *big = o->malloc_(hide(n + 1));
    CHECK(big != NULL);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    d = o->strdup_(big);
    CHECK(d != NULL && strcmp(d, big) == 0);
    o->free_(d);
    d = o->strndup_(big, 50000);
    CHECK(d != NULL && strlen(d) == 50000 && memcmp(d, big, 50000) == 0);
    o->free_(d);
    o->free_(big);
}

static void t_free_sized(const ops_t *o) {
    const size_t sizes[] = {1, 16, 100, 1000, 20 * KiB, 300 * KiB, 5 * MiB};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        void *p = o->malloc_(hide(n));
        CHECK(p != NULL);
        fill(p, n, k);
        o->free_sized_(p, n);
        /* any size between the request and the usable size */
        p = o->malloc_(hide(n));
        CHECK(p != NULL);
        fill(p, n, k);
        o->free_sized_(p, o->usable_(p));
        p = o->calloc_(hide(n), 1);
        CHECK(p != NULL);
        o->free_sized_(p, n);
        for (size_t a = 16; a <= 64 * KiB; a <<= 2) {
            p = o->aligned_alloc_(a, hide(n));
            CHECK(p != NULL && ALIGNED(p, a));
            fill(p, n, a);
            o->free_aligned_sized_(p, a, n);
        }
    }
    o->free_sized_(NULL, 0);
    o->free_aligned_sized_(NULL, 64, 0);
}

/* Blocks from one set of names freed or resized by the other. */
static void t_mixed(void) {
    for (size_t n = 1; n < 10 * MiB; n = n * 3 + 1) {
        void *p = malloc(hide(n));
        CHECK(p != NULL);
        CHECK_EQ(wd_ops.usable_(p), malloc_usable_size(p));
        fill(p, n, n);
        p = wd_ops.realloc_(p, hide(n + 10));
        CHECK(p != NULL);
        VERIFY(p, n, n);
        wd_ops.free_(p);
        p = wd_ops.malloc_(hide(n));
        CHECK(p != NULL);
        fill(p, n, n);
        p = realloc(p, hide(n / 2 + 1));
        CHECK(p != NULL);
        VERIFY(p, n / 2 + 1, n);
        free(p);
    }
    printf("ok: blocks shared between the standard and the wd_ names\n");
}

static void run_suite(const ops_t *o) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t_zero_and_null(o);
    t_small_alignment_and_sizes(o);
    t_failures(o);
    t_realloc(o);
    t_calloc(o);
    t_posix_memalign(o);
    t_aligned_alloc(o);
    t_memalign_valloc(o);
    t_free_errno(o);
    t_strings(o);
    t_free_sized(o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("ok: semantics through the %s names (%.2f s)\n", o->name,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* --- glibc extras and warden's statistics ---------------------------------- */
/* Runs fn with fd 2 redirected into a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void)) {
    static char out[65536];
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fileno(tmp), 2) == 2);
    fn();
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}
static void call_malloc_stats(void) { malloc_stats(); }
static void call_wd_stats_print(void) { p_stats_print(stderr); }

static void t_glibc_extras(void) {
    enum { NB = 10240 };
    static void *blk[NB];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < NB; i++) {
        blk[i] = malloc(hide(1024));
        CHECK(blk[i] != NULL);
        memset(blk[i], i, 1024);
    }
    struct mallinfo2 after = mallinfo2();
    if (after.uordblks < before.uordblks + 10 * MiB) {
        fprintf(stderr, "mallinfo2().uordblks %zu -> %zu after allocating 10 MiB\n",
                before.uordblks, after.uordblks);
        exit(1);
    }
    for (int i = 0; i < NB; i++)
        free(blk[i]);
    struct mallinfo2 freed = mallinfo2();
    CHECK(freed.uordblks + 10 * MiB <= after.uordblks);

    int rc = malloc_trim(0);
    CHECK(rc == 0 || rc == 1);
    rc = malloc_trim(hide(MiB));
    CHECK(rc == 0 || rc == 1);

    const char *text = capture_stderr(call_malloc_stats);
    if (strlen(text) == 0) {
        fprintf(stderr, "malloc_stats() printed nothing to stderr\n");
        exit(1);
    }
    text = capture_stderr(call_wd_stats_print);
    CHECK(strlen(text) > 0);

    CHECK_EQ(mallopt(M_ARENA_MAX, 1), 1);
    /* the allocator still works afterwards */
    void *p = malloc(hide(1000));
    CHECK(p != NULL);
    free(p);
    printf("ok: mallinfo2, malloc_trim, malloc_stats, mallopt\n");
}

static void t_wd_stats(void) {
    wd_stats_t s0, s1, s2;
    p_stats_get(&s0);
    CHECK(s0.mapped_bytes >= s0.committed_bytes);
    CHECK(s0.committed_bytes > 0);
    CHECK(s0.peak_live_bytes >= s0.live_bytes);

    /* live_bytes: N bytes in a mix of sizes */
    enum { NB = 3000 };
    static void *blk[NB];
    size_t total = 0;
    for (int i = 0; i < NB; i++) {
        size_t n = (i % 3 == 0) ? 24 : (i % 3 == 1) ? 700 : 9000;
        if (i % 500 == 0)
            n = 2 * MiB;
        blk[i] = malloc(hide(n));
        CHECK(blk[i] != NULL);
        memset(blk[i], 1, n);
        total += n;
    }
    p_stats_get(&s1);
    if (s1.live_bytes < s0.live_bytes + total) {
        fprintf(stderr, "wd_stats live_bytes %zu -> %zu after allocating %zu bytes\n",
                s0.live_bytes, s1.live_bytes, total);
        exit(1);
    }
    CHECK(s1.peak_live_bytes >= s1.live_bytes);
    CHECK(s1.mapped_bytes >= s1.committed_bytes && s1.committed_bytes >= total);
    for (int i = 0; i < NB; i++)
        free(blk[i]);
    p_stats_get(&s2);
    if (s2.live_bytes + total > s1.live_bytes) {
        fprintf(stderr, "wd_stats live_bytes %zu -> %zu after freeing %zu bytes\n",
                s1.live_bytes, s2.live_bytes, total);
        exit(1);
    }
    CHECK(s2.peak_live_bytes >= s1.live_bytes);

    /* realloc(p, 0) really frees */
    void *p = malloc(hide(MiB));
    CHECK(p != NULL);
    p_stats_get(&s1);
    CHECK(realloc(p, hide(0)) == NULL);
    p_stats_get(&s2);
    CHECK(s2.live_bytes + MiB <= s1.live_bytes);
    /* free_sized and free_aligned_sized really free */
    p = malloc(hide(MiB));
    CHECK(p != NULL);
    p_stats_get(&s1);
    std_ops.free_sized_(p, MiB);
    p_stats_get(&s2);
    CHECK(s2.live_bytes + MiB <= s1.live_bytes);
    p = aligned_alloc(4096, hide(MiB));
    CHECK(p != NULL);
    p_stats_get(&s1);
    std_ops.free_aligned_sized_(p, 4096, MiB);
    p_stats_get(&s2);
    CHECK(s2.live_bytes + MiB <= s1.live_bytes);

    /* tiers: 32 B small, 100 KiB medium, 8 MiB large */
    struct {
        size_t size;
        int count;
    } tiers[3] = {{32, 200}, {100 * KiB, 40}, {8 * MiB, 3}};
    for (int t = 0; t < 3; t++) {
        p_stats_get(&s1);
        for (int i = 0; i < tiers[t].count; i++) {
            blk[i] = malloc(hide(tiers[t].size));
            CHECK(blk[i] != NULL);
            memset(blk[i], 2, tiers[t].size);
        }
        p_stats_get(&s2);
        size_t d_allocs[3] = {s2.small_allocs - s1.small_allocs, s2.medium_allocs - s1.medium_allocs,
                              s2.large_allocs - s1.large_allocs};
        size_t d_live[3] = {s2.small_live - s1.small_live, s2.medium_live - s1.medium_live,
                            s2.large_live - s1.large_live};
        for (int u = 0; u < 3; u++) {
            int want = u == t ? tiers[t].count : 0;
            if ((u == t && (d_allocs[u] < (size_t)want || d_live[u] < (size_t)want)) ||
                (u != t && (d_allocs[u] != 0 || d_live[u] != 0))) {
                fprintf(stderr, "wd_stats after %d blocks of %zu bytes: tier %d allocs +%zu, live +%zu\n",
                        tiers[t].count, tiers[t].size, u, d_allocs[u], d_live[u]);
                exit(1);
            }
        }
        for (int i = 0; i < tiers[t].count; i++)
            free(blk[i]);
        p_stats_get(&s1);
        CHECK(s1.small_live <= s2.small_live && s1.medium_live <= s2.medium_live &&
              s1.large_live <= s2.large_live);
    }
    p_stats_get(&s1);
    CHECK(s1.threads >= 1);
    CHECK(s1.mapped_bytes >= s1.committed_bytes && s1.committed_bytes > 0);
    int rc = p_trim(0);
    CHECK(rc == 0 || rc == 1);
    p_stats_get(&s2);
    CHECK(s2.mapped_bytes >= s2.committed_bytes && s2.committed_bytes > 0);
    CHECK(s2.returned_bytes >= s1.returned_bytes);
    printf("ok: wd_stats_get, wd_trim\n");
}

/* --- misuse ---------------------------------------------------------------- */
/* Runs fn in a child with stderr piped back; asserts SIGABRT and a line
 * `warden: <what> at 0x<hex> in <func>`. */
static int expect_abort_line(void (*fn)(void), const char *name, const char *what,
                             const char *func) {
    static char buf[65536];
    int status = test_child_stderr(fn, buf, sizeof buf);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "warden: %s at 0x", what);
    int found = 0;
    for (char *line = buf; line && *line;) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        size_t pl = strlen(prefix);
        if (ll > pl && strncmp(line, prefix, pl) == 0) {
            size_t i = pl;
            while (i < ll && strchr("0123456789abcdef", line[i]))
                i++;
            char tail[64];
            snprintf(tail, sizeof tail, " in %s", func);
            if (i > pl && ll - i == strlen(tail) && strncmp(line + i, tail, ll - i) == 0)
                found = 1;
        }
        line = end ? end + 1 : NULL;
    }
    if (aborted && found) {
        printf("ok: %s aborts with \"%s...in %s\"\n", name, prefix, func);
        return 0;
    }
    fprintf(stderr, "FAIL: %s: %s; wanted a line \"%s<hex> in %s\"; child stderr:\n%s\n", name,
            !aborted ? (WIFSIGNALED(status) ? "killed by another signal" : "child did not abort")
                     : "message not found",
            prefix, func, buf);
    return 1;
}

static _Alignas(4096) char global_buf[3 * 4096];

static void free_stack(void) {
    _Alignas(64) char buf[256];
    memset(buf, 1, sizeof buf);
    free(hidep(buf + 64));
}
static void free_global(void) { free(hidep(global_buf + 4096)); }
static void free_global_start(void) { free(hidep(global_buf)); }
static void free_mmap_page(void) {
    void *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        _exit(3);
    free(hidep((char *)m + 4096));
}
/* A page at a big alignment, where a segment-based allocator would look for
 * its metadata. */
static void free_mmap_aligned(void) {
    size_t span = 128 * MiB;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        _exit(3);
    uintptr_t a = ((uintptr_t)m + 64 * MiB - 1) & ~(uintptr_t)(64 * MiB - 1);
    free(hidep((void *)a));
}
static void free_interior_small(void) {
    char *p = malloc(hide(64));
    free(hidep(p + 8));
}
static void free_interior_medium(void) {
    char *p = malloc(hide(20 * KiB));
    free(hidep(p + 4096));
}
static void free_interior_large(void) {
    char *p = malloc(hide(5 * MiB));
    free(hidep(p + 4096));
}

static void t_invalid_free(void) {
    test_failures += expect_abort_line(free_stack, "free(stack address)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_global, "free(global)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_global_start, "free(page-aligned global)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_mmap_page, "free(mmap page)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_mmap_aligned, "free(64 MiB-aligned mmap page)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_interior_small, "free(malloc(64) + 8)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_interior_medium, "free(malloc(20 KiB) + 4096)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_interior_large, "free(malloc(5 MiB) + 4096)", "invalid pointer", "free");
}

/* --- WARDEN_OPTIONS -------------------------------------------------------- */
static const char *self_exe;

/* A workload for the re-executed child; returns the exit code. */
static int child_workload(void) {
    void *p[1000];
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < 1000; i++) {
            size_t n = (size_t)((i * 37 + r) % 5000) + 1;
            if (i % 100 == 0)
                n = 300 * KiB;
            p[i] = malloc(n);
            if (!p[i])
                return 2;
            fill(p[i], n, (uint64_t)i);
        }
        for (int i = 0; i < 1000; i++) {
            size_t n = (size_t)((i * 37 + r) % 5000) + 1;
            if (i % 100 == 0)
                n = 300 * KiB;
            if (verify_at(p[i], n, (uint64_t)i) != n)
                return 3;
            free(p[i]);
        }
    }
    return 0;
}

/* Runs this binary with --child-workload and WARDEN_OPTIONS = opts (unset when
 * NULL); returns the exit status and fills err with the child's stderr. */
static void exec_with_options(const void *opts) {
    if (opts)
        setenv("WARDEN_OPTIONS", opts, 1);
    else
        unsetenv("WARDEN_OPTIONS");
    char *const args[] = {(char *)self_exe, (char *)"--child-workload", NULL};
    execv("/proc/self/exe", args);
    execv(self_exe, args);
    _exit(127);
}

static int run_with_options(const char *opts, char *err, size_t errsize) {
    return test_run_piped(exec_with_options, opts, 0, NULL, 0, err, errsize);
}

static int count_lines(const char *text, const char *needle, int at_start) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        size_t nl = strlen(needle);
        if (at_start) {
            if (ll >= nl && strncmp(line, needle, nl) == 0)
                count++;
        } else {
            for (size_t i = 0; i + nl <= ll; i++)
                if (strncmp(line + i, needle, nl) == 0) {
                    count++;
                    break;
                }
        }
        line = end ? end + 1 : NULL;
    }
    return count;
}

#define OPT_FAIL(opts, why, err)                                               \
    do {                                                                       \
        fprintf(stderr, "FAIL: WARDEN_OPTIONS=%s: %s; child stderr:\n%s\n",    \
                (opts) ? (opts) : "(unset)", why, err);                        \
        test_failures++;                                                       \
    } while (0)

static void t_options(void) {
    static char err[65536];
    int st;

    st = run_with_options(NULL, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL((const char *)NULL, "child did not exit 0", err);
    else if (err[0] != '\0')
        OPT_FAIL((const char *)NULL, "child printed to stderr without any option", err);

    st = run_with_options("stats=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("stats=1", "child did not exit 0", err);
    else if (count_lines(err, "warden: stats", 1) < 1)
        OPT_FAIL("stats=1", "no line starting with \"warden: stats\" at exit", err);

    st = run_with_options("nonsense=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("nonsense=1", "child did not exit 0", err);
    else if (count_lines(err, "warden: unknown option", 0) != 1)
        OPT_FAIL("nonsense=1", "wanted exactly one line containing \"warden: unknown option\"", err);
    else if (count_lines(err, "warden: stats", 1) != 0)
        OPT_FAIL("nonsense=1", "stats printed without stats=1", err);

    st = run_with_options("verbose=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("verbose=1", "child did not exit 0", err);
    else if (count_lines(err, "unknown option", 0) != 0)
        OPT_FAIL("verbose=1", "verbose rejected as unknown", err);

    st = run_with_options("stats=1:verbose=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("stats=1:verbose=1", "child did not exit 0", err);
    else if (count_lines(err, "unknown option", 0) != 0 || count_lines(err, "warden: stats", 1) < 1)
        OPT_FAIL("stats=1:verbose=1", "wanted stats lines and no unknown option", err);

    printf("ok: WARDEN_OPTIONS (stats, unknown option, verbose)\n");
}

/* --- awkward places -------------------------------------------------------- */
static int ctor_result = -1;

__attribute__((constructor)) static void early_alloc(void) {
    int ok = 1;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)i * 97 + 1;
        if (i == 10)
            n = 300 * KiB;
        if (i == 20)
            n = 5 * MiB;
        p[i] = malloc(n);
        if (!p[i] || !ALIGNED(p[i], 16)) {
            ok = 0;
            break;
        }
        fill(p[i], n, (uint64_t)i);
    }
    for (int i = 0; ok && i < 64; i++) {
        size_t n = (size_t)i * 97 + 1;
        if (i == 10)
            n = 300 * KiB;
        if (i == 20)
            n = 5 * MiB;
        if (verify_at(p[i], n, (uint64_t)i) != n)
            ok = 0;
        free(p[i]);
    }
    char *s = strdup("constructor");
    if (!s || strcmp(s, "constructor") != 0)
        ok = 0;
    free(s);
    void *c = calloc(100, 100);
    if (!c || !all_zero(c, 10000))
        ok = 0;
    free(c);
    ctor_result = ok;
}

static void late_alloc_or_die(const char *where) {
    int ok = 1;
    void *p = malloc(1000);
    void *q = calloc(10, 5000);
    void *r = malloc(3 * MiB);
    if (!p || !q || !r || !all_zero(q, 50000))
        ok = 0;
    if (ok) {
        fill(p, 1000, 1);
        fill(r, 3 * MiB, 2);
        p = realloc(p, 100000);
        if (!p || verify_at(p, 1000, 1) != 1000 || verify_at(r, 3 * MiB, 2) != 3 * MiB)
            ok = 0;
    }
    free(p);
    free(q);
    free(r);
    if (!ok) {
        char msg[128];
        int len = snprintf(msg, sizeof msg, "FAIL: allocation in %s\n", where);
        if (write(2, msg, (size_t)len) < 0)
            _exit(1);
        _exit(1);
    }
}
static void at_exit_alloc(void) { late_alloc_or_die("an atexit handler"); }
__attribute__((destructor)) static void dtor_alloc(void) { late_alloc_or_die("a destructor"); }

static pthread_key_t tls_key;
static atomic_int key_dtor_calls, key_dtor_ok;

static void key_dtor(void *v) {
    int n = atomic_fetch_add(&key_dtor_calls, 1) + 1;
    int ok = verify_at(v, 500, 99) == 500;
    free(v);
    void *p = malloc(1000), *q = malloc(50000), *r = malloc(2 * MiB);
    if (!p || !q || !r)
        ok = 0;
    else {
        fill(p, 1000, 3);
        fill(q, 50000, 4);
        memset(r, 1, 2 * MiB);
        ok &= verify_at(p, 1000, 3) == 1000 && verify_at(q, 50000, 4) == 50000;
    }
    free(p);
    free(q);
    free(r);
    if (n == 1) { /* set again: a second round of destructors */
        void *again = malloc(500);
        if (again) {
            fill(again, 500, 99);
            pthread_setspecific(tls_key, again);
        } else {
            ok = 0;
        }
    }
    if (ok)
        atomic_fetch_add(&key_dtor_ok, 1);
}
static void *key_thread(void *arg) {
    (void)arg;
    void *v = malloc(500);
    if (!v)
        return NULL;
    fill(v, 500, 99);
    pthread_setspecific(tls_key, v);
    for (int i = 0; i < 1000; i++)
        free(malloc((size_t)i + 1));
    return NULL;
}

static void t_tls_destructor(void) {
    CHECK(pthread_key_create(&tls_key, key_dtor) == 0);
    for (int round = 0; round < 10; round++) {
        atomic_store(&key_dtor_calls, 0);
        atomic_store(&key_dtor_ok, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, key_thread, NULL) == 0);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_EQ(atomic_load(&key_dtor_calls), 2);
        CHECK_EQ(atomic_load(&key_dtor_ok), 2);
    }
    pthread_key_delete(tls_key);
    printf("ok: malloc and free in pthread key destructors\n");
}

static atomic_int busy_stop;
static atomic_long busy_ops;

static void *busy_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    void *slot[256] = {0};
    while (!atomic_load_explicit(&busy_stop, memory_order_relaxed)) {
        uint64_t r = test_rand(&rng);
        unsigned i = (unsigned)(r & 255);
        free(slot[i]);
        size_t n = (r >> 8) % 100 == 0 ? (size_t)((r >> 16) % (512 * KiB)) : (size_t)((r >> 16) % 2048);
        slot[i] = malloc(n + 1);
        if (slot[i])
            ((char *)slot[i])[n] = 1;
        atomic_fetch_add_explicit(&busy_ops, 1, memory_order_relaxed);
    }
    for (int i = 0; i < 256; i++)
        free(slot[i]);
    return NULL;
}

static void *child_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        void *p = malloc((size_t)(i % 3000) + 1);
        if (!p)
            return (void *)1;
        memset(p, 1, (size_t)(i % 3000) + 1);
        free(p);
    }
    return NULL;
}

static int child_after_fork(void) {
    enum { RING = 64 };
    void *ring[RING] = {0};
    size_t sz[RING] = {0};
    for (int i = 0; i < 10000; i++) {
        int s = i % RING;
        if (ring[s]) {
            if (verify_at(ring[s], sz[s], (uint64_t)s) != sz[s])
                return 2;
            free(ring[s]);
        }
        size_t n = (size_t)(i * 131 % 4000) + 1;
        if (i % 500 == 0)
            n = 400 * KiB;
        if (i % 2000 == 0)
            n = 3 * MiB;
        ring[s] = (i % 7 == 0) ? calloc(1, n) : malloc(n);
        if (!ring[s])
            return 3;
        sz[s] = n;
        fill(ring[s], n, (uint64_t)s);
    }
    for (int s = 0; s < RING; s++)
        free(ring[s]);
    /* a thread in the child, too */
    pthread_t t;
    void *res = (void *)1;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &res) != 0 || res != NULL)
        return 4;
    return 0;
}

static void t_fork_with_threads(void) {
    enum { BUSY = 4 };
    pthread_t th[BUSY];
    atomic_store(&busy_stop, 0);
    for (int i = 0; i < BUSY; i++)
        CHECK(pthread_create(&th[i], NULL, busy_thread, (void *)(uintptr_t)(i + 1)) == 0);
    while (atomic_load(&busy_ops) < 10000)
        sched_yield();
    for (int round = 0; round < 20; round++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child_after_fork());
        int status = 0, done = 0;
        for (int ms = 0; ms < 10000; ms++) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                done = 1;
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (!done) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "FAIL: fork round %d: child hung (> 10 s) after fork with %d busy threads\n",
                    round, BUSY);
            exit(1);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "FAIL: fork round %d: child %s %d\n", round,
                    WIFEXITED(status) ? "exited with" : "killed by signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            exit(1);
        }
        /* the parent keeps working too */
        void *p = malloc(hide(1000));
        CHECK(p != NULL);
        free(p);
    }
    atomic_store(&busy_stop, 1);
    for (int i = 0; i < BUSY; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    printf("ok: 20 forks with %d busy threads (%ld ops in them)\n", BUSY, atomic_load(&busy_ops));
}

static void *short_thread(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    char *p = malloc(n);
    if (p)
        memset(p, (int)(n & 0xff), n);
    for (int i = 0; i < 100; i++)
        free(malloc((size_t)i * 10 + 1));
    return p; /* freed by the main thread */
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void t_libc_callers(void) {
    /* getaddrinfo: nss, dlopen of libnss_* */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo("localhost", "80", &hints, &res);
    if (rc == 0) {
        int count = 0;
        for (struct addrinfo *a = res; a; a = a->ai_next)
            count++;
        CHECK(count > 0);
        freeaddrinfo(res);
        printf("ok: getaddrinfo(localhost): %d addresses\n", count);
    } else {
        printf("note: getaddrinfo(localhost) failed (%s); that part skipped\n", gai_strerror(rc));
    }

    /* dlopen */
    void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    double (*cosf_)(double) = (double (*)(double))dlsym(h, "cos");
    CHECK(cosf_ != NULL);
    CHECK(cosf_(0.0) == 1.0);
    CHECK(dlclose(h) == 0);
    void *bad = dlopen("libwarden-does-not-exist.so.9", RTLD_NOW);
    CHECK(bad == NULL && dlerror() != NULL);

    /* 50 short threads */
    pthread_t th[50];
    for (int i = 0; i < 50; i++)
        CHECK(pthread_create(&th[i], NULL, short_thread, (void *)(uintptr_t)(i * 1000 + 1)) == 0);
    for (int i = 0; i < 50; i++) {
        void *r = NULL;
        CHECK(pthread_join(th[i], &r) == 0);
        size_t n = (size_t)i * 1000 + 1;
        CHECK(r != NULL && ((unsigned char *)r)[n - 1] == (unsigned char)(n & 0xff));
        free(r);
    }

    /* stdio */
    char path[] = "/tmp/warden-api-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 10000; i++)
        fprintf(f, "line %d %s\n", i, "some text to fill the buffer");
    CHECK(fclose(f) == 0);
    f = fopen(path, "r");
    CHECK(f != NULL);
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        char want[128];
        snprintf(want, sizeof want, "line %d %s\n", lines, "some text to fill the buffer");
        CHECK(strcmp(line, want) == 0);
        lines++;
    }
    CHECK(lines == 10000);
    CHECK(fclose(f) == 0);
    unlink(path);
    char *ms = NULL;
    size_t mslen = 0;
    FILE *mf = open_memstream(&ms, &mslen);
    CHECK(mf != NULL);
    for (int i = 0; i < 20000; i++)
        fprintf(mf, "%d,", i);
    CHECK(fclose(mf) == 0);
    CHECK(ms != NULL && mslen > 100000 && strncmp(ms, "0,1,2,", 6) == 0);
    CHECK(malloc_usable_size(ms) >= mslen);
    free(ms); /* libc's realloc'd buffer, freed by us */
    char *as = NULL;
    CHECK(asprintf(&as, "%s-%d", "asprintf", 42) > 0);
    CHECK(strcmp(as, "asprintf-42") == 0);
    free(as);

    /* qsort (allocates a temporary buffer for large arrays) */
    size_t n = 200000;
    int *arr = malloc(n * sizeof *arr);
    CHECK(arr != NULL);
    uint64_t rng = 42;
    for (size_t i = 0; i < n; i++)
        arr[i] = (int)(test_rand(&rng) >> 33);
    qsort(arr, n, sizeof *arr, cmp_int);
    for (size_t i = 1; i < n; i++)
        CHECK(arr[i - 1] <= arr[i]);
    free(arr);

    /* strdup */
    char *s = strdup("copied by libc's strdup");
    CHECK(s != NULL && strcmp(s, "copied by libc's strdup") == 0);
    CHECK(malloc_usable_size(s) >= 24);
    free(s);

    /* setlocale + printf of a float (printf allocates for wide conversions) */
    const char *loc = setlocale(LC_ALL, "C.UTF-8");
    if (!loc)
        printf("note: C.UTF-8 locale missing; using \"C\"\n");
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", 3.14159);
    CHECK(strcmp(buf, "3.142") == 0);
    printf("float: %.10f %g %e\n", 1.0 / 3.0, 2.5e-300, 6.02e23);
    char *wide = NULL;
    CHECK(asprintf(&wide, "%.5000f", 1e300) == 301 + 1 + 5000);
    /* the exact decimal value of the double nearest 1e300 */
    CHECK(strncmp(wide, "10000000000000000525047602552044202487044685811081591549158541155118024579889"
                        "08195786371375080447864", 100) == 0);
    CHECK(wide[301] == '.' && wide[5301] == '0' && wide[5302] == '\0');
    free(wide);
    CHECK(setlocale(LC_ALL, "C") != NULL);
    printf("ok: getaddrinfo, dlopen, 50 threads, stdio, qsort, strdup, setlocale + printf\n");
}

/* --- main ------------------------------------------------------------------ */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
#define SECTION(call)                                                          \
    do {                                                                       \
        double t0_ = now_s();                                                  \
        call;                                                                  \
        printf("   (%s: %.2f s)\n", #call, now_s() - t0_);                     \
    } while (0)

int main(int argc, char **argv) {
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    self_exe = argv[0];
    if (argc > 1 && strcmp(argv[1], "--child-workload") == 0)
        return child_workload();
    setvbuf(stdout, NULL, _IOLBF, 0);

    resolve_names();
    check_identity();
    CHECK(atexit(at_exit_alloc) == 0);
    if (ctor_result != 1) {
        fprintf(stderr, "FAIL: allocation in a constructor before main (%d)\n", ctor_result);
        return 1;
    }
    printf("ok: malloc in a constructor before main\n");

    run_suite(&std_ops);
    run_suite(&wd_ops);
    SECTION(t_mixed());
    SECTION(t_glibc_extras());
    SECTION(t_wd_stats());
    SECTION(t_invalid_free());
    SECTION(t_options());
    SECTION(t_tls_destructor());
    SECTION(t_fork_with_threads());
    SECTION(t_libc_callers());

    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("all api checks passed\n");
    return 0;
}
