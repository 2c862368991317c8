/* heap_freestanding.c -- the classic heap built alone, as on a
 * microcontroller: src/classic/heap.c and include/warden/heap.h, nothing
 * else of warden, no libc but memset and memcpy.
 *
 *   cc -ffreestanding -Os -DWD_HEAP_FREESTANDING -Iinclude -c src/classic/heap.c
 *   cc -ffreestanding -Os -DWD_HEAP_FREESTANDING -Iinclude -c examples/heap_freestanding.c
 *
 * The program supplies what the heap cannot find on such a platform: the
 * secret's seed (here a constant; on a board, its unique ID mixed with a
 * free-running timer or a hardware RNG) and wd_heap_fatal, called once on
 * misuse (here a trap; on a board, log and reset).  This file itself uses
 * no libc either, so it runs the same on the host (ctest heap_freestanding,
 * which links it and prints the heap's code size) and on a board.
 * Exit status 0 when the heap behaved. */
#include <stddef.h>
#include <stdint.h>

#include "warden/heap.h"

static unsigned char memory[4096] __attribute__((aligned(16)));

void wd_heap_fatal(const char *what, const void *addr, const char *fn) {
    (void)what, (void)addr, (void)fn;
    __builtin_trap();
}

int main(void) {
    wd_heap_t *h = wd_heap_init_seeded(memory, sizeof memory, 0x5eed5eed12345678ULL);
    if (h == NULL)
        return 1;
    unsigned char *a = wd_heap_malloc(h, 100);
    unsigned char *b = wd_heap_malloc(h, 240);
    if (a == NULL || b == NULL)
        return 2;
    for (int i = 0; i < 100; i++)
        a[i] = (unsigned char)i;
    wd_heap_free(h, a);
    wd_heap_free(h, b); /* merges with a's range and the rest: one range */
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    if (st.free_blocks != 1 || st.allocated_blocks != 0)
        return 3;
    /* the whole 4 KiB, control block inside, as one block */
    unsigned char *all = wd_heap_malloc(h, st.largest_free);
    if (all == NULL || wd_heap_malloc(h, 16) != NULL)
        return 4;
    wd_heap_free(h, all);
    return wd_heap_check(h) == 0 ? 0 : 5;
}
