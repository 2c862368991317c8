/* large.c -- owns large blocks: one mapping each, a header at its start,
 * a small cache of freed mappings that are unmapped after a delay.
 * Calls: os.h, segment.h (registration), options.h, stats.h. */
#include "core/large.h"

#include <errno.h>
#include <string.h>

#include "base/counters.h"
#include "base/internal.h"
#include "base/lock.h"
#include "base/options.h"
#include "os/os.h"

/* Freed mappings kept for reuse; more keeps more memory committed, fewer
 * costs page faults when a program cycles through big buffers. */
#ifndef WD_LARGE_CACHE_MIB
#define WD_LARGE_CACHE_MIB 128
#endif
#define CACHE_MAX_BLOCKS 16
#ifndef CACHE_MAX_SCATTERED
#define CACHE_MAX_SCATTERED 8
#endif
#define CACHE_MAX_BYTES ((size_t)WD_LARGE_CACHE_MIB << 20)

static wd_lock_t cache_lock = WD_LOCK_INIT;
static wd_large_t *cache;   /* most recently freed first */
static size_t cache_blocks, cache_bytes;
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

/* Whether cached mapping c is a better fit for a block of need bytes than
 * the one at *best (NULL: none yet). */
static int fits_better(const wd_large_t *c, wd_large_t **best, size_t need) {
    return c->map_size >= need && (best == NULL || c->map_size < (*best)->map_size);
}

/* The smallest cached mapping of at least need bytes (best fit), for a
 * payload offset bytes from its start.  A block aligned above a page
 * takes first a mapping whose last block began at the same offset: its
 * header page and the payload's first pages are the ones already
 * resident, so it faults in no more than its end and leaves no resident
 * page of an earlier block where its alignment's padding lies (see
 * cache_evict_scattered).  Next, and first for other blocks, a mapping
 * that no aligned block used; then any. */
static wd_large_t *cache_take(size_t need, size_t offset) {
    wd_large_t **same = NULL, **clean = NULL, **any = NULL;
    wdi_lock(&cache_lock);
    for (wd_large_t **at = &cache; *at; at = &(*at)->next) {
        wd_large_t *c = *at;
        if (fits_better(c, any, need))
            any = at;
        if (!c->scattered && fits_better(c, clean, need))
            clean = at;
        if (c->offset == offset && c->scattered && fits_better(c, same, need))
            same = at;
    }
    wd_large_t **best = same ? same : clean ? clean : any;
    wd_large_t *found = best ? *best : NULL;
    if (found != NULL) {
        *best = found->next;
        cache_blocks--;
        cache_bytes -= found->map_size;
    }
    wdi_unlock(&cache_lock);
    return found;
}

static void cache_put(wd_large_t *l);
static void unmap_block(wd_large_t *l);

/* A reused mapping keeps what the request needs (its pages are already
 * faulted in) and the rest, from the next 4 MiB boundary on, goes back to
 * the cache as a mapping of its own: a big freed block can serve a small
 * request and a big one after it. */
static void mapping_split(wd_large_t *l, size_t need) {
    size_t keep = wd_align_up(need, WD_SEGMENT_SIZE);
    if (keep >= l->map_size)
        return;
    wd_large_t *rest = (wd_large_t *)((uint8_t *)l + keep);
    rest->region.kind = WD_KIND_LARGE;
    rest->map_size = l->map_size - keep;
    rest->offset = wdi_os_page_size();
    rest->usable = rest->map_size - rest->offset;
    rest->guard = 0; /* harden=2: the caller moved l's guard below keep */
    rest->scattered = l->scattered;
    l->map_size = keep;
    wdi_segmap_set(rest, rest->map_size, &rest->region);
    cache_put(rest);
}

/* The unit in which cache_gather moves pages: the kernel moves an aligned
 * 2 MiB run of pages as one page-table entry, and a run that is not
 * aligned page by page (about 120 us a call for a few MiB in
 * bench/suite/large_reuse, against a few us). */
#define MOVE_UNIT ((size_t)2 << 20)

/* A new mapping of at least need bytes.  Its size is rounded up to
 * MOVE_UNIT (address space only: the tail is never touched), so that its
 * pages can later be moved in whole units. */
