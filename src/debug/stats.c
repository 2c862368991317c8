/* stats.c -- owns the statistics report.  Calls: thread.h (the heaps'
 * sums), counters.h, harden.h (the quarantine's bounds), guard.h (sampled
 * blocks' bytes), options.h (the
 * formatter).  Printing uses write(2) on the stream's descriptor, so the
 * report never allocates and works at exit. */
#include "debug/stats.h"

#include <stdio.h>

#include "base/counters.h"
#include "base/options.h"
#include "core/thread.h"
#include "debug/guard.h"
#include "debug/harden.h"
#include "os/os.h"
#include "warden.h"

void wd_stats_get(wd_stats_t *out) {
    wd_heaps_sum_t sum;
    out->live_bytes = wdi_live_sample(&sum) + wdi_guard_live_bytes(); /* sampled blocks too */
    out->quarantined_bytes = sum.held_small + sum.held_large;
    out->quarantined_large_bytes = sum.held_large;
    /* The tiers' peak counts no sampled block: the peak is also at least
     * any live count handed out here. */
    static size_t peak_seen;
    size_t peak = wdi_stat_get(WD_STAT_PEAK_LIVE), seen;
    do {
        seen = __atomic_load_n(&peak_seen, __ATOMIC_RELAXED);
        if (seen >= out->live_bytes)
            break;
    } while (!__atomic_compare_exchange_n(&peak_seen, &seen, out->live_bytes, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    seen = __atomic_load_n(&peak_seen, __ATOMIC_RELAXED);
    out->peak_live_bytes = peak > seen ? peak : seen;
    out->mapped_bytes = wdi_stat_get(WD_STAT_MAPPED);
    out->committed_bytes = wdi_stat_get(WD_STAT_COMMITTED);
    out->returned_bytes = wdi_stat_get(WD_STAT_RETURNED);
    out->small_allocs = sum.allocs;
    out->medium_allocs = wdi_stat_get(WD_STAT_MEDIUM_ALLOCS);
    out->large_allocs = wdi_stat_get(WD_STAT_LARGE_ALLOCS);
    out->small_live = sum.blocks;
    out->medium_live = wdi_stat_get(WD_STAT_MEDIUM_LIVE);
    out->large_live = wdi_stat_get(WD_STAT_LARGE_LIVE);
    out->threads = wdi_stat_get(WD_STAT_THREADS);
    out->resident_bytes = wdi_os_resident_bytes();
}

static void stats_write(int fd) {
    wd_stats_t st;
    wd_stats_get(&st);
    wdi_print_line(fd, "warden: stats live %zu bytes, peak %zu, mapped %zu, committed at most %zu, "
                   "returned to the OS %zu, process resident %zu",
               st.live_bytes, st.peak_live_bytes, st.mapped_bytes, st.committed_bytes,
               st.returned_bytes, st.resident_bytes);
    wdi_print_line(fd, "warden: stats allocations small %zu (live %zu), medium %zu (live %zu), large %zu (live %zu)",
               st.small_allocs, st.small_live, st.medium_allocs, st.medium_live, st.large_allocs,
               st.large_live);
    wdi_print_line(fd, "warden: stats thread heaps %zu, memory returned with MADV_DONTNEED after %zu ms",
               st.threads, (size_t)wdi_options.decommit_ms);
    if (wdi_harden2)
        wdi_print_line(fd, "warden: stats harden=2, quarantined %zu bytes in small and medium blocks "
                       "(about %zu KiB a thread at most) and %zu bytes in large blocks (%zu blocks "
                       "and %zu MiB a thread at most)",
                       st.quarantined_bytes - st.quarantined_large_bytes,
                       (size_t)wdi_options.quarantine_kb, st.quarantined_large_bytes,
                       (size_t)WDI_QUARANTINE_LARGE, WDI_QUARANTINE_LARGE_BYTES >> 20);
}

void wd_stats_print(FILE *out) {
    if (out == NULL)
        out = stderr;
    fflush(out);
    stats_write(fileno(out));
}

void wdi_stats_at_exit(void) {
    stats_write(wdi_stats_fd);
}
