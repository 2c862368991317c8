/* tests/classic/heap_util.h -- whole-heap checks shared by the classic heap tests.
 *
 *   hu_parse_dump(h, &view)      runs wd_heap_dump into memory and parses every
 *                                line back, asserting the seed's line format
 *   hu_verify(h, mem, size, probe, &view or NULL)
 *                                wd_heap_check == 0, then cross-checks dump,
 *                                walk, stats, usable sizes and the raw header
 *                                words in memory; with probe, also asserts that
 *                                malloc(largest_free + 1) fails with ENOMEM and
 *                                malloc(largest_free) succeeds (then frees it and
 *                                asserts the layout came back unchanged)
 *
 * Facts about the layout these rely on (see the brief of the heap tests):
 * a range starts with a 16-byte header; word 0 is the tag (bits 63..32: the
 * previous range's size / 16, bits 31..0: checksum), word 1 the info word
 * (bit 63: allocated; the rest: range size in bytes, header included).
 */
#ifndef WARDEN_TESTS_HEAP_UTIL_H
#define WARDEN_TESTS_HEAP_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "test.h"

#define HU_ALLOC_BIT ((uint64_t)1 << 63)

typedef struct hu_range {
    uintptr_t start; /* header address */
    uintptr_t end;   /* start + range size */
    uint64_t word;   /* the info word as printed */
    int allocated;
    size_t size;     /* "size = N bytes" */
} hu_range_t;

typedef struct hu_view {
    hu_range_t *r;
    size_t n, cap;
    char summary[512];
} hu_view_t;

typedef struct hu_walk_entry {
    uintptr_t start;
    size_t size;
    int allocated;
} hu_walk_entry_t;

typedef struct hu_walk {
    hu_walk_entry_t *e;
    size_t n, cap;
} hu_walk_t;

static inline void hu_view_free(hu_view_t *v) {
    free(v->r);
    memset(v, 0, sizeof *v);
}

static inline size_t hu_range_size_for(size_t n) {
    size_t r = (n + 16 + 15) & ~(size_t)15;
    return r < 32 ? 32 : r;
}

static inline uint64_t hu_load64(uintptr_t addr) {
    uint64_t w;
    memcpy(&w, (const void *)addr, sizeof w);
    return w;
}

/* The info word (p - 8) and tag (p - 16) of the block at payload p. */
static inline uint64_t hu_info(const void *p) { return hu_load64((uintptr_t)p - 8); }
static inline uint64_t hu_tag(const void *p) { return hu_load64((uintptr_t)p - 16); }

static inline char *hu_dump_text(wd_heap_t *h, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    CHECK(f != NULL);
    wd_heap_dump(h, f);
    CHECK(fclose(f) == 0);
    CHECK(buf != NULL);
    *len = n;
    return buf;
}

static inline void hu_view_push(hu_view_t *v, hu_range_t r) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->r = realloc(v->r, v->cap * sizeof *v->r);
        CHECK(v->r != NULL);
    }
    v->r[v->n++] = r;
}

/* Parses one range line; exits with the line printed when it is malformed. */
static inline hu_range_t hu_parse_line(const char *line) {
    hu_range_t r;
    memset(&r, 0, sizeof r);
    char kind[16] = {0};
    int h0 = -1, h1 = -1, end = -1;
    int got = sscanf(line,
                     "[0x%" SCNxPTR " -> 0x%" SCNxPTR ") : 0x%n%" SCNx64 "%n (%15[a-z], size = %zu bytes)%n",
                     &r.start, &r.end, &h0, &r.word, &h1, kind, &r.size, &end);
    int ok = got == 5 && end == (int)strlen(line) && h0 > 0 && h1 - h0 == 16;
    for (int i = h0; ok && i < h1; i++)
        ok = (line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f');
    if (ok && strcmp(kind, "allocated") == 0)
        r.allocated = 1;
    else if (ok && strcmp(kind, "free") == 0)
        r.allocated = 0;
    else
        ok = 0;
    if (!ok) {
        fprintf(stderr, "malformed dump line: '%s'\n", line);
        CHECK(!"dump line in the seed's format");
    }
    return r;
}

/* Dumps h and parses the output: range lines, then exactly one summary line. */
static inline void hu_parse_dump(wd_heap_t *h, hu_view_t *v) {
    size_t len;
    char *text = hu_dump_text(h, &len);
    v->n = 0;
    v->summary[0] = '\0';
    int summaries = 0;
    CHECK(len > 0 && text[len - 1] == '\n');
    char *line = text;
    while (*line) {
        char *nl = strchr(line, '\n');
        CHECK(nl != NULL);
        *nl = '\0';
        CHECK(summaries == 0); /* the summary is the last line */
        if (strncmp(line, "summary:", 8) == 0) {
            summaries++;
            snprintf(v->summary, sizeof v->summary, "%s", line);
        } else {
            hu_view_push(v, hu_parse_line(line));
        }
        line = nl + 1;
    }
    CHECK_EQ(summaries, 1);
    CHECK(strstr(v->summary, "used") != NULL);
    CHECK(strstr(v->summary, "free") != NULL);
    CHECK(strstr(v->summary, "largest") != NULL);
    CHECK(strstr(v->summary, "fragmentation") != NULL);
    free(text);
}

static inline int hu_walk_visit(void *start, size_t size, int allocated, void *arg) {
    hu_walk_t *w = arg;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->e = realloc(w->e, w->cap * sizeof *w->e);
        CHECK(w->e != NULL);
    }
    w->e[w->n].start = (uintptr_t)start;
    w->e[w->n].size = size;
    w->e[w->n].allocated = allocated != 0;
    w->n++;
    return 0;
}

