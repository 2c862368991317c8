/* raw.h -- the tiers behind one interface: which tier a size goes to, and
 * for a pointer given back, which tier owns it and whether it is a live
 * block there.  No wrapping: the malloc family (api.c) calls these for
 * everything its fast paths do not do, and the wrappers that add checks
 * (harden.c) build their blocks on them.  Every function checks the
 * pointer it is given and aborts with a report on misuse; fn names the API
 * entry for that report.  The process is initialised before any call. */
#ifndef WARDEN_RAW_H
#define WARDEN_RAW_H

#include <stddef.h>

/* A block from the tier that size and alignment call for (alignment a
 * power of two), zeroed when zero is set.  NULL with errno = ENOMEM on
 * failure. */
void *wdi_raw_alloc(size_t alignment, size_t size, int zero);

/* The same from the medium or large tier whatever the size: a block that
 * malloc's and free's fast paths never see (small pages are theirs), so
 * every free of it comes down to wdi_raw_free and the layers above can
 * look at it there (the heap profiler's samples). */
void *wdi_raw_alloc_apart(size_t alignment, size_t size, int zero);

/* Set while the heap profiler runs (api.c; NULL otherwise): called when
 * the small path here gave heap h a page of a class larger than any it had
 * (its top_end passed its prof_end), so that the profiler's countdown is
 * drawn for the larger slot before a malloc of the fast path reaches that
 * page.  That is the one place outside api.c's own refill where a heap's
 * top_end grows, so api.c need not look after every block it asks for. */
struct wd_theap_s;
extern void (*wdi_raw_class_grew)(struct wd_theap_s *h);

/* Frees p, a block of any tier. */
void wdi_raw_free(void *p, const char *fn);

/* realloc for p != NULL and size != 0: in place when the tier can, else
 * moved (the contents copied); NULL with errno = ENOMEM and p untouched. */
void *wdi_raw_realloc(void *p, size_t size, const char *fn);

/* Bytes usable in p. */
size_t wdi_raw_usable(const void *p, const char *fn);

/* The same for a block known to be live (harden.c: its canaries just
 * passed): a small block's size without the checks. */
size_t wdi_raw_usable_known(const void *p, const char *fn);

/* free_sized: aborts unless size is one the program may pass for p (see
 * raw.c), then frees p. */
void wdi_raw_free_sized(void *p, size_t size, const char *fn);

#endif /* WARDEN_RAW_H */
