/* harden.c -- owns level 2 of the hardening (see harden.h): the prefix and
 * tail canaries of every block, the fill pattern and the per-thread
 * quarantine of freed blocks.  Calls: page.h for small blocks of the
 * calling thread's pages (taken and given back as the fast paths do), the
 * tiers' raw interface for the rest, segment.h and large.h to know which
 * addresses may be read, thread.h for the calling thread's heap, bytes.h,
 * os.h, options.h. */
#include "debug/harden.h"

#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/bytes_head.h"
#include "base/options.h"
#include "core/large.h"
#include "core/page.h"
#include "core/raw.h"
#include "core/segment.h"
#include "core/thread.h"
#include "os/os.h"

static uint64_t secret, freed_key;

#define PREFIX 16
#define TAIL 8
#define PATTERN 0xdf          /* freed bytes, as the program's memory shows them */
#define FREED ((uint64_t)1 << 7) /* in the word: the block was freed */
#define SIZE_MAX_HARD ((size_t)1 << 55)
/* The largest request served by the small fast path: prefix, request and
 * tail fit a small block. */
#define SMALL_FAST (WD_SMALL_MAX - PREFIX - TAIL)
/* Freed blocks are filled, and checked when they leave the quarantine, up
 * to this many bytes from their start (docs/security.md). */
#define FILL_MAX ((size_t)WDI_BYTES_HEAD_MAX)

/* The 16 bytes before every pointer handed out at level 2. */
typedef struct {
    uint64_t word; /* requested size << 8 | FREED | log2(front) */
    uint64_t tag;  /* tag_of(pointer, word) */
} prefix_t;

static inline prefix_t *prefix_of(const void *p) { return (prefix_t *)((uintptr_t)p - PREFIX); }
static inline size_t word_size(uint64_t w) { return (size_t)(w >> 8); }
static inline size_t word_front(uint64_t w) { return (size_t)1 << (w & 63); }

/* Keyed by the secret: a prefix copied to another address, or rebuilt by
 * an overflow that does not know the secret, does not match.  A freed
 * block's tag is its live tag xor a second key, so that free turns a
 * checked live tag into the freed one with an xor. */
static inline uint64_t tag_live(const void *p, uint64_t word) {
    uint64_t x = ((uint64_t)(uintptr_t)p ^ secret) * 0x9E3779B97F4A7C15ULL;
    x ^= word;
    x *= 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 31);
}

/* The tag of a freed block's word (FREED set). */
static inline uint64_t tag_freed(const void *p, uint64_t word) {
    return tag_live(p, word & ~FREED) ^ freed_key;
}

/* The tag word calls for, freed or not. */
static inline uint64_t tag_of(const void *p, uint64_t word) {
    return (word & FREED) != 0 ? tag_freed(p, word) : tag_live(p, word);
}

void wdi_harden_init(void) {
    wdi_bytes_init(); /* the fill and its check, for check mode too */
    if (wdi_options.harden != 1 && wdi_options.harden != 2) {
        wdi_print_line(2, "warden: bad value for option 'harden' in WARDEN_OPTIONS");
        wdi_options.harden = 1;
    }
    wdi_harden2 = wdi_options.harden == 2;
    secret = wdi_os_random();
    freed_key = wdi_os_random() | 1; /* never 0: a freed tag is never the live one */
}

void wdi_harden_late(void) {
    if (wdi_options.harden == 2 && !wdi_harden2)
        wdi_print_line(2, "warden: harden=2 was read after the first allocation; it stays 1");
    wdi_options.harden = wdi_harden2 ? 2 : 1;
}

/* --- which pointers are blocks -------------------------------------------- */

/* Whether the prefix of p can be read without faulting: not in a segment's
 * guard, and in a large block only where a prefix can be (at a power of two
 * from the payload, below its guard page). */
