/* counters.c -- owns the process-wide counters (counters.h). */
#include "base/counters.h"

_Atomic(size_t) wdi_stats[WD_STAT_COUNT];

void wdi_stats_note_live(size_t live) {
    size_t peak = wdi_stat_get(WD_STAT_PEAK_LIVE);
    while (live > peak &&
           !atomic_compare_exchange_weak_explicit(&wdi_stats[WD_STAT_PEAK_LIVE], &peak, live,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}
