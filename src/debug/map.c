/* map.c -- owns the heap as a picture: the SVG maps of the process's heap
 * (wd_map_svg, map=FILE.svg) and of a classic heap (wd_heap_map_svg).
 *
 * The process map is made in two steps.  First the layout is collected
 * into memory mapped for the purpose (never malloc): every region the
 * segment map names, in address order, and what is in it (small pages
 * from page.h, medium ranges through medium.h under each segment's lock,
 * large blocks read through large.h as memory that may vanish).  Then,
 * with no lock held, it is drawn: a row per 4 MiB, 1 px per 4 KiB, the
 * residency of each shape asked of the kernel (mincore) as it is drawn.
 * So a stream given by the caller may allocate (stdio does) without ever
 * meeting a lock of warden's.
 *
 * Calls: segment.h, page.h, medium.h, large.h, thread.h (the heaps'
 * numbers), stats.h (figures, region kinds, paths), sink.h, options.h,
 * os.h, and the public classic heap (wd_heap_walk, wd_heap_stats). */
#define _GNU_SOURCE
#include "debug/map.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/options.h"
#include "base/tsan.h"
#include "core/large.h"
#include "core/medium.h"
#include "core/page.h"
#include "core/segment.h"
#include "core/thread.h"
#include "debug/sink.h"
#include "debug/stats.h"
#include "os/os.h"
#include "warden.h"

/* --- geometry and colours ---------------------------------------------------------- */

#define ROW_PX 1024       /* a row is 1024 px wide */
#define LEFT 256          /* labels on the left of the rows */
#define WIDTH (LEFT + ROW_PX + 20)
#define MAX_ROWS 4096     /* a picture of 16 GiB at most; the rest is summed up */

/* What each shape is. */
enum {
    K_REGION_SMALL = 1, K_REGION_MEDIUM, K_REGION_LARGE, /* a region's first record */
    K_META,        /* headers, descriptors, control blocks, end markers */
    K_GUARD,       /* harden=2: no access */
    K_PAGE,        /* a small page in use */
    K_PAGE_FREE,   /* a small page without blocks, memory kept */
    K_PAGE_RETURNED, /* a small page whose memory went back to the OS */
    K_MED_ALLOC, K_MED_FREE,
    K_MED_MIXED,   /* medium ranges under 4 KiB each, drawn as one shape */
    K_LARGE_ALLOC,
    K_LARGE_FREE,  /* a freed mapping in the cache */
    K_LARGE_SLACK  /* the end of a mapping past the block (after a shrink) */
};

#define C_META "#6b7079"
#define C_HEADER "#1e1e1e"
#define C_GUARD "#000000"
#define C_FREE "#cdcdcd"
#define C_RETURNED "url(#returned)"
#define RGB_MEDIUM 0x8e44adu
#define RGB_LARGE 0x2c5aa0u
#define RGB_FREE 0xcdcdcdu
#define RGB_WHITE 0xffffffu

/* a + (b - a) * t / 100, per channel. */
static unsigned rgb_mix(unsigned a, unsigned b, unsigned t) {
    unsigned out = 0;
    for (unsigned shift = 0; shift <= 16; shift += 8) {
        int ca = (int)(a >> shift & 0xff), cb = (int)(b >> shift & 0xff);
        int c = ca + (cb - ca) * (int)t / 100;
        out |= (unsigned)c << shift;
    }
    return out;
}

/* A size class's colour: hues from red (16 bytes) through yellow and
 * green to cyan (64 KiB), clear of the purple and blue of medium and large
 * blocks; saturation 75 %, lightness 48 %. */
static unsigned class_rgb(unsigned cls) {
    double h = (double)(cls > 0 ? cls - 1 : 0) * 190.0 / (double)(WD_CLASSES - 2) / 60.0;
    double l = 0.48, s = 0.75;
    double c = (1.0 - (2.0 * l - 1.0 < 0 ? 1.0 - 2.0 * l : 2.0 * l - 1.0)) * s;
    double hm = h - 2.0 * (double)(int)(h / 2.0);
    double x = c * (1.0 - (hm - 1.0 < 0 ? 1.0 - hm : hm - 1.0));
    double r = 0, g = 0, b = 0;
    if (h < 1) r = c, g = x;
    else if (h < 2) r = x, g = c;
    else if (h < 3) g = c, b = x;
    else if (h < 4) g = x, b = c;
    else b = c, r = x;
    double m = l - c / 2.0;
    unsigned R = (unsigned)((r + m) * 255.0 + 0.5), G = (unsigned)((g + m) * 255.0 + 0.5),
             B = (unsigned)((b + m) * 255.0 + 0.5);
    return R << 16 | G << 8 | B;
}

/* Shading by occupancy: a full page has its class's colour, an empty one
 * is 80 % of the way to white. */
static unsigned page_rgb(unsigned cls, unsigned pct) {
    return rgb_mix(class_rgb(cls), RGB_WHITE, (100 - pct) * 80 / 100);
}

