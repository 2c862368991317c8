/* medium.c -- owns medium segments: a lock and a classic heap each.
 * Calls: heap.h (the engine), segment.h, os.h (decommit), counters.h. */
#include "core/medium.h"

#include <errno.h>

#include "base/counters.h"
#include "base/options.h"
#include "classic/heap.h"
#include "os/os.h"

static wd_lock_t list_lock = WD_LOCK_INIT;
static wd_medium_segment_t *segments;
/* The segment the calling thread used last, tried first: threads spread
 * over segments and rarely meet on one lock.  Segments are never unmapped,
 * so a hint never dangles. */
static __thread wd_medium_segment_t *tl_hint __attribute__((tls_model("initial-exec")));

/* The list's first segment.  The list only grows at its head and segments
 * are never freed, so a walk from this snapshot needs no lock. */
static wd_medium_segment_t *segments_head(void) {
    wdi_lock(&list_lock);
    wd_medium_segment_t *seg = segments;
    wdi_unlock(&list_lock);
    return seg;
}

/* Called with seg->lock held; releases it. */
static void *segment_alloc_locked(wd_medium_segment_t *seg, size_t size, size_t alignment,
                                  const char *fn) {
    void *p = alignment > WD_ALIGN ? wdi_heap_memalign(seg->heap, alignment, size, fn)
                                   : wdi_heap_malloc(seg->heap, size, fn);
    wdi_unlock(&seg->lock);
    return p;
}

static void *segment_try(wd_medium_segment_t *seg, size_t size, size_t alignment, const char *fn) {
    wdi_lock(&seg->lock);
    return segment_alloc_locked(seg, size, alignment, fn);
}

/* As segment_try, but gives up at once when another thread holds the lock:
 * a thread looking for a new segment should not queue behind others. */
static void *segment_try_nowait(wd_medium_segment_t *seg, size_t size, size_t alignment,
                                const char *fn) {
    if (!wdi_lock_try(&seg->lock))
        return NULL;
    return segment_alloc_locked(seg, size, alignment, fn);
}

static wd_medium_segment_t *segment_new(void) {
    wd_medium_segment_t *seg = wdi_segment_alloc();
    if (seg == NULL)
        return NULL;
    size_t header = wd_align_up(sizeof *seg, 64);
    size_t end = WD_SEGMENT_SIZE - (wdi_harden2 ? WD_SEGMENT_GUARD : 0);
    seg->heap = wd_heap_init((uint8_t *)seg + header, end - header);
    seg->region.kind = WD_KIND_MEDIUM;
    wdi_stat_add(WD_STAT_COMMITTED, WD_SEGMENT_SIZE);
    wdi_lock(&list_lock);
    seg->next = segments;
    segments = seg;
    wdi_unlock(&list_lock);
    return seg;
}

/* Every segment but `skip` that no other thread is using, in list order; a
 * new one when all are full or busy, so that threads spread out (none when
 * grow is 0: NULL then). */
static void *segments_try(wd_medium_segment_t *skip, size_t size, size_t alignment,
                          const char *fn, wd_medium_segment_t **used, int grow) {
    for (wd_medium_segment_t *seg = segments_head(); seg != NULL; seg = seg->next) {
        if (seg == skip)
            continue;
        void *p = segment_try_nowait(seg, size, alignment, fn);
        if (p != NULL) {
            *used = seg;
            return p;
        }
    }
    if (!grow)
        return NULL;
    wd_medium_segment_t *seg = segment_new();
    if (seg == NULL)
        return NULL;
    *used = seg;
    return segment_try(seg, size, alignment, fn);
}

static void *medium_malloc(size_t size, size_t alignment, const char *fn, int grow) {
    int saved = errno;
    wd_medium_segment_t *seg = tl_hint;
    void *p = seg ? segment_try(seg, size, alignment, fn) : NULL;
    if (p == NULL)
        p = segments_try(seg, size, alignment, fn, &tl_hint, grow);
    if (p == NULL) {
        errno = grow ? ENOMEM : saved;
        return NULL;
    }
    errno = saved; /* failed attempts in full segments set it */
    wdi_stat_add(WD_STAT_MEDIUM_ALLOCS, 1);
    wdi_stat_add(WD_STAT_MEDIUM_LIVE, 1);
    return p;
}

void *wdi_medium_malloc(size_t size, size_t alignment, const char *fn) {
    return medium_malloc(size, alignment, fn, 1);
}

void *wdi_medium_malloc_existing(size_t size, size_t alignment, const char *fn) {
    return medium_malloc(size, alignment, fn, 0);
}

