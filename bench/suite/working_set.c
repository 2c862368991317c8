/* working_set / working_set_mt -- random replacement in a fixed working set
 * of blocks whose sizes follow an inverse-square law.
 *
 * What it stresses: malloc and free with no pattern an allocator could
 * learn.  Each thread keeps 1024 slots; every step frees the block of a
 * slot picked at random and puts a new block there, so a block lives
 * about a thousand steps and leaves in no particular order.  Sizes run
 * from 4 B to 32 KiB with a probability that falls as the square of the
 * size: half are 8 B or less, one in a hundred is above 400 B, one in a
 * thousand above 4 KiB (so the rare large classes have few blocks a page
 * and their pages run dry often).  That is the shape of glibc's own malloc
 * benchmark (bench-malloc-thread), which small_loop's batches do not
 * have.  Slots and sizes come from tables drawn in advance (8192 sizes,
 * 4096 slots, walked in turn), so the loop measures the allocator; each
 * thread starts at its own place in them.  The blocks are not written:
 * the figure is the allocator's own cost and its cache misses.
 * The figure is replacements (a free and a malloc) per second, over all
 * threads.
 *
 * usage: working_set [STEPS]                          (default 60000000)
 *        working_set_mt [STEPS_PER_THREAD [THREADS]]  (defaults 30000000, 2)
 */
#include "common.h"

#define SLOTS 1024
#define SIZES 8192 /* powers of two: the tables are indexed with a mask */
#define PICKS 4096
#define MIN_SIZE 4.0
#define MAX_SIZE 32768.0

#define NAME ONE_OR_MT("working_set", "working_set_mt")
#define DEFAULT_STEPS ONE_OR_MT(60000000, 30000000)

static uint32_t size_table[SIZES];
static uint16_t pick_table[PICKS];

/* A size of the inverse-square law on [MIN_SIZE, MAX_SIZE]: its
 * distribution function inverted at u in [0, 1). */
static uint32_t inverse_square(double u)
{
    double lo = 1.0 / MIN_SIZE, hi = 1.0 / MAX_SIZE;
    return (uint32_t)(1.0 / (lo - u * (lo - hi)));
}

static void tables_draw(void)
{
    rng_t r = rng_seed(88);
    for (size_t i = 0; i < SIZES; i++)
        size_table[i] = inverse_square((double)(rng_next(&r) >> 11) / 9007199254740992.0);
    for (size_t i = 0; i < PICKS; i++)
        pick_table[i] = (uint16_t)rng_below(&r, SLOTS);
}

static void *worker(void *p)
{
    counted_arg_t *a = p; /* count: steps */
    void **slot = calloc(SLOTS, sizeof *slot);
    if (slot == NULL)
        die("calloc");
    size_t s = a->index * 997, k = a->index * 331;
    for (size_t i = 0; i < a->count; i++) {
        size_t at = pick_table[k++ & (PICKS - 1)];
        free(slot[at]);
        slot[at] = xmalloc(size_table[s++ & (SIZES - 1)]);
        escape(slot[at]);
    }
    for (size_t i = 0; i < SLOTS; i++)
        free(slot[i]);
    free(slot);
    return NULL;
}

int main(int argc, char **argv)
{
    tables_draw();
    return run_workload(argc, argv, MT, DEFAULT_STEPS, worker, NAME, 1);
}
