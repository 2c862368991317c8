/* thread.h -- thread heaps: one per thread, created on first use.
 *
 * A thread heap owns small segments and the pages in them (its small heap,
 * page.h); only its thread touches their free lists.  When the thread
 * exits, its heap is abandoned whole (pages with live blocks included) and
 * the next thread that needs a heap adopts it, so short-lived threads
 * strand no memory.  This layer owns the heaps' lifetimes: the pthread key
 * whose destructor abandons a heap, the upkeep that returns idle memory,
 * trimming, and what fork does to the heaps. */
#ifndef WARDEN_THREAD_H
#define WARDEN_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"
#include "core/page.h"

typedef struct wd_theap_s {
    /* First, so that a page's owner (a wd_small_heap_t *) is the heap's
     * own address: free's owner test compares one pointer. */
    wd_small_heap_t small;
    struct wd_theap_s *next_all;       /* every heap ever made (stats, fork) */
    struct wd_theap_s *next_abandoned; /* heaps whose thread exited */
    struct wd_quarantine_s *quarantine; /* harden=2: freed blocks held back */
    struct wd_check_thread_s *check; /* check mode: the thread's stacks and frees (check.c) */
    struct wd_stack_memo_s *prof_memo; /* the heap profiler: the thread's stacks (profile.c) */
    /* harden=2: raw bytes the quarantine holds, small and medium blocks and
     * large ones; written by the owner alone (no shared counter on every
     * free), summed by the statistics. */
    size_t held_small, held_large;
    uint32_t slow_count;               /* refills, to pace the upkeep */
    uint32_t abandoned;
    /* Heaps are carved side by side (thread.c): whole 128-byte blocks (a
     * line and the neighbour the prefetcher fetches with it), so that one
     * thread's writes at the end of its heap never take the line of
     * another's first size classes away from it. */
} __attribute__((aligned(128))) wd_theap_t;

/* The calling thread's heap, or NULL before its first allocation and after
 * its exit began.  initial-exec TLS: one load from the thread pointer, and
 * no allocation on first access (a dynamic TLS model could call malloc). */
extern __thread wd_theap_t *wdi_tl_home __attribute__((tls_model("initial-exec")));

/* The heap the fast paths of malloc and free use: wdi_tl_home, or
 * &wdi_heap_none when the thread has no heap yet (or no more) and always
 * with harden=2, so that every call takes the slow path. */
extern __thread wd_theap_t *wdi_tl_heap __attribute__((tls_model("initial-exec")));

/* The calling thread's small heap, or NULL when it has no heap: what a
 * page's owner is compared with. */
static inline wd_small_heap_t *wdi_small_here(void) {
    wd_theap_t *h = wdi_tl_home;
    return h != NULL ? &h->small : NULL;
}

/* A heap that owns nothing: every class's page is wdi_page_empty, so
 * malloc's fast path finds no block and free's owner test never matches,
 * and neither path needs a NULL test. */
extern wd_theap_t wdi_heap_none;

/* Creates the pthread key whose destructor abandons an exiting thread's
 * heap; before that, at_exit(h) (when not NULL) lets the layers above
 * give back what they keep in the heap (harden=2's quarantine).  Called
 * once by the process initialisation. */
void wdi_heaps_init(void (*at_exit)(wd_theap_t *h));

/* The calling thread's heap, creating or adopting one; NULL when the
 * thread is exiting (its allocations then go to the shared medium tier).
 * The process is initialised. */
wd_theap_t *wdi_heap_get_slow(void);

/* Returns idle memory to the OS: h's retired pages, and at most every
 * 50 ms (whichever thread comes first) the shared tiers' and the abandoned
 * heaps'; samples the peak of live bytes. */
void wdi_heap_upkeep(wd_theap_t *h);

/* Small malloc's slow path for class cls (the current page has no free
 * block): refills from h's pages, and every 16th time runs the upkeep
 * first.  The fast path keeps no clock; a page comes here each time its
 * free list runs dry, so even a program that allocates little after a big
 * free reaches the upkeep soon. */
static inline void *wdi_heap_refill(wd_theap_t *h, unsigned cls) {
    if (wd_unlikely(++h->slow_count % 16 == 0))
        wdi_heap_upkeep(h);
    return wdi_page_malloc_slow(&h->small, cls);
}

/* Calls fn on every heap (live or abandoned), under the heap-list lock. */
void wdi_heaps_foreach(void (*fn)(wd_theap_t *h, void *arg), void *arg);

/* The most recent heap; each one's next_all leads to the older ones.  A
 * heap's next_all never changes once it is listed and heaps are never
 * freed, so the walk from this snapshot needs no lock (the heaps' counts
 * are read as wdi_page_count_live reads them). */
wd_theap_t *wdi_heaps_first(void);

/* Starts a thread that calls fn every period_ms milliseconds for the rest
 * of the process (the statistics lines of stats_interval_ms, the heap
 * profile asked for by a signal), and with in_children in every child
 * made by fork() as well (wdi_tickers_fork_child); at most 4 of them; fn
 * must not allocate.  The thread has every signal blocked.  Called once,
 * from outside any lock of warden's: pthread_create allocates.  0, or an
 * errno value. */
int wdi_ticker_start(void (*fn)(void), uint32_t period_ms, int in_children);

/* In a fork child, last of its fork handlers: the tickers started with
 * in_children run again. */
void wdi_tickers_fork_child(void);

/* What the heaps hold: small blocks handed out, live small blocks and
 * their bytes (counted from the pages, so the fast paths keep no byte
 * counter; blocks freed by other threads count as live until the owner
 * collects them), and harden=2's quarantined bytes. */
typedef struct wd_heaps_sum_s {
    size_t allocs, blocks, bytes;
    size_t held_small, held_large;
} wd_heaps_sum_t;

/* Fills *sum and returns the live bytes of every tier less what the
 * quarantines hold; records the peak (the upkeep calls it at most every
 * 50 ms of allocator activity; a statistics query does the same). */
size_t wdi_live_sample(wd_heaps_sum_t *sum);

/* malloc_trim: returns every idle page and free range to the OS now. */
int wdi_trim_all(void);

/* fork(): every lock of the heaps and the tiers is taken before, released
 * after in the parent; in the child, where only the calling thread lives,
 * the locks are reset, and the heaps of the other threads that were
 * running are left to nobody (thread.c says why). */
void wdi_heaps_fork_prepare(void);
void wdi_heaps_fork_parent(void);
void wdi_heaps_fork_child(void);

#endif /* WARDEN_THREAD_H */
