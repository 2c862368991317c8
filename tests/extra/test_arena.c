/* test_arena.c -- warden/arena.h: growing and fixed arenas, alignment,
 * marks, rewind, reset, every failure path, misuse of marks, and a random
 * model test that checks every live allocation's bytes after each rewind.
 * (Chunks live in warden's memory: ASan does not see overflows there; the
 * model test's pattern checks do.) */
#include <stdint.h>

#include <warden.h>
#include <warden/arena.h>

#include "test.h"

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }
static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Bytes the program holds in warden now (the arena's chunks among them). */
static size_t live_bytes(void) {
    wd_stats_t st;
    wd_stats_get(&st);
    return st.live_bytes;
}

static void test_create_and_alloc(void) {
    wd_arena_t *a = wd_arena_create(0);
    CHECK(a != NULL);
    CHECK_EQ(wd_arena_used(a), 0);
    size_t used = 0;
    char *prev = NULL;
    for (size_t size = 1; size <= 200; size++) {
        char *p = wd_arena_alloc(a, size);
        CHECK(p != NULL);
        CHECK(aligned_to(p, 16));
        memset(p, (int)size, size);
        if (prev != NULL)
            CHECK(p != prev);
        prev = p;
        used += round16(size);
        CHECK_EQ(wd_arena_used(a), used);
    }
    /* size 0: a valid pointer, nothing counted */
    CHECK(wd_arena_alloc(a, 0) != NULL);
    CHECK_EQ(wd_arena_used(a), used);
    wd_arena_destroy(a);
    wd_arena_destroy(NULL); /* does nothing */
}

/* Consecutive small allocations are adjacent (bump); many of them take
 * several chunks, and every byte stays what was written. */
static void test_growth(void) {
    wd_arena_t *a = wd_arena_create(256);
    CHECK(a != NULL);
    char *p1 = wd_arena_alloc(a, 24);
    char *p2 = wd_arena_alloc(a, 8);
    CHECK(p2 == p1 + 32);
    enum { N = 20000 };
    static unsigned char *ptrs[N];
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = wd_arena_alloc(a, 1 + i % 100);
        CHECK(ptrs[i] != NULL);
        memset(ptrs[i], (int)(i & 0xff), 1 + i % 100);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < 1 + i % 100; j++)
            CHECK_EQ(ptrs[i][j], i & 0xff);
    wd_arena_destroy(a);
}

/* A request above a quarter of the next chunk gets its own chunk; the
 * current chunk keeps serving, so the next small allocation is adjacent. */
static void test_huge_request(void) {
    wd_arena_t *a = wd_arena_create(4096);
    char *s1 = wd_arena_alloc(a, 16);
    size_t huge = (size_t)10 << 20;
    char *big = wd_arena_alloc(a, huge);
    CHECK(big != NULL);
    memset(big, 0xab, huge);
    char *s2 = wd_arena_alloc(a, 16);
    CHECK(s2 == s1 + 16);
    CHECK_EQ(wd_arena_used(a), 32 + huge);
    char *mid = wd_arena_alloc(a, 3000); /* fits in the 4 KiB chunk: bump */
    CHECK(mid == s2 + 16);
    char *mid2 = wd_arena_alloc(a, 3000); /* does not fit, > 8 KiB / 4: own chunk */
    CHECK(mid2 != NULL && (mid2 < mid || mid2 > mid + 4096));
    CHECK(wd_arena_alloc(a, 16) == mid + 3008);
    CHECK_EQ(wd_arena_used(a), 32 + huge + 3008 * 2 + 16);
    char *next = wd_arena_alloc(a, 1500); /* does not fit, <= 2 KiB: a new chunk */
    CHECK(next != NULL);
    CHECK(wd_arena_alloc(a, 16) == next + 1504);
    wd_arena_destroy(a);
}

