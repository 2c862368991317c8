/* mixed_sizes / mixed_sizes_mt -- a working set of mixed sizes with random
 * lifetimes, and realloc now and then.
 *
 * What it stresses: the allocator under the size and lifetime mix of an
 * ordinary program rather than a single pattern.  Sizes are skewed: 85 %
 * 8..128 B (uniform), 14 % 129 B..2 KiB and 1 % 2..64 KiB (log-uniform).
 * Every step allocates one block and gives it a lifetime of 1..65535 steps,
 * log-uniform, so that most blocks die young and a few live long; the blocks
 * whose time has come are freed in that step, except one in 16 that is
 * realloc'ed to a new size from the same mix and given a new lifetime
 * instead.  About 6500 blocks are live per thread.  A block's first bytes
 * carry a tag that is checked when it is freed or realloc'ed (realloc must
 * keep them); the program exits 1 on a mismatch.  mixed_sizes_mt runs the
 * same in each of THREADS threads, with their own working sets.
 * The figure is mallocs and reallocs per second, over all threads.
 *
 * usage: mixed_sizes [STEPS]                            (default 30000000)
 *        mixed_sizes_mt [STEPS_PER_THREAD [THREADS]]    (defaults 12000000, 2)
 */
#include "common.h"

#define WHEEL 65536   /* lifetimes are below it; a power of two */
#define NIL UINT32_MAX

#define NAME ONE_OR_MT("mixed_sizes", "mixed_sizes_mt")
#define DEFAULT_STEPS ONE_OR_MT(30000000, 12000000)

/* The live blocks are kept outside the blocks themselves, so that blocks of
 * 8 B can take part and the allocator's memory is written only as a program
 * would write it.  One step allocates one block and every block lives less
 * than WHEEL steps: WHEEL records always suffice. */
typedef struct {
    char *p;
    uint32_t size, next;   /* next: the record due in the same step */
} rec_t;

typedef struct {
    rec_t *rec;
    uint32_t *due;        /* due[t % WHEEL]: the records that die at step t */
    uint32_t free_rec;
    rng_t r;
    size_t mismatches, ops;
} heap_t;

static size_t pick_size(rng_t *r)
{
    size_t c = rng_below(r, 100);
    return c < 85 ? 8 + rng_below(r, 121)
         : c < 99 ? rng_logsize(r, 129, 2049)
                  : rng_logsize(r, 2049, 65537);
}

/* Every size is at least 8 B: the tag is the record's index in the first
 * 4 bytes, and a byte of it in the last one. */
static void tag(char *p, size_t n, uint32_t id)
{
    memcpy(p, &id, sizeof id);
    p[n - 1] = (char)id;
}

static void check(heap_t *h, const char *p, uint32_t id)
{
    uint32_t got;
    memcpy(&got, p, sizeof got);
    h->mismatches += got != id;
}

static void schedule(heap_t *h, uint32_t i, size_t step)
{
    size_t at = (step + rng_logsize(&h->r, 1, WHEEL)) & (WHEEL - 1);
    h->rec[i].next = h->due[at];
    h->due[at] = i;
}

static void run(heap_t *h, size_t steps)
{
    for (size_t t = 0; t < steps; t++) {
        uint32_t i = h->free_rec;
        if (i == NIL) {   /* reallocs extend lifetimes: possible, never seen */
            fprintf(stderr, NAME ": more than %d blocks live\n", WHEEL);
            exit(1);
        }
        h->free_rec = h->rec[i].next;
        size_t n = pick_size(&h->r);
        h->rec[i].p = xmalloc(n);
        h->rec[i].size = (uint32_t)n;
        tag(h->rec[i].p, n, i);
        h->ops++;
        schedule(h, i, t);

        uint32_t d = h->due[t & (WHEEL - 1)];
        h->due[t & (WHEEL - 1)] = NIL;
        while (d != NIL) {
            rec_t *e = &h->rec[d];
            uint32_t next = e->next;
            check(h, e->p, d);
            if (rng_below(&h->r, 16) == 0) {
                size_t m = pick_size(&h->r);
                e->p = xrealloc(e->p, m);
                check(h, e->p, d);   /* realloc kept the first bytes */
                e->size = (uint32_t)m;
                tag(e->p, m, d);
                h->ops++;
                schedule(h, d, t);   /* at least one step later: not this list */
            } else {
                free(e->p);
                e->next = h->free_rec;
                h->free_rec = d;
            }
            d = next;
        }
    }
}

static void *worker(void *p)
{
    counted_arg_t *a = p; /* count: steps */
    heap_t h = { 0 };
    h.rec = xmalloc(WHEEL * sizeof *h.rec);
    h.due = xmalloc(WHEEL * sizeof *h.due);
    for (uint32_t i = 0; i < WHEEL; i++) {
        h.rec[i].next = i + 1 < WHEEL ? i + 1 : NIL;
        h.due[i] = NIL;
    }
    h.r = rng_seed(900 + a->index);
    run(&h, a->count);
    for (uint32_t s = 0; s < WHEEL; s++)
        for (uint32_t d = h.due[s]; d != NIL; d = h.rec[d].next)
            free(h.rec[d].p);
    free(h.rec);
    free(h.due);
    if (h.mismatches != 0) {
        fprintf(stderr, NAME ": %zu blocks lost their tag\n", h.mismatches);
        exit(1);
    }
    a->count = h.ops;   /* handed back: ops of this thread */
    return NULL;
}

int main(int argc, char **argv)
{
    size_t steps = arg_count(argc, argv, 1, DEFAULT_STEPS);
#ifdef WORKLOAD_MT
    size_t threads = arg_count(argc, argv, 2, 2);
#else
    size_t threads = 1;
#endif
    counted_arg_t *args = xmalloc(threads * sizeof *args);
    for (size_t i = 0; i < threads; i++)
        args[i] = (counted_arg_t){ i, steps };
    double t0 = now_sec();
#ifdef WORKLOAD_MT
    run_threads(threads, worker, args, sizeof *args);
#else
    worker(&args[0]);   /* in the main thread, as a single-threaded program */
#endif
    double secs = now_sec() - t0;

    double ops = 0;
    for (size_t i = 0; i < threads; i++)
        ops += (double)args[i].count;
    free(args);
    report_ops(NAME, ops, secs);
    return 0;
}
