/* medium_cost.c -- warden's malloc on medium blocks, for instruction counts.
 *
 * 100,000 calls on 16 slots: an empty slot gets wd_malloc of 64 KiB to
 * 1 MiB (log-uniform), a full one wd_free; then every slot is freed.  Each
 * medium block lives in a classic heap (src/core/medium.c), so this is the
 * classic heap's cost as the drop-in allocator's medium tier pays it, with
 * the segment lock, statistics and decommit bookkeeping around it.
 * bench/heap_cost.sh runs it under callgrind with --toggle-collect on
 * wd_malloc, then on wd_free (WARDEN_VALGRIND=0) and divides by the calls
 * printed here. */
#include <stdint.h>
#include <stdio.h>

#include <warden.h>

#include "xorshift.h"


int main(void) {
    void *slot[16] = {0};
    unsigned long n_malloc = 0, n_free = 0;
    for (int i = 0; i < 100000; i++) {
        unsigned j = (unsigned)(rnd() % 16);
        if (slot[j]) {
            wd_free(slot[j]);
            slot[j] = NULL;
            n_free++;
        } else {
            size_t base = (size_t)65536 << (rnd() % 4), n = base + (size_t)(rnd() % base);
            slot[j] = wd_malloc(n < ((size_t)1 << 20) ? n : (size_t)1 << 20);
            n_malloc++;
        }
    }
    for (int j = 0; j < 16; j++)
        if (slot[j]) {
            wd_free(slot[j]);
            n_free++;
        }
    printf("calls: malloc %lu free %lu\n", n_malloc, n_free);
    return 0;
}
