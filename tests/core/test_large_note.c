/* test_large_note.c -- every large block is handed out with the note in
 * its header zeroed (large.h).  The heap profiler keeps a sampled large
 * block's sample there and takes a note that is not zero for one, so a
 * block that inherits a note would count a free of a sample it never had.
 * A header is written where old data may be: a cached mapping split for
 * a smaller block writes its rest's header inside the freed block's
 * bytes, and a new mapping takes the pages of cached ones, headers and
 * all.  Checked here for each way a block is made: fresh, a cached
 * mapping reused whole, the rest of a split one, one made of moved pages,
 * and one with a large alignment.
 *
 * Reads the header through the tier's own types (src/ on the include
 * path); uses the wd_ names, so it runs in the sanitizer builds too. */
#include <warden.h>

#include "core/large.h"
#include "core/segment.h"
#include "test.h"

#define MIB ((size_t)1 << 20)

static wd_large_t *header_of(void *p) {
    wd_region_t *r = wdi_region_of(p);
    CHECK(r != NULL && r->kind == WD_KIND_LARGE);
    return (wd_large_t *)r;
}

static int note_zero(void *p) {
    const wd_large_t *l = header_of(p);
    for (size_t i = 0; i < sizeof l->note / sizeof l->note[0]; i++)
        if (l->note[i] != 0)
            return 0;
    return 1;
}

/* A note left behind (as a sample the profiler had not taken back would
 * be), then the mapping reused whole for a block of the same size. */
static void reused_whole(void) {
    void *p = wd_malloc(8 * MIB);
    CHECK(p != NULL && note_zero(p));
    memset(header_of(p)->note, 0xff, sizeof header_of(p)->note);
    wd_free(p);
    void *q = wd_malloc(8 * MIB);
    CHECK(q != NULL && note_zero(q));
    wd_free(q);
}

/* A 40 MiB block full of ones, freed; a small one takes the head of its
 * mapping, and the rest gets a header written over the ones: the next
 * blocks come from that rest. */
static void rest_of_split(void) {
    unsigned char *a = wd_malloc(40 * MIB);
    CHECK(a != NULL);
    memset(a, 0xff, 40 * MIB);
    wd_free(a);
    void *b = wd_malloc(6 * MIB);
    void *c = wd_malloc(20 * MIB);
    void *d = wd_malloc(5 * MIB);
    CHECK(b != NULL && c != NULL && d != NULL);
    CHECK(note_zero(b));
    CHECK(note_zero(c));
    CHECK(note_zero(d));
    wd_free(b);
    wd_free(c);
    wd_free(d);
}

/* Freed blocks full of ones lend their pages to a bigger new block. */
static void moved_pages(void) {
    unsigned char *a = wd_malloc(12 * MIB), *b = wd_malloc(10 * MIB);
    CHECK(a != NULL && b != NULL);
    memset(a, 0xff, 12 * MIB);
    memset(b, 0xff, 10 * MIB);
    wd_free(a);
    wd_free(b);
    void *c = wd_malloc(30 * MIB);
    CHECK(c != NULL && note_zero(c));
    wd_free(c);
}

/* An alignment larger than the tier's 4 MiB segments. */
static void large_alignment(void) {
    void *p = wd_aligned_alloc(8 * MIB, 1 * MIB);
    CHECK(p != NULL && ((uintptr_t)p & (8 * MIB - 1)) == 0 && note_zero(p));
    wd_free(p);
}

int main(void) {
    rest_of_split(); /* first: no other mapping in the cache yet */
    reused_whole();
    moved_pages();
    large_alignment();
    printf("%d failure(s)\n", test_failures);
    return test_failures != 0;
}
