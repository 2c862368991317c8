/* sample.h -- the sampler's clock: how many allocations a thread makes
 * before the next one that the sampled diagnostics look at.
 *
 * Each small heap counts down (page.h: sample_left); the malloc that
 * takes its count below zero goes to api.c's sample_alloc, which asks here
 * for the next countdown.  The fast path pays one decrement, which also
 * counts the blocks handed out. */
#ifndef WARDEN_SAMPLE_H
#define WARDEN_SAMPLE_H

#include <stdint.h>

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

#endif /* WARDEN_SAMPLE_H */
