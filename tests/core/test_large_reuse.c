/* test_large_reuse.c -- freed large blocks lend their pages to new ones.
 *
 * A program that frees a big buffer and asks for a bigger one (a decoder's
 * frame, a vector of vectors) should not fault every page in again: the
 * new block lies where the freed one's resident pages are, or takes them,
 * moved by the kernel's page tables, and only the difference is fresh.
 * Checked here: how much of such a block is resident before it is touched
 * (mincore), the contents (calloc reads zeros wherever its pages come
 * from, malloc blocks keep what is written), a mapping that lends only
 * its tail and serves a request later with the rest, the usual checks on
 * moved blocks (double free still caught), and the cache's bound: what it
 * keeps resident, what it gives back, and that blocks nobody writes cost
 * no page fault each.
 *
 * Uses the wd_ names, so it runs in the sanitizer builds too. */
#include <sys/mman.h>
#include <sys/resource.h>

#include <warden.h>

#include "test.h"

#define MIB ((size_t)1 << 20)

/* How many pages of [p, p + n) are resident, before the program touched
 * them: mincore asks the kernel, so the count is the allocator's doing
 * (a sanitizer's shadow memory does not enter it, as it enters fault counts). */
static size_t resident_pages(const void *p, size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = (uintptr_t)p & ~(uintptr_t)(page - 1);
    size_t pages = ((uintptr_t)p + n - from + page - 1) / page;
    static unsigned char vec[(512 << 20) / 4096];
    CHECK(pages <= sizeof vec);
    CHECK(mincore((void *)from, pages * page, vec) == 0);
    size_t count = 0;
    for (size_t i = 0; i < pages; i++)
        count += vec[i] & 1;
    return count;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static long minor_faults(void) {
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return ru.ru_minflt;
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t next_random(void) { /* xorshift64: the same run every time */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The resident pages of freed blocks b[0..n), each of size bytes; one
 * the allocator unmapped has none (mincore: ENOMEM). */
static size_t resident_all(unsigned char **b, int n, size_t size) {
    static unsigned char vec[(64 << 20) / 4096];
    size_t sum = 0;
    CHECK(size <= sizeof vec * 4096);
    for (int i = 0; i < n; i++)
        if (mincore(b[i], size, vec) == 0)
            for (size_t j = 0; j < size / 4096; j++)
                sum += vec[j] & 1;
    return sum;
}

/* With nothing cached, a block of first bytes written whole and freed,
 * then a block of second bytes, returned: *fresh gets the first block's
 * resident pages before it was written, *reused the second's before the
 * program touches it. */
static unsigned char *after_freeing(size_t first, size_t second, size_t *fresh, size_t *reused) {
    wd_trim(0);
    unsigned char *a = wd_malloc(first);
    CHECK(a != NULL);
    *fresh = resident_pages(a, first);
    memset(a, 0xaa, first);
    wd_free(a);
    unsigned char *b = wd_malloc(second);
    CHECK(b != NULL);
    *reused = resident_pages(b, second);
    return b;
}

/* A 24 MiB block freed, then a 30 MiB one: 24 MiB of it come resident. */
static void bigger_after_free(void) {
    size_t fresh, reused;
    unsigned char *b = after_freeing(24 * MIB, 30 * MIB, &fresh, &reused);
    printf("resident before the first touch: 24 MiB fresh %zu pages, 30 MiB after the free %zu\n",
           fresh, reused);
    CHECK(fresh <= 2);                          /* the header page at most */
    CHECK(reused >= 24 * MIB / 4096 - 2);       /* the freed block's pages */
    CHECK(reused <= 24 * MIB / 4096 + 2);       /* and the rest fresh */
    memset(b, 0x55, 30 * MIB);
    CHECK(all_bytes(b + 29 * MIB, MIB, 0x55));
    wd_free(b);
}

/* calloc over moved pages must still read zeros; the moved part is at the
 * start, where the old data was. */
static void calloc_over_moved_pages(void) {
    unsigned char *a = wd_malloc(12 * MIB);
    CHECK(a != NULL);
    memset(a, 0xee, 12 * MIB);
    wd_free(a);
    unsigned char *z = wd_calloc(1, 20 * MIB);
    CHECK(z != NULL);
    CHECK(all_bytes(z, 20 * MIB, 0));
    wd_free(z);
}

/* Two freed 12 MiB mappings serve a 16 MiB block: one whole, the tail of
 * the other; the other's head (about 8 MiB) stays cached and serves the
 * next block, which must be usable and correct to its end. */
static void tail_lent_head_kept(void) {
    unsigned char *a = wd_malloc(12 * MIB), *b = wd_malloc(12 * MIB);
    CHECK(a != NULL && b != NULL);
    memset(a, 1, 12 * MIB);
    memset(b, 2, 12 * MIB);
    wd_free(a);
    wd_free(b);
    unsigned char *c = wd_malloc(16 * MIB);
    CHECK(c != NULL);
    memset(c, 3, 16 * MIB);
    unsigned char *d = wd_calloc(1, 7 * MIB);
    CHECK(d != NULL);
    CHECK(all_bytes(d, 7 * MIB, 0));
    memset(d, 4, 7 * MIB);
    CHECK(all_bytes(c, 16 * MIB, 3)); /* the two share no page */
    CHECK(wd_malloc_usable_size(d) >= 7 * MIB);
    unsigned char *e = wd_realloc(d, 40 * MIB); /* and it moves on as any block */
    CHECK(e != NULL);
    CHECK(all_bytes(e, 7 * MIB, 4));
    wd_free(e);
    wd_free(c);
}

/* No cached mapping is as big as the request: a fresh mapping takes the
 * resident pages of the cached ones (moved) instead of faulting in its own. */
static void bigger_than_any_cached(void) {
    size_t fresh, reused;
    unsigned char *b = after_freeing(100 * MIB, 300 * MIB, &fresh, &reused);
    printf("300 MiB after a 100 MiB block was freed: %zu pages resident before the first touch\n",
           reused);
    CHECK(fresh <= 2);
    CHECK(reused >= 100 * MIB / 4096 - 2);
    CHECK(reused <= 100 * MIB / 4096 + 64); /* and a header page or so of each piece */
    memset(b + 299 * MIB, 0x55, MIB);
    CHECK(all_bytes(b + 299 * MIB, MIB, 0x55));
    wd_free(b);
}

/* Blocks written whole stay resident once freed up to the cache's bound
 * (256 MiB of them), and only the excess goes back.  Blocks written only
 * a page in 16 count as what the kernel says is resident, not as their
 * size: the cache keeps all six (before mincore was asked, it gave back
 * two of them as if they had been written whole). */
static void cache_bound(void) {
    enum { N = 6 };
    const size_t size = 64 * MIB, page = 4096;
    unsigned char *b[N];
    wd_trim(0);
    for (int i = 0; i < N; i++) {
        CHECK((b[i] = wd_malloc(size)) != NULL);
        memset(b[i], 1, size);
    }
    for (int i = 0; i < N; i++)
        wd_free(b[i]);
    size_t kept = resident_all(b, N, size);
    printf("6 freed blocks of 64 MiB written whole: %zu MiB kept resident\n", kept * page / MIB);
    CHECK(kept * page <= 256 * MIB + MIB);
    CHECK(kept * page >= 240 * MIB);

    wd_trim(0);
    for (int i = 0; i < N; i++) {
        CHECK((b[i] = wd_malloc(size)) != NULL);
        for (size_t j = 0; j < size; j += 16 * page)
            b[i][j] = 1;
    }
    size_t before = resident_all(b, N, size);
    for (int i = 0; i < N; i++)
        wd_free(b[i]);
    size_t after = resident_all(b, N, size);
    printf("6 freed blocks of 64 MiB written a page in 16: %zu of %zu pages kept\n", after, before);
    CHECK(after == before);
}

/* Big blocks asked for and freed in a loop and never written (buffers a
 * program reserves and may not fill): once the cache holds address space
 * enough, a block costs neither a system call nor a page fault.  The cache
 * before 2026-12-07 (freed mappings unmapped past 128 MiB, a fresh mapping
 * with cached pages moved in whenever none fitted) took a fault for every
 * third block or so. */
static void untouched_churn(void) {
    enum { LIVE = 20 };
    void *live[LIVE] = {0};
    long before = 0;
    for (int i = 0; i < 3000; i++) {
        if (i == 1000)
            before = minor_faults();
        size_t k = next_random() % LIVE, n = 5 * MIB + next_random() % (20 * MIB);
        wd_free(live[k]);
        CHECK((live[k] = wd_malloc(n)) != NULL);
    }
    long faults = minor_faults() - before;
    printf("2000 blocks of 5-25 MiB never written: %ld page faults\n", faults);
    CHECK(faults < 200);
    for (int k = 0; k < LIVE; k++)
        wd_free(live[k]);
}

/* Every page of p[0..n) reads zeros (three bytes of each page and the
 * last byte: the cache clears in 64 KiB units). */
static int reads_zeros(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 4096)
        if (p[i] != 0 || (i + 2048 < n && p[i + 2048] != 0) || (i + 4095 < n && p[i + 4095] != 0))
            return 0;
    return p[n - 1] == 0;
}

/* Writes tag at every stride-th byte of p[0..n) and at its last byte
 * (stride 1: the whole block). */
static void write_every(unsigned char *p, size_t n, size_t stride, unsigned char tag) {
    if (stride == 1)
        memset(p, tag, n);
    else
        for (size_t i = 0; i < n; i += stride)
            p[i] = tag;
    p[n - 1] = tag;
}

/* What write_every wrote is still there (a block written whole is read
 * at every 4093rd byte: each page, at moving offsets). */
static int kept_every(const unsigned char *p, size_t n, size_t stride, unsigned char tag) {
    for (size_t i = 0; i < n; i += stride == 1 ? 4093 : stride)
        if (p[i] != tag)
            return 0;
    return p[n - 1] == tag;
}

/* Blocks of many sizes written whole, a page in 16 or at their two ends,
 * freed and asked for again by malloc and calloc, so that they land on
 * each other's pages at every place the cache finds: every calloc'd block
 * reads zeros, every block keeps what was written to it. */
static void calloc_after_churn(void) {
    enum { LIVE = 10 };
    unsigned char *p[LIVE] = {0}, tag[LIVE];
    size_t n[LIVE], stride[LIVE];
    int bad_zeros = 0, bad_kept = 0;
    for (int i = 0; i < 300; i++) {
        size_t k = next_random() % LIVE;
        if (p[k] != NULL) {
            bad_kept += !kept_every(p[k], n[k], stride[k], tag[k]);
            wd_free(p[k]);
        }
        n[k] = MIB + 1 + next_random() % (48 * MIB);
        int zeroed = next_random() % 2;
        CHECK((p[k] = zeroed ? wd_calloc(1, n[k]) : wd_malloc(n[k])) != NULL);
        if (zeroed)
            bad_zeros += !reads_zeros(p[k], n[k]);
        size_t strides[3] = {1, 16 * 4096, n[k]};
        stride[k] = strides[next_random() % 3];
        tag[k] = (unsigned char)(i | 1);
        write_every(p[k], n[k], stride[k], tag[k]);
    }
    for (size_t k = 0; k < LIVE; k++) {
        bad_kept += !kept_every(p[k], n[k], stride[k], tag[k]);
        wd_free(p[k]);
    }
    CHECK(bad_zeros == 0);
    CHECK(bad_kept == 0);
}

static void double_free_of_gathered(void) {
    wd_free(wd_malloc(10 * MIB));
    void *p = wd_malloc(18 * MIB);
    wd_free(p);
    wd_free(p);
}

int main(void) {
    bigger_than_any_cached();
    cache_bound();
    untouched_churn();
    calloc_after_churn();
    bigger_after_free();
    calloc_over_moved_pages();
    tail_lent_head_kept();
    EXPECT_ABORT(double_free_of_gathered, "warden: double free at");
    printf("%d failure(s)\n", test_failures);
    return test_failures != 0;
}
