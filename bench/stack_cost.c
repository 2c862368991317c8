/* stack_cost.c -- what one stack capture costs (wdi_stack_capture,
 * src/debug/stack.h), for the figures of docs/design.md ("Stacks for
 * reports").
 *
 * Captures a 12-frame stack (8 levels of recursion under main, then main,
 * libc's two start functions and _start) `rounds` times and prints the
 * frame count and the time per capture.  Counted in instructions under
 * callgrind, the first capture is the cold one (nothing cached yet) and the
 * rest are warm:
 *
 *   valgrind --tool=callgrind --toggle-collect=wdi_stack_capture \
 *            --callgrind-out-file=cg.1 build/bench/stack_cost 1
 *   valgrind --tool=callgrind --toggle-collect=wdi_stack_capture \
 *            --callgrind-out-file=cg.N build/bench/stack_cost 10001
 *
 * cold = the total of cg.1, warm = (total of cg.N - cold) / 10000.
 *
 * usage: stack_cost [rounds]   (default 1000000) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "debug/stack.h"

static void *pcs[WD_STACK_MAX];

__attribute__((noinline)) static int deep(int d) {
    int n = d == 0 ? wdi_stack_capture(pcs, WD_STACK_MAX, 0) : deep(d - 1);
    __asm__ volatile("" ::: "memory"); /* no tail call: every level a frame */
    return n;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 1000000;
    int n = 0;
    double t0 = seconds();
    for (long i = 0; i < rounds; i++)
        n = deep(7);
    double t1 = seconds();
    printf("%d frames, %.1f ns a capture (%ld rounds)\n", n,
           rounds > 0 ? (t1 - t0) / (double)rounds * 1e9 : 0.0, rounds);
    return 0;
}