/* "#rrggbb" into buf (8 bytes at least); returns buf. */
static char *rgb_text(char *buf, unsigned rgb) {
    buf[0] = '#';
    for (int i = 0; i < 6; i++)
        buf[1 + i] = "0123456789abcdef"[rgb >> (20 - 4 * i) & 0xf];
    buf[7] = '\0';
    return buf;
}

static unsigned percent(size_t part, size_t whole) {
    return whole == 0 ? 0 : (unsigned)(part >= whole ? 100 : part * 100 / whole);
}

/* --- the layout, collected ---------------------------------------------------------- */

typedef struct item_s {
    uintptr_t addr;
    size_t size;
    size_t aux;      /* small region: heap id; K_PAGE: blocks carved; K_MED_MIXED: allocated bytes */
    uint32_t used;   /* K_PAGE: blocks in use; K_MED_MIXED: allocated ranges */
    uint32_t total;  /* K_PAGE: blocks the page holds; K_MED_MIXED: ranges */
    uint32_t block_size;
    uint8_t kind, cls;
    uint8_t flag;    /* small region: its heap is abandoned; large region: freed, cached */
} item_t;

typedef struct snap_s {
    item_t *items;
    size_t n, cap, map_bytes;
    int truncated;
    size_t small, medium, large; /* regions seen by the counting pass */
    item_t mix;                  /* medium ranges being merged (mix.size 0: none) */
    uintptr_t cursor;            /* end of the last medium range seen */
} snap_t;

/* Medium ranges below this are merged with their neighbours into one
 * shape: narrower than a pixel, alone they would only make the file big. */
#define MIX_BELOW ((size_t)4096)

static item_t *snap_add(snap_t *s, uint8_t kind, uintptr_t addr, size_t size) {
    if (s->n == s->cap) {
        s->truncated = 1;
        return NULL;
    }
    item_t *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->addr = addr;
    it->size = size;
    return it;
}

static int count_region(wd_region_t *region, uintptr_t start, void *arg) {
    snap_t *s = arg;
    unsigned kind = wdi_region_kind(region);
    if ((uintptr_t)region != start && kind != WD_KIND_LARGE)
        return 0;
    s->small += kind == WD_KIND_SMALL;
    s->medium += kind == WD_KIND_MEDIUM;
    s->large += kind == WD_KIND_LARGE;
    return 0;
}

/* Heaps are numbered from the oldest, 0 up (as in the JSON statistics).
 * Their flags are read as their counts are (page.c). */
WD_TSAN_UNCHECKED static size_t heap_id(const wd_small_heap_t *h, int *abandoned) {
    size_t count = 0, index = 0, found = 0;
    for (wd_theap_t *t = wdi_heaps_first(); t != NULL; t = t->next_all, count++)
        if (&t->small == h) {
            index = count;
            found = 1;
            *abandoned = __atomic_load_n(&t->abandoned, __ATOMIC_RELAXED) != 0;
        }
    return found ? count - 1 - index : 0;
}

WD_TSAN_UNCHECKED static void snap_small(snap_t *s, wd_small_segment_t *seg) {
    wd_page_info_t info[WD_PAGES_PER_SEGMENT];
    int abandoned = 0;
    item_t *r = snap_add(s, K_REGION_SMALL, (uintptr_t)seg, WD_SEGMENT_SIZE);
    if (r == NULL)
        return;
    r->aux = heap_id(seg->heap, &abandoned);
    r->flag = (uint8_t)abandoned;
    wdi_page_segment_info(seg, info);
    for (unsigned i = 0; i < WD_PAGES_PER_SEGMENT; i++) {
        static const uint8_t kinds[] = {K_META, K_PAGE, K_PAGE_FREE, K_PAGE_RETURNED, K_GUARD};
        item_t *it = snap_add(s, kinds[info[i].state], (uintptr_t)seg + ((size_t)i << WD_PAGE_SHIFT),
                              WD_PAGE_SIZE);
        if (it == NULL)
            return;
        it->cls = info[i].cls;
        it->block_size = info[i].block_size;
        it->used = info[i].used;
        it->total = info[i].reserved;
        it->aux = info[i].capacity;
    }
}

static void mix_flush(snap_t *s) {
    if (s->mix.size == 0)
        return;
    item_t *it = snap_add(s, K_MED_MIXED, s->mix.addr, s->mix.size);
    if (it != NULL)
        *it = s->mix;
    s->mix.size = 0;
}