static int prefix_readable(wd_region_t *r, const void *p, const char *fn) {
    uintptr_t u = (uintptr_t)p;
    if (r->kind != WD_KIND_LARGE) {
        uintptr_t off = u & (WD_SEGMENT_SIZE - 1);
        return off >= PREFIX && off <= WD_SEGMENT_SIZE - WD_SEGMENT_GUARD;
    }
    wd_large_t *l = (wd_large_t *)r;
    wdi_large_check_header(l, p, fn); /* before trusting its offset and size */
    uintptr_t payload = (uintptr_t)l + l->offset;
    return u > payload && wd_is_pow2(u - payload) && u - payload >= PREFIX &&
           u <= payload + l->usable;
}

/* The prefix's tag matched nothing: either p is not a block, or it is a
 * raw block the tiers freed (a double free after the quarantine), or the
 * prefix was overwritten.  The tier that owns p - 16 tells which, reporting
 * p itself; when it finds a live block there, something wrote below it. */
WD_NORETURN WD_COLD static void diagnose(const void *p, const char *fn) {
    wdi_fatal_offset = PREFIX;
    wdi_raw_usable((const uint8_t *)p - PREFIX, fn);
    wdi_fatal_offset = 0;
    wdi_fatal("buffer underflow", p, fn);
}

/* The prefix of p, a live block handed out at level 2, or an abort that
 * says what p is; the tail canary is checked too. */
static prefix_t *block_live(const void *p, wd_region_t **region, const char *fn) {
    wd_region_t *r = wdi_region_of(p);
    if (wd_unlikely(r == NULL || ((uintptr_t)p & 15) != 0 || !prefix_readable(r, p, fn)))
        wdi_fatal("invalid pointer", p, fn);
    *region = r;
    prefix_t *pre = prefix_of(p);
    uint64_t word = pre->word;
    if (wd_unlikely((word & FREED) != 0 || pre->tag != tag_live(p, word))) {
        if ((word & FREED) != 0 && pre->tag == tag_freed(p, word))
            wdi_fatal(wdi_freed_what(fn), p, fn);
        diagnose(p, fn);
    }
    uint64_t tail;
    memcpy(&tail, (const uint8_t *)p + word_size(word), TAIL);
    if (wd_unlikely(tail != pre->tag))
        wdi_fatal("buffer overflow", p, fn);
    return pre;
}


/* Writes the prefix and the tail canary of a block of n bytes. */
static WD_ALWAYS_INLINE void block_seal(void *p, size_t n, size_t front) {
    prefix_t *pre = prefix_of(p);
    pre->word = (uint64_t)n << 8 | (uint64_t)__builtin_ctzll(front);
    pre->tag = tag_live(p, pre->word);
    memcpy((uint8_t *)p + n, &pre->tag, TAIL);
}

/* --- the quarantine -------------------------------------------------------- */

#define QUARANTINE_SLOTS 4096 /* a power of two: the ring's index is a mask */

_Static_assert((WDI_QUARANTINE_LARGE & (WDI_QUARANTINE_LARGE - 1)) == 0,
               "the large blocks' ring index is a mask");

/* Two rings of pointers, oldest at head: one for small and medium blocks,
 * one for large blocks, so that each kind makes room only by letting its
 * own oldest go (with one ring, a large free over its bounds let the
 * small blocks before it go early, all of them for a block over 16 MiB,
 * cutting short their delay before reuse).  Each small slot also keeps
 * where the raw block's size is found (see AUX_MEDIUM), so that neither
 * push nor evict asks the segment map or the tiers for it again.  The raw
 * blocks' bytes held are counted in the owner's heap (held_small,
 * held_large), where the statistics read them; the budget is on the bytes
 * requested. */
typedef struct wd_quarantine_s {
    wd_theap_t *owner;      /* its thread's heap */
    size_t budget;          /* quarantine_kb in bytes: above it, each push lets one go */
    size_t high;            /* budget and an eighth: the most bytes may reach */
    size_t max_block;       /* budget / 8: bigger requests are not held */
    size_t bytes;           /* bytes requested of the small and medium blocks held */
    size_t head, count;     /* the small blocks' ring: oldest at head */
    size_t large;           /* large blocks held (their bytes: owner->held_large) */
    /* The fields above fill one line: the slots start at the next (a
     * 16-byte slot never straddles two lines). */
    struct {
        void *p;
        uintptr_t aux; /* the block's page, or aux_of(raw size, AUX_MEDIUM) */
    } slot[QUARANTINE_SLOTS];
    size_t large_head;      /* the large blocks' ring: oldest at large_head */
    struct {
        void *p;
        size_t raw; /* the raw block's size */
    } big[WDI_QUARANTINE_LARGE];
} wd_quarantine_t;

