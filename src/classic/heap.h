/* heap.h -- what the rest of warden may call in the classic heap (heap.c).
 *
 * The public wd_heap_* functions (include/warden/heap.h) are thin wrappers
 * over these: the only difference is `fn`, the name of the API entry that a
 * misuse report names (`warden: double free at 0x... in free` when the
 * global allocator's medium tier calls in, `... in wd_heap_free` when a
 * program uses the heap directly). */
#ifndef WARDEN_SRC_HEAP_H
#define WARDEN_SRC_HEAP_H

#include <stddef.h>

#include "warden/heap.h"

void *wdi_heap_malloc(wd_heap_t *h, size_t size, const char *fn);
void *wdi_heap_memalign(wd_heap_t *h, size_t alignment, size_t size, const char *fn);
void *wdi_heap_realloc(wd_heap_t *h, void *p, size_t size, const char *fn);
/* Resizes the live block p in place (shrinking, or growing into a free
 * right neighbour); 0 on success, -1 when it cannot (p unchanged). */
int wdi_heap_resize(wd_heap_t *h, void *p, size_t size, const char *fn);
/* Usable bytes of the allocated blocks, headers left out (as the other
 * tiers count them; wd_heap_stats' used_bytes includes the headers). */
size_t wdi_heap_used_bytes(const wd_heap_t *h);
void wdi_heap_free(wd_heap_t *h, void *p, const char *fn);
size_t wdi_heap_usable_size(wd_heap_t *h, const void *p, const char *fn);

#endif /* WARDEN_SRC_HEAP_H */
