/* raw.c -- owns the tiers' one interface (raw.h): choosing the tier for a
 * size, finding the tier of a pointer given back and checking it there,
 * resizing in place or moving.  Calls: thread.h and page.h (small), medium.h,
 * large.h, segment.h (which tier owns an address), options.h (reports). */
#include "core/raw.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/options.h"
#include "core/large.h"
#include "core/medium.h"
#include "core/page.h"
#include "core/segment.h"
#include "core/thread.h"
#include "os/os.h"

/* --- choosing a tier ------------------------------------------------------- */

void (*wdi_raw_class_grew)(wd_theap_t *h);

/* The class's page has no free block: the heap finds or carves one, and
 * the heap profiler hears of a class larger than the heap had (raw.h). */
WD_NOINLINE static void *small_refill(wd_theap_t *h, unsigned cls) {
    void *p = wdi_heap_refill(h, cls);
    /* The hook first: it is NULL unless profiling, while a heap's prof_end
     * then stays 0 and differs from any top_end. */
    void (*grew)(wd_theap_t *) = __atomic_load_n(&wdi_raw_class_grew, __ATOMIC_RELAXED);
    if (wd_unlikely(grew != NULL) && h->small.top_end != h->small.prof_end)
        grew(h);
    return p;
}

/* Pop from the class's current page; ~10 instructions when it has a block. */
static inline void *small_alloc(wd_theap_t *h, unsigned cls) {
    wd_page_t *pg = h->small.current[cls];
    wd_block_t *b = pg->free;
    void *p = wd_likely(b != NULL) ? wdi_page_pop(pg, b) : small_refill(h, cls);
    if (wd_likely(p != NULL))
        h->small.allocs_base++; /* counted, without moving the sampler's countdown */
    return p;
}

/* The first class at least size bytes whose blocks are all aligned to
 * alignment (a table lookup, see page.h); WD_CLASSES when none is. */
static unsigned small_class_aligned(size_t size, size_t alignment) {
    unsigned cls = wdi_small_class(size);
    if (alignment <= WD_ALIGN)
        return cls;
    if (alignment > WD_SMALL_MAX)
        return WD_CLASSES;
    return wdi_class_aligned[cls][__builtin_ctzll(alignment) - 5];
}

/* The calling thread's heap (one TLS load when it has one). */
static inline wd_theap_t *heap_here(void) {
    return wd_likely(wdi_tl_home != NULL) ? wdi_tl_home : wdi_heap_get_slow();
}

/* A medium block, zeroed when zero is set; one aligned above
 * WD_MEDIUM_ALIGN_GROW only from the segments there are, and a large one
 * when none has room (fresh mappings are zero). */
static void *medium_or_large(size_t size, size_t alignment, int zero) {
    void *p;
    if (alignment > WD_MEDIUM_ALIGN_GROW) {
        p = wdi_medium_malloc_existing(size, alignment, "aligned_alloc");
        if (p == NULL)
            return wdi_large_malloc(size, alignment, zero);
    } else {
        p = wdi_medium_malloc(size, alignment, alignment <= WD_ALIGN ? "malloc" : "aligned_alloc");
    }
    if (p != NULL && zero)
        memset(p, 0, size);
    return p;
}

/* A block from the tier that size and alignment call for, zeroed when zero
 * is set; the process is initialised.  NULL with errno = ENOMEM on failure. */
