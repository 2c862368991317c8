/* malloc_large -- large blocks, 64 KiB .. 32 MiB, allocated, touched, freed.
 *
 * What it stresses: the large-block path and what the allocator does with a
 * freed large block.  Eight blocks are live; each step frees one and allocates
 * a new one of a log-uniform size, then writes one byte per page of it.  An
 * allocator that unmaps every freed block and maps a fresh one pays a page
 * fault per page on every step; one that keeps freed spans reuses them.
 *
 * usage: malloc_large [STEPS]   (default 3000)
 */
#include "common.h"

#define LIVE 8

int main(int argc, char **argv)
{
    size_t steps = arg_count(argc, argv, 1, 3000);
    char *live[LIVE] = { 0 };
    rng_t r = rng_seed(64);
    size_t bytes = 0;

    double t0 = now_sec();
    for (size_t i = 0; i < steps; i++) {
        size_t k = rng_below(&r, LIVE);
        size_t n = rng_logsize(&r, 64 << 10, 32 << 20);
        free(live[k]);
        live[k] = xmalloc(n);
        for (size_t j = 0; j < n; j += 4096)
            live[k][j] = (char)j;
        live[k][n - 1] = 1;
        bytes += n;
    }
    double secs = now_sec() - t0;

    for (size_t k = 0; k < LIVE; k++)
        free(live[k]);
    fprintf(stderr, "malloc_large: %zu MiB allocated in %zu steps\n", bytes >> 20, steps);
    report_ops("malloc_large", (double)steps, secs);
    return 0;
}
