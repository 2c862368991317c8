/* info.h -- glibc's introspection with warden's figures: malloc_info's
 * XML in glibc's own schema and mallinfo2's fields, from one collection
 * so that the two always agree (docs/stats.md says which figure is
 * which).  The standard names are api/override.c's. */
#ifndef WARDEN_INFO_H
#define WARDEN_INFO_H

#include <stddef.h>
#include <stdio.h>

/* struct mallinfo2's fields, by glibc's names. */
typedef struct wd_mallinfo_s {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
} wd_mallinfo_t;

void wdi_mallinfo(wd_mallinfo_t *out);

/* malloc_info(0, out): <malloc version="1"> with a <heap> per thread heap
 * and one for the medium tier, then the totals.  Collects, then writes
 * with stdio (no lock held).  0, or -1 when out refused the text. */
int wdi_malloc_info(FILE *out);

#endif /* WARDEN_INFO_H */
