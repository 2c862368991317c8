/* sample.c -- owns the sampling policy (sample.h).  Calls nothing. */
#include "debug/sample.h"

/* The mean countdown; 0 when nothing samples. */
static intptr_t sample_mean;

void wdi_sample_init(void) {
    sample_mean = 0; /* the sampled diagnostics set theirs here */
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

intptr_t wdi_sample_next(uint64_t *rng) {
    intptr_t mean = __atomic_load_n(&sample_mean, __ATOMIC_RELAXED);
    if (mean == 0)
        return WD_SAMPLE_IDLE;
    /* Uniform in [1, 2 mean - 1]: mean on average, never two in a row
     * unless the mean is 1, and no floating point in the allocator. */
    return 1 + (intptr_t)(next_random(rng) % (uint64_t)(2 * mean - 1));
}
