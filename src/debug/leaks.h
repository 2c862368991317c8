/* leaks.h -- check mode's leak scan, LeakSanitizer's way: a conservative
 * scan from the roots (the writable memory of every loaded module, thread
 * stacks and TLS, whatever the program mapped itself, the calling thread's
 * registers) marks every block a word points into as reachable, and what
 * those blocks point to; of the rest, a block that another lost block
 * points to is indirectly lost, the others directly.  Lost blocks are
 * reported grouped by allocation stack, largest first. */
#ifndef WARDEN_LEAKS_H
#define WARDEN_LEAKS_H

#include <stddef.h>

typedef struct wd_leaks_s {
    size_t lost_bytes, lost_blocks;         /* directly and indirectly */
    size_t indirect_bytes, indirect_blocks; /* of them, indirectly */
    size_t reachable_bytes, reachable_blocks;
} wd_leaks_t;

/* Scans, reports the lost blocks (and the reachable ones too when all is
 * set), and fills *out.  Other threads' calls wait meanwhile. */
void wdi_leaks_check(int all, wd_leaks_t *out);

#endif /* WARDEN_LEAKS_H */
