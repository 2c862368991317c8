/* aligned -- aligned allocations, 64 B .. 2 MiB alignments, through
 * posix_memalign and aligned_alloc.
 *
 * What it stresses: the aligned paths, and the memory an allocator wastes to
 * honour an alignment (peak RSS).  512 live blocks; each step replaces one.
 * Alignments: 70 % 64..256 B, 25 % 512 B..16 KiB, 5 % 32 KiB..2 MiB; sizes
 * log-uniform 16 B..64 KiB (16 B..1 MiB with the largest alignments),
 * rounded up to a multiple of the alignment for aligned_alloc (C11).  Every
 * pointer is checked: a misaligned one is counted, reported as
 * misaligned=N on the result line and on stderr (the run still completes,
 * so that its time can be compared, but the figure is flagged).
 *
 * usage: aligned [STEPS]   (default 8000000)
 */
#include "common.h"

#define LIVE 512

int main(int argc, char **argv)
{
    size_t steps = arg_count(argc, argv, 1, 8000000);
    static void *live[LIVE];
    rng_t r = rng_seed(2024);
    size_t misaligned = 0, first_bad_align = 0, first_bad_size = 0;

    double t0 = now_sec();
    for (size_t i = 0; i < steps; i++) {
        size_t c = rng_below(&r, 100), lg;
        if (c < 70)      lg = 6 + rng_below(&r, 3);    /* 64 .. 256 B */
        else if (c < 95) lg = 9 + rng_below(&r, 6);    /* 512 B .. 16 KiB */
        else             lg = 15 + rng_below(&r, 7);   /* 32 KiB .. 2 MiB */
        size_t align = (size_t)1 << lg;
        size_t n = rng_logsize(&r, 16, lg >= 15 ? (1 << 20) : (64 << 10));
        void *p = NULL;
        if (i % 2 == 0) {
            errno = posix_memalign(&p, align, n);
            if (errno != 0)
                die("posix_memalign");
        } else {
            n = (n + align - 1) / align * align;
            if ((p = aligned_alloc(align, n)) == NULL)
                die("aligned_alloc");
        }
        if (((uintptr_t)p & (align - 1)) != 0 && misaligned++ == 0) {
            first_bad_align = align;
            first_bad_size = n;
        }
        memset(p, 0x33, n < 64 ? n : 64);
        ((char *)p)[n - 1] = 1;
        size_t k = rng_below(&r, LIVE);
        free(live[k]);
        live[k] = p;
    }
    double secs = now_sec() - t0;

    for (size_t k = 0; k < LIVE; k++)
        free(live[k]);
    if (misaligned > 0)
        fprintf(stderr, "aligned: %zu of %zu blocks misaligned (first: alignment %zu, size %zu)\n",
                misaligned, steps, first_bad_align, first_bad_size);
    printf("result: aligned %.0f ops/s misaligned=%zu\n", (double)steps / secs, misaligned);
    return 0;
}
