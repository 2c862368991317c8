/* fragment -- fragmentation and memory return: RSS after a scattered free.
 *
 * What it stresses: how much memory an allocator gives back to the OS once
 * most of a peak is freed, and how soon.  It allocates a peak of mixed sizes
 * (by bytes: 40 % 16..512 B, 35 % 512 B..32 KiB, 25 % 32 KiB..1 MiB,
 * interleaved, every byte written), frees ~90 % of the blocks in a scattered
 * order, and reads RSS (/proc/self/statm) right after the free.  Then, for
 * ~2 s, it keeps a light activity going (64 small replacements each
 * millisecond in a ring of 1024 blocks) and samples RSS every 100 ms.
 *
 * Prints   result: fragment rss_after_free_kb=A rss_1s_kb=B rss_2s_kb=C
 * (and the live data and every sample on stderr).  The pointer table lives
 * in its own mapping, whose unused tail is dropped before measuring.
 *
 * usage: fragment [PEAK_MIB]   (default 500)
 */
#include "common.h"
#include <sys/mman.h>

#define RING 1024

static size_t class_size(rng_t *r, int c)
{
    return c == 0 ? rng_logsize(r, 16, 512)
         : c == 1 ? rng_logsize(r, 512, 32768)
                  : rng_logsize(r, 32768, 1 << 20);
}

static void ring_step(void **ring, rng_t *r)
{
    size_t k = rng_below(r, RING);
    size_t n = rng_below(r, 64) == 0 ? rng_logsize(r, 2048, 65536) : rng_logsize(r, 16, 2048);
    free(ring[k]);
    ring[k] = xmalloc(n);
    memset(ring[k], 7, n < 256 ? n : 256);
}

int main(int argc, char **argv)
{
    size_t peak = arg_count(argc, argv, 1, 500) << 20;
    size_t cap = peak / 16 + 1;
    void **obj = mmap(NULL, cap * sizeof *obj, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (obj == MAP_FAILED)
        die("mmap");
    rng_t r = rng_seed(5150);
    const double share[3] = { 0.40, 0.35, 0.25 };
    size_t bytes[3] = { 0, 0, 0 }, total = 0, count = 0;

    /* the peak: each step feeds the class furthest behind its byte share */
    while (total < peak && count < cap) {
        int c = 0;
        for (int k = 1; k < 3; k++)
            if ((double)bytes[k] / share[k] < (double)bytes[c] / share[c])
                c = k;
        size_t n = class_size(&r, c);
        obj[count] = xmalloc(n);
        memset(obj[count], (int)(count & 0xff), n);
        memcpy(obj[count], &n, sizeof n);
        count++;
        bytes[c] += n;
        total += n;
    }
    long rss_peak = rss_kb();

    /* free ~90 % in a scattered order: a stride walk coprime with count */
    size_t stride = 1000003;
    while (count % stride == 0)
        stride += 2;
    size_t kept = 0, live = 0;
    for (size_t i = 0; i < count; i++) {
        size_t j = (size_t)(((unsigned __int128)i * stride) % count);
        if (rng_below(&r, 10) == 0) {
            size_t n;
            memcpy(&n, obj[j], sizeof n);
            live += n;
            kept++;
        } else {
            free(obj[j]);
            obj[j] = NULL;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < count; i++)
        if (obj[i] != NULL)
            obj[w++] = obj[i];
    size_t used = (w * sizeof *obj + 4095) & ~(size_t)4095;
    madvise((char *)obj + used, cap * sizeof *obj - used, MADV_DONTNEED);

    long after_free = rss_kb();
    double t0 = now_sec();
    static void *ring[RING];
    long sample[21] = { 0 };
    sample[0] = after_free;
    int next = 1;
    while (next <= 20) {
        for (int i = 0; i < 64; i++)
            ring_step(ring, &r);
        sleep_ms(1);
        if (now_sec() - t0 >= 0.1 * next)
            sample[next++] = rss_kb();
    }

    fprintf(stderr, "fragment: %zu blocks, %zu MiB peak (rss %ld KiB); kept %zu blocks, "
            "%zu KiB live\nfragment: rss every 100 ms (KiB):", count, total >> 20,
            rss_peak, kept, live >> 10);
    for (int i = 0; i <= 20; i++)
        fprintf(stderr, " %ld", sample[i]);
    fprintf(stderr, "\n");
    printf("result: fragment rss_after_free_kb=%ld rss_1s_kb=%ld rss_2s_kb=%ld\n",
           after_free, sample[10], sample[20]);

    for (size_t i = 0; i < w; i++)
        free(obj[i]);
    for (size_t k = 0; k < RING; k++)
        free(ring[k]);
    munmap(obj, cap * sizeof *obj);
    return 0;
}
