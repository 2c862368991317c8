/* heap.c -- the classic heap: ranges with a header, merged at once when free,
 * found in O(1) through segregated free lists and a two-level bitmap (TLSF).
 *
 * Owns: the layout of a wd_heap inside caller memory and every check of its
 * metadata.  Calls: options.h (fatal report), os.h (the per-heap secret),
 * valgrind's client requests when built with them.  Never allocates.
 *
 * Memory of a heap, low to high addresses:
 *
 *   [ control block | range | range | ... | range | end marker ]
 *     struct wd_heap  each: 16-byte header + payload   16-byte header,
 *     + bitmaps + list heads (sized to the heap)        always "allocated"
 *
 * A range header is two words:
 *   tag  = (previous range's size / 16) << 32 | checksum32
 *   info = allocated << 63 | range size in bytes (header included)
 * `info` is the word the seed's log prints.  The previous size is the
 * boundary tag that lets free() find its left neighbour in O(1); the
 * checksum (keyed by a per-heap secret and the header's address) makes an
 * overwritten header abort instead of being followed.
 *
 * A free range also holds two links in its payload, stored encoded
 * (safe-linking style: XOR with a secret and the slot's address), so bytes
 * written into a freed block never decode to a usable address.
 *
 * Invariants (wd_heap_check verifies every one):
 *   - ranges tile [first, end) exactly; sizes are multiples of 16, >= 32;
 *   - every header's checksum matches and its prev size is its left
 *     neighbour's size (0 for the first range);
 *   - no two free ranges touch (merging is immediate);
 *   - each free range is in exactly the list of its size class, and a
 *     list's bit is set in the bitmaps exactly when the list is not empty;
 *   - used + free bytes == end - first; counters match the ranges.
 */
#include "classic/heap.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"
#include "base/options.h"
#include "os/os.h"

#ifdef WD_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

/* ---------------------------------------------------------------------------
 * Geometry
 * ------------------------------------------------------------------------- */

#define HDR          ((size_t)16)   /* range header bytes */
#define MIN_RANGE    ((size_t)32)   /* header + two links of a free range */
#define SL_LOG2      4u             /* 16 second-level lists per power of two */
#define SL_COUNT     (1u << SL_LOG2)
#define SMALL_LIMIT  ((size_t)1 << (SL_LOG2 + 4)) /* below: exact 16-byte classes */
#define FL_SHIFT     7u             /* fl of size 256 is 1; fl 0 is the small sizes */
#define MAX_HEAP     ((size_t)1 << 36) /* 64 GiB: offsets fit 32 bits of 16-byte units */
#define ALLOC_BIT    ((uint64_t)1 << 63)
#define HEAP_MAGIC   0x77617264656e6870ULL /* "wardenhp" */

typedef struct range_hdr {
    uint64_t tag;
    uint64_t info;
} range_t;

typedef struct range_links {
    uint64_t next; /* encoded */
    uint64_t prev; /* encoded */
} links_t;

/* The control block.  Its tail (`lists`) holds fl_count second-level bitmaps
 * followed by fl_count * SL_COUNT list heads, each a 32-bit offset from the
 * control block in 16-byte units (0 = empty), so a 4 KiB heap spends about
 * 400 bytes on it and a 1 GiB heap under 2 KiB. */
struct wd_heap {
    uint64_t magic;      /* HEAP_MAGIC ^ address: tells a heap from garbage */
    uint64_t secret;     /* checksum key */
    uint64_t link_key;   /* free-list link encoding key */
    uint8_t *first;      /* header of the first range */
    uint8_t *end;        /* header of the end marker */
    size_t heap_size;    /* bytes given to wd_heap_init (capped) */
    size_t used;         /* bytes of allocated ranges */
    size_t peak;         /* highest `used` */
    size_t nalloc;       /* allocated ranges */
    size_t nfree;        /* free ranges (all listed) */
    uint64_t fl_bitmap;  /* bit fl set: some list of first level fl is not empty */
    uint32_t fl_count;   /* first levels this heap needs */
    uint32_t vg;         /* running under valgrind: report blocks to it */
    uint32_t lists[];    /* sl bitmaps, then heads (see above) */
};

/* ---------------------------------------------------------------------------
 * Valgrind: headers, links and slack are no-access for the program; the heap
 * opens them around its own accesses.  Natively each hook is one predictable
 * branch on h->vg.
 * ------------------------------------------------------------------------- */

#ifdef WD_HAVE_VALGRIND
#define VG_OPEN(h, p, n)   do { if (wd_unlikely((h)->vg)) VALGRIND_MAKE_MEM_DEFINED((p), (n)); } while (0)
#define VG_CLOSE(h, p, n)  do { if (wd_unlikely((h)->vg)) VALGRIND_MAKE_MEM_NOACCESS((p), (n)); } while (0)
#define VG_ALLOC(h, p, n, zero)                                                \
    do { if (wd_unlikely((h)->vg)) VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zero)); } while (0)