_Static_assert(offsetof(wd_quarantine_t, slot) == 64, "the slots start a line");

/* A slot's aux: a small block's page (whose block_size is the raw size,
 * and on whose list the block goes back, without a look-up of the segment
 * map when it leaves), or a medium raw block's size shifted left by two,
 * tagged in the low bits (pages are 8-aligned). */
#define AUX_MEDIUM 2
#define AUX_TAGS 3

static inline uintptr_t aux_of(size_t raw, uintptr_t tag) { return (uintptr_t)raw << 2 | tag; }

static inline size_t ring_at(size_t i) { return i & (QUARANTINE_SLOTS - 1); }

#define PREFETCH_AHEAD 8 /* blocks: about a microsecond of frees ahead */

/* The bytes of a freed block that are filled, and checked when it leaves
 * the quarantine: from the pointer to the end of its raw block (the
 * request, the tail canary and the slack), at most FILL_MAX. */
static inline size_t fill_len(size_t raw, size_t front) {
    size_t n = raw - front;
    return n < FILL_MAX ? n : FILL_MAX;
}

/* Maps h's quarantine at its first use; NULL when there can be none (no
 * memory). */
WD_NOINLINE static wd_quarantine_t *quarantine_new(wd_theap_t *h) {
    void *mem;
    if (wdi_os_map(wd_align_up(sizeof(wd_quarantine_t), wdi_os_page_size()), &mem) != 0)
        return NULL;
    wd_quarantine_t *q = mem;
    q->owner = h;
    q->budget = (size_t)wdi_options.quarantine_kb << 10;
    q->max_block = q->budget / 8;
    q->high = q->budget + q->max_block;
    h->quarantine = q;
    return q;
}

/* The calling thread's quarantine; NULL when there is none (quarantine_kb=0,
 * an exiting thread, no memory): blocks are then freed at once. */
static inline wd_quarantine_t *quarantine_mine(void) {
    wd_theap_t *h = wdi_tl_home;
    if (wd_likely(h != NULL && h->quarantine != NULL))
        return h->quarantine;
    if (h == NULL && (h = wdi_heap_get_slow()) == NULL)
        return NULL;
    if (h->quarantine != NULL)
        return h->quarantine;
    return wdi_options.quarantine_kb == 0 ? NULL : quarantine_new(h);
}

/* Checks a block held in the quarantine (leaving it, or at exit), its raw
 * block raw bytes: its prefix must still say freed, and its filled bytes
 * the pattern.  Returns the prefix's word. */
typedef int (*head_are_fn)(const void *p, size_t n, uint8_t byte);
typedef void (*head_fill_fn)(void *p, size_t n, uint8_t byte);

static WD_ALWAYS_INLINE uint64_t quarantined_check(const void *p, size_t raw, const char *fn,
                                                   head_are_fn are) {
    const prefix_t *pre = prefix_of(p);
    uint64_t word = pre->word;
    if (wd_unlikely((word & FREED) == 0 || pre->tag != tag_freed(p, word) ||
                    !are(p, fill_len(raw, word_front(word)), PATTERN)))
        wdi_fatal("write after free", p, fn);
    return word;
}

/* Gives raw, a small raw block of page pg, back: straight on its page's
 * list when the page is the calling thread's (the common case).  Its
 * prefix matched its keyed tag, so it is a block this level handed out
 * and freed once (the page's block-start and double-free checks could
 * not fail). */
static inline void page_release(wd_theap_t *h, wd_page_t *pg, void *raw) {
    if (wd_likely(h != NULL && pg->heap == &h->small)) {
        wdi_page_push_local(&h->small, pg, raw);
        return;
    }
    /* Another thread's page: onto its list of remote frees, without the
     * checks of the page and the block start that a free from the
     * program gets (wdi_page_free_remote): the prefix proved them. */
    wdi_page_push_remote(pg, raw);
}

