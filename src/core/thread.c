/* thread.c -- owns thread heaps, the pthread key whose destructor abandons a
 * heap at thread exit, process initialisation and the fork handlers.
 * Calls: page.h (collecting pages), medium.h and large.h (fork, upkeep),
 * segment.h, options.h, os.h.  The only file that calls pthread_*. */
#include "core/thread.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "debug/harden.h"
#include "core/large.h"
#include "base/lock.h"
#include "core/medium.h"
#include "base/options.h"
#include "os/os.h"
#include "core/segment.h"
#include "base/counters.h"

__thread wd_theap_t *wdi_tl_home __attribute__((tls_model("initial-exec")));
__thread wd_theap_t *wdi_tl_heap __attribute__((tls_model("initial-exec"))) = &wdi_heap_none;
wd_theap_t wdi_heap_none = {.current = {[0 ... WD_CLASSES - 1] = &wdi_page_empty}};
/* Set once the thread's heap was given up in the key destructor: later
 * allocations of that thread (glibc still frees and mallocs during thread
 * exit) go to the shared medium tier instead of making a new heap. */
static __thread int tl_exiting __attribute__((tls_model("initial-exec")));

int wdi_process_ready;
static wd_lock_t init_lock = WD_LOCK_INIT;
/* WARDEN_OPTIONS could not be read yet (environment not set up). */
static int options_pending;
static pthread_key_t heap_key;

static wd_lock_t heaps_lock = WD_LOCK_INIT;
static wd_theap_t *all_heaps;       /* every heap, linked by next_all */
static wd_theap_t *abandoned_heaps; /* linked by next_abandoned */
static wd_theap_t *heap_pool;       /* carved but never used */
static size_t heap_pool_left;

/* --- heaps ------------------------------------------------------------------ */

static void options_retry(void);

static void heap_init(wd_theap_t *h) {
    memset(h, 0, sizeof *h);
    for (unsigned c = 0; c < WD_CLASSES; c++)
        h->current[c] = &wdi_page_empty;
    h->secret = wdi_os_random();
    h->rng = h->secret | 1;
}

/* A heap from the pool (heaps live in 64 KiB chunks from the OS and are
 * never freed: an exited thread's heap is adopted by the next thread).
 * Called with heaps_lock held. */
static wd_theap_t *heap_carve(void) {
    if (heap_pool_left == 0) {
        void *chunk;
        if (wdi_os_map(WD_PAGE_SIZE, &chunk) != 0)
            return NULL;
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
    wdi_hard_heap_exit(h); /* its frees still go to h's own pages */
    wdi_tl_heap = &wdi_heap_none;
    wdi_tl_home = NULL;
    tl_exiting = 1;
    wdi_page_collect_all(h, 1);
    wdi_lock(&heaps_lock);
    h->abandoned = 1;
    h->next_abandoned = abandoned_heaps;
    abandoned_heaps = h;
    wdi_unlock(&heaps_lock);
}

wd_theap_t *wdi_heap_get_slow(void) {
    if (wdi_tl_home != NULL)
        return wdi_tl_home;
    if (tl_exiting)
        return NULL;
    wdi_process_init();
    options_retry();
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
    if (!wdi_harden2)
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

/* --- fork ------------------------------------------------------------------- */

/* Every lock is taken before fork, so the child never inherits one held by
 * a thread that does not exist there. */
static void fork_prepare(void) {
    wdi_lock(&heaps_lock);
    wdi_medium_fork_prepare();
    wdi_large_fork_prepare();
    wdi_segment_fork_prepare();
}

static void fork_parent(void) {
    wdi_segment_fork_parent();
    wdi_large_fork_parent();
    wdi_medium_fork_parent();
    wdi_unlock(&heaps_lock);
}

/* In the child only this thread lives: reset the locks and abandon every
 * other thread's heap so the child's next threads adopt their pages. */
static void fork_child(void) {
    wdi_segment_fork_child();
    wdi_large_fork_child();
    wdi_medium_fork_child();
    wdi_lock_reset(&heaps_lock);
    wdi_lock_reset(&init_lock);
    abandoned_heaps = NULL;
    for (wd_theap_t *h = all_heaps; h; h = h->next_all) {
        if (h == wdi_tl_home)
            continue;
        h->abandoned = 1;
        h->next_abandoned = abandoned_heaps;
        abandoned_heaps = h;
    }
}

/* --- process ---------------------------------------------------------------- */

void wdi_process_init(void) {
    if (wd_likely(__atomic_load_n(&wdi_process_ready, __ATOMIC_ACQUIRE)))
        return;
    wdi_lock(&init_lock);
    int first = !wdi_process_ready;
    if (first) {
        options_pending = !wdi_options_init();
        wdi_harden_init(); /* level 1 when the options must wait */
        wdi_page_init_classes();
        if (wdi_segmap_init() != 0)
            wdi_fatal("cannot reserve the segment map", NULL, "init");
        pthread_key_create(&heap_key, heap_on_thread_exit);
        __atomic_store_n(&wdi_process_ready, 1, __ATOMIC_RELEASE);
    }
    wdi_unlock(&init_lock);
    /* These may allocate, so they run after the allocator is ready. */
    if (first) {
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        if (!options_pending && wdi_options.stats)
            atexit(wdi_stats_at_exit);
        if (wdi_harden2)
            atexit(wdi_hard_at_exit);
    }
}

/* Reads the options late when the first call came before the environment
 * existed (a preloaded library can be called that early). */
static void options_retry(void) {
    if (!__atomic_load_n(&wdi_process_ready, __ATOMIC_ACQUIRE))
        return;
    if (wd_unlikely(options_pending) && wdi_options_init()) {
        options_pending = 0;
        wdi_harden_late();
        if (wdi_options.stats)
            atexit(wdi_stats_at_exit);
    }
}

/* --- returning memory ------------------------------------------------------- */

static uint64_t last_global_ms;

static void abandoned_decommit(uint32_t now, uint32_t delay) {
    if (!wdi_lock_try(&heaps_lock))
        return; /* someone else is on it; next time */
    for (wd_theap_t *h = abandoned_heaps; h; h = h->next_abandoned)
        wdi_page_decommit_idle(h, now, delay);
    wdi_unlock(&heaps_lock);
}

void wdi_maintain(wd_theap_t *h) {
    options_retry();
    uint64_t now = wdi_os_now_ms();
    uint32_t delay = wdi_options.decommit_ms;
    if (h != NULL) /* a delay of 0 returns every idle page at once */
        wdi_page_decommit_idle(h, (uint32_t)now, delay);
    uint64_t last = __atomic_load_n(&last_global_ms, __ATOMIC_RELAXED);
    if (now - last < 50 ||
        !__atomic_compare_exchange_n(&last_global_ms, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    wdi_medium_maintain((uint32_t)now, delay);
    wdi_large_maintain(now, delay);
    abandoned_decommit((uint32_t)now, delay);
    wdi_stats_sample(); /* the peak of live bytes, sampled */
}

/* Every page of h that holds no block goes back to the OS now. */
static void heap_trim(wd_theap_t *h) {
    wdi_page_collect_all(h, 1);
    wdi_page_decommit_idle(h, 0, 0);
}

int wdi_trim_all(void) {
    size_t before = wdi_stat_get(WD_STAT_RETURNED);
    wdi_process_init();
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

/* Runs after the C library set up the environment and before main: the
 * latest moment at which options a very early first call could not read
 * are read, whether or not the program allocates much afterwards. */
__attribute__((constructor)) static void options_at_start(void) {
    options_retry();
}
