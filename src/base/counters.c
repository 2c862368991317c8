/* counters.c -- owns the process-wide counters (counters.h). */
#include "base/counters.h"

_Atomic(size_t) wdi_stats[WD_STAT_COUNT];

static void stat_raise(wd_stat_t s, size_t value) {
    size_t peak = wdi_stat_get(s);
    while (value > peak &&
           !atomic_compare_exchange_weak_explicit(&wdi_stats[s], &peak, value,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void wdi_stats_note_live(size_t live) {
    stat_raise(WD_STAT_PEAK_LIVE, live);
    stat_raise(WD_STAT_PEAK_COMMITTED, wdi_stat_get(WD_STAT_COMMITTED));
}
