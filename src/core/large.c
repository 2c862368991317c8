/* large.c -- owns large blocks: one mapping each, a header at its start,
 * a cache of freed mappings whose pages go back to the OS after a delay
 * while their address space stays a while longer for reuse.
 * Calls: os.h, segment.h (registration), options.h, stats.h. */
#include "core/large.h"

#include <errno.h>
#include <string.h>

#include "base/counters.h"
#include "base/internal.h"
#include "base/lock.h"
#include "base/options.h"
#include "os/os.h"

/* Freed mappings kept for reuse.  Two bounds: the bytes of theirs that
 * may be resident (more keeps more memory, fewer costs page faults when a
 * program cycles through big buffers it writes), and their address space,
 * larger: a mapping over the first bound gives its pages back (one
 * madvise) but stays, so a program that cycles through big buffers it
 * barely writes finds a fit without a system call.  Unmapping every
 * mapping the first bound did not hold made such a loop (20 buffers of
 * 5..25 MiB, never written) cost a mapping and several page-table moves
 * (cache_gather) for a quarter of its requests. */
#ifndef WD_LARGE_CACHE_MIB
#define WD_LARGE_CACHE_MIB 256
#endif
#define CACHE_MAX_BYTES ((size_t)WD_LARGE_CACHE_MIB << 20)
#define CACHE_MAX_SPACE ((size_t)1 << 30)
#define CACHE_MAX_BLOCKS 64
#ifndef CACHE_MAX_SCATTERED
#define CACHE_MAX_SCATTERED 8
#endif
/* A cached mapping whose pages went back waits this many times the
 * decommit delay before its address space goes back too. */
#define COLD_DELAYS 16

static wd_lock_t cache_lock = WD_LOCK_INIT;
static wd_large_t *cache;   /* most recently freed first */
static size_t cache_blocks, cache_bytes, cache_resident; /* the sum of their resident */
static uint64_t secret;

/* The key of the check words, chosen by the first large allocation.  Set
 * with a compare-and-swap: two threads starting at once must agree on it,
 * or one's headers would fail the other's checks. */
static uint64_t large_secret(void) {
    uint64_t s = __atomic_load_n(&secret, __ATOMIC_ACQUIRE);
    if (wd_unlikely(s == 0)) {
        uint64_t expected = 0;
        __atomic_compare_exchange_n(&secret, &expected, wdi_os_random() | 1, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        s = __atomic_load_n(&secret, __ATOMIC_ACQUIRE);
    }
    return s;
}

/* The header's check word: a forged or overwritten header, or a pointer
 * to a cached (freed) block, does not match.  The address goes through a
 * multiply with the secret first, as in the classic heap's checksums, so a
 * header copied elsewhere cannot be fixed up without the secret. */
static uint64_t check_of(uintptr_t at, const wd_large_t *l) {
    uint64_t x = ((uint64_t)at ^ large_secret()) * 0x9E3779B97F4A7C15ULL;
    x ^= l->usable ^ ((uint64_t)l->offset << 20) ^ l->map_size ^ l->cached;
    x *= 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 31);
}

static uint64_t header_check(const wd_large_t *l) { return check_of((uintptr_t)l, l); }

static void *payload_of(wd_large_t *l) { return (uint8_t *)l + l->offset; }

/* --- which pages may be resident ------------------------------------------
 * For every 4 MiB slot of the address space, how much of it, from its
 * start, blocks handed out may have written, in 64 KiB units: the rest has
 * never been handed out since it was mapped or given back, so it is not
 * resident and reads as zeros.  Blocks start at slot boundaries (a mapping
 * starts 4 MiB-aligned and is cut at 4 MiB boundaries), so within a slot
 * what was written is a prefix.  And how much of that is resident: the
 * same until mincore was asked (a program may write a block sparsely or
 * not at all), then what it said, until the slot is written again.  The
 * written marks stay when mincore finds less: a page the kernel swapped
 * out is not resident but still holds data.  With them the cache knows,
 * without a system call, which place would give a block resident pages
 * (fewer page faults), how many bytes it holds against its bound, which
 * bytes calloc must clear and what a decommit must give back.  A static
 * array: only its entries for slots warden used become memory (one page
 * per 8 GiB).  A slot's entry changes only while its mapping is nobody
 * else's: a live block's, or a cached one's under cache_lock. */
#define UNIT_SHIFT 16
#define UNIT_BYTES ((size_t)1 << UNIT_SHIFT)
#define SLOT_UNITS (WD_SEGMENT_SIZE >> UNIT_SHIFT)
#define CHECKED 0x80 /* in resident: mincore said so, since the last write */
typedef struct {
    uint8_t written;  /* units */
    uint8_t resident; /* units, | CHECKED once mincore was asked */
} slot_t;
static slot_t slots[WD_SEGMAP_ENTRIES];

void wdi_large_table(uintptr_t *start, uintptr_t *end) {
    *start = (uintptr_t)slots;
    *end = (uintptr_t)(slots + WD_SEGMAP_ENTRIES);
}

static slot_t *slot_of(uintptr_t slot_start) {
    return &slots[(slot_start >> WD_SEGMENT_SHIFT) & (WD_SEGMAP_ENTRIES - 1)];
}

static size_t units_bytes(size_t units) { return units << UNIT_SHIFT; }

static size_t bytes_units(size_t bytes) {
    return (bytes + UNIT_BYTES - 1) >> UNIT_SHIFT;
}

static size_t slot_written(uintptr_t slot_start) {
    return units_bytes(slot_of(slot_start)->written);
}

/* The slot's bytes that may be resident. */
static size_t slot_resident(uintptr_t slot_start) {
    const slot_t *t = slot_of(slot_start);
    return units_bytes(t->resident & CHECKED ? t->resident & ~CHECKED : t->written);
}

