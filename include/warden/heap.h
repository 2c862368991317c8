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
 *     malloc, free, realloc and memalign have no loop at all (see "Bound"
 *     below), so their worst case is a fixed number of instructions;
 *   - headers carry a checksum keyed by a per-heap secret and free-list
 *     links are stored encoded, so a double free, a free of a pointer that
 *     is not a live block, or a header overwritten by an overflow aborts
 *     with one line `warden: <what> at <address> in <function>` on stderr;
 *   - under valgrind, blocks are reported like malloc'd ones (leaks,
 *     overflows into headers and slack, use after free).  There, the bytes
 *     past the request are no-access, as memcheck treats malloc, and
 *     realloc always moves the block so memcheck sees its exact size.
 *     wd_heap_init decides once whether the heap talks to valgrind: under
 *     valgrind unless WARDEN_VALGRIND=0 is in the environment.  Natively it
 *     costs one predictable branch per call.
 *
 * Bound: none of malloc, free, realloc, memalign walks a list or the
 * ranges.  malloc checks at most 1 header checksum, writes at most 2 headers
 * and follows at most 4 list links; free checks at most 3, writes 1 and
 * follows at most 8, whatever the number of free ranges or the size of the
 * heap (tests/classic/test_heap_bound.c asserts it); realloc is a free plus
 * a malloc plus the copy, or a resize in place; memalign a malloc plus one
 * split and one resize.  Measured with callgrind (docs/heap.md, `make
 * bench-heap`, x86-64, gcc -O2, every check on): a malloc that fails
 * against 5,000 free ranges of its class costs 98 instructions, the mean
 * malloc of a random mix 113, the mean free 89 (the dearest malloc of
 * the mix, one that splits, 207; the dearest free, one that merges on
 * both sides, 275), a malloc(4000) + free pair 207; stack 64 B (malloc)
 * and 64 B (free).  The free range at the end of the
 * heap, the top, is in no list: malloc carves from it when no size class
 * has a good fit, and free merges into it without list work.  The price
 * of the bound: a request larger than the start of every non-empty size
 * class is served only by the top or the head of its own class
 * (largest_free in wd_heap_stats says exactly what succeeds).  Only the abort path of a misuse and the
 * inspection calls (check, walk, dump) visit every range.
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
#include <stdint.h>

#ifdef WD_HEAP_FREESTANDING
/* Built alone (docs/heap.md, "Building the heap alone"): no other warden
 * header, no libc headers beyond the freestanding ones. */
#ifndef WD_API
#define WD_API
#endif
#else
#include <stdio.h>

#include "warden/api.h"
#endif

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
#ifndef WD_HEAP_FREESTANDING
WD_API wd_heap_t *wd_heap_init(void *mem, size_t size);
#endif

/* As wd_heap_init, with the per-heap secret (checksum and link keys)
 * derived from `seed` instead of the kernel's random source: for platforms
 * without one (the freestanding build has only this initialiser), and for
 * reproducible layouts.  A guessable seed makes headers forgeable; give it
 * real entropy (a hardware RNG, a unique ID mixed with a timer). */
WD_API wd_heap_t *wd_heap_init_seeded(void *mem, size_t size, uint64_t seed);

/* The smallest size wd_heap_init accepts for 16-byte-aligned memory: room for
 * the control block and one allocation of at least 16 bytes. */
WD_API size_t wd_heap_min_size(void);

/* C semantics: NULL + ENOMEM when no free range fits or size > PTRDIFF_MAX;
 * malloc(0) returns a unique pointer that must be freed.  Not zeroed.
 * O(1): no loop (the bound above).  Good fit: every request up to
 * wd_heap_stats' largest_free succeeds. */
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

#ifndef WD_HEAP_FREESTANDING
/* Prints one line per range in the seed's format
 *   [0x...1000 -> 0x...1070) : 0x8000000000000070 (allocated, size = 112 bytes)
 * (the header word: top bit set when allocated, low bits the range size,
 * header included), then a one-line summary. */
WD_API void wd_heap_dump(wd_heap_t *h, FILE *out);
#endif

#ifndef WD_HEAP_FREESTANDING
/* Draws the heap block by block as a self-contained SVG picture (the one
 * of docs/map.md): the control block, each range's header and payload,
 * allocated and free ranges in address order and to scale, with the
 * figures of each in a tooltip.  Reads the heap as wd_heap_walk does (and
 * aborts on a corrupted header as it does); writes to out (stdout when
 * NULL) with stdio.  Not thread-safe, like every call on a heap.  0, or -1
 * when the write failed.  In libwarden only (not in a freestanding build
 * of the heap alone). */
WD_API int wd_heap_map_svg(wd_heap_t *h, FILE *out);
#endif

/* Fills *out.  O(1); largest_free is the largest request malloc serves now
 * (aborts with a `warden:` line if the free range it reads was corrupted). */
WD_API void wd_heap_stats(wd_heap_t *h, wd_heap_stats_t *out);

/* Calls visit(start, size, allocated, arg) for every range in address
 * order; start is the payload (what malloc returned, or would return),
 * size its usable bytes.  Stops early and returns visit's value when it is
 * non-zero; returns 0 after the last range.  Aborts with a `warden:` line
 * on a corrupted header (wd_heap_check is the call that never aborts). */
WD_API int wd_heap_walk(wd_heap_t *h,
                        int (*visit)(void *start, size_t size, int allocated, void *arg),
                        void *arg);

#ifdef WD_HEAP_FREESTANDING
/* Supplied by the program in the freestanding build: called once on misuse
 * (what: "double free", "invalid pointer", "corrupted block header" ...;
 * addr: the block; fn: the call that found it) and must not return. */
void wd_heap_fatal(const char *what, const void *addr, const char *fn);
#endif

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_HEAP_H */