#define VG_FREE(h, p)      do { if (wd_unlikely((h)->vg)) VALGRIND_FREELIKE_BLOCK((p), 0); } while (0)
#define VG_RUNNING()       ((uint32_t)RUNNING_ON_VALGRIND)
#define VG_QUIET_BEGIN(h)  do { if (wd_unlikely((h)->vg)) VALGRIND_DISABLE_ERROR_REPORTING; } while (0)
#define VG_QUIET_END(h)    do { if (wd_unlikely((h)->vg)) VALGRIND_ENABLE_ERROR_REPORTING; } while (0)
#else
#define VG_OPEN(h, p, n)   ((void)0)
#define VG_CLOSE(h, p, n)  ((void)0)
#define VG_ALLOC(h, p, n, zero) ((void)0)
#define VG_FREE(h, p)      ((void)0)
#define VG_RUNNING()       0u
#define VG_QUIET_BEGIN(h)  ((void)0)
#define VG_QUIET_END(h)    ((void)0)
#endif

/* ---------------------------------------------------------------------------
 * Headers
 * ------------------------------------------------------------------------- */

static inline size_t info_size(uint64_t info) { return (size_t)(info & ~ALLOC_BIT); }
static inline int info_allocated(uint64_t info) { return (info & ALLOC_BIT) != 0; }
static inline range_t *range_at(uint8_t *addr) { return (range_t *)(void *)addr; }
static inline uint8_t *range_addr(range_t *r) { return (uint8_t *)r; }
static inline void *range_payload(range_t *r) { return range_addr(r) + HDR; }
static inline range_t *range_of(const void *p) { return range_at((uint8_t *)(uintptr_t)p - HDR); }

/* 32-bit keyed checksum of a header's content and address. */
/* The address is mixed with the secret before anything else, through a
 * multiply: a header copied elsewhere cannot be fixed up without the
 * secret (XOR-ing the address in linearly would let anyone who reads one
 * valid header forge one at another address by adjusting its size). */
static uint32_t range_sum(const wd_heap_t *h, const range_t *r, uint64_t info, uint32_t prev16) {
    uint64_t x = ((uint64_t)(uintptr_t)r ^ h->secret) * 0x9E3779B97F4A7C15ULL;
    x ^= info;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= prev16 ^ (x >> 31);
    x *= 0x94d049bb133111ebULL;
    return (uint32_t)(x >> 32);
}

static void range_write(const wd_heap_t *h, range_t *r, uint64_t info, size_t prev_size) {
    uint32_t prev16 = (uint32_t)(prev_size >> 4);
    VG_OPEN(h, r, HDR);
    r->tag = (uint64_t)prev16 << 32 | range_sum(h, r, info, prev16);
    r->info = info;
    VG_CLOSE(h, r, HDR);
}

/* Reads a header; returns 0 and fills *info / *prev_size when its checksum
 * holds, -1 when it does not.  Never aborts (wd_heap_check uses it). */
static int range_read(const wd_heap_t *h, range_t *r, uint64_t *info, size_t *prev_size) {
    VG_OPEN(h, r, HDR);
    uint64_t tag = r->tag, inf = r->info;
    VG_CLOSE(h, r, HDR);
    uint32_t prev16 = (uint32_t)(tag >> 32);
    if (wd_unlikely((uint32_t)tag != range_sum(h, r, inf, prev16)))
        return -1;
    *info = inf;
    *prev_size = (size_t)prev16 << 4;
    return 0;
}

/* Reads a header the heap is about to trust; aborts when it was overwritten. */
static uint64_t range_load(const wd_heap_t *h, range_t *r, size_t *prev_size, const char *fn) {
    uint64_t info;
    if (wd_unlikely(range_read(h, r, &info, prev_size) != 0))
        wdi_fatal("corrupted block header", range_payload(r), fn);
    return info;
}

/* Rewrites the boundary tag of r (its left neighbour's size). */
static void range_set_prev(const wd_heap_t *h, range_t *r, size_t prev_size, const char *fn) {
    size_t old_prev;
    uint64_t info = range_load(h, r, &old_prev, fn);
    range_write(h, r, info, prev_size);
}

/* ---------------------------------------------------------------------------
 * Size classes (TLSF mapping)
 * ------------------------------------------------------------------------- */

static inline unsigned log2_floor(size_t x) { return 63u - (unsigned)__builtin_clzll(x); }

/* The class that a range of `size` bytes is listed in. */
static inline void class_of(size_t size, unsigned *fl, unsigned *sl) {
    if (size < SMALL_LIMIT) {
        *fl = 0;
        *sl = (unsigned)(size >> 4);
    } else {
        unsigned f = log2_floor(size);
        *sl = (unsigned)(size >> (f - SL_LOG2)) ^ SL_COUNT;
        *fl = f - FL_SHIFT;
    }
}

/* The first class whose every range is >= size ("good fit"): round the
 * request up to the next class boundary, then map it. */
static inline void class_above(size_t size, unsigned *fl, unsigned *sl) {
    if (size >= SMALL_LIMIT)
        size += ((size_t)1 << (log2_floor(size) - SL_LOG2)) - 1;
    class_of(size, fl, sl);
}

