/* json.c -- owns the JSON statistics (json.h, docs/stats.md).  Calls:
 * stats.h (the figures), page.h (class sizes), thread.h (the heaps, the
 * statistics thread), sink.h, options.h, os.h. */
#include "debug/json.h"

#include <stdio.h>
#include <string.h>

#include "base/counters.h"
#include "base/lock.h"
#include "base/options.h"
#include "base/tsan.h"
#include "core/medium.h"
#include "core/thread.h"
#include "debug/sink.h"
#include "debug/stats.h"
#include "os/os.h"
#include "warden.h"

/* "key":value pairs; every value is a whole number of bytes or items. */
static void json_num(wd_sink_t *s, const char *key, size_t v, int first) {
    wdi_sink_fmt(s, "%s\"%s\":%zu", first ? "" : ",", key, v);
}

static void json_totals(wd_sink_t *s, const wd_figures_t *f) {
    const wd_stats_t *st = &f->st;
    json_num(s, "bytes_in_use", st->live_bytes, 0);
    json_num(s, "peak_bytes_in_use", st->peak_live_bytes, 0);
    json_num(s, "resident_bytes", f->heap_resident, 0);
    json_num(s, "mapped_bytes", st->mapped_bytes, 0);
    json_num(s, "committed_bytes", st->committed_bytes, 0);
    json_num(s, "returned_bytes", st->returned_bytes, 0);
    json_num(s, "process_resident_bytes", st->resident_bytes, 0);
    json_num(s, "quarantined_bytes", st->quarantined_bytes, 0);
}

static void json_tiers(wd_sink_t *s, const wd_figures_t *f) {
    const wd_stats_t *st = &f->st;
    size_t small_bytes = 0;
    for (unsigned c = 1; c < WD_CLASSES; c++)
        small_bytes += f->small.cls[c].blocks * wdi_class_size[c];
    size_t medium_bytes = wdi_medium_live_bytes();
    size_t large_bytes = wdi_stat_get(WD_STAT_LARGE_BYTES);
    wdi_sink_put(s, ",\"small\":{");
    json_num(s, "allocations", st->small_allocs, 1);
    json_num(s, "blocks_in_use", st->small_live, 0);
    json_num(s, "bytes_in_use", small_bytes, 0);
    json_num(s, "segments", f->small.segments, 0);
    json_num(s, "pages_in_use", f->small.pages_in_use, 0);
    json_num(s, "pages_idle", f->small.pages_idle, 0);
    json_num(s, "pages_returned", f->small.pages_returned, 0);
    wdi_sink_put(s, "},\"medium\":{");
    json_num(s, "allocations", st->medium_allocs, 1);
    json_num(s, "blocks_in_use", st->medium_live, 0);
    json_num(s, "bytes_in_use", medium_bytes, 0);
    json_num(s, "segments", f->medium_segments, 0);
    json_num(s, "free_ranges", f->medium_free_ranges, 0);
    json_num(s, "free_bytes", f->medium_free_bytes, 0);
    wdi_sink_put(s, "},\"large\":{");
    json_num(s, "allocations", st->large_allocs, 1);
    json_num(s, "blocks_in_use", st->large_live, 0);
    json_num(s, "bytes_in_use", large_bytes, 0);
    json_num(s, "cached_blocks", f->large_cached_blocks, 0);
    json_num(s, "cached_bytes", f->large_cached_bytes, 0);
    wdi_sink_put(s, "}");
}

static void json_classes(wd_sink_t *s, const wd_figures_t *f) {
    wdi_sink_put(s, ",\"size_classes\":[");
    int first = 1;
    for (unsigned c = 1; c < WD_CLASSES; c++) {
        const wd_class_count_t *k = &f->small.cls[c];
        if (k->pages == 0)
            continue;
        wdi_sink_put(s, first ? "{" : ",{");
        first = 0;
        json_num(s, "class", c, 1);
        json_num(s, "block_size", wdi_class_size[c], 0);
        json_num(s, "pages", k->pages, 0);
        json_num(s, "blocks_in_use", k->blocks, 0);
        json_num(s, "blocks_free", k->reserved - k->blocks, 0);
        json_num(s, "bytes_in_use", k->blocks * wdi_class_size[c], 0);
        wdi_sink_put(s, "}");
    }
    wdi_sink_put(s, "]");
}

