/* thread.c -- owns thread heaps, the pthread key whose destructor abandons a
 * heap at thread exit, the upkeep that returns idle memory, and what fork
 * does to the heaps.  Calls: page.h (the heaps' pages), medium.h and
 * large.h (upkeep, fork), segment.h, options.h, os.h, counters.h. */
#include "core/thread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "base/counters.h"
#include "base/lock.h"
#include "base/options.h"
#include "base/ownmem.h"
#include "base/tsan.h"
#include "core/large.h"
#include "core/medium.h"
#include "core/segment.h"
#include "os/os.h"

__thread wd_theap_t *wdi_tl_home __attribute__((tls_model("initial-exec")));
__thread wd_theap_t *wdi_tl_heap __attribute__((tls_model("initial-exec"))) = &wdi_heap_none;
wd_theap_t wdi_heap_none = {.small.current = {[0 ... WD_CLASSES - 1] = &wdi_page_empty}};
/* Set once the thread's heap was given up in the key destructor: later
 * allocations of that thread (glibc still frees and mallocs during thread
 * exit) go to the shared medium tier instead of making a new heap. */
static __thread int tl_exiting __attribute__((tls_model("initial-exec")));

static pthread_key_t heap_key;
static void (*heap_at_exit)(wd_theap_t *h);

static wd_lock_t heaps_lock = WD_LOCK_INIT;
static wd_theap_t *all_heaps;       /* every heap, linked by next_all */
static wd_theap_t *abandoned_heaps; /* linked by next_abandoned */
static wd_theap_t *heap_pool;       /* carved but never used */
static size_t heap_pool_left;

/* --- heaps ------------------------------------------------------------------ */

static void heap_init(wd_theap_t *h) {
    memset(h, 0, sizeof *h);
    wdi_small_heap_init(&h->small);
}

/* A heap from the pool (heaps live in 64 KiB chunks from the OS and are
 * never freed: an exited thread's heap is adopted by the next thread).
 * Called with heaps_lock held. */
static wd_theap_t *heap_carve(void) {
    if (heap_pool_left == 0) {
        void *chunk;
        if (wdi_os_map(WD_PAGE_SIZE, &chunk) != 0)
            return NULL;
        wdi_own_add(chunk, WD_PAGE_SIZE); /* the leak scan skips it */
        wdi_stat_add(WD_STAT_MAPPED, WD_PAGE_SIZE);
        wdi_stat_add(WD_STAT_COMMITTED, WD_PAGE_SIZE);
        heap_pool = chunk;
        heap_pool_left = WD_PAGE_SIZE / sizeof(wd_theap_t);
    }
    heap_pool_left--;
    wd_theap_t *h = heap_pool++;
    heap_init(h);
    h->next_all = all_heaps;
    all_heaps = h;
    wdi_stat_add(WD_STAT_THREADS, 1);
    return h;
}

static void heap_on_thread_exit(void *arg) {
    wd_theap_t *h = arg;
    if (heap_at_exit != NULL)
        heap_at_exit(h); /* its frees still go to h's own pages */
    wdi_tl_heap = &wdi_heap_none;
    wdi_tl_home = NULL;
    tl_exiting = 1;
    wdi_page_collect_all(&h->small, 1);
    wdi_lock(&heaps_lock);
    h->abandoned = 1;
    h->next_abandoned = abandoned_heaps;
    abandoned_heaps = h;
    wdi_unlock(&heaps_lock);
}

void wdi_heaps_init(void (*at_exit)(wd_theap_t *h)) {
    heap_at_exit = at_exit;
    pthread_key_create(&heap_key, heap_on_thread_exit);
}

wd_theap_t *wdi_heap_get_slow(void) {
    if (wdi_tl_home != NULL)
        return wdi_tl_home;
    if (tl_exiting)
        return NULL;
    wdi_lock(&heaps_lock);
    wd_theap_t *h = abandoned_heaps;
    if (h != NULL) {
        abandoned_heaps = h->next_abandoned;
        h->next_abandoned = NULL;
        h->abandoned = 0;
    } else {
        h = heap_carve();
    }
    wdi_unlock(&heaps_lock);
    if (h == NULL)
        return NULL;
    /* Set before pthread_setspecific, which may itself call calloc. */
    wdi_tl_home = h;
    if (!wdi_wrapped())
        wdi_tl_heap = h;
    pthread_setspecific(heap_key, h);
    return h;
}

void wdi_heaps_foreach(void (*fn)(wd_theap_t *h, void *arg), void *arg) {
    wdi_lock(&heaps_lock);
    for (wd_theap_t *h = all_heaps; h; h = h->next_all)
        fn(h, arg);
    wdi_unlock(&heaps_lock);
}

wd_theap_t *wdi_heaps_first(void) {
    wdi_lock(&heaps_lock);
    wd_theap_t *h = all_heaps;
    wdi_unlock(&heaps_lock);
    return h;
}

/* --- the ticker ---------------------------------------------------------------- */

/* One slot a ticker: the statistics lines, the profile's signal. */
#define TICKERS 4
static struct ticker_s {
    void (*fn)(void);
    uint32_t ms;
    uint8_t in_children; /* started again in a fork child */
} tickers[TICKERS];
static unsigned tickers_used;

static void *ticker_main(void *arg) {
    const struct ticker_s *t = arg;
    for (;;) {
        wdi_os_sleep_ms(t->ms);
        t->fn();
    }
    return NULL;
}

