/* check.h -- WARDEN_OPTIONS=check=1: the memory checker (docs/check.md).
 *
 * Every block the program gets is a raw block of the tiers (raw.h) with
 * redzones on both sides:
 *
 *     raw block:  [ record 16 | pad | left redzone 16 | n bytes | right redzone >= 16 ]
 *                                                      ^ the program's pointer
 *
 * What the checker knows of a block (size, how it was allocated, its
 * alignment, the allocation stack) lives in a small block's record, keyed
 * so that an overflow or a stale pointer does not make a live one (an
 * underflow past the left redzone damages it, and is reported as such),
 * and for other blocks in a table keyed by the program's pointer
 * (blocks.h).  A freed block's entry, with its free stack, goes with it
 * into the quarantine.  New blocks are filled with a junk pattern, freed ones
 * with another and held in a quarantine of bounded bytes; redzones and
 * patterns are checked at free, realloc, when a block leaves the
 * quarantine, and at exit.  Every misuse is reported with stacks
 * (report.h), counted, and then ignored so the program goes on, unless
 * abort_on_error=1.  At exit the live blocks are checked, the leaks are
 * reported (a conservative scan from the roots: loaded modules' writable
 * data, thread stacks, anything the program mapped), and one summary line
 * is printed.
 *
 * The level is chosen at the first allocation (like harden=2, which check
 * mode replaces): blocks of both kinds never coexist, and fast mode has no
 * branch of it on its fast paths (the thread heaps are hidden, as with
 * harden=2, so every call reaches the slow path that calls these). */
#ifndef WARDEN_CHECK_H
#define WARDEN_CHECK_H

#include <stddef.h>

/* How a block was allocated, and how it is given back: a mismatch (a
 * block from new[] given to delete or free, ...) is reported. */
typedef enum {
    WD_FROM_MALLOC = 0, /* malloc, calloc, realloc, aligned_alloc, free ... */
    WD_FROM_NEW = 1,    /* operator new / delete */
    WD_FROM_NEW_ARRAY = 2 /* operator new[] / delete[] */
} wd_alloc_kind_t;

/* Reads the options of check mode and sets wdi_checking (options.h);
 * called once by the process start, after wdi_harden_init. */
void wdi_check_init(void);

/* The options were read after the first allocation: check mode can no
 * longer start, which is said. */
void wdi_check_late(void);

/* The malloc family in check mode; fn names the API entry for reports
 * (wdi_check_free: C's frees; C++'s deletes go through
 * wdi_check_free_aligned). */
void *wdi_check_alloc(size_t alignment, size_t size, int zero, wd_alloc_kind_t kind);
void wdi_check_free(void *p, wd_alloc_kind_t kind, const char *fn);
void *wdi_check_realloc(void *p, size_t size);
size_t wdi_check_usable(const void *p, const char *fn);
/* alignment is 0 for free_sized. */
void wdi_check_free_sized(void *p, size_t alignment, size_t size, wd_alloc_kind_t kind,
                          const char *fn);
/* C++'s delete without a size: the block must be one new got with that
 * alignment (0: none, plain delete). */
void wdi_check_free_aligned(void *p, size_t alignment, wd_alloc_kind_t kind, const char *fn);

/* At exit: checks the live and quarantined blocks, reports the leaks (with
 * leaks=1 or more), prints the summary; registered with atexit. */
void wdi_check_at_exit(void);

/* At _exit or _Exit (which skip atexit): the quarantined and live blocks
 * are checked as at exit, with the locks only tried (no leak scan, and a
 * summary only when something was reported); returns the status to end
 * with (error_exitcode's when set and an error was reported).  Nothing in
 * a child of vfork, which shares its parent's memory. */
int wdi_check_at_quick_exit(int status);

/* A thread exits: the frees its heap h holds back join the quarantine. */
struct wd_theap_s;
void wdi_check_heap_exit(struct wd_theap_s *h);

/* fork(): the checker's locks are held across it. */
void wdi_check_fork_prepare(void);
void wdi_check_fork_parent(void);
void wdi_check_fork_child(void);

#endif /* WARDEN_CHECK_H */