static void test_aligned(void) {
    wd_arena_t *a = wd_arena_create(0);
    for (size_t al = 1; al <= ((size_t)1 << 16); al <<= 1) {
        size_t before = wd_arena_used(a);
        char *p = wd_arena_alloc_aligned(a, al, 40);
        CHECK(p != NULL);
        CHECK(aligned_to(p, al < 16 ? 16 : al));
        memset(p, 1, 40);
        CHECK(wd_arena_used(a) >= before + 48);
        CHECK(wd_arena_used(a) <= before + 48 + (al > 16 ? al - 16 : 0));
    }
    char *p = wd_arena_alloc_aligned(a, (size_t)1 << 21, 100); /* own chunk */
    CHECK(p != NULL && aligned_to(p, (size_t)1 << 21));
    memset(p, 2, 100);
    errno = 0;
    CHECK(wd_arena_alloc_aligned(a, 0, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(wd_arena_alloc_aligned(a, 48, 16) == NULL && errno == EINVAL);
    /* used counts the padding: a 16-byte allocation puts ptr at 16 mod 64 */
    wd_arena_reset(a);
    CHECK(wd_arena_alloc(a, 16) != NULL);
    CHECK(wd_arena_alloc_aligned(a, 64, 16) != NULL);
    CHECK_EQ(wd_arena_used(a) % 16, 0);
    CHECK(wd_arena_used(a) >= 32);
    wd_arena_destroy(a);
}

static void test_strdup(void) {
    wd_arena_t *a = wd_arena_create(0);
    char *s = wd_arena_strdup(a, "hello, arena");
    CHECK(s != NULL && strcmp(s, "hello, arena") == 0);
    char *e = wd_arena_strdup(a, "");
    CHECK(e != NULL && e[0] == '\0');
    CHECK_EQ(wd_arena_used(a), 16 + 16);
    static char longer[10000];
    memset(longer, 'x', sizeof longer - 1);
    char *l = wd_arena_strdup(a, longer);
    CHECK(l != NULL && strcmp(l, longer) == 0);
    wd_arena_destroy(a);
}

/* Rewind restores used exactly and hands the same addresses out again,
 * across chunks and huge requests; nested marks work inside out. */
static void test_mark_rewind(void) {
    wd_arena_t *a = wd_arena_create(512);
    CHECK(wd_arena_alloc(a, 100) != NULL);
    wd_arena_mark_t m0 = wd_arena_mark(a);
    size_t used0 = wd_arena_used(a);
    char *first = wd_arena_alloc(a, 40);
    wd_arena_mark_t m1 = wd_arena_mark(a);
    size_t used1 = wd_arena_used(a);
    for (int i = 0; i < 1000; i++)
        CHECK(wd_arena_alloc(a, 200) != NULL);
    CHECK(wd_arena_alloc(a, (size_t)4 << 20) != NULL);
    wd_arena_rewind(a, m1);
    CHECK_EQ(wd_arena_used(a), used1);
    wd_arena_rewind(a, m1); /* again: nothing to do */
    CHECK_EQ(wd_arena_used(a), used1);
    wd_arena_rewind(a, m0);
    CHECK_EQ(wd_arena_used(a), used0);
    CHECK(wd_arena_alloc(a, 40) == first);
    /* the same loop many times: memory does not grow */
    wd_arena_mark_t m2 = wd_arena_mark(a);
    size_t live = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 500; i++)
            CHECK(wd_arena_alloc(a, 300) != NULL);
        CHECK(wd_arena_alloc(a, (size_t)2 << 20) != NULL);
        wd_arena_rewind(a, m2);
        if (round == 0)
            live = live_bytes();
        CHECK_EQ(live_bytes(), live);
    }
    wd_arena_destroy(a);
}

/* Reset: used 0, one chunk kept (no new memory for what fits in it),
 * every other chunk given back. */
static void test_reset(void) {
    size_t base = live_bytes();
    wd_arena_t *a = wd_arena_create(1024);
    for (int i = 0; i < 5000; i++)
        CHECK(wd_arena_alloc(a, 64) != NULL);
    CHECK(wd_arena_alloc(a, (size_t)3 << 20) != NULL);
    size_t grown = live_bytes();
    wd_arena_reset(a);
    CHECK_EQ(wd_arena_used(a), 0);
    size_t kept = live_bytes();
    CHECK(kept < grown);
    char *p = wd_arena_alloc(a, 64);
    CHECK(p != NULL);
    for (int round = 0; round < 100; round++) {
        wd_arena_reset(a);
        CHECK(wd_arena_alloc(a, 64) == p); /* the kept chunk, from its start */
        for (int i = 0; i < 100; i++)
            CHECK(wd_arena_alloc(a, 64) != NULL);
        CHECK_EQ(live_bytes(), kept);
    }
    wd_arena_destroy(a);
    CHECK_EQ(live_bytes(), base);
}

/* Failures of a growing arena: NULL + ENOMEM, and the arena unchanged and
 * usable (the next small allocation is adjacent to the last one). */