/* Under the segment's lock: no allocation, no system call. */
static int snap_range(void *start, size_t size, int allocated, void *arg) {
    snap_t *s = arg;
    uintptr_t at = (uintptr_t)start - 16; /* the range's header */
    size_t bytes = size + 16;
    if (at > s->cursor) { /* the control block, before the first range */
        mix_flush(s);
        snap_add(s, K_META, s->cursor, at - s->cursor);
    }
    s->cursor = at + bytes;
    if (bytes >= MIX_BELOW) {
        mix_flush(s);
        item_t *it = snap_add(s, allocated ? K_MED_ALLOC : K_MED_FREE, at, bytes);
        return it == NULL;
    }
    if (s->mix.size == 0) {
        memset(&s->mix, 0, sizeof s->mix);
        s->mix.kind = K_MED_MIXED;
        s->mix.addr = at;
    }
    s->mix.size += bytes;
    s->mix.total++;
    if (allocated) {
        s->mix.used++;
        s->mix.aux += bytes;
    }
    if (s->mix.size >= MIX_BELOW)
        mix_flush(s);
    return s->truncated;
}

static void snap_medium(snap_t *s, wd_medium_segment_t *seg) {
    uintptr_t start = (uintptr_t)seg, end = start + WD_SEGMENT_SIZE;
    if (snap_add(s, K_REGION_MEDIUM, start, WD_SEGMENT_SIZE) == NULL)
        return;
    s->cursor = start;
    s->mix.size = 0;
    wdi_medium_segment_walk(seg, snap_range, s);
    mix_flush(s);
    if (s->cursor < end) /* the end marker, and harden=2's guard */
        snap_add(s, wdi_harden2 ? K_GUARD : K_META, s->cursor, end - s->cursor);
}

static void snap_large(snap_t *s, const wd_large_info_t *l) {
    uintptr_t payload = l->start + l->offset, end = l->start + l->map_size;
    item_t *r = snap_add(s, K_REGION_LARGE, l->start, l->map_size);
    if (r == NULL)
        return;
    r->flag = (uint8_t)l->cached;
    snap_add(s, K_META, l->start, l->offset);
    if (l->cached) {
        snap_add(s, K_LARGE_FREE, payload, end - payload);
        return;
    }
    snap_add(s, K_LARGE_ALLOC, payload, l->usable);
    if (payload + l->usable < end)
        snap_add(s, K_LARGE_SLACK, payload + l->usable, end - payload - l->usable);
}

/* A segment the map names is read only once its tier has listed it: the
 * map names it as soon as it is mapped, before its header is written (a
 * medium segment's lock and heap, a small one's pages).  The lists are
 * short (one entry per 4 MiB), so looking is cheap beside the drawing. */
WD_TSAN_UNCHECKED static int small_listed(const wd_region_t *region) {
    for (wd_theap_t *h = wdi_heaps_first(); h != NULL; h = h->next_all)
        for (wd_small_segment_t *seg = wdi_small_segments(&h->small); seg != NULL;
             seg = seg->next)
            if (&seg->region == region)
                return 1;
    return 0;
}

static int medium_listed(const wd_region_t *region) {
    for (wd_medium_segment_t *seg = wdi_medium_first(); seg != NULL; seg = seg->next)
        if (&seg->region == region)
            return 1;
    return 0;
}

static int fill_region(wd_region_t *region, uintptr_t start, void *arg) {
    snap_t *s = arg;
    unsigned kind = wdi_region_kind(region);
    wd_large_info_t l;
    if (kind == WD_KIND_SMALL && (uintptr_t)region == start && small_listed(region))
        snap_small(s, (wd_small_segment_t *)region);
    else if (kind == WD_KIND_MEDIUM && (uintptr_t)region == start && medium_listed(region))
        snap_medium(s, (wd_medium_segment_t *)region);
    else if (kind == WD_KIND_LARGE && wdi_large_describe(region, &l) == 0 && l.start == start &&
             l.map_size > 0)
        snap_large(s, &l);
    return s->truncated;
}

/* Room for every region counted now and a few that may come meanwhile:
 * 65 records a small segment, at most two per 4 KiB of a medium one (a
 * range of 4 KiB or more, or a merged run that reaches 4 KiB), 4 a large
 * block. */
static int snap_collect(snap_t *s) {
    memset(s, 0, sizeof *s);
    wdi_segmap_foreach(count_region, s);
    size_t medium_max = 2 * (WD_SEGMENT_SIZE / MIX_BELOW) + 8;
    s->cap = (s->small + 4) * (WD_PAGES_PER_SEGMENT + 2) + (s->medium + 4) * medium_max +
             (s->large + 16) * 4;
    s->map_bytes = wd_align_up(s->cap * sizeof(item_t), wdi_os_page_size());
    void *mem;
    int err = wdi_os_reserve(s->map_bytes, &mem);
    if (err != 0) {
        errno = err;
        return -1;
    }
    s->items = mem;
    wdi_segmap_foreach(fill_region, s);
    return 0;
}

static void snap_release(snap_t *s) {
    if (s->items != NULL)
        wdi_os_unmap(s->items, s->map_bytes);
    s->items = NULL;
}

/* --- drawing the process map ----------------------------------------------------- */

#define ROW_H 16
#define ROW_STEP 20
#define GAP_H 14
#define LEGEND_TOP 64
#define ROWS_TOP 150

typedef struct draw_s {
    wd_sink_t *out;
    uintptr_t base;  /* the current region's first row */
    int y;           /* top of that row */
    size_t rows;     /* rows drawn so far */
} draw_t;

