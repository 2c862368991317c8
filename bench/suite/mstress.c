/* mstress -- mstress/rptest-style mixed sizes, many threads, realloc, and a
 * heavy tail of large blocks.
 *
 * What it stresses: everything at once.  Each thread keeps 2048 slots; a step
 * picks one and allocates into it when empty, otherwise reallocates it to a
 * new size (30 %), trades it through a shared mailbox with another thread
 * (15 %: the block will be freed or reallocated by a thread that did not
 * allocate it) or frees it.  Sizes: 85 % 16..512 B, 12 % 512 B..16 KiB,
 * 2.7 % 16..256 KiB, 0.3 % 256 KiB..4 MiB; a block's first bytes and one byte
 * of each of its pages are written, as a program that uses it would.
 *
 * usage: mstress [STEPS_PER_THREAD [THREADS]]   (defaults 10000000, 2)
 */
#include "common.h"
#include <stdatomic.h>

#define LOCAL 2048
#define MAILBOX 256

static _Atomic(char *) mailbox[MAILBOX];

static size_t pick_size(rng_t *r)
{
    size_t c = rng_below(r, 1000);
    return c < 850 ? rng_logsize(r, 16, 512)
         : c < 970 ? rng_logsize(r, 512, 16384)
         : c < 997 ? rng_logsize(r, 16384, 262144)
                   : rng_logsize(r, 262144, 4194304);
}

/* Writes bytes [from, n) the way a user of the block would: a header's worth
 * at the start, then one byte per page. */
static void touch(char *p, size_t from, size_t n)
{
    size_t head = n < 64 ? n : 64;
    if (from < head)
        memset(p + from, 0x5a, head - from);
    for (size_t i = from > 4096 ? from : 4096; i < n; i += 4096)
        p[i] = 1;
    p[n - 1] = 2;
}

static void *worker(void *p)
{
    counted_arg_t *a = p; /* count: steps */
    rng_t r = rng_seed(500 + a->index);
    char **slot = calloc(LOCAL, sizeof *slot);
    size_t *size = calloc(LOCAL, sizeof *size);
    if (slot == NULL || size == NULL)
        die("calloc");
    for (size_t i = 0; i < a->count; i++) {
        size_t k = rng_below(&r, LOCAL), c = rng_below(&r, 100);
        if (slot[k] == NULL) {
            size[k] = pick_size(&r);
            slot[k] = xmalloc(size[k]);
            touch(slot[k], 0, size[k]);
        } else if (c < 30) {
            size_t n = pick_size(&r);
            slot[k] = xrealloc(slot[k], n);
            touch(slot[k], n > size[k] ? size[k] : n, n);
            size[k] = n;
        } else if (c < 45) {
            size_t m = rng_below(&r, MAILBOX);
            slot[k][0] = (char)i;
            char *got = atomic_exchange(&mailbox[m], slot[k]);
            if (got != NULL)   /* a block carries its size in bytes 8..15 */
                memcpy(&size[k], got + 8, sizeof size[k]);
            slot[k] = got;
        } else {
            free(slot[k]);
            slot[k] = NULL;
        }
        if (slot[k] != NULL && size[k] >= 16)
            memcpy(slot[k] + 8, &size[k], sizeof size[k]);
    }
    for (size_t k = 0; k < LOCAL; k++)
        free(slot[k]);
    free(slot);
    free(size);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t steps = arg_count(argc, argv, 1, 10000000);
    size_t threads = arg_count(argc, argv, 2, 2);
    double secs = run_counted(threads, worker, steps);

    for (size_t m = 0; m < MAILBOX; m++)
        free(atomic_load(&mailbox[m]));
    report_ops("mstress", (double)(steps * threads), secs);
    return 0;
}
