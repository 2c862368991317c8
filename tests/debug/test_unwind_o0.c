/* test_unwind_o0.c -- frames of -O0 code for test_unwind (test_unwind.h):
 * each keeps RBP as its frame pointer and its CFA rule is RBP + 16 from
 * the third instruction on. */
#include "test_unwind.h"

void o0_plain(int depth, uint32_t seed, unwind_next_fn next) {
    volatile int here = depth;
    next(here, seed);
    here++;
}

void o0_vla(int depth, uint32_t seed, unwind_next_fn next) {
    volatile char vla[8 + (seed & 127)];
    vla[0] = (char)depth;
    next(depth, seed);
    vla[1] = vla[0];
}
