/* info.c -- owns malloc_info's XML and mallinfo2's figures (info.h).
 * Calls: stats.h (the figures), page.h (the classes), medium.h (free
 * ranges), thread.h (the heaps), counters.h, sink.h. */
#include "debug/info.h"

#include <string.h>

#include "base/counters.h"
#include "base/tsan.h"
#include "core/medium.h"
#include "core/page.h"
#include "core/thread.h"
#include "debug/sink.h"
#include "debug/stats.h"

/* The totals both reports give, glibc's way:
 *   fast  free blocks in the small pages in use (count, bytes)
 *   rest  free medium ranges and freed large mappings kept for reuse
 *   mmap  large blocks in use
 *   system current / max: committed bytes now / at the highest sample
 *   aspace: mapped bytes */
typedef struct totals_s {
    size_t fast_count, fast_bytes, rest_count, rest_bytes, mmap_count, mmap_bytes;
    size_t current, max, mapped, live, peak_live;
} totals_t;

static void fast_free(const wd_small_summary_t *sum, size_t *count, size_t *bytes) {
    *count = *bytes = 0;
    for (unsigned c = 1; c < WD_CLASSES; c++) {
        size_t free_blocks = sum->cls[c].reserved - sum->cls[c].blocks;
        *count += free_blocks;
        *bytes += free_blocks * wdi_class_size[c];
    }
}

static void totals_get(totals_t *t) {
    wd_figures_t f;
    wdi_figures_get(&f, 0);
    memset(t, 0, sizeof *t);
    fast_free(&f.small, &t->fast_count, &t->fast_bytes);
    t->rest_count = f.medium_free_ranges + f.large_cached_blocks;
    t->rest_bytes = f.medium_free_bytes + f.large_cached_bytes;
    t->mmap_count = f.st.large_live;
    t->mmap_bytes = wdi_stat_get(WD_STAT_LARGE_BYTES);
    t->current = f.st.committed_bytes;
    t->max = f.committed_peak;
    t->mapped = f.st.mapped_bytes;
    t->live = f.st.live_bytes;
    t->peak_live = f.st.peak_live_bytes;
}

static void mallinfo_of(const totals_t *t, wd_mallinfo_t *out) {
    memset(out, 0, sizeof *out);
    out->arena = t->current;
    out->ordblks = t->rest_count;
    out->smblks = t->fast_count;
    out->hblks = t->mmap_count;
    out->hblkhd = t->mmap_bytes;
    out->usmblks = t->peak_live;
    out->fsmblks = t->fast_bytes;
    out->uordblks = t->live;
    out->fordblks = t->fast_bytes + t->rest_bytes;
}

void wdi_mallinfo(wd_mallinfo_t *out) {
    totals_t t;
    totals_get(&t);
    mallinfo_of(&t, out);
}

/* --- the XML ------------------------------------------------------------------ */

static void xml_totals(wd_sink_t *s, size_t fast_count, size_t fast_bytes, size_t rest_count,
                       size_t rest_bytes) {
    wdi_sink_fmt(s, "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n", fast_count, fast_bytes);
    wdi_sink_fmt(s, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", rest_count, rest_bytes);
}

static void xml_system(wd_sink_t *s, size_t current, size_t max, size_t aspace) {
    wdi_sink_fmt(s, "<system type=\"current\" size=\"%zu\"/>\n", current);
    wdi_sink_fmt(s, "<system type=\"max\" size=\"%zu\"/>\n", max);
    wdi_sink_fmt(s, "<aspace type=\"total\" size=\"%zu\"/>\n", aspace);
    wdi_sink_fmt(s, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", aspace);
}

/* A thread heap: its free small blocks by class, as glibc lists its bins
 * (from one class's size + 1 to the next's). */
WD_TSAN_UNCHECKED static void xml_thread_heap(wd_sink_t *s, size_t nr, wd_theap_t *h) {
    wd_small_summary_t sum;
    memset(&sum, 0, sizeof sum);
    wdi_page_heap_summary(&h->small, &sum);
    wdi_sink_fmt(s, "<heap nr=\"%zu\">\n<sizes>\n", nr);
    for (unsigned c = 1; c < WD_CLASSES; c++) {
        size_t free_blocks = sum.cls[c].reserved - sum.cls[c].blocks;
        if (free_blocks != 0)
            wdi_sink_fmt(s, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
                         (size_t)wdi_class_size[c - 1] + 1, (size_t)wdi_class_size[c],
                         free_blocks * wdi_class_size[c], free_blocks);
    }
    wdi_sink_put(s, "</sizes>\n");
    size_t count, bytes;
    fast_free(&sum, &count, &bytes);
    xml_totals(s, count, bytes, 0, 0);
    size_t committed = (sum.segments + sum.pages_in_use + sum.pages_idle) * WD_PAGE_SIZE;
    xml_system(s, committed, committed, sum.segments * WD_SEGMENT_SIZE);
    wdi_sink_put(s, "</heap>\n");
}

/* The medium tier's free ranges by power of two. */
typedef struct medium_bins_s {
    size_t count[64], bytes[64];
    size_t ranges, free_bytes;
} medium_bins_t;

static int medium_bin(void *start, size_t size, int allocated, void *arg) {
    medium_bins_t *b = arg;
    (void)start;
    if (allocated || size == 0)
        return 0;
    unsigned k = 63u - (unsigned)__builtin_clzll(size);
    b->count[k]++;
    b->bytes[k] += size;
    b->ranges++;
    b->free_bytes += size;
    return 0;
}

static void xml_medium_heap(wd_sink_t *s, size_t nr) {
    medium_bins_t b;
    memset(&b, 0, sizeof b);
    size_t segments = 0;
    for (wd_medium_segment_t *seg = wdi_medium_first(); seg != NULL; seg = seg->next) {
        segments++;
        wdi_medium_segment_walk(seg, medium_bin, &b);
    }
    wdi_sink_fmt(s, "<heap nr=\"%zu\">\n<sizes>\n", nr);
    for (unsigned k = 0; k < 64; k++)
        if (b.count[k] != 0)
            wdi_sink_fmt(s, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
                         (size_t)1 << k, ((size_t)2 << k) - 1, b.bytes[k], b.count[k]);
    wdi_sink_put(s, "</sizes>\n");
    xml_totals(s, 0, 0, b.ranges, b.free_bytes);
    xml_system(s, segments * WD_SEGMENT_SIZE, segments * WD_SEGMENT_SIZE,
               segments * WD_SEGMENT_SIZE);
    wdi_sink_put(s, "</heap>\n");
}

int wdi_malloc_info(FILE *out) {
    wd_sink_t sink;
    totals_t t;
    totals_get(&t); /* first: the heaps' lines allocate nothing, but a stream may */
    wdi_sink_init_file(&sink, out);
    wdi_sink_put(&sink, "<malloc version=\"1\">\n");
    size_t nr = 0;
    for (wd_theap_t *h = wdi_heaps_first(); h != NULL; h = h->next_all)
        xml_thread_heap(&sink, nr++, h);
    xml_medium_heap(&sink, nr);
    xml_totals(&sink, t.fast_count, t.fast_bytes, t.rest_count, t.rest_bytes);
    wdi_sink_fmt(&sink, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", t.mmap_count,
                 t.mmap_bytes);
    xml_system(&sink, t.current, t.max, t.mapped);
    wdi_sink_put(&sink, "</malloc>\n");
    return wdi_sink_flush(&sink);
}
