/* rounds / rounds_mt -- an array of blocks allocated whole, then freed whole
 * in a mixed order, round after round (the shape of the SmartHeap-style
 * benchmarks in public suites).
 *
 * What it stresses: what an allocator does when everything a phase
 * allocated is freed and the next phase allocates as much again: pages or
 * spans that empty at the end of a round and are needed again at once, and
 * free lists left in an order that is neither the allocation's nor its
 * reverse.  Each round allocates 2,000 blocks whose sizes walk 1..1000
 * bytes (a stride that changes with the round), writes the first and last
 * byte of each, then frees every other block from the first and the rest
 * from the last.  rounds_mt runs the same in every thread at once, each
 * with its own array.  The figure is allocations (each freed) per second,
 * over all threads.
 *
 * usage: rounds [ROUNDS]                        (default 40000)
 *        rounds_mt [ROUNDS_PER_THREAD [THREADS]]  (defaults 20000, 2)
 */
#include "common.h"

#define BLOCKS 2000 /* even: the frees below take the even ones, then the odd */
#define MAX_SIZE 1000

#define NAME ONE_OR_MT("rounds", "rounds_mt")
#define DEFAULT_ROUNDS ONE_OR_MT(40000, 20000)

static void *worker(void *p)
{
    counted_arg_t *a = p; /* count: rounds */
    char **v = xmalloc(BLOCKS * sizeof *v);
    size_t start = 7919 * a->index;
    for (size_t r = 0; r < a->count; r++) {
        for (size_t i = 0; i < BLOCKS; i++) {
            size_t n = (i * 17 + r * 31 + start) % MAX_SIZE + 1;
            char *b = xmalloc(n);
            b[0] = (char)i;
            b[n - 1] = (char)r;
            v[i] = b;
        }
        for (size_t i = 0; i < BLOCKS; i += 2)
            free(v[i]);
        for (size_t k = 0; k < BLOCKS / 2; k++) /* the odd ones, from the last */
            free(v[BLOCKS - 1 - 2 * k]);
    }
    free(v);
    return NULL;
}

int main(int argc, char **argv)
{
    return run_workload(argc, argv, MT, DEFAULT_ROUNDS, worker, NAME, BLOCKS);
}
