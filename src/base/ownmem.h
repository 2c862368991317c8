/* ownmem.h -- the mappings warden makes for its own bookkeeping (thread
 * heaps, check mode's table and quarantine, the stack depot, the unwinder's
 * rules), listed so that check mode's leak scan does not take them for the
 * program's roots: they hold the addresses of blocks, or hold so many
 * words that reading them costs more than the rest of the scan.
 * Lock-free (a fixed table of claimed slots), so it needs nothing at fork
 * and may be used from any layer. */
#ifndef WARDEN_OWNMEM_H
#define WARDEN_OWNMEM_H

#include <stddef.h>
#include <stdint.h>

/* [p, p + size) is warden's; a full list (256) forgets the rest, which the
 * scan then reads: slower, never wrong. */
void wdi_own_add(const void *p, size_t size);
/* The mapping that starts at p is gone. */
void wdi_own_remove(const void *p);
/* Copies up to max ranges into start[i], end[i]; returns how many. */
size_t wdi_own_list(uintptr_t *start, uintptr_t *end, size_t max);

#endif /* WARDEN_OWNMEM_H */