/* Gives a raw block back to its tier: a small one as page_release does,
 * anything else through raw.h, which checks it. */
static inline void raw_release(wd_theap_t *h, void *raw, const char *fn) {
    uintptr_t e = wdi_segmap_entry(raw);
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        page_release(h, wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), raw), raw);
        return;
    }
    wdi_raw_free(raw, fn);
}

/* The raw size of the block held in a slot whose aux is aux. */
static inline size_t aux_raw(uintptr_t aux) {
    return wd_likely((aux & AUX_TAGS) == 0) ? ((const wd_page_t *)aux)->block_size : aux >> 2;
}

/* The oldest block of the small blocks' ring leaves, a medium one:
 * checked, then back to its tier through raw.h. */
WD_NOINLINE static void quarantine_evict_other(wd_quarantine_t *q, void *p, uintptr_t aux,
                                               const char *fn) {
    size_t raw = aux >> 2;
    uint64_t word = quarantined_check(p, raw, fn, wdi_bytes_head_are);
    q->owner->held_small -= raw;
    q->bytes -= word_size(word);
    wdi_raw_free((uint8_t *)p - word_front(word), fn);
}

/* Small block p of page pg leaves the quarantine: checked (by are: inline
 * in the free path, a call elsewhere), then straight onto its page's list;
 * returns its prefix word (what it held in the counts: word_size). */
static WD_ALWAYS_INLINE uint64_t small_leaves(wd_theap_t *h, wd_page_t *pg, void *p,
                                              const char *fn, head_are_fn are) {
    uint64_t word = quarantined_check(p, pg->block_size, fn, are);
    page_release(h, pg, (uint8_t *)p - word_front(word));
    return word;
}

/* The oldest small or medium block leaves, checked, back to its tier; a
 * small one (nearly all) as small_leaves. */
static WD_ALWAYS_INLINE void quarantine_evict(wd_quarantine_t *q, const char *fn,
                                              head_are_fn are) {
    wd_theap_t *h = q->owner;
    size_t at = q->head;
    void *p = q->slot[at].p;
    uintptr_t aux = q->slot[at].aux;
    q->head = ring_at(at + 1);
    q->count--;
    if (wd_unlikely((aux & AUX_TAGS) != 0)) {
        quarantine_evict_other(q, p, aux, fn);
        return;
    }
    wd_page_t *pg = (wd_page_t *)aux;
    h->held_small -= pg->block_size;
    q->bytes -= word_size(small_leaves(h, pg, p, fn, are));
}

WD_NOINLINE static void quarantine_evict_more(wd_quarantine_t *q, const char *fn) {
    quarantine_evict(q, fn, wdi_bytes_head_are);
}

/* The ring knows which blocks leave next, and their lines may have left
 * the cache since they were filled: the one PREFETCH_AHEAD places behind
 * the oldest is fetched now, its prefix and the FILL_MAX bytes its check
 * reads (8 % less time on small_loop with a quarantine of 1 MiB). */
static WD_ALWAYS_INLINE void quarantine_prefetch(const wd_quarantine_t *q) {
    if (wd_likely(q->count > PREFETCH_AHEAD)) {
        const uint8_t *b = (const uint8_t *)q->slot[ring_at(q->head + PREFETCH_AHEAD)].p - PREFIX;
        for (size_t i = 0; i < PREFIX + FILL_MAX; i += 64)
            __builtin_prefetch(b + i);
    }
}

/* Slot `count` places after the oldest gets p. */
static WD_ALWAYS_INLINE void ring_set(wd_quarantine_t *q, size_t count, void *p, uintptr_t aux) {
    size_t at = ring_at(q->head + count);
    q->slot[at].p = p;
    q->slot[at].aux = aux;
}

static WD_ALWAYS_INLINE void ring_put(wd_quarantine_t *q, void *p, uintptr_t aux) {
    ring_set(q, q->count, p, aux);
    q->count++;
}

