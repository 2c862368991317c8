/* thread.h -- thread heaps: one per thread, created on first use.
 *
 * A thread heap owns small segments and the pages in them; only its thread
 * touches their free lists.  When the thread exits, its heap is abandoned
 * whole (pages with live blocks included) and the next thread that needs a
 * heap adopts it, so short-lived threads strand no memory.  This file also
 * owns pthread keys, thread-exit handling and fork(). */
#ifndef WARDEN_THREAD_H
#define WARDEN_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"
#include "core/page.h"

struct wd_medium_segment_s;

typedef struct wd_theap_s {
    wd_page_t *current[WD_CLASSES]; /* page malloc pops from; &wdi_page_empty if none */
    size_t small_allocs;
    wd_page_t *avail[WD_CLASSES];   /* pages that may have free blocks */
    wd_page_t *full[WD_CLASSES];    /* pages that had none when last looked at */
    wd_page_t *retired, *retired_tail; /* unused pages, oldest first */
    wd_small_segment_t *segments;
    /* Full pages that other threads freed into since: pushed by those
     * threads, drained by the owner in its slow path. */
    _Atomic(wd_page_t *) xpages;
    struct wd_medium_segment_s *medium_hint;
    struct wd_theap_s *next_all;       /* every heap ever made (stats, fork) */
    struct wd_theap_s *next_abandoned; /* heaps whose thread exited */
    uint64_t secret;
    uint64_t rng;                      /* harden=2: random order in fresh pages */
    struct wd_quarantine_s *quarantine; /* harden=2: freed blocks held back */
    /* harden=2: raw bytes the quarantine holds, small and medium blocks and
     * large ones; written by the owner alone (no shared counter on every
     * free), summed by the statistics. */
    size_t held_small, held_large;
    uint32_t slow_count;               /* slow-path calls, to pace maintenance */
    uint32_t abandoned;
} wd_theap_t;

/* The calling thread's heap, or NULL before its first allocation and after
 * its exit began.  initial-exec TLS: one load from the thread pointer, and
 * no allocation on first access (a dynamic TLS model could call malloc). */
extern __thread wd_theap_t *wdi_tl_home __attribute__((tls_model("initial-exec")));

/* The heap the fast paths of malloc and free use: wdi_tl_home, or
 * &wdi_heap_none when the thread has no heap yet (or no more) and always
 * with harden=2, so that every call takes the slow path. */
extern __thread wd_theap_t *wdi_tl_heap __attribute__((tls_model("initial-exec")));

/* A heap that owns nothing: every class's page is wdi_page_empty, so
 * malloc's fast path finds no block and free's owner test never matches,
 * and neither path needs a NULL test. */
extern wd_theap_t wdi_heap_none;

/* The calling thread's heap, creating or adopting one; NULL when the
 * thread is exiting (its allocations then go to the shared medium tier). */
wd_theap_t *wdi_heap_get_slow(void);

/* Process-wide initialisation (options, segment map, class tables, fork
 * handlers); idempotent, cheap after the first call. */
void wdi_process_init(void);
extern int wdi_process_ready;

/* Calls fn on every heap (live or abandoned), under the heap-list lock. */
void wdi_heaps_foreach(void (*fn)(wd_theap_t *h, void *arg), void *arg);

/* Periodic upkeep from slow paths: returns idle memory to the OS. */
void wdi_maintain(wd_theap_t *h);

/* malloc_trim: returns every idle page and free range to the OS now. */
int wdi_trim_all(void);

#endif /* WARDEN_THREAD_H */
