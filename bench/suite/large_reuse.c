/* large_reuse -- big blocks (5..25 MiB) freed and allocated again, each
 * only partly used.
 *
 * What it stresses: what an allocator does with a freed large block when the
 * next request is of another size, and what it costs to hand out memory that
 * the program will touch only in part.  Up to 20 blocks are live; each step
 * frees a random one and allocates a new block of a uniform size in
 * 5..25 MiB.  Half of the new blocks are written on every 4th page (a sparse
 * table), the other half on their first and last page only (a buffer reserved
 * big and barely used), as programs do: an allocator that zeroes, prefaults
 * or commits the whole block pays for pages nobody reads, one that unmaps
 * every freed block pays a page fault per written page on every step, and
 * one that keeps freed blocks must find a fit among sizes that keep changing.
 * The figure is steps per second; faults=N is the process's minor page
 * faults during the steps.
 *
 * large_bare (built with LARGE_BARE) is the same loop with blocks nobody
 * writes (buffers reserved and never filled): what is left is the
 * allocator's own cost per large block, its system calls and the page
 * faults of its own headers, 50 times as many steps.
 *
 * usage: large_reuse [STEPS]   (default 4000)
 *        large_bare [STEPS]    (default 200000)
 */
#include "common.h"
#include <sys/resource.h>

#define LIVE 20
#define PAGE 4096
#define MIB ((size_t)1 << 20)

#ifdef LARGE_BARE
#define NAME "large_bare"
#define DEFAULT_STEPS 200000
#else
#define NAME "large_reuse"
#define DEFAULT_STEPS 4000
#endif

static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

int main(int argc, char **argv)
{
    size_t steps = arg_count(argc, argv, 1, DEFAULT_STEPS);
    char *live[LIVE] = { 0 };
    rng_t r = rng_seed(2025);
    size_t bytes = 0, written = 0;

    long f0 = minor_faults();
    double t0 = now_sec();
    for (size_t i = 0; i < steps; i++) {
        /* An empty slot is freed as NULL: the live set fills up to LIVE in
         * the first steps and then stays there. */
        size_t k = rng_below(&r, LIVE);
        size_t n = 5 * MIB + rng_below(&r, 20 * MIB + 1);
        free(live[k]);
        char *p = live[k] = xmalloc(n);
        bytes += n;
#ifdef LARGE_BARE
        escape(p);
        continue;
#endif
        if (rng_below(&r, 2) == 0) {
            for (size_t j = 0; j < n; j += 4 * PAGE, written++)
                p[j] = (char)j;
        } else {
            p[0] = 1;
            written++;
        }
        p[n - 1] = 2;   /* the last page, in both cases */
        written++;
    }
    double secs = now_sec() - t0;
    long faults = minor_faults() - f0;

    for (size_t k = 0; k < LIVE; k++)
        free(live[k]);
    fprintf(stderr, NAME ": %zu MiB allocated in %zu steps, %zu pages written, "
            "%ld minor faults\n", bytes / MIB, steps, written, faults);
    printf("result: " NAME " %.0f ops/s faults=%ld\n", secs > 0 ? (double)steps / secs : 0.0,
           faults);
    return 0;
}
