/* heap.c -- the classic heap: ranges with a header, merged at once when free,
 * found in O(1) through segregated free lists and a two-level bitmap (TLSF).
 *
 * Owns: the layout of a wd_heap inside caller memory and every check of its
 * metadata.  Calls: platform.h (the fatal report, the per-heap secret,
 * whether to talk to valgrind), valgrind's client requests when built with
 * them.  Never allocates.
 *
 * Usable alone: compiled with -DWD_HEAP_FREESTANDING this file needs only
 * include/warden/heap.h, <stddef.h>, <stdint.h> and memset/memcpy; the
 * program then supplies wd_heap_fatal() and a seed (docs/heap.md,
 * "Building the heap alone").
 *
 * Memory of a heap, low to high addresses:
 *
 *   [ control block | range | range | ... | range | end marker ]
 *     struct wd_heap  each: 16-byte header + payload   16-byte header,
 *     + bitmaps + list heads (sized to the heap)        always "allocated"
 *
 * A range header is two words:
 *   tag  = checksum (32 bits, first) and previous range's size / 16 (32
 *          bits): on a little-endian machine prev << 32 | checksum
 *   info = allocated << 63 | range size in bytes (header included)
 * `info` is the word the seed's log prints.  The previous size is the
 * boundary tag that lets free() find its left neighbour in O(1).  The
 * checksum covers the header's address and `info` (keyed by a per-heap
 * secret): a header the heap acts on (the block being freed, a neighbour it
 * merges, a range it takes from a list) must hold, so an overwritten or
 * forged header aborts instead of being followed.  The boundary tag is
 * left out of the checksum so that a split or a merge rewrites it with one
 * store: it is trusted only as far as the left neighbour's own `info`
 * agrees with it (the size must match, and a free neighbour's header must
 * hold before it is merged).
 *
 * The top is the last range when it is free (the whole heap after init),
 * kept out of the lists: malloc carves from it when no class has a good
 * fit, free merges into it with no list work (range_take_top).  The end
 * marker says free and 0 bytes (END_INFO), so that freeing the last range
 * takes the merging path, which makes it the top.
 *
 * A listed free range holds its two list links in one word of its payload,
 * stored encoded (safe-linking style: XOR with a secret and the word's
 * address), so bytes written into a freed block never decode to usable
 * links.
 *
 * Invariants (wd_heap_check verifies every one):
 *   - ranges tile [first, end) exactly; sizes are multiples of 16, >= 32;
 *   - every header's checksum matches and its prev size is its left
 *     neighbour's size (0 for the first range);
 *   - no two free ranges touch (merging is immediate);
 *   - each free range but the top is in exactly the list of its size
 *     class, and a list's bit is set in the bitmaps exactly when the list
 *     is not empty; the top (h->top; none at -Os) is the last range when
 *     that is free, and in no list;
 *   - used + free bytes == end - first; counters match the ranges.
 *
 * Bounded work: malloc, free, realloc and memalign contain no loop at all
 * (memcpy and memset of the caller's bytes aside).  malloc checks at most
 * one header and follows at most four links; free checks at most three
 * headers and follows at most eight links (test_heap_bound).  Only
 * the abort path (diagnose) and the inspection calls (check, walk, dump)
 * visit every range.
 */
#ifdef WD_HEAP_FREESTANDING
#include "warden/heap.h"
#else
#include "classic/heap.h"

#include <errno.h>
#include <stdio.h>

#include "classic/platform.h"
#endif

#include <stddef.h>
#include <stdint.h>

#if defined(WD_HAVE_VALGRIND) && !defined(WD_HEAP_FREESTANDING)
#include <valgrind/memcheck.h>
#define HEAP_VALGRIND 1
#else
#define HEAP_VALGRIND 0
#endif

/* ---------------------------------------------------------------------------
 * What the heap needs from its platform: the warden build asks platform.c;
 * the freestanding build asks the program (wd_heap_fatal) and has no errno.
 * ------------------------------------------------------------------------- */

#define heap_likely(x)   __builtin_expect(!!(x), 1)
#define heap_unlikely(x) __builtin_expect(!!(x), 0)
#define HEAP_COLD        __attribute__((cold, noinline, noreturn))
#define HEAP_NOINLINE    __attribute__((noinline))
/* A cold report that the hot path calls last, so that the call is a jump
 * and the hot path needs no stack frame.  It never returns, but must not
 * be known not to: a call to a noreturn function is never a jump (gcc
 * finds out by itself unless told noipa). */
#if defined(__GNUC__) && !defined(__clang__)
#define HEAP_TAIL static __attribute__((cold, noinline, noipa))
#else
#define HEAP_TAIL static __attribute__((cold, noinline))
#endif
/* x, its value kept, with where it came from hidden from the compiler (no
 * instruction): for a choice the compiler makes worse when it knows. */
#define HEAP_OPAQUE(x) __asm__("" : "+r"(x))
/* The hot path is inlined into each entry at -O2 (calls and their saved
 * registers were a fifth of a malloc/free pair); at -Os the compiler
 * chooses, for size. */
#ifdef __OPTIMIZE_SIZE__
#define HEAP_HOT static inline
#define HEAP_SWAP 0 /* -Os: no list_swap; a range that keeps its class is relisted */
#define HEAP_TOP 0  /* -Os: no top range; every free range is listed */
#define HEAP_LEAF static __attribute__((noinline)) /* -Os: one copy of each small helper */
#define HEAP_MERGE HEAP_HOT
#define HEAP_SHARED static __attribute__((noinline)) /* -Os: one copy of code two paths share */
#else
#define HEAP_LEAF static inline
#define HEAP_SWAP 1
#define HEAP_TOP 1
#define HEAP_HOT static inline __attribute__((always_inline))
#define HEAP_MERGE static __attribute__((noinline)) /* free's rarer half, tail-called */
#define HEAP_SHARED HEAP_HOT
#endif

/* The public entries' names, as misuse reports print them. */
static const char fn_malloc[] = "wd_heap_malloc";
static const char fn_free[] = "wd_heap_free";

#ifdef WD_HEAP_FREESTANDING
#define heap_set_errno(e) ((void)0)
#define HEAP_INTERNAL static
HEAP_COLD static void heap_fatal(const char *what, const void *addr, const char *fn) {
    wd_heap_fatal(what, addr, fn);
    __builtin_trap(); /* wd_heap_fatal must not return; if it does, stop here */
}
static const char *heap_freed_what(const char *fn) {
    return fn == fn_free ? "double free" : "use after free";
}
static void *wdi_heap_malloc(wd_heap_t *h, size_t size, const char *fn);
static void *wdi_heap_memalign(wd_heap_t *h, size_t alignment, size_t size, const char *fn);
static void *wdi_heap_realloc(wd_heap_t *h, void *p, size_t size, const char *fn);
static void wdi_heap_free(wd_heap_t *h, void *p, const char *fn);
static size_t wdi_heap_usable_size(wd_heap_t *h, const void *p, const char *fn);
#else
#define heap_set_errno(e) (errno = (e))
#define HEAP_INTERNAL
#define heap_fatal wdi_heap_fatal
#define heap_freed_what wdi_heap_freed_what
#endif

/* Work counters, only in a build made to count them (the bounded-work test
 * compiles this file with -DWD_HEAP_COUNT_WORK): headers verified, headers
 * written, links decoded. */
#ifdef WD_HEAP_COUNT_WORK
struct wd_heap_work { unsigned long verified, written, links; } wd_heap_work;
#define WORK(field) (wd_heap_work.field++)
#else
#define WORK(field) ((void)0)
#endif

/* ---------------------------------------------------------------------------
 * Geometry
 * ------------------------------------------------------------------------- */

#define ALIGN        ((size_t)16)   /* every payload, every range size */
#define HDR          ((size_t)16)   /* range header bytes */
#define MIN_RANGE    ((size_t)32)   /* header + the link word of a free range, rounded */
/* The least rest split off a listed range (range_take; the top's rest is
 * split down to MIN_RANGE).  A 32-byte rest, a 16-byte payload, stays with
 * the block: few requests fit such a sliver, and every free beside one
 * merges (an unlink and a relisting).  In the random mix of
 * bench/heap_cost.c this took the frees that merge from 26 % to 20 %. */
#define MIN_SPLIT    ((size_t)48)
#define SL_LOG2      4u             /* 16 second-level lists per power of two */
#define SL_COUNT     (1u << SL_LOG2)
#define SMALL_LIMIT  ((size_t)1 << (SL_LOG2 + 4)) /* below: exact 16-byte classes */
#define FL_SHIFT     7u             /* fl of size 256 is 1; fl 0 is the small sizes */
#define MAX_HEAP     ((size_t)1 << 36) /* 64 GiB: offsets fit 32 bits of 16-byte units */
#define ALLOC_BIT    ((uint64_t)1 << 63)
/* The end marker's info: free and 0 bytes, so that freeing the last range
 * takes free's merging path, where it becomes the top, at no cost to the
 * common path, and merges with nothing; at -Os, which has no top,
 * allocated. */
#define END_INFO     (HEAP_TOP ? (uint64_t)0 : ALLOC_BIT)
#define HEAP_MAGIC   0x77617264656e6870ULL /* "wardenhp" */

/* The tag is two 32-bit halves, so that a checksum or a boundary tag is
 * rewritten with one store and no read (on a little-endian machine the
 * two halves read as one word: prev << 32 | sum). */
typedef struct range_hdr {
    uint32_t sum;  /* the checksum */
    uint32_t prev; /* the boundary tag: the previous range's size / 16 */
    uint64_t info;
} range_t;


/* The control block.  Its tail (`lists`) holds, per first level, its
 * second-level bitmap followed by its SL_COUNT list heads, each a 32-bit
 * offset from the control block in 16-byte units (0 = empty), so a 4 KiB
 * heap spends about 400 bytes on it and a 1 GiB heap under 2 KiB; a
 * list's place needs no load of fl_count.  The fields malloc and free
 * read come first: one cache line. */
