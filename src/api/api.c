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

#include "api/api.h"
#include "api/process.h"
#include "base/options.h"
#include "core/page.h"
#include "core/raw.h"
#include "core/segment.h"
#include "core/thread.h"
#include "debug/check.h"
#include "debug/harden.h"
#include "debug/sample.h"
#include "os/os.h"
#include "warden.h"

/* --- the wrappers: harden=2 and check mode ----------------------------------- */

/* Either one hides the thread heaps (wdi_tl_heap is wdi_heap_none), so
 * every call comes down a slow path to these; fast mode pays one test of
 * wdi_wrapped() there and nothing on the fast paths.  kind says whether
 * malloc, new or new[] made (or is to free) the block: check mode reports
 * a mismatch. */
WD_NOINLINE static void *wrap_alloc(size_t alignment, size_t size, int zero,
                                    wd_alloc_kind_t kind) {
    if (wdi_checking)
        return wdi_check_alloc(alignment, size, zero, kind);
    return wdi_hard_alloc(alignment, size, zero);
}

WD_NOINLINE static void wrap_free(void *p, wd_alloc_kind_t kind, const char *fn) {
    if (wdi_checking)
        wdi_check_free(p, kind, fn);
    else
        wdi_hard_free(p, fn);
}

static void *wrap_realloc(void *p, size_t size) {
    return wdi_checking ? wdi_check_realloc(p, size) : wdi_hard_realloc(p, size);
}

static size_t wrap_usable(const void *p, const char *fn) {
    return wdi_checking ? wdi_check_usable(p, fn) : wdi_hard_usable(p, fn);
}

static void wrap_free_sized(void *p, size_t alignment, size_t size, wd_alloc_kind_t kind,
                            const char *fn) {
    if (wdi_checking)
        wdi_check_free_sized(p, alignment, size, kind, fn);
    else
        wdi_hard_free_sized(p, alignment, size, fn);
}

/* --- allocating -------------------------------------------------------------- */

/* Everything but the small fast path: the first call of a thread, medium
 * and large sizes, the wrappers. */
WD_NOINLINE static void *alloc_slow(size_t size, wd_alloc_kind_t kind) {
    wdi_process_init();
    if (wd_unlikely(wdi_wrapped()))
        return wrap_alloc(WD_ALIGN, size, 0, kind);
    return wdi_raw_alloc(WD_ALIGN, size, 0);
}

static void *sample_alloc(wd_theap_t *h, size_t size, wd_alloc_kind_t kind);

/* The class's page has no free block: the heap finds or carves one,
 * without alloc_slow's detour (a quarter of python's mallocs).  The
 * thread may have no heap at all (wdi_heap_none): then the detour. */
WD_NOINLINE static void *small_refill(wd_theap_t *h, unsigned cls, size_t size,
                                      wd_alloc_kind_t kind) {
    if (wd_unlikely(h == &wdi_heap_none))
        return alloc_slow(size, kind);
    if (wd_unlikely((h->small.sample_left -= 1) < 0))
        return sample_alloc(h, size, kind);
    void *p = wdi_heap_refill(h, cls);
    if (wd_unlikely(p == NULL)) {
        h->small.allocs_base--; /* not handed out after all */
        errno = ENOMEM;
    }
    return p;
}

/* With a wrapper the thread's heap is not published in wdi_tl_heap, so
 * this fast path never finds a block and alloc_slow wraps every block. */
static WD_ALWAYS_INLINE void *malloc_kind(size_t size, wd_alloc_kind_t kind) {
    wd_theap_t *h = wdi_tl_heap;
    if (wd_likely(size <= WD_SMALL_MAX)) {
        unsigned cls = wdi_small_class(size);
        wd_page_t *pg = h->small.current[cls];
        wd_block_t *b = pg->free;
        if (wd_likely(b != NULL)) {
            /* The sampler's countdown counts the block; sample_alloc is
             * also where a steady program, whose pages never run dry,
             * reaches the upkeep. */
            if (wd_unlikely((h->small.sample_left -= 1) < 0))
                return sample_alloc(h, size, kind);
            return wdi_page_pop(pg, b);
        }
        return small_refill(h, cls, size, kind); /* the page is empty: refill it */
    }
    return alloc_slow(size, kind);
}

