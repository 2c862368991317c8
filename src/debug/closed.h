/* closed.h -- check=1's freed large blocks, kept inaccessible for a while
 * instead of filled with a pattern, so that a read or a write after free
 * anywhere in one faults at the access and is reported there.
 *
 * A freed block of check=1 too large for the quarantine (over an eighth
 * of what it may hold: check.c sends it here) keeps its raw block from the
 * tiers; the whole pages inside the block are made inaccessible
 * (mprotect), and the block waits in a FIFO of at most 4,096 blocks.
 * The pages keep their memory while they wait, bounded by the bytes the
 * caller allows (check.c: what its quarantine may hold), so that when the
 * block leaves, opened again, the tiers hand its warm pages out as before:
 * a block whose memory went back to the OS at every free would fault all
 * its pages in again at its next use (a program that churns blocks of
 * hundreds of KiB took 7.8 times the CPU time that way).  A block larger
 * than that bound gives its memory back while it waits (MADV_DONTNEED; its
 * pages stay inaccessible), within a bound of address space.  The bytes
 * before the first and after the last whole page are the caller's to fill
 * and check (a pattern, as for the quarantine's blocks).
 *
 * The fault handler (fault.h) asks wdi_closed_claim first: an access to
 * a waiting block is reported through the caller's report function, and
 * the block's pages are opened so that the program goes on.
 *
 * Calls: os.h (mprotect, madvise), lock.h, ownmem.h. */
#ifndef WARDEN_CLOSED_H
#define WARDEN_CLOSED_H

#include <stddef.h>
#include <stdint.h>

#include "debug/blocks.h"
#include "debug/fault.h"

/* What the caller does with a block: release (its raw block goes back to
 * the tiers; b's bytes outside its whole pages are to be checked first)
 * and report (a fault at f->addr in b, which is freed; the report's
 * headline, the access's stack and the block's stacks). */
typedef struct wdi_closed_calls_s {
    void (*release)(const wd_block_info_t *b);
    void (*report)(const wd_block_info_t *b, const wd_fault_t *f);
} wdi_closed_calls_t;

/* Sets the caller's functions (check mode's start). */
void wdi_closed_init(const wdi_closed_calls_t *calls);

/* b (freed: its state and free stack set) waits here with its whole pages
 * closed; warm_max: the bytes of waiting blocks that may keep their
 * memory.  The blocks that leave to make room are released (the caller's
 * release, outside the FIFO's lock).  0 when b does not wait (no whole
 * page, no room, a system call refused): the caller releases it. */
int wdi_closed_put(const wd_block_info_t *b, size_t warm_max);

/* The first and the last whole page of the block [p, p + size): the
 * bytes [p, *lo) and [*hi, p + size) stay open while it waits (*lo ==
 * *hi: none closes). */
void wdi_closed_span(uintptr_t p, size_t size, uintptr_t *lo, uintptr_t *hi);

/* The fault handler's claim (fault.h): 1 when f is an access to a waiting
 * block (reported; its pages are open again) or to one that left while
 * the fault was on its way (retried once), 0 otherwise: a fault in pages
 * the program protected itself goes on to the program's handler. */
int wdi_closed_claim(const wd_fault_t *f);

/* Calls fn on every waiting block (check mode's exit: the bytes outside
 * their whole pages are checked), with the FIFO's lock held; wait 0: not
 * at all when another thread holds it. */
void wdi_closed_each(void (*fn)(const wd_block_info_t *b), int wait);

/* fork(): the FIFO's lock is held across it. */
void wdi_closed_fork_prepare(void);
void wdi_closed_fork_parent(void);
void wdi_closed_fork_child(void);

#endif /* WARDEN_CLOSED_H */
