/* A program outside the tree, built against an installed warden with
 * pkg-config or find_package(warden) (test_install.sh).  Checks that the
 * headers are all there, that WARDEN_VERSION is the one expected (argv[1])
 * and that linking warden made it the program's malloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden.h>
#include <warden/arena.h>
#include <warden/heap.h>
#include <warden/pool.h>
#include <warden/vec.h>

#define MIB ((size_t)1 << 20)

static int fail(const char *what) {
    fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

int main(int argc, char **argv) {
    static unsigned char memory[16 * 1024] __attribute__((aligned(16)));
    if (argc < 2 || strcmp(argv[1], WARDEN_VERSION) != 0)
        return fail("WARDEN_VERSION is not the version expected");
    wd_stats_t before, after;
    wd_stats_get(&before);
    char *p = malloc(4 * MIB); /* the standard name: warden's when linked */
    if (p == NULL)
        return fail("malloc failed");
    memset(p, 1, 4 * MIB);
    wd_stats_get(&after);
    if (after.live_bytes < before.live_bytes + 4 * MIB || wd_malloc_usable_size(p) < 4 * MIB)
        return fail("malloc is not warden's: its 4 MiB are not in warden's live bytes");
    free(p);

    wd_heap_t *heap = wd_heap_init(memory, sizeof memory);
    void *h = wd_heap_malloc(heap, 100);
    wd_arena_t *arena = wd_arena_create(0);
    char *s = wd_arena_strdup(arena, "arena");
    WD_POOL_STATIC(pool, double, 8);
    double *d = wd_pool_alloc(&pool);
    WD_VEC(int) v;
    wd_vec_init(&v);
    if (h == NULL || s == NULL || d == NULL || wd_vec_push(&v, 42) != 0 || wd_vec_at(&v, 0) != 42)
        return fail("heap, arena, pool or vector failed");
    wd_vec_free(&v);
    wd_pool_free(&pool, d);
    wd_arena_destroy(arena);
    wd_heap_free(heap, h);
    if (wd_heap_check(heap) != 0)
        return fail("wd_heap_check failed");
    printf("consumer: warden %s, malloc is warden's\n", WARDEN_VERSION);
    return 0;
}
