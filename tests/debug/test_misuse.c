/* test_misuse.c -- the global allocator's always-on checks, each misuse in a
 * forked child that must abort with the exact `warden:` line.  Uses the wd_
 * names, so it runs in the sanitizer builds too (where the standard names
 * stay the sanitizer's).  Small, medium and large blocks; local and
 * cross-thread frees; foreign and interior pointers. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "test.h"
#include "warden.h"

/* Each case writes the line it expects to fd 3 just before the misuse;
 * the parent compares it with what warden printed on fd 2. */
static char expected[160];

static void expect_at(const char *what, const void *p, const char *fn) {
    snprintf(expected, sizeof expected, "warden: %s at %p in %s\n", what, p, fn);
}

/* The child writes the expected line to fd 3 before the misuse, and its
 * stderr (fd 2) must then hold exactly that line. */
#define CASE(name, ...) static void name(void) __VA_ARGS__

static void announce(void) {
    ssize_t w = write(3, expected, strlen(expected));
    (void)w;
}

CASE(small_double_free, {
    void *p = wd_malloc(40);
    wd_free(p);
    expect_at("double free", p, "free");
    announce();
    wd_free(p);
})

CASE(small_double_free_after_others, {
    void *a = wd_malloc(40), *b = wd_malloc(40), *c = wd_malloc(40);
    wd_free(a);
    wd_free(b);
    wd_free(c);
    expect_at("double free", b, "free");
    announce();
    wd_free(b);
})

CASE(small_double_free_unwritten, { /* never written: the cleared word must not hide it */
    void *p = wd_malloc(16);
    void *q = wd_malloc(16);
    wd_free(q);
    wd_free(p);
    expect_at("double free", q, "free");
    announce();
    wd_free(q);
})

static void *thread_free(void *p) {
    wd_free(p);
    return NULL;
}

CASE(small_double_free_other_thread, {
    void *p = wd_malloc(64);
    wd_malloc(64); /* keeps the page in use */
    wd_free(p);
    expect_at("double free", p, "free");
    announce();
    pthread_t t;
    pthread_create(&t, NULL, thread_free, p);
    pthread_join(t, NULL);
})

/* Another thread, still running, freed p (a remote free, on the page's
 * list for other threads' frees): the owner's second free must still be a
 * double free.  Guards any deferral of remote frees (a batching of them was
 * tried) against hiding the block from the owner's search. */
static atomic_int remote_freed;
static void *thread_free_and_stay(void *p) {
    wd_free(wd_malloc(16)); /* a heap of its own, so its frees are batched */
    wd_free(p);
    atomic_store(&remote_freed, 1);
    for (;;)
        pause();
    return NULL;
}

CASE(small_double_free_remote_live, {
    void *p = wd_malloc(64);
    wd_malloc(64); /* keeps the page in use */
    pthread_t t;
    pthread_create(&t, NULL, thread_free_and_stay, p);
    while (!atomic_load(&remote_freed))
        sched_yield();
    expect_at("double free", p, "free");
    announce();
    wd_free(p);
})

CASE(small_interior_16, {
    char *p = wd_malloc(40);
    expect_at("invalid pointer", p + 16, "free");
    announce();
    wd_free(p + 16);
})

CASE(small_interior_odd_class, { /* 3072-byte class: not a power of two */
    char *p = wd_malloc(3000);
    expect_at("invalid pointer", p + 1024, "free");
    announce();
    wd_free(p + 1024);
})

CASE(small_interior_other_thread, {
    char *p = wd_malloc(200);
    expect_at("invalid pointer", p + 96, "free");
    announce();
    pthread_t t;
    pthread_create(&t, NULL, thread_free, p + 96);
    pthread_join(t, NULL);
})

CASE(small_misaligned, {
    char *p = wd_malloc(64);
    expect_at("invalid pointer", p + 8, "free");
    announce();
    wd_free(p + 8);
})

CASE(medium_double_free, {
    void *p = wd_malloc(100000);
    wd_malloc(100000);
    wd_free(p);
    expect_at("double free", p, "free");
    announce();
    wd_free(p);
})

CASE(medium_interior, {
    char *p = wd_malloc(100000);
    expect_at("invalid pointer", p + 4096, "free");
    announce();
    wd_free(p + 4096);
})

CASE(large_double_free, {
    void *p = wd_malloc((size_t)8 << 20);
    wd_free(p);
    expect_at("double free", p, "free");
    announce();
    wd_free(p);
})

/* b's mapping was merged into a's when a was freed after it (the two were
 * cut from one cached mapping, side by side): b's own header is gone, and
 * the second free must still say what it is. */
CASE(large_double_free_merged, {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t four = ((size_t)4 << 20) - 2 * page; /* a block and its header page: 4 MiB */
    wd_free(wd_malloc((size_t)8 << 20));        /* one 8 MiB mapping in the cache */
    char *a = wd_malloc(four), *b = wd_malloc(four);
    if (b != a + ((size_t)4 << 20)) {           /* not cut side by side: nothing to test */
        expect_at("double free", b, "free");
        announce();
        wd_free(b);
        wd_free(b);
    }
    wd_free(b);
    wd_free(a);
    expect_at("double free", b, "free");
    announce();
    wd_free(b);
})

CASE(large_interior, {
    char *p = wd_malloc((size_t)8 << 20);
    expect_at("invalid pointer", p + 4096, "free");
    announce();
    wd_free(p + 4096);
})

static int a_global;
CASE(foreign_global, {
    expect_at("invalid pointer", &a_global, "free");
    announce();
    wd_free(&a_global);
})

CASE(foreign_stack, {
    char local[32];
    expect_at("invalid pointer", local, "free");
    announce();
    wd_free(local);
})

CASE(realloc_freed_small, { /* moving: the old block is freed again */
    void *p = wd_malloc(32);
    wd_malloc(32);
    wd_free(p);
    expect_at("use after free", p, "realloc");
    announce();
    wd_realloc(p, 64);
})

CASE(realloc_freed_small_in_place, { /* fits in place: still checked */
    void *p = wd_malloc(32);
    wd_malloc(32);
    wd_free(p);
    expect_at("use after free", p, "realloc");
    announce();
    wd_realloc(p, 24);
})

CASE(usable_size_freed_small, {
    void *p = wd_malloc(32);
    wd_malloc(32);
    wd_free(p);
    expect_at("use after free", p, "malloc_usable_size");
    announce();
    wd_malloc_usable_size(p);
})

CASE(free_sized_too_big, {
    void *p = wd_malloc(100);
    expect_at("free_sized with a wrong size", p, "free_sized");
    announce();
    wd_free_sized(p, 4096);
})

#define RUN(name) test_failures += test_expect_announced(name, #name)

int main(void) {
    RUN(small_double_free);
    RUN(small_double_free_after_others);
    RUN(small_double_free_unwritten);
    RUN(small_double_free_other_thread);
    RUN(small_double_free_remote_live);
    RUN(small_interior_16);
    RUN(small_interior_odd_class);
    RUN(small_interior_other_thread);
    RUN(small_misaligned);
    RUN(medium_double_free);
    RUN(medium_interior);
    RUN(large_double_free);
    RUN(large_double_free_merged);
    RUN(large_interior);
    RUN(foreign_global);
    RUN(foreign_stack);
    RUN(realloc_freed_small);
    RUN(realloc_freed_small_in_place);
    RUN(usable_size_freed_small);
    RUN(free_sized_too_big);
    printf("%d failure(s)\n", test_failures);
    return test_failures ? 1 : 0;
}
