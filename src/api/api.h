/* api.h -- what the standard names (override.c) need of the malloc family
 * beyond warden.h: the C++ operators' entry points, which say whether new
 * or new[] asks (check mode reports a block from new[] given to delete).
 * Their fast paths are malloc's and free's own. */
#ifndef WARDEN_API_INTERNAL_H
#define WARDEN_API_INTERNAL_H

#include <stddef.h>

#include "debug/check.h"

/* operator new and new[]: alignment 0 (or <= 16) for the plain forms;
 * NULL with errno = ENOMEM on failure (the caller throws). */
void *wdi_new(size_t size, size_t alignment, wd_alloc_kind_t kind);

/* operator delete and delete[]; the sized forms check the size (and the
 * alignment, when not 0) as free_sized and free_aligned_sized do. */
void wdi_delete(void *p, wd_alloc_kind_t kind);
void wdi_delete_sized(void *p, size_t size, size_t alignment, wd_alloc_kind_t kind);
/* Aligned delete without a size: check mode checks the alignment. */
void wdi_delete_aligned(void *p, size_t alignment, wd_alloc_kind_t kind);

#endif /* WARDEN_API_INTERNAL_H */