/* Holds p, a small or medium block of n bytes requested (at most
 * max_block) and raw bytes in all, filled already (aux: see AUX_MEDIUM).  Once the bytes held
 * would pass the budget (or the ring is full), each push lets the oldest
 * go: the same branch every time in a steady program, whatever the sizes
 * (a loop "while over the budget" let go 0, 1 or 2 blocks at random, a
 * mispredicted branch every other free); a second one goes only while the
 * budget and an eighth would be passed, which blocks of at most an eighth
 * of it rarely reach.  So the ring holds at least the budget's worth of
 * the latest frees, as the loop did, and at most an eighth more. */
static WD_ALWAYS_INLINE void quarantine_push(wd_quarantine_t *q, void *p, size_t n, size_t raw,
                                             uintptr_t aux, const char *fn, head_are_fn are) {
    wd_theap_t *h = q->owner;
    quarantine_prefetch(q);
    /* One branch for both tests: near the ring's size, which of them
     * holds changes from one free to the next. */
    if (wd_likely((q->bytes + n > q->budget) | (q->count == QUARANTINE_SLOTS))) {
        size_t at = q->head;
        void *old = q->slot[at].p;
        uintptr_t oaux = q->slot[at].aux;
        if (wd_likely((oaux & AUX_TAGS) == 0)) {
            /* The steady state: a small block leaves, p takes its place
             * in the counts, which are written once. */
            wd_page_t *pg = (wd_page_t *)oaux;
            ring_set(q, q->count, p, aux);
            q->head = ring_at(at + 1);
            h->held_small += raw - pg->block_size;
            q->bytes += n - word_size(small_leaves(h, pg, old, fn, are));
            while (wd_unlikely(q->bytes > q->high))
                quarantine_evict_more(q, fn);
            return;
        }
        quarantine_evict(q, fn, are);
        while (wd_unlikely(q->bytes + n > q->high))
            quarantine_evict_more(q, fn);
    }
    ring_put(q, p, aux);
    q->bytes += n;
    h->held_small += raw;
}

/* The oldest large block leaves: checked, then back to the large tier. */
static void quarantine_evict_large(wd_quarantine_t *q, const char *fn) {
    size_t at = q->large_head;
    void *p = q->big[at].p;
    size_t raw = q->big[at].raw;
    q->large_head = (at + 1) & (WDI_QUARANTINE_LARGE - 1);
    q->large--;
    q->owner->held_large -= raw;
    uint64_t word = quarantined_check(p, raw, fn, wdi_bytes_head_are);
    wdi_raw_free((uint8_t *)p - word_front(word), fn);
}

/* Holds p, a large block of raw bytes (at most WDI_QUARANTINE_LARGE_BYTES),
 * filled already, in the large blocks' ring: under bounds of its own
 * (WDI_QUARANTINE_LARGE blocks and bytes), its oldest going first.  The
 * small blocks' ring is not touched. */
WD_NOINLINE static void quarantine_push_large(wd_quarantine_t *q, void *p, size_t raw,
                                              const char *fn) {
    wd_theap_t *h = q->owner;
    while (q->large == WDI_QUARANTINE_LARGE || h->held_large + raw > WDI_QUARANTINE_LARGE_BYTES)
        quarantine_evict_large(q, fn);
    size_t at = (q->large_head + q->large) & (WDI_QUARANTINE_LARGE - 1);
    q->big[at].p = p;
    q->big[at].raw = raw;
    q->large++;
    h->held_large += raw;
}

/* The usable size of the raw block of p (front bytes before it), live and
 * checked: for a small one, its page's block size. */
static inline size_t raw_size(wd_region_t *r, void *p, size_t front, const char *fn) {
    uint8_t *raw = (uint8_t *)p - front;
    if (wd_likely(r->kind == WD_KIND_SMALL))
        return wdi_page_of((wd_small_segment_t *)r, raw)->block_size;
    return wdi_raw_usable_known(raw, fn);
}

