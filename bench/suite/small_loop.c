/* small_loop / small_loop_mt -- batches of small blocks allocated, written
 * and freed, over and over: the malloc/free fast path and nothing else.
 *
 * What it stresses: the cost of one malloc and one free of a small block
 * (16..512 B) when the allocator's thread-local caches are warm, the figure
 * that decides the speed of programs that allocate little objects in loops.
 * Each thread repeats: allocate a batch of 128 blocks of random sizes (drawn
 * in advance from a table, so that the loop measures the allocator, not the
 * random number generator), write a byte of each, free the batch, in
 * allocation order (FIFO), in reverse (LIFO) or in a fixed shuffled order,
 * one after the other.  Threads share nothing: small_loop_mt shows whether
 * that fast path stays as fast with several threads (no lock, no shared
 * counter, no false sharing of the allocator's own data).
 * The figure is allocations (each freed) per second, over all threads.
 *
 * usage: small_loop [BATCHES]                         (default 1200000)
 *        small_loop_mt [BATCHES_PER_THREAD [THREADS]]   (defaults 600000, 2)
 */
#include "common.h"

#define BATCH 128
#define SIZES 4096   /* a power of two: the table is indexed with a mask */

#define NAME ONE_OR_MT("small_loop", "small_loop_mt")
#define DEFAULT_BATCHES ONE_OR_MT(1200000, 600000)

static void *worker(void *p)
{
    counted_arg_t *a = p; /* count: batches */
    rng_t r = rng_seed(300 + a->index);
    uint16_t size[SIZES];
    uint16_t shuffled[BATCH];
    void *blk[BATCH];

    for (size_t i = 0; i < SIZES; i++)
        size[i] = (uint16_t)(16 + rng_below(&r, 512 - 16 + 1));
    for (size_t i = 0; i < BATCH; i++)
        shuffled[i] = (uint16_t)i;
    for (size_t i = BATCH - 1; i > 0; i--) {
        size_t j = rng_below(&r, i + 1);
        uint16_t t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }

    size_t at = 0;
    for (size_t b = 0; b < a->count; b++) {
        for (size_t i = 0; i < BATCH; i++) {
            char *q = xmalloc(size[at++ & (SIZES - 1)]);
            q[0] = (char)i;
            escape(q);
            blk[i] = q;
        }
        switch (b % 3) {
        case 0:
            for (size_t i = 0; i < BATCH; i++)
                free(blk[i]);
            break;
        case 1:
            for (size_t i = BATCH; i-- > 0;)
                free(blk[i]);
            break;
        default:
            for (size_t i = 0; i < BATCH; i++)
                free(blk[shuffled[i]]);
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    return run_workload(argc, argv, MT, DEFAULT_BATCHES, worker, NAME, BATCH);
}
