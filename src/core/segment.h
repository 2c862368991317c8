/* segment.h -- 4 MiB regions aligned to their size, and the segment map.
 *
 * Every byte warden hands out lies in a region registered in the segment
 * map: a table with one entry per 4 MiB of address space, holding the
 * address of the region's header (a small/medium segment or a large block),
 * or NULL.  free(p) looks p up in one load, so a pointer warden never
 * returned (stack, globals, another library's memory) is recognised before
 * anything is read from it.  The table is reserved address space; only the
 * pages of it that cover warden's regions ever become resident. */
#ifndef WARDEN_SEGMENT_H
#define WARDEN_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"
#include "base/tsan.h"

#define WD_SEGMENT_SHIFT 22
#define WD_SEGMENT_SIZE ((size_t)1 << WD_SEGMENT_SHIFT)
#define WD_SEGMAP_BITS 47 /* user address space of x86_64 and aarch64 (4-level) */
#define WD_SEGMAP_ENTRIES ((size_t)1 << (WD_SEGMAP_BITS - WD_SEGMENT_SHIFT))

/* With harden=2 the last 64 KiB of every segment are a guard (no access):
 * an overflow running off the end of a segment faults before it reaches
 * the next one.  (A small segment's last page; the medium heap ends there.) */
#define WD_SEGMENT_GUARD ((size_t)64 << 10)

/* WD_KIND_GUARD: blocks placed against inaccessible pages (debug/guard.c:
 * the guard sampler's slots and check=2's blocks); the tiers never see
 * them, the malloc family (api.c) hands them to the guard. */
typedef enum {
    WD_KIND_SMALL = 0x5a11,
    WD_KIND_MEDIUM = 0x3ed1,
    WD_KIND_LARGE = 0x1a76,
    WD_KIND_GUARD = 0x6a4d
} wd_kind_t;

/* The first field of every region header: which tier owns the region. */
typedef struct wd_region_s {
    uint32_t kind;
    uint32_t reserved;
} wd_region_t;

/* One entry per 4 MiB of the user address space: the region that owns it,
 * or NULL.  A static array (256 MiB of address space in the bss, of which
 * only the pages of entries ever written become memory: one page per 2 GiB
 * of address space that warden uses), so the lookup on free's fast path is
 * one load at a fixed place, valid before the first malloc (free(NULL)
 * comes early) with no test of whether the map exists yet.  An mmap'ed
 * reserve cost the same commit charge and two more loads and a compare. */
extern wd_region_t *wdi_segmap[WD_SEGMAP_ENTRIES];

/* The region that contains p, or NULL when p is not in warden's memory.
 * The slot is masked, not bounds-checked: an address at or above 2^47 (no
 * mapping has one) reads the entry of an address below.  Every caller
 * checks that p is a block of the region it finds before it reads p (a
 * block start of a page or range), so such an address is reported as an
 * invalid pointer all the same. */
/* An entry of a small segment has this bit set too (wdi_segmap_set_small):
 * free's fast path tells a small block from the entry alone, without
 * reading the region's header. */
#define WD_SEGMAP_SMALL ((uintptr_t)1)

/* The entry for p as it is stored: a region's address, maybe | WD_SEGMAP_SMALL. */
static inline uintptr_t wdi_segmap_entry(const void *p) {
    uintptr_t slot = ((uintptr_t)p >> WD_SEGMENT_SHIFT) & (WD_SEGMAP_ENTRIES - 1);
    return (uintptr_t)wdi_segmap[slot];
}

static inline wd_region_t *wdi_region_of(const void *p) {
    return (wd_region_t *)(wdi_segmap_entry(p) & ~WD_SEGMAP_SMALL);
}

/* Calls fn(region, start, arg) once for each region the map names, in
 * address order, start being the first 4 MiB slot it covers; stops when fn
 * returns non-zero and returns that value.  Found through the process's
 * mappings (/proc/self/maps), whose slots are the only ones that can be
 * set, so the walk costs a load per 4 MiB mapped, not a read of the whole
 * map.  No lock: a region freed meanwhile may still be named, so fn must
 * read a region's header as memory that can vanish (large.h says how).
 * Pictures and statistics only. */
int wdi_segmap_foreach(int (*fn)(wd_region_t *region, uintptr_t start, void *arg), void *arg);

/* Registers [start, start + size) as owned by region (start 4 MiB-aligned). */
void wdi_segmap_set(void *start, size_t size, wd_region_t *region);
/* Marks the segment at seg (registered by wdi_segment_alloc) as a small one. */
void wdi_segmap_set_small(void *seg);
void wdi_segmap_clear(void *start, size_t size);

/* For ThreadSanitizer (tsan.h), on every entry that covers [start, start +
 * size): release just before the range goes back to the kernel (munmap,
 * mremap away), after its entries were cleared; acquire right after the
 * kernel returns a range (mmap, mremap), before its entries are set.  So
 * the last clear of an entry happens before the next owner's set, as the
 * kernel makes it.  Nothing outside a TSan build. */
static inline void wdi_segmap_tsan_each(const void *start, size_t size,
                                        void (*sync)(const void *addr)) {
    uintptr_t first = (uintptr_t)start >> WD_SEGMENT_SHIFT;
    uintptr_t last = ((uintptr_t)start + size - 1) >> WD_SEGMENT_SHIFT;
    for (uintptr_t slot = first; WD_TSAN && slot <= last; slot++)
        sync(&wdi_segmap[slot]);
}
static inline void wdi_segmap_release(const void *start, size_t size) {
    wdi_segmap_tsan_each(start, size, wdi_tsan_release);
}
static inline void wdi_segmap_acquire(const void *start, size_t size) {
    wdi_segmap_tsan_each(start, size, wdi_tsan_acquire);
}

/* A fresh, zeroed 4 MiB segment registered under its own address, or NULL
 * (errno untouched).  Freed segments are kept in a small cache with their
 * pages returned to the OS, so the next one costs no system call. */
void *wdi_segment_alloc(void);
void wdi_segment_free(void *segment);

/* Drops every cached segment (malloc_trim); returns the bytes unmapped. */
size_t wdi_segment_trim(void);

/* fork(): hold the segment lock across it (called from thread.c). */
void wdi_segment_fork_prepare(void);
void wdi_segment_fork_parent(void);
void wdi_segment_fork_child(void);

#endif /* WARDEN_SEGMENT_H */