/* Marks the prefix of a live block (its word and tag checked) freed. */
static WD_ALWAYS_INLINE void prefix_free(prefix_t *pre, uint64_t word, uint64_t tag) {
    pre->word = word | FREED;
    pre->tag = tag ^ freed_key; /* == tag_freed(p, word | FREED) */
}

/* A block that passed its checks goes: into the quarantine, filled (see
 * fill_len), when it is small enough (a small or medium request of at most
 * max_block, a large raw block of at most WDI_QUARANTINE_LARGE_BYTES: a
 * bigger one would pass the bound alone); else back to its tier at once. */
static void block_retire(void *p, prefix_t *pre, wd_region_t *r, const char *fn) {
    uint64_t word = pre->word; /* checked live by the caller */
    prefix_free(pre, word, pre->tag);
    size_t front = word_front(word);
    wd_quarantine_t *q = quarantine_mine();
    if (wd_unlikely(q == NULL)) {
        raw_release(wdi_tl_home, (uint8_t *)p - front, fn);
        return;
    }
    size_t raw = raw_size(r, p, front, fn);
    if (wd_unlikely(r->kind == WD_KIND_LARGE)) {
        if (raw > WDI_QUARANTINE_LARGE_BYTES) {
            raw_release(q->owner, (uint8_t *)p - front, fn);
            return;
        }
        wdi_bytes_head_fill(p, fill_len(raw, front), PATTERN);
        quarantine_push_large(q, p, raw, fn);
    } else if (wd_likely(word_size(word) <= q->max_block)) {
        uintptr_t aux = r->kind == WD_KIND_SMALL
                            ? (uintptr_t)wdi_page_of((wd_small_segment_t *)r, (uint8_t *)p - front)
                            : aux_of(raw, AUX_MEDIUM);
        wdi_bytes_head_fill(p, fill_len(raw, front), PATTERN);
        quarantine_push(q, p, word_size(word), raw, aux, fn, wdi_bytes_head_are);
    } else {
        raw_release(q->owner, (uint8_t *)p - front, fn);
    }
}

void wdi_hard_heap_exit(wd_theap_t *h) {
    wd_quarantine_t *q = h->quarantine;
    if (q == NULL)
        return;
    while (q->count > 0)
        quarantine_evict_more(q, "free");
    while (q->large > 0)
        quarantine_evict_large(q, "free");
}

static void quarantine_verify(wd_theap_t *h, void *arg) {
    (void)arg;
    wd_quarantine_t *q = h->quarantine;
    if (q == NULL || (!h->abandoned && h != wdi_tl_home))
        return; /* a live thread's quarantine is its own to read */
    for (size_t i = 0; i < q->count; i++) {
        size_t at = ring_at(q->head + i);
        quarantined_check(q->slot[at].p, aux_raw(q->slot[at].aux), "exit", wdi_bytes_head_are);
    }
    for (size_t i = 0; i < q->large; i++) {
        size_t at = (q->large_head + i) & (WDI_QUARANTINE_LARGE - 1);
        quarantined_check(q->big[at].p, q->big[at].raw, "exit", wdi_bytes_head_are);
    }
}

void wdi_hard_at_exit(void) { wdi_heaps_foreach(quarantine_verify, NULL); }

/* --- the malloc family ------------------------------------------------------ */

/* Any block, through the tiers' interface. */
WD_NOINLINE static void *hard_alloc_raw(size_t alignment, size_t size, int zero) {
    size_t front = alignment > PREFIX ? alignment : PREFIX;
    if (wd_unlikely(size >= SIZE_MAX_HARD || front >= SIZE_MAX_HARD)) {
        errno = ENOMEM;
        return NULL;
    }
    uint8_t *raw = wdi_raw_alloc(alignment, front + size + TAIL, zero);
    if (raw == NULL)
        return NULL;
    void *p = raw + front;
    block_seal(p, size, front);
    return p;
}

/* The block a small raw block gives the program, sealed. */
static WD_ALWAYS_INLINE void *small_sealed(uint8_t *raw, size_t size) {
    void *p = raw + PREFIX;
    block_seal(p, size, PREFIX);
    return p;
}