/* [from, to) may have been written (with the start of from's slot). */
static void written_mark(uintptr_t from, uintptr_t to) {
    for (uintptr_t s = from & ~(uintptr_t)(WD_SEGMENT_SIZE - 1); s < to; s += WD_SEGMENT_SIZE) {
        size_t units = to - s >= WD_SEGMENT_SIZE ? SLOT_UNITS : bytes_units(to - s);
        slot_t *t = slot_of(s);
        if (t->written < units)
            t->written = (uint8_t)units;
        t->resident = 0; /* not checked since */
    }
}

/* Nothing of the slots in [from, from + size) was written (from a slot's
 * start; a last slot cut short keeps only what lies before from + size),
 * but for the first unit of the first when header is set. */
static void written_clear(uintptr_t from, size_t size, int header) {
    for (uintptr_t s = from; s < from + size; s += WD_SEGMENT_SIZE) {
        slot_t *t = slot_of(s);
        t->written = s == from && header ? 1 : 0;
        t->resident = CHECKED | t->written;
    }
}

/* Clears the bytes of [p, p + size) that may have been written (calloc's
 * block: the rest reads as zeros already). */
static void written_zero(uint8_t *p, size_t size) {
    uintptr_t from = (uintptr_t)p, to = from + size;
    for (uintptr_t s = from & ~(uintptr_t)(WD_SEGMENT_SIZE - 1); s < to; s += WD_SEGMENT_SIZE) {
        uintptr_t lo = s > from ? s : from;
        uintptr_t hi = s + slot_written(s);
        if (hi > to)
            hi = to;
        if (hi > lo)
            memset((void *)lo, 0, hi - lo);
    }
}

/* Asks the kernel how much of what blocks wrote in mapping l is resident,
 * for each slot not asked since it was last written: one mincore per such
 * slot.  l is in no list. */
static void resident_check(wd_large_t *l) {
    uintptr_t start = (uintptr_t)l, end = start + l->map_size;
    for (uintptr_t s = start; s < end; s += WD_SEGMENT_SIZE) {
        slot_t *t = slot_of(s);
        if (t->resident & CHECKED)
            continue;
        uintptr_t hi = s + slot_written(s);
        size_t bytes = hi > s ? wdi_os_resident((void *)s, (hi < end ? hi : end) - s) : 0;
        t->resident = (uint8_t)(CHECKED | bytes_units(bytes));
    }
}

/* The bytes of mapping l that may be resident into l->resident, and into
 * l->exact whether mincore was asked about every slot of it since it was
 * last written. */
static void resident_count(wd_large_t *l) {
    uintptr_t start = (uintptr_t)l, end = start + l->map_size;
    size_t sum = 0;
    uint32_t exact = 1;
    for (uintptr_t s = start; s < end; s += WD_SEGMENT_SIZE) {
        size_t r = slot_resident(s);
        sum += r < end - s ? r : end - s;
        exact &= (slot_of(s)->resident & CHECKED) != 0;
    }
    l->resident = sum;
    l->exact = exact;
}

/* The cache's list and counts change here only (cache_lock held).  A
 * cached mapping's resident bytes are counted when it comes in; they do
 * not change while it is there. */
static void cache_link(wd_large_t *l) {
    resident_count(l);
    l->next = cache;
    cache = l;
    cache_blocks++;
    cache_bytes += l->map_size;
    cache_resident += l->resident;
}

/* Whether cached mapping l holds resident bytes beyond its header's unit. */
static int mapping_warm(const wd_large_t *l) { return l->resident > UNIT_BYTES; }

static wd_large_t *cache_unlink(wd_large_t **at) {
    wd_large_t *l = *at;
    *at = l->next;
    cache_blocks--;
    cache_bytes -= l->map_size;
    cache_resident -= l->resident;
    return l;
}

/* Written pages of mapping l go back to the OS, from its end down, slot
 * by slot, until at least want bytes went back (SIZE_MAX: all but its
 * header); its address space stays.  l is in no list: nobody else sees
 * it.  The bytes given back read as zeros after.  Returns the resident
 * bytes that went back (0: madvise refused them all). */
static size_t mapping_decommit(wd_large_t *l, size_t want) {
    size_t page = wdi_os_page_size(), gone = 0;
    uintptr_t start = (uintptr_t)l;
    uintptr_t s = start + ((l->map_size - 1) & ~(WD_SEGMENT_SIZE - 1));
    for (;; s -= WD_SEGMENT_SIZE) {
        uintptr_t lo = s == start ? s + page : s; /* the header stays */
        uintptr_t hi = s + slot_written(s);
        if (hi > start + l->map_size)
            hi = start + l->map_size;
        size_t released;
        if (hi > lo && wdi_os_decommit((void *)lo, hi - lo, &released) == 0) {
            wdi_stat_add(WD_STAT_RETURNED, released);
            gone += slot_resident(s);
            written_clear(s, WD_SEGMENT_SIZE, s == start);
        }
        if (s == start || gone >= want)
            return gone;
    }
}

/* Where in cached mapping c (a multiple of 4 MiB from its start; only the
 * start when only_start) a block of need bytes (need <= c->map_size)
 * covers the most resident bytes: no page fault for them, and taken they
 * do not pile up in the cache, where the bytes past its bound cost a
 * madvise.  Returns those bytes, the place in *window. */
