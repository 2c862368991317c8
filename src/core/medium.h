/* medium.h -- medium objects: the classic heap (heap.c) on 4 MiB segments.
 *
 * Medium segments are shared by all threads: each has its own lock and a
 * wd_heap inside; a thread prefers the segment it used last, so threads
 * rarely meet on one lock.  Free ranges merge at once, and the pages inside
 * big free ranges go back to the OS a short while after they were freed. */
#ifndef WARDEN_MEDIUM_H
#define WARDEN_MEDIUM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/lock.h"
#include "core/segment.h"
#include "warden/heap.h"

#define WD_MEDIUM_MAX ((size_t)1 << 20)        /* larger requests are "large" */
/* Larger alignments are "large", as is any aligned request whose size and
 * alignment together pass WD_MEDIUM_MAX (raw.c).  Up to 64 KiB before
 * 2026-12-06: a block aligned to 128-512 KiB then had a mapping of its own,
 * whose padding lay untouched while later blocks of the cache's reuse
 * wrote into it; here the padding is a free range other blocks use, and
 * bench/suite/aligned took a third of the page faults (docs/design.md). */
#define WD_MEDIUM_ALIGN_MAX ((size_t)512 << 10)
/* Requests aligned above this take no new segment: when no segment has
 * room they go to the large tier (raw.c). */
#define WD_MEDIUM_ALIGN_GROW ((size_t)64 << 10)

typedef struct wd_medium_segment_s {
    wd_region_t region; /* kind == WD_KIND_MEDIUM */
    wd_lock_t lock;
    wd_heap_t *heap;
    struct wd_medium_segment_s *next;
    /* Written under lock; relaxed atomics because upkeep first looks at
     * them without it. */
    _Atomic(uint32_t) dirty;    /* frees since the last decommit sweep */
    _Atomic(uint32_t) dirty_ms; /* when the first of them happened */
} wd_medium_segment_t;

/* malloc / memalign in the medium tier; NULL + ENOMEM on failure.
 * alignment is a power of two <= WD_MEDIUM_ALIGN_MAX. */
void *wdi_medium_malloc(size_t size, size_t alignment, const char *fn);
/* The same from the segments there are: NULL, errno untouched, when none
 * has room (no new segment is made). */
void *wdi_medium_malloc_existing(size_t size, size_t alignment, const char *fn);
void wdi_medium_free(wd_medium_segment_t *seg, void *p, const char *fn);
size_t wdi_medium_usable(wd_medium_segment_t *seg, const void *p, const char *fn);
/* Resizes in place; 0 on success, -1 when the block must move. */
int wdi_medium_resize(wd_medium_segment_t *seg, void *p, size_t size, const char *fn);

/* Bytes of live medium blocks (headers included), summed over segments. */
size_t wdi_medium_live_bytes(void);

/* The first medium segment; each one's `next` leads to the others.  The
 * list only grows at its head and segments are never freed, so the walk
 * needs no lock. */
wd_medium_segment_t *wdi_medium_first(void);

/* Under seg's lock, calls visit on each range of seg's heap in address
 * order, as wd_heap_walk does (visit must neither allocate nor lock). */
void wdi_medium_segment_walk(wd_medium_segment_t *seg,
                             int (*visit)(void *start, size_t size, int allocated, void *arg),
                             void *arg);

/* Returns the interior pages of free ranges freed more than delay_ms ago
 * (all when delay_ms is 0) to the OS. */
void wdi_medium_maintain(uint32_t now_ms, uint32_t delay_ms);

void wdi_medium_fork_prepare(void);
void wdi_medium_fork_parent(void);
void wdi_medium_fork_child(void);

#endif /* WARDEN_MEDIUM_H */
