/* test_harden2.c -- what WARDEN_OPTIONS=harden=2 adds, beyond the misuse
 * suite (which runs again at that level): one-byte overflows and
 * underflows of every tier, writes after free caught when the quarantine
 * lets a block go and at exit (up to the fill's bound, 256 bytes), guard
 * pages after large blocks and at the
 * end of segments, exact sizes and alignments, the quarantine delaying
 * reuse, shuffled pages.  ctest runs it with WARDEN_OPTIONS=harden=2
 * (test_harden2) and with harden=2:quarantine_kb=0 (test_harden2_noq,
 * argument --no-quarantine).  Misuse runs in a forked child that writes the
 * line it expects to fd 3 just before; "fault" means a guard page must stop
 * it with SIGSEGV and no warden line. */
#include <pthread.h>
#include <stdint.h>

#include "test.h"
#include "warden.h"

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)

static char expected[200];

static void expect_at(const char *what, const void *p, const char *fn) {
    snprintf(expected, sizeof expected, "warden: %s at %p in %s\n", what, p, fn);
    ssize_t w = write(3, expected, strlen(expected));
    (void)w;
}

static void expect_fault(void) {
    ssize_t w = write(3, "fault", 5);
    (void)w;
}

static inline void *hide(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

static char *must(size_t n) {
    char *p = hide(wd_malloc(n));
    if (p == NULL) {
        perror("wd_malloc");
        _exit(2);
    }
    return p;
}

/* --- misuse, one child each ------------------------------------------------- */

/* An overflow flips bits of the byte it hits: a fixed value would equal
 * the canary's byte there (a keyed tag) one run in 256. */

static void overflow_small_1(void) {
    char *p = must(40);
    p[40] ^= 0x5a;
    expect_at("buffer overflow", p, "free");
    wd_free(p);
}

static void overflow_medium_1(void) {
    char *p = must(100000);
    p[100000] ^= 0x5a;
    expect_at("buffer overflow", p, "free");
    wd_free(p);
}

static void overflow_large_1(void) {
    char *p = must(5 * MiB);
    p[5 * MiB] ^= 0x5a;
    expect_at("buffer overflow", p, "free");
    wd_free(p);
}

static void overflow_aligned_1(void) {
    char *p = hide(wd_aligned_alloc(256, 100));
    p[100] ^= 0x5a;
    expect_at("buffer overflow", p, "free");
    wd_free(p);
}

static void overflow_then_realloc(void) {
    char *p = must(100);
    p[103] ^= 0x5a;
    expect_at("buffer overflow", p, "realloc");
    wd_free(hide(wd_realloc(p, 1000)));
}

static void overflow_then_usable(void) {
    char *p = must(3000);
    p[3001] ^= 0x5a;
    expect_at("buffer overflow", p, "malloc_usable_size");
    wd_malloc_usable_size(p);
}

static void underflow_small_1(void) {
    char *p = must(40);
    p[-1] ^= 1;
    expect_at("buffer underflow", p, "free");
    wd_free(p);
}

static void underflow_large_8(void) {
    char *p = must(5 * MiB);
    memset(p - 8, 0, 8);
    expect_at("buffer underflow", p, "free");
    wd_free(p);
}

static void double_free_quarantined(void) {
    char *p = must(200);
    wd_free(p);
    expect_at("double free", p, "free");
    wd_free(p);
}

static void uaf_caught_on_leaving(void) {
    char *p = must(64);
    wd_free(p);
    p[63] = 1; /* the last byte: no header or link is anywhere near */
    expect_at("write after free", p, "free");
    for (int i = 0; i < 10000; i++)
        wd_free(must(64));
}

/* The pattern check reads 16-byte vectors, then one ending exactly at the
 * block's end, or two 8-byte words, or bytes: a write at either end of a
 * block of any of these sizes must be seen. */
static size_t uaf_size, uaf_at;
static void uaf_at_edge(void) {
    char *p = must(uaf_size);
    wd_free(p);
    p[uaf_at] = 1;
    expect_at("write after free", p, "free");
    for (int i = 0; i < 10000; i++)
        wd_free(must(uaf_size));
}

static void uaf_edges(void) {
    static const size_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 200};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int last = 0; last <= 1; last++) {
            uaf_size = sizes[i];
            uaf_at = last ? sizes[i] - 1 : 0;
            char name[64];
            snprintf(name, sizeof name, "uaf_at_edge(%zu bytes, byte %zu)", uaf_size, uaf_at);
            test_failures += test_expect_announced(uaf_at_edge, name);
        }
}

/* The fill runs to the end of the raw block, at most 256 bytes from the
 * pointer: past the request, over the tail canary and the slack.  A block
 * of 100 bytes is a raw block of 128 (prefix 16, request, tail 8, slack
 * 4): a write after free at byte 110 is seen. */
static void uaf_in_slack(void) {
    char *p = must(100);
    wd_free(p);
    p[110] = 1;
    expect_at("write after free", p, "free");
    for (int i = 0; i < 10000; i++)
        wd_free(must(100));
}

