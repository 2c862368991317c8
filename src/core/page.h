/* page.h -- small objects: 64 KiB pages of one size class, no per-object
 * header (the seed's "areas of memory only for certain sizes").
 *
 * A small segment (4 MiB) belongs to one thread heap and holds 63 pages;
 * page 0's space holds the segment header and the page descriptors.
 * Malloc pops the page's `free` list and a free by the owning thread pushes
 * on it: no lock, no atomic, and the block freed last is the next one
 * handed out, while its line is still in the cache.  A free by any other thread pushes
 * on `xthread_free` with one compare-and-swap; the owner takes those back
 * in its slow path.  Links are stored encoded (XOR with the page's key and
 * the block's address) and checked when popped. */
#ifndef WARDEN_PAGE_H
#define WARDEN_PAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"
#include "core/segment.h"

#define WD_PAGE_SHIFT 16
#define WD_PAGE_SIZE ((size_t)1 << WD_PAGE_SHIFT)
#define WD_PAGES_PER_SEGMENT (WD_SEGMENT_SIZE / WD_PAGE_SIZE)
#define WD_SMALL_MAX ((size_t)65536)
#define WD_CLASSES 69 /* class 0 is unused; 1..68: 16 B .. 64 KiB (page.c) */

struct wd_small_heap_s;
typedef struct wd_block_s {
    uintptr_t next; /* encoded */
} wd_block_t;

/* A page of one size class.
 *   used == blocks handed out and not yet taken back by the owner
 *   |free| + used == capacity <= reserved
 *   |xthread_free| <= used (frees by other threads, not yet collected)
 *   every listed block is in [start, start + capacity * block_size)
 * `heap` is the owner, or WD_PAGE_UNUSED or NULL when the page holds no
 * blocks (wdi_page_unused). */
typedef struct wd_page_s {
    /* Line 1, written by the owner on every malloc and free. */
    wd_block_t *free;   /* malloc pops here, the owner's frees push here */
    uintptr_t key;      /* link encoding key */
    uint8_t *start;
    uint32_t span;      /* capacity * block_size: where listed blocks may be */
    uint32_t used;
    uint32_t block_size;
    uint32_t capacity, reserved;
    uint8_t cls;
    uint8_t decommitted; /* 1 after its memory went back to the OS */
    uint32_t retired_ms; /* when it became unused (low bits of the clock) */
    uint8_t shift;       /* block_size == odd << shift */
    uint64_t inv;        /* wd_inverse_odd(odd): block starts without a division */
    struct wd_page_s *next, *prev;
    /* Line 2, read by every thread that frees here, rarely written: kept
     * apart so a free from another thread does not pull line 1 away from
     * the owner. */
    struct wd_small_heap_s *heap __attribute__((aligned(64)));
    uintptr_t xkey;      /* == key, for other threads' pushes */
    uint8_t *xstart;     /* == start */
    uint64_t xinv;       /* == inv */
    uint32_t xblock_size, xspan, xreserved; /* == block_size, reserved * block_size, reserved */
    uint8_t xshift;      /* == shift */
    uint8_t list;        /* which heap list holds it (page.c) */
    /* Line 3, written by other threads. */
    _Atomic(uintptr_t) xthread_free __attribute__((aligned(64))); /* count << 48 | first block */
    struct wd_page_s *xnext;         /* link in the owner's xpages stack */
    atomic_uint xnotified;           /* 1 while on that stack */
} __attribute__((aligned(256))) wd_page_t;

_Static_assert(sizeof(wd_page_t) == 256, "page index is a shift");

#define WD_PAGE_UNUSED ((struct wd_small_heap_s *)1)

/* pg holds no blocks: given back (WD_PAGE_UNUSED), or never used (heap
 * NULL, the descriptor all zeros: a fresh segment's descriptors are
 * written when their page is first taken, so that a small program's
 * segment keeps one page of its header resident, not the five the 64
 * descriptors span). */
static inline int wdi_page_unused(const wd_page_t *pg) {
    return (uintptr_t)pg->heap <= (uintptr_t)WD_PAGE_UNUSED;
}

/* xthread_free holds the first block of the other threads' frees in its
 * low 48 bits (user addresses on x86-64 and arm64 fit) and how many blocks
 * the list holds above them: the owner takes the list back without walking
 * it (page.c), and walking it cost a cache miss per block freed by another
 * thread. */