static inline void hu_collect_walk(wd_heap_t *h, hu_walk_t *w) {
    w->n = 0;
    CHECK_EQ(wd_heap_walk(h, hu_walk_visit, w), 0);
}

static inline int hu_same_ranges(const hu_view_t *a, const hu_view_t *b) {
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->r[i].start != b->r[i].start || a->r[i].end != b->r[i].end ||
            a->r[i].word != b->r[i].word)
            return 0;
    return 1;
}

static inline void hu_verify(wd_heap_t *h, const void *mem, size_t size, int probe,
                             hu_view_t *out);

/* malloc(largest_free + 1) must fail, malloc(largest_free) must succeed; the
 * layout must be the same after freeing the probe. */
static inline void hu_probe_largest(wd_heap_t *h, const void *mem, size_t size,
                                    const hu_view_t *before) {
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    if (st.free_blocks == 0)
        return;
    errno = 0;
    void *p = wd_heap_malloc(h, st.largest_free + 1);
    if (p != NULL)
        fprintf(stderr, "largest_free = %zu but malloc(%zu) succeeded\n", st.largest_free,
                st.largest_free + 1);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    p = wd_heap_malloc(h, st.largest_free);
    if (p == NULL)
        fprintf(stderr, "largest_free = %zu but malloc of it failed\n", st.largest_free);
    CHECK(p != NULL);
    CHECK(wd_heap_usable_size(h, p) >= st.largest_free);
    wd_heap_free(h, p);
    hu_view_t after;
    memset(&after, 0, sizeof after);
    hu_verify(h, mem, size, 0, &after);
    CHECK(hu_same_ranges(before, &after));
    hu_view_free(&after);
}

static inline void hu_verify(wd_heap_t *h, const void *mem, size_t size, int probe,
                             hu_view_t *out) {
    CHECK_EQ(wd_heap_check(h), 0);
    hu_view_t v;
    memset(&v, 0, sizeof v);
    hu_parse_dump(h, &v);
    hu_walk_t w;
    memset(&w, 0, sizeof w);
    hu_collect_walk(h, &w);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);

    uintptr_t lo = (uintptr_t)mem, hi = lo + size;
    size_t used = 0, freeb = 0, nalloc = 0, nfree = 0, maxfree = 0;
    CHECK(v.n >= 1);
    CHECK_EQ(w.n, v.n);
    for (size_t i = 0; i < v.n; i++) {
        const hu_range_t *r = &v.r[i];
        CHECK(r->start >= lo && r->end <= hi && r->start < r->end);
        CHECK_EQ(r->start % 16, 0);
        CHECK_EQ(r->end - r->start, r->size);
        CHECK(r->size >= 32 && r->size % 16 == 0);
        /* the info word: top bit = allocated, the rest = the size */
        CHECK_EQ(r->word >> 63, (uint64_t)r->allocated);
        CHECK_EQ(r->word & ~HU_ALLOC_BIT, r->size);
        /* the dump prints the real header word */
        CHECK_EQ(hu_load64(r->start + 8), r->word);
        if (i > 0) {
            CHECK_EQ(r->start, v.r[i - 1].end); /* ranges tile the heap */
            CHECK_EQ((hu_load64(r->start) >> 32) * 16, v.r[i - 1].size); /* boundary tag */
            CHECK(r->allocated || v.r[i - 1].allocated); /* merged at once */
        }
        /* walk: payload and usable size */
        CHECK_EQ(w.e[i].start, r->start + 16);
        CHECK_EQ(w.e[i].size, r->size - 16);
        CHECK_EQ(w.e[i].allocated, r->allocated);
        if (r->allocated) {
            used += r->size;
            nalloc++;
            CHECK_EQ(wd_heap_usable_size(h, (void *)(r->start + 16)), r->size - 16);
        } else {
            freeb += r->size;
            nfree++;
            if (r->size > maxfree)
                maxfree = r->size;
        }
    }
    CHECK_EQ(st.used_bytes, used);
    CHECK_EQ(st.free_bytes, freeb);
    CHECK_EQ(st.allocated_blocks, nalloc);
    CHECK_EQ(st.free_blocks, nfree);
    CHECK(st.peak_used_bytes >= st.used_bytes);
    CHECK_EQ(st.heap_size, size);
    CHECK(used + freeb + st.overhead_bytes <= st.heap_size);
    if (lo % 16 == 0 && size % 16 == 0) {
        CHECK_EQ(used + freeb + st.overhead_bytes, st.heap_size);
        CHECK_EQ(v.r[v.n - 1].end, hi - 16); /* the 16-byte end marker */
        CHECK_EQ(v.r[0].start - lo, st.overhead_bytes - 16);
    }
    if (nfree == 0) {
        CHECK_EQ(st.largest_free, 0);
    } else {
        CHECK(st.largest_free >= 16);
        CHECK(st.largest_free <= maxfree - 16);
    }
    free(w.e);
    if (probe)
        hu_probe_largest(h, mem, size, &v);
    if (out) {
        hu_view_free(out);
        *out = v;
    } else {
        hu_view_free(&v);
    }
}

/* Allocates until the heap has no free range left; returns how many blocks. */
static inline size_t hu_fill_rest(wd_heap_t *h, void **keep, size_t cap) {
    size_t n = 0;
    for (;;) {
        wd_heap_stats_t st;
        wd_heap_stats(h, &st);
        if (st.free_blocks == 0)
            break;
        CHECK(n < cap);
        void *p = wd_heap_malloc(h, st.largest_free);
        CHECK(p != NULL);
        keep[n++] = p;
    }
    return n;
}

#endif /* WARDEN_TESTS_HEAP_UTIL_H */