struct wd_heap {
    uint64_t secret;     /* checksum key */
    uint64_t link_key;   /* free-list link encoding key */
    size_t first_off;    /* the first range's header, in 16-byte units from the
                          * control block (an offset: never a block's address,
                          * which would hide a leak of that block from memcheck) */
    size_t gate;         /* (end marker - first range) / 16 - 1: a header r can be
                          * a block's only when (r - first range) / 16 < gate; 0
                          * when the heap talks to valgrind (heap_free's compare) */
    uint64_t fl_bitmap;  /* bit fl set: some list of first level fl is not empty */
    size_t used;         /* bytes of allocated ranges */
    size_t peak;         /* highest `used` */
    size_t fast_lim;     /* requests below this size have a list level: malloc's
                          * fast path needs no other bound (fast_max_of, + 1); 0
                          * when the heap talks to valgrind (heap_malloc's compare) */
    uint32_t nalloc;     /* allocated ranges (at most 2^31 in 64 GiB) */
    uint32_t nranges;    /* allocated ranges and listed free ranges (all but the
                          * top): a free that merges with nothing, a malloc that
                          * takes a listed range whole leave it as it is */
    size_t heap_size;    /* bytes given to wd_heap_init (capped) */
    uint64_t magic;      /* HEAP_MAGIC ^ address: tells a heap from garbage */
    uint32_t fl_count;   /* first levels this heap needs */
    uint32_t end_off;    /* the end marker's offset: every link is below it */
    uint8_t vg;          /* decided at init: report blocks to valgrind */
    uint32_t top;        /* the top range's offset (0: none), see range_take_top */
    uint32_t lists[];    /* sl bitmaps, then heads (see above) */
};

/* What every check needs: the heap, whose keys are read where they are
 * used.  A load folded into the instruction that uses it costs nothing
 * more than a register; keeping the keys in registers across a call cost
 * spills and saved registers instead. */
typedef struct heap_keys {
    const wd_heap_t *h;
} keys_t;

static inline keys_t heap_keys(const wd_heap_t *h) {
    keys_t k = {h};
    return k;
}
/* The first range's header and the end marker's. */
static inline uint8_t *heap_first(const wd_heap_t *h) {
    return (uint8_t *)(uintptr_t)h + (h->first_off << 4);
}
static inline uint8_t *heap_end(const wd_heap_t *h) {
    return (uint8_t *)(uintptr_t)h + ((size_t)h->end_off << 4);
}
/* Bytes from the first range's header to the end marker's, less a header:
 * a header r can be a block's only when r - first is below it. */
static inline size_t heap_span(const wd_heap_t *h) {
    return (size_t)(heap_end(h) - heap_first(h)) - HDR;
}

/* ---------------------------------------------------------------------------
 * Headers
 * ------------------------------------------------------------------------- */

static inline size_t info_size(uint64_t info) { return (size_t)(info & ~ALLOC_BIT); }
static inline int info_allocated(uint64_t info) { return (info & ALLOC_BIT) != 0; }
static inline range_t *range_at(uint8_t *addr) { return (range_t *)(void *)addr; }
static inline uint8_t *range_addr(range_t *r) { return (uint8_t *)r; }
static inline range_t *range_plus(range_t *r, size_t n) { return range_at(range_addr(r) + n); }
static inline void *range_payload(range_t *r) { return range_addr(r) + HDR; }
static inline range_t *range_of(const void *p) { return range_at((uint8_t *)(uintptr_t)p - HDR); }
static inline size_t range_prev_size(const range_t *r) { return (size_t)r->prev << 4; }

/* 32-bit keyed checksum of a header's address and info word.  x, the
 * address XOR the per-heap secret, is unknown without the secret.  info is
 * rotated so that the allocated bit lands at bit 0, mixed into x and
 * multiplied by x itself: changing any bit of info, or moving the header
 * to another address, moves the product by an amount that depends on the
 * unknown x, so the top half cannot be predicted from headers one has read
 * (a constant multiplier would let anyone flip the allocated bit by
 * flipping one known bit of the checksum).  One multiply. */
static inline uint64_t sum_key(keys_t k, const range_t *r) {
    return (uint64_t)(uintptr_t)r ^ k.h->secret; /* odd: see wd_heap_init_seeded */
}
static inline uint64_t sum_product(uint64_t x, uint64_t info) {
    uint64_t v = info << 1 | info >> 63;
    return (x ^ v) * x;
}
/* sum_product of an allocated info of `size` bytes: rotated, it is
 * size << 1 | 1 (one lea from the size, where the rotation needs a copy). */
static inline uint64_t sum_product_of_allocated(uint64_t x, size_t size) {
    return (x ^ ((uint64_t)size << 1 | 1)) * x;
}
static inline uint32_t sum_of(uint64_t product) { return (uint32_t)(product >> 32); }
HEAP_LEAF uint32_t range_sum(keys_t k, const range_t *r, uint64_t info) {
    return sum_of(sum_product(sum_key(k, r), info));
}
/* Flipping the allocated bit of a header whose product is known costs one
 * add: with A set, v = size << 1 | 1, and x ^ v is x ^ (size << 1) less 1
 * (x is odd, so x ^ (size << 1) is odd too); so the product of the free
 * header is the allocated one's plus x, and the other way round. */
static inline uint64_t sum_product_freed(uint64_t x, uint64_t allocated_product) {
    return allocated_product + x;
}
static inline uint64_t sum_product_allocated(uint64_t x, uint64_t free_product) {
    return free_product - x;
}

static inline void range_write(keys_t k, range_t *r, uint64_t info, size_t prev_size) {
    WORK(written);
    r->sum = range_sum(k, r, info);
    r->prev = (uint32_t)(prev_size >> 4);
    r->info = info;
}

/* Rewrites info, keeping the boundary tag. */
static inline void range_rewrite(keys_t k, range_t *r, uint64_t info) {
    WORK(written);
    r->sum = range_sum(k, r, info);
    r->info = info;
}

/* Rewrites the boundary tag alone: the checksum does not cover it. */
static inline void range_set_prev(range_t *r, size_t prev_size) {
    r->prev = (uint32_t)(prev_size >> 4);
}

/* Whether r's header holds for `info` (read by the caller). */
static inline int range_holds(keys_t k, range_t *r, uint64_t info) {
    WORK(verified);
    return r->sum == range_sum(k, r, info);
}

/* ---------------------------------------------------------------------------
 * Size classes (TLSF mapping)
 * ------------------------------------------------------------------------- */

/* 63 ^ clz, not 63 - clz: the same for x > 0, and one bsr on x86-64. */
static inline unsigned log2_floor(size_t x) { return (unsigned)__builtin_clzll(x) ^ 63u; }

/* The class that a range of `size` bytes is listed in. */
HEAP_LEAF void class_of(size_t size, unsigned *fl, unsigned *sl) {
    if (size < SMALL_LIMIT) {
        *fl = 0;
        *sl = (unsigned)(size >> 4);
    } else {
        unsigned f = log2_floor(size);
        *sl = (unsigned)(size >> (f - SL_LOG2)) - SL_COUNT;
        *fl = f - FL_SHIFT;
    }
}

/* The first class whose every range is >= size ("good fit"): size rounded
 * up to the next class boundary, then mapped, with one bit scan: t is size
 * in units of its class width, rounded up (16..32; 32 is the next power). */
static inline void class_above(size_t size, unsigned *fl, unsigned *sl) {
    if (size < SMALL_LIMIT) { /* exact classes: size is a multiple of 16 */
        class_of(size, fl, sl);
        return;
    }
    unsigned f = log2_floor(size), shift = f - SL_LOG2;
    size_t t = (size + ((size_t)1 << shift) - 1) >> shift;
    *fl = f - FL_SHIFT + (unsigned)(t >> (SL_LOG2 + 1));
    *sl = (unsigned)t & (SL_COUNT - 1);
}

#define FL_STRIDE (1 + SL_COUNT) /* a first level's words in `lists` */
static inline uint32_t *sl_word(wd_heap_t *h, unsigned fl) { return &h->lists[fl * FL_STRIDE]; }
static inline uint32_t *list_head(wd_heap_t *h, unsigned fl, unsigned sl) {
    return &h->lists[fl * FL_STRIDE + 1 + sl];
}

static size_t control_size(uint32_t fl_count) {
    size_t bytes = sizeof(struct wd_heap) + (size_t)fl_count * (1 + SL_COUNT) * sizeof(uint32_t);
    return (bytes + ALIGN - 1) & ~(ALIGN - 1);
}

static uint32_t fl_count_for(size_t heap_bytes) {
    unsigned fl, sl;
    class_of(heap_bytes, &fl, &sl);
    return fl + 1;
}

/* The largest request whose range's good-fit class (class_above) is in a
 * level the heap has: the start of the last class of the last level, less
 * a header.  malloc's fast path compares a request with it and nothing
 * else (it is below MAX_HEAP, so the rounding cannot overflow). */