static wd_large_t *map_new(size_t need, size_t alignment) {
    size_t align = alignment > WD_SEGMENT_SIZE ? alignment : WD_SEGMENT_SIZE;
    need = wd_align_up(need, MOVE_UNIT);
    void *base;
    int err = wdi_os_map_aligned(need, align, &base);
    if (err != 0) {
        wdi_os_failed("map", need, err);
        return NULL;
    }
    wdi_stat_add(WD_STAT_MAPPED, need);
    wdi_stat_add(WD_STAT_COMMITTED, need);
    wdi_segmap_acquire(base, need);
    wd_large_t *l = base;
    l->map_size = need;
    l->scattered = 0;
    wdi_segmap_set(base, need, &l->region);
    return l;
}

/* At most this many cached mappings lend their pages to one new block:
 * each moved piece is a mapping of its own in the kernel (a VMA), and a
 * process has only so many. */
#define GATHER_MAX_PIECES 4
/* A cached mapping cut down to less than this is unmapped, not kept. */
#define GATHER_MIN_LEFT ((size_t)64 << 10)

/* Takes from the cache, largest first, the mappings whose pages will fill
 * need bytes: at most GATHER_MAX_PIECES, the last one maybe only in part.
 * Returns how many went into pieces[]. */
static unsigned cache_take_largest(wd_large_t **pieces, size_t need) {
    unsigned n = 0;
    size_t got = 0;
    wdi_lock(&cache_lock);
    while (n < GATHER_MAX_PIECES && got < need && cache != NULL) {
        wd_large_t **largest = &cache;
        for (wd_large_t **at = &cache->next; *at; at = &(*at)->next)
            if ((*at)->map_size > (*largest)->map_size)
                largest = at;
        wd_large_t *l = *largest;
        *largest = l->next;
        cache_blocks--;
        cache_bytes -= l->map_size;
        got += l->map_size;
        pieces[n++] = l;
    }
    wdi_unlock(&cache_lock);
    return n;
}

/* Moves the last part bytes of cached mapping c onto dest (its page tables,
 * not its bytes: no page is faulted in or copied).  The part goes back to
 * the kernel's hands for an instant, so its segment-map entries are cleared
 * first (only the slots that lie wholly in it: the slot where c now ends
 * still names c).  0 on success; on failure nothing has changed. */
static int piece_move(wd_large_t *c, size_t part, uint8_t *dest) {
    uint8_t *from = (uint8_t *)c + c->map_size - part;
    uint8_t *slots = part == c->map_size ? (uint8_t *)c
                                         : (uint8_t *)wd_align_up((uintptr_t)from, WD_SEGMENT_SIZE);
    uint8_t *end = (uint8_t *)c + c->map_size;
    if (slots < end) {
        wdi_segmap_clear(slots, (size_t)(end - slots));
        wdi_segmap_release(slots, (size_t)(end - slots));
    }
    void *at;
    if (wdi_os_remap(from, part, part, dest, &at) != 0) {
        if (slots < end)
            wdi_segmap_set(slots, (size_t)(end - slots), &c->region);
        return -1;
    }
    wdi_stat_sub(WD_STAT_MAPPED, part);
    wdi_stat_sub(WD_STAT_COMMITTED, part);
    return 0;
}

/* A fresh mapping l of need bytes takes the resident pages of cached
 * mappings in place of its own untouched ones: a program that frees a big
 * buffer and asks for a bigger one (no cached mapping fits) faults in only
 * the difference, not every page again.  Returns the bytes moved in from
 * the start of l: they hold old data, the rest reads as zeros. */