static void *raw_alloc(size_t alignment, size_t size, int zero) {
    if (wd_unlikely(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    wd_theap_t *h;
    unsigned cls = size <= WD_SMALL_MAX ? small_class_aligned(size, alignment) : WD_CLASSES;
    if (cls < WD_CLASSES && (h = heap_here()) != NULL) {
        void *p = small_alloc(h, cls);
        if (p == NULL)
            errno = ENOMEM;
        else if (zero)
            memset(p, 0, size);
        return p;
    }
    if (alignment <= WD_ALIGN ? size <= WD_MEDIUM_MAX
                              : alignment <= WD_MEDIUM_ALIGN_MAX &&
                                    size + alignment <= WD_MEDIUM_MAX)
        return medium_or_large(size, alignment, zero); /* a thread without a heap (exiting) too */
    return wdi_large_malloc(size, alignment, zero);   /* fresh mappings are zero */
}

void *wdi_raw_alloc(size_t alignment, size_t size, int zero) {
    return raw_alloc(alignment, size, zero);
}

void *wdi_raw_alloc_apart(size_t alignment, size_t size, int zero) {
    if (wd_unlikely(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    if (alignment <= WD_MEDIUM_ALIGN_MAX && size + alignment <= WD_MEDIUM_MAX)
        return medium_or_large(size, alignment, zero);
    return wdi_large_malloc(size, alignment, zero);
}

/* --- checking a pointer given back -------------------------------------------- */

/* The region of p, or an abort when p is not a block warden handed out. */
static wd_region_t *region_checked(const void *p, const char *fn) {
    wd_region_t *r = wdi_region_of(p);
    if (wd_unlikely(r == NULL || ((uintptr_t)p & (WD_ALIGN - 1)) != 0))
        wdi_fatal("invalid pointer", p, fn);
    return r;
}

/* The page of small block p, after checking that p is a live block of it
 * (for realloc and malloc_usable_size; free checks on its fast path). */
static wd_page_t *small_page_checked(wd_region_t *r, const void *p, const char *fn) {
    wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
    if (wd_unlikely(wdi_page_unused(pg)))
        wdi_fatal("invalid pointer", p, fn);
#if WD_HARDEN
    wdi_page_check_live(pg, p, wdi_small_here(), fn);
#endif
    return pg;
}

/* Frees a block of any tier after checking it (without harden=2's wrapping). */
WD_NOINLINE static void free_checked(void *p, const char *fn) {
    wd_region_t *r = region_checked(p, fn);
    switch (r->kind) {
    case WD_KIND_SMALL: { /* as wd_free's fast path: both frees check p */
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
        if (!wdi_page_unused(pg) && pg->heap == wdi_small_here())
            wdi_page_free_local(pg->heap, pg, p, fn);
        else
            wdi_page_free_remote(pg, p);
        return;
    }
    case WD_KIND_MEDIUM:
        wdi_medium_free((wd_medium_segment_t *)r, p, fn);
        return;
    case WD_KIND_LARGE:
        wdi_large_free((wd_large_t *)r, p, fn);
        return;
    default:
        wdi_fatal("invalid pointer", p, fn);
    }
}

void wdi_raw_free(void *p, const char *fn) { free_checked(p, fn); }

static size_t usable_checked(const void *p, const char *fn) {
    wd_region_t *r = region_checked(p, fn);
    switch (r->kind) {
    case WD_KIND_SMALL:
        return small_page_checked(r, p, fn)->block_size;
    case WD_KIND_MEDIUM:
        return wdi_medium_usable((wd_medium_segment_t *)r, p, fn);
    case WD_KIND_LARGE:
        return wdi_large_usable((wd_large_t *)r, p, fn);
    default:
        wdi_fatal("invalid pointer", p, fn);
    }
}

size_t wdi_raw_usable(const void *p, const char *fn) { return usable_checked(p, fn); }

size_t wdi_raw_usable_known(const void *p, const char *fn) {
    wd_region_t *r = wdi_region_of(p);
    if (r->kind == WD_KIND_SMALL)
        return wdi_page_of((wd_small_segment_t *)r, p)->block_size;
    return usable_checked(p, fn);
}

/* --- resizing ------------------------------------------------------------ */

/* Resizes in place when the block's tier can; 0 on success. */
static int resize_in_place(wd_region_t *r, void *p, size_t size, size_t *old, const char *fn) {
    switch (r->kind) {
    case WD_KIND_SMALL: {
        wd_page_t *pg = small_page_checked(r, p, fn);
        *old = pg->block_size;
        /* Keep the block unless it would waste more than half of it. */
        return size <= pg->block_size && (size >= pg->block_size / 2 || pg->block_size <= 32) ? 0 : -1;
    }
    case WD_KIND_MEDIUM: {
        wd_medium_segment_t *seg = (wd_medium_segment_t *)r;
        *old = wdi_medium_usable(seg, p, fn);
        if (size <= WD_SMALL_MAX || size > WD_MEDIUM_MAX)
            return -1; /* belongs to another tier now */
        return wdi_medium_resize(seg, p, size, fn);
    }
    case WD_KIND_LARGE: {
        wd_large_t *l = (wd_large_t *)r;
        *old = wdi_large_usable(l, p, fn);
        return size > WD_MEDIUM_MAX ? wdi_large_resize(l, p, size, fn) : -1;
    }
    default:
        wdi_fatal("invalid pointer", p, fn);
    }
}

void *wdi_raw_realloc(void *p, size_t size, const char *fn) {
    wd_region_t *r = region_checked(p, fn);
    size_t old = 0;
    if (wd_unlikely(size > PTRDIFF_MAX)) {
        usable_checked(p, fn); /* p must still be a live block */
        errno = ENOMEM;
        return NULL;
    }
    if (resize_in_place(r, p, size, &old, fn) == 0)
        return p;
    if (r->kind == WD_KIND_LARGE && size > old) {
        void *moved = wdi_large_grow((wd_large_t *)r, p, size, fn);
        if (moved != NULL)
            return moved;
    }
    void *q = raw_alloc(WD_ALIGN, size, 0);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, old < size ? old : size);
    free_checked(p, fn);
    return q;
}

/* The smallest size a program may pass to free_sized for a block with
 * `usable` bytes: malloc rounds a small request up to at most the next
 * class (never twice the request) and realloc keeps a small block in place
 * only down to half of it; a medium range is its request's range or 16
 * bytes more (the classic heap splits off any rest of 32 bytes or more,
 * also when resizing in place); a large block's usable size is its
 * request rounded up to a page. */
static size_t free_sized_floor(const void *p, size_t usable) {
    switch (wdi_region_of(p)->kind) {
    case WD_KIND_SMALL:
        return usable <= 32 ? 0 : usable / 2;
    case WD_KIND_MEDIUM:
        return usable > 31 ? usable - 31 : 0;
    case WD_KIND_LARGE:
        return usable - wdi_os_page_size() + 1;
    default:
        return 0;
    }
}

void wdi_raw_free_sized(void *p, size_t size, const char *fn) {
    size_t usable = usable_checked(p, fn);
    if (wd_unlikely(size > usable || size < free_sized_floor(p, usable)))
        wdi_fatal("free_sized with a wrong size", p, fn);
    free_checked(p, fn);
}