#define WD_REMOTE_SHIFT 48
#define WD_REMOTE_HEAD(w) ((wd_block_t *)((w) & (((uintptr_t)1 << WD_REMOTE_SHIFT) - 1)))
#define WD_REMOTE_COUNT(w) ((uint32_t)((w) >> WD_REMOTE_SHIFT))
_Static_assert(WD_SEGMAP_BITS <= WD_REMOTE_SHIFT, "every block address fits below the count");
_Static_assert(WD_PAGE_SIZE / 16 < ((uintptr_t)1 << (64 - WD_REMOTE_SHIFT)), "a page's blocks fit the count");

/* Where a page is (wd_page_t.list): its heap's lists, see page.c. */
enum { WD_LIST_NONE = 0, WD_LIST_AVAIL = 1, WD_LIST_FULL = 2, WD_LIST_RETIRED = 3 };

typedef struct wd_small_segment_s {
    wd_region_t region;               /* kind == WD_KIND_SMALL */
    uint32_t used_pages;
    struct wd_small_heap_s *heap;   /* owner of every page */
    struct wd_small_segment_s *next;  /* the owner's segments */
    uint64_t free_mask;               /* bit i: page i holds no blocks */
    wd_page_t pages[WD_PAGES_PER_SEGMENT];
} wd_small_segment_t;

_Static_assert(sizeof(wd_small_segment_t) <= WD_PAGE_SIZE, "segment header fits page 0");

/* The small tier of one heap: its pages by class and the segments they are
 * in.  Only the owning thread changes these lists (other threads push on a
 * page's xthread_free and on xpages).  The page layer keeps the lists; who
 * owns the heap, and for how long, is the thread layer's business: a
 * thread heap (thread.h) starts with this struct, so a page's owner is the
 * heap's own address. */
typedef struct wd_small_heap_s {
    wd_page_t *current[WD_CLASSES]; /* page malloc pops from; &wdi_page_empty if none */
    /* Countdown to the next sampled allocation: malloc decrements it, and
     * the one that takes it below zero goes to the sampler (api.c), which
     * starts the next countdown.  It doubles as the count of blocks handed
     * out: allocs_base - sample_left, so the fast path pays one decrement
     * for both. */
    intptr_t sample_left;
    size_t allocs_base;
    wd_page_t *avail[WD_CLASSES];   /* pages that may have free blocks */
    wd_page_t *full[WD_CLASSES];    /* pages that had none when last looked at */
    wd_page_t *retired, *retired_tail; /* unused pages, oldest first */
    wd_small_segment_t *segments;
    /* Full pages that other threads freed into since: pushed by those
     * threads, drained by the owner in its slow path. */
    _Atomic(wd_page_t *) xpages;
    uint64_t secret; /* keys of its pages' link encoding */
    uint64_t rng;    /* harden=2: random order in fresh pages; the sampler's draws */
    /* One past the largest class the heap has had a page of (0: none
     * yet, and always for wdi_heap_none), so no small block it hands out
     * is of class top_end or above: the heap profiler's slot (sample.h).
     * Only grows; set by the slow path that installs a page. */
    uint8_t top_end;
    uint8_t prof_end; /* the top_end the profiler's countdown was drawn for (api.c) */
    /* While profiling, sample_left is the profiler's; the guard sampler
     * then counts down guard_left, by the mallocs of each of the
     * profiler's countdowns (prof_drawn: the last one's length) and by
     * the slow paths' allocations (api.c). */
    intptr_t guard_left, prof_drawn;
} wd_small_heap_t;

/* h's first segment, for a thread other than the owner: the list only
 * grows at its head, each segment published with its header written
 * (release), and segments are never freed, so the walk from here along
 * `next` needs no lock. */
static inline wd_small_segment_t *wdi_small_segments(const wd_small_heap_t *h) {
    return __atomic_load_n(&h->segments, __ATOMIC_ACQUIRE);
}

/* An empty heap: no page, every class at wdi_page_empty, a fresh secret. */
void wdi_small_heap_init(wd_small_heap_t *h);

/* Size of class c and class of a size (n <= WD_SMALL_MAX); built by the
 * compiler (page.c). */
extern const uint32_t wdi_class_size[WD_CLASSES];
extern const uint8_t wdi_class_of16[WD_SMALL_MAX / 16 + 1];

static inline unsigned wdi_small_class(size_t n) { return wdi_class_of16[(n + 15) >> 4]; }

/* wdi_class_aligned[c][k]: the first class from c on whose size is a
 * multiple of 32 << k (so all its blocks are aligned to it: pages are
 * 64 KiB-aligned), or WD_CLASSES; k from 0 (32 bytes) to 11 (64 KiB). */
