/* api.c -- the malloc family with C, POSIX and glibc semantics.
 *
 * Owns: the fast paths of malloc and free (a small block of the calling
 * thread's heap), errno, argument rules (alignments, overflows), and the
 * choice for everything else: harden=2's wrapper (harden.h) or the tiers
 * straight (raw.h, which picks the tier: small <= 64 KiB in thread-heap
 * pages, medium <= 1 MiB in shared classic-heap segments, large in their
 * own mapping).  Calls: raw.h, harden.h, thread.h / page.h / segment.h
 * (the fast paths), process.h, options.h (misuse reports). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "api/process.h"
#include "base/options.h"
#include "core/page.h"
#include "core/raw.h"
#include "core/segment.h"
#include "core/thread.h"
#include "debug/harden.h"
#include "os/os.h"
#include "warden.h"

/* Everything but the small fast path: the first call of a thread, medium
 * and large sizes, harden=2. */
WD_NOINLINE static void *alloc_slow(size_t size) {
    wdi_process_init();
    if (wd_unlikely(wdi_harden2))
        return wdi_hard_alloc(WD_ALIGN, size, 0);
    return wdi_raw_alloc(WD_ALIGN, size, 0);
}

/* The class's page has no free block: the heap finds or carves one,
 * without alloc_slow's detour (a quarter of python's mallocs).  The
 * thread may have no heap at all (wdi_heap_none): then the detour. */
WD_NOINLINE static void *small_refill(wd_theap_t *h, unsigned cls, size_t size) {
    if (wd_unlikely(h == &wdi_heap_none))
        return alloc_slow(size);
    void *p = wdi_heap_refill(h, cls);
    if (wd_likely(p != NULL))
        h->small.allocs++;
    else
        errno = ENOMEM;
    return p;
}

/* With harden=2 the thread's heap is not published in wdi_tl_heap, so
 * this fast path never finds a block and alloc_slow wraps every block. */
void *wd_malloc(size_t size) {
    wd_theap_t *h = wdi_tl_heap;
    if (wd_likely(size <= WD_SMALL_MAX)) {
        unsigned cls = wdi_small_class(size);
        wd_page_t *pg = h->small.current[cls];
        wd_block_t *b = pg->free;
        if (wd_likely(b != NULL)) {
            /* No clock here: the upkeep runs from the slow path, which
             * every page reaches when its free list runs dry (frees go to
             * another list), so a steady program reaches it regularly. */
            h->small.allocs++;
            return wdi_page_pop(pg, b);
        }
        return small_refill(h, cls, size); /* the page is empty: refill it */
    }
    return alloc_slow(size);
}

/* An aligned block: alignment is a power of two. */
static void *alloc_aligned(size_t alignment, size_t size) {
    if (alignment <= WD_ALIGN)
        return wd_malloc(size);
    wdi_process_init();
    if (wd_unlikely(wdi_harden2))
        return wdi_hard_alloc(alignment, size, 0);
    return wdi_raw_alloc(alignment, size, 0);
}

/* --- giving blocks back ---------------------------------------------------- */

static void free_any(void *p, const char *fn) {
    if (wd_unlikely(wdi_harden2))
        wdi_hard_free(p, fn);
    else
        wdi_raw_free(p, fn);
}

void wd_free(void *p) {
    wd_region_t *r = wdi_region_of(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(r != NULL && r->kind == WD_KIND_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
        wd_theap_t *h = wdi_tl_heap;
        if (wd_likely(pg->heap == &h->small)) {
            wdi_page_free_local(&h->small, pg, p, "free");
            return;
        }
        /* Not the owner, or harden=2 (wdi_tl_heap is wdi_heap_none then). */
        if (wd_unlikely(wdi_harden2))
            wdi_hard_free(p, "free");
        else
            wdi_page_free_remote(pg, p); /* checks that pg holds blocks */
        return;
    }
    if (p != NULL) /* C11 7.22.3.3: free(NULL) does nothing */
        free_any(p, "free");
}

/* A live small block's size, checked as free's fast path checks (block
 * start, not already free) from the page's read-mostly line: redis asks
 * for it around every malloc and free.  Not with harden=2 (wdi_tl_heap is
 * wdi_heap_none then): its blocks are not the tier's. */
size_t wd_malloc_usable_size(const void *p) {
    wd_region_t *r = wdi_region_of(p);
    if (wd_likely(r != NULL && r->kind == WD_KIND_SMALL && wdi_tl_heap != &wdi_heap_none &&
                  ((uintptr_t)p & (WD_ALIGN - 1)) == 0)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
        if (wd_likely(pg->heap != WD_PAGE_UNUSED &&
                      !wdi_block_misplaced(pg->xstart, pg->xshift, pg->xinv, pg->xreserved, p) &&
                      !wdi_block_looks_free(pg->xkey, pg->xstart, pg->xspan, p)))
            return pg->xblock_size;
    }
    if (p == NULL)
        return 0;
    if (wd_unlikely(wdi_harden2))
        return wdi_hard_usable(p, "malloc_usable_size");
    return wdi_raw_usable(p, "malloc_usable_size");
}

/* --- the rest of the family ------------------------------------------------ */

void *wd_calloc(size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    if (total > WD_SMALL_MAX) { /* the tiers know when memory is fresh, so zero */
        wdi_process_init();
        if (wd_unlikely(wdi_harden2))
            return wdi_hard_alloc(WD_ALIGN, total, 1);
        return wdi_raw_alloc(WD_ALIGN, total, 1);
    }
    void *p = wd_malloc(total);
    if (p != NULL) /* a reused block is dirty */
        memset(p, 0, total);
    return p;
}

void *wd_realloc(void *p, size_t size) {
    if (p == NULL)
        return wd_malloc(size);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        free_any(p, "realloc");
        return NULL;
    }
    if (wd_unlikely(wdi_harden2))
        return wdi_hard_realloc(p, size);
    return wdi_raw_realloc(p, size, "realloc");
}