static void rect(wd_sink_t *o, size_t x, int y, size_t w, int h, const char *fill,
                 const char *title) {
    wdi_sink_fmt(o, "<rect x=\"%zu\" y=\"%d\" width=\"%zu\" height=\"%d\" fill=\"%s\">", x, y,
                 w ? w : 1, h, fill);
    if (title != NULL) {
        wdi_sink_put(o, "<title>");
        wdi_sink_xml(o, title);
        wdi_sink_put(o, "</title>");
    }
    wdi_sink_put(o, "</rect>\n");
}

static const char *free_fill(const void *addr, size_t size) {
    return wdi_os_resident(addr, size) * 2 >= size ? C_FREE : C_RETURNED;
}

/* The fill of one piece of an item (the part of it inside one row). */
static const char *piece_fill(const item_t *it, uintptr_t lo, uintptr_t hi, char *buf) {
    switch (it->kind) {
    case K_META: return C_META;
    case K_GUARD: return C_GUARD;
    case K_PAGE: return rgb_text(buf, page_rgb(it->cls, percent(it->used, it->total)));
    case K_PAGE_RETURNED: return C_RETURNED;
    case K_MED_ALLOC: return rgb_text(buf, RGB_MEDIUM);
    case K_MED_MIXED:
        return rgb_text(buf, rgb_mix(RGB_FREE, RGB_MEDIUM, percent(it->aux, it->size)));
    case K_LARGE_ALLOC: {
        /* pages never touched are lighter: allocated, not yet memory */
        unsigned res = percent(wdi_os_resident((void *)lo, hi - lo), hi - lo);
        return rgb_text(buf, rgb_mix(RGB_LARGE, RGB_WHITE, (100 - res) * 70 / 100));
    }
    default: return free_fill((void *)lo, hi - lo);
    }
}

static void item_title(const item_t *it, char *buf, size_t size) {
    char a[32], b[32];
    size_t res = wdi_os_resident((void *)it->addr, it->size);
    switch (it->kind) {
    case K_META:
        wdi_fmt(buf, size, "%p: warden's metadata (segment header and page descriptors, "
                "heap control block, end marker or large block header), %s",
                (void *)it->addr, wdi_size_text(a, sizeof a, it->size));
        break;
    case K_GUARD:
        wdi_fmt(buf, size, "%p: guard (harden=2, no access), %s", (void *)it->addr,
                wdi_size_text(a, sizeof a, it->size));
        break;
    case K_PAGE:
        wdi_fmt(buf, size, "%p: small page of class %d (%zu-byte blocks): %zu of %zu blocks in "
                "use (%d%%), %zu carved; %s resident", (void *)it->addr, (int)it->cls,
                (size_t)it->block_size, (size_t)it->used, (size_t)it->total,
                (int)percent(it->used, it->total), it->aux, wdi_size_text(a, sizeof a, res));
        break;
    case K_PAGE_FREE:
    case K_PAGE_RETURNED:
        wdi_fmt(buf, size, "%p: small page without blocks, %s; %s resident%s", (void *)it->addr,
                wdi_size_text(a, sizeof a, it->size), wdi_size_text(b, sizeof b, res),
                it->kind == K_PAGE_RETURNED ? " (returned to the OS)" : "");
        break;
    case K_MED_ALLOC:
        wdi_fmt(buf, size, "%p: medium block of %zu bytes (%s with its 16-byte header); %s resident",
                (void *)(it->addr + 16), it->size - 16, wdi_size_text(a, sizeof a, it->size),
                wdi_size_text(b, sizeof b, res));
        break;
    case K_MED_FREE:
        wdi_fmt(buf, size, "%p: free medium range, %s; %s resident (the rest returned to the OS)",
                (void *)it->addr, wdi_size_text(a, sizeof a, it->size),
                wdi_size_text(b, sizeof b, res));
        break;
    case K_MED_MIXED:
        wdi_fmt(buf, size, "%p: %zu medium ranges under 4 KiB each, %zu allocated (%zu bytes of %zu)",
                (void *)it->addr, (size_t)it->total, (size_t)it->used, it->aux, it->size);
        break;
    case K_LARGE_ALLOC:
        wdi_fmt(buf, size, "%p: large block, %zu bytes usable (%s); %s resident", (void *)it->addr,
                it->size, wdi_size_text(a, sizeof a, it->size), wdi_size_text(b, sizeof b, res));
        break;
    case K_LARGE_FREE:
        wdi_fmt(buf, size, "%p: freed large mapping kept for reuse, %s; %s resident",
                (void *)it->addr, wdi_size_text(a, sizeof a, it->size),
                wdi_size_text(b, sizeof b, res));
        break;
    default:
        wdi_fmt(buf, size, "%p: end of a large mapping past its block, %s; %s resident",
                (void *)it->addr, wdi_size_text(a, sizeof a, it->size),
                wdi_size_text(b, sizeof b, res));
    }
}

