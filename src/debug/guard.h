/* guard.h -- blocks placed against inaccessible pages, so that the access
 * that runs off a block, or comes after its free, faults at the faulting
 * instruction and is reported there (fault.h), with the stacks of the
 * access, of the allocation and of the free.  One mechanism for two users:
 *
 * - the guard sampler (guard_sample=N, on by default; docs/guard.md): one
 *   allocation in N on average takes a slot of a fixed pool (16 slots,
 *   at most 4 MiB of memory in them, blocks up to 1 MiB: the small and
 *   medium tiers); the other blocks never know;
 * - check=2 (docs/check.md): every block of check mode up to 64 MiB, in
 *   cells of 1 to 16,384 pages, with check=1's redzones and table besides.
 *
 * A block's cell is its pages and an inaccessible page after them, and the
 * inaccessible page of the cell before it in front:
 *
 *     [guard][ .. slack | block ][guard][ block | slack .. ][guard]
 *              end-aligned              start-aligned
 *
 * An end-aligned block ends at the guard (to its alignment: the slack after
 * it is less than 16 bytes) and catches overflows (the sampler's ends on
 * the slot's first closed page, which faults as the guard does, so that a
 * one-page block of either kind takes the slot's first page); a
 * start-aligned one starts right after the guard and catches underflows; the sampler
 * alternates, check=2 follows check_align.  The slack is filled with 0xfa
 * and checked when the block is freed.  Only the pages the block needs are
 * opened; freed, they are made inaccessible again (their memory goes back
 * to the OS) and stay so until the cell is reused: the sampler reuses the
 * slot freed longest ago, check=2 a cell of the size once the freed cells
 * pass check_guard_mb of address space.
 *
 * Each mapping of cells is registered in the segment map as a region of
 * kind WD_KIND_GUARD: the fast paths of free, realloc and friends test for
 * WD_KIND_SMALL and send everything else down their slow paths (api.c),
 * which hand guarded blocks here.
 *
 * What is known of a block (size, how it was allocated, its state, the
 * stacks) is kept out of band, in records beside the cells, so an overflow
 * cannot damage it.  Slots are claimed with a compare-and-swap (no lock:
 * a fork child keeps the pool as it is; a slot that another thread was
 * claiming at the fork is lost to the child); check=2's cells per size
 * under a lock, held across fork.
 *
 * Calls: fault.h, stack.h, report.h, symbol.h, segment.h (registration),
 * ownmem.h, os.h, lock.h, options.h. */
#ifndef WARDEN_GUARD_H
#define WARDEN_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/segment.h"

/* The sampler's pool: slots, the largest block one takes (the small and
 * the medium tiers' blocks: up to 1 MiB), and the bytes of the pages open
 * in all of them at once at most (the sampled blocks themselves: memory
 * the program would hold anyway, with a page's rounding each).  16 slots,
 * as LLVM's GWP-ASan has by default: a freed slot stays closed (and keeps
 * no page) for 15 samples, some 750,000 allocations at the default rate. */
#define WDI_GUARD_SLOTS 16
#define WDI_GUARD_SAMPLE_MAX ((size_t)1 << 20)
#define WDI_GUARD_POOL_BYTES ((size_t)4 << 20)

/* check=2: the largest block in a cell (the largest cell, 16,384 pages);
 * a larger one gets check=1's redzones only. */
#define WDI_GUARD_CHECK_MAX ((size_t)64 << 20)

/* 1 when p lies in a mapping of guarded cells. */
static inline int wdi_guard_owns(const void *p) {
    wd_region_t *r = wdi_region_of(p);
    return r != NULL && r->kind == WD_KIND_GUARD;
}

/* Reads the sampler's options (called by the process start). */
void wdi_guard_init(void);

/* --- the sampler ---------------------------------------------------------- */

/* A sampled block of size bytes aligned to alignment (a power of two, at
 * most a page), zeroed, from a free slot; NULL when the sampler is off, the
 * size is not covered or no slot (or page budget) is free: the caller
 * allocates as usual then.  kind: 0 malloc, 1 new, 2 new[] (for reports). */
void *wdi_guard_sample(size_t alignment, size_t size, int kind);

/* The malloc family on a sampled block (wdi_guard_owns(p)): free checks
 * the slack and closes the pages; a bad pointer or a double free is
 * reported, then aborts (guard_continue=1: ignored). */
void wdi_guard_free(void *p, const char *fn);
/* The requested size (0 after a report with guard_continue=1). */
size_t wdi_guard_usable(const void *p, const char *fn);

/* --- check=2 --------------------------------------------------------------- */

/* A block for check mode: size bytes at p, aligned to align (a power of
 * two at most front), with front bytes before p (its left redzone, a power
 * of two at most a page) in the open pages unless at_start (then p starts
 * the cell, right after the guard).  *raw and *end get the open bytes around the block
 * that check mode fills and checks ([*raw, p) and [p + size, *end)).
 * stack is the allocation's stack id.  NULL when size is above
 * WDI_GUARD_CHECK_MAX, the live blocks' pages would pass
 * check_guard_live_mb or no address space is left: check=1's layout then. */
void *wdi_guard_check_alloc(size_t align, size_t front, size_t size, int at_start, int kind,
                            uint32_t stack, uint8_t **raw, uint8_t **end);

/* check=2 at start: the fault handler is put in place before any block
 * is guarded, so that a program that dies of a fault before its first
 * block (a null pointer from a malloc that failed) gets its report and
 * check mode's summary as under check=1. */
void wdi_guard_check_arm(void);

/* How many blocks wdi_guard_check_alloc left to check=1's layout because
 * the live ones' pages reached check_guard_live_mb. */
size_t wdi_guard_unguarded(void);

/* The open bytes around check=2's live block p (as wdi_guard_check_alloc
 * gave them). */
void wdi_guard_bounds(const void *p, uint8_t **raw, uint8_t **end);

/* check=2: whether an overflow of live block p into its guard page was
 * reported where it happened (its free then does not report the slack). */
int wdi_guard_overflowed(const void *p);

/* check=2's block p (checked live by check mode) is freed: its pages
 * become inaccessible, the cell waits for reuse; stack is the free's. */
void wdi_guard_check_free(void *p, uint32_t stack);

/* check=2: what the cell of p knows when p is a block that was freed and
 * whose cell no block took since (a double free after check mode's
 * history forgot it): 1 with its size, kind and both stacks; else 0. */
int wdi_guard_check_freed(const void *p, size_t *size, unsigned *kind, uint32_t *alloc_stack,
                          uint32_t *free_stack);

/* fork(): check=2's locks are held across it. */
void wdi_guard_fork_prepare(void);
void wdi_guard_fork_parent(void);
void wdi_guard_fork_child(void);

/* For tests and statistics: sampled blocks handed out, live now, and
 * the bytes the program asked for in those (the statistics' live bytes
 * count them). */
size_t wdi_guard_sampled(void);
size_t wdi_guard_live(void);
size_t wdi_guard_live_bytes(void);

#endif /* WARDEN_GUARD_H */