void *wd_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    return wd_realloc(p, total);
}

/* C++ sized delete ends here on every delete: a small block of the
 * calling thread's own page whose size matches is freed as wd_free's fast
 * path frees it; anything else (and every misuse) takes the checked path
 * below, which reports it. */
void wd_free_sized(void *p, size_t size) {
    wd_region_t *r = wdi_region_of(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(r != NULL && r->kind == WD_KIND_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
        wd_theap_t *h = wdi_tl_heap;
        uint32_t bs = pg->block_size;
        if (wd_likely(pg->heap == &h->small && size <= bs && (size >= bs / 2 || bs <= 32)
#if WD_HARDEN
                      && !wdi_block_misplaced(pg->start, pg->shift, pg->inv, pg->capacity, p) &&
                      !wdi_block_looks_free(pg->key, pg->start, pg->span, p)
#endif
                          )) {
            wdi_page_push_local(&h->small, pg, p);
            return;
        }
    }
    if (p == NULL)
        return;
    if (wd_unlikely(wdi_harden2)) {
        wdi_hard_free_sized(p, 0, size, "free_sized");
        return;
    }
    wdi_raw_free_sized(p, size, "free_sized");
}

void wd_free_aligned_sized(void *p, size_t alignment, size_t size) {
    if (p == NULL)
        return;
    if (wd_unlikely(wdi_harden2 && wd_is_pow2(alignment))) {
        wdi_hard_free_sized(p, alignment, size, "free_aligned_sized");
        return;
    }
    if (wd_unlikely(!wd_is_pow2(alignment) || ((uintptr_t)p & (alignment - 1)) != 0))
        wdi_fatal("free_aligned_sized with a wrong alignment", p, "free_aligned_sized");
    if (wd_unlikely(size > wdi_raw_usable(p, "free_aligned_sized")))
        wdi_fatal("free_aligned_sized with a wrong size", p, "free_aligned_sized");
    wdi_raw_free(p, "free_aligned_sized");
}

/* C17 7.22.3.1: the alignment must be a valid one, so a value that is not a
 * power of two fails with EINVAL (as glibc does since 2.38). */
void *wd_aligned_alloc(size_t alignment, size_t size) {
    if (wd_unlikely(!wd_is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(alignment, size);
}

/* POSIX: the error is returned, errno is left alone. */
int wd_posix_memalign(void **out, size_t alignment, size_t size) {
    if (!wd_is_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(alignment, size);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

/* glibc: an alignment that is not a power of two is rounded up to one. */
void *wd_memalign(size_t alignment, size_t size) {
    if (alignment > ((size_t)1 << (sizeof(size_t) * 8 - 2))) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = WD_ALIGN;
    while (a < alignment)
        a <<= 1;
    return alloc_aligned(a, size);
}

void *wd_valloc(size_t size) {
    return alloc_aligned(wdi_os_page_size(), size);
}

void *wd_pvalloc(size_t size) {
    size_t page = wdi_os_page_size();
    if (size > PTRDIFF_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(page, size ? wd_align_up(size, page) : page);
}

char *wd_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = wd_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

char *wd_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = wd_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

int wd_trim(size_t pad) {
    (void)pad; /* every idle page goes back; nothing is worth keeping */
    wdi_process_init();
    return wdi_trim_all();
}
