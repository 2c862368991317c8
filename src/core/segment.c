/* segment.c -- owns the segment map and the supply of 4 MiB segments.
 * Calls: os.h for memory, stats.h for counters.  Upper layers (page.c,
 * medium.c, large.c) get segments here and register large blocks here. */
#include "core/segment.h"

#include <string.h>

#include "base/counters.h"
#include "base/lock.h"
#include "base/options.h"
#include "base/tsan.h"
#include "os/os.h"

wd_region_t *wdi_segmap[WD_SEGMAP_ENTRIES];

/* Freed segments waiting for reuse, pages already returned to the OS. */
#define SEGMENT_CACHE 8
static void *cache[SEGMENT_CACHE];
static unsigned cached;
static wd_lock_t segment_lock = WD_LOCK_INIT;

void wdi_segmap_set(void *start, size_t size, wd_region_t *region) {
    uintptr_t first = (uintptr_t)start >> WD_SEGMENT_SHIFT;
    uintptr_t last = ((uintptr_t)start + size - 1) >> WD_SEGMENT_SHIFT;
    for (uintptr_t slot = first; slot <= last; slot++)
        wdi_segmap[slot] = region;
}

void wdi_segmap_set_small(void *seg) {
    wdi_segmap_set(seg, WD_SEGMENT_SIZE, (wd_region_t *)((uintptr_t)seg | WD_SEGMAP_SMALL));
}

void wdi_segmap_clear(void *start, size_t size) {
    wdi_segmap_set(start, size, NULL);
}

/* --- walking the map ------------------------------------------------------- */

typedef struct segmap_walk_s {
    int (*fn)(wd_region_t *region, uintptr_t start, void *arg);
    void *arg;
    wd_region_t *last; /* a region covers several slots, maybe several mappings */
    uintptr_t next_slot;
    int rc;
} segmap_walk_t;

/* One mapping: the entries of its slots (racy reads of entries other
 * threads set and clear: the caller treats what it finds with care). */
WD_TSAN_UNCHECKED static int segmap_mapping(uintptr_t start, uintptr_t end, const char *perms,
                                            const char *path, void *arg) {
    segmap_walk_t *w = arg;
    (void)perms;
    (void)path;
    uintptr_t first = start >> WD_SEGMENT_SHIFT, last = (end - 1) >> WD_SEGMENT_SHIFT;
    if (first < w->next_slot)
        first = w->next_slot; /* the slot shared with the mapping before */
    for (uintptr_t slot = first; slot <= last && slot < WD_SEGMAP_ENTRIES; slot++) {
        wd_region_t *r = (wd_region_t *)((uintptr_t)wdi_segmap[slot] & ~WD_SEGMAP_SMALL);
        if (r != NULL && r != w->last) {
            w->rc = w->fn(r, slot << WD_SEGMENT_SHIFT, w->arg);
            if (w->rc != 0)
                return 1;
        }
        w->last = r;
    }
    w->next_slot = last + 1;
    return 0;
}

int wdi_segmap_foreach(int (*fn)(wd_region_t *region, uintptr_t start, void *arg), void *arg) {
    segmap_walk_t w = {fn, arg, NULL, 0, 0};
    wdi_os_maps_foreach(segmap_mapping, &w);
    return w.rc;
}

void *wdi_segment_alloc(void) {
    void *seg = NULL;
    wdi_lock(&segment_lock);
    if (cached > 0)
        seg = cache[--cached];
    wdi_unlock(&segment_lock);
    if (seg == NULL) {
        int err = wdi_os_map_aligned(WD_SEGMENT_SIZE, WD_SEGMENT_SIZE, &seg);
        if (err != 0) {
            wdi_os_failed("map", WD_SEGMENT_SIZE, err);
            return NULL;
        }
        wdi_stat_add(WD_STAT_MAPPED, WD_SEGMENT_SIZE);
        wdi_segmap_acquire(seg, WD_SEGMENT_SIZE);
        /* Cached segments keep their guard: the level never changes. */
        if (wdi_harden2)
            wdi_os_protect((uint8_t *)seg + WD_SEGMENT_SIZE - WD_SEGMENT_GUARD, WD_SEGMENT_GUARD,
                           WD_PROT_NONE);
    }
    /* Fresh or decommitted: either way it reads as zeros. */
    wdi_segmap_set(seg, WD_SEGMENT_SIZE, (wd_region_t *)seg);
    return seg;
}

void wdi_segment_free(void *seg) {
    size_t released;
    wdi_segmap_clear(seg, WD_SEGMENT_SIZE);
    /* Cached only when it reads as zeros again: a small segment's page
     * descriptors are not written until their page is taken (page.c). */
    int zeroed = wdi_os_decommit(seg, WD_SEGMENT_SIZE, &released) == 0;
    if (zeroed)
        wdi_stat_add(WD_STAT_RETURNED, released);
    wdi_lock(&segment_lock);
    if (zeroed && cached < SEGMENT_CACHE) {
        cache[cached++] = seg;
        seg = NULL;
    }
    wdi_unlock(&segment_lock);
    if (seg == NULL)
        return;
    wdi_segmap_release(seg, WD_SEGMENT_SIZE);
    if (wdi_os_unmap(seg, WD_SEGMENT_SIZE) == 0)
        wdi_stat_sub(WD_STAT_MAPPED, WD_SEGMENT_SIZE);
}

size_t wdi_segment_trim(void) {
    void *drop[SEGMENT_CACHE];
    unsigned n;
    wdi_lock(&segment_lock);
    n = cached;
    memcpy(drop, cache, n * sizeof *drop);
    cached = 0;
    wdi_unlock(&segment_lock);
    for (unsigned i = 0; i < n; i++) {
        wdi_segmap_release(drop[i], WD_SEGMENT_SIZE); /* cleared when it was cached */
        if (wdi_os_unmap(drop[i], WD_SEGMENT_SIZE) == 0)
            wdi_stat_sub(WD_STAT_MAPPED, WD_SEGMENT_SIZE);
    }
    return n * WD_SEGMENT_SIZE;
}

void wdi_segment_fork_prepare(void) { wdi_lock(&segment_lock); }
void wdi_segment_fork_parent(void) { wdi_unlock(&segment_lock); }
void wdi_segment_fork_child(void) { wdi_lock_reset(&segment_lock); }