static int row_y(const draw_t *d, size_t row) { return d->y + (int)row * ROW_STEP; }

/* Draws it clipped to each row it crosses. */
static void draw_item(draw_t *d, const item_t *it, size_t rows) {
    char title[512], fill[16];
    item_title(it, title, sizeof title);
    uintptr_t end = it->addr + it->size;
    for (uintptr_t lo = it->addr; lo < end;) {
        size_t row = (lo - d->base) / WD_SEGMENT_SIZE;
        if (row >= rows)
            break;
        uintptr_t row_start = d->base + row * WD_SEGMENT_SIZE;
        uintptr_t hi = end < row_start + WD_SEGMENT_SIZE ? end : row_start + WD_SEGMENT_SIZE;
        size_t x0 = (lo - row_start) >> 12, x1 = (hi - row_start + 4095) >> 12;
        rect(d->out, LEFT + x0, row_y(d, row), x1 - x0, ROW_H, piece_fill(it, lo, hi, fill),
             title);
        lo = hi;
    }
}

static void region_label(draw_t *d, const item_t *r) {
    char a[32];
    wdi_sink_fmt(d->out, "<text x=\"8\" y=\"%d\" class=\"lbl\">%p ", d->y + 12, (void *)r->addr);
    if (r->kind == K_REGION_SMALL)
        wdi_sink_fmt(d->out, "small, heap %zu%s", r->aux, r->flag ? " (abandoned)" : "");
    else if (r->kind == K_REGION_MEDIUM)
        wdi_sink_put(d->out, "medium");
    else
        wdi_sink_fmt(d->out, "large %s%s", wdi_size_text(a, sizeof a, r->size),
                     r->flag ? ", freed" : "");
    wdi_sink_put(d->out, "</text>\n");
}

static size_t region_rows(const item_t *r) {
    return (r->size + WD_SEGMENT_SIZE - 1) / WD_SEGMENT_SIZE;
}

/* Rows and gaps the picture will have, to size it before drawing. */
static int picture_height(const snap_t *s, size_t *drawn_regions) {
    int y = ROWS_TOP;
    size_t rows = 0, regions = 0;
    uintptr_t prev_end = 0;
    for (size_t i = 0; i < s->n; i++) {
        const item_t *r = &s->items[i];
        if (r->kind > K_REGION_LARGE)
            continue;
        size_t n = region_rows(r);
        if (rows + n > MAX_ROWS)
            break;
        if (prev_end != 0 && r->addr != prev_end)
            y += GAP_H;
        y += (int)n * ROW_STEP;
        rows += n;
        regions++;
        prev_end = r->addr + r->size;
    }
    *drawn_regions = regions;
    return y + 40;
}

static void draw_gap(draw_t *d, uintptr_t from, uintptr_t to) {
    char a[32];
    wdi_sink_fmt(d->out, "<text x=\"%d\" y=\"%d\" class=\"gap\">&#8942; %s of address space "
                 "that is not warden's</text>\n", LEFT, d->y + 8,
                 wdi_size_text(a, sizeof a, to - from));
    d->y += GAP_H;
}

/* The legend: the size classes' colours, occupancy, the other kinds. */
static void legend_swatch(wd_sink_t *o, int x, int y, const char *fill, const char *text) {
    rect(o, (size_t)x, y, 14, 12, fill, NULL);
    wdi_sink_fmt(o, "<text x=\"%d\" y=\"%d\" class=\"lbl\">%s</text>\n", x + 18, y + 10, text);
}

static void draw_legend(wd_sink_t *o) {
    char fill[16];
    int y = LEGEND_TOP;
    wdi_sink_fmt(o, "<text x=\"8\" y=\"%d\" class=\"lbl\">small pages, by size class:</text>\n",
                 y + 10);
    for (unsigned c = 1; c < WD_CLASSES; c++)
        rect(o, LEFT + (c - 1) * 8, y, 8, 12, rgb_text(fill, class_rgb(c)), NULL);
    static const unsigned marks[] = {1, 8, 20, 36, 52, 68};
    for (unsigned i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        char a[32];
        wdi_sink_fmt(o, "<text x=\"%zu\" y=\"%d\" class=\"tick\">%s</text>\n",
                     (size_t)(LEFT + (marks[i] - 1) * 8), y + 24,
                     wdi_size_text(a, sizeof a, wdi_class_size[marks[i]]));
    }
    int x = LEFT + 68 * 8 + 24;
    wdi_sink_fmt(o, "<text x=\"%d\" y=\"%d\" class=\"lbl\">blocks in use:</text>\n", x, y + 10);
    for (unsigned k = 0; k <= 4; k++) {
        char t[16];
        wdi_fmt(t, sizeof t, "%d%%", (int)(k * 25));
        rect(o, (size_t)(x + 100 + (int)k * 44), y, 14, 12, rgb_text(fill, page_rgb(36, k * 25)),
             NULL);
        wdi_sink_fmt(o, "<text x=\"%d\" y=\"%d\" class=\"tick\">%s</text>\n", x + 100 + (int)k * 44,
                     y + 24, t);
    }
    y += 36;
    legend_swatch(o, 8, y, rgb_text(fill, RGB_MEDIUM), "medium block");
    legend_swatch(o, 128, y, rgb_text(fill, RGB_LARGE), "large block");
    legend_swatch(o, 238, y, rgb_text(fill, rgb_mix(RGB_LARGE, RGB_WHITE, 70)),
                  "large, not touched yet");
    legend_swatch(o, 410, y, C_META, "warden's metadata");
    legend_swatch(o, 560, y, C_FREE, "free, resident");
    legend_swatch(o, 690, y, C_RETURNED, "free, not resident (returned to the OS or never used)");
    y += 22;
    legend_swatch(o, 8, y, rgb_text(fill, rgb_mix(RGB_FREE, RGB_MEDIUM, 50)),
                  "medium ranges under 4 KiB, merged (darker: more allocated)");
    legend_swatch(o, 450, y, C_GUARD, "guard (harden=2)");
    wdi_sink_fmt(o, "<text x=\"620\" y=\"%d\" class=\"lbl\">one row: 4 MiB (a segment); "
                 "1 px: 4 KiB; hover for figures</text>\n", y + 10);
}