/* The small malloc that took h's countdown below zero (it is counted
 * already): runs the upkeep (a thread whose frees keep its pages stocked
 * never reaches the refill path that otherwise paces it), starts the next
 * countdown, then allocates as usual.  The sampled diagnostics take their
 * blocks here. */
WD_NOINLINE static void *sample_alloc(wd_theap_t *h, size_t size, wd_alloc_kind_t kind) {
    wdi_heap_upkeep(h);
    intptr_t n = wdi_sample_next(&h->small.rng);
    /* The malloc below decrements again (to n - 1, at least 0, so it is
     * not sampled twice); allocs_base takes the n so that the block is
     * counted once. */
    h->small.allocs_base += (size_t)n;
    h->small.sample_left = n;
    return malloc_kind(size, kind);
}

void *wd_malloc(size_t size) { return malloc_kind(size, WD_FROM_MALLOC); }

/* An aligned block: alignment is a power of two. */
static void *alloc_aligned(size_t alignment, size_t size, wd_alloc_kind_t kind) {
    if (alignment <= WD_ALIGN)
        return malloc_kind(size, kind);
    wdi_process_init();
    if (wd_unlikely(wdi_wrapped()))
        return wrap_alloc(alignment, size, 0, kind);
    return wdi_raw_alloc(alignment, size, 0);
}

void *wdi_new(size_t size, size_t alignment, wd_alloc_kind_t kind) {
    return alignment > WD_ALIGN ? alloc_aligned(alignment, size, kind) : malloc_kind(size, kind);
}

/* --- giving blocks back ---------------------------------------------------- */

static void free_any(void *p, wd_alloc_kind_t kind, const char *fn) {
    if (wd_unlikely(wdi_wrapped()))
        wrap_free(p, kind, fn);
    else
        wdi_raw_free(p, fn);
}

static WD_ALWAYS_INLINE void free_kind(void *p, wd_alloc_kind_t kind, const char *fn) {
    uintptr_t e = wdi_segmap_entry(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p);
        wd_theap_t *h = wdi_tl_heap;
        if (wd_likely(pg->heap == &h->small)) {
            wdi_page_free_local(&h->small, pg, p, fn);
            return;
        }
        /* Not the owner, or a wrapper (wdi_tl_heap is wdi_heap_none then). */
        if (wd_unlikely(wdi_wrapped()))
            wrap_free(p, kind, fn);
        else
            wdi_page_free_remote(pg, p); /* checks that pg holds blocks */
        return;
    }
    if (p != NULL) /* C11 7.22.3.3: free(NULL) does nothing */
        free_any(p, kind, fn);
}

void wd_free(void *p) { free_kind(p, WD_FROM_MALLOC, "free"); }

/* The reports name the C entry the operators share (check mode's say
 * delete or delete[] where the kind matters). */
void wdi_delete(void *p, wd_alloc_kind_t kind) { free_kind(p, kind, "free"); }

/* A live small block's size, checked as free's fast path checks (block
 * start, not already free) from the page's read-mostly line: redis asks
 * for it around every malloc and free.  Not with harden=2 (wdi_tl_heap is
 * wdi_heap_none then): its blocks are not the tier's. */
size_t wd_malloc_usable_size(const void *p) {
    uintptr_t e = wdi_segmap_entry(p);
    if (wd_likely((e & WD_SEGMAP_SMALL) && wdi_tl_heap != &wdi_heap_none &&
                  ((uintptr_t)p & (WD_ALIGN - 1)) == 0)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p);
        if (wd_likely(pg->heap != WD_PAGE_UNUSED &&
                      !wdi_block_misplaced(pg->xstart, pg->xshift, pg->xinv, pg->xreserved, p) &&
                      !wdi_block_looks_free(pg->xkey, p)))
            return pg->xblock_size;
    }
    if (p == NULL)
        return 0;
    if (wd_unlikely(wdi_wrapped()))
        return wrap_usable(p, "malloc_usable_size");
    return wdi_raw_usable(p, "malloc_usable_size");
}

/* --- the rest of the family ------------------------------------------------ */

