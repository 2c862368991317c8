/* large.h -- large objects: each in its own mapping, aligned to 4 MiB so
 * the segment map names it alone.  Freed mappings wait in a cache (reuse
 * costs no page faults); after a short while their pages go back to the
 * OS, after a longer one their address space. */
#ifndef WARDEN_LARGE_H
#define WARDEN_LARGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/segment.h"

typedef struct wd_large_s {
    wd_region_t region; /* kind == WD_KIND_LARGE */
    size_t map_size;    /* bytes mapped from this header on */
    size_t offset;      /* payload - header: max(page, alignment) */
    size_t usable;      /* bytes the program may use */
    uint64_t check;     /* header check: secret ^ payload ^ usable ^ state */
    uint64_t freed_ms;  /* when it entered the cache */
    struct wd_large_s *next; /* cache list */
    uint32_t cached;
    /* 1 once a block aligned above a page used the mapping: its resident
     * pages may lie anywhere in it, not only at its start (large.c). */
    uint32_t scattered;
    size_t guard;       /* harden=2: where its guard page is, from the header (0: none) */
    /* While cached: how many of its bytes may be resident, counted
     * against the cache's bound (large.c keeps where blocks wrote). */
    size_t resident;
    /* 1 when resident was read from the kernel (mincore) for all of it
     * since blocks last wrote there (a program may write less of a block
     * than its size); 0 when it counts, somewhere, what blocks may have
     * written. */
    uint32_t exact;
    /* The heap profiler's record of the block when it is sampled
     * (profile.c), so that its free needs no table; zeroed for every block
     * handed out (a header may be written where a cached block's data
     * was). */
    uint64_t note[3];
} wd_large_t;

/* A large block; zeroed when zero != 0 (fresh mappings are not cleared
 * again).  NULL + ENOMEM on failure. */
void *wdi_large_malloc(size_t size, size_t alignment, int zero);
void wdi_large_free(wd_large_t *l, void *p, const char *fn);
size_t wdi_large_usable(wd_large_t *l, const void *p, const char *fn);
/* Aborts with "corrupted block header" at p unless l's header matches its
 * check word (harden=2 reads the header before its block's prefix: the
 * header page is no longer read-only there). */
void wdi_large_check_header(const wd_large_t *l, const void *p, const char *fn);
/* Resizes in place inside the mapping; 0 on success, -1 when it must move. */
int wdi_large_resize(wd_large_t *l, void *p, size_t size, const char *fn);

/* Grows large block p to size bytes by remapping its pages, in place or
 * to a new address, never copying them; returns the block's new address, or
 * NULL (p untouched) when the OS refuses. */
void *wdi_large_grow(wd_large_t *l, void *p, size_t size, const char *fn);

/* A large mapping as a picture or a statistic sees it. */
typedef struct wd_large_info_s {
    uintptr_t start;  /* the mapping (its header) */
    size_t map_size;  /* bytes mapped */
    size_t offset;    /* where the payload starts */
    size_t usable;    /* payload bytes */
    int cached;       /* 1: freed, kept for reuse */
} wd_large_info_t;

/* Reads the header of the large region the segment map names (found by
 * wdi_segmap_foreach) without trusting that it is still mapped: another
 * thread may unmap it at any moment.  0 when it is a valid header, -1
 * when it is gone or changing. */
int wdi_large_describe(const wd_region_t *region, wd_large_info_t *out);

/* Mappings waiting in the cache, and their bytes. */
void wdi_large_cache_summary(size_t *blocks, size_t *bytes);

/* Gives back the pages of cached blocks freed delay_ms ago, and the
 * address space of those idle much longer (everything when delay_ms is 0). */
void wdi_large_maintain(uint64_t now_ms, uint32_t delay_ms);

/* The tier's table of 4 MiB slots (a static array of 64 MiB, of which
 * only the entries of slots it used ever become memory): warden's own
 * bookkeeping, which check mode's leak scan must not read as a root (it
 * holds no pointer, and reading it whole cost 8,000 system calls at every
 * exit). */
void wdi_large_table(uintptr_t *start, uintptr_t *end);

void wdi_large_fork_prepare(void);
void wdi_large_fork_parent(void);
void wdi_large_fork_child(void);

#endif /* WARDEN_LARGE_H */
