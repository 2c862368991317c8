/* counters.h -- process-wide counters, relaxed atomics updated on slow
 * paths (mapping, decommit, page and segment changes); the per-thread
 * counters of the fast path live in the thread heaps and are summed on
 * request (thread.h).  A leaf: every layer may count; the report that
 * prints them is debug/stats.c. */
#ifndef WARDEN_COUNTERS_H
#define WARDEN_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    WD_STAT_MAPPED,    /* address space mapped from the OS */
    WD_STAT_COMMITTED, /* of it, what may be resident */
    WD_STAT_RETURNED,  /* bytes given back (decommit or unmap), total */
    WD_STAT_LARGE_ALLOCS,
    WD_STAT_LARGE_LIVE,
    WD_STAT_LARGE_BYTES, /* usable bytes of live large blocks */
    WD_STAT_MEDIUM_ALLOCS,
    WD_STAT_MEDIUM_LIVE,
    WD_STAT_MEDIUM_BYTES,
    WD_STAT_THREADS,
    WD_STAT_PEAK_LIVE,
    WD_STAT_PEAK_COMMITTED, /* highest WD_STAT_COMMITTED seen when live bytes are sampled */
    WD_STAT_COUNT
} wd_stat_t;

extern _Atomic(size_t) wdi_stats[WD_STAT_COUNT];

static inline void wdi_stat_add(wd_stat_t s, size_t n) {
    atomic_fetch_add_explicit(&wdi_stats[s], n, memory_order_relaxed);
}
static inline void wdi_stat_sub(wd_stat_t s, size_t n) {
    atomic_fetch_sub_explicit(&wdi_stats[s], n, memory_order_relaxed);
}
static inline size_t wdi_stat_get(wd_stat_t s) {
    return atomic_load_explicit(&wdi_stats[s], memory_order_relaxed);
}

/* Raises the recorded peak of live bytes to `live` when it is higher, and
 * the peak of committed bytes to what is committed now. */
void wdi_stats_note_live(size_t live);

#endif /* WARDEN_COUNTERS_H */