static void test_enomem_growing(void) {
    errno = 0;
    CHECK(wd_arena_create(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(wd_arena_create((size_t)1 << 56) == NULL && errno == ENOMEM);
    wd_arena_t *a = wd_arena_create(0);
    char *p = wd_arena_alloc(a, 16);
    size_t used = wd_arena_used(a);
    size_t bad[] = {SIZE_MAX, SIZE_MAX - 15, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX,
                    (size_t)1 << 56};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(wd_arena_alloc(a, bad[i]) == NULL && errno == ENOMEM);
        errno = 0;
        CHECK(wd_arena_alloc_aligned(a, 256, bad[i]) == NULL && errno == ENOMEM);
        CHECK_EQ(wd_arena_used(a), used);
    }
    errno = 0;
    CHECK(wd_arena_alloc_aligned(a, (size_t)1 << 62, 16) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(wd_arena_alloc_aligned(a, (size_t)1 << 63, 1) == NULL && errno == ENOMEM);
    CHECK_EQ(wd_arena_used(a), used);
    CHECK(wd_arena_alloc(a, 16) == p + 16);
    wd_arena_destroy(a);
}

/* A fixed arena on caller memory: exact room, ENOMEM when full, usable
 * after a failure, reset, rewind, misaligned memory, EINVAL. */
static unsigned char fixed_mem[WD_ARENA_OVERHEAD + 1024] __attribute__((aligned(16)));

static void test_fixed(void) {
    errno = 0;
    CHECK(wd_arena_init(NULL, 4096) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(wd_arena_init(fixed_mem, WD_ARENA_OVERHEAD - 1) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(wd_arena_init(fixed_mem + 1, WD_ARENA_OVERHEAD) == NULL && errno == EINVAL);
    wd_arena_t *empty = wd_arena_init(fixed_mem, WD_ARENA_OVERHEAD);
    CHECK(empty != NULL);
    CHECK(wd_arena_alloc(empty, 1) == NULL && errno == ENOMEM);

    wd_arena_t *a = wd_arena_init(fixed_mem, sizeof fixed_mem);
    CHECK(a == (wd_arena_t *)fixed_mem); /* the control block is inside */
    char *p = wd_arena_alloc(a, 1000);
    CHECK(p == (char *)fixed_mem + WD_ARENA_OVERHEAD);
    wd_arena_mark_t m = wd_arena_mark(a);
    CHECK(wd_arena_alloc(a, 16) == p + 1008);
    errno = 0;
    CHECK(wd_arena_alloc(a, 1) == NULL && errno == ENOMEM);
    CHECK(wd_arena_alloc(a, 0) != NULL); /* no bytes: still fine when full */
    errno = 0;
    CHECK(wd_arena_alloc_aligned(a, 64, 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(wd_arena_strdup(a, "x") == NULL && errno == ENOMEM);
    CHECK_EQ(wd_arena_used(a), 1024);
    wd_arena_rewind(a, m);
    CHECK_EQ(wd_arena_used(a), 1008);
    CHECK(wd_arena_alloc(a, 16) == p + 1008);
    wd_arena_reset(a);
    CHECK_EQ(wd_arena_used(a), 0);
    CHECK(wd_arena_alloc(a, 1024) == p);
    wd_arena_destroy(a); /* nothing to free: the memory is ours */
    CHECK(wd_arena_init(fixed_mem, sizeof fixed_mem) == a);

    /* misaligned caller memory: aligned up, room rounded down */
    static unsigned char odd[600] __attribute__((aligned(16)));
    wd_arena_t *b = wd_arena_init(odd + 3, sizeof odd - 3);
    CHECK(b != NULL && aligned_to(b, 16));
    size_t room = 0;
    char *q;
    while ((q = wd_arena_alloc(b, 16)) != NULL) {
        CHECK(aligned_to(q, 16));
        CHECK(q >= (char *)odd + 3 && q + 16 <= (char *)odd + sizeof odd);
        room += 16;
    }
    /* from odd + 16 (13 bytes lost) to a 16-byte multiple, minus the control */
    CHECK_EQ(room, ((sizeof odd - 3 - 13) & ~(size_t)15) - WD_ARENA_OVERHEAD);
}

/* --- misuse: marks that no longer describe the arena's past -------------- */

static wd_arena_t *misuse_arena;

static void rewind_to_future(void) {
    wd_arena_t *a = misuse_arena; /* created before the fork: its address is known */
    wd_arena_mark_t m1 = wd_arena_mark(a);
    wd_arena_alloc(a, 100);
    wd_arena_mark_t m2 = wd_arena_mark(a);
    wd_arena_rewind(a, m1);
    wd_arena_rewind(a, m2); /* m2 was invalidated by the rewind to m1 */
}

static void rewind_freed_chunk(void) {
    wd_arena_t *a = wd_arena_create(256);
    wd_arena_mark_t m1 = wd_arena_mark(a);
    for (int i = 0; i < 100; i++)
        wd_arena_alloc(a, 64);
    wd_arena_mark_t m2 = wd_arena_mark(a); /* in a later chunk */
    wd_arena_rewind(a, m1);                /* which this frees */
    wd_arena_rewind(a, m2);
}

static void rewind_after_reset(void) {
    wd_arena_t *a = wd_arena_create(0);
    wd_arena_alloc(a, 64);
    wd_arena_mark_t m = wd_arena_mark(a);
    wd_arena_reset(a);
    wd_arena_rewind(a, m);
}

/* m2 is ahead of ptr in the same chunk, though used grew past it since */
static void rewind_ahead_same_chunk(void) {
    wd_arena_t *a = wd_arena_create(0);
    wd_arena_mark_t m1 = wd_arena_mark(a);
    wd_arena_alloc(a, 100);
    wd_arena_mark_t m2 = wd_arena_mark(a);
    wd_arena_rewind(a, m1);
    wd_arena_alloc(a, (size_t)1 << 20); /* its own chunk: used > m2.used */
    wd_arena_rewind(a, m2);
}

static void rewind_other_arena(void) {
    wd_arena_t *a = wd_arena_create(0), *b = wd_arena_create(0);
    wd_arena_alloc(b, 64);
    wd_arena_rewind(a, wd_arena_mark(b));
}

static void rewind_fixed_mark_on_growing(void) {
    wd_arena_t *f = wd_arena_init(fixed_mem, sizeof fixed_mem);
    wd_arena_t *a = wd_arena_create(0);
    wd_arena_rewind(a, wd_arena_mark(f));
}

static void test_misuse(void) {
    char want[128];
    misuse_arena = wd_arena_create(0);
    snprintf(want, sizeof want, "warden: invalid arena mark at 0x%lx in wd_arena_rewind\n",
             (unsigned long)(uintptr_t)misuse_arena);
    EXPECT_ABORT(rewind_to_future, want);
    wd_arena_destroy(misuse_arena);
    EXPECT_ABORT(rewind_freed_chunk, "warden: invalid arena mark at 0x");
    EXPECT_ABORT(rewind_after_reset, "warden: invalid arena mark at 0x");
    EXPECT_ABORT(rewind_ahead_same_chunk, "warden: invalid arena mark at 0x");
    EXPECT_ABORT(rewind_other_arena, "warden: invalid arena mark at 0x");
    EXPECT_ABORT(rewind_fixed_mark_on_growing, "warden: invalid arena mark at 0x");
}

/* --- random model --------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t size;
    unsigned char fill;
} rec_t;

/* Random allocations (plain, aligned, huge), marks and rewinds, resets; a
 * stack of records mirrors what must still be live and its bytes. */
static void test_model(void) {
    uint64_t rng = test_seed();
    enum { RECS = 4096, MARKS = 16 };
    static rec_t recs[RECS];
    wd_arena_mark_t marks[MARKS];
    size_t mark_recs[MARKS], mark_used[MARKS], nmarks = 0, nrecs = 0;
    wd_arena_t *a = wd_arena_create(1 + test_rand(&rng) % 8192);
    for (int step = 0; step < 200000; step++) {
        uint64_t r = test_rand(&rng) % 1000;
        if (r < 900 && nrecs < RECS) {
            size_t size = test_rand(&rng) % 8 == 0 ? test_rand(&rng) % 40000 : test_rand(&rng) % 200;
            size_t al = (size_t)1 << (test_rand(&rng) % 10);
            unsigned char *p = test_rand(&rng) % 4 ? wd_arena_alloc(a, size)
                                                   : wd_arena_alloc_aligned(a, al, size);
            CHECK(p != NULL && aligned_to(p, 16));
            rec_t *rc = &recs[nrecs++];
            *rc = (rec_t){p, size, (unsigned char)test_rand(&rng)};
            memset(p, rc->fill, size);
        } else if (r < 950 && nmarks < MARKS) {
            marks[nmarks] = wd_arena_mark(a);
            mark_recs[nmarks] = nrecs;
            mark_used[nmarks++] = wd_arena_used(a);
        } else if (r < 995 && nmarks > 0) {
            size_t k = test_rand(&rng) % nmarks;
            wd_arena_rewind(a, marks[k]);
            CHECK_EQ(wd_arena_used(a), mark_used[k]);
            nrecs = mark_recs[k];
            nmarks = k + 1; /* marks after k are invalid now */
        } else {
            wd_arena_reset(a);
            nrecs = nmarks = 0;
        }
        if (step % 1000 == 0 || r >= 950)
            for (size_t i = 0; i < nrecs; i++)
                for (size_t j = 0; j < recs[i].size; j += 61)
                    CHECK_EQ(recs[i].p[j], recs[i].fill);
    }
    wd_arena_destroy(a);
}

int main(void) {
    test_create_and_alloc();
    test_growth();
    test_huge_request();
    test_aligned();
    test_strdup();
    test_mark_rewind();
    test_reset();
    test_enomem_growing();
    test_fixed();
    test_misuse();
    test_model();
    if (test_failures)
        return 1;
    printf("test_arena: ok\n");
    return 0;
}
