/* tests/api/test_api.c -- warden as the process's malloc: the semantics of the
 * standard names (malloc, free, calloc, realloc, reallocarray, the aligned
 * family, free_sized, strdup) and of the wd_ names, the same cases run
 * through each set (ops_t), and blocks passed from one set to the other.
 * Built as api_static and api_preload (see api_util.h).  The glibc extras
 * and wd_stats are in test_api_stats.c, misuse reports in test_api_misuse.c,
 * WARDEN_OPTIONS and allocation from awkward places in test_api_process.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_util.h"

static size_t page_size;

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
    /* 1..15: every block 16-aligned, held together, no overlap; at least
     * 16 usable bytes, but for harden=2's blocks and for a block the guard
     * sampler took (one in 50,000 on average: its usable size is its
     * request), so a few of the 960 may have fewer. */
    enum { PER = 64 };
    static void *blk[16][PER];
    size_t below16 = 0;
    for (size_t n = 1; n <= 15; n++)
        for (size_t i = 0; i < PER; i++) {
            void *p = o->malloc_(hide(n));
            CHECK(p != NULL);
            if (!ALIGNED(p, 16)) {
                fprintf(stderr, "malloc(%zu) = %p is not 16-aligned\n", n, p);
                exit(1);
            }
            size_t u = o->usable_(p);
            CHECK(u >= n);
            below16 += u < 16;
            fill(p, u, n * 1000 + i);
            blk[n][i] = p;
        }
    CHECK(below16 <= 2 || test_harden2());
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

static int address_order(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* n blocks of size bytes, each filled with its own pattern; then all
 * checked: two blocks that overlap spoil each other's.  Also sorted by
 * address, no two closer than size. */
static void round_of(void **v, size_t n, size_t size, uint64_t key) {
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(hide(size));
        CHECK(v[i] != NULL);
        fill(v[i], size, key + i);
    }
    for (size_t i = 0; i < n; i++)
        VERIFY(v[i], size, key + i);
    qsort(v, n, sizeof *v, address_order);
    for (size_t i = 1; i < n; i++)
        CHECK((uintptr_t)v[i] - (uintptr_t)v[i - 1] >= size);
}

/* Rounds that free everything and allocate it again: pages of a class
 * that empty are retired with their blocks still listed and taken back as
 * they were by the same class, and carved anew by another class. */
static void t_rounds(void) {
    enum { N = 6000 }; /* 48-byte blocks: more than four pages of 64 KiB */
    static void *v[N];
    static const size_t sizes[] = {48, 48, 96, 48, 272, 48, 96};
    for (size_t r = 0; r < sizeof sizes / sizeof *sizes; r++) {
        size_t n = N * 48 / sizes[r];
        round_of(v, n, sizes[r], r << 32);
        for (size_t i = 0; i < n; i += 2) /* every other one, then the rest */
            free(v[i]);
        for (size_t i = 1; i < n; i += 2)
            free(v[i]);
    }
    printf("ok: rounds that free all and allocate again, of one class and of others\n");
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

/* --- main ------------------------------------------------------------------ */
int main(void) {
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);

    resolve_names();
    check_identity();

    run_suite(&std_ops);
    run_suite(&wd_ops);
    SECTION(t_mixed());
    SECTION(t_rounds());

    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("all api checks passed\n");
    return 0;
}
