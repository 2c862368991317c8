/* heap_walkthrough.c -- the classic-heap tutorial's walkthrough, replayed on
 * warden's heap (`make demo`).
 *
 * The tutorial allocates 100, 240, 256 and 333 bytes in a 4 KiB static array,
 * frees the 240 and 256 ones, and notes under "Further work: merging free
 * ranges" that its heap cannot then place 249 bytes or more there, because
 * the two free ranges stay separate.  warden's heap merges them on free, so
 * malloc(400) lands where the 240-byte block was.  Then a short tour of the
 * rest of the API.  Exits 1 if the heap does not behave as shown.
 *
 * heap_walkthrough --svg DIR also draws the heap after each step into
 * DIR/walkthrough-N.svg with wd_heap_map_svg (the pictures of docs/map.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

/* Under valgrind the heap moves on every realloc, so that memcheck sees
 * exact block sizes: the in-place claim below holds natively only. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

static unsigned char memory[4096] __attribute__((aligned(16)));

static wd_heap_t *heap;
static int step;

static const char *svg_dir; /* --svg DIR */

static void heading(const char *what) { printf("\n== %d. %s\n", ++step, what); }

static void expect(int ok, const char *claim) {
    if (!ok) {
        printf("FAILED: %s\n", claim);
        exit(1);
    }
}

/* With --svg: the heap as it is at the end of this step. */
static void picture(void) {
    if (svg_dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/walkthrough-%d.svg", svg_dir, step);
    FILE *out = fopen(path, "w");
    expect(out != NULL, "the picture's file can be written");
    expect(wd_heap_map_svg(heap, out) == 0 && fclose(out) == 0, "wd_heap_map_svg writes it");
    printf("(picture: %s)\n", path);
}

static void *logged_malloc(size_t n) {
    void *p = wd_heap_malloc(heap, n);
    expect(p != NULL, "malloc succeeds");
    printf("malloc(%zu) = %p (%zu usable bytes)\n", n, p, wd_heap_usable_size(heap, p));
    wd_heap_dump(heap, stdout);
    return p;
}

/* wd_heap_walk visitor: finds the range whose payload starts at arg->start. */
typedef struct found {
    void *start;
    size_t size;
    int allocated, seen;
} found_t;

static int find_range(void *start, size_t size, int allocated, void *arg) {
    found_t *f = arg;
    if (start != f->start)
        return 0;
    f->size = size;
    f->allocated = allocated;
    f->seen = 1;
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--svg") == 0)
        svg_dir = argv[2];
    heading("wd_heap_init on a 4 KiB static array");
    heap = wd_heap_init(memory, sizeof memory);
    expect(heap != NULL, "wd_heap_init succeeds");
    wd_heap_dump(heap, stdout);
    picture();

    heading("the tutorial's four allocations: 100, 240, 256 and 333 bytes");
    void *a = logged_malloc(100);
    void *b = logged_malloc(240);
    void *c = logged_malloc(256);
    void *d = logged_malloc(333);
    picture();

    heading("free the 240 and 256 byte blocks");
    wd_heap_free(heap, b);
    wd_heap_free(heap, c);
    wd_heap_dump(heap, stdout);
    picture();

    heading("Further work: merging free ranges -- done on free");
    found_t f = {b, 0, 0, 0};
    wd_heap_walk(heap, find_range, &f);
    expect(f.seen && !f.allocated && (unsigned char *)b + f.size + 16 == (unsigned char *)d,
           "the two free ranges are one, from the 240 block up to the 333 block");
    printf("the two free ranges are already one: %zu usable bytes at %p\n", f.size, b);
    void *e = wd_heap_malloc(heap, 400);
    printf("malloc(400) = %p: %s\n", e,
           e == b ? "lands where the 240-byte block was" : "does NOT land where the 240 block was");
    expect(e == b, "malloc(400) reuses the merged range");
    wd_heap_dump(heap, stdout);
    picture();

    heading("realloc, calloc, memalign");
    memset(e, 'x', 400);
    void *g = wd_heap_realloc(heap, e, 480);
    printf("realloc(400 -> 480) = %p: %s\n", g,
           g == e ? "grew in place into the free range after it"
                  : UNDER_VALGRIND() ? "moved (valgrind: every realloc moves)" : "moved");
    expect(g != NULL && (g == e || UNDER_VALGRIND()) && memchr(g, 0, 400) == NULL,
           "realloc grows in place and keeps the data");
    unsigned char *z = wd_heap_calloc(heap, 10, 24);
    expect(z != NULL, "calloc succeeds");
    int zero = 1;
    for (size_t i = 0; i < 240; i++)
        zero &= z[i] == 0;
    printf("calloc(10, 24) = %p: %s\n", (void *)z, zero ? "240 zero bytes" : "NOT zeroed");
    expect(zero, "calloc zeroes");
    void *m = wd_heap_memalign(heap, 256, 64);
    expect(m != NULL && (uintptr_t)m % 256 == 0, "memalign(256, 64) is 256-byte aligned");
    printf("memalign(256, 64) = %p: 256-byte aligned\n", m);
    picture();

    heading("wd_heap_stats");
    wd_heap_stats_t st;
    wd_heap_stats(heap, &st);
    printf("heap %zu bytes: used %zu (peak %zu), free %zu, overhead %zu\n", st.heap_size,
           st.used_bytes, st.peak_used_bytes, st.free_bytes, st.overhead_bytes);
    printf("%zu allocated blocks, %zu free ranges, largest malloc possible now %zu bytes\n",
           st.allocated_blocks, st.free_blocks, st.largest_free);

    heading("free everything: one free range again");
    void *all[] = {a, d, g, z, m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        wd_heap_free(heap, all[i]);
    wd_heap_dump(heap, stdout);
    wd_heap_stats(heap, &st);
    int check = wd_heap_check(heap);
    printf("wd_heap_check = %d, free ranges = %zu\n", check, st.free_blocks);
    picture();
    expect(check == 0 && st.free_blocks == 1 && st.allocated_blocks == 0,
           "the heap is one free range and passes wd_heap_check");
    return 0;
}
