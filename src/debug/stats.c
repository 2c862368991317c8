/* stats.c -- owns the process-wide counters and the statistics report.
 * Calls: thread.h (summing the thread heaps), medium.h, options.h (the
 * formatter).  Printing uses write(2) on the stream's descriptor, so the
 * report never allocates and works at exit. */
#include "base/counters.h"

#include <stdio.h>

#include "debug/harden.h"
#include "core/medium.h"
#include "base/options.h"
#include "os/os.h"
#include "core/thread.h"
#include "base/tsan.h"
#include "warden.h"

_Atomic(size_t) wdi_stats[WD_STAT_COUNT];

void wdi_stats_note_live(size_t live) {
    size_t peak = wdi_stat_get(WD_STAT_PEAK_LIVE);
    while (live > peak &&
           !atomic_compare_exchange_weak_explicit(&wdi_stats[WD_STAT_PEAK_LIVE], &peak, live,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

typedef struct small_sum_s {
    size_t allocs, blocks, bytes;
    size_t held_small, held_large; /* harden=2's quarantines */
} small_sum_t;

/* Adds one heap's counters.  Live blocks are counted from the pages, so the
 * fast paths keep no byte counter; blocks freed by other threads count as
 * live until the owner collects them.  (A racy but harmless read of other
 * threads' counters: statistics, not decisions.  Making the owners' writes
 * atomic would put them on every malloc and free for a snapshot, so TSan
 * is told to leave this reader alone instead.  The walk itself is safe:
 * small segments are only ever added at a list's head, never freed.) */
WD_TSAN_UNCHECKED static void heap_sum(wd_theap_t *h, void *arg) {
    small_sum_t *sum = arg;
    sum->allocs += h->small_allocs;
    sum->held_small += h->held_small;
    sum->held_large += h->held_large;
    for (wd_small_segment_t *seg = h->segments; seg; seg = seg->next) {
        for (unsigned i = 1; i < WD_PAGES_PER_SEGMENT; i++) {
            const wd_page_t *pg = &seg->pages[i];
            if (pg->heap != WD_PAGE_UNUSED) {
                sum->blocks += pg->used;
                sum->bytes += (size_t)pg->used * pg->block_size;
            }
        }
    }
}

/* Everything but the resident size (a file read), which upkeep's sampling
 * does not need. */
static void stats_collect(wd_stats_t *out) {
    small_sum_t sum = {0, 0, 0, 0, 0};
    wdi_heaps_foreach(heap_sum, &sum);
    size_t medium = wdi_medium_live_bytes();
    size_t held = sum.held_small + sum.held_large;
    out->live_bytes = sum.bytes + medium + wdi_stat_get(WD_STAT_LARGE_BYTES);
    out->live_bytes = out->live_bytes > held ? out->live_bytes - held : 0;
    out->quarantined_bytes = held;
    out->quarantined_large_bytes = sum.held_large;
    wdi_stats_note_live(out->live_bytes);
    out->peak_live_bytes = wdi_stat_get(WD_STAT_PEAK_LIVE);
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
}

void wd_stats_get(wd_stats_t *out) {
    stats_collect(out);
    out->resident_bytes = wdi_os_resident_bytes();
}

void wdi_stats_sample(void) {
    wd_stats_t st;
    stats_collect(&st);
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