static size_t best_window(const wd_large_t *c, size_t need, int only_start, size_t *window) {
    uintptr_t base = (uintptr_t)c;
    size_t full = need >> WD_SEGMENT_SHIFT, part = need & (WD_SEGMENT_SIZE - 1);
    size_t sum = 0; /* resident bytes of the window's whole slots */
    for (size_t i = 0; i < full; i++)
        sum += slot_resident(base + (i << WD_SEGMENT_SHIFT));
    size_t best = 0;
    *window = 0;
    for (size_t w = 0; w + need <= c->map_size; w += WD_SEGMENT_SIZE) {
        if (w != 0 && full != 0) { /* slide by a slot */
            sum -= slot_resident(base + w - WD_SEGMENT_SIZE);
            sum += slot_resident(base + w + ((full - 1) << WD_SEGMENT_SHIFT));
        }
        size_t tail = part != 0 ? slot_resident(base + w + (full << WD_SEGMENT_SHIFT)) : 0;
        size_t covers = sum + (tail < part ? tail : part);
        if (w == 0 || covers > best) {
            best = covers;
            *window = w;
        }
        /* No window covers more than the mapping holds (c->resident,
         * counted when it came in): a mapping with nothing resident but
         * its header needs no slide over its slots. */
        if (only_start || best == need || best >= c->resident)
            break;
    }
    return best;
}

/* A candidate of cache_take: the mapping at *at, where the block would lie
 * in it, and how many of its bytes are resident there. */
typedef struct {
    wd_large_t **at;
    size_t covers, window;
} fit_t;

/* f becomes the candidate at/window when that one covers more resident
 * bytes, or as many in a smaller mapping (best fit). */
static int fit_loses(const fit_t *f, const wd_large_t *c, size_t covers) {
    return f->at != NULL &&
           (covers < f->covers || (covers == f->covers && c->map_size >= (*f->at)->map_size));
}

static void fit_consider(fit_t *f, wd_large_t **at, size_t covers, size_t window) {
    if (fit_loses(f, *at, covers))
        return;
    f->at = at;
    f->covers = covers;
    f->window = window;
}

/* A cached mapping for a block of need bytes, for a payload offset bytes
 * from its start, and in *window where in it the block goes: the place
 * that covers the most resident bytes (best_window), in the smallest
 * mapping among equals.  A block aligned above a page takes first a
 * mapping whose last block began at the same offset, at its start: its
 * header page and the payload's first pages are the ones already
 * resident, so it faults in no more than its end and leaves no resident
 * page of an earlier block where its alignment's padding lies (see
 * cache_evict_scattered).  Next, and first for other blocks, a mapping
 * that no aligned block used; then any. */
static wd_large_t *cache_take(size_t need, size_t offset, size_t *window) {
    fit_t same = {0}, clean = {0}, any = {0};
    wdi_lock(&cache_lock);
    for (wd_large_t **at = &cache; *at; at = &(*at)->next) {
        wd_large_t *c = *at;
        if (c->map_size < need)
            continue;
        /* Besides any: the clean ones, or those whose last block began
         * at the same offset. */
        fit_t *kind = !c->scattered ? &clean : c->offset == offset ? &same : NULL;
        /* The most it can cover (all it holds) loses already: no need to
         * look for its best window (a cache of mappings with nothing
         * resident, as bench/suite/large_bare's, compares sizes only). */
        size_t most = c->resident < need ? c->resident : need;
        if (fit_loses(&any, c, most) && (kind == NULL || fit_loses(kind, c, most)))
            continue;
        size_t w, covers = best_window(c, need, c->scattered, &w);
        fit_consider(&any, at, covers, w);
        if (kind != NULL)
            fit_consider(kind, at, covers, w);
    }
    fit_t *best = same.at ? &same : clean.at ? &clean : &any;
    wd_large_t *found = best->at ? cache_unlink(best->at) : NULL;
    *window = best->window;
    wdi_unlock(&cache_lock);
    return found;
}

static void cache_put(wd_large_t *l);
static void unmap_block(wd_large_t *l);

/* Cuts mapping l at the 4 MiB boundary at bytes from its start: the part
 * above becomes a mapping of its own, with a header and the segment map's
 * slots, and is returned (in no list; freed when l was). */
static wd_large_t *mapping_cut(wd_large_t *l, size_t at) {
    wd_large_t *upper = (wd_large_t *)((uint8_t *)l + at);
    upper->region.kind = WD_KIND_LARGE;
    upper->map_size = l->map_size - at;
    upper->offset = wdi_os_page_size();
    upper->usable = upper->map_size - upper->offset;
    upper->guard = 0; /* harden=2: the caller moved l's guard below at */
    upper->scattered = l->scattered;
    upper->freed_ms = l->freed_ms;
    written_mark((uintptr_t)upper, (uintptr_t)upper + sizeof *upper);
    l->map_size = at;
    l->usable = at - l->offset;
    wdi_segmap_set(upper, upper->map_size, &upper->region);
    return upper;
}

/* A reused mapping keeps what the request needs (its pages are already
 * faulted in) and the rest, from the next 4 MiB boundary on, goes back to
 * the cache as a mapping of its own: a big freed block can serve a small
 * request and a big one after it. */
static void mapping_split(wd_large_t *l, size_t need) {
    size_t keep = wd_align_up(need, WD_SEGMENT_SIZE);
    if (keep >= l->map_size)
        return;
    wd_large_t *rest = mapping_cut(l, keep);
    rest->freed_ms = wdi_os_now_ms();
    cache_put(rest);
}

/* The unit in which cache_gather moves pages: the kernel moves an aligned
 * 2 MiB run of pages as one page-table entry, and a run that is not
 * aligned page by page (about 120 us a call for a few MiB in
 * bench/suite/large_reuse, against a few us). */
#define MOVE_UNIT ((size_t)2 << 20)

/* Address space mapped past a new block (not touched, so not resident),
 * cached at once for the next blocks: blocks carved from one mapping merge
 * again when freed, so big requests keep finding a fit in the cache. */
#define RESERVE_EXTRA ((size_t)64 << 20)

