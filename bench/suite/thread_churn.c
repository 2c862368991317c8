/* thread_churn -- many short-lived threads, each allocating a little.
 *
 * What it stresses: creating and tearing down per-thread allocator state, and
 * blocks that outlive the thread that allocated them.  Threads are started in
 * waves of THREADS; each allocates 100 blocks (16..1024 B), frees half and
 * leaves the other half to the main thread, which frees them after the
 * thread has exited.  The figure is threads per second.
 *
 * usage: thread_churn [TOTAL_THREADS [THREADS]]   (defaults 40000, 2)
 */
#include "common.h"

#define PER_THREAD 100

typedef struct { size_t index; void *left[PER_THREAD / 2]; } arg_t;

static void *worker(void *p)
{
    arg_t *a = p;
    rng_t r = rng_seed(a->index);
    void *mine[PER_THREAD];
    for (size_t i = 0; i < PER_THREAD; i++) {
        size_t n = rng_logsize(&r, 16, 1025);
        mine[i] = xmalloc(n);
        memset(mine[i], (int)i, n < 64 ? n : 64);
    }
    for (size_t i = 0; i < PER_THREAD; i++) {
        if (i % 2 == 0)
            free(mine[i]);
        else
            a->left[i / 2] = mine[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t total = arg_count(argc, argv, 1, 40000);
    size_t wave = arg_count(argc, argv, 2, 2);
    arg_t *args = xmalloc(wave * sizeof *args);
    size_t done = 0;

    double t0 = now_sec();
    while (done < total) {
        size_t n = total - done < wave ? total - done : wave;
        for (size_t i = 0; i < n; i++)
            args[i].index = done + i;
        run_threads(n, worker, args, sizeof *args);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < PER_THREAD / 2; j++)
                free(args[i].left[j]);
        done += n;
    }
    double secs = now_sec() - t0;

    free(args);
    printf("result: thread_churn %.0f threads/s\n", (double)total / secs);
    return 0;
}
