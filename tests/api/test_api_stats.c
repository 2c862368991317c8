/* tests/api/test_api_stats.c -- what warden says about its memory, by
 * glibc's names (mallinfo2, malloc_trim, malloc_stats, mallopt) and by its
 * own (wd_stats_get, wd_stats_print, wd_trim): counters that follow the
 * allocations of each tier, and frees (realloc to 0, free_sized,
 * free_aligned_sized) that really free.  Built as api_stats_static and
 * api_stats_preload (see api_util.h).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_util.h"

/* --- glibc extras and warden's statistics ---------------------------------- */
/* Runs fn with fd 2 redirected into a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void)) {
    static char out[65536];
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fileno(tmp), 2) == 2);
    fn();
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}
static void call_malloc_stats(void) { malloc_stats(); }
static void call_wd_stats_print(void) { p_stats_print(stderr); }

static void t_glibc_extras(void) {
    enum { NB = 10240 };
    static void *blk[NB];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < NB; i++) {
        blk[i] = malloc(hide(1024));
        CHECK(blk[i] != NULL);
        memset(blk[i], i, 1024);
    }
    struct mallinfo2 after = mallinfo2();
    if (after.uordblks < before.uordblks + 10 * MiB) {
        fprintf(stderr, "mallinfo2().uordblks %zu -> %zu after allocating 10 MiB\n",
                before.uordblks, after.uordblks);
        exit(1);
    }
    for (int i = 0; i < NB; i++)
        free(blk[i]);
    struct mallinfo2 freed = mallinfo2();
    CHECK(freed.uordblks + 10 * MiB <= after.uordblks);

    int rc = malloc_trim(0);
    CHECK(rc == 0 || rc == 1);
    rc = malloc_trim(hide(MiB));
    CHECK(rc == 0 || rc == 1);

    const char *text = capture_stderr(call_malloc_stats);
    if (strlen(text) == 0) {
        fprintf(stderr, "malloc_stats() printed nothing to stderr\n");
        exit(1);
    }
    text = capture_stderr(call_wd_stats_print);
    CHECK(strlen(text) > 0);

    CHECK_EQ(mallopt(M_ARENA_MAX, 1), 1);
    /* the allocator still works afterwards */
    void *p = malloc(hide(1000));
    CHECK(p != NULL);
    free(p);
    printf("ok: mallinfo2, malloc_trim, malloc_stats, mallopt\n");
}

static void t_wd_stats(void) {
    wd_stats_t s0, s1, s2;
    p_stats_get(&s0);
    CHECK(s0.mapped_bytes >= s0.committed_bytes);
    CHECK(s0.committed_bytes > 0);
    CHECK(s0.peak_live_bytes >= s0.live_bytes);

    /* live_bytes: N bytes in a mix of sizes */
    enum { NB = 3000 };
    static void *blk[NB];
    size_t total = 0;
    for (int i = 0; i < NB; i++) {
        size_t n = (i % 3 == 0) ? 24 : (i % 3 == 1) ? 700 : 9000;
        if (i % 500 == 0)
            n = 2 * MiB;
        blk[i] = malloc(hide(n));
        CHECK(blk[i] != NULL);
        memset(blk[i], 1, n);
        total += n;
    }
    p_stats_get(&s1);
    if (s1.live_bytes < s0.live_bytes + total) {
        fprintf(stderr, "wd_stats live_bytes %zu -> %zu after allocating %zu bytes\n",
                s0.live_bytes, s1.live_bytes, total);
        exit(1);
    }
    CHECK(s1.peak_live_bytes >= s1.live_bytes);
    CHECK(s1.mapped_bytes >= s1.committed_bytes && s1.committed_bytes >= total);
    for (int i = 0; i < NB; i++)
        free(blk[i]);
    p_stats_get(&s2);
    if (s2.live_bytes + total > s1.live_bytes) {
        fprintf(stderr, "wd_stats live_bytes %zu -> %zu after freeing %zu bytes\n",
                s1.live_bytes, s2.live_bytes, total);
        exit(1);
    }
    CHECK(s2.peak_live_bytes >= s1.live_bytes);

    /* realloc(p, 0) really frees */
    void *p = malloc(hide(MiB));
    CHECK(p != NULL);
    p_stats_get(&s1);
    CHECK(realloc(p, hide(0)) == NULL);
    p_stats_get(&s2);
    CHECK(s2.live_bytes + MiB <= s1.live_bytes);
    /* free_sized and free_aligned_sized really free */
    p = malloc(hide(MiB));
    CHECK(p != NULL);
    p_stats_get(&s1);
    std_ops.free_sized_(p, MiB);
    p_stats_get(&s2);
    CHECK(s2.live_bytes + MiB <= s1.live_bytes);
    p = aligned_alloc(4096, hide(MiB));
    CHECK(p != NULL);
    p_stats_get(&s1);
    std_ops.free_aligned_sized_(p, 4096, MiB);
    p_stats_get(&s2);
    CHECK(s2.live_bytes + MiB <= s1.live_bytes);

    /* tiers: 32 B small, 100 KiB medium, 8 MiB large */
    struct {
        size_t size;
        int count;
    } tiers[3] = {{32, 200}, {100 * KiB, 40}, {8 * MiB, 3}};
    for (int t = 0; t < 3; t++) {
        p_stats_get(&s1);
        for (int i = 0; i < tiers[t].count; i++) {
            blk[i] = malloc(hide(tiers[t].size));
            CHECK(blk[i] != NULL);
            memset(blk[i], 2, tiers[t].size);
        }
        p_stats_get(&s2);
        size_t d_allocs[3] = {s2.small_allocs - s1.small_allocs, s2.medium_allocs - s1.medium_allocs,
                              s2.large_allocs - s1.large_allocs};
        size_t d_live[3] = {s2.small_live - s1.small_live, s2.medium_live - s1.medium_live,
                            s2.large_live - s1.large_live};
        for (int u = 0; u < 3; u++) {
            int want = u == t ? tiers[t].count : 0;
            if ((u == t && (d_allocs[u] < (size_t)want || d_live[u] < (size_t)want)) ||
                (u != t && (d_allocs[u] != 0 || d_live[u] != 0))) {
                fprintf(stderr, "wd_stats after %d blocks of %zu bytes: tier %d allocs +%zu, live +%zu\n",
                        tiers[t].count, tiers[t].size, u, d_allocs[u], d_live[u]);
                exit(1);
            }
        }
        for (int i = 0; i < tiers[t].count; i++)
            free(blk[i]);
        p_stats_get(&s1);
        CHECK(s1.small_live <= s2.small_live && s1.medium_live <= s2.medium_live &&
              s1.large_live <= s2.large_live);
    }
    p_stats_get(&s1);
    CHECK(s1.threads >= 1);
    CHECK(s1.mapped_bytes >= s1.committed_bytes && s1.committed_bytes > 0);
    int rc = p_trim(0);
    CHECK(rc == 0 || rc == 1);
    p_stats_get(&s2);
    CHECK(s2.mapped_bytes >= s2.committed_bytes && s2.committed_bytes > 0);
    CHECK(s2.returned_bytes >= s1.returned_bytes);
    printf("ok: wd_stats_get, wd_trim\n");
}

