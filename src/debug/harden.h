/* harden.h -- WARDEN_OPTIONS=harden=2: the checks that cost real time.
 *
 * The default level (1) checks what it can from the metadata the tiers
 * keep anyway.  Level 2 wraps every block the tiers hand out:
 *
 *     raw block:  [ front (>= 16) ........ | n bytes | tail 8 | slack ]
 *                               prefix 16 ^ user pointer
 *
 * The prefix (the 16 bytes before the user's pointer) holds the requested
 * size and the alignment, and a tag keyed by a random secret and the
 * address; the 8 bytes right after the request repeat the tag.  Free and
 * realloc check both, so an overflow or an underflow of a single byte is
 * caught.  Freed blocks are filled with a pattern and held back in a
 * per-thread quarantine; the pattern is checked when they leave it (and at
 * exit), so a write after free is caught.  The level is chosen once, at the
 * first allocation: blocks of both kinds never coexist.
 *
 * Freed blocks are filled from the pointer to the end of their raw block
 * (request, tail canary, slack), over 256 bytes at most, and the same
 * bytes are checked (docs/security.md says what that leaves out).
 * Small requests come straight from the thread's pages (wdi_hard_malloc,
 * called by api.c's refill path), the rest through raw.h.
 *
 * The tiers add their part when wdi_harden2 is set: allocation order
 * inside small pages is random (page.c), the last 64 KiB of every segment
 * is a guard (segment.c), and large blocks get a guard page after them,
 * set once per mapping and kept while it is cached (large.c). */
#ifndef WARDEN_HARDEN_H
#define WARDEN_HARDEN_H

#include <stddef.h>

#include "base/internal.h"

struct wd_theap_s;
struct wd_page_s;

/* Large blocks a thread's quarantine holds at most: each costs a few
 * mappings, and their resident bytes, which no new block can take (it
 * faults in fresh pages instead).  32 blocks and 64 MiB before 2026-12-06:
 * malloc_large 300 took 82.8 K minor faults, 54.5 K with these bounds
 * (docs/security.md). */
#define WDI_QUARANTINE_LARGE 8
#define WDI_QUARANTINE_LARGE_BYTES ((size_t)16 << 20)

/* Reads the level from the options and sets wdi_harden2 (options.h);
 * called once by the process initialisation, before the first block is
 * handed out. */
void wdi_harden_init(void);

/* The options were read after the first allocation: the level can no
 * longer change, so a late harden=2 is reported and ignored. */
void wdi_harden_late(void);

/* The malloc family at level 2; fn names the API entry for reports. */
void *wdi_hard_alloc(size_t alignment, size_t size, int zero);
/* malloc(size) for the thread whose heap is h (wdi_tl_home), its sampler's
 * countdown moved already (api.c): the small blocks' fast path. */
void *wdi_hard_malloc(struct wd_theap_s *h, size_t size);
void wdi_hard_free(void *p, const char *fn);
/* free of p whose segment-map entry says small, pg the page it falls in
 * (api.c's free found both): the common case without looking them up
 * again; the rest as wdi_hard_free. */
void wdi_hard_free_small(struct wd_page_s *pg, void *p, const char *fn);
void *wdi_hard_realloc(void *p, size_t size);
size_t wdi_hard_usable(const void *p, const char *fn);
void wdi_hard_free_sized(void *p, size_t alignment, size_t size, const char *fn);

/* A thread heap goes away (its thread exits): its quarantine is checked
 * and emptied, so an abandoned heap holds no freed memory back. */
void wdi_hard_heap_exit(struct wd_theap_s *h);

/* Checks the quarantines that may be read at exit (the calling thread's,
 * exited threads'): a write after free into a block still held is caught. */
void wdi_hard_at_exit(void);

#endif /* WARDEN_HARDEN_H */
