/* sample.c -- owns the sampling policy (sample.h).  Calls: os.h (a
 * thread's seed), options.h (profile=, profile_rate=). */
#include "debug/sample.h"

#include "base/options.h"
#include "os/os.h"

/* The mean countdown; 0 when nothing samples. */
static intptr_t sample_mean;

/* The heap profiler's mean bytes between samples (R); 0: not profiling.
 * Fixed by wdi_sample_init before the malloc that reads it can run (the
 * process start), and again only by a late start. */
static double prof_rate;

__thread size_t wdi_sample_mark __attribute__((tls_model("initial-exec"))) = SIZE_MAX;

/* The guard sampler's mean: guard_sample=N, one allocation in N (not in
 * check mode, which has check=2 for that). */
static intptr_t guard_mean(void) {
    return wdi_checking ? 0 : (intptr_t)wdi_options.guard_sample;
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

/* --- arithmetic without libm --------------------------------------------- */

/* Uniform in (0, 1], 53 bits. */
static double uniform(uint64_t *rng) {
    return (double)(int64_t)((next_random(rng) >> 11) + 1) * 0x1p-53;
}

/* 1 - exp(-x) for |x| < 0.5: x - x^2/2! + x^3/3! - ..., summed until a
 * term no longer changes the sum (six terms for a block of 512 bytes at
 * the default rate, 17 at most). */
static double expm1_neg_small(double x) {
    static const double inv[19] = {0,        1.0,      1.0 / 2,  1.0 / 3,  1.0 / 4,
                                   1.0 / 5,  1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,
                                   1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14,
                                   1.0 / 15, 1.0 / 16, 1.0 / 17, 1.0 / 18};
    double term = x, sum = x;
    for (int k = 2; k <= 18; k++) {
        term *= -x * inv[k]; /* no division: a chain of them was most of a sample's weight */
        double next = sum + term;
        if (next == sum)
            break;
        sum = next;
    }
    return sum;
}

/* 1 - exp(-x) for x >= 0: the series where x is small (no cancellation),
 * else exp(-x) = 2^-n exp(-r), n the integer nearest x / ln 2, r = x - n ln 2
 * within ln 2 / 2 of 0 (the same series serves negative r). */
static double one_minus_exp_neg(double x) {
    if (x < 0.5)
        return expm1_neg_small(x);
    if (x > 60.0)
        return 1.0; /* exp(-60) is below a double's precision next to 1 */
    int n = (int)(x * 1.44269504088896340736 + 0.5);
    double r = x - (double)n * 0.69314718055994530942;
    union {
        double d;
        uint64_t b;
    } two = {.b = (uint64_t)(1023 - n) << 52}; /* 2^-n, n <= 87 */
    return 1.0 - (1.0 - expm1_neg_small(r)) * two.d;
}

/* -ln(u) for u in (0, 1]: u = f 2^e with f in [0.5, 1) from the bits, and
 * ln f = 2 atanh(t), t = (f - 1) / (f + 1) in [-1/3, 0): the odd series
 * to t^21 (the rest is below 1e-11).  One division; some 40 instructions. */
static double neg_log(double u) {
    static const double inv_odd[] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,
                                     1.0 / 9,  1.0 / 11, 1.0 / 13, 1.0 / 15,
                                     1.0 / 17, 1.0 / 19, 1.0 / 21};
    union {
        double d;
        uint64_t b;
    } v = {u};
    int e = (int)((v.b >> 52) & 0x7ff) - 1022;
    v.b = (v.b & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1022 << 52);
    double f = v.d, t = (f - 1.0) / (f + 1.0), t2 = t * t, s = 0.0;
    for (int k = 10; k >= 0; k--)
        s = inv_odd[k] + t2 * s;
    return -((double)e * 0.69314718055994530942 + 2.0 * t * s);
}

/* -ln(u) for the draws, in some 15 instructions: u = m 2^e with m in
 * [1, 2); m's first 8 bits choose c, the middle of their range, whose
 * ln c and 1 / c come from tables filled by neg_log; then ln m =
 * ln c + ln(1 + x), x = m / c - 1 within 1/513 of 0, three terms (the
 * rest is below 1e-11). */
#define LOG_BITS 8
static double log_mid[1 << LOG_BITS], inv_mid[1 << LOG_BITS];