static size_t fast_max_of(uint32_t fl_count) {
    unsigned fl = fl_count - 1, sl = SL_COUNT - 1;
    size_t start = fl == 0 ? (size_t)sl << 4 : (size_t)(SL_COUNT + sl) << (fl + 3);
    return (start < MAX_HEAP ? start : MAX_HEAP) - HDR;
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

/* A free range's links: one word at the start of its payload, next in the
 * low half and prev in the high half, each the neighbour's offset from the
 * control block in 16-byte units (0: none), the word XOR-ed with the link
 * key and its range's address (safe-linking style: bytes written into a freed
 * block never decode to a usable link).  The encoding is an XOR, so one
 * half is changed in place without decoding the word. */
static inline uint64_t *links_of(range_t *r) { return (uint64_t *)range_payload(r); }

static inline uint64_t link_mask(keys_t k, const range_t *r) {
    return k.h->link_key ^ (uint64_t)(uintptr_t)r;
}

static inline uint64_t links_read(keys_t k, range_t *r) {
    WORK(links);
    return *links_of(r) ^ link_mask(k, r);
}

static inline void links_write(keys_t k, range_t *r, uint32_t next, uint32_t prev) {
    *links_of(r) = ((uint64_t)prev << 32 | next) ^ link_mask(k, r);
}

/* Changes r's next (half 0) or prev (half 32) from `from` to `to`. */
static inline void links_patch(range_t *r, unsigned half, uint32_t from, uint32_t to) {
    *links_of(r) ^= (uint64_t)(from ^ to) << half;
}
#define NEXT_HALF 0u
#define PREV_HALF 32u

/* The list functions count listed ranges (in nranges) by `count`: 1, or 0
 * in a caller that unlists one range and lists another, or turns a listed
 * range allocated or the other way round (one load and store of the count
 * saved). */

/* Lists free range r at the head of list (fl, sl). */
HEAP_HOT void list_push_n(wd_heap_t *h, keys_t k, range_t *r, unsigned fl, unsigned sl,
                          unsigned count) {
    uint32_t *head = list_head(h, fl, sl), old = *head, me = off_of(h, r);
    links_write(k, r, old, 0);
    if (old)
        links_patch(range_from_off(h, old), PREV_HALF, 0, me);
    else { /* the list was empty */
        *sl_word(h, fl) |= 1u << sl;
        h->fl_bitmap |= (uint64_t)1 << fl;
    }
    *head = off_of(h, r);
    if (!HEAP_SWAP || count) /* -Os: 1 always, a pair still nets 0 */
        h->nranges += HEAP_SWAP ? count : 1;
}
#define list_push(h, k, r, fl, sl) list_push_n(h, k, r, fl, sl, 1)

#if HEAP_SWAP
/* The place in `lists` of the head of a range's class (fl * FL_STRIDE + 1
 * + sl, as list_head), in one step: the bitmaps, which need fl and sl, are
 * only written when a list becomes non-empty. */
static inline unsigned list_index(size_t size) {
    if (size < SMALL_LIMIT)
        return 1 + (unsigned)(size >> 4);
    unsigned f = log2_floor(size);
    return f * FL_STRIDE + (unsigned)(size >> (f - SL_LOG2)) -
           (FL_SHIFT * FL_STRIDE + SL_COUNT - 1);
}

/* Lists free range r, whose offset is me (header already written), at the
 * head of its class. */
HEAP_HOT void list_insert_named(wd_heap_t *h, keys_t k, range_t *r, uint32_t me, size_t size,
                                unsigned count) {
    uint32_t *head = &h->lists[list_index(size)], old = *head;
    links_write(k, r, old, 0);
    if (old) {
        links_patch(range_from_off(h, old), PREV_HALF, 0, me);
    } else { /* the list was empty */
        unsigned fl, sl;
        class_of(size, &fl, &sl);
        *sl_word(h, fl) |= 1u << sl;
        h->fl_bitmap |= (uint64_t)1 << fl;
    }
    *head = me;
    if (!HEAP_SWAP || count) /* -Os: 1 always, a pair still nets 0 */
        h->nranges += HEAP_SWAP ? count : 1;
}
#define list_insert_n(h, k, r, size, count) list_insert_named(h, k, r, off_of(h, r), size, count)
#else /* -Os: one copy */
HEAP_HOT void list_insert_n(wd_heap_t *h, keys_t k, range_t *r, size_t size, unsigned count) {
    unsigned fl, sl;
    class_of(size, &fl, &sl);
    list_push_n(h, k, r, fl, sl, count);
}
#endif
#define list_insert(h, k, r, size) list_insert_n(h, k, r, size, 1)

HEAP_COLD static void list_corrupted(range_t *r, const char *fn) {
    heap_fatal("corrupted free list", range_payload(r), fn);
}

/* Clears the bits of list (fl, sl), which just became empty. */
static inline void list_emptied(wd_heap_t *h, unsigned fl, unsigned sl) {
    uint32_t map = *sl_word(h, fl) & ~(1u << sl);
    *sl_word(h, fl) = map;
    if (map == 0)
        h->fl_bitmap &= ~((uint64_t)1 << fl);
}

/* Whether range `off`, a list neighbour of r, is free and links back to r
 * (`half`: the half of its link word that must name r). */
HEAP_HOT int list_links_back(wd_heap_t *h, keys_t k, uint32_t off, unsigned half, uint32_t me) {
    range_t *n = range_from_off(h, off);
    return !info_allocated(n->info) && (uint32_t)(links_read(k, n) >> half) == me;
}

/* The list neighbours of listed free range r (offsets, 0: none), after
 * checking that both lie below the end marker, point back at r and are
 * free (links replayed into a freed block, or left in a live one, cannot
 * make an unlink write into a live block), and that only the head lacks a
 * predecessor. */
HEAP_HOT void list_neighbours(wd_heap_t *h, keys_t k, range_t *r, uint32_t *head,
                              uint32_t *pprev, uint32_t *pnext, const char *fn) {
    uint64_t v = links_read(k, r);
    uint32_t next = (uint32_t)v, prev = (uint32_t)(v >> 32), me = off_of(h, r);
    if (heap_unlikely(next >= h->end_off || prev >= h->end_off))
        list_corrupted(r, fn);
    if (prev) {
        if (heap_unlikely(*head == me || !list_links_back(h, k, prev, NEXT_HALF, me)))
            list_corrupted(r, fn);
    } else if (heap_unlikely(*head != me)) {
        list_corrupted(r, fn);
    }
    if (next && heap_unlikely(!list_links_back(h, k, next, PREV_HALF, me)))
        list_corrupted(r, fn);
    *pprev = prev;
    *pnext = next;
}

/* Unlists free range r, of class (fl, sl). */
HEAP_HOT void list_remove_n(wd_heap_t *h, keys_t k, range_t *r, unsigned fl, unsigned sl,
                            const char *fn, unsigned count) {
#if HEAP_SWAP /* each neighbour checked, then patched, its link word read once */
    uint32_t *head = list_head(h, fl, sl), me = off_of(h, r), end = h->end_off;
    uint64_t v = links_read(k, r);
    uint32_t next = (uint32_t)v, prev = (uint32_t)(v >> 32);
    if (heap_unlikely(next >= end || prev >= end))
        list_corrupted(r, fn);
    if (prev) {
        range_t *p = range_from_off(h, prev);
        uint64_t w = *links_of(p);
        WORK(links);
        if (heap_unlikely(*head == me || info_allocated(p->info) ||
                          (uint32_t)(w ^ link_mask(k, p)) != me))
            list_corrupted(r, fn);
        *links_of(p) = w ^ (me ^ next);
    } else {
        if (heap_unlikely(*head != me))
            list_corrupted(r, fn);
        *head = next;
        if (next == 0)
            list_emptied(h, fl, sl);
    }
    if (next) {
        range_t *n = range_from_off(h, next);
        uint64_t w = *links_of(n);
        WORK(links);
        if (heap_unlikely(info_allocated(n->info) ||
                          (uint32_t)((w ^ link_mask(k, n)) >> 32) != me))
            list_corrupted(r, fn);
        *links_of(n) = w ^ (uint64_t)(me ^ prev) << 32;
    }
#else
    uint32_t *head = list_head(h, fl, sl), prev, next, me = off_of(h, r);
    list_neighbours(h, k, r, head, &prev, &next, fn);
    if (prev) {
        links_patch(range_from_off(h, prev), NEXT_HALF, me, next);
    } else {
        *head = next;
        if (next == 0)
            list_emptied(h, fl, sl);
    }
    if (next)
        links_patch(range_from_off(h, next), PREV_HALF, me, prev);
#endif
    if (!HEAP_SWAP || count) /* no load and store back of the count when it is 0 */
        h->nranges -= HEAP_SWAP ? count : 1;
}
#define list_remove(h, k, r, fl, sl, fn) list_remove_n(h, k, r, fl, sl, fn, 1)

/* Puts `to` in listed range r's place in list (fl, sl): what a split or a
 * merge does when the range keeps its class, without touching the bitmaps
 * or the count. */
HEAP_HOT void list_swap(wd_heap_t *h, keys_t k, range_t *r, range_t *to, unsigned fl,
                        unsigned sl, const char *fn) {
    uint32_t *head = list_head(h, fl, sl), prev, next, me = off_of(h, r), you = off_of(h, to);
    list_neighbours(h, k, r, head, &prev, &next, fn);
    links_write(k, to, next, prev);
    if (prev)
        links_patch(range_from_off(h, prev), NEXT_HALF, me, you);
    else
        *head = you;
    if (next)
        links_patch(range_from_off(h, next), PREV_HALF, me, you);
}

#if HEAP_SWAP
/* The list successor of r, the head of its list (offset, 0: none), with
 * list_neighbours' checks, which for a head are fewer: it has no
 * predecessor.  malloc takes ranges from list heads only. */
HEAP_HOT uint32_t list_head_next(wd_heap_t *h, keys_t k, range_t *r, const char *fn) {
    uint64_t v = links_read(k, r);
    uint32_t next = (uint32_t)v;
    if (heap_unlikely(v >= h->end_off || /* prev is 0 and next below the end */
                      (next && !list_links_back(h, k, next, PREV_HALF, off_of(h, r)))))
        list_corrupted(r, fn);
    return next;
}

/* Unlists r, the head of list (fl, sl). */
HEAP_HOT void list_pop_n(wd_heap_t *h, keys_t k, range_t *r, unsigned fl, unsigned sl,
                         const char *fn, unsigned count) {
    uint32_t next = list_head_next(h, k, r, fn);
    *list_head(h, fl, sl) = next;
    if (next)
        links_patch(range_from_off(h, next), PREV_HALF, off_of(h, r), 0);
    else
        list_emptied(h, fl, sl);
    if (!HEAP_SWAP || count) /* no load and store back of the count when it is 0 */
        h->nranges -= HEAP_SWAP ? count : 1;
}
#define list_pop(h, k, r, fl, sl, fn) list_pop_n(h, k, r, fl, sl, fn, 1)

/* Puts `to` in the place of r, the head of list (fl, sl). */
HEAP_HOT void list_swap_head(wd_heap_t *h, keys_t k, range_t *r, range_t *to, unsigned fl,
                             unsigned sl, const char *fn) {
    uint32_t next = list_head_next(h, k, r, fn), you = off_of(h, to);
    links_write(k, to, next, 0);
    *list_head(h, fl, sl) = you;
    if (next)
        links_patch(range_from_off(h, next), PREV_HALF, off_of(h, r), you);
}
#else /* -Os: one unlink for every case */
#define list_pop_n(h, k, r, fl, sl, fn, count) list_remove_n(h, k, r, fl, sl, fn, count)
#define list_pop(h, k, r, fl, sl, fn) list_remove(h, k, r, fl, sl, fn)
#endif

/* Where to take a range of at least `need` bytes from: list (fl, sl).
 * Good fit: the first non-empty class at or above class_above(need), where
 * every range is big enough -- two bit scans.  When there is none, the
 * head of need's own class is the one candidate left that may be big
 * enough (it is the only range of that class in a heap that is nearly
 * full or freshly made); it is looked at, never the rest of its list.  So
 * malloc never walks: a request larger than every class start may fail
 * while a range of its own class that is not the head could hold it.
 * Returns 0 when there is nothing to look at, 1 for a good fit, 2 for a
 * head that may be too small. */
HEAP_HOT int list_find(wd_heap_t *h, size_t need, unsigned *pfl, unsigned *psl) {
    unsigned fl, sl;
    class_above(need, &fl, &sl);
    uint32_t sl_map = fl < h->fl_count ? *sl_word(h, fl) & (~0u << sl) : 0;
    if (heap_unlikely(sl_map == 0)) {
        uint64_t fl_map = h->fl_bitmap & (~(uint64_t)1 << fl); /* levels above fl */
        if (heap_unlikely(fl_map == 0)) {
            class_of(need, pfl, psl);
            return *pfl < h->fl_count && (*sl_word(h, *pfl) >> *psl & 1) ? 2 : 0;
        }
        fl = (unsigned)__builtin_ctzll(fl_map);
        sl_map = *sl_word(h, fl);
    }
    *pfl = fl;
    *psl = (unsigned)__builtin_ctz(sl_map);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Taking, splitting and merging
 * ------------------------------------------------------------------------- */

HEAP_COLD static void header_corrupted(range_t *r, const char *fn) {
    heap_fatal("corrupted block header", range_payload(r), fn);
}

/* Marks r allocated with `size` bytes (its boundary tag kept) and counts it. */
HEAP_SHARED void *range_allot(wd_heap_t *h, keys_t k, range_t *r, size_t size) {
    range_rewrite(k, r, ALLOC_BIT | size);
    h->used += size;
    h->nalloc++;
    h->nranges++;
    if (h->used > h->peak)
        h->peak = h->used;
    return range_payload(r);
}

/* Splits r, the head of list (fl, sl), free, its header verified, at
 * least need + MIN_RANGE bytes: its first `need` bytes become an allocated
 * block, the rest a free range listed in its own class.  Out of line at
 * -O2 (malloc's common case, a range taken whole, then needs fewer
 * registers).  Returns r's payload. */
HEAP_MERGE void *range_split(wd_heap_t *h, range_t *r, size_t need, unsigned fl, unsigned sl,
                             const char *fn) {
    keys_t k = heap_keys(h);
    size_t have = r->info, left = have - need;
    range_t *rest = range_plus(r, need);
    unsigned rfl, rsl;
    range_set_prev(range_plus(r, have), left);
    range_write(k, rest, left, need);
    void *p = range_allot(h, k, r, need);
    class_of(left, &rfl, &rsl);
#if HEAP_SWAP
    if (rfl == fl && rsl == sl) {
        list_swap_head(h, k, r, rest, fl, sl, fn);
    } else
#endif
    {
        list_pop_n(h, k, r, fl, sl, fn, 0);
        list_push_n(h, k, rest, rfl, rsl, 0);
    }
    return p;
}

/* Marks the head of list (fl, sl) allocated with `need` bytes and lists
 * what is left when that is at least MIN_SPLIT bytes:
 *
 *   [ r ...................... free ][ next ]
 *   [ r | need, allocated ][ rest|free ][ next ]   (next's tag: rest)
 *
 * Its right neighbour is allocated (free ranges never touch), so the rest
 * merges with nothing.  With `found` 2, r may be too small: NULL then, and
 * nothing changes.  Returns r's payload. */
HEAP_HOT void *range_take(wd_heap_t *h, keys_t k, unsigned fl, unsigned sl, int found,
                          size_t need, const char *fn) {
    range_t *r = range_from_off(h, *list_head(h, fl, sl));
    uint64_t info = r->info;
    if (heap_unlikely(!range_holds(k, r, info)))
        header_corrupted(r, fn);
    size_t have = info_size(info);
    if (heap_unlikely(info_allocated(info) || have < need)) {
        if (found == 2 && !info_allocated(info))
            return NULL;
        list_corrupted(r, fn);
    }
    if (have - need >= MIN_SPLIT)
        return range_split(h, r, need, fl, sl, fn);
    list_pop(h, k, r, fl, sl, fn);
    return range_allot(h, k, r, have); /* too little left over to split off */
}

/* Range bytes for a request, or 0 when no heap could serve it. */
static inline size_t range_need(size_t size) {
    if (heap_unlikely(size > MAX_HEAP))
        return 0;
    size_t need = (size + HDR + ALIGN - 1) & ~(ALIGN - 1);
    return need < MIN_RANGE ? MIN_RANGE : need;
}

/* Whether free range r is the top (never at -Os, which has none). */
static inline int range_is_top(const wd_heap_t *h, const range_t *r) {
    return HEAP_TOP && off_of(h, r) == h->top;
}

/* Makes [r, r + size), the last range, the top: a free range kept out of
 * the lists, so that malloc carves from it and free merges into it with no
 * list work.  Its left neighbour is allocated (prev_size bytes). */
HEAP_SHARED void range_make_top(wd_heap_t *h, keys_t k, range_t *r, size_t size,
                                size_t prev_size) {
    range_write(k, r, size, prev_size);
    range_set_prev(range_plus(r, size), size);
    h->top = off_of(h, r);
}

/* Carves `need` bytes from the front of the top, r (its info read by the
 * caller, at least need bytes), the top moving up by as much:
 *
 *   [ r = top ..................... ][ end or allocated ]
 *   [ r | need, allocated ][ top .. ][ ... ]
 *
 * The top starts as the whole heap and stays at its end (free merges into
 * it), so a heap that is not full serves what no list can from here. */
HEAP_HOT void *range_take_top(wd_heap_t *h, keys_t k, range_t *r, uint64_t info, size_t need,
                              const char *fn) {
    if (heap_unlikely(!range_holds(k, r, info) || info_allocated(info)))
        header_corrupted(r, fn);
    size_t have = info_size(info);
    if (have - need >= MIN_RANGE) {
        range_make_top(h, k, range_plus(r, need), have - need, need);
    } else {
        h->top = 0; /* too little left over to stand alone: no top until the last
                     * range is freed */
        need = have;
    }
    return range_allot(h, k, r, need);
}

/* A free range of at least `need` bytes, allocated; NULL when none.  Good
 * fit from the lists first; then the top; then the head of need's own
 * class.  The top's info is read to choose, and checked when taken: one
 * header checked either way. */
HEAP_HOT void *heap_take(wd_heap_t *h, size_t need, const char *fn) {
    unsigned fl, sl;
    if (heap_unlikely(need == 0))
        return NULL;
    int found = list_find(h, need, &fl, &sl);
    if (HEAP_TOP && heap_unlikely(found != 1) && h->top) {
        range_t *top = range_from_off(h, h->top);
        uint64_t info = top->info;
        if (info_size(info) >= need)
            return range_take_top(h, heap_keys(h), top, info, need, fn);
    }
    return found ? range_take(h, heap_keys(h), fl, sl, found, need, fn) : NULL;
}

/* Unlists free range r (size bytes, verified). */
HEAP_HOT void list_remove_sized_n(wd_heap_t *h, keys_t k, range_t *r, size_t size,
                                  const char *fn, unsigned count) {
    unsigned fl, sl;
    class_of(size, &fl, &sl);
    list_remove_n(h, k, r, fl, sl, fn, count);
}
#define list_remove_sized(h, k, r, size, fn) list_remove_sized_n(h, k, r, size, fn, 1)

/* The right neighbour of [r, r + size) when it is a free range; NULL
 * when it is allocated or the end marker.  Its header must hold either way
 * (an overflow out of the block being freed, even one byte, into the
 * checksum is reported now, naming the header it hit); *next_info is its
 * info. */
HEAP_HOT range_t *range_right_free(keys_t k, range_t *r, size_t size, uint64_t *next_info,
                                   const char *fn) {
    range_t *next = range_plus(r, size);
    uint64_t info = next->info;
    if (heap_unlikely(!range_holds(k, next, info)))
        header_corrupted(next, fn);
    *next_info = info;
    return info_allocated(info) || info == END_INFO ? NULL : next;
}

/* Makes [r, r + size) one free range, r's left neighbour allocated with
 * prev_size bytes.  `listed` is a free range inside it that is still in
 * its list (its class: lsize) or NULL: when the whole range keeps that
 * class, r takes listed's place in the list, else listed leaves it and r
 * is listed anew.  Then r's header, and the boundary tag after it. */
HEAP_HOT void range_settle(wd_heap_t *h, keys_t k, range_t *r, size_t size, size_t prev_size,
                           range_t *listed, size_t lsize, const char *fn) {
    unsigned fl, sl, lfl, lsl;
    class_of(size, &fl, &sl);
    if (listed) {
        class_of(lsize, &lfl, &lsl);
        if (HEAP_SWAP && lfl == fl && lsl == sl) {
            if (listed != r)
                list_swap(h, k, listed, r, fl, sl, fn);
        } else {
            list_remove(h, k, listed, lfl, lsl, fn);
            listed = NULL;
        }
    }
    if (listed == NULL)
        list_insert(h, k, r, size);
    range_write(k, r, size, prev_size);
    range_set_prev(range_plus(r, size), size);
}

/* Makes [r, r + size) a free range whose left neighbour is allocated and
 * has prev_size bytes, merging with the right neighbour when that is free:
 *
 *   [ r ......... ][ next|free ] -> [ r ...................... ]
 */
HEAP_HOT void range_release(wd_heap_t *h, keys_t k, range_t *r, size_t size, size_t prev_size,
                            const char *fn) {
    uint64_t next_info;
    range_t *next = range_right_free(k, r, size, &next_info, fn);
    size_t next_size = next ? next_info : 0;
    if (HEAP_TOP && (next_info == END_INFO || (next && range_is_top(h, next))))
        range_make_top(h, k, r, size + next_size, prev_size); /* r is the last range */
    else
        range_settle(h, k, r, size + next_size, prev_size, next, next_size, fn);
}

/* ---------------------------------------------------------------------------
 * Checking a pointer the program hands back
 * ------------------------------------------------------------------------- */

/* A header the heap left behind when its block merged into the free range
 * before it: the allocated bit cleared, the checksum of the allocated
 * header kept (see range_free). */
static int range_was_merged(keys_t k, range_t *r) {
    return !info_allocated(r->info) && range_holds(k, r, r->info | ALLOC_BIT);
}

/* p's header failed a check (bad checksum, or marked free): walk the heap
 * to say why.  p's header is a real range start, or p lies inside a range:
 *   the start of a free range                   -> `when_free` (double free)
 *   inside a free range, on a header that holds -> `when_free`: a block
 *       freed and merged leaves its header behind, marked free
 *   inside a free range, anywhere else          -> invalid pointer
 *   inside an allocated range                   -> invalid pointer
 *   a header that does not hold on the way      -> corrupted block header
 * Only misuse reaches this, and it never returns: the walk is the abort
 * path's, not part of any operation's bound. */
HEAP_COLD static void diagnose(wd_heap_t *h, const void *p, const char *fn) {
    keys_t k = heap_keys(h);
    const char *when_free = heap_freed_what(fn);
    range_t *target = range_of(p);
    uint8_t *end = heap_end(h);
    for (uint8_t *at = heap_first(h); at < end;) {
        range_t *r = range_at(at);
        uint64_t info = r->info;
        if (!range_holds(k, r, info))
            heap_fatal("corrupted block header", range_payload(r), fn);
        size_t size = info_size(info);
        if (size < MIN_RANGE)
            break;
        if ((uintptr_t)target < (uintptr_t)(at + size)) {
            int freed = r == target ||
                        (!info_allocated(info) &&
                         ((!info_allocated(target->info) && range_holds(k, target, target->info)) ||
                          range_was_merged(k, target)));
            heap_fatal(freed ? when_free : "invalid pointer", p, fn);
        }
        at += size;
    }
    heap_fatal("invalid pointer", p, fn);
}

HEAP_COLD static void pointer_invalid(const void *p, const char *fn) {
    heap_fatal("invalid pointer", p, fn);
}

/* The header of the live block p, or an abort that says what p is:
 * outside the heap or misaligned, interior, corrupted, or already freed. */
HEAP_HOT range_t *block_checked(wd_heap_t *h, keys_t k, const void *p, uint64_t *info,
                                const char *fn) {
    uintptr_t u = (uintptr_t)p;
    if (heap_unlikely((u & 15) != 0 || u - HDR - (uintptr_t)heap_first(k.h) >= heap_span(k.h)))
        pointer_invalid(p, fn);
    range_t *r = range_of(p);
    *info = r->info;
    if (heap_unlikely(!info_allocated(*info) || !range_holds(k, r, *info)))
        diagnose(h, p, fn);
    return r;
}

/* Whether live range r's boundary tag can be trusted, and then *info, the
 * info word of the left neighbour it names: that must lie in the heap
 * (checked before it is read) and give the same size (a replayed or
 * overwritten tag fails here).  For the first range, which has none, an
 * allocated info: nothing to merge with.  ru: (r - first) / 16. */
HEAP_HOT int range_left_info(range_t *r, uintptr_t ru, uint64_t *info) {
    size_t prev_size = range_prev_size(r);
    if (prev_size == 0) {
        *info = ~(uint64_t)0; /* allocated: all ones, a shorter constant than ALLOC_BIT */
        return 1;
    }
    if (heap_unlikely(prev_size > ru << 4))
        return 0;
    *info = range_at(range_addr(r) - prev_size)->info;
    /* Shifted left by one, info ^ prev_size loses the allocated bit: 0 when
     * the sizes agree. */
    return (*info ^ prev_size) << 1 == 0;
}

/* ---------------------------------------------------------------------------
 * The malloc family (plain: what runs natively)
 * ------------------------------------------------------------------------- */

/* malloc through heap_take alone (no inline fast path). */
HEAP_HOT void *heap_malloc_taken(wd_heap_t *h, size_t size, const char *fn) {
    void *p = heap_take(h, range_need(size), fn);
    if (heap_unlikely(p == NULL))
        heap_set_errno(ENOMEM);
    return p;
}

#if HEAP_SWAP
#if HEAP_VALGRIND
HEAP_NOINLINE static void *vg_malloc(wd_heap_t *h, size_t alignment, size_t size, const char *fn);
#endif

/* What malloc's one compare sends here: a request above fast_max, and
 * every request when the heap talks to valgrind (fast_lim 0). */
HEAP_NOINLINE static void *heap_malloc_any(wd_heap_t *h, size_t size, const char *fn) {
#if HEAP_VALGRIND
    if (h->vg)
        return vg_malloc(h, ALIGN, size, fn);
#endif
    return heap_malloc_taken(h, size, fn);
}

/* No good fit in the lists for `need` bytes (at most fast_max + HDR +
 * ALIGN - 1, so that need's own class is in a level the heap has): the
 * top, then the head of need's own class, as heap_take. */
HEAP_NOINLINE static void *heap_malloc_rest(wd_heap_t *h, size_t need, const char *fn) {
    keys_t k = heap_keys(h);
    if (h->top) {
        range_t *top = range_from_off(h, h->top);
        uint64_t info = top->info;
        if (info_size(info) >= need)
            return range_take_top(h, k, top, info, need, fn);
    }
    unsigned fl, sl;
    class_of(need, &fl, &sl);
    void *p = *sl_word(h, fl) >> sl & 1 ? range_take(h, k, fl, sl, 2, need, fn) : NULL;
    if (p == NULL)
        heap_set_errno(ENOMEM);
    return p;
}

/* malloc: good fit from the lists inline, the range taken whole inline
 * (the common case) or split out of line; the top, the head of need's own
 * class in heap_malloc_rest; requests above fast_max, and valgrind's case,
 * in heap_malloc_any. */
HEAP_HOT void *heap_malloc(wd_heap_t *h, size_t size, const char *fn) {
    if (heap_unlikely(size >= h->fast_lim))
        return heap_malloc_any(h, size, fn);
    size_t need = (size + HDR + ALIGN - 1) & ~(ALIGN - 1);
    if (need < MIN_RANGE)
        need = MIN_RANGE;
    unsigned fl, sl;
    class_above(need, &fl, &sl); /* fl < fl_count: size < fast_lim */
    uint32_t map = *sl_word(h, fl) & (~0u << sl);
    if (heap_unlikely(map == 0)) {
        uint64_t fl_map = h->fl_bitmap & (~(uint64_t)1 << fl); /* levels above fl */
        if (heap_unlikely(fl_map == 0))
            return heap_malloc_rest(h, need, fn);
        fl = (unsigned)__builtin_ctzll(fl_map);
        map = *sl_word(h, fl);
    }
    sl = (unsigned)__builtin_ctz(map);
    keys_t k = heap_keys(h);
    range_t *r = range_from_off(h, *list_head(h, fl, sl));
    uint64_t info = r->info, x = sum_key(k, r), product = sum_product(x, info);
    WORK(verified);
    if (heap_unlikely(r->sum != sum_of(product)))
        header_corrupted(r, fn);
    if (heap_unlikely((int64_t)info < (int64_t)need)) /* allocated, or too small */
        list_corrupted(r, fn);
    if (info - need >= MIN_SPLIT)
        return range_split(h, r, need, fl, sl, fn);
    list_pop_n(h, k, r, fl, sl, fn, 0); /* listed, then allocated: nranges stays */
    WORK(written);
    r->sum = sum_of(sum_product_allocated(x, product));
    r->info = info | ALLOC_BIT;
    h->nalloc++;
    size_t used = h->used + info;
    h->used = used;
    if (used > h->peak)
        h->peak = used;
    return range_payload(r);
}
#else
#define heap_malloc heap_malloc_taken
#endif

#if !HEAP_SWAP
/* Frees live range r (size bytes), merging it with its free neighbours:
 * every case of free at -Os (merge_right and merge_left at -O2).
 * next_info and prev_info are its neighbours' info words (the left one's
 * size checked by the caller against r's boundary tag; the right one's
 * checksum is checked here when it is free):
 *
 *   [ prev|free ][ r ][ next|free ] -> [ prev ......................... ]
 *
 * When r merges into prev, its own header stays behind inside the free
 * range with the allocated bit cleared (and so no longer holding): a
 * second free of p finds it and is named a double free.  prev keeps its
 * place in its list when its class does not change.  The top is the last
 * range, so only the right neighbour can be it (or the end marker, when
 * there is no top): the merged range is then the top, in no list. */
HEAP_HOT void range_merge(wd_heap_t *h, range_t *r, size_t size, uint64_t next_info,
                            uint64_t prev_info, const char *fn) {
    keys_t k = heap_keys(h);
    size_t total = size;
    range_t *start = r; /* the merged range */
    int top = 0;        /* whether it is the top */
    if (!info_allocated(next_info)) {
        range_t *next = range_plus(r, size);
        if (heap_unlikely(!range_holds(k, next, next_info)))
            header_corrupted(next, fn);
        total += next_info;
        if (HEAP_TOP && (next_info == END_INFO || range_is_top(h, next)))
            top = 1;
        else
            list_remove_sized(h, k, next, next_info, fn);
    }
    if (!info_allocated(prev_info)) {
        range_t *prev = range_at(range_addr(r) - prev_info);
        if (heap_unlikely(!range_holds(k, prev, prev_info)))
            header_corrupted(prev, fn);
        r->info = size; /* left behind: free, its checksum the allocated one's */
        total += prev_info;
        start = prev;
        unsigned pfl, psl, fl, sl;
        class_of(prev_info, &pfl, &psl);
        class_of(total, &fl, &sl);
        if (top || fl != pfl || sl != psl) {
            list_remove(h, k, prev, pfl, psl, fn);
            if (!top)
                list_push(h, k, prev, fl, sl);
        }
    } else if (!top) {
        list_insert(h, k, r, total);
    }
    if (top)
        h->top = off_of(h, start);
    range_rewrite(k, start, total);
    range_set_prev(range_plus(start, total), total);
}

#endif

#if HEAP_SWAP
/* The merging free at -O2: two cases, each out of line with what it needs alone
 * (fewer registers to save).  merge_right: r's left neighbour is
 * allocated, its right one (next_info) free, the top or the end marker:
 *
 *   [ r ......... ][ next|free ] -> [ r ...................... ] */
HEAP_MERGE void merge_right(wd_heap_t *h, range_t *r, size_t size, uint64_t next_info,
                            const char *fn) {
    keys_t k = heap_keys(h);
    range_t *next = range_plus(r, size);
    if (heap_unlikely(!range_holds(k, next, next_info)))
        header_corrupted(next, fn);
    size_t total = size + next_info;
    if (next_info == END_INFO || range_is_top(h, next))
        h->top = off_of(h, r);
    else {
        list_remove_sized_n(h, k, next, next_info, fn, 0);
        list_insert_n(h, k, r, total, 0);
    }
    range_rewrite(k, r, total);
    range_set_prev(range_plus(r, total), total);
}

/* merge_left: r's left neighbour (prev_info) is free, its right one may
 * be (next_info); prev takes r, and next, in and keeps its list place when
 * its class does not change:
 *
 *   [ prev|free ][ r ][ next? ] -> [ prev ............... ][ next? ] */
HEAP_MERGE void merge_left(wd_heap_t *h, range_t *r, size_t size, uint64_t next_info,
                           uint64_t prev_info, const char *fn) {
    keys_t k = heap_keys(h);
    range_t *prev = range_at(range_addr(r) - prev_info);
    if (heap_unlikely(!range_holds(k, prev, prev_info)))
        header_corrupted(prev, fn);
    r->info = size; /* left behind: free, its checksum the allocated one's */
    size_t total = prev_info + size;
    int top = 0;
    if (heap_unlikely(!info_allocated(next_info))) {
        range_t *next = range_plus(r, size);
        if (heap_unlikely(!range_holds(k, next, next_info)))
            header_corrupted(next, fn);
        total += next_info;
        if (next_info == END_INFO || range_is_top(h, next))
            top = 1;
        else
            list_remove_sized(h, k, next, next_info, fn);
    }
    unsigned pfl, psl;
    class_of(prev_info, &pfl, &psl);
    if (heap_unlikely(top)) {
        list_remove(h, k, prev, pfl, psl, fn);
        h->top = off_of(h, prev);
    } else if (list_index(total) != pfl * FL_STRIDE + 1 + psl) {
        list_remove_n(h, k, prev, pfl, psl, fn, 0);
        list_insert_n(h, k, prev, total, 0);
    }
    range_rewrite(k, prev, total);
    range_set_prev(range_plus(prev, total), total);
}
#endif

/* free's reports, called last so that the compiler jumps to them: free's
 * common path then needs no stack frame (a call would need the stack
 * aligned).  Neither returns. */
#ifdef __OPTIMIZE_SIZE__ /* -Os: one call fewer, for size */
#define free_diagnosed diagnose
#define free_refused   header_corrupted
#else
HEAP_TAIL void free_diagnosed(wd_heap_t *h, void *p, const char *fn) {
    diagnose(h, p, fn);
}
HEAP_TAIL void free_refused(range_t *r, const char *fn) {
    header_corrupted(r, fn);
}
#endif

/* Frees p, whose header's offset in 16-byte units is ru from the first
 * range's (the caller checked that it lies in the heap) and me from the
 * control block (its name in the lists).  Its header is
 * checked, and the left neighbour's size against r's boundary tag; the
 * right neighbour's allocated bit is read, and its checksum checked only
 * when r merges with it (merge_right, merge_left): an overflow out of r
 * that reaches that bit sends this free to the merge, which reports it;
 * one that changes only the checksum is reported by the next call that
 * acts on that header.  Between two allocated ranges, r only joins its
 * class's list and its header changes state (one add to the product
 * computed to check it); its size, so the next range's tag, stays. */
HEAP_SHARED void free_block(wd_heap_t *h, void *p, uintptr_t ru, uint32_t me, const char *fn) {
    keys_t k = heap_keys(h);
    range_t *r = range_of(p);
    uint64_t info = r->info, x = sum_key(k, r);
    size_t size = info_size(info);
    /* The product of an allocated header of `size` bytes: r's own when
     * its allocated bit is set, the one case that goes on (-Os: the
     * product of info itself, shorter code). */
    uint64_t product = HEAP_SWAP ? sum_product_of_allocated(x, size) : sum_product(x, info);
    WORK(verified);
    if (heap_unlikely(!info_allocated(info) || r->sum != sum_of(product))) {
        free_diagnosed(h, p, fn);
        return;
    }
    uint32_t freed_sum = sum_of(sum_product_freed(x, product));
    uint64_t prev_info;
    if (heap_unlikely(!range_left_info(r, ru, &prev_info))) {
        free_refused(r, fn);
        return;
    }
    /* The right neighbour's allocated bit alone decides: its header is
     * checked where it is acted on (merged here, or freed, resized or
     * taken later). */
    uint64_t next_info = range_plus(r, size)->info;
    h->used -= size;
    h->nalloc--;
#if HEAP_SWAP
    if (heap_likely(info_allocated(next_info & prev_info))) {
        WORK(written);
        r->sum = freed_sum;
        r->info = size;
        /* Told that size is info less its top bit, gcc tests the size class
         * on info with a 64-bit mask, and saves a register it never uses:
         * 3 instructions more on this path. */
        HEAP_OPAQUE(size);
        list_insert_named(h, k, r, me, size, 0); /* allocated, then listed: nranges stays */
        return;
    }
    h->nranges--; /* r merges: one range fewer, whatever the merge's list work */
    if (info_allocated(prev_info))
        merge_right(h, r, size, next_info, fn);
    else
        merge_left(h, r, size, next_info, prev_info, fn);
#else
    (void)freed_sum, (void)me;
    h->nranges--; /* every list change of range_merge counts 1 at -Os */
    range_merge(h, r, size, next_info, prev_info, fn);
#endif
}

/* u rotated right by 4 bits: u / 16 when u is a multiple of 16, at least
 * 2^60 when it is not. */
static inline uintptr_t rotr4(uintptr_t u) { return u >> 4 | u << (sizeof u * 8 - 4); }

#if HEAP_VALGRIND
HEAP_NOINLINE static void vg_free(wd_heap_t *h, void *p, const char *fn);
#endif

/* What free's one compare sends here: NULL, which free ignores (C11
 * 7.22.3.3); every pointer when the heap talks to valgrind (its gate is
 * 0); a pointer outside the heap or not 16-aligned, reported. */
HEAP_NOINLINE __attribute__((cold)) static void free_aside(wd_heap_t *h, void *p,
                                                          const char *fn) {
    if (p == NULL)
        return;
#if HEAP_VALGRIND
    if (h->vg) {
        vg_free(h, p, fn);
        return;
    }
#else
    (void)h;
#endif
    pointer_invalid(p, fn);
}

/* Frees p.  One compare sends aside NULL, a pointer outside the heap or
 * misaligned (rotated, its low bits land at the top), and valgrind's case
 * (gate 0).  The rotation is taken from the control block, so that it is
 * also r's offset, the name the lists give r. */
HEAP_HOT void heap_free(wd_heap_t *h, void *p, const char *fn) {
    uintptr_t me = rotr4((uintptr_t)p - HDR - (uintptr_t)h), ru = me - h->first_off;
    if (heap_unlikely(ru >= h->gate)) {
        free_aside(h, p, fn);
        return;
    }
    free_block(h, p, ru, (uint32_t)me, fn);
}

/* Resizes live range r in place when it can: shrinking always, growing
 * into a free right neighbour.  Returns 0 on success. */
static int range_resize(wd_heap_t *h, range_t *r, size_t have, size_t need, const char *fn) {
    keys_t k = heap_keys(h);
    size_t prev_size = range_prev_size(r);
    int was_top = 0;
    if (need > have) {
        range_t *next = range_plus(r, have);
        uint64_t next_info = next->info;
        if (info_allocated(next_info) || have + next_info < need)
            return -1;
        if (heap_unlikely(!range_holds(k, next, next_info)))
            header_corrupted(next, fn);
        if (range_is_top(h, next)) {
            h->top = 0; /* what is left of it becomes the top again below */
            was_top = 1;
        }
        else
            list_remove_sized(h, k, next, next_info, fn);
        h->used += next_info;
        have += next_info;
        range_set_prev(range_plus(r, have), have);
    }
    if (have - need < MIN_RANGE)
        need = have; /* too little left over to stand alone */
    range_write(k, r, ALLOC_BIT | need, prev_size);
    if (need < have) {
        h->used -= have - need;
        if (h->top == 0 && was_top)
            range_make_top(h, k, range_plus(r, need), have - need, need);
        else
            range_release(h, k, range_plus(r, need), have - need, need, fn);
    }
    if (h->used > h->peak)
        h->peak = h->used;
    return 0;
}

static size_t heap_usable_size(wd_heap_t *h, const void *p, const char *fn) {
    if (p == NULL)
        return 0;
    uint64_t info;
    block_checked(h, heap_keys(h), p, &info, fn);
    return info_size(info) - HDR;
}

/* realloc; `in_place` is 0 under valgrind, where every resize moves so that
 * memcheck sees exact block sizes. */
static void *heap_realloc(wd_heap_t *h, void *p, size_t size, int in_place, const char *fn) {
    uint64_t info;
    size_t need = range_need(size);
    range_t *r = block_checked(h, heap_keys(h), p, &info, fn);
    if (heap_unlikely(need == 0)) {
        heap_set_errno(ENOMEM);
        return NULL;
    }
    if (in_place && range_resize(h, r, info_size(info), need, fn) == 0)
        return p;
    void *q = heap_malloc(h, size, fn);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    size_t keep = info_size(info) - HDR;
    __builtin_memcpy(q, p, keep < size ? keep : size);
    heap_free(h, p, fn);
    return q;
}

/* Carves an aligned block out of the block at p, just taken with room for
 * the worst gap:
 *
 *   [ r ....................................... ]
 *   [ gap|free ][ hdr | aligned payload ...... ]
 *
 * The gap is 0 or at least MIN_RANGE so it can stand as a free range (its
 * left neighbour is allocated: r was free). */
static void *range_align(wd_heap_t *h, void *p, size_t alignment) {
    keys_t k = heap_keys(h);
    range_t *r = range_of(p);
    uintptr_t at = ((uintptr_t)p + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (at != (uintptr_t)p && at - (uintptr_t)p < MIN_RANGE)
        at += alignment; /* alignment >= 32 here, so the gap is now >= 32 */
    size_t gap = (size_t)(at - (uintptr_t)p), have = info_size(r->info);
    if (gap == 0)
        return p;
    range_t *b = range_plus(r, gap);
    range_write(k, b, ALLOC_BIT | (have - gap), gap);
    range_set_prev(range_plus(r, have), have - gap);
    h->used -= gap;
    range_write(k, r, gap, range_prev_size(r));
    list_insert(h, k, r, gap);
    return range_payload(b);
}

static void *heap_memalign(wd_heap_t *h, size_t alignment, size_t size, const char *fn) {
    if (heap_unlikely(alignment == 0 || (alignment & (alignment - 1)) != 0)) {
        heap_set_errno(EINVAL);
        return NULL;
    }
    if (alignment <= ALIGN)
        return heap_malloc(h, size, fn);
    size_t need = range_need(size);
    void *p = NULL;
    /* Worst-case padding: a gap that must itself hold a free range. */
    if (need != 0 && alignment <= MAX_HEAP)
        p = heap_take(h, need + alignment + MIN_RANGE, fn);
    if (p == NULL) {
        heap_set_errno(ENOMEM);
        return NULL;
    }
    p = range_align(h, p, alignment);
    /* Give back what the block does not need past its end. */
    range_t *r = range_of(p);
    range_resize(h, r, info_size(r->info), need, fn);
    return p;
}

/* ---------------------------------------------------------------------------
 * Valgrind: chosen once, at init.  A heap made under valgrind (unless
 * WARDEN_VALGRIND=0) takes the instrumented entries below, which run the
 * plain code with memcheck's reports switched off around it (the heap's
 * own reads and writes of headers and links are not the program's) and
 * describe blocks to memcheck as malloc does: every byte that is not a live
 * block's request is no-access, so overflows into headers or slack, reads
 * after free and leaks are reported.  Natively the choice costs one
 * predictable branch per call and nothing else.
 * ------------------------------------------------------------------------- */

#if HEAP_VALGRIND
#define VG_QUIET_BEGIN() VALGRIND_DISABLE_ERROR_REPORTING
#define VG_QUIET_END()   VALGRIND_ENABLE_ERROR_REPORTING

static uint32_t vg_wanted(void) {
    return RUNNING_ON_VALGRIND && wdi_heap_valgrind_allowed();
}

static void vg_init(wd_heap_t *h) {
    VALGRIND_MAKE_MEM_NOACCESS(heap_first(h), (size_t)(heap_end(h) - heap_first(h)) + HDR);
    h->gate = 0;     /* every free through free_aside to vg_free */
    h->fast_lim = 0; /* every malloc through heap_malloc_any to vg_malloc */
}

HEAP_NOINLINE static void *vg_malloc(wd_heap_t *h, size_t alignment, size_t size, const char *fn) {
    VG_QUIET_BEGIN();
    /* Not heap_malloc, whose compare would send the request back here. */
    void *p = alignment <= ALIGN ? heap_malloc_taken(h, size, fn)
                                 : heap_memalign(h, alignment, size, fn);
    VG_QUIET_END();
    if (p)
        VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, 0);
    return p;
}

HEAP_NOINLINE static void vg_free(wd_heap_t *h, void *p, const char *fn) {
    VG_QUIET_BEGIN();
    uint64_t info;
    if (p)
        block_checked(h, heap_keys(h), p, &info, fn); /* before memcheck forgets the block */
    VG_QUIET_END();
    if (p)
        VALGRIND_FREELIKE_BLOCK(p, 0);
    VG_QUIET_BEGIN();
    if (p) /* checked above: past free's one compare, closed to valgrind's case */
        free_block(h, p, (uintptr_t)(range_of(p) - range_at(heap_first(h))),
                   off_of(h, range_of(p)), fn);
    VG_QUIET_END();
}

HEAP_NOINLINE static void *vg_realloc(wd_heap_t *h, void *p, size_t size, const char *fn) {
    VG_QUIET_BEGIN();
    size_t keep = heap_usable_size(h, p, fn);
    VG_QUIET_END();
    void *q = vg_malloc(h, ALIGN, size, fn);
    if (q == NULL)
        return NULL;
    VG_QUIET_BEGIN(); /* the old slack is no-access but harmless to copy */
    __builtin_memcpy(q, p, keep < size ? keep : size);
    VG_QUIET_END();
    vg_free(h, p, fn);
    return q;
}

HEAP_NOINLINE static size_t vg_usable_size(wd_heap_t *h, const void *p, const char *fn) {
    VG_QUIET_BEGIN();
    size_t n = heap_usable_size(h, p, fn);
    VG_QUIET_END();
    return n;
}
#define VG_ON(h) heap_unlikely((h)->vg)
#else
#define VG_QUIET_BEGIN() ((void)0)
#define VG_QUIET_END()   ((void)0)
#define VG_ON(h)         0
#define vg_wanted()      0u
#define vg_init(h)       ((void)0)
#define vg_malloc(h, a, n, fn)   NULL
#define vg_free(h, p, fn)        ((void)0)
#define vg_realloc(h, p, n, fn)  NULL
#define vg_usable_size(h, p, fn) 0
#endif

/* ---------------------------------------------------------------------------
 * Entry points shared with the rest of warden (classic/heap.h)
 * ------------------------------------------------------------------------- */

/* The bodies of malloc and free, shared by wdi_ and (at -O2, where a jump
 * between the two is a tenth of a call) wd_ entries. */
HEAP_HOT void *entry_malloc(wd_heap_t *h, size_t size, const char *fn) {
#if HEAP_SWAP /* valgrind's case is behind malloc's size compare */
    return heap_malloc(h, size, fn);
#else
    if (VG_ON(h))
        return vg_malloc(h, ALIGN, size, fn);
    return heap_malloc(h, size, fn);
#endif
}

HEAP_HOT void entry_free(wd_heap_t *h, void *p, const char *fn) {
    heap_free(h, p, fn); /* valgrind's case is behind its one compare */
}

HEAP_INTERNAL void *wdi_heap_malloc(wd_heap_t *h, size_t size, const char *fn) {
    return entry_malloc(h, size, fn);
}

HEAP_INTERNAL void wdi_heap_free(wd_heap_t *h, void *p, const char *fn) {
    entry_free(h, p, fn);
}

HEAP_INTERNAL void *wdi_heap_realloc(wd_heap_t *h, void *p, size_t size, const char *fn) {
    if (p == NULL)
        return wdi_heap_malloc(h, size, fn);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        wdi_heap_free(h, p, fn);
        return NULL;
    }
    if (VG_ON(h))
        return vg_realloc(h, p, size, fn);
    return heap_realloc(h, p, size, 1, fn);
}

HEAP_INTERNAL void *wdi_heap_memalign(wd_heap_t *h, size_t alignment, size_t size,
                                      const char *fn) {
    if (VG_ON(h))
        return vg_malloc(h, alignment, size, fn);
    return heap_memalign(h, alignment, size, fn);
}

HEAP_INTERNAL size_t wdi_heap_usable_size(wd_heap_t *h, const void *p, const char *fn) {
    if (VG_ON(h))
        return vg_usable_size(h, p, fn);
    return heap_usable_size(h, p, fn);
}

#ifndef WD_HEAP_FREESTANDING
int wdi_heap_resize(wd_heap_t *h, void *p, size_t size, const char *fn) {
    uint64_t info;
    size_t need = range_need(size);
    range_t *r = block_checked(h, heap_keys(h), p, &info, fn);
    if (need == 0 || VG_ON(h))
        return -1;
    return range_resize(h, r, info_size(info), need, fn);
}

/* The usable bytes of the allocated blocks (their ranges less headers). */
size_t wdi_heap_used_bytes(const wd_heap_t *h) {
    return h->used - (size_t)h->nalloc * HDR;
}
#endif

/* ---------------------------------------------------------------------------
 * Public entry points
 * ------------------------------------------------------------------------- */

size_t wd_heap_min_size(void) {
    return control_size(1) + MIN_RANGE + HDR;
}

wd_heap_t *wd_heap_init_seeded(void *mem, size_t size, uint64_t seed) {
    uintptr_t start = ((uintptr_t)mem + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    size_t lost = (size_t)(start - (uintptr_t)mem);
    if (mem == NULL || size < lost) { /* too small: the check on `bytes` below */
        heap_set_errno(EINVAL);
        return NULL;
    }
    size_t given = size < MAX_HEAP ? size : MAX_HEAP;
    size_t bytes = (given - lost) & ~(ALIGN - 1);
    uint32_t fl_count = fl_count_for(bytes);
    size_t ctrl = control_size(fl_count);
    if (bytes < ctrl + MIN_RANGE + HDR) {
        heap_set_errno(EINVAL);
        return NULL;
    }
    wd_heap_t *h = (wd_heap_t *)start;
    __builtin_memset(h, 0, ctrl);
    /* Two keys from one seed, each a mixed (xor-shift, multiply) step of
     * the one before: the checksum's and the links'. */
    seed += 0x9E3779B97F4A7C15ULL; /* a seed of 0 gives keys too */
    /* Odd, as headers are 16-aligned: x in range_sum is odd, a multiplier
     * that loses no bit of the product. */
    h->secret = (seed ^ (seed >> 31)) * 0xbf58476d1ce4e5b9ULL | 1;
    h->link_key = (h->secret ^ (h->secret >> 29)) * 0x94d049bb133111ebULL;
    h->magic = HEAP_MAGIC ^ (uint64_t)start;
    uint8_t *first = (uint8_t *)start + ctrl;
    size_t span = bytes - ctrl - HDR; /* the first range's header to the end marker's */
    h->first_off = ctrl >> 4;
    h->gate = (span - HDR) >> 4;
    h->heap_size = given;
    h->fl_count = fl_count;
    h->fast_lim = fast_max_of(fl_count) + 1;
    h->end_off = (uint32_t)((bytes - HDR) >> 4);
    h->vg = (uint8_t)vg_wanted();
    keys_t k = heap_keys(h);
    range_write(k, range_at(first + span), END_INFO, span);
#if HEAP_TOP
    range_make_top(h, k, range_at(first), span, 0);
#else
    range_write(k, range_at(first), span, 0);
    list_insert(h, k, range_at(first), span);
#endif
    if (VG_ON(h))
        vg_init(h);
    return h;
}

#ifndef WD_HEAP_FREESTANDING
wd_heap_t *wd_heap_init(void *mem, size_t size) {
    return wd_heap_init_seeded(mem, size, wdi_heap_seed());
}
#endif

void *wd_heap_malloc(wd_heap_t *h, size_t size) {
#if HEAP_SWAP
    return entry_malloc(h, size, fn_malloc);
#else /* -Os: one copy */
    return wdi_heap_malloc(h, size, fn_malloc);
#endif
}

void *wd_heap_calloc(wd_heap_t *h, size_t n, size_t size) {
    size_t total;
    if (heap_unlikely(__builtin_mul_overflow(n, size, &total))) {
        heap_set_errno(ENOMEM);
        return NULL;
    }
    void *p = wdi_heap_malloc(h, total, "wd_heap_calloc");
    if (p) /* a reused range is dirty: always clear */
        __builtin_memset(p, 0, total);
    return p;
}

void *wd_heap_realloc(wd_heap_t *h, void *p, size_t size) {
    return wdi_heap_realloc(h, p, size, "wd_heap_realloc");
}

void *wd_heap_memalign(wd_heap_t *h, size_t alignment, size_t size) {
    return wdi_heap_memalign(h, alignment, size, "wd_heap_memalign");
}

/* Leaves errno alone: nothing on its path sets it. */
void wd_heap_free(wd_heap_t *h, void *p) {
#if HEAP_SWAP
    entry_free(h, p, fn_free);
#else /* -Os: one copy */
    wdi_heap_free(h, p, fn_free);
#endif
}

size_t wd_heap_usable_size(wd_heap_t *h, const void *p) {
    return wdi_heap_usable_size(h, p, "wd_heap_usable_size");
}

/* ---------------------------------------------------------------------------
 * Inspection: walk, check, stats, dump.  Under valgrind each runs with
 * memcheck's reports off around the heap's own reads.
 * ------------------------------------------------------------------------- */

/* Reads a header; returns 0 and fills *info / *prev_size when it holds. */
static int range_read(const wd_heap_t *h, range_t *r, uint64_t *info, size_t *prev_size) {
    *info = r->info;
    *prev_size = range_prev_size(r);
    return range_holds(heap_keys(h), r, *info) ? 0 : -1;
}

int wd_heap_walk(wd_heap_t *h, int (*visit)(void *start, size_t size, int allocated, void *arg),
                 void *arg) {
    for (uint8_t *at = heap_first(h); at < heap_end(h);) {
        uint64_t info;
        size_t prev_size;
        VG_QUIET_BEGIN();
        int rc = range_read(h, range_at(at), &info, &prev_size);
        VG_QUIET_END();
        if (rc != 0)
            heap_fatal("corrupted block header", at + HDR, "wd_heap_walk");
        rc = visit(at + HDR, info_size(info) - HDR, info_allocated(info), arg);
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

/* Ranges in address order: tiling, checksums, boundary tags, merging; and
 * the last range when it is free (the top). */
static int check_ranges(wd_heap_t *h, size_t *nfree, uint64_t *free_fp, range_t **tail_free) {
    size_t last = 0, used = 0, nalloc = 0;
    int last_free = 0;
    uint8_t *at = heap_first(h);
    while (at < heap_end(h)) {
        uint64_t info;
        size_t prev_size;
        if (range_read(h, range_at(at), &info, &prev_size) != 0 || prev_size != last)
            return -1;
        size_t size = info_size(info);
        if (size < MIN_RANGE || size % 16 != 0 || size > (size_t)(heap_end(h) - at))
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
    *tail_free = last_free ? range_at(at - last) : NULL; /* the last range, if free */
    if (at != heap_end(h) || range_read(h, range_at(heap_end(h)), &end_info, &end_prev) != 0 ||
        end_info != END_INFO || end_prev != last)
        return -1;
    return used == h->used && nalloc == h->nalloc ? 0 : -1;
}

/* Checks one list's links without aborting; adds what it holds. */
static int check_list(wd_heap_t *h, unsigned fl, unsigned sl, size_t *count, uint64_t *fp) {
    keys_t k = heap_keys(h);
    uint32_t off = *list_head(h, fl, sl), prev = 0;
    while (off != 0) {
        range_t *r = range_from_off(h, off);
        uint64_t info;
        size_t prev_size;
        unsigned rfl, rsl;
        if ((uint8_t *)r < heap_first(h) || (uint8_t *)r >= heap_end(h) ||
            ++*count > h->nranges - h->nalloc || off == h->top ||
            range_read(h, r, &info, &prev_size) != 0 || info_allocated(info))
            return -1;
        class_of(info_size(info), &rfl, &rsl);
        uint64_t v = links_read(k, r);
        if (rfl != fl || rsl != sl || (uint32_t)(v >> 32) != prev || (uint32_t)v >= h->end_off)
            return -1;
        *fp += fingerprint(r);
        prev = off;
        off = (uint32_t)v;
    }
    return 0;
}

/* Lists and bitmaps agree with each other and with the ranges. */
static int check_lists(wd_heap_t *h, size_t nfree, uint64_t free_fp, range_t *tail_free) {
    size_t count = 0;
    uint64_t fp = 0;
    for (unsigned fl = 0; fl < h->fl_count; fl++) {
        int fl_bit = (h->fl_bitmap >> fl) & 1;
        if (fl_bit != (*sl_word(h, fl) != 0) || (*sl_word(h, fl) >> SL_COUNT) != 0)
            return -1;
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            int sl_bit = (*sl_word(h, fl) >> sl) & 1;
            if (sl_bit != (*list_head(h, fl, sl) != 0) || check_list(h, fl, sl, &count, &fp) != 0)
                return -1;
        }
    }
    if ((h->fl_bitmap >> h->fl_count) != 0)
        return -1;
    /* The top is the last range when that is free (none at -Os), the one
     * free range no list holds. */
    range_t *top = h->top ? range_from_off(h, h->top) : NULL;
    if (top != (HEAP_TOP ? tail_free : NULL))
        return -1;
    if (top)
        fp += fingerprint(top);
    return count + (top != NULL) == nfree && count == h->nranges - h->nalloc && fp == free_fp
               ? 0
               : -1;
}

static int heap_check(wd_heap_t *h) {
    if (h == NULL || h->magic != (HEAP_MAGIC ^ (uint64_t)(uintptr_t)h))
        return -1;
    size_t nfree = 0;
    uint64_t free_fp = 0;
    range_t *tail_free;
    if (check_ranges(h, &nfree, &free_fp, &tail_free) != 0)
        return -1;
    return check_lists(h, nfree, free_fp, tail_free);
}

int wd_heap_check(wd_heap_t *h) {
    VG_QUIET_BEGIN();
    int rc = heap_check(h);
    VG_QUIET_END();
    return rc;
}

/* The largest request malloc serves now: the head of the highest non-empty
 * class (see list_find: a request above every class start is served by that
 * head only), less its header.  O(1). */
static size_t largest_request(wd_heap_t *h) {
    size_t largest = 0;
    if (h->fl_bitmap != 0) {
        unsigned fl = 63u - (unsigned)__builtin_clzll(h->fl_bitmap);
        unsigned sl = 31u - (unsigned)__builtin_clz(*sl_word(h, fl));
        range_t *r = range_from_off(h, *list_head(h, fl, sl));
        uint64_t info = r->info;
        if (!range_holds(heap_keys(h), r, info) || info_allocated(info))
            heap_fatal("corrupted free list", range_payload(r), "wd_heap_stats");
        largest = info_size(info);
    }
    if (h->top != 0) { /* or the top, which malloc tries before that head */
        range_t *r = range_from_off(h, h->top);
        uint64_t info = r->info;
        if (!range_holds(heap_keys(h), r, info) || info_allocated(info))
            heap_fatal("corrupted block header", range_payload(r), "wd_heap_stats");
        if (info_size(info) > largest)
            largest = info_size(info);
    }
    return largest ? largest - HDR : 0;
}

void wd_heap_stats(wd_heap_t *h, wd_heap_stats_t *out) {
    size_t span = (size_t)(heap_end(h) - heap_first(h));
    VG_QUIET_BEGIN();
    out->largest_free = largest_request(h);
    VG_QUIET_END();
    out->heap_size = h->heap_size;
    out->used_bytes = h->used;
    out->free_bytes = span - h->used;
    out->allocated_blocks = h->nalloc;
    out->free_blocks = h->nranges - h->nalloc + (h->top != 0);
    out->peak_used_bytes = h->peak;
    out->overhead_bytes = h->heap_size - span;
}

#ifndef WD_HEAP_FREESTANDING
static void dump_ranges(wd_heap_t *h, FILE *out) {
    for (uint8_t *at = heap_first(h); at < heap_end(h);) {
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

void wd_heap_dump(wd_heap_t *h, FILE *out) {
    VG_QUIET_BEGIN();
    dump_ranges(h, out);
    VG_QUIET_END();
}
#endif
