/* sample.c -- owns the sampling policy (sample.h).  Calls options.h. */
#include "debug/sample.h"

#include "base/options.h"

/* The mean countdown; 0 when nothing samples. */
static intptr_t sample_mean;

/* The guard sampler's mean: guard_sample=N, one allocation in N (not in
 * check mode, which has check=2 for that). */
static intptr_t guard_mean(void) {
    return wdi_checking ? 0 : (intptr_t)wdi_options.guard_sample;
}

void wdi_sample_init(void) {
    sample_mean = guard_mean(); /* the sampled diagnostics set theirs here */
}

/* xorshift64: a heap's private random stream. */
static uint64_t next_random(uint64_t *rng) {
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return x;
}

/* The guard sampler's first countdown in the process is 1: the first
 * heap's third allocation is sampled (api.c: its first makes the heap,
 * its second starts the clock).  A program that damages the heap
 * from its first blocks on (an off-by-one in a loop) is then caught in the
 * act, with the faulting line, before the always-on checks stop it at a
 * damaged free list with one line and no stack; and a short run gets one
 * guarded block at least.  It costs one slot, once. */
static int guard_first_taken;

static int guard_first(void) {
    return wdi_options.guard_sample != 0 && !wdi_checking &&
           !__atomic_exchange_n(&guard_first_taken, 1, __ATOMIC_RELAXED);
}

intptr_t wdi_sample_next(uint64_t *rng) {
    intptr_t mean = __atomic_load_n(&sample_mean, __ATOMIC_RELAXED);
    if (mean == 0)
        return WD_SAMPLE_IDLE;
    if (wd_unlikely(guard_first()))
        return 1;
    /* Uniform in [1, 2 mean - 1]: mean on average, never two in a row
     * unless the mean is 1, and no floating point in the allocator. */
    return 1 + (intptr_t)(next_random(rng) % (uint64_t)(2 * mean - 1));
}