void *wd_calloc(size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    if (total > WD_SMALL_MAX) { /* the tiers know when memory is fresh, so zero */
        wdi_process_init();
        if (wd_unlikely(wdi_wrapped()))
            return wrap_alloc(WD_ALIGN, total, 1, WD_FROM_MALLOC);
        return wdi_raw_alloc(WD_ALIGN, total, 1);
    }
    if (wd_unlikely(wdi_wrapped())) /* zeroed by the wrapper, not twice */
        return wrap_alloc(WD_ALIGN, total, 1, WD_FROM_MALLOC);
    void *p = wd_malloc(total);
    if (p != NULL) /* a reused block is dirty */
        memset(p, 0, total);
    return p;
}

void *wd_realloc(void *p, size_t size) {
    if (p == NULL)
        return wd_malloc(size);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        free_any(p, WD_FROM_MALLOC, "realloc");
        return NULL;
    }
    if (wd_unlikely(wdi_wrapped()))
        return wrap_realloc(p, size);
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
static WD_ALWAYS_INLINE void free_sized_kind(void *p, size_t size, wd_alloc_kind_t kind, const char *fn) {
    uintptr_t e = wdi_segmap_entry(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p);
        wd_theap_t *h = wdi_tl_heap;
        uint32_t bs = pg->block_size;
        if (wd_likely(pg->heap == &h->small && size <= bs && (size >= bs / 2 || bs <= 32)
#if WD_HARDEN
                      && !wdi_block_misplaced(pg->start, pg->shift, pg->inv, pg->capacity, p) &&
                      !wdi_block_looks_free(pg->key, p)
#endif
                          )) {
            wdi_page_push_local(&h->small, pg, p);
            return;
        }
    }
    if (p == NULL)
        return;
    if (wd_unlikely(wdi_wrapped())) {
        wrap_free_sized(p, 0, size, kind, fn);
        return;
    }
    wdi_raw_free_sized(p, size, fn);
}

void wd_free_sized(void *p, size_t size) { free_sized_kind(p, size, WD_FROM_MALLOC, "free_sized"); }

static void free_aligned_sized_kind(void *p, size_t alignment, size_t size, wd_alloc_kind_t kind,
                                    const char *fn) {
    if (p == NULL)
        return;
    if (wd_unlikely(wdi_wrapped() && wd_is_pow2(alignment))) {
        wrap_free_sized(p, alignment, size, kind, fn);
        return;
    }
    if (wd_unlikely(!wd_is_pow2(alignment) || ((uintptr_t)p & (alignment - 1)) != 0))
        wdi_fatal("free_aligned_sized with a wrong alignment", p, fn);
    if (wd_unlikely(size > wdi_raw_usable(p, fn)))
        wdi_fatal("free_aligned_sized with a wrong size", p, fn);
    wdi_raw_free(p, fn);
}

void wd_free_aligned_sized(void *p, size_t alignment, size_t size) {
    free_aligned_sized_kind(p, alignment, size, WD_FROM_MALLOC, "free_aligned_sized");
}

void wdi_delete_sized(void *p, size_t size, size_t alignment, wd_alloc_kind_t kind) {
    if (alignment == 0)
        free_sized_kind(p, size, kind, "free_sized");
    else
        free_aligned_sized_kind(p, alignment, size, kind, "free_aligned_sized");
}

/* C17 7.22.3.1: the alignment must be a valid one, so a value that is not a
 * power of two fails with EINVAL (as glibc does since 2.38). */
void *wd_aligned_alloc(size_t alignment, size_t size) {
    if (wd_unlikely(!wd_is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(alignment, size, WD_FROM_MALLOC);
}

/* POSIX: the error is returned, errno is left alone. */
int wd_posix_memalign(void **out, size_t alignment, size_t size) {
    if (!wd_is_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(alignment, size, WD_FROM_MALLOC);
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
    return alloc_aligned(a, size, WD_FROM_MALLOC);
}

void *wd_valloc(size_t size) {
    return alloc_aligned(wdi_os_page_size(), size, WD_FROM_MALLOC);
}

void *wd_pvalloc(size_t size) {
    size_t page = wdi_os_page_size();
    if (size > PTRDIFF_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(page, size ? wd_align_up(size, page) : page, WD_FROM_MALLOC);
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
