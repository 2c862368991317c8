/* larson -- larson-style server simulation.
 *
 * What it stresses: frees from threads that did not allocate the block.  A
 * shared array of blocks (8..1024 B) stands for a server's live objects; each
 * thread repeatedly allocates a block of a random size, writes it, swaps it
 * into a random slot and frees the block it took out, which some other thread
 * allocated most of the time.  The throughput is replacements per second.
 *
 * usage: larson [OPS_PER_THREAD [THREADS]]   (defaults 30000000, 2)
 */
#include "common.h"
#include <stdatomic.h>

#define SLOTS 16384

static _Atomic(char *) slots[SLOTS];

static void *worker(void *p)
{
    counted_arg_t *a = p; /* count: replacements */
    rng_t r = rng_seed(1000 + a->index);
    for (size_t i = 0; i < a->count; i++) {
        size_t n = rng_logsize(&r, 8, 1025);
        char *b = xmalloc(n);
        b[0] = (char)i;
        b[n - 1] = (char)n;
        char *old = atomic_exchange_explicit(&slots[rng_below(&r, SLOTS)], b,
                                             memory_order_acq_rel);
        free(old);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t ops = arg_count(argc, argv, 1, 30000000);
    size_t threads = arg_count(argc, argv, 2, 2);
    rng_t r = rng_seed(7);
    for (size_t i = 0; i < SLOTS; i++) {
        size_t n = rng_logsize(&r, 8, 1025);
        char *b = xmalloc(n);
        memset(b, 1, n);
        atomic_store(&slots[i], b);
    }
    double secs = run_counted(threads, worker, ops);

    for (size_t i = 0; i < SLOTS; i++)
        free(atomic_load(&slots[i]));
    report_ops("larson", (double)(ops * threads), secs);
    return 0;
}