static int ticker_spawn(struct ticker_s *t) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)256 << 10);
    /* Signals meant for the program's threads never land here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int err = pthread_create(&tid, &attr, ticker_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err;
}

int wdi_ticker_start(void (*fn)(void), uint32_t period_ms, int in_children) {
    unsigned slot = __atomic_fetch_add(&tickers_used, 1, __ATOMIC_RELAXED);
    if (slot >= TICKERS)
        return EAGAIN;
    struct ticker_s *t = &tickers[slot];
    t->fn = fn;
    t->ms = period_ms ? period_ms : 1;
    t->in_children = (uint8_t)(in_children != 0);
    return ticker_spawn(t);
}

/* fork() copies only the calling thread: the tickers a child needs are
 * started again, once the child's allocator is usable (pthread_create
 * allocates the thread's TLS).  Not under ThreadSanitizer, which kills a
 * child that starts a thread after a multi-threaded fork, and runs vfork
 * as fork (the symbolizer's helper would die before its execve). */
void wdi_tickers_fork_child(void) {
    if (WD_TSAN)
        return;
    unsigned used = __atomic_load_n(&tickers_used, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < used && i < TICKERS; i++)
        if (tickers[i].in_children && tickers[i].fn != NULL)
            ticker_spawn(&tickers[i]);
}

/* --- fork ------------------------------------------------------------------- */

/* Every lock is taken before fork, so the child never inherits one held by
 * a thread that does not exist there. */
void wdi_heaps_fork_prepare(void) {
    wdi_lock(&heaps_lock);
    wdi_medium_fork_prepare();
    wdi_large_fork_prepare();
    wdi_segment_fork_prepare();
}

void wdi_heaps_fork_parent(void) {
    wdi_segment_fork_parent();
    wdi_large_fork_parent();
    wdi_medium_fork_parent();
    wdi_unlock(&heaps_lock);
}

/* In the child only this thread lives: reset the locks.  The heaps of the
 * other threads that were running at fork() are left as they are, for
 * nobody: those threads take no lock on their fast paths, so a heap may
 * be in the middle of a malloc or a free (a page list half moved,
 * harden=2's quarantine holding a block not yet filled), and a thread of
 * the child that adopted it, or the check of the quarantines at exit,
 * would act on that half (a false "write after free" was seen).  Their
 * blocks stay valid; frees of them take the path of another thread's
 * block.  The heaps abandoned before fork() (their threads exited and
 * handed them over under heaps_lock, which fork_prepare holds) are whole,
 * and the child's threads adopt them as usual. */
void wdi_heaps_fork_child(void) {
    wdi_segment_fork_child();
    wdi_large_fork_child();
    wdi_medium_fork_child();
    wdi_lock_reset(&heaps_lock);
}

/* --- what the heaps hold ------------------------------------------------- */

/* Adds one heap's counters.  (A racy but harmless read of other threads'
 * counters: statistics, not decisions; see wdi_page_count_live.) */
WD_TSAN_UNCHECKED static void heap_sum(wd_theap_t *h, void *arg) {
    wd_heaps_sum_t *sum = arg;
    sum->allocs += h->small.allocs_base - (size_t)h->small.sample_left;
    sum->held_small += h->held_small;
    sum->held_large += h->held_large;
    wdi_page_count_live(&h->small, &sum->blocks, &sum->bytes);
}

size_t wdi_live_sample(wd_heaps_sum_t *sum) {
    *sum = (wd_heaps_sum_t){0, 0, 0, 0, 0};
    wdi_heaps_foreach(heap_sum, sum);
    size_t held = sum->held_small + sum->held_large;
    size_t live = sum->bytes + wdi_medium_live_bytes() + wdi_stat_get(WD_STAT_LARGE_BYTES);
    live = live > held ? live - held : 0;
    wdi_stats_note_live(live);
    return live;
}

/* --- returning memory ------------------------------------------------------- */

static uint64_t last_global_ms;

static void abandoned_decommit(uint32_t now, uint32_t delay) {
    if (!wdi_lock_try(&heaps_lock))
        return; /* someone else is on it; next time */
    for (wd_theap_t *h = abandoned_heaps; h; h = h->next_abandoned)
        wdi_page_decommit_idle(&h->small, now, delay);
    wdi_unlock(&heaps_lock);
}

/* A delay of 0 returns every idle page at once. */
void wdi_heap_upkeep(wd_theap_t *h) {
    uint64_t now = wdi_os_now_ms();
    uint32_t delay = wdi_options.decommit_ms;
    wdi_page_decommit_idle(&h->small, (uint32_t)now, delay);
    uint64_t last = __atomic_load_n(&last_global_ms, __ATOMIC_RELAXED);
    if (now - last < 50 ||
        !__atomic_compare_exchange_n(&last_global_ms, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    wdi_medium_maintain((uint32_t)now, delay);
    wdi_large_maintain(now, delay);
    abandoned_decommit((uint32_t)now, delay);
    wd_heaps_sum_t sum;
    wdi_live_sample(&sum); /* the peak of live bytes, sampled */
}

/* Every page of h that holds no block goes back to the OS now. */
static void heap_trim(wd_theap_t *h) {
    wdi_page_collect_all(&h->small, 1);
    wdi_page_decommit_idle(&h->small, 0, 0);
}

int wdi_trim_all(void) {
    size_t before = wdi_stat_get(WD_STAT_RETURNED);
    if (wdi_tl_home != NULL)
        heap_trim(wdi_tl_home);
    wdi_medium_maintain(0, 0);
    wdi_large_maintain(0, 0);
    wdi_lock(&heaps_lock);
    for (wd_theap_t *a = abandoned_heaps; a; a = a->next_abandoned)
        heap_trim(a);
    wdi_unlock(&heaps_lock);
    size_t unmapped = wdi_segment_trim();
    return unmapped != 0 || wdi_stat_get(WD_STAT_RETURNED) != before;
}
