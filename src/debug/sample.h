/* sample.h -- the sampler's clock: how many allocations a thread makes
 * before the next one that the sampled diagnostics look at.
 *
 * Each small heap counts down (page.h: sample_left); the malloc that
 * takes its count below zero goes to api.c's sample_alloc, which asks here
 * for the next countdown.  The fast path pays one decrement, which also
 * counts the blocks handed out.
 *
 * The heap profiler (profile=PREFIX, profile.h) samples by bytes: every
 * allocation of s bytes is kept on its own with the chance
 * p(s) = 1 - exp(-s / R), R = profile_rate.  That is what marking the
 * bytes allocated with a Poisson process of mean gap R and keeping each
 * allocation that holds a mark gives (tcmalloc, jemalloc): allocations
 * are kept independently, a kept one stands for 1 / p(s) allocations and
 * s / p(s) bytes, and the estimates are unbiased.  The countdown cannot
 * see sizes, so it stops at small mallocs with the chance q = p(M), M the
 * slot: the largest small block the heap has handed out, at most
 * WDI_PROF_SLOT_MAX (wdi_sample_profile_next: a geometric countdown, each
 * malloc on its own), and wdi_sample_pick_small keeps the malloc it stops
 * at with the chance p(s) / q (sample.c: with the remainder of the
 * countdown's own draw, so no second one), or always when s > M: such a
 * block is kept with the chance p(M), and its weight says so, so the
 * estimates stay unbiased.  The other tiers count their bytes against a
 * countdown of the thread's own (wdi_sample_pick).  No libm: the logarithm comes from a table and a series,
 * the exponential from a series.
 *
 * Calls: os.h (seeds), options.h (the policy's options). */
#ifndef WARDEN_SAMPLE_H
#define WARDEN_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* The profiler's largest slot: a heap that hands out blocks up to 64 KiB
 * would stop once in 8.5 small mallocs with M = 64 KiB; with M = 4 KiB it
 * stops once in 128 at the default rate, and its blocks above 4 KiB are
 * kept once in 128 (rather than with p(s): 1 in 16 for 32 KiB), each
 * standing for 128 allocations.  Fewer samples of those, the same
 * expectation. */
#define WDI_PROF_SLOT_MAX ((size_t)4096)

/* The countdown when nothing samples: long, so the sampler costs nothing,
 * yet finite, so options read after a heap's first malloc (a very early
 * start, process.c) still reach every heap, and so sample_alloc (which
 * also paces the heap's upkeep) runs regularly in a thread that mallocs. */
#define WD_SAMPLE_IDLE ((intptr_t)1 << 16)

/* Fixes the sampling policy from the options; called by the process start
 * (again when the options are read late). */
void wdi_sample_init(void);

/* The next countdown, at least 1, drawn with rng (a heap's own xorshift
 * state, so threads never share a sampler's state). */
intptr_t wdi_sample_next(uint64_t *rng);

/* Profiling: the next countdown of a heap whose small mallocs are at most
 * slot bytes (a new draw whenever slot grows: a draw from any moment on is
 * as good as the one it replaces), and where its mark falls
 * (wdi_sample_mark). */
intptr_t wdi_sample_profile_next(uint64_t *rng, size_t slot);

/* Profiling: 1 when the small malloc of size bytes the countdown stopped
 * at is to be sampled (the chance p(size) / q), 0 otherwise.  It rests on
 * the draw that led to this malloc: ask before the next draw.  A thread's
 * first stop follows no draw of its own: its malloc is never picked. */
static inline int wdi_sample_pick_small(size_t size);

/* Where the mark falls in the small malloc the countdown stops at next
 * (bytes; SIZE_MAX: no countdown drawn yet, as at a thread's first
 * malloc).  Written by wdi_sample_profile_next; sample.c says why one
 * draw gives both. */
extern __thread size_t wdi_sample_mark __attribute__((tls_model("initial-exec")));

static inline int wdi_sample_pick_small(size_t size) { return size > wdi_sample_mark; }

/* Profiling: 1 when an allocation of size bytes that no heap's countdown
 * sees (medium, large, aligned, realloc, the wrappers' blocks) is to be
 * sampled: the chance p(size), from a byte countdown of the calling
 * thread's own; a subtraction and a test when it is not, inline (a call
 * and its return were half of what every aligned allocation paid). */
static inline int wdi_sample_pick(size_t size);

/* The calling thread's bytes to the next mark of that countdown (sample.c
 * says how it is drawn); below zero: the block just counted holds one. */
extern __thread int64_t wdi_sample_bytes __attribute__((tls_model("initial-exec")));

/* The block that took wdi_sample_bytes below zero: 1 when it is sampled
 * (0 at a thread's first block, which only starts the countdown). */
int wdi_sample_pick_slow(size_t size);

static inline int wdi_sample_pick(size_t size) {
    if (__builtin_expect((wdi_sample_bytes -= (int64_t)size) >= 0, 1))
        return 0;
    return wdi_sample_pick_slow(size);
}

/* What one sample of size bytes, kept with the chance p(chance), stands
 * for: 1 / p(chance) allocations and size / p(chance) bytes, rounded
 * (chance is size but for a small block larger than its heap's slot).
 * Reckoned once per sample, which keeps it for its free. */
void wdi_sample_weight(size_t size, size_t chance, uint64_t *count, uint64_t *bytes);

#endif /* WARDEN_SAMPLE_H */
