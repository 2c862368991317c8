/* cache_thrash / cache_scratch -- false sharing caused by the allocator
 * (Hoard's cache-thrash and cache-scratch tests).
 *
 * Each thread repeatedly allocates a small object (8 B), writes and reads it
 * many times, and frees it.  Time is the measure: if the allocator hands two
 * threads objects on one cache line, the line ping-pongs between the cores.
 *   cache_thrash   each thread allocates its own objects (active false sharing:
 *                  the allocator itself puts threads' objects side by side);
 *   cache_scratch  the main thread allocates one object per thread, side by
 *                  side, and each thread starts by freeing the one it was given
 *                  (passive false sharing: an allocator that reuses a freed
 *                  block in the freeing thread keeps writing the shared line).
 *
 * usage: cache_thrash|cache_scratch [ITERATIONS [THREADS]]   (defaults 6000, 2)
 */
#include "common.h"

#define OBJ_SIZE 8
#define REPS 20000

typedef struct { size_t iters; char *given; } arg_t;

static void *worker(void *p)
{
    arg_t *a = p;
    free(a->given);   /* NULL for cache_thrash */
    for (size_t i = 0; i < a->iters; i++) {
        volatile char *o = xmalloc(OBJ_SIZE);
        for (int j = 0; j < REPS; j++)
            for (int k = 0; k < OBJ_SIZE; k++) {
                o[k] = (char)k;
                char c = o[k];
                o[k] = (char)(c + 1);
            }
        free((void *)o);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t iters = arg_count(argc, argv, 1, 6000);
    size_t threads = arg_count(argc, argv, 2, 2);
    arg_t *args = xmalloc(threads * sizeof *args);
    for (size_t i = 0; i < threads; i++) {
        args[i].iters = iters;
#ifdef CACHE_SCRATCH
        args[i].given = xmalloc(OBJ_SIZE);
        memset(args[i].given, 0, OBJ_SIZE);
#else
        args[i].given = NULL;
#endif
    }

    double t0 = now_sec();
    run_threads(threads, worker, args, sizeof *args);
    double secs = now_sec() - t0;

    free(args);
#ifdef CACHE_SCRATCH
    printf("result: cache_scratch %.3f s\n", secs);
#else
    printf("result: cache_thrash %.3f s\n", secs);
#endif
    return 0;
}