static void fast_log_init(void) {
    for (int i = 0; i < (1 << LOG_BITS); i++) {
        double c = 1.0 + (i + 0.5) / (1 << LOG_BITS);
        log_mid[i] = neg_log(1.0 / c);
        inv_mid[i] = 1.0 / c;
    }
}

static WD_ALWAYS_INLINE double fast_neg_log(double u) {
    union {
        double d;
        uint64_t b;
    } v = {u};
    int e = (int)(v.b >> 52) - 1023; /* u > 0: no sign bit */
    uint64_t frac = v.b & (((uint64_t)1 << 52) - 1);
    size_t i = (size_t)(frac >> (52 - LOG_BITS));
    v.b = frac | ((uint64_t)1023 << 52);
    double x = v.d * inv_mid[i] - 1.0;
    double ln_m = log_mid[i] + x * (1.0 - x * (0.5 - x * (1.0 / 3)));
    return -((double)e * 0.69314718055994530942 + ln_m);
}

/* 1 - exp(-x) for a sample's weight, in some 30 instructions where
 * one_minus_exp_neg's series took 150 (a weight per sample, and a large
 * block is sampled once in a few allocations): below 1/64 seven terms of
 * the series as a fixed polynomial (the rest is below 1e-19 of the sum);
 * above, exp(-x) = 2^-(k / 256) exp(-r), k the integer nearest
 * 256 x / ln 2 and |r| <= ln 2 / 512, 2^-(j / 256) from a table filled
 * by one_minus_exp_neg and four terms for exp(-r) (the rest is below
 * 1e-16).  Within 2e-14 of libm's -expm1(-x), relatively, from 1e-7 to
 * 70 (the worst just above 1/64, where the subtraction from 1 cancels). */
#define EXP_BITS 8
static double exp2_neg_frac[1 << EXP_BITS]; /* 2^-(j / 256) */

static void fast_exp_init(void) {
    for (int j = 0; j < (1 << EXP_BITS); j++)
        exp2_neg_frac[j] = 1.0 - one_minus_exp_neg(j * (0.69314718055994530942 / (1 << EXP_BITS)));
}

static double fast_one_minus_exp_neg(double x) {
    if (x < 1.0 / 64) {
        return x * (1.0 - x * (1.0 / 2) * (1.0 - x * (1.0 / 3) * (1.0 - x * (1.0 / 4) *
               (1.0 - x * (1.0 / 5) * (1.0 - x * (1.0 / 6) * (1.0 - x * (1.0 / 7)))))));
    }
    if (x > 60.0)
        return 1.0; /* exp(-60) is below a double's precision next to 1 */
    int k = (int)(x * (1.44269504088896340736 * (1 << EXP_BITS)) + 0.5);
    double r = x - (double)k * (0.69314718055994530942 / (1 << EXP_BITS));
    union {
        double d;
        uint64_t b;
    } two = {.b = (uint64_t)(1023 - (k >> EXP_BITS)) << 52}; /* 2^-(k / 256), k / 256 <= 87 */
    double e_r = 1.0 - r * (1.0 - r * (1.0 / 2) * (1.0 - r * (1.0 / 3) * (1.0 - r * (1.0 / 4))));
    return 1.0 - two.d * exp2_neg_frac[k & ((1 << EXP_BITS) - 1)] * e_r;
}

/* --- the policy ------------------------------------------------------------ */

void wdi_sample_init(void) {
    sample_mean = guard_mean();
    prof_rate = 0.0;
    if (wdi_options.profile[0] != '\0') {
        fast_log_init();
        fast_exp_init();
        prof_rate = wdi_options.profile_rate > 0 ? (double)wdi_options.profile_rate : 1.0;
    }
}

/* Profiling.  Think of each small malloc as a slot of M bytes (M at
 * least its size: the largest block the heap has handed out, so a
 * malloc's slot needs no knowledge of its size), of which its block takes
 * the first s, and of marks placed on the slots' bytes by a Poisson
 * process of mean gap R.  A malloc is sampled when a mark falls in its s
 * bytes: the chance p(s), each malloc on its own.  From the last mark the
 * next one lies E bytes on, E exponential of mean R: in the slot
 * 1 + floor(E / M) mallocs later (the countdown: geometric, each malloc's
 * slot holding a mark with the chance q = 1 - exp(-M / R)), at
 * r = E mod M bytes into it, and the malloc there is sampled when r < s,
 * the chance p(s) / q given that its slot holds a mark: p(s) in all.
 * floor(E / M) and E mod M are independent (E is memoryless), so r waits
 * for its malloc in the thread's wdi_sample_mark: no second draw.  A heap
 * whose mallocs stay small has a small M and few stops: M = 512 bytes
 * stops once in 1,000 mallocs at the default R, M = 64 KiB once in 8.5.
 *
 * The stops are drawn DRAWS at a time, ahead, for the slot of the call
 * that asks: the exponential (some 30 dependent floating-point operations)
 * and its cut into a countdown and a mark (a division) would otherwise
 * hold up the mallocs after a stop, whose decrements load the countdown;
 * a batch of independent chains runs at the processor's width, and a
 * stop then costs a few loads.  A slot that grew since the batch was
 * drawn throws the rest away (each draw is independent of the past: the
 * new ones are as good). */
