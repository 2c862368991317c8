/* xorshift.h -- the benchmarks' random stream: xorshift64 from a fixed
 * seed, so that every run and every allocator sees the same sequence of
 * calls. */
#ifndef WARDEN_BENCH_XORSHIFT_H
#define WARDEN_BENCH_XORSHIFT_H

#include <stdint.h>

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#endif /* WARDEN_BENCH_XORSHIFT_H */