/* hard_small's page had no free block: the heap refills it (NULL, with
 * errno set, when there is no memory; uncounted is then taken off h's
 * count of small blocks).  Out of line, so that the common path saves no
 * register. */
WD_NOINLINE static void *hard_small_refill(wd_theap_t *h, unsigned cls, size_t size,
                                           size_t uncounted) {
    uint8_t *raw = wdi_heap_refill(h, cls);
    if (wd_unlikely(raw == NULL)) {
        h->small.allocs_base -= uncounted;
        errno = ENOMEM;
        return NULL;
    }
    return small_sealed(raw, size);
}

/* A small block from h's pages, as malloc's fast path takes one at level
 * 1: the class of prefix + request + tail.  Not counted here; when there
 * is no memory, uncounted is taken off the count. */
static WD_ALWAYS_INLINE void *hard_small(wd_theap_t *h, size_t size, size_t uncounted) {
    unsigned cls = wdi_small_class(size + PREFIX + TAIL);
    wd_page_t *pg = h->small.current[cls];
    wd_block_t *b = pg->free;
    if (wd_unlikely(b == NULL))
        return hard_small_refill(h, cls, size, uncounted);
    uint8_t *raw = wdi_page_pop(pg, b);
    /* The next malloc of the class pops the block now first: at this level
     * it came back from the quarantine, often of another thread, long
     * after it was last written, and its link is read before anything
     * else can go on (most of this function's time on server and
     * server_sized).  Asked for now, it arrives while the program works. */
    __builtin_prefetch(pg->free);
    return small_sealed(raw, size);
}

void *wdi_hard_malloc(wd_theap_t *h, size_t size) {
    if (wd_likely(size <= SMALL_FAST))
        return hard_small(h, size, 1); /* if it fails: not handed out after all */
    /* Not a small block: allocs_base moves as the countdown did, so the
     * count of small blocks stays (as api.c's slow paths keep it). */
    h->small.allocs_base--;
    return hard_alloc_raw(PREFIX, size, 0);
}

/* Small requests without an alignment of their own (nearly all) are taken
 * from the calling thread's pages here. */
void *wdi_hard_alloc(size_t alignment, size_t size, int zero) {
    wd_theap_t *h = wdi_tl_home;
    if (wd_likely(alignment <= PREFIX && size <= SMALL_FAST && h != NULL)) {
        void *p = hard_small(h, size, 0);
        if (wd_unlikely(p == NULL))
            return NULL;
        h->small.allocs_base++; /* counted, without moving the sampler's countdown */
        if (zero)
            memset(p, 0, size);
        return p;
    }
    return hard_alloc_raw(alignment, size, zero);
}

void wdi_hard_free(void *p, const char *fn) {
    wd_region_t *r;
    prefix_t *pre = block_live(p, &r, fn);
    block_retire(p, pre, r, fn);
}

/* The tail canary of p, a small block of raw bytes from p - PREFIX, lies
 * near the raw block's end: the request's class is the raw size's, so the
 * request is at most the class's spacing below it.  Its lines are asked
 * for before the prefix is read: the tail's address depends on the
 * prefix, and a block freed long after it was written (a random one of a
 * program's table) otherwise waits for one cache miss after the other. */
static WD_ALWAYS_INLINE void tail_prefetch(const void *p, size_t raw) {
    const uint8_t *last = (const uint8_t *)p - PREFIX + raw - TAIL;
    __builtin_prefetch(last);
    __builtin_prefetch(last - 64);
}

/* free of p in pg, a page of a small segment (api.c found both): the
 * checks of block_live and the work of block_retire for the common case,
 * a live block whose thread has a quarantine, without asking the segment
 * map or the tiers again.  Anything else, misuse included, takes
 * wdi_hard_free, which reports it as it always did.  Built twice, on the
 * fill and the check of bytes_head.h inline: for AVX2 and for the
 * baseline (30 instructions a malloc/free pair less than two calls through
 * bytes.h's pointers, on small_loop). */