#define WD_ALIGNED_SHIFTS 12
extern uint8_t wdi_class_aligned[WD_CLASSES][WD_ALIGNED_SHIFTS];

/* Fills wdi_class_aligned; called once by the process initialisation. */
void wdi_page_init_classes(void);

/* The page every empty slot of a heap points to: it never has a free
 * block, so the fast path needs no NULL check. */
extern wd_page_t wdi_page_empty;

/* Segments are aligned to their size, so p's page index is a field of p's
 * bits, and with 256-byte descriptors the descriptor's offset is that field
 * shifted into place: one shift and one mask (the compiler's indexing kept
 * two pointers alive). */
static inline wd_page_t *wdi_page_of(wd_small_segment_t *seg, const void *p) {
    uintptr_t at = ((uintptr_t)p >> (WD_PAGE_SHIFT - 8)) & ((WD_PAGES_PER_SEGMENT - 1) << 8);
    return (wd_page_t *)((uintptr_t)seg->pages + at);
}

static inline wd_block_t *wdi_block_decode(const wd_page_t *pg, const wd_block_t *b) {
    return (wd_block_t *)(b->next ^ pg->key ^ (uintptr_t)b);
}

static inline void wdi_block_set_next(const wd_page_t *pg, wd_block_t *b, wd_block_t *next) {
    b->next = (uintptr_t)next ^ pg->key ^ (uintptr_t)b;
}

/* Aborts: a link decoded to an address outside its page's blocks. */
WD_NORETURN WD_COLD void wdi_page_corrupt(const wd_page_t *pg, const void *block);

/* Pops the first free block of pg (which must have one); the link it
 * follows is checked to stay inside the block's 64 KiB page (the link and
 * the block then differ in the low 16 bits only) or to be NULL (the
 * decoded link xor the block is the block itself).  A few instructions. */
static inline void *wdi_page_pop(wd_page_t *pg, wd_block_t *b) {
    uintptr_t link_xor_b = b->next ^ pg->key;
    wd_block_t *next = (wd_block_t *)(link_xor_b ^ (uintptr_t)b);
    if (wd_unlikely(link_xor_b >= WD_PAGE_SIZE && next != NULL))
        wdi_page_corrupt(pg, b);
    pg->free = next;
    pg->used++;
    b->next = 0; /* a live block must never look like a listed one */
    return b;
}

/* Hardening of small frees (always on unless built with WD_HARDEN=0):
 * p must be the start of a block of the page and must not be free already.
 * A free block's first word decodes (with the page key) to a block of the
 * page or to NULL; a live block's first word almost never does (the key is
 * random, and malloc clears the word).  The test is by 64 KiB page rather
 * than by the page's blocks: the link and the block share every address
 * bit above the low 16, so (word ^ key) is below 2^16, or is the block's
 * own address for NULL: one xor and two compares.  When it does, the page's lists are
 * searched to tell a double free from a coincidence.  On the fast path: a
 * multiply, a decode and a few compares. */

/* p is not the start of one of the first count blocks from start. */
static inline int wdi_block_misplaced(const uint8_t *start, unsigned shift, uint64_t inv,
                                      uint32_t count, const void *p) {
    return wd_item_index((uintptr_t)p - (uintptr_t)start, shift, inv) >= count;
}

static inline int wdi_block_looks_free(uintptr_t key, const void *p) {
    const wd_block_t *b = p;
    uintptr_t link_xor_b = b->next ^ key; /* (decoded link) ^ b */
    return link_xor_b < WD_PAGE_SIZE || link_xor_b == (uintptr_t)b;
}

/* The page just became empty after a local free (used == 0). */
void wdi_page_emptied(wd_small_heap_t *h, wd_page_t *pg);

/* The block was freed into a page that was on the heap's full list. */
void wdi_page_unfull(wd_small_heap_t *h, wd_page_t *pg);

/* A free by the owning thread: push on the list malloc pops (last in,
 * first out: the next malloc of the class gets a block whose line is in the
 * cache; with a second list for frees, as before, it got the block freed
 * longest ago: bench/suite/objects took 27.0 M first-level data-cache
 * misses that way under cachegrind, 6.8 M this way).  No lock, no atomic. */