static void uaf_caught_at_exit(void) {
    char *p = must(300);
    wd_free(p);
    p[150] = 1;
    expect_at("write after free", p, "exit");
    exit(0); /* the quarantine is checked by an atexit handler */
}

static void *free_and_write(void *arg) {
    char *p = arg;
    wd_free(p);
    p[10] = 1;
    return NULL;
}

/* A thread that ends empties its quarantine: the write is seen then. */
static void uaf_caught_at_thread_exit(void) {
    char *p = must(500);
    expect_at("write after free", p, "free");
    pthread_t t;
    if (pthread_create(&t, NULL, free_and_write, p) != 0)
        _exit(2);
    pthread_join(t, NULL);
}

/* A freed block is filled, and checked, up to its first 256 bytes: the
 * last of them in a block bigger than that. */
static void uaf_at_fill_end(void) {
    char *p = must(1000);
    wd_free(p);
    p[255] = 1;
    expect_at("write after free", p, "free");
    for (int i = 0; i < 10000; i++)
        wd_free(must(1000));
}

/* A large block waits filled as the others do (its pages keep their
 * access): the write is seen when the quarantine's bound for large blocks
 * (16 MiB and 8 blocks a thread) lets it go. */
static void uaf_large_caught_on_leaving(void) {
    char *p = must(8 * MiB);
    wd_free(p);
    p[100] = 1;
    expect_at("write after free", p, "free");
    for (int i = 0; i < 20; i++)
        wd_free(must(8 * MiB));
}

/* Large blocks make room in the quarantine only by letting older large
 * blocks go (docs/security.md): a small block freed before 12 large frees
 * (past the bound of 8 blocks) and one of 20 MiB (past the bound of 16 MiB
 * alone, freed at once) is still held, so a write after free into it is
 * seen when small frees push it out.  With one ring for both kinds, the
 * large frees let it go unchecked. */
static void uaf_small_outlives_large_frees(void) {
    char *p = must(64);
    wd_free(p);
    for (int i = 0; i < 12; i++)
        wd_free(must(3 * MiB));
    wd_free(must(20 * MiB));
    p[63] = 1;
    expect_at("write after free", p, "free");
    for (int i = 0; i < 10000; i++)
        wd_free(must(64));
}

static void large_guard_after(void) {
    char *p = must(5 * MiB);
    expect_fault(); /* past the block's last page */
    p[5 * MiB + 4096] = 1;
}

/* The guard stays with a freed mapping (large.c): blocks of 8 MiB pass
 * through the quarantine into the cache of freed mappings; a 5 MiB block
 * placed in one of them is too far below the guard its last block left
 * there to end at it, so the guard moves to right after it. */
static void large_guard_after_reuse(void) {
    for (int i = 0; i < 40; i++)
        wd_free(must(8 * MiB));
    char *p = must(5 * MiB);
    expect_fault();
    p[5 * MiB + 4096] = 1;
}

static void segment_guard_small(void) {
    char *p = must(48);
    char *end = (char *)(((uintptr_t)p | (4 * MiB - 1)) + 1);
    expect_fault();
    end[-100] = 1;
}

static void segment_guard_medium(void) {
    char *p = must(100 * KiB);
    char *end = (char *)(((uintptr_t)p | (4 * MiB - 1)) + 1);
    expect_fault();
    end[-1] = 1;
}

static void free_sized_not_exact(void) {
    char *p = must(100);
    expect_at("free_sized with a wrong size", p, "free_sized");
    wd_free_sized(p, 99);
}

static void free_aligned_sized_other_alignment(void) {
    char *p = hide(wd_aligned_alloc(64, 640));
    expect_at("free_aligned_sized with a wrong alignment", p, "free_aligned_sized");
    wd_free_aligned_sized(p, 32, 640);
}

#define RUN(name) test_failures += test_expect_announced(name, #name)

/* --- behaviour ---------------------------------------------------------------- */

static void t_exact_sizes(void) {
    for (size_t n = 0; n < 3000; n += 7) {
        char *p = must(n);
        CHECK_EQ(wd_malloc_usable_size(p), n);
        memset(p, 0x55, n);
        wd_free_sized(p, n);
    }
    char *a = hide(wd_aligned_alloc(4096, 100));
    CHECK(((uintptr_t)a & 4095) == 0);
    CHECK_EQ(wd_malloc_usable_size(a), 100);
    wd_free_aligned_sized(a, 4096, 100);
    char *c = hide(wd_calloc(1000, 3));
    for (size_t i = 0; i < 3000; i++)
        CHECK(c[i] == 0);
    /* a freed and reused block comes back zeroed from calloc */
    wd_free(c);
    for (int i = 0; i < 100; i++) {
        c = hide(wd_calloc(1, 3000));
        for (size_t k = 0; k < 3000; k += 97)
            CHECK(c[k] == 0);
        wd_free(c);
    }
    /* realloc keeps the bytes and the new exact size */
    char *r = must(10);
    memcpy(r, "0123456789", 10);
    r = hide(wd_realloc(r, 5000));
    CHECK(r != NULL && memcmp(r, "0123456789", 10) == 0);
    CHECK_EQ(wd_malloc_usable_size(r), 5000);
    r = hide(wd_realloc(r, 4));
    CHECK(r != NULL && memcmp(r, "0123", 4) == 0);
    CHECK_EQ(wd_malloc_usable_size(r), 4);
    wd_free(r);
}

