/* test_large_reuse.c -- freed large blocks lend their pages to new ones.
 *
 * A program that frees a big buffer and asks for a bigger one (a decoder's
 * frame, a vector of vectors) should not fault every page in again: the
 * new block takes the freed block's resident pages, moved by the kernel's
 * page tables, and only the difference is fresh.  Checked here: how much
 * of such a block is resident before it is touched (mincore), the
 * contents (calloc reads zeros even over moved pages, malloc blocks keep
 * what is written), a mapping that lends only its tail and serves a
 * request later with the rest, and the usual checks on the moved blocks
 * (double free still caught).
 *
 * Uses the wd_ names, so it runs in the sanitizer builds too. */
#include <sys/mman.h>

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
    static unsigned char vec[(64 << 20) / 4096];
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

/* A 24 MiB block freed, then a 30 MiB one: 24 MiB of it come resident. */
static void bigger_after_free(void) {
    unsigned char *a = wd_malloc(24 * MIB);
    CHECK(a != NULL);
    size_t fresh = resident_pages(a, 24 * MIB);
    memset(a, 0xaa, 24 * MIB);
    wd_free(a);
    unsigned char *b = wd_malloc(30 * MIB);
    CHECK(b != NULL);
    size_t reused = resident_pages(b, 30 * MIB);
    printf("resident before the first touch: 24 MiB fresh %zu pages, 30 MiB after the free %zu\n",
           fresh, reused);
    CHECK(fresh <= 2);                          /* the header page at most */
    CHECK(reused >= 24 * MIB / 4096 - 2);       /* the freed block's pages, moved */
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

static void double_free_of_gathered(void) {
    wd_free(wd_malloc(10 * MIB));
    void *p = wd_malloc(18 * MIB);
    wd_free(p);
    wd_free(p);
}

int main(void) {
    bigger_after_free();
    calloc_over_moved_pages();
    tail_lent_head_kept();
    EXPECT_ABORT(double_free_of_gathered, "warden: double free at");
    printf("%d failure(s)\n", test_failures);
    return test_failures != 0;
}