/* One entry per heap, oldest first as numbered in the map (ids count up
 * from the oldest).  Heaps are never freed: the list is read without a
 * lock (thread.h). */
WD_TSAN_UNCHECKED static void json_heaps(wd_sink_t *s, const wd_figures_t *f) {
    wdi_sink_fmt(s, ",\"thread_heaps\":{\"count\":%zu,\"abandoned\":%zu,\"heaps\":[", f->heaps,
                 f->heaps_abandoned);
    size_t id = f->heaps;
    for (wd_theap_t *h = wdi_heaps_first(); h != NULL && id > 0; h = h->next_all) {
        wd_small_summary_t sum;
        memset(&sum, 0, sizeof sum);
        wdi_page_heap_summary(&h->small, &sum);
        size_t blocks = 0, bytes = 0;
        for (unsigned c = 1; c < WD_CLASSES; c++) {
            blocks += sum.cls[c].blocks;
            bytes += sum.cls[c].blocks * wdi_class_size[c];
        }
        id--;
        wdi_sink_fmt(s, "%s{\"id\":%zu,\"abandoned\":%s", id + 1 == f->heaps ? "" : ",", id,
                     h->abandoned ? "true" : "false");
        json_num(s, "segments", sum.segments, 0);
        json_num(s, "pages_in_use", sum.pages_in_use, 0);
        json_num(s, "blocks_in_use", blocks, 0);
        json_num(s, "bytes_in_use", bytes, 0);
        wdi_sink_put(s, "}");
    }
    wdi_sink_put(s, "]}");
}

static void json_write(wd_sink_t *s) {
    wd_figures_t f;
    wdi_figures_get(&f, 1);
    wdi_sink_fmt(s, "{\"warden\":\"%s\",\"pid\":%d", WARDEN_VERSION, wdi_os_pid());
    json_num(s, "time_ms", (size_t)wdi_os_wall_ms(), 0);
    json_totals(s, &f);
    json_tiers(s, &f);
    json_classes(s, &f);
    json_heaps(s, &f);
    wdi_sink_fmt(s, ",\"options\":{\"decommit_ms\":%zu,\"harden\":%zu,\"check\":%zu}}\n",
                 (size_t)wdi_options.decommit_ms, (size_t)(wdi_harden2 ? 2 : wdi_options.harden),
                 (size_t)wdi_checking);
}

/* Lines written by this process never interleave: one at a time, each in
 * one write(2) when it fits the sink's buffer. */
static wd_lock_t json_lock = WD_LOCK_INIT;

void wdi_stats_json_fd(int fd) {
    static wd_sink_t sink; /* 32 KiB: not on the statistics thread's stack */
    wdi_lock(&json_lock);
    wdi_sink_init_fd(&sink, fd);
    json_write(&sink);
    wdi_sink_flush(&sink);
    wdi_unlock(&json_lock);
}

void wdi_stats_json_fork_child(void) { wdi_lock_reset(&json_lock); }

void wd_stats_json(FILE *out) {
    wd_sink_t sink; /* on the caller's stack: several threads may ask at once */
    if (out == NULL)
        out = stderr;
    wdi_sink_init_file(&sink, out);
    json_write(&sink);
    wdi_sink_flush(&sink);
}

/* At exit and at each tick of the statistics thread. */
static void json_to_output(void) {
    int fd = wdi_stats_out_fd();
    if (fd >= 0)
        wdi_stats_json_fd(fd);
}

void wdi_stats_json_at_exit(void) { json_to_output(); }

void wdi_stats_interval_start(void) {
    static int started;
    if (wdi_options.stats_interval_ms == 0 || __atomic_exchange_n(&started, 1, __ATOMIC_RELAXED))
        return;
    int err = wdi_ticker_start(json_to_output, wdi_options.stats_interval_ms, 0);
    if (err != 0)
        wdi_print_line(2, "warden: stats_interval_ms: no thread for the statistics (errno %d)", err);
}