/* With the quarantine, a freed block is not handed out again within the
 * next 3000 frees of its size; without it, it is. */
static void t_reuse(int quarantine) {
    char *p = must(48);
    wd_free(p);
    int reused_at = -1;
    for (int i = 0; i < 3000 && reused_at < 0; i++) {
        char *q = must(48);
        if (q == p)
            reused_at = i;
        wd_free(q);
    }
    if (quarantine)
        CHECK(reused_at < 0);
    else
        CHECK(reused_at >= 0);
    wd_stats_t st;
    wd_stats_get(&st);
    CHECK(quarantine ? st.quarantined_bytes > 0 : st.quarantined_bytes == 0);
    /* A large block waits under its own bound, and is counted apart. */
    size_t large_before = st.quarantined_large_bytes;
    wd_free(must(3 << 20));
    wd_stats_get(&st);
    if (quarantine)
        CHECK(st.quarantined_large_bytes >= large_before + (3 << 20));
    else
        CHECK(st.quarantined_large_bytes == 0);
    CHECK(st.quarantined_large_bytes <= st.quarantined_bytes);
}

/* The bounds on large blocks in a thread's quarantine (docs/security.md):
 * 16 MiB and 8 blocks; the oldest go first when a newer one needs room,
 * and a block over 16 MiB is not held. */
static void t_large_bounds(void) {
    wd_stats_t st;
    for (int i = 0; i < 12; i++)
        wd_free(must(3 * MiB));
    wd_stats_get(&st);
    CHECK(st.quarantined_large_bytes >= 12 * MiB);
    CHECK(st.quarantined_large_bytes <= 16 * MiB);
    for (int i = 0; i < 12; i++)
        wd_free(must(MiB + 100 * KiB)); /* large: past the medium tier's 1 MiB */
    wd_stats_get(&st);
    CHECK(st.quarantined_large_bytes >= 8 * (MiB + 100 * KiB));
    CHECK(st.quarantined_large_bytes <= 8 * (MiB + 112 * KiB));
    /* A block over the bytes' bound alone is freed at once; the large
     * blocks held stay. */
    size_t held = st.quarantined_large_bytes;
    wd_free(must(20 * MiB));
    wd_stats_get(&st);
    CHECK_EQ(st.quarantined_large_bytes, held);
}

/* The bound of the fill (docs/security.md): a write after free past a
 * block's first 256 bytes is not seen. */
static void t_fill_bound(void) {
    char *p = must(1000);
    wd_free(p);
    p[256] = 1;
    p[999] = 1;
    for (int i = 0; i < 10000; i++)
        wd_free(must(1000));
    CHECK(1); /* still running: the block left the quarantine unreported */
}

/* A fresh page's blocks are handed out in a shuffled order.  Blocks are
 * carved (and shuffled) 4 KiB at a time, two at a time in this class, so
 * in order 199 of 200 blocks would be above the one before, and shuffled
 * about 149 (one pair in two swapped).  The bound fails a shuffled run
 * with a chance near 1e-13; the old one (60 blocks, under 50) failed about
 * one run in fifty. */
static void t_shuffled(void) {
    static char *p[200];
    for (int i = 0; i < 200; i++)
        p[i] = must(1900); /* a class (2048) nothing else here uses: fresh pages */
    int ascending = 0;
    for (int i = 1; i < 200; i++)
        ascending += p[i] > p[i - 1];
    CHECK(ascending < 185);
}

int main(int argc, char **argv) {
    int quarantine = !(argc == 2 && strcmp(argv[1], "--no-quarantine") == 0);
    if (!test_harden2()) {
        printf("needs WARDEN_OPTIONS=harden=2\n");
        return TEST_SKIP;
    }
    t_exact_sizes();
    t_reuse(quarantine);
    t_shuffled();
    if (quarantine) {
        t_fill_bound();
        t_large_bounds();
    }
    RUN(overflow_small_1);
    RUN(overflow_medium_1);
    RUN(overflow_large_1);
    RUN(overflow_aligned_1);
    RUN(overflow_then_realloc);
    RUN(overflow_then_usable);
    RUN(underflow_small_1);
    RUN(underflow_large_8);
    RUN(large_guard_after);
    RUN(large_guard_after_reuse);
    RUN(segment_guard_small);
    RUN(segment_guard_medium);
    RUN(free_sized_not_exact);
    RUN(free_aligned_sized_other_alignment);
    if (quarantine) {
        RUN(double_free_quarantined);
        RUN(uaf_caught_on_leaving);
        uaf_edges();
        RUN(uaf_caught_at_exit);
        RUN(uaf_caught_at_thread_exit);
        RUN(uaf_at_fill_end);
        RUN(uaf_in_slack);
        RUN(uaf_large_caught_on_leaving);
        RUN(uaf_small_outlives_large_frees);
    }
    printf("%d failure(s)\n", test_failures);
    return test_failures ? 1 : 0;
}