/* A new mapping of at least need bytes.  Its size is rounded up to
 * MOVE_UNIT (address space only: the tail is never touched), so that its
 * pages can later be moved in whole units.  For a block not aligned above
 * a page the mapping is RESERVE_EXTRA larger and that part goes to the
 * cache (an aligned block's mapping becomes scattered, and the cache keeps
 * few of those: with the extra, bench/suite/aligned peaked at 41.8 MiB
 * instead of 28.9). */
static wd_large_t *map_new(size_t need, size_t alignment) {
    size_t align = alignment > WD_SEGMENT_SIZE ? alignment : WD_SEGMENT_SIZE;
    need = wd_align_up(need, MOVE_UNIT);
    size_t size = alignment <= wdi_os_page_size() ? wd_align_up(need, WD_SEGMENT_SIZE) + RESERVE_EXTRA
                                                   : need;
    void *base;
    int err = wdi_os_map_aligned(size, align, &base);
    if (err != 0) {
        wdi_os_failed("map", size, err);
        return NULL;
    }
    wdi_stat_add(WD_STAT_MAPPED, size);
    wdi_stat_add(WD_STAT_COMMITTED, size);
    wdi_segmap_acquire(base, size);
    wd_large_t *l = base;
    l->map_size = size;
    l->scattered = 0;
    l->guard = 0;
    written_clear((uintptr_t)base, size, 1);
    wdi_segmap_set(base, size, &l->region);
    mapping_split(l, need);
    return l;
}

/* At most this many cached mappings lend their pages to one new block:
 * each moved piece is a mapping of its own in the kernel (a VMA), and a
 * process has only so many. */
#define GATHER_MAX_PIECES 4
/* A cached mapping cut down to less than this is unmapped, not kept. */
#define GATHER_MIN_LEFT ((size_t)64 << 10)

/* Takes from the cache, most resident bytes first, the mappings whose
 * resident pages will fill need bytes: at most GATHER_MAX_PIECES, and
 * only mappings with a MOVE_UNIT of them at least (moving pages nobody
 * wrote costs a system call and saves nothing).  Returns how many went
 * into pieces[]. */
static unsigned cache_take_largest(wd_large_t **pieces, size_t need) {
    unsigned n = 0;
    size_t got = 0;
    wdi_lock(&cache_lock);
    while (n < GATHER_MAX_PIECES && got < need) {
        wd_large_t **largest = NULL;
        for (wd_large_t **at = &cache; *at; at = &(*at)->next)
            if ((*at)->resident >= MOVE_UNIT &&
                (largest == NULL || (*at)->resident > (*largest)->resident))
                largest = at;
        if (largest == NULL)
            break;
        wd_large_t *l = cache_unlink(largest);
        got += l->resident;
        pieces[n++] = l;
    }
    wdi_unlock(&cache_lock);
    return n;
}

/* Cuts cached mapping c (in no list) down to the slots that hold its
 * resident bytes, so that a move takes them and no address space around
 * them; what lies below and above goes back to the cache.  Returns the
 * part kept. */
static wd_large_t *piece_trim(wd_large_t *c) {
    uintptr_t start = (uintptr_t)c, end = start + c->map_size, first = 0, last = 0;
    for (uintptr_t s = start; s < end; s += WD_SEGMENT_SIZE)
        if (slot_resident(s) > (s == start ? UNIT_BYTES : 0)) { /* past a header */
            first = first != 0 ? first : s;
            last = s;
        }
    if (first == 0)
        return c;
    size_t hi = last - start + WD_SEGMENT_SIZE, lo = first - start;
    if (hi < c->map_size)
        cache_put(mapping_cut(c, hi));
    if (lo > 0) {
        wd_large_t *kept = mapping_cut(c, lo);
        cache_put(c);
        c = kept;
    }
    return c;
}

/* Moves the last part bytes of cached mapping c onto dest (its page tables,
 * not its bytes: no page is faulted in or copied).  The part goes back to
 * the kernel's hands for an instant, so its segment-map entries are cleared
 * first (only the slots that lie wholly in it: the slot where c now ends
 * still names c).  What was written moves with it.  0 on success; on
 * failure nothing has changed. */
static int piece_move(wd_large_t *c, size_t part, uint8_t *dest) {
    uint8_t *from = (uint8_t *)c + c->map_size - part;
    uint8_t *slots = part == c->map_size ? (uint8_t *)c
                                         : (uint8_t *)wd_align_up((uintptr_t)from, WD_SEGMENT_SIZE);
    uint8_t *end = (uint8_t *)c + c->map_size;
    for (uintptr_t s = (uintptr_t)from & ~(uintptr_t)(WD_SEGMENT_SIZE - 1); s < (uintptr_t)end;
         s += WD_SEGMENT_SIZE) {
        uintptr_t lo = s > (uintptr_t)from ? s : (uintptr_t)from;
        uintptr_t hi = s + slot_written(s);
        if (hi > lo)
            written_mark((uintptr_t)dest + (lo - (uintptr_t)from), (uintptr_t)dest + (hi - (uintptr_t)from));
    }
    if (slots < end) { /* while the range is ours, as the segment map's entries */
        written_clear((uintptr_t)slots, (size_t)(end - slots), 0);
        wdi_segmap_clear(slots, (size_t)(end - slots));
        wdi_segmap_release(slots, (size_t)(end - slots));
    }
    void *at;
    if (wdi_os_remap(from, part, part, dest, &at) != 0) {
        if (slots < end) {
            wdi_segmap_set(slots, (size_t)(end - slots), &c->region);
            written_mark((uintptr_t)slots, (uintptr_t)end); /* all of it, to be safe */
        }
        return -1;
    }
    wdi_stat_sub(WD_STAT_MAPPED, part);
    wdi_stat_sub(WD_STAT_COMMITTED, part);
    return 0;
}

/* A fresh mapping l of need bytes takes the resident pages of cached
 * mappings in place of its own untouched ones: a program that frees a big
 * buffer and asks for a bigger one (no cached mapping fits) faults in only
 * the difference, not every page again. */