static inline uint32_t *sl_bitmap(wd_heap_t *h) { return h->lists; }
static inline uint32_t *list_head(wd_heap_t *h, unsigned fl, unsigned sl) {
    return &h->lists[h->fl_count + fl * SL_COUNT + sl];
}

static size_t control_size(uint32_t fl_count) {
    return wd_align_up(sizeof(struct wd_heap) + (size_t)fl_count * (1 + SL_COUNT) * sizeof(uint32_t),
                       WD_ALIGN);
}

static uint32_t fl_count_for(size_t heap_bytes) {
    unsigned fl, sl;
    class_of(heap_bytes, &fl, &sl);
    return fl + 1;
}

/* ---------------------------------------------------------------------------
 * Free lists: doubly linked, links encoded, every link checked before use
 * ------------------------------------------------------------------------- */

static inline uint32_t off_of(const wd_heap_t *h, const range_t *r) {
    return (uint32_t)(((uintptr_t)r - (uintptr_t)h) >> 4);
}
static inline range_t *range_from_off(wd_heap_t *h, uint32_t off) {
    return range_at((uint8_t *)h + ((size_t)off << 4));
}

static inline uint64_t link_encode(const wd_heap_t *h, const uint64_t *slot, range_t *to) {
    return (uint64_t)(uintptr_t)to ^ h->link_key ^ ((uint64_t)(uintptr_t)slot >> 4);
}

/* Decodes a link; aborts unless it is NULL or a 16-aligned range header
 * address inside the heap. */
static range_t *link_decode(const wd_heap_t *h, const uint64_t *slot, range_t *owner,
                            const char *fn) {
    uintptr_t to = (uintptr_t)(*slot ^ h->link_key ^ ((uint64_t)(uintptr_t)slot >> 4));
    if (to == 0)
        return NULL;
    if (wd_unlikely((to & 15) != 0 || to < (uintptr_t)h->first || to >= (uintptr_t)h->end))
        wdi_fatal("corrupted free list", range_payload(owner), fn);
    return range_at((uint8_t *)to);
}

static inline links_t *links_of(range_t *r) { return (links_t *)range_payload(r); }

static range_t *link_next(const wd_heap_t *h, range_t *r, const char *fn) {
    links_t *l = links_of(r);
    VG_OPEN(h, l, sizeof *l);
    range_t *n = link_decode(h, &l->next, r, fn);
    VG_CLOSE(h, l, sizeof *l);
    return n;
}

static range_t *link_prev(const wd_heap_t *h, range_t *r, const char *fn) {
    links_t *l = links_of(r);
    VG_OPEN(h, l, sizeof *l);
    range_t *p = link_decode(h, &l->prev, r, fn);
    VG_CLOSE(h, l, sizeof *l);
    return p;
}

static void link_set_next(const wd_heap_t *h, range_t *r, range_t *to) {
    links_t *l = links_of(r);
    VG_OPEN(h, l, sizeof *l);
    l->next = link_encode(h, &l->next, to);
    VG_CLOSE(h, l, sizeof *l);
}

static void link_set_prev(const wd_heap_t *h, range_t *r, range_t *to) {
    links_t *l = links_of(r);
    VG_OPEN(h, l, sizeof *l);
    l->prev = link_encode(h, &l->prev, to);
    VG_CLOSE(h, l, sizeof *l);
}

/* The allocated bit of a list neighbour, read without its checksum: a
 * stale link replayed into a freed block points at a real header of a
 * live block, marked allocated.  (Its checksum is verified when the range
 * itself is taken or merged.) */
static int range_is_free(const wd_heap_t *h, range_t *r) {
    (void)h; /* used by VG_OPEN only in the WD_VALGRIND build */
    VG_OPEN(h, r, HDR);
    uint64_t info = r->info;
    VG_CLOSE(h, r, HDR);
    return !info_allocated(info);
}

/* Lists free range r (header already written) at the head of its class. */
static void list_insert(wd_heap_t *h, range_t *r, size_t size) {
    unsigned fl, sl;
    class_of(size, &fl, &sl);
    uint32_t *head = list_head(h, fl, sl);
    range_t *old = *head ? range_from_off(h, *head) : NULL;
    link_set_next(h, r, old);
    link_set_prev(h, r, NULL);
    if (old)
        link_set_prev(h, old, r);
    *head = off_of(h, r);
    sl_bitmap(h)[fl] |= 1u << sl;
    h->fl_bitmap |= (uint64_t)1 << fl;
    h->nfree++;
}

/* Unlists free range r, after checking that both neighbours in the list
 * point back at it (a forged or overwritten link aborts here). */
