/* test_remote_retire.c -- a free from another thread racing the exit of
 * the thread that allocated the block.
 *
 * A free from another thread pushes the block on its page's list of
 * remote frees, then, when the page is on its owner's list of full pages,
 * tells the owner (page.c, page_notify_owner) by reading the page's owner
 * and pushing the page on that heap's stack of notices.  Between the push
 * and the read, the owner may collect the block and retire the page, as a
 * thread does with every page left empty when it exits (thread.c): the
 * page then has no owner, and the read found the mark of a retired page
 * instead of a heap.  `make stress` died of it once in about 160 runs of
 * stress_plain (a segmentation fault at address 0x6a1 in
 * page_notify_owner).  ThreadSanitizer reports that read every time the
 * two meet, ordered by nothing; the plain build needs the exiting thread
 * to run in a window of a few instructions, which oversubscribed threads
 * and many rounds give it now and then.
 *
 * Producers are short-lived threads: each allocates BLOCKS blocks of
 * BLOCK_SIZE bytes (a size of which a page holds one, so that every page
 * is full, on its heap's list of full pages, as soon as its block is
 * handed out), stamps them, hands them to the consumers and exits at
 * once.  Consumers check each block's stamp and free it.
 *
 *   test_remote_retire [--seconds S] [--threads CONSUMERS] [--rounds R]
 *
 * Each round runs in a forked child with its own seed; any round that dies
 * or finds a damaged stamp fails the test.  Uses the wd_ names, so it runs
 * in the sanitizer builds too. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include <warden.h>

#include "test.h"
#define HANDOFF_CAP 256
#include "handoff.h"

#define BLOCK_SIZE 60000 /* class 61440: one block a 64 KiB page */
#define BLOCKS 8
#define PRODUCERS_LIVE 4

static double seconds = 2.0;
static unsigned consumers = 4; /* --threads */
static atomic_int stop;
static atomic_int damaged;
static atomic_ulong freed;

static void stamp(void *p, uint64_t key) {
    memcpy(p, &key, sizeof key);
    memcpy((char *)p + BLOCK_SIZE - sizeof key, &key, sizeof key);
}

static void release(void *p) {
    uint64_t head, tail;
    memcpy(&head, p, sizeof head);
    memcpy(&tail, (const char *)p + BLOCK_SIZE - sizeof tail, sizeof tail);
    if (head != tail) {
        fprintf(stderr, "damaged block %p: head %llx tail %llx\n", p, (unsigned long long)head,
                (unsigned long long)tail);
        atomic_store(&damaged, 1);
    }
    wd_free(p);
    atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

/* Allocates its blocks, hands them over, exits: its heap's exit collects
 * the frees the consumers made meanwhile and retires the emptied pages. */
static void *producer(void *arg) {
    uint64_t key = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL;
    for (unsigned i = 0; i < BLOCKS; i++) {
        void *p = wd_malloc(BLOCK_SIZE);
        CHECK(p != NULL);
        stamp(p, key + i);
        if (!handoff_put(p))
            release(p);
    }
    return NULL;
}

static void *consumer(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (;;) {
        void *p = handoff_take(&rng);
        if (p != NULL)
            release(p);
        else if (atomic_load_explicit(&stop, memory_order_acquire))
            return NULL;
        else
            sched_yield();
    }
}

/* One round: producers come and go for the given time, PRODUCERS_LIVE at
 * a time, while the consumers free what they hand over. */
static void round_run(const void *arg) {
    uint64_t seed = *(const uint64_t *)arg;
    pthread_t ctid[64], ptid[PRODUCERS_LIVE];
    for (unsigned i = 0; i < consumers; i++)
        CHECK(pthread_create(&ctid[i], NULL, consumer, (void *)(uintptr_t)(seed + i + 1)) == 0);
    double end = test_now() + seconds;
    unsigned long made = 0;
    while (test_now() < end) {
        for (unsigned i = 0; i < PRODUCERS_LIVE; i++)
            CHECK(pthread_create(&ptid[i], NULL, producer, (void *)(uintptr_t)(seed + ++made)) ==
                  0);
        for (unsigned i = 0; i < PRODUCERS_LIVE; i++)
            pthread_join(ptid[i], NULL);
    }
    atomic_store_explicit(&stop, 1, memory_order_release);
    for (unsigned i = 0; i < consumers; i++)
        pthread_join(ctid[i], NULL);
    if (atomic_load(&damaged) || atomic_load(&freed) != made * BLOCKS) {
        fprintf(stderr, "%lu blocks freed of %lu\n", atomic_load(&freed), made * BLOCKS);
        _exit(2);
    }
}

int main(int argc, char **argv) {
    unsigned rounds = 3;
    race_options(argc, argv, &seconds, &consumers, &rounds);
    test_rounds(round_run, rounds);
    return test_failures != 0;
}
