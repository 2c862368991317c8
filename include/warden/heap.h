/* warden/heap.h -- the classic heap: a heap inside memory the caller gives.
 *
 * A wd_heap lives entirely inside one range of caller memory (a static
 * array, a budget carved from anything): a small control block at the start,
 * then ranges ("blocks"), each with a 16-byte header.  It is the seed's
 * classic heap grown up:
 *   - free neighbours are merged at once (boundary tags), so freeing
 *     everything always gives back one free range;
 *   - a free range is found in O(1), whatever the number of free ranges:
 *     segregated free lists indexed by a two-level bitmap (good fit, TLSF);
 *   - headers carry a checksum keyed by a per-heap secret and free-list
 *     links are stored encoded, so a double free, a free of a pointer that
 *     is not a live block, or a header overwritten by an overflow aborts
 *     with one line `warden: <what> at <address> in <function>` on stderr;
 *   - under valgrind, blocks are reported like malloc'd ones (leaks,
 *     overflows into headers and slack, use after free).  There, the bytes
 *     past the request are no-access, as memcheck treats malloc, and
 *     realloc always moves the block so memcheck sees its exact size.
 *
 * Not thread-safe: a heap is meant for one thread or for callers that hold
 * their own lock (embedded use).  Different heaps are independent.
 *
 * Every pointer returned is 16-byte aligned.  Sizes above PTRDIFF_MAX fail.
 * A heap can manage at most 64 GiB; a larger range is used up to that size.
 */
#ifndef WARDEN_HEAP_H
#define WARDEN_HEAP_H

#include <stddef.h>
#include <stdio.h>

#include "warden/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_heap wd_heap_t; /* opaque; lives at the start of mem */

typedef struct wd_heap_stats {
    size_t heap_size;        /* bytes given to wd_heap_init (capped at 64 GiB) */
    size_t used_bytes;       /* bytes of allocated ranges, headers included */
    size_t free_bytes;       /* bytes of free ranges, headers included */
    size_t largest_free;     /* largest request wd_heap_malloc can serve now */
    size_t allocated_blocks; /* live allocations */
    size_t free_blocks;      /* free ranges (after merging) */
    size_t peak_used_bytes;  /* highest used_bytes since init */
    size_t overhead_bytes;   /* control block and end marker */
} wd_heap_stats_t;

/* Sets up a heap in [mem, mem + size).  mem need not be aligned (the heap
 * starts at the next 16-byte boundary).  Returns the heap, which lives at
 * the start of mem, or NULL with errno = EINVAL when mem is NULL or size is
 * below wd_heap_min_size().  O(1) in size. */
WD_API wd_heap_t *wd_heap_init(void *mem, size_t size);

/* The smallest size wd_heap_init accepts for 16-byte-aligned memory: room for
 * the control block and one allocation of at least 16 bytes. */
WD_API size_t wd_heap_min_size(void);

/* C semantics: NULL + ENOMEM when no free range fits or size > PTRDIFF_MAX;
 * malloc(0) returns a unique pointer that must be freed.  Not zeroed.  O(1). */
WD_API void *wd_heap_malloc(wd_heap_t *h, size_t size);

/* Zeroed memory, also when a dirty range is reused.  NULL + ENOMEM when
 * n * size overflows.  O(1) plus the memset. */
WD_API void *wd_heap_calloc(wd_heap_t *h, size_t n, size_t size);

/* realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL (as
 * glibc does).  Grows in place into a free next neighbour when it can and
 * shrinks in place; otherwise moves.  On failure returns NULL with
 * errno = ENOMEM and leaves p and its contents intact. */
WD_API void *wd_heap_realloc(wd_heap_t *h, void *p, size_t size);

/* Any power-of-two alignment (below 16 means 16).  NULL + EINVAL when
 * alignment is not a power of two; NULL + ENOMEM when no range fits. */
WD_API void *wd_heap_memalign(wd_heap_t *h, size_t alignment, size_t size);

/* free(NULL) does nothing.  Aborts with a `warden:` line on a double free,
 * a pointer outside the heap, a misaligned or interior pointer, or a
 * corrupted header.  Leaves errno alone.  O(1). */
WD_API void wd_heap_free(wd_heap_t *h, void *p);

/* Bytes the program may use at p (>= the request); 0 for NULL.  Aborts on a
 * pointer that is not a live block, as wd_heap_free does, except that a
 * freed block is reported as `use after free` (realloc does the same). */
WD_API size_t wd_heap_usable_size(wd_heap_t *h, const void *p);

/* Walks every range and every free list and checks each invariant: header
 * checksums, sizes that tile the heap, boundary tags, no two free neighbours,
 * every free range listed exactly once in the list of its size class,
 * bitmaps and counters.  Returns 0 when all hold, -1 otherwise.  O(n). */
WD_API int wd_heap_check(wd_heap_t *h);

/* Prints one line per range in the seed's format
 *   [0x...1000 -> 0x...1070) : 0x8000000000000070 (allocated, size = 112 bytes)
 * (the header word: top bit set when allocated, low bits the range size,
 * header included), then a one-line summary. */
WD_API void wd_heap_dump(wd_heap_t *h, FILE *out);

/* Draws the heap block by block as a self-contained SVG picture (the one
 * of docs/map.md): the control block, each range's header and payload,
 * allocated and free ranges in address order and to scale, with the
 * figures of each in a tooltip.  Reads the heap as wd_heap_walk does (and
 * aborts on a corrupted header as it does); writes to out (stdout when
 * NULL) with stdio.  Not thread-safe, like every call on a heap.  0, or -1
 * when the write failed. */
WD_API int wd_heap_map_svg(wd_heap_t *h, FILE *out);

/* Fills *out.  O(1) but for largest_free, which scans one free list (and
 * aborts with a `warden:` line if that list was corrupted). */
WD_API void wd_heap_stats(wd_heap_t *h, wd_heap_stats_t *out);

/* Calls visit(start, size, allocated, arg) for every range in address
 * order; start is the payload (what malloc returned, or would return),
 * size its usable bytes.  Stops early and returns visit's value when it is
 * non-zero; returns 0 after the last range.  Aborts with a `warden:` line
 * on a corrupted header (wd_heap_check is the call that never aborts). */
WD_API int wd_heap_walk(wd_heap_t *h,
                        int (*visit)(void *start, size_t size, int allocated, void *arg),
                        void *arg);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_HEAP_H */
