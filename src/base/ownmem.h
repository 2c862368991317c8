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

/* [p, p + size) is warden's.  A full list (4,096) forgets the rest and
 * counts them (wdi_own_dropped): a scan that reads such a mapping takes the
 * blocks whose addresses it holds for reachable. */
void wdi_own_add(const void *p, size_t size);
/* The mapping that starts at p is gone. */
void wdi_own_remove(const void *p);
/* Calls fn on each range, [start, end). */
void wdi_own_foreach(void (*fn)(uintptr_t start, uintptr_t end, void *arg), void *arg);
/* How many ranges a full list forgot. */
size_t wdi_own_dropped(void);

#endif /* WARDEN_OWNMEM_H */
