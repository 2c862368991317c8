/* sample.c -- owns the sampling policy (sample.h).  Calls: os.h (a
 * thread's seed), options.h (profile=, profile_rate=), page.h (the
 * largest small size). */
#include "debug/sample.h"

#include "base/options.h"
#include "core/page.h"
#include "os/os.h"

/* The mean countdown; 0 when nothing samples. */
static intptr_t sample_mean;

/* The heap profiler's mean bytes between samples (R); 0: not profiling.
 * prof_small_q is p(WD_SMALL_MAX), the chance the countdown draws a small
 * malloc with.  Fixed by wdi_sample_init before the malloc that reads
 * them can run (the process start), and again only by a late start. */
static double prof_rate;
static double prof_small_q;

/* xorshift64: a heap's private random stream. */
static uint64_t next_random(uint64_t *rng) {
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return x;
}

/* --- arithmetic without libm --------------------------------------------- */

/* Uniform in (0, 1], 53 bits. */
static double uniform(uint64_t *rng) {
    return (double)((next_random(rng) >> 11) + 1) * 0x1p-53;
}

/* 1 - exp(-x) for 0 <= x < 0.5: x (1 - x/2 (1 - x/3 (1 - ...))), 15 terms
 * (the first left out is below 0.5^16 / 16!). */
static double expm1_neg_small(double x) {
    double t = 1.0;
    for (int k = 16; k >= 2; k--)
        t = 1.0 - x / k * t;
    return x * t;
}

/* 1 - exp(-x) for x >= 0: the series where x is small (no cancellation),
 * else exp(-x) = exp(-x / 2^m)^(2^m) with x / 2^m below 0.5. */
static double one_minus_exp_neg(double x) {
    if (x < 0.5)
        return expm1_neg_small(x);
    if (x > 60.0)
        return 1.0; /* exp(-60) is below a double's precision next to 1 */
    int m = 0;
    while (x >= 0.5) {
        x *= 0.5;
        m++;
    }
    double e = 1.0 - expm1_neg_small(x);
    while (m-- > 0)
        e *= e;
    return 1.0 - e;
}

/* -ln(u) for u in (0, 1]: u = f 2^e with f in [0.5, 1) from the bits, and
 * ln f = 2 atanh(t), t = (f - 1) / (f + 1) in [-1/3, 0), 11 odd terms. */
static double neg_log(double u) {
    union {
        double d;
        uint64_t b;
    } v = {u};
    int e = (int)((v.b >> 52) & 0x7ff) - 1022;
    v.b = (v.b & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1022 << 52);
    double f = v.d, t = (f - 1.0) / (f + 1.0), t2 = t * t, s = 0.0;
    for (int k = 21; k >= 1; k -= 2)
        s = 1.0 / k + t2 * s;
    return -((double)e * 0.69314718055994530942 + 2.0 * t * s);
}

/* --- the policy ------------------------------------------------------------ */

void wdi_sample_init(void) {
    sample_mean = 0; /* the sampled diagnostics set theirs here */
    prof_rate = 0.0;
    if (wdi_options.profile[0] != '\0') {
        prof_rate = wdi_options.profile_rate > 0 ? (double)wdi_options.profile_rate : 1.0;
        prof_small_q = one_minus_exp_neg((double)WD_SMALL_MAX / prof_rate);
    }
}

/* Profiling: the gap to the next small malloc drawn, geometric with
 * parameter q = 1 - exp(-M / R) (M = WD_SMALL_MAX): 1 + floor(E / M)
 * for E exponential of mean R, since P(E >= k M) = (1 - q)^k. */
static intptr_t profile_countdown(uint64_t *rng) {
    double gap = 1.0 + prof_rate * neg_log(uniform(rng)) / (double)WD_SMALL_MAX;
    return gap < (double)WD_SAMPLE_IDLE ? (intptr_t)gap : WD_SAMPLE_IDLE;
}

intptr_t wdi_sample_next(uint64_t *rng) {
    if (prof_rate != 0.0)
        return profile_countdown(rng);
    intptr_t mean = __atomic_load_n(&sample_mean, __ATOMIC_RELAXED);
    if (mean == 0)
        return WD_SAMPLE_IDLE;
    /* Uniform in [1, 2 mean - 1]: mean on average, never two in a row
     * unless the mean is 1, and no floating point in the allocator. */
    return 1 + (intptr_t)(next_random(rng) % (uint64_t)(2 * mean - 1));
}

int wdi_sample_pick_small(uint64_t *rng, size_t size) {
    return uniform(rng) * prof_small_q <= one_minus_exp_neg((double)size / prof_rate);
}

/* The calling thread's stream for the allocations no heap's countdown
 * sees (a thread may have no heap: an exiting one, the wrappers). */
static __thread uint64_t tl_rng __attribute__((tls_model("initial-exec")));

int wdi_sample_pick(size_t size) {
    if (wd_unlikely(tl_rng == 0))
        tl_rng = wdi_os_random() | 1;
    return uniform(&tl_rng) <= one_minus_exp_neg((double)size / prof_rate);
}

void wdi_sample_weight(size_t size, uint64_t *count, uint64_t *bytes) {
    double p = one_minus_exp_neg((double)size / prof_rate);
    if (p <= 0.0) { /* size 0: never picked; counted as one all the same */
        *count = 1;
        *bytes = size;
        return;
    }
    *count = (uint64_t)(1.0 / p + 0.5);
    *bytes = (uint64_t)((double)size / p + 0.5);
}
