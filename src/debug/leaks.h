/* leaks.h -- check mode's leak scan, LeakSanitizer's way: a conservative
 * scan from the roots (the writable memory of every loaded module, thread
 * stacks from their stack pointers up and TLS, whatever the program mapped
 * itself but the stacks of threads that have exited, the calling thread's
 * registers) marks every block a word points into as reachable, and what
 * those blocks point to; of the rest, a block that another lost block
 * points to is indirectly lost, the others directly.  Lost blocks are
 * reported grouped by allocation stack, largest first, but those a
 * suppression leaves out (suppress.h: counted apart). */
#ifndef WARDEN_LEAKS_H
#define WARDEN_LEAKS_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_leaks_s {
    size_t lost_bytes, lost_blocks;         /* directly and indirectly */
    size_t indirect_bytes, indirect_blocks; /* of them, indirectly */
    size_t reachable_bytes, reachable_blocks;
    size_t suppressed_bytes, suppressed_blocks; /* lost, matched by a suppression (suppress.h) */
} wd_leaks_t;

/* Scans, reports the lost blocks (and the reachable ones too when all is
 * set), and fills *out.  Other threads' calls wait meanwhile.  dead: the
 * thread pointers of ndead threads that have exited (wdi_os_thread_pointer
 * at their exit): their stacks, which glibc keeps mapped for its next
 * threads, are no roots while no running thread's stack is there.
 * live_sp: where the calling thread's live frames begin, above the
 * scan's own (at exit: the caller of exit); 0: at the scan's frame. */
void wdi_leaks_check(int all, const uintptr_t *dead, size_t ndead, uintptr_t live_sp,
                     wd_leaks_t *out);

#endif /* WARDEN_LEAKS_H */