static void svg_open(wd_sink_t *o, int width, int height, const char *title) {
    wdi_sink_fmt(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, monospace\">\n<title>",
                 width, height, width, height);
    wdi_sink_xml(o, title);
    wdi_sink_put(o, "</title>\n<defs><pattern id=\"returned\" width=\"6\" height=\"6\" "
                    "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                    "<rect width=\"6\" height=\"6\" fill=\"#ffffff\"/>"
                    "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#a8a8a8\" "
                    "stroke-width=\"2\"/></pattern>\n<style>.lbl{font-size:11px;fill:#222}"
                    ".tick{font-size:9px;fill:#444}.gap{font-size:10px;fill:#777}"
                    ".head{font-size:15px;font-weight:bold;fill:#111}"
                    ".sum{font-size:11px;fill:#333}</style></defs>\n");
    rect(o, 0, 0, (size_t)width, height, "#ffffff", NULL);
}

static void draw_summary(wd_sink_t *o, const char *name) {
    wd_figures_t f;
    char a[32], b[32], c[32], d[32];
    wdi_figures_get(&f, 1);
    wdi_sink_put(o, "<text x=\"8\" y=\"22\" class=\"head\">warden heap map: ");
    wdi_sink_xml(o, name);
    wdi_sink_fmt(o, " (pid %d)</text>\n", wdi_os_pid());
    wdi_sink_fmt(o, "<text x=\"8\" y=\"42\" class=\"sum\">in use %s in %zu blocks (peak %s); "
                 "mapped %s, resident %s; ", wdi_size_text(a, sizeof a, f.st.live_bytes),
                 f.st.small_live + f.st.medium_live + f.st.large_live,
                 wdi_size_text(b, sizeof b, f.st.peak_live_bytes),
                 wdi_size_text(c, sizeof c, f.st.mapped_bytes),
                 wdi_size_text(d, sizeof d, f.heap_resident));
    wdi_sink_fmt(o, "returned to the OS so far %s; %zu thread heaps</text>\n",
                 wdi_size_text(a, sizeof a, f.st.returned_bytes), f.heaps);
}

static int map_write(wd_sink_t *o) {
    snap_t s;
    if (snap_collect(&s) != 0)
        return -1;
    size_t regions;
    int height = picture_height(&s, &regions);
    const char *name = program_invocation_short_name;
    svg_open(o, WIDTH, height, "warden heap map");
    draw_summary(o, name != NULL ? name : "?");
    draw_legend(o);
    draw_t d = {o, 0, ROWS_TOP, 0};
    uintptr_t prev_end = 0;
    size_t rows = 0, done = 0;
    for (size_t i = 0; i < s.n && done <= regions; i++) {
        const item_t *it = &s.items[i];
        if (it->kind <= K_REGION_LARGE) {
            if (done == regions)
                break;
            if (done > 0) /* the previous region's rows */
                d.y += (int)rows * ROW_STEP;
            if (prev_end != 0 && it->addr != prev_end)
                draw_gap(&d, prev_end, it->addr);
            d.base = it->addr;
            rows = region_rows(it);
            region_label(&d, it);
            prev_end = it->addr + it->size;
            done++;
            continue;
        }
        draw_item(&d, it, rows);
    }
    if (done > 0)
        d.y += (int)rows * ROW_STEP;
    if (done == 0)
        wdi_sink_fmt(o, "<text x=\"8\" y=\"%d\" class=\"lbl\">(no memory allocated yet)</text>\n",
                     d.y + 12);
    if (s.truncated || done < s.small + s.medium + s.large)
        wdi_sink_fmt(o, "<text x=\"8\" y=\"%d\" class=\"lbl\">more regions than one picture "
                     "shows: %zu drawn</text>\n", d.y + 20, done);
    wdi_sink_put(o, "</svg>\n");
    snap_release(&s);
    return 0;
}