static inline void wdi_page_push_local(wd_small_heap_t *h, wd_page_t *pg, void *p) {
    wd_block_t *b = p;
    wdi_block_set_next(pg, b, pg->free);
    pg->free = b;
    if (wd_unlikely(--pg->used == 0))
        wdi_page_emptied(h, pg);
    else if (wd_unlikely(pg->list == WD_LIST_FULL))
        wdi_page_unfull(h, pg);
}

/* Aborts unless p is a live block of pg (realloc, malloc_usable_size);
 * mine is the calling thread's heap (NULL if none): only the owner may
 * search the page's lists to tell a double free from a live block. */
void wdi_page_check_live(wd_page_t *pg, const void *p, const wd_small_heap_t *mine,
                         const char *fn);

/* A free that failed a quick check: aborts on misuse, else frees.  Kept out
 * of line and reached by a tail call, so the fast path saves no register. */
void wdi_page_free_suspect(wd_small_heap_t *h, wd_page_t *pg, void *p, const char *fn);

static inline void wdi_page_free_local(wd_small_heap_t *h, wd_page_t *pg, void *p,
                                       const char *fn) {
#if WD_HARDEN
    if (wd_unlikely(wdi_block_misplaced(pg->start, pg->shift, pg->inv, pg->capacity, p) ||
                    wdi_block_looks_free(pg->key, p))) {
        wdi_page_free_suspect(h, pg, p, fn);
        return;
    }
#else
    (void)fn;
#endif
    wdi_page_push_local(h, pg, p);
}

/* Slow path of small malloc for class cls: refills the heap's current page
 * (collecting frees, taking another page, carving a fresh one) and pops a
 * block.  NULL when the OS has no memory left. */
void *wdi_page_malloc_slow(wd_small_heap_t *h, unsigned cls);

/* A free of a small block by a thread that does not own its page. */
void wdi_page_free_remote(wd_page_t *pg, wd_block_t *b);

/* The same without its checks, for a block known to be a live one of pg
 * (harden=2's quarantine: its keyed prefix proves it). */
void wdi_page_push_remote(wd_page_t *pg, wd_block_t *b);

/* Gives back every page of h: used when its thread exits (pages with live
 * blocks stay with h, which the next thread adopts) and by trim. */
void wdi_page_collect_all(wd_small_heap_t *h, int release_empty);

/* Returns the memory of pages unused for more than delay_ms to the OS
 * (all of them when delay_ms is 0); returns the bytes released. */
size_t wdi_page_decommit_idle(wd_small_heap_t *h, uint32_t now_ms, uint32_t delay_ms);

/* Adds the blocks and bytes that h's pages hold to *blocks and *bytes.
 * Any thread may ask (statistics): see page.c for why the read is safe. */
void wdi_page_count_live(const wd_small_heap_t *h, size_t *blocks, size_t *bytes);

/* --- looking at pages from outside (pictures, statistics) ---------------------
 * Any thread may ask, about any heap: the counts are read without the
 * owner's consent and may be a moment old (see wdi_page_count_live). */

/* One page of a small segment, as a picture shows it. */
enum {
    WD_PAGE_META = 0,     /* page 0: the segment header and the descriptors */
    WD_PAGE_IN_USE = 1,   /* blocks of class cls */
    WD_PAGE_IDLE = 2,     /* no block, memory kept (retired, or never used) */
    WD_PAGE_RETURNED = 3, /* no block, memory given back to the OS */
    WD_PAGE_GUARD = 4     /* harden=2: no access */
};
typedef struct wd_page_info_s {
    uint8_t state, cls;
    uint32_t block_size; /* in use: */
    uint32_t used;       /* blocks handed out (other threads' frees not yet collected count) */
    uint32_t capacity;   /* blocks carved so far */
    uint32_t reserved;   /* blocks the page can hold */
} wd_page_info_t;

void wdi_page_segment_info(const wd_small_segment_t *seg, wd_page_info_t out[WD_PAGES_PER_SEGMENT]);

/* What a small heap holds, by class (pages in use, blocks handed out and
 * blocks the pages can hold) and overall; wdi_page_heap_summary adds h's
 * figures to *sum, so that it can sum several heaps. */
typedef struct wd_class_count_s {
    size_t pages, blocks, reserved;
} wd_class_count_t;
typedef struct wd_small_summary_s {
    size_t segments, pages_in_use, pages_idle, pages_returned;
    wd_class_count_t cls[WD_CLASSES];
} wd_small_summary_t;

void wdi_page_heap_summary(const wd_small_heap_t *h, wd_small_summary_t *sum);

#endif /* WARDEN_PAGE_H */