/* Counts a free (or a shrink) for the decommit sweep; seg->lock held.  The
 * time goes first, so the unlocked pre-check of upkeep mostly sees a count
 * with its time (a stale time only moves one sweep). */
static void segment_dirtied(wd_medium_segment_t *seg) {
    uint32_t dirty = atomic_load_explicit(&seg->dirty, memory_order_relaxed);
    if (dirty == 0)
        atomic_store_explicit(&seg->dirty_ms, (uint32_t)wdi_os_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&seg->dirty, dirty + 1, memory_order_relaxed);
}

void wdi_medium_free(wd_medium_segment_t *seg, void *p, const char *fn) {
    wdi_lock(&seg->lock);
    wdi_heap_free(seg->heap, p, fn);
    segment_dirtied(seg);
    wdi_unlock(&seg->lock);
    wdi_stat_sub(WD_STAT_MEDIUM_LIVE, 1);
}

size_t wdi_medium_usable(wd_medium_segment_t *seg, const void *p, const char *fn) {
    wdi_lock(&seg->lock);
    size_t n = wdi_heap_usable_size(seg->heap, p, fn);
    wdi_unlock(&seg->lock);
    return n;
}

int wdi_medium_resize(wd_medium_segment_t *seg, void *p, size_t size, const char *fn) {
    wdi_lock(&seg->lock);
    int rc = wdi_heap_resize(seg->heap, p, size, fn);
    if (rc == 0)
        segment_dirtied(seg);
    wdi_unlock(&seg->lock);
    return rc;
}

size_t wdi_medium_live_bytes(void) {
    wd_medium_segment_t *seg = segments_head();
    size_t total = 0;
    for (; seg != NULL; seg = seg->next) {
        wdi_lock(&seg->lock);
        total += wdi_heap_used_bytes(seg->heap);
        wdi_unlock(&seg->lock);
    }
    return total;
}

wd_medium_segment_t *wdi_medium_first(void) { return segments_head(); }

void wdi_medium_segment_walk(wd_medium_segment_t *seg,
                             int (*visit)(void *start, size_t size, int allocated, void *arg),
                             void *arg) {
    wdi_lock(&seg->lock);
    wd_heap_walk(seg->heap, visit, arg);
    wdi_unlock(&seg->lock);
}

/* --- returning memory ------------------------------------------------------- */

/* Visits one range: the pages inside a free range, past its links, go back
 * to the OS.  The heap reads nothing there until it hands the range out,
 * and the OS gives zeros back when it is touched again. */
static int range_decommit(void *start, size_t size, int allocated, void *arg) {
    size_t *total = arg, released;
    if (!allocated && size > 2 * wdi_os_page_size() &&
        wdi_os_decommit((uint8_t *)start + 16, size - 16, &released) == 0)
        *total += released;
    return 0;
}

void wdi_medium_maintain(uint32_t now_ms, uint32_t delay_ms) {
    wd_medium_segment_t *seg = segments_head();
    for (; seg != NULL; seg = seg->next) {
        /* Without the lock: most segments have nothing to sweep, and a
         * count or time read a moment late only moves the sweep. */
        uint32_t dirty = atomic_load_explicit(&seg->dirty, memory_order_relaxed);
        uint32_t since = atomic_load_explicit(&seg->dirty_ms, memory_order_relaxed);
        if (dirty == 0 || (delay_ms != 0 && (uint32_t)(now_ms - since) < delay_ms))
            continue;
        size_t released = 0;
        wdi_lock(&seg->lock);
        atomic_store_explicit(&seg->dirty, 0, memory_order_relaxed);
        wd_heap_walk(seg->heap, range_decommit, &released);
        wdi_unlock(&seg->lock);
        wdi_stat_add(WD_STAT_RETURNED, released);
    }
}

/* --- fork -------------------------------------------------------------------- */

void wdi_medium_fork_prepare(void) {
    wdi_lock(&list_lock);
    for (wd_medium_segment_t *seg = segments; seg; seg = seg->next)
        wdi_lock(&seg->lock);
}

void wdi_medium_fork_parent(void) {
    for (wd_medium_segment_t *seg = segments; seg; seg = seg->next)
        wdi_unlock(&seg->lock);
    wdi_unlock(&list_lock);
}

void wdi_medium_fork_child(void) {
    for (wd_medium_segment_t *seg = segments; seg; seg = seg->next)
        wdi_lock_reset(&seg->lock);
    wdi_lock_reset(&list_lock);
}