/* --- main ------------------------------------------------------------------ */
/* A thread whose frees keep its pages stocked never runs a page dry, so
 * the refill path never comes: the idle pages of an earlier phase must go
 * back to the OS all the same (decommit_ms after they emptied, 750 ms by
 * default), from the upkeep that the sampler's countdown runs. */
static void t_idle_pages_return_in_steady_loop(void) {
    enum { NB = 200000 }; /* 12.8 MiB of 64-byte blocks */
    static void *blk[NB];
    for (int i = 0; i < NB; i++) {
        blk[i] = malloc(hide(64));
        CHECK(blk[i] != NULL);
        memset(blk[i], 1, 64);
    }
    for (int i = 0; i < NB; i++)
        free(blk[i]);
    wd_stats_t s0, s1;
    p_stats_get(&s0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double waited = 0;
    do { /* one block of another class, freed and taken again: never dry */
        for (int i = 0; i < 100000; i++) {
            void *p = malloc(hide(32));
            CHECK(p != NULL);
            free(p);
        }
        p_stats_get(&s1);
        clock_gettime(CLOCK_MONOTONIC, &t);
        waited = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
    } while (s1.returned_bytes < s0.returned_bytes + 8 * MiB && waited < 10);
    if (s1.returned_bytes < s0.returned_bytes + 8 * MiB) {
        fprintf(stderr, "returned_bytes %zu -> %zu in %.1f s of a steady loop after freeing %zu bytes\n",
                s0.returned_bytes, s1.returned_bytes, waited, (size_t)NB * 64);
        exit(1);
    }
}

/* Blocks of this thread freed by another thread: the statistics count
 * them as free at once, though they wait on their pages' lists of other
 * threads' frees until this thread takes them back.  Not with harden=2,
 * whose quarantined blocks count as live. */
static void *free_all(void *arg) {
    void **blocks = arg;
    for (int i = 0; blocks[i] != NULL; i++)
        free(blocks[i]);
    return NULL;
}

static void t_remote_frees_counted(void) {
    if (test_harden2())
        return;
    enum { NB = 100 };
    static void *blk[NB + 1];
    pthread_t t;
    /* A first thread, so that what the C library keeps of one (its
     * thread-local storage) is there before the count. */
    blk[0] = NULL;
    CHECK(pthread_create(&t, NULL, free_all, blk) == 0 && pthread_join(t, NULL) == 0);
    wd_stats_t s0, s1;
    p_stats_get(&s0);
    for (int i = 0; i < NB; i++)
        CHECK((blk[i] = malloc(hide(64))) != NULL);
    blk[NB] = NULL;
    CHECK(pthread_create(&t, NULL, free_all, blk) == 0 && pthread_join(t, NULL) == 0);
    p_stats_get(&s1);
    if (s1.small_live != s0.small_live) {
        fprintf(stderr, "live small blocks %zu before, %zu after another thread freed the %d made between\n",
                s0.small_live, s1.small_live, NB);
        exit(1);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);

    resolve_names();
    check_identity();

    SECTION(t_glibc_extras());
    SECTION(t_wd_stats());
    SECTION(t_idle_pages_return_in_steady_loop());
    SECTION(t_remote_frees_counted());

    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("all api_stats checks passed\n");
    return 0;
}
