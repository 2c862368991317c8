/* api.c -- the malloc family with C, POSIX and glibc semantics.
 *
 * Owns: choosing the tier (small <= 64 KiB in thread-heap pages, medium
 * <= 1 MiB in shared classic-heap segments, large in their own mapping),
 * errno, size limits, alignment rules, and the fast paths of malloc and
 * free.  Calls: thread.h / page.h (small), medium.h, large.h, segment.h
 * (pointer ownership), options.h (misuse reports). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "debug/harden.h"
#include "core/large.h"
#include "core/medium.h"
#include "base/options.h"
#include "os/os.h"
#include "core/page.h"
#include "core/segment.h"
#include "base/counters.h"
#include "core/thread.h"
#include "warden.h"

/* --- small blocks ------------------------------------------------------------ */

/* Pop from the class's current page; ~10 instructions when it has a block. */
static inline void *small_alloc(wd_theap_t *h, unsigned cls) {
    wd_page_t *pg = h->current[cls];
    wd_block_t *b = pg->free;
    void *p = wd_likely(b != NULL) ? wdi_page_pop(pg, b) : wdi_page_malloc_slow(h, cls);
    if (wd_likely(p != NULL))
        h->small_allocs++;
    return p;
}

/* --- choosing a tier ------------------------------------------------------- */

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

/* A block from the tier that size and alignment call for, zeroed when zero
 * is set; the process is initialised.  NULL with errno = ENOMEM on failure. */
static void *raw_alloc(size_t alignment, size_t size, int zero) {
    if (wd_unlikely(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    wd_theap_t *h;
    unsigned cls = size <= WD_SMALL_MAX ? small_class_aligned(size, alignment) : WD_CLASSES;
    if (cls < WD_CLASSES && (h = heap_here()) != NULL) {
        p = small_alloc(h, cls);
        if (p == NULL)
            errno = ENOMEM;
    } else if (alignment <= WD_ALIGN ? size <= WD_MEDIUM_MAX
                                     : alignment <= WD_MEDIUM_ALIGN_MAX &&
                                           size + alignment <= WD_MEDIUM_MAX) {
        /* An exiting thread has no heap: the shared medium tier serves it. */
        p = wdi_medium_malloc(size, alignment, alignment <= WD_ALIGN ? "malloc" : "aligned_alloc");
    } else {
        return wdi_large_malloc(size, alignment, zero); /* fresh mappings are zero */
    }
    if (p != NULL && zero)
        memset(p, 0, size);
    return p;
}

void *wdi_raw_alloc(size_t alignment, size_t size, int zero) {
    return raw_alloc(alignment, size, zero);
}

/* Everything but the small fast path: the first call of a thread, medium
 * and large sizes, harden=2. */
WD_NOINLINE static void *alloc_slow(size_t size) {
    wdi_process_init();
    if (wd_unlikely(wdi_harden2))
        return wdi_hard_alloc(WD_ALIGN, size, 0);
    return raw_alloc(WD_ALIGN, size, 0);
}

/* The class's page has no free block: the page layer finds or carves
 * one, without alloc_slow's detour (a quarter of python's mallocs).  The
 * thread may have no heap at all (wdi_heap_none): then the detour. */
WD_NOINLINE static void *small_refill(wd_theap_t *h, unsigned cls, size_t size) {
    if (wd_unlikely(h == &wdi_heap_none))
        return alloc_slow(size);
    void *p = small_alloc(h, cls);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

/* With harden=2 the thread's heap is not published in wdi_tl_heap, so
 * this fast path never finds a block and alloc_slow wraps every block. */
void *wd_malloc(size_t size) {
    wd_theap_t *h = wdi_tl_heap;
    if (wd_likely(size <= WD_SMALL_MAX)) {
        unsigned cls = wdi_small_class(size);
        wd_page_t *pg = h->current[cls];
        wd_block_t *b = pg->free;
        if (wd_likely(b != NULL)) {
            /* No clock here: the upkeep runs from the slow path, which
             * every page reaches when its free list runs dry (frees go to
             * another list), so a steady program reaches it regularly. */
            h->small_allocs++;
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
    return raw_alloc(alignment, size, 0);
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
    if (wd_unlikely(pg->heap == WD_PAGE_UNUSED))
        wdi_fatal("invalid pointer", p, fn);
#if WD_HARDEN
    wdi_page_check_live(pg, p, fn);
#endif
    return pg;
}

/* Frees a block of any tier after checking it (without harden=2's wrapping). */
WD_NOINLINE static void free_checked(void *p, const char *fn) {
    wd_region_t *r = region_checked(p, fn);
    switch (r->kind) {
    case WD_KIND_SMALL: { /* as wd_free's fast path: both frees check p */
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
        if (pg->heap == wdi_tl_home)
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

static void free_any(void *p, const char *fn) {
    if (wd_unlikely(wdi_harden2))
        wdi_hard_free(p, fn);
    else
        free_checked(p, fn);
}

void wd_free(void *p) {
    wd_region_t *r = wdi_region_of(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(r != NULL && r->kind == WD_KIND_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)r, p);
        wd_theap_t *h = wdi_tl_heap;
        if (wd_likely(pg->heap == h)) {
            wdi_page_free_local(h, pg, p, "free");
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
    return usable_checked(p, "malloc_usable_size");
}

/* --- the rest of the family ------------------------------------------------ */

void *wd_calloc(size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    if (total > WD_MEDIUM_MAX) { /* fresh mappings are zero already */
        wdi_process_init();
        if (wd_unlikely(wdi_harden2))
            return wdi_hard_alloc(WD_ALIGN, total, 1);
        return raw_alloc(WD_ALIGN, total, 1);
    }
    void *p = wd_malloc(total);
    if (p != NULL) /* a reused block is dirty */
        memset(p, 0, total);
    return p;
}

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

static void *realloc_checked(void *p, size_t size, const char *fn) {
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
    void *q = wd_malloc(size);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, old < size ? old : size);
    free_checked(p, fn);
    return q;
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
    return realloc_checked(p, size, "realloc");
}

void *wd_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    return wd_realloc(p, total);
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
        if (wd_likely(pg->heap == h && size <= bs && (size >= bs / 2 || bs <= 32)
#if WD_HARDEN
                      && !wdi_block_misplaced(pg->start, pg->shift, pg->inv, pg->capacity, p) &&
                      !wdi_block_looks_free(pg->key, pg->start, pg->span, p)
#endif
                          )) {
            wdi_page_push_local(h, pg, p);
            return;
        }
    }
    if (p == NULL)
        return;
    if (wd_unlikely(wdi_harden2)) {
        wdi_hard_free_sized(p, 0, size, "free_sized");
        return;
    }
    size_t usable = usable_checked(p, "free_sized");
    if (wd_unlikely(size > usable || size < free_sized_floor(p, usable)))
        wdi_fatal("free_sized with a wrong size", p, "free_sized");
    free_checked(p, "free_sized");
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
    if (wd_unlikely(size > usable_checked(p, "free_aligned_sized")))
        wdi_fatal("free_aligned_sized with a wrong size", p, "free_aligned_sized");
    free_checked(p, "free_aligned_sized");
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
    return wdi_trim_all();
}
