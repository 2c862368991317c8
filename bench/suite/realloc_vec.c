/* realloc_vec -- growth and shrinking of many vectors through realloc.
 *
 * What it stresses: realloc, in place or moving.  4096 vectors of 8-byte
 * elements; each step picks one and pushes (55 %) or pops a burst of 1..64
 * elements.  A vector doubles its capacity when full and halves it when its
 * length falls to a quarter; now and then (0.2 %) one is cleared and freed.
 * Blocks range from 32 B to a few hundred KiB.
 *
 * usage: realloc_vec [STEPS]   (default 16000000; ops = pushes + pops)
 */
#include "common.h"

#define VECS 4096

typedef struct { uint64_t *data; size_t len, cap; } vec_t;

static size_t reallocs;

static void vec_push(vec_t *v, uint64_t x)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->data = xrealloc(v->data, v->cap * sizeof *v->data);
        reallocs++;
    }
    v->data[v->len++] = x;
}

static uint64_t vec_pop(vec_t *v)
{
    uint64_t x = v->data[--v->len];
    if (v->cap > 4 && v->len <= v->cap / 4) {
        v->cap /= 2;
        v->data = xrealloc(v->data, v->cap * sizeof *v->data);
        reallocs++;
    }
    return x;
}

int main(int argc, char **argv)
{
    size_t steps = arg_count(argc, argv, 1, 16000000);
    static vec_t vecs[VECS];
    rng_t r = rng_seed(99);
    size_t ops = 0, peak = 0;
    uint64_t check = 0;

    double t0 = now_sec();
    for (size_t i = 0; i < steps; i++) {
        vec_t *v = &vecs[rng_below(&r, VECS)];
        size_t burst = 1 + rng_below(&r, 64), c = rng_below(&r, 1000);
        if (c < 2) {
            free(v->data);
            *v = (vec_t){ NULL, 0, 0 };
        } else if (c < 552) {
            for (size_t j = 0; j < burst; j++)
                vec_push(v, i + j);
            ops += burst;
        } else {
            for (size_t j = 0; j < burst && v->len > 0; j++, ops++)
                check += vec_pop(v);
        }
        if (v->cap > peak)
            peak = v->cap;
    }
    double secs = now_sec() - t0;

    for (size_t k = 0; k < VECS; k++)
        free(vecs[k].data);
    fprintf(stderr, "realloc_vec: %zu reallocs, largest vector %zu elements, checksum %llx\n",
            reallocs, peak, (unsigned long long)check);
    report_ops("realloc_vec", (double)ops, secs);
    return 0;
}