static WD_ALWAYS_INLINE void hard_free_small(wd_page_t *pg, void *p, const char *fn,
                                             head_fill_fn fill, head_are_fn are) {
    uintptr_t off = (uintptr_t)p & (WD_SEGMENT_SIZE - 1);
    /* The prefix is readable: in the segment, below its guard. */
    if (wd_unlikely(((uintptr_t)p & 15) != 0 ||
                    off - PREFIX > WD_SEGMENT_SIZE - WD_SEGMENT_GUARD - PREFIX))
        goto slow;
    tail_prefetch(p, pg->block_size);
    prefix_t *pre = prefix_of(p);
    uint64_t word = pre->word, tag = pre->tag, tail;
    if (wd_unlikely((word & FREED) != 0 || tag != tag_live(p, word)))
        goto slow;
    memcpy(&tail, (const uint8_t *)p + word_size(word), TAIL);
    wd_theap_t *h = wdi_tl_home;
    if (wd_unlikely(tail != tag || h == NULL))
        goto slow;
    wd_quarantine_t *q = h->quarantine;
    size_t raw = pg->block_size, front = word_front(word);
    if (wd_unlikely(q == NULL)) {
        if (wdi_options.quarantine_kb != 0)
            goto slow; /* not mapped yet */
        prefix_free(pre, word, tag); /* quarantine_kb=0: back at once */
        raw_release(h, (uint8_t *)p - front, fn);
        return;
    }
    size_t n = word_size(word);
    if (wd_unlikely(n > q->max_block))
        goto slow;
    prefix_free(pre, word, tag);
    fill(p, fill_len(raw, front), PATTERN);
    quarantine_push(q, p, n, raw, (uintptr_t)pg, fn, are);
    return;
slow:
    wdi_hard_free(p, fn);
}

WD_NOINLINE static void hard_free_small_base(wd_page_t *pg, void *p, const char *fn) {
    hard_free_small(pg, p, fn, wdi_head_fill_generic, wdi_head_are_generic);
}

#if WD_BYTES_AVX2
WD_NOINLINE __attribute__((target("avx2"))) static void hard_free_small_avx2(wd_page_t *pg,
                                                                              void *p,
                                                                              const char *fn) {
    hard_free_small(pg, p, fn, wdi_head_fill_avx2, wdi_head_are_avx2);
}
#endif

void wdi_hard_free_small(wd_page_t *pg, void *p, const char *fn) {
#if WD_BYTES_AVX2
    if (wd_likely(wdi_bytes_avx2)) {
        hard_free_small_avx2(pg, p, fn);
        return;
    }
#endif
    hard_free_small_base(pg, p, fn);
}

size_t wdi_hard_usable(const void *p, const char *fn) {
    wd_region_t *r;
    return word_size(block_live(p, &r, fn)->word);
}

void wdi_hard_free_sized(void *p, size_t alignment, size_t size, const char *fn) {
    wd_region_t *r;
    prefix_t *pre = block_live(p, &r, fn);
    if (alignment != 0 && (alignment > PREFIX ? alignment : PREFIX) != word_front(pre->word))
        wdi_fatal("free_aligned_sized with a wrong alignment", p, fn);
    if (size != word_size(pre->word))
        wdi_fatal(alignment ? "free_aligned_sized with a wrong size" : "free_sized with a wrong size",
                  p, fn);
    block_retire(p, pre, r, fn);
}

/* In place while the new size fits the raw block and uses at least half of
 * it; else moved, so that a stale pointer to the old block is caught. */
void *wdi_hard_realloc(void *p, size_t size) {
    wd_region_t *r;
    prefix_t *pre = block_live(p, &r, "realloc");
    size_t n = word_size(pre->word), front = word_front(pre->word);
    if (wd_unlikely(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    /* From the region block_live found (a small block's page, as free's
     * path reads it), not a second look-up and check of the tier's: the
     * keyed prefix proves a live block this level handed out. */
    size_t raw = raw_size(r, p, front, "realloc");
    if (front + size + TAIL <= raw && 2 * (front + size + TAIL) >= raw) {
        block_seal(p, size, front);
        return p;
    }
    void *q = wdi_hard_alloc(PREFIX, size, 0);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, n < size ? n : size);
    block_retire(p, pre, r, "realloc");
    return q;
}