static void list_remove(wd_heap_t *h, range_t *r, size_t size, const char *fn) {
    unsigned fl, sl;
    class_of(size, &fl, &sl);
    uint32_t *head = list_head(h, fl, sl);
    range_t *next = link_next(h, r, fn);
    range_t *prev = link_prev(h, r, fn);
    /* Both neighbours must point back, be free ranges, and only the head
     * may lack a predecessor: stale links replayed into a freed block (or
     * left in a live one) cannot make the unlink write into a live block. */
    int linked = prev ? link_next(h, prev, fn) == r && *head != off_of(h, r) && range_is_free(h, prev)
                      : *head == off_of(h, r);
    if (wd_unlikely(!linked || (next && (link_prev(h, next, fn) != r || !range_is_free(h, next)))))
        wdi_fatal("corrupted free list", range_payload(r), fn);
    if (prev)
        link_set_next(h, prev, next);
    else
        *head = next ? off_of(h, next) : 0;
    if (next)
        link_set_prev(h, next, prev);
    if (*head == 0) {
        sl_bitmap(h)[fl] &= ~(1u << sl);
        if (sl_bitmap(h)[fl] == 0)
            h->fl_bitmap &= ~((uint64_t)1 << fl);
    }
    h->nfree--;
}

/* The head of the first non-empty list at class (fl, sl) or above; NULL when
 * there is none.  Two bit scans: this is what makes lookup O(1). */
static range_t *list_find_from(wd_heap_t *h, unsigned fl, unsigned sl) {
    if (fl >= h->fl_count)
        return NULL;
    uint32_t sl_map = sl_bitmap(h)[fl] & (~0u << sl);
    if (sl_map == 0) {
        uint64_t fl_map = fl + 1 < 64 ? h->fl_bitmap & (~(uint64_t)0 << (fl + 1)) : 0;
        if (fl_map == 0)
            return NULL;
        fl = (unsigned)__builtin_ctzll(fl_map);
        sl_map = sl_bitmap(h)[fl];
    }
    sl = (unsigned)__builtin_ctz(sl_map);
    return range_from_off(h, *list_head(h, fl, sl));
}

/* Verifies a range taken from a list: its header holds, it is free and it
 * belongs to the list it was found in (else the list was corrupted). */
static size_t listed_size(wd_heap_t *h, range_t *r, size_t *prev_size, const char *fn) {
    uint64_t info = range_load(h, r, prev_size, fn);
    if (wd_unlikely(info_allocated(info) || info_size(info) < MIN_RANGE))
        wdi_fatal("corrupted free list", range_payload(r), fn);
    return info_size(info);
}

/* Finds and unlists a free range of at least `need` bytes; NULL if none.
 * Good fit first (O(1)); when that finds nothing, the one list that may
 * still hold a big enough range (need's own class) is scanned, so that any
 * request up to the largest free range succeeds. */
static range_t *take_free(wd_heap_t *h, size_t need, size_t *got, size_t *prev_size,
                          const char *fn) {
    unsigned fl, sl;
    class_above(need, &fl, &sl);
    range_t *r = list_find_from(h, fl, sl);
    if (r == NULL) {
        class_of(need, &fl, &sl);
        if (fl >= h->fl_count || !(sl_bitmap(h)[fl] & (1u << sl)))
            return NULL;
        for (r = range_from_off(h, *list_head(h, fl, sl)); r; r = link_next(h, r, fn))
            if (listed_size(h, r, prev_size, fn) >= need)
                break;
        if (r == NULL)
            return NULL;
    }
    *got = listed_size(h, r, prev_size, fn);
    list_remove(h, r, *got, fn);
    return r;
}

/* ---------------------------------------------------------------------------
 * Splitting and merging
 * ------------------------------------------------------------------------- */

/* Makes [r, r + size) a free range whose left neighbour is allocated and
 * has prev_size bytes, merging with the right neighbour when it is free:
 *
 *   [ r ......... ][ next|free ] -> [ r ...................... ]
 *
 * then fixes the boundary tag of the range after it and lists it. */
static void range_release(wd_heap_t *h, range_t *r, size_t size, size_t prev_size, const char *fn) {
    range_t *next = range_at(range_addr(r) + size);
    size_t next_prev;
    uint64_t next_info = range_load(h, next, &next_prev, fn);
    if (!info_allocated(next_info)) {
        list_remove(h, next, info_size(next_info), fn);
        size += info_size(next_info);
        next = range_at(range_addr(r) + size);
    }
    range_write(h, r, size, prev_size);
    range_set_prev(h, next, size, fn);
    list_insert(h, r, size);
}

/* Marks free, unlisted range r (have bytes) allocated with `need` bytes and
 * releases the rest when it can hold a range of its own. */
static void *range_use(wd_heap_t *h, range_t *r, size_t need, size_t have, size_t prev_size,
                       const char *fn) {
    if (have - need >= MIN_RANGE) {
        range_write(h, r, ALLOC_BIT | need, prev_size);
        range_release(h, range_at(range_addr(r) + need), have - need, need, fn);
    } else {
        need = have;
        range_write(h, r, ALLOC_BIT | need, prev_size);
    }
    h->used += need;
    h->nalloc++;
    if (h->used > h->peak)
        h->peak = h->used;
    return range_payload(r);
}

/* Range bytes for a request, or 0 when no heap could serve it. */
static inline size_t range_need(size_t size) {
    if (wd_unlikely(size > MAX_HEAP))
        return 0;
    size_t need = wd_align_up(size + HDR, WD_ALIGN);
    return need < MIN_RANGE ? MIN_RANGE : need;
}

