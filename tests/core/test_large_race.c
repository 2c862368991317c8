/* test_large_race.c -- large blocks moved by realloc while other threads map.
 *
 * A realloc that grows a large block past what its mapping can take in
 * place moves the pages to a new address; the old range goes back to the
 * kernel, which may hand it at once to another thread's fresh large block
 * or new segment.  Whoever registered the old range in the segment map must
 * have unregistered it before that happens, or a late clear erases the new
 * owner's entry and a correct free of the new owner's block aborts with
 * "invalid pointer".  This test makes that window as wide as it can:
 * oversubscribed threads (more than the machine's cores) grow chains of
 * 1-4 MiB blocks by about 1.5x (most steps must move), while the others
 * allocate fresh 1-8 MiB and small blocks; blocks cross threads through a
 * mutex-protected queue and are freed there.  Every block carries a stamp
 * (its size and a per-block key) at both ends, checked before it is freed,
 * so a block handed out twice is found as well as a false abort.
 *
 *   test_large_race [--seconds S] [--threads N] [--rounds R]
 *
 * Each round runs in a forked child with its own seed; any round that dies
 * or finds a damaged stamp fails the test.  Uses the wd_ names, so it runs
 * in the sanitizer builds too. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include <warden.h>

#include "test.h"
#include "handoff.h"

#define MIB ((size_t)1 << 20)

typedef struct {
    uint64_t key;
    size_t size;
} stamp_t;

static double seconds = 2.0;
static unsigned threads = 8;
static atomic_int stop;
static atomic_int damaged;

/* Writes the stamp at the start and at the end of a size-byte block. */
static void stamp(void *p, size_t size, uint64_t key) {
    stamp_t s = {key, size};
    memcpy(p, &s, sizeof s);
    memcpy((char *)p + size - sizeof s, &s, sizeof s);
}

/* Both stamps of p must still say what stamp() wrote; returns the size. */
static size_t stamp_check(const void *p) {
    stamp_t head, tail;
    memcpy(&head, p, sizeof head);
    memcpy(&tail, (const char *)p + head.size - sizeof tail, sizeof tail);
    if (head.size < 2 * sizeof head || tail.key != head.key || tail.size != head.size) {
        fprintf(stderr, "damaged block %p: head %llx/%zu tail %llx/%zu\n", p,
                (unsigned long long)head.key, head.size, (unsigned long long)tail.key, tail.size);
        atomic_store(&damaged, 1);
    }
    return head.size;
}

static void release(void *p) {
    stamp_check(p);
    wd_free(p);
}

/* Hands p to another thread; when the queue is full, frees it here. */
static void hand_over(void *p) {
    if (!handoff_put(p))
        release(p);
}

/* Frees a block some other thread handed over, if there is one. */
static void take_one(uint64_t *rng) {
    void *p = handoff_take(rng);
    if (p != NULL)
        release(p);
}

static void *fresh(size_t size, uint64_t key) {
    void *p = wd_malloc(size);
    CHECK(p != NULL);
    stamp(p, size, key);
    return p;
}

/* A chain of reallocs, each about 1.5x the last: the typical vector or
 * string buffer that outgrows its mapping and has to move. */
static void grow_chain(uint64_t *rng, uint64_t key) {
    size_t size = MIB + test_rand(rng) % (3 * MIB);
    void *p = fresh(size, key);
    unsigned steps = 1 + (unsigned)(test_rand(rng) % 4);
    for (unsigned i = 0; i < steps; i++) {
        stamp_check(p);
        size_t bigger = size + size / 2 + test_rand(rng) % 4096;
        void *q = wd_realloc(p, bigger);
        CHECK(q != NULL);
        stamp_t s;
        memcpy(&s, q, sizeof s);
        CHECK(s.key == key && s.size == size); /* realloc kept the contents */
        stamp(q, bigger, key);
        p = q;
        size = bigger;
    }
    if (test_rand(rng) % 2)
        hand_over(p);
    else
        release(p);
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    uint64_t n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t key = rng ^ ++n;
        unsigned action = (unsigned)(test_rand(&rng) % 8);
        if (action < 3) {
            grow_chain(&rng, key);
        } else if (action < 5) {
            hand_over(fresh(MIB + test_rand(&rng) % (7 * MIB), key));
        } else if (action < 6) {
            for (int i = 0; i < 16; i++)
                hand_over(fresh(2 * sizeof(stamp_t) + test_rand(&rng) % 256, key));
        } else {
            for (int i = 0; i < 4; i++)
                take_one(&rng);
        }
    }
    return NULL;
}

/* One round: the workers run for the given time on their own seeds. */
static void round_run(const void *arg) {
    uint64_t seed = *(const uint64_t *)arg;
    pthread_t tid[64];
    for (unsigned i = 0; i < threads; i++)
        CHECK(pthread_create(&tid[i], NULL, worker,
                             (void *)(uintptr_t)(seed * 0x9E3779B97F4A7C15ULL + i + 1)) == 0);
    struct timespec pause = {(time_t)seconds,
                             (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&pause, NULL);
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    uint64_t rng = seed;
    while (handoff.count > 0)
        take_one(&rng);
    if (atomic_load(&damaged))
        _exit(2);
}

int main(int argc, char **argv) {
    unsigned rounds = 3;
    race_options(argc, argv, &seconds, &threads, &rounds);
    CHECK(threads >= 2);
    test_rounds(round_run, rounds);
    return test_failures != 0;
}