int wdi_map_svg_fd(int fd) {
    static wd_sink_t sink; /* 32 KiB, not on the stack of an exiting thread */
    wdi_sink_init_fd(&sink, fd);
    int rc = map_write(&sink);
    return wdi_sink_flush(&sink) | rc;
}

int wd_map_svg(FILE *out) {
    wd_sink_t sink;
    wdi_sink_init_file(&sink, out != NULL ? out : stdout);
    int rc = map_write(&sink);
    if (wdi_sink_flush(&sink) != 0 && rc == 0) {
        errno = EIO;
        rc = -1;
    }
    return rc;
}

void wdi_map_at_exit(void) {
    char path[WD_OPTION_STR_MAX + 32];
    int fd;
    wdi_path_expand(path, sizeof path, wdi_options.map);
    int err = wdi_os_open_output(path, 0, &fd);
    if (err != 0) {
        wdi_print_line(2, "warden: cannot write the map to %s (errno %d)", path, err);
        return;
    }
    if (wdi_map_svg_fd(fd) != 0)
        wdi_print_line(2, "warden: the map %s could not be written whole", path);
    wdi_os_close(fd);
}

/* --- a classic heap, block by block ---------------------------------------------- */

/* The picture of a wd_heap: rows of 1024 px, at most 32 of them, at 1, 2,
 * 4 ... bytes a pixel; every range drawn as its header and its payload,
 * ranges under 2 px merged (only in heaps so big that a pixel holds more
 * than 8 bytes). */
#define HEAP_ROW_H 34
#define HEAP_ROW_STEP 44
#define HEAP_TOP 74

typedef struct heap_draw_s {
    wd_sink_t *out;
    uintptr_t base;
    size_t bpp, row_bytes, rows;
    uintptr_t first, end; /* the first range's header; the end marker's end */
    size_t index;         /* ranges drawn */
    item_t mix;
} heap_draw_t;

static int heap_extent(void *start, size_t size, int allocated, void *arg) {
    heap_draw_t *h = arg;
    (void)allocated;
    uintptr_t at = (uintptr_t)start - 16;
    if (h->first == 0)
        h->first = at;
    h->end = (uintptr_t)start + size + 16; /* past this range, the end marker */
    return 0;
}

/* Draws [lo, hi) clipped to the rows, with a label in its widest piece
 * when there is room. */
static void heap_piece(heap_draw_t *h, uintptr_t lo, uintptr_t hi, const char *fill,
                       const char *title, const char *label, int dark_label) {
    size_t best_w = 0, best_x = 0;
    int best_y = 0;
    while (lo < hi) {
        size_t row = (lo - h->base) / h->row_bytes;
        uintptr_t row_start = h->base + row * h->row_bytes;
        uintptr_t end = hi < row_start + h->row_bytes ? hi : row_start + h->row_bytes;
        size_t x0 = (lo - row_start) / h->bpp, x1 = (end - row_start + h->bpp - 1) / h->bpp;
        int y = HEAP_TOP + (int)row * HEAP_ROW_STEP;
        rect(h->out, LEFT + x0, y, x1 - x0, HEAP_ROW_H, fill, title);
        if (x1 - x0 > best_w) {
            best_w = x1 - x0;
            best_x = LEFT + x0;
            best_y = y;
        }
        lo = end;
    }
    if (label != NULL && best_w >= strlen(label) * 7 + 4)
        wdi_sink_fmt(h->out, "<text x=\"%zu\" y=\"%d\" class=\"%s\">%s</text>\n",
                     best_x + best_w / 2, best_y + HEAP_ROW_H / 2 + 4, dark_label ? "ind" : "in",
                     label);
}

static void heap_mix_flush(heap_draw_t *h) {
    if (h->mix.size == 0)
        return;
    char title[256], fill[16];
    wdi_fmt(title, sizeof title, "%p: %zu ranges too narrow to draw one by one, %zu allocated "
            "(%zu of %zu bytes)", (void *)h->mix.addr, (size_t)h->mix.total, (size_t)h->mix.used,
            h->mix.aux, h->mix.size);
    heap_piece(h, h->mix.addr, h->mix.addr + h->mix.size,
               rgb_text(fill, rgb_mix(RGB_FREE, RGB_MEDIUM, percent(h->mix.aux, h->mix.size))),
               title, NULL, 0);
    h->mix.size = 0;
}