static void cache_gather(wd_large_t *l, size_t need) {
    wd_large_t *pieces[GATHER_MAX_PIECES];
    unsigned n = cache_take_largest(pieces, need);
    size_t moved = 0;
    unsigned i = 0;
    uint32_t scattered = 0;
    for (; i < n && moved < need; i++) {
        wd_large_t *c = pieces[i];
        uint32_t c_scattered = c->scattered;
        if (c->guard != 0) { /* harden=2: no inaccessible page moves into a block */
            wdi_os_unguard((uint8_t *)c + c->guard, wdi_os_page_size());
            c->guard = 0;
        }
        c = pieces[i] = piece_trim(c);
        size_t part = c->map_size < need - moved ? c->map_size : need - moved;
        int whole = part == c->map_size; /* then c's header moves too */
        if (piece_move(c, part, (uint8_t *)l + moved) != 0)
            break;
        moved += part;
        scattered |= c_scattered;
        if (whole) {
            pieces[i] = NULL;
            continue;
        }
        c->map_size -= part; /* the head stays, header and all */
        c->usable = c->map_size - c->offset;
        c->check = header_check(c);
    }
    for (i = 0; i < n; i++) /* the unused and the cut ones go back */
        if (pieces[i] != NULL) {
            if (pieces[i]->map_size < GATHER_MIN_LEFT)
                unmap_block(pieces[i]);
            else
                cache_put(pieces[i]);
        }
    l->scattered = scattered; /* after the moves: a whole piece brings its header page */
}

/* harden=2: a cached mapping for a block of need bytes from its start
 * (offset of them in front: a power of two, at least a page), of which
 * the program may write touch bytes.  Best is the one whose guard page,
 * left in place by its last block, lies at need bytes or more and at most
 * a slack past it: the block is moved up to end right at that guard, no
 * system call.  Else the smallest mapping of need bytes
 * and a page, its guard (if any) taken away: *moved is set and the caller
 * places a new one at the mapping's start, on the pages its last blocks
 * used.
 *
 * The slack is need / 2^GUARD_SLACK_SHIFT for a block the program may
 * write whole.  It was need for every block: a block then lay at the top
 * of a mapping whose resident pages were at the bottom, where its last
 * block began, so a program that writes its blocks faulted in fresh pages
 * while the old ones stayed resident and unused.  With the narrow window,
 * harden=2's page faults in bench/suite/large_reuse 4000 went from 177 K
 * to 59 K (48 K at the default level) and its peak RSS from 458 to 135
 * MiB (109), in malloc_large 3000 from 176 K to 96 K (62 K).
 *
 * A block the program may write at most half of (touch <= need / 2: one
 * aligned above a page, whose request is at most about twice its
 * alignment, the rest being the alignment in front of it) keeps the slack
 * of need: where it lies changes the pages it can fault in by its few
 * written ones, while moving the guard costs two mprotect calls.  In
 * bench/suite/aligned 800000 (blocks of two or three written pages) the
 * narrow window for all blocks took 45.7 K mprotect calls, this one 24.7 K
 * (24 K with the slack of need for all), minor faults 12.6 K and 13.1 K,
 * peak RSS 40 and 41 MiB; large_reuse and malloc_large, whose blocks the
 * program may write whole, do not change. */
#ifndef GUARD_SLACK_SHIFT
#define GUARD_SLACK_SHIFT 8
#endif
static wd_large_t *guarded_take(size_t need, size_t offset, size_t touch, int *moved) {
    wd_large_t **fit = NULL, **any = NULL;
    size_t slack = touch <= need / 2 ? need : need >> GUARD_SLACK_SHIFT;
    wdi_lock(&cache_lock);
    for (wd_large_t **at = &cache; *at; at = &(*at)->next) {
        wd_large_t *c = *at;
        /* Mappings start 4 MiB-aligned; a larger alignment needs a base
         * aligned to it (the payload lies at a multiple of offset). */
        if (((uintptr_t)c & (offset - 1)) != 0)
            continue;
        if (c->guard >= need && c->guard - need <= slack &&
            (fit == NULL || c->guard < (*fit)->guard))
            fit = at;
        if (c->map_size >= need + wdi_os_page_size() &&
            (any == NULL || c->map_size < (*any)->map_size))
            any = at;
    }
    wd_large_t **best = fit != NULL ? fit : any;
    wd_large_t *found = best ? cache_unlink(best) : NULL;
    wdi_unlock(&cache_lock);
    *moved = found != NULL && fit == NULL;
    if (found == NULL)
        return NULL;
    if (fit != NULL) {
        size_t start = (found->guard - (need - offset)) & ~(offset - 1);
        found->offset = start;
        found->usable = found->guard - start;
    } else if (found->guard != 0) {
        wdi_os_unguard((uint8_t *)found + found->guard, wdi_os_page_size());
        found->guard = 0;
    }
    return found;
}

/* harden=2: a block with an inaccessible page right after its last page:
 * an overflow past the end faults.  The guard stays when the block is
 * freed: the mapping is cached with it (merged with a cached neighbour, it
 * keeps the higher one's), and a later block of about its size is placed
 * to end at it (guarded_take), so most blocks cost no system call; one of
 * another size moves the guard (two mprotect calls).  Before 2026-12-06 every block
 * cost four: the guard, a read-only header page, and giving both back. */