/* ---------------------------------------------------------------------------
 * Checking a pointer the program hands back
 * ------------------------------------------------------------------------- */

/* p's header failed a check (bad checksum, or marked free): walk the heap
 * to say why.  p's header is a real range start, or p lies inside a range:
 *   the start of a free range                   -> `when_free` (double free)
 *   inside a free range, on a header that holds -> `when_free`: a block
 *       freed and merged leaves its header behind, marked free
 *   inside a free range, anywhere else          -> invalid pointer
 *   inside an allocated range                   -> invalid pointer
 *   a header that does not hold on the way      -> corrupted block header
 * Only misuse reaches this, so O(n) is fine; it always aborts. */
WD_NORETURN WD_COLD static void diagnose(wd_heap_t *h, const void *p, const char *fn) {
    const char *when_free = wdi_freed_what(fn);
    range_t *target = range_of(p);
    for (uint8_t *at = h->first; at < h->end;) {
        range_t *r = range_at(at);
        uint64_t info;
        size_t prev_size;
        if (range_read(h, r, &info, &prev_size) != 0)
            wdi_fatal("corrupted block header", range_payload(r), fn);
        size_t size = info_size(info);
        if (size < MIN_RANGE)
            break;
        if ((uintptr_t)target < (uintptr_t)(at + size)) {
            uint64_t stale;
            size_t stale_prev;
            int freed = r == target || (!info_allocated(info) &&
                                        range_read(h, target, &stale, &stale_prev) == 0);
            wdi_fatal(freed ? when_free : "invalid pointer", p, fn);
        }
        at += size;
    }
    wdi_fatal("invalid pointer", p, fn);
}

/* The header of the live block p, or an abort that says what p is:
 * outside the heap or misaligned, interior, corrupted, or already freed. */
static range_t *block_checked(wd_heap_t *h, const void *p, uint64_t *info, size_t *prev_size,
                              const char *fn) {
    uintptr_t u = (uintptr_t)p;
    if (wd_unlikely((u & 15) != 0 || u < (uintptr_t)h->first + HDR || u >= (uintptr_t)h->end))
        wdi_fatal("invalid pointer", p, fn);
    range_t *r = range_of(p);
    if (wd_unlikely(range_read(h, r, info, prev_size) != 0 || !info_allocated(*info)))
        diagnose(h, p, fn);
    return r;
}

/* ---------------------------------------------------------------------------
 * The malloc family
 * ------------------------------------------------------------------------- */

void *wdi_heap_malloc(wd_heap_t *h, size_t size, const char *fn) {
    size_t need = range_need(size), have, prev_size;
    range_t *r = need ? take_free(h, need, &have, &prev_size, fn) : NULL;
    if (wd_unlikely(r == NULL)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = range_use(h, r, need, have, prev_size, fn);
    VG_ALLOC(h, p, size, 0); /* free payloads are no-access: so stays the slack */
    return p;
}

/* Frees the live range r of `size` bytes:
 *
 *   [ prev|free ][ r ][ next|free ] -> [ prev ......................... ]
 *
 * r's own header is rewritten as free first, so that a second free of p,
 * even after the merge, finds a valid header marked free: a double free. */
static void range_free(wd_heap_t *h, range_t *r, size_t size, size_t prev_size, const char *fn) {
    range_write(h, r, size, prev_size);
    h->used -= size;
    h->nalloc--;
    if (prev_size != 0) {
        range_t *prev = range_at(range_addr(r) - prev_size);
        size_t prev_prev;
        uint64_t prev_info = range_load(h, prev, &prev_prev, fn);
        if (wd_unlikely(info_size(prev_info) != prev_size))
            wdi_fatal("corrupted block header", range_payload(r), fn);
        if (!info_allocated(prev_info)) {
            list_remove(h, prev, prev_size, fn);
            r = prev;
            size += prev_size;
            prev_size = prev_prev;
        }
    }
    range_release(h, r, size, prev_size, fn);
}

void wdi_heap_free(wd_heap_t *h, void *p, const char *fn) {
    if (p == NULL) /* C11 7.22.3.3: free(NULL) does nothing */
        return;
    uint64_t info;
    size_t prev_size;
    range_t *r = block_checked(h, p, &info, &prev_size, fn);
    VG_FREE(h, p);
    range_free(h, r, info_size(info), prev_size, fn);
}

size_t wdi_heap_usable_size(wd_heap_t *h, const void *p, const char *fn) {
    if (p == NULL)
        return 0;
    uint64_t info;
    size_t prev_size;
    block_checked(h, p, &info, &prev_size, fn);
    return info_size(info) - HDR;
}

/* Resizes live range r in place when it can: shrinking always, growing
 * into a free right neighbour.  Returns 0 on success. */
static int range_resize(wd_heap_t *h, range_t *r, size_t have, size_t need, size_t prev_size,
                        const char *fn) {
    if (need > have) {
        range_t *next = range_at(range_addr(r) + have);
        size_t next_prev;
        uint64_t next_info = range_load(h, next, &next_prev, fn);
        if (info_allocated(next_info) || have + info_size(next_info) < need)
            return -1;
        list_remove(h, next, info_size(next_info), fn);
        h->used += info_size(next_info);
        have += info_size(next_info);
        range_set_prev(h, range_at(range_addr(r) + have), have, fn);
    }
    if (have - need < MIN_RANGE)
        need = have; /* too little left over to stand alone */
    range_write(h, r, ALLOC_BIT | need, prev_size);
    if (need < have) {
        h->used -= have - need;
        range_release(h, range_at(range_addr(r) + need), have - need, need, fn);
    }
    if (h->used > h->peak)
        h->peak = h->used;
    return 0;
}

int wdi_heap_resize(wd_heap_t *h, void *p, size_t size, const char *fn) {
    uint64_t info;
    size_t prev_size, need = range_need(size);
    range_t *r = block_checked(h, p, &info, &prev_size, fn);
    if (need == 0 || h->vg)
        return -1;
    return range_resize(h, r, info_size(info), need, prev_size, fn);
}

void *wdi_heap_realloc(wd_heap_t *h, void *p, size_t size, const char *fn) {
    if (p == NULL)
        return wdi_heap_malloc(h, size, fn);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        wdi_heap_free(h, p, fn);
        return NULL;
    }
    uint64_t info;
    size_t prev_size, need = range_need(size);
    range_t *r = block_checked(h, p, &info, &prev_size, fn);
    if (wd_unlikely(need == 0)) {
        errno = ENOMEM;
        return NULL;
    }
    /* Under valgrind every resize moves, so memcheck sees exact block sizes. */
    if (!h->vg && range_resize(h, r, info_size(info), need, prev_size, fn) == 0)
        return p;
    void *q = wdi_heap_malloc(h, size, fn);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    size_t keep = info_size(info) - HDR;
    VG_QUIET_BEGIN(h); /* the old slack is no-access but harmless to copy */
    memcpy(q, p, keep < size ? keep : size);
    VG_QUIET_END(h);
    wdi_heap_free(h, p, fn);
    return q;
}