#define DRAWS 16
static __thread struct {
    uint32_t left;
    size_t slot; /* what the batch was cut for */
    intptr_t n[DRAWS];
    size_t mark[DRAWS];
} tl_draws __attribute__((tls_model("initial-exec")));

WD_NOINLINE static void profile_refill(uint64_t *rng, size_t slot) {
    double m = (double)slot, per_slot = 1.0 / m;
    for (int i = 0; i < DRAWS; i++) {
        double e = prof_rate * fast_neg_log(uniform(rng));
        double slots = e * per_slot;
        if (slots >= (double)(WD_SAMPLE_IDLE - 1)) {
            tl_draws.n[i] = WD_SAMPLE_IDLE; /* too far: the stop is no mark */
            tl_draws.mark[i] = SIZE_MAX;
            continue;
        }
        intptr_t n = (intptr_t)slots;
        double r = e - (double)n * m;
        if (r < 0.0) { /* the product by 1 / m rounded n up */
            n--;
            r += m;
        } else if (r >= m) {
            n++;
            r -= m;
        }
        tl_draws.n[i] = n + 1;
        tl_draws.mark[i] = (size_t)r; /* r < s iff floor(r) < s */
    }
    tl_draws.left = DRAWS;
    tl_draws.slot = slot;
}

intptr_t wdi_sample_profile_next(uint64_t *rng, size_t slot) {
    if (slot == 0)
        slot = 16; /* no page yet: a slot as small as a block gets */
    if (wd_unlikely(tl_draws.left == 0 || tl_draws.slot != slot))
        profile_refill(rng, slot);
    uint32_t i = --tl_draws.left;
    wdi_sample_mark = tl_draws.mark[i];
    return tl_draws.n[i];
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

/* The allocations no heap's countdown sees (medium, large, aligned,
 * realloc's new size, the wrappers' blocks) count bytes against a
 * countdown of the calling thread's own, as tcmalloc does: the marks of
 * the Poisson process on those bytes laid end to end.  wdi_sample_bytes
 * is the distance to the next mark; a block it falls in is sampled, and
 * the next mark lies an exponential draw beyond the block's end (the marks
 * further in the block change nothing; beyond it the process starts
 * afresh).  The thread's first block draws from its own start. */
static __thread uint64_t tl_rng __attribute__((tls_model("initial-exec")));
__thread int64_t wdi_sample_bytes __attribute__((tls_model("initial-exec")));
static __thread int tl_drawn __attribute__((tls_model("initial-exec")));

static int64_t bytes_draw(void) {
    if (wd_unlikely(tl_rng == 0))
        tl_rng = wdi_os_random() | 1;
    double e = prof_rate * fast_neg_log(uniform(&tl_rng));
    return e < 0x1p62 ? (int64_t)e : (int64_t)1 << 62; /* floor(E) < s iff E < s */
}

int wdi_sample_pick_slow(size_t size) {
    if (!tl_drawn) {
        tl_drawn = 1;
        wdi_sample_bytes = bytes_draw() - (int64_t)size;
        if (wdi_sample_bytes >= 0)
            return 0;
    }
    wdi_sample_bytes = bytes_draw();
    return 1;
}

void wdi_sample_weight(size_t size, size_t chance, uint64_t *count, uint64_t *bytes) {
    double p = fast_one_minus_exp_neg((double)chance / prof_rate);
    if (p <= 0.0) { /* size 0: never picked; counted as one all the same */
        *count = 1;
        *bytes = size;
        return;
    }
    *count = (uint64_t)(1.0 / p + 0.5);
    *bytes = (uint64_t)((double)size / p + 0.5);
}