static void *guarded_malloc(size_t need, size_t offset, size_t alignment, int zero) {
    size_t page = wdi_os_page_size();
    int moved;
    /* The bytes the program may write: harden.c hands out a block aligned
     * above a page at its alignment from the raw block's start (offset
     * bytes into the payload), and of those front bytes only the last 16,
     * its prefix, are written. */
    size_t touch = need - offset - (offset > page ? offset - 16 : 0);
    wd_large_t *l = guarded_take(need, offset, touch, &moved);
    if (l != NULL && zero)
        memset((uint8_t *)l + (moved ? offset : l->offset), 0,
               moved ? need - offset : l->usable);
    if (l == NULL) { /* a fresh one, with the resident pages of cached ones moved in */
        if ((l = map_new(need + page, alignment)) == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        size_t mapped = l->map_size;
        cache_gather(l, mapped);
        l->map_size = mapped; /* the header page may have been moved in */
        l->guard = 0;
        if (zero)
            written_zero((uint8_t *)l + offset, need - offset);
    }
    if (l->guard == 0) { /* fresh, or moved */
        if (moved)
            mapping_split(l, need + page);
        l->offset = offset;
        l->usable = need - offset;
        l->guard = need;
        wdi_os_guard((uint8_t *)l + need, page);
    }
    l->region.kind = WD_KIND_LARGE;
    l->cached = 0;
    memset(l->note, 0, sizeof l->note);
    l->check = header_check(l);
    wdi_stat_add(WD_STAT_LARGE_ALLOCS, 1);
    wdi_stat_add(WD_STAT_LARGE_LIVE, 1);
    wdi_stat_add(WD_STAT_LARGE_BYTES, l->usable);
    return payload_of(l);
}

void *wdi_large_malloc(size_t size, size_t alignment, int zero) {
    size_t page = wdi_os_page_size();
    size_t offset = alignment > page ? alignment : page;
    if (size > PTRDIFF_MAX - offset - 2 * page) {
        errno = ENOMEM;
        return NULL;
    }
    /* Even an empty block owns a page, or its payload would be the first
     * byte past the mapping. */
    size_t need = wd_align_up(offset + (size ? size : 1), page);
    if (wdi_harden2)
        return guarded_malloc(need, offset, alignment, zero);
    /* Every mapping starts 4 MiB-aligned, so a cached one serves any
     * alignment up to that. */
    size_t window;
    wd_large_t *l = offset <= WD_SEGMENT_SIZE ? cache_take(need, offset, &window) : NULL;
    if (l != NULL) {
        if (window != 0) { /* the part below goes back */
            wd_large_t *below = l;
            l = mapping_cut(below, window);
            cache_put(below);
        }
        mapping_split(l, need);
    } else if ((l = map_new(need, alignment)) != NULL) {
        /* The whole mapping, not just need: both are whole MOVE_UNITs
         * then, as cached mappings are, so every piece moves aligned. */
        size_t mapped = l->map_size;
        cache_gather(l, mapped);
        l->map_size = mapped; /* the header page may have been moved in */
    } else {
        errno = ENOMEM;
        return NULL;
    }
    l->region.kind = WD_KIND_LARGE;
    l->offset = offset;
    l->usable = need - offset;
    l->cached = 0;
    if (offset > page)
        l->scattered = 1;
    memset(l->note, 0, sizeof l->note);
    l->check = header_check(l);
    void *p = payload_of(l);
    if (zero) /* pages never written are zero already */
        written_zero(p, size);
    wdi_stat_add(WD_STAT_LARGE_ALLOCS, 1);
    wdi_stat_add(WD_STAT_LARGE_LIVE, 1);
    wdi_stat_add(WD_STAT_LARGE_BYTES, l->usable);
    return p;
}

void wdi_large_check_header(const wd_large_t *l, const void *p, const char *fn) {
    if (wd_unlikely(l->check != header_check(l)))
        wdi_fatal("corrupted block header", p, fn);
}

/* Checks that p is exactly the payload of the live block l. */
static void large_checked(wd_large_t *l, const void *p, const char *fn) {
    if (wd_unlikely(l->check != header_check(l)))
        wdi_fatal("corrupted block header", p, fn);
    /* A freed block may have been merged into a cached neighbour that
     * starts below it; every payload is page-aligned, so a page-aligned
     * pointer into a cached mapping is a block freed before. */
    if (wd_unlikely(l->cached))
        wdi_fatal(((uintptr_t)p & (wdi_os_page_size() - 1)) == 0 ? wdi_freed_what(fn)
                                                                 : "invalid pointer",
                  p, fn);
    if (wd_unlikely(p != payload_of(l)))
        wdi_fatal("invalid pointer", p, fn);
}

/* The block's bytes may all have been written (before a resize too: a
 * block shrunk in place may have been written past its new end). */
static void mark_block_written(wd_large_t *l) {
    written_mark((uintptr_t)l, (uintptr_t)l + l->offset + l->usable);
}

static void unmap_block(wd_large_t *l) {
    size_t size = l->map_size;
    written_clear((uintptr_t)l, size, 0);
    wdi_segmap_clear(l, size);
    wdi_segmap_release(l, size);
    if (wdi_os_unmap(l, size) == 0) {
        wdi_stat_sub(WD_STAT_MAPPED, size);
        wdi_stat_sub(WD_STAT_COMMITTED, size);
        wdi_stat_add(WD_STAT_RETURNED, size);
    }
}

/* Merges l with cached mappings that touch it (pieces of one mapping that
 * mapping_split cut, or neighbours the kernel placed side by side), so big
 * requests can be served again.  Called with cache_lock held; returns the
 * merged mapping, no longer in the cache. */
static wd_large_t *cache_merge(wd_large_t *l) {
    for (wd_large_t **at = &cache; *at;) {
        wd_large_t *c = *at;
        wd_large_t *low = c < l ? c : l, *high = c < l ? l : c;
        if ((uint8_t *)low + low->map_size != (uint8_t *)high) {
            at = &c->next;
            continue;
        }
        cache_unlink(at);
        if (low->guard != 0) { /* harden=2: one guard a mapping, the high one's */
            wdi_os_unguard((uint8_t *)low + low->guard, wdi_os_page_size());
            low->guard = 0;
        }
        if (high->guard != 0)
            low->guard = low->map_size + high->guard;
        if (high->freed_ms > low->freed_ms)
            low->freed_ms = high->freed_ms;
        low->map_size += high->map_size;
        low->scattered |= high->scattered;
        low->offset = wdi_os_page_size();
        low->usable = low->map_size - low->offset;
        wdi_segmap_set(high, high->map_size, &low->region);
        memset(high, 0, sizeof *high); /* no stale header in the merged mapping */
        l = low;
        at = &cache; /* the bigger mapping may touch another one */
    }
    l->check = header_check(l);
    return l;
}

/* A mapping that blocks aligned above a page used holds resident pages
 * wherever their payloads began and ended (the alignment's padding before
 * each one is untouched, but the next block placed there writes into it),
 * so reusing it never stops faulting pages in while the old ones stay: in
 * bench/suite/aligned the cache's 16 mappings, reused for blocks of every
 * alignment and size, came to hold 38 of the 56 MiB of peak RSS.  At most
 * CACHE_MAX_SCATTERED such mappings wait in the cache; when one more
 * comes, the oldest is taken out (cache_lock held) for the caller to unmap.
 * Programs that never align a large block above a page keep the whole
 * cache. */
static wd_large_t *cache_evict_scattered(void) {
    wd_large_t **oldest = NULL;
    unsigned n = 0;
    for (wd_large_t **at = &cache; *at; at = &(*at)->next)
        if ((*at)->scattered) {
            oldest = at;
            n++;
        }
    if (n < CACHE_MAX_SCATTERED)
        return NULL;
    return cache_unlink(oldest);
}

/* The cache's oldest mapping (the list's last) of those with resident
 * bytes (warm != 0) or without (warm == 0, but for their header's unit),
 * and with warm == 2 of those whose resident bytes are an estimate (not
 * exact); NULL if there is none.  cache_lock held. */
static wd_large_t **cache_oldest(int warm) {
    wd_large_t **found = NULL;
    for (wd_large_t **at = &cache; *at; at = &(*at)->next)
        if (mapping_warm(*at) == (warm != 0) && (warm != 2 || !(*at)->exact))
            found = at;
    return found;
}

/* Puts l on the list *drop of mappings to unmap once cache_lock is let go. */
static void drop_onto(wd_large_t **drop, wd_large_t *l) {
    l->next = *drop;
    *drop = l;
}

/* Links l into the cache (merged with cached neighbours) and takes out
 * what then passes a bound: onto *drop, to unmap, the oldest mappings
 * without resident pages first (their address space is all they hold),
 * then the oldest of all.  Returned when the resident bytes pass their
 * bound (by *over): the oldest mapping whose resident bytes are an
 * estimate, for the caller to ask the kernel (resident_check), or when
 * all are exact the oldest with resident bytes, to give back *over bytes
 * of its pages (the one just freed is the likeliest to be asked for
 * again).  cache_lock held. */
static wd_large_t *cache_link_bounded(wd_large_t *l, wd_large_t **drop, size_t *over) {
    l = cache_merge(l);
    if (l->offset > WD_SEGMENT_SIZE && !wdi_harden2) { /* see cache_take: no use */
        drop_onto(drop, l);
        return NULL;
    }
    if (l->scattered && !wdi_harden2) {
        wd_large_t *evicted = cache_evict_scattered();
        if (evicted != NULL)
            drop_onto(drop, evicted);
    }
    cache_link(l);
    while (cache_blocks > CACHE_MAX_BLOCKS || cache_bytes > CACHE_MAX_SPACE) {
        wd_large_t **at = cache_oldest(0);
        drop_onto(drop, cache_unlink(at != NULL ? at : cache_oldest(1)));
    }
    if (cache_resident <= CACHE_MAX_BYTES)
        return NULL;
    wd_large_t **warm = cache_oldest(2);
    if (warm == NULL)
        warm = cache_oldest(1);
    *over = cache_resident - CACHE_MAX_BYTES;
    return warm != NULL ? cache_unlink(warm) : NULL;
}

/* Keeps freed mapping l (its freed_ms set) for reuse, within the cache's
 * bounds; the system calls (munmap, madvise) with the lock dropped, on
 * mappings in no list meanwhile. */
static void cache_put(wd_large_t *l) {
    l->cached = 1;
    while (l != NULL) {
        wd_large_t *drop = NULL;
        size_t cache_over;
        wdi_lock(&cache_lock);
        l = cache_link_bounded(l, &drop, &cache_over);
        wdi_unlock(&cache_lock);
        while (drop != NULL) {
            wd_large_t *next = drop->next;
            unmap_block(drop);
            drop = next;
        }
        if (l == NULL)
            break;
        if (!l->exact) { /* then it goes back in, and the bound is asked again */
            resident_check(l);
        } else if (mapping_decommit(l, cache_over) == 0) {
            wdi_lock(&cache_lock); /* nothing more can go: back in, and no more asking */
            cache_link(l);
            wdi_unlock(&cache_lock);
            break;
        }
    }
}

void wdi_large_free(wd_large_t *l, void *p, const char *fn) {
    large_checked(l, p, fn);
    wdi_stat_sub(WD_STAT_LARGE_LIVE, 1);
    wdi_stat_sub(WD_STAT_LARGE_BYTES, l->usable);
    mark_block_written(l);
    l->freed_ms = wdi_os_now_ms();
    cache_put(l); /* harden=2: with its guard */
}

size_t wdi_large_usable(wd_large_t *l, const void *p, const char *fn) {
    large_checked(l, p, fn);
    return l->usable;
}

int wdi_large_resize(wd_large_t *l, void *p, size_t size, const char *fn) {
    large_checked(l, p, fn);
    size_t page = wdi_os_page_size();
    if (size > l->map_size - l->offset || size < l->usable / 2)
        return -1; /* too big for the mapping, or so small a copy saves memory */
    size_t usable = wd_align_up(l->offset + size, page) - l->offset;
    wdi_stat_add(WD_STAT_LARGE_BYTES, usable);
    wdi_stat_sub(WD_STAT_LARGE_BYTES, l->usable);
    mark_block_written(l);
    l->usable = usable;
    l->check = header_check(l);
    return 0;
}

/* The mapping l grew from old_map to new_map bytes, maybe at a new
 * address: register it, count it, refresh the header. */
static void *large_rehome(wd_large_t *l, size_t old_map, size_t new_map, size_t size) {
    wdi_segmap_set(l, new_map, &l->region);
    wdi_stat_add(WD_STAT_MAPPED, new_map - old_map);
    wdi_stat_add(WD_STAT_COMMITTED, new_map - old_map);
    size_t usable = wd_align_up(l->offset + size, wdi_os_page_size()) - l->offset;
    wdi_stat_add(WD_STAT_LARGE_BYTES, usable);
    wdi_stat_sub(WD_STAT_LARGE_BYTES, l->usable);
    mark_block_written(l);
    l->map_size = new_map;
    l->usable = usable;
    l->check = header_check(l);
    return payload_of(l);
}

/* Growing a vector or a string buffer to hundreds of MiB by copying faults
 * every page in again; moving the page tables does not. */
void *wdi_large_grow(wd_large_t *l, void *p, size_t size, const char *fn) {
    large_checked(l, p, fn);
    size_t page = wdi_os_page_size();
    if (size > PTRDIFF_MAX - l->offset - page)
        return NULL;
    size_t need = wd_align_up(l->offset + size, page);
    void *at;
    size_t old_map = l->map_size;
    if (wdi_os_remap(l, old_map, need, NULL, &at) == 0) { /* in place */
        wdi_segmap_acquire(l, need); /* the pages after l may have been another's */
        return large_rehome(l, old_map, need, size);
    }
    /* Elsewhere: a fresh reservation aligned like l, then move l onto it. */
    size_t align = l->offset > WD_SEGMENT_SIZE ? l->offset : WD_SEGMENT_SIZE;
    void *dest;
    if (wdi_os_map_aligned(need, align, &dest) != 0)
        return NULL;
    wdi_segmap_acquire(dest, need);
    /* The moving mremap hands the old range back to the kernel, which may
     * give it to another thread's mmap before mremap even returns here; a
     * clear after the move could erase that thread's new entry.  So the
     * entries (and the written marks) go while the range is still ours, as
     * everywhere else: clear before unmap, set after map. */
    written_clear((uintptr_t)dest, need, 0);
    written_clear((uintptr_t)l, old_map, 0); /* what was written moves: large_rehome marks it */
    wdi_segmap_clear(l, old_map);
    wdi_segmap_release(l, old_map);
    if (wdi_os_remap(l, old_map, need, dest, &at) != 0) {
        wdi_segmap_set(l, old_map, &l->region);
        written_mark((uintptr_t)l, (uintptr_t)l + old_map); /* all of it, to be safe */
        wdi_segmap_release(dest, need);
        wdi_os_unmap(dest, need);
        return NULL;
    }
    return large_rehome(at, old_map, need, size);
}

/* A cached mapping freed delay_ms ago gives its pages back; one whose
 * pages went back waits COLD_DELAYS times as long, then is unmapped.  A
 * delay of 0 unmaps every cached mapping (trim). */
void wdi_large_maintain(uint64_t now_ms, uint32_t delay_ms) {
    wd_large_t *expired = NULL;
    wdi_lock(&cache_lock);
    for (wd_large_t **at = &cache; *at;) {
        wd_large_t *l = *at;
        uint64_t wait = mapping_warm(l) ? delay_ms : (uint64_t)delay_ms * COLD_DELAYS;
        if (delay_ms == 0 || now_ms - l->freed_ms >= wait) {
            cache_unlink(at);
            l->next = expired;
            expired = l;
        } else {
            at = &l->next;
        }
    }
    wdi_unlock(&cache_lock);
    while (expired != NULL) { /* with the lock dropped: madvise and munmap are slow */
        wd_large_t *next = expired->next;
        if (delay_ms != 0 && mapping_warm(expired)) {
            mapping_decommit(expired, SIZE_MAX);
            cache_put(expired);
        } else {
            unmap_block(expired);
        }
        expired = next;
    }
}

/* --- looking from outside ------------------------------------------------------ */

/* A copy through wdi_os_read_self: the mapping may be unmapped or moved by
 * another thread while it is read, and then the copy fails or its check
 * word does not match. */
int wdi_large_describe(const wd_region_t *region, wd_large_info_t *out) {
    wd_large_t copy;
    if (wdi_os_read_self(&copy, region, sizeof copy) != sizeof copy)
        return -1;
    if (copy.region.kind != WD_KIND_LARGE || copy.check != check_of((uintptr_t)region, &copy))
        return -1;
    out->start = (uintptr_t)region;
    out->map_size = copy.map_size;
    out->offset = copy.offset;
    out->usable = copy.usable;
    out->cached = copy.cached != 0;
    return 0;
}

void wdi_large_cache_summary(size_t *blocks, size_t *bytes) {
    wdi_lock(&cache_lock);
    *blocks = cache_blocks;
    *bytes = cache_bytes;
    wdi_unlock(&cache_lock);
}

void wdi_large_fork_prepare(void) { wdi_lock(&cache_lock); }
void wdi_large_fork_parent(void) { wdi_unlock(&cache_lock); }
void wdi_large_fork_child(void) { wdi_lock_reset(&cache_lock); }