/* Carves an aligned block out of free, unlisted range r (have bytes):
 *
 *   [ r ....................................... ]
 *   [ gap|free ][ hdr | aligned payload ...... ][ rest|free ]
 *
 * The gap is 0 or at least MIN_RANGE so it can stand as a free range.
 * Returns NULL (r untouched) when r cannot hold it. */
static void *range_use_aligned(wd_heap_t *h, range_t *r, size_t have, size_t prev_size,
                               size_t alignment, size_t need, const char *fn) {
    uintptr_t start = (uintptr_t)range_payload(r);
    uintptr_t at = wd_ptr_align_up(start, alignment);
    if (at != start && at - start < MIN_RANGE)
        at += alignment; /* alignment >= 32 here, so the gap is now >= 32 */
    size_t gap = (size_t)(at - start);
    if (gap > have || have - gap < need)
        return NULL;
    if (gap == 0)
        return range_use(h, r, need, have, prev_size, fn);
    range_write(h, r, gap, prev_size); /* left neighbour is allocated */
    list_insert(h, r, gap);
    r = range_at(range_addr(r) + gap);
    have -= gap;
    void *p = range_use(h, r, need, have, gap, fn);
    /* A released remainder retagged what follows it; without one, the
     * block ends where the old range did and its right neighbour still
     * names the old size. */
    if (have - need < MIN_RANGE)
        range_set_prev(h, range_at(range_addr(r) + have), have, fn);
    return p;
}

/* Slow path of memalign: when no good-fit class is big enough for the
 * worst-case padding, look at every free range.  O(n), used only when the
 * heap is nearly full or the alignment is huge. */
static void *memalign_scan(wd_heap_t *h, size_t alignment, size_t need, const char *fn) {
    for (uint8_t *at = h->first; at < h->end;) {
        range_t *r = range_at(at);
        size_t prev_size;
        uint64_t info = range_load(h, r, &prev_size, fn);
        size_t size = info_size(info);
        if (!info_allocated(info) && size >= need) {
            list_remove(h, r, size, fn);
            void *p = range_use_aligned(h, r, size, prev_size, alignment, need, fn);
            if (p)
                return p;
            range_write(h, r, size, prev_size);
            list_insert(h, r, size);
        }
        at += size;
    }
    return NULL;
}