static size_t cache_gather(wd_large_t *l, size_t need) {
    wd_large_t *pieces[GATHER_MAX_PIECES];
    unsigned n = cache_take_largest(pieces, need);
    size_t moved = 0;
    unsigned i = 0;
    uint32_t scattered = 0;
    for (; i < n && moved < need; i++) {
        wd_large_t *c = pieces[i];
        uint32_t c_scattered = c->scattered;
        if (c->guard != 0) { /* harden=2: no inaccessible page moves into a block */
            wdi_os_protect((uint8_t *)c + c->guard, wdi_os_page_size(), WD_PROT_RW);
            c->guard = 0;
        }
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
    return moved;
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
    wd_large_t *found = best ? *best : NULL;
    if (found != NULL) {
        *best = found->next;
        cache_blocks--;
        cache_bytes -= found->map_size;
    }
    wdi_unlock(&cache_lock);
    *moved = found != NULL && fit == NULL;
    if (found == NULL)
        return NULL;
    if (fit != NULL) {
        size_t start = (found->guard - (need - offset)) & ~(offset - 1);
        found->offset = start;
        found->usable = found->guard - start;
    } else if (found->guard != 0) {
        wdi_os_protect((uint8_t *)found + found->guard, wdi_os_page_size(), WD_PROT_RW);
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
        size_t dirty = cache_gather(l, mapped);
        l->map_size = mapped; /* the header page may have been moved in */
        l->guard = 0;
        if (zero && dirty > offset)
            memset((uint8_t *)l + offset, 0, dirty - offset < need - offset ? dirty - offset : need - offset);
    }
    if (l->guard == 0) { /* fresh, or moved */
        if (moved)
            mapping_split(l, need + page);
        l->offset = offset;
        l->usable = need - offset;
        l->guard = need;
        wdi_os_protect((uint8_t *)l + need, page, WD_PROT_NONE);
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
    wd_large_t *l = offset <= WD_SEGMENT_SIZE ? cache_take(need, offset) : NULL;
    size_t dirty = need; /* bytes from l on that may hold old data */
    if (l != NULL) {
        mapping_split(l, need);
    } else if ((l = map_new(need, alignment)) != NULL) {
        /* The whole mapping, not just need: both are whole MOVE_UNITs
         * then, as cached mappings are, so every piece moves aligned. */
        size_t mapped = l->map_size;
        dirty = cache_gather(l, mapped);
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
    if (zero && dirty > offset) /* fresh pages are already zero */
        memset(p, 0, dirty - offset < size ? dirty - offset : size);
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

static void unmap_block(wd_large_t *l) {
    size_t size = l->map_size;
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
        *at = c->next;
        cache_blocks--;
        cache_bytes -= c->map_size;
        if (low->guard != 0) { /* harden=2: one guard a mapping, the high one's */
            wdi_os_protect((uint8_t *)low + low->guard, wdi_os_page_size(), WD_PROT_RW);
            low->guard = 0;
        }
        if (high->guard != 0)
            low->guard = low->map_size + high->guard;
        low->map_size += high->map_size;
        low->scattered |= high->scattered;
        low->offset = wdi_os_page_size();
        low->usable = low->map_size - low->offset;
        wdi_segmap_set(high, high->map_size, &low->region);
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
    wd_large_t *l = *oldest;
    *oldest = l->next;
    cache_blocks--;
    cache_bytes -= l->map_size;
    return l;
}

/* Keeps freed mapping l for reuse, or unmaps it when the cache is full. */
static void cache_put(wd_large_t *l) {
    l->cached = 1;
    l->check = header_check(l);
    l->freed_ms = wdi_os_now_ms();
    int keep = 0;
    wd_large_t *evicted = NULL;
    wdi_lock(&cache_lock);
    l = cache_merge(l);
    if (l->scattered && !wdi_harden2)
        evicted = cache_evict_scattered();
    if ((l->offset <= WD_SEGMENT_SIZE || wdi_harden2) && cache_blocks < CACHE_MAX_BLOCKS &&
        cache_bytes + l->map_size <= CACHE_MAX_BYTES) {
        l->next = cache;
        cache = l;
        cache_blocks++;
        cache_bytes += l->map_size;
        keep = 1;
    }
    wdi_unlock(&cache_lock);
    if (evicted != NULL)
        unmap_block(evicted);
    if (!keep)
        unmap_block(l);
}

void wdi_large_free(wd_large_t *l, void *p, const char *fn) {
    large_checked(l, p, fn);
    wdi_stat_sub(WD_STAT_LARGE_LIVE, 1);
    wdi_stat_sub(WD_STAT_LARGE_BYTES, l->usable);
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
     * entries go while the range is still ours, as everywhere else: clear
     * before unmap, set after map. */
    wdi_segmap_clear(l, old_map);
    wdi_segmap_release(l, old_map);
    if (wdi_os_remap(l, old_map, need, dest, &at) != 0) {
        wdi_segmap_set(l, old_map, &l->region);
        wdi_segmap_release(dest, need);
        wdi_os_unmap(dest, need);
        return NULL;
    }
    return large_rehome(at, old_map, need, size);
}

void wdi_large_maintain(uint64_t now_ms, uint32_t delay_ms) {
    wd_large_t *expired = NULL;
    wdi_lock(&cache_lock);
    for (wd_large_t **at = &cache; *at;) {
        wd_large_t *l = *at;
        if (delay_ms == 0 || now_ms - l->freed_ms >= delay_ms) {
            *at = l->next;
            cache_blocks--;
            cache_bytes -= l->map_size;
            l->next = expired;
            expired = l;
        } else {
            at = &l->next;
        }
    }
    wdi_unlock(&cache_lock);
    while (expired != NULL) { /* unmapped with the lock dropped: munmap is slow */
        wd_large_t *next = expired->next;
        unmap_block(expired);
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