static int heap_range(void *start, size_t size, int allocated, void *arg) {
    heap_draw_t *h = arg;
    uintptr_t at = (uintptr_t)start - 16, end = (uintptr_t)start + size;
    char title[256], label[32], fill[16];
    if (end - at < 2 * h->bpp) { /* narrower than 2 px */
        if (h->mix.size == 0)
            h->mix = (item_t){.addr = at};
        h->mix.size += end - at;
        h->mix.total++;
        h->mix.used += (uint32_t)allocated;
        h->mix.aux += allocated ? end - at : 0;
        if (h->mix.size >= 4 * h->bpp)
            heap_mix_flush(h);
        return 0;
    }
    heap_mix_flush(h);
    wdi_fmt(title, sizeof title, "%p: header of the range at %p: its size (%zu bytes, header "
            "included) and its left neighbour's, checksummed", (void *)at, (void *)at, end - at);
    heap_piece(h, at, (uintptr_t)start, C_HEADER, title, NULL, 0);
    if (allocated)
        wdi_fmt(title, sizeof title, "range %zu at %p: allocated, %zu usable bytes (a %zu-byte "
                "range: 16-byte header + payload)", h->index, start, size, end - at);
    else
        wdi_fmt(title, sizeof title, "range %zu at %p: free, %zu bytes after its header (%zu with "
                "it), listed by size for malloc", h->index, start, size, end - at);
    wdi_fmt(label, sizeof label, "%zu", size);
    unsigned rgb = allocated ? rgb_mix(RGB_MEDIUM, RGB_WHITE, (h->index & 1) ? 30 : 0) : RGB_FREE;
    heap_piece(h, (uintptr_t)start, end, rgb_text(fill, rgb), title, label, !allocated);
    h->index++;
    return 0;
}

static void heap_legend(heap_draw_t *h, int y) {
    char fill[16];
    legend_swatch(h->out, 8, y, C_HEADER, "range header (16 bytes)");
    legend_swatch(h->out, 230, y, rgb_text(fill, RGB_MEDIUM), "allocated (payload size)");
    legend_swatch(h->out, 460, y, C_FREE, "free range");
    legend_swatch(h->out, 600, y, C_META, "control block, end marker");
    wdi_sink_fmt(h->out, "<text x=\"820\" y=\"%d\" class=\"lbl\">1 px: %zu byte%s; "
                 "one row: %zu bytes</text>\n", y + 10, h->bpp, h->bpp == 1 ? "" : "s",
                 h->row_bytes);
}

int wd_heap_map_svg(wd_heap_t *heap, FILE *out) {
    wd_sink_t sink;
    wd_heap_stats_t st;
    heap_draw_t h;
    memset(&h, 0, sizeof h);
    wdi_sink_init_file(&sink, out != NULL ? out : stdout);
    h.out = &sink;
    wd_heap_stats(heap, &st);
    wd_heap_walk(heap, heap_extent, &h);
    h.base = (uintptr_t)heap;
    size_t extent = h.end > h.base ? h.end - h.base : 1;
    for (h.bpp = 1; h.bpp * ROW_PX * 32 < extent; h.bpp *= 2)
        ;
    h.row_bytes = h.bpp * ROW_PX;
    h.rows = (extent + h.row_bytes - 1) / h.row_bytes;
    int height = HEAP_TOP + (int)h.rows * HEAP_ROW_STEP + 30;
    char title[256], a[32];
    svg_open(&sink, WIDTH, height, "warden classic heap");
    wdi_sink_put(&sink, "<style>.in{font-size:10px;fill:#fff;text-anchor:middle}"
                        ".ind{font-size:10px;fill:#333;text-anchor:middle}</style>\n");
    wdi_sink_fmt(&sink, "<text x=\"8\" y=\"22\" class=\"head\">wd_heap at %p: %s</text>\n",
                 (void *)heap, wdi_size_text(a, sizeof a, st.heap_size));
    wdi_sink_fmt(&sink, "<text x=\"8\" y=\"40\" class=\"sum\">%zu blocks allocated (%zu bytes "
                 "with headers, peak %zu), %zu free ranges (%zu bytes), largest request that "
                 "fits now: %zu bytes</text>\n", st.allocated_blocks, st.used_bytes,
                 st.peak_used_bytes, st.free_blocks, st.free_bytes, st.largest_free);
    heap_legend(&h, 50);
    for (size_t r = 0; r < h.rows; r++)
        wdi_sink_fmt(&sink, "<text x=\"8\" y=\"%d\" class=\"lbl\">%p</text>\n",
                     HEAP_TOP + (int)r * HEAP_ROW_STEP + HEAP_ROW_H / 2 + 4,
                     (void *)(h.base + r * h.row_bytes));
    if (h.first > h.base) {
        wdi_fmt(title, sizeof title, "%p: control block: free-list heads and bitmaps, %zu bytes",
                (void *)h.base, (size_t)(h.first - h.base));
        heap_piece(&h, h.base, h.first, C_META, title, NULL, 0);
    }
    wd_heap_walk(heap, heap_range, &h);
    heap_mix_flush(&h);
    if (h.end > 16) {
        wdi_fmt(title, sizeof title, "%p: end marker (16 bytes, always allocated)",
                (void *)(h.end - 16));
        heap_piece(&h, h.end - 16, h.end, C_META, title, NULL, 0);
    }
    wdi_sink_put(&sink, "</svg>\n");
    return wdi_sink_flush(&sink);
}
