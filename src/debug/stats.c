/* stats.c -- owns the statistics report and the figures every report
 * shares.  Calls: thread.h (the heaps' sums), page.h, medium.h, large.h
 * and segment.h (the tiers' views), counters.h, ownmem.h, harden.h (the
 * quarantine's bounds), guard.h (sampled blocks' bytes), options.h (the
 * formatter), os.h (residency, the statistics file).  Printing uses
 * write(2) on the stream's descriptor, so the report never allocates and
 * works at exit. */
#include "debug/stats.h"

#include <stdio.h>
#include <string.h>

#include "base/counters.h"
#include "base/lock.h"
#include "base/options.h"
#include "base/ownmem.h"
#include "base/tsan.h"
#include "core/large.h"
#include "core/medium.h"
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

/* --- the figures every report shares ------------------------------------------ */

static int medium_count(void *start, size_t size, int allocated, void *arg) {
    wd_figures_t *f = arg;
    (void)start;
    if (!allocated) {
        f->medium_free_ranges++;
        f->medium_free_bytes += size;
    }
    return 0;
}

/* The heaps' flags are read as their counts are (page.c). */
WD_TSAN_UNCHECKED void wdi_figures_get(wd_figures_t *f, int resident) {
    memset(f, 0, sizeof *f);
    wd_stats_get(&f->st);
    for (wd_theap_t *h = wdi_heaps_first(); h != NULL; h = h->next_all) {
        f->heaps++;
        f->heaps_abandoned += __atomic_load_n(&h->abandoned, __ATOMIC_RELAXED) != 0;
        wdi_page_heap_summary(&h->small, &f->small);
    }
    for (wd_medium_segment_t *seg = wdi_medium_first(); seg != NULL; seg = seg->next) {
        f->medium_segments++;
        wdi_medium_segment_walk(seg, medium_count, f);
    }
    wdi_large_cache_summary(&f->large_cached_blocks, &f->large_cached_bytes);
    f->committed_peak = wdi_stat_get(WD_STAT_PEAK_COMMITTED);
    if (f->committed_peak < f->st.committed_bytes)
        f->committed_peak = f->st.committed_bytes;
    if (resident)
        f->heap_resident = wdi_heap_resident_bytes();
}

unsigned wdi_region_kind(const wd_region_t *region) {
    wd_region_t copy;
    if (wdi_os_read_self(&copy, region, sizeof copy) != sizeof copy)
        return 0;
    return copy.kind;
}

static int region_resident(wd_region_t *region, uintptr_t start, void *arg) {
    size_t *total = arg;
    unsigned kind = wdi_region_kind(region);
    if (kind == WD_KIND_SMALL || kind == WD_KIND_MEDIUM) {
        *total += wdi_os_resident(region, WD_SEGMENT_SIZE);
    } else if (kind == WD_KIND_LARGE) {
        wd_large_info_t info;
        if (wdi_large_describe(region, &info) == 0 && info.start == start)
            *total += wdi_os_resident((void *)info.start, info.map_size);
    }
    return 0;
}

static void own_resident(uintptr_t start, uintptr_t end, void *arg) {
    *(size_t *)arg += wdi_os_resident((void *)start, end - start);
}

size_t wdi_heap_resident_bytes(void) {
    size_t total = 0;
    wdi_segmap_foreach(region_resident, &total);
    wdi_own_foreach(own_resident, &total);
    return total;
}

/* --- where the statistics go ----------------------------------------------------- */

void wdi_path_expand(char *buf, size_t size, const char *path) {
    size_t n = 0;
    for (; *path && n + 1 < size; path++) {
        if (path[0] == '%' && path[1] == 'p') {
            n += wdi_fmt(buf + n, size - n, "%d", wdi_os_pid());
            path++;
        } else {
            buf[n++] = *path;
        }
    }
    buf[n] = '\0';
}

static wd_lock_t out_lock = WD_LOCK_INIT;
static int out_fd = -2; /* -2: not opened yet; a fork child keeps the parent's */

int wdi_stats_out_fd(void) {
    if (wdi_options.stats_file[0] == '\0')
        return wdi_stderr_fd();
    wdi_lock(&out_lock);
    if (out_fd == -2) {
        char path[WD_OPTION_STR_MAX + 32];
        wdi_path_expand(path, sizeof path, wdi_options.stats_file);
        int err = wdi_os_open_output(path, 1, &out_fd);
        if (err != 0) {
            out_fd = -1;
            wdi_print_line(2, "warden: cannot open stats_file %s (errno %d)", path, err);
        }
    }
    int fd = out_fd;
    wdi_unlock(&out_lock);
    return fd;
}

static void path_absolute(char *path) {
    char cwd[WD_OPTION_STR_MAX];
    size_t len = strlen(path);
    if (path[0] == '\0' || path[0] == '/' || wdi_os_getcwd(cwd, sizeof cwd) != 0)
        return;
    size_t clen = strlen(cwd);
    if (clen + 1 + len >= WD_OPTION_STR_MAX)
        return; /* too long to make absolute: used as given */
    memmove(path + clen + 1, path, len + 1);
    memcpy(path, cwd, clen);
    path[clen] = '/';
}

void wdi_stats_paths_settle(void) {
    path_absolute(wdi_options.map);
    path_absolute(wdi_options.stats_file);
    if (wdi_options.stats_file[0] != '\0' && (wdi_options.stats || wdi_options.stats_interval_ms))
        wdi_stats_out_fd();
}

void wdi_stats_fork_child(void) { wdi_lock_reset(&out_lock); }

void wdi_stats_at_exit(void) {
    int fd = wdi_stats_out_fd();
    if (fd >= 0)
        stats_write(fd);
}