void *wdi_heap_memalign(wd_heap_t *h, size_t alignment, size_t size, const char *fn) {
    if (wd_unlikely(!wd_is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment <= WD_ALIGN)
        return wdi_heap_malloc(h, size, fn);
    size_t need = range_need(size), have, prev_size;
    void *p = NULL;
    if (need != 0 && alignment <= MAX_HEAP) {
        /* Worst-case padding: a gap that must itself hold a free range. */
        range_t *r = take_free(h, need + alignment + MIN_RANGE, &have, &prev_size, fn);
        p = r ? range_use_aligned(h, r, have, prev_size, alignment, need, fn)
              : memalign_scan(h, alignment, need, fn);
    }
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    VG_ALLOC(h, p, size, 0);
    return p;
}

/* ---------------------------------------------------------------------------
 * Public entry points
 * ------------------------------------------------------------------------- */

size_t wd_heap_min_size(void) {
    return control_size(1) + MIN_RANGE + HDR;
}

wd_heap_t *wd_heap_init(void *mem, size_t size) {
    uintptr_t start = wd_ptr_align_up((uintptr_t)mem, WD_ALIGN);
    size_t lost = (size_t)(start - (uintptr_t)mem);
    if (mem == NULL || size < lost || size - lost < wd_heap_min_size()) {
        errno = EINVAL;
        return NULL;
    }
    size_t given = size < MAX_HEAP ? size : MAX_HEAP;
    size_t bytes = (given - lost) & ~(WD_ALIGN - 1);
    uint32_t fl_count = fl_count_for(bytes);
    size_t ctrl = control_size(fl_count);
    if (bytes < ctrl + MIN_RANGE + HDR) {
        errno = EINVAL;
        return NULL;
    }
    wd_heap_t *h = (wd_heap_t *)start;
    memset(h, 0, ctrl);
    h->magic = HEAP_MAGIC ^ (uint64_t)start;
    h->secret = wdi_os_random();
    h->link_key = wdi_os_random() & ~(uint64_t)15;
    h->first = (uint8_t *)start + ctrl;
    h->end = (uint8_t *)start + bytes - HDR;
    h->heap_size = given;
    h->fl_count = fl_count;
    h->vg = VG_RUNNING();
    VG_CLOSE(h, h->first, bytes - ctrl);
    size_t span = (size_t)(h->end - h->first);
    range_write(h, range_at(h->end), ALLOC_BIT, span);
    range_write(h, range_at(h->first), span, 0);
    list_insert(h, range_at(h->first), span);
    return h;
}

void *wd_heap_malloc(wd_heap_t *h, size_t size) {
    return wdi_heap_malloc(h, size, "wd_heap_malloc");
}

void *wd_heap_calloc(wd_heap_t *h, size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    void *p = wdi_heap_malloc(h, total, "wd_heap_calloc");
    if (p) /* a reused range is dirty: always clear */
        memset(p, 0, total);
    return p;
}

void *wd_heap_realloc(wd_heap_t *h, void *p, size_t size) {
    return wdi_heap_realloc(h, p, size, "wd_heap_realloc");
}

void *wd_heap_memalign(wd_heap_t *h, size_t alignment, size_t size) {
    return wdi_heap_memalign(h, alignment, size, "wd_heap_memalign");
}

void wd_heap_free(wd_heap_t *h, void *p) {
    int saved = errno; /* free leaves errno as it found it */
    wdi_heap_free(h, p, "wd_heap_free");
    errno = saved;
}

size_t wd_heap_usable_size(wd_heap_t *h, const void *p) {
    return wdi_heap_usable_size(h, p, "wd_heap_usable_size");
}

/* ---------------------------------------------------------------------------
 * Inspection: walk, check, stats, dump
 * ------------------------------------------------------------------------- */

int wd_heap_walk(wd_heap_t *h, int (*visit)(void *start, size_t size, int allocated, void *arg),
                 void *arg) {
    for (uint8_t *at = h->first; at < h->end;) {
        size_t prev_size;
        uint64_t info = range_load(h, range_at(at), &prev_size, "wd_heap_walk");
        int rc = visit(at + HDR, info_size(info) - HDR, info_allocated(info), arg);
        if (rc != 0)
            return rc;
        at += info_size(info);
    }
    return 0;
}

/* An order-independent fingerprint of a set of addresses: the sum of a
 * mixed value per address.  The walk and the lists must give the same. */
static uint64_t fingerprint(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

/* Ranges in address order: tiling, checksums, boundary tags, merging. */
static int check_ranges(wd_heap_t *h, size_t *nfree, uint64_t *free_fp) {
    size_t last = 0, used = 0, nalloc = 0;
    int last_free = 0;
    uint8_t *at = h->first;
    while (at < h->end) {
        uint64_t info;
        size_t prev_size;
        if (range_read(h, range_at(at), &info, &prev_size) != 0 || prev_size != last)
            return -1;
        size_t size = info_size(info);
        if (size < MIN_RANGE || size % 16 != 0 || size > (size_t)(h->end - at))
            return -1;
        if (info_allocated(info)) {
            used += size;
            nalloc++;
        } else {
            if (last_free)
                return -1; /* two free neighbours: a merge was missed */
            ++*nfree;
            *free_fp += fingerprint(at);
        }
        last_free = !info_allocated(info);
        last = size;
        at += size;
    }
    uint64_t end_info;
    size_t end_prev;
    if (at != h->end || range_read(h, range_at(h->end), &end_info, &end_prev) != 0 ||
        end_info != ALLOC_BIT || end_prev != last)
        return -1;
    return used == h->used && nalloc == h->nalloc ? 0 : -1;
}

/* Checks one list's links without aborting; adds what it holds. */
static int check_list(wd_heap_t *h, unsigned fl, unsigned sl, size_t *count, uint64_t *fp) {
    uint32_t off = *list_head(h, fl, sl);
    range_t *prev = NULL;
    while (off != 0) {
        range_t *r = range_from_off(h, off);
        uint64_t info;
        size_t prev_size;
        unsigned rfl, rsl;
        if ((uint8_t *)r < h->first || (uint8_t *)r >= h->end || ++*count > h->nfree ||
            range_read(h, r, &info, &prev_size) != 0 || info_allocated(info))
            return -1;
        class_of(info_size(info), &rfl, &rsl);
        links_t *l = links_of(r);
        VG_OPEN(h, l, sizeof *l);
        uintptr_t next = (uintptr_t)(l->next ^ h->link_key ^ ((uint64_t)(uintptr_t)&l->next >> 4));
        uintptr_t back = (uintptr_t)(l->prev ^ h->link_key ^ ((uint64_t)(uintptr_t)&l->prev >> 4));
        VG_CLOSE(h, l, sizeof *l);
        if (rfl != fl || rsl != sl || back != (uintptr_t)prev || (next & 15) != 0)
            return -1;
        *fp += fingerprint(r);
        prev = r;
        off = next ? off_of(h, (range_t *)next) : 0;
    }
    return 0;
}

/* Lists and bitmaps agree with each other and with the ranges. */
static int check_lists(wd_heap_t *h, size_t nfree, uint64_t free_fp) {
    size_t count = 0;
    uint64_t fp = 0;
    for (unsigned fl = 0; fl < h->fl_count; fl++) {
        int fl_bit = (h->fl_bitmap >> fl) & 1;
        if (fl_bit != (sl_bitmap(h)[fl] != 0) || (sl_bitmap(h)[fl] >> SL_COUNT) != 0)
            return -1;
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            int sl_bit = (sl_bitmap(h)[fl] >> sl) & 1;
            if (sl_bit != (*list_head(h, fl, sl) != 0) || check_list(h, fl, sl, &count, &fp) != 0)
                return -1;
        }
    }
    if ((h->fl_bitmap >> h->fl_count) != 0)
        return -1;
    return count == nfree && count == h->nfree && fp == free_fp ? 0 : -1;
}

int wd_heap_check(wd_heap_t *h) {
    if (h == NULL || h->magic != (HEAP_MAGIC ^ (uint64_t)(uintptr_t)h))
        return -1;
    size_t nfree = 0;
    uint64_t free_fp = 0;
    if (check_ranges(h, &nfree, &free_fp) != 0)
        return -1;
    return check_lists(h, nfree, free_fp);
}

/* The largest free range: the biggest listed in the highest non-empty class. */
static size_t largest_range(wd_heap_t *h) {
    if (h->fl_bitmap == 0)
        return 0;
    unsigned fl = 63u - (unsigned)__builtin_clzll(h->fl_bitmap);
    unsigned sl = 31u - (unsigned)__builtin_clz(sl_bitmap(h)[fl]);
    size_t best = 0;
    for (range_t *r = range_from_off(h, *list_head(h, fl, sl)); r; r = link_next(h, r, "wd_heap_stats")) {
        size_t prev_size, size = listed_size(h, r, &prev_size, "wd_heap_stats");
        best = size > best ? size : best;
    }
    return best;
}

/* The usable bytes of the allocated blocks (their ranges less headers). */
size_t wdi_heap_used_bytes(const wd_heap_t *h) {
    return h->used - (size_t)h->nalloc * HDR;
}

void wd_heap_stats(wd_heap_t *h, wd_heap_stats_t *out) {
    size_t span = (size_t)(h->end - h->first);
    size_t largest = largest_range(h);
    out->heap_size = h->heap_size;
    out->used_bytes = h->used;
    out->free_bytes = span - h->used;
    out->largest_free = largest ? largest - HDR : 0;
    out->allocated_blocks = h->nalloc;
    out->free_blocks = h->nfree;
    out->peak_used_bytes = h->peak;
    out->overhead_bytes = h->heap_size - span;
}

void wd_heap_dump(wd_heap_t *h, FILE *out) {
    for (uint8_t *at = h->first; at < h->end;) {
        uint64_t info;
        size_t prev_size;
        if (range_read(h, range_at(at), &info, &prev_size) != 0) {
            fprintf(out, "[%p -> ?) : corrupted header, walk stopped\n", (void *)at);
            return;
        }
        size_t size = info_size(info);
        fprintf(out, "[%p -> %p) : 0x%016llx (%s, size = %zu bytes)\n", (void *)at,
                (void *)(at + size), (unsigned long long)info,
                info_allocated(info) ? "allocated" : "free", size);
        if (size < MIN_RANGE)
            return;
        at += size;
    }
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    /* Fragmentation: the share of free bytes that the largest request cannot use. */
    unsigned frag = st.free_bytes ? (unsigned)(100 - (st.largest_free + HDR) * 100 / st.free_bytes) : 0;
    fprintf(out,
            "summary: used %zu bytes (allocated blocks: %zu), free %zu bytes (free ranges: %zu), "
            "largest free %zu, fragmentation %u%%\n",
            st.used_bytes, st.allocated_blocks, st.free_bytes, st.free_blocks, st.largest_free,
            frag);
}
