/* blocks.h -- what check mode knows of each block it handed out: its size,
 * kind, alignment, state and stacks.
 *
 * A block of a small page (most blocks) keeps it in its own first 16
 * bytes, a record before its left redzone (below): a malloc writes two
 * words, a free turns the record from live to freed with one
 * compare-and-swap, and neither takes a lock or looks into a table.  The
 * record is keyed by a secret and the block's address, so a pointer into
 * the middle of a block, a stale one or another allocator's finds no live
 * record; an underflow that runs past the left redzone damages it, and is
 * reported as such.  Every other block (medium and large ones, check=2's
 * guarded ones) is kept in a table outside the blocks: 64 stripes, each an
 * open-addressing table behind its own lock, keyed by the program's
 * pointer. */
#ifndef WARDEN_BLOCKS_H
#define WARDEN_BLOCKS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"
#include "base/lock.h"
#include "core/page.h"
#include "core/segment.h"
#include "debug/stack.h"

enum {
    WD_BLOCK_LIVE = 1,        /* handed out, not freed */
    WD_BLOCK_QUARANTINED = 2, /* freed, held filled with a pattern */
    WD_BLOCK_RELEASED = 3     /* freed and given back to the tiers; kept a while
                                 so that a late double free is still named */
};

typedef struct wd_block_info_s {
    uintptr_t p;          /* the program's pointer; 0: an empty slot */
    uint64_t meta;        /* wdi_bi_meta: bytes requested, kind, state, alignment */
    uint32_t alloc_stack; /* stack depot ids (stack.h), 0 if none */
    uint32_t free_stack;
} wd_block_info_t;

/* An entry's second word, built whole in a register and stored at once:
 * fields stored one by one (bit-fields, bytes), then read as a word by the
 * code that follows, made the load wait for the stores to land, a stall
 * on every free.
 *   bits 0-47: bytes requested; 48-51: wd_alloc_kind_t; 52-55: WD_BLOCK_*;
 *   56-63: log2 of the front (>= 4) */
#define WD_BI_SIZE_MASK (((uint64_t)1 << 48) - 1)

static inline uint64_t wdi_bi_meta(size_t size, unsigned kind, unsigned state, unsigned align_log) {
    return ((uint64_t)size & WD_BI_SIZE_MASK) | (uint64_t)(kind & 15u) << 48 |
           (uint64_t)(state & 15u) << 52 | (uint64_t)(align_log & 255u) << 56;
}
static inline size_t wdi_bi_size(const struct wd_block_info_s *b) {
    return (size_t)(b->meta & WD_BI_SIZE_MASK);
}
static inline unsigned wdi_bi_kind(const struct wd_block_info_s *b) {
    return (unsigned)(b->meta >> 48) & 15u;
}
static inline unsigned wdi_bi_state(const struct wd_block_info_s *b) {
    return (unsigned)(b->meta >> 52) & 15u;
}
static inline unsigned wdi_bi_align_log(const struct wd_block_info_s *b) {
    return (unsigned)(b->meta >> 56);
}
static inline uint64_t wdi_bi_with_state(uint64_t meta, unsigned state) {
    return (meta & ~((uint64_t)15 << 52)) | (uint64_t)(state & 15u) << 52;
}

#define WD_BLOCKS_STRIPES 64 /* a power of two */

typedef struct wd_blocks_stripe_s {
    wd_lock_t lock;
    size_t mask;  /* slots - 1; 0 before the first table */
    size_t count; /* entries in use */
    wd_block_info_t *slot;
} __attribute__((aligned(64))) wd_blocks_stripe_t;

/* The stripes, here so that the calls below are inlined in check.c. */
extern wd_blocks_stripe_t wdi_blocks_stripes[WD_BLOCKS_STRIPES];

/* A multiplicative hash of the address: the stripe from its top bits, the
 * slot from the middle ones, so the two are independent. */
static inline uint64_t wdi_blocks_hash(uintptr_t p) {
    return (uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ULL;
}
static inline size_t wdi_blocks_home(const wd_blocks_stripe_t *s, uintptr_t p) {
    return (size_t)(wdi_blocks_hash(p) >> 20) & s->mask;
}

/* Locks the stripe of p and returns it; every call below on it must come
 * before wdi_blocks_release. */
static inline wd_blocks_stripe_t *wdi_blocks_acquire(uintptr_t p) {
    wd_blocks_stripe_t *s =
        &wdi_blocks_stripes[(size_t)(wdi_blocks_hash(p) >> 58) & (WD_BLOCKS_STRIPES - 1)];
    wdi_lock(&s->lock);
    return s;
}

static inline void wdi_blocks_release(wd_blocks_stripe_t *s) { wdi_unlock(&s->lock); }

/* The entry of p, or NULL.  Valid until the stripe is released or changed. */
static inline wd_block_info_t *wdi_blocks_get(wd_blocks_stripe_t *s, uintptr_t p) {
    if (s->mask == 0)
        return NULL;
    for (size_t i = wdi_blocks_home(s, p);; i = (i + 1) & s->mask) {
        if (s->slot[i].p == p)
            return &s->slot[i];
        if (s->slot[i].p == 0)
            return NULL;
    }
}

/* Makes room for one more entry (doubles the table, or makes its first);
 * -1 when no memory is left for it. */
int wdi_blocks_grow(wd_blocks_stripe_t *s);

/* The entry of p, made (zeroed but for p) when there is none; NULL when no
 * memory is left for the table. */
static inline wd_block_info_t *wdi_blocks_put(wd_blocks_stripe_t *s, uintptr_t p) {
    /* Up to three quarters full: linear probing still finds an entry in
     * two or three probes, and the table (24 bytes an entry, every live
     * block) is a good part of check mode's memory. */
    if (wd_unlikely((s->count + 1) * 4 > (s->mask ? s->mask + 1 : 0) * 3) &&
        wdi_blocks_grow(s) != 0)
        return NULL;
    size_t i = wdi_blocks_home(s, p);
    while (s->slot[i].p != 0) {
        if (s->slot[i].p == p)
            return &s->slot[i];
        i = (i + 1) & s->mask;
    }
    wd_block_info_t *b = &s->slot[i];
    memset(b, 0, sizeof *b);
    b->p = p;
    s->count++;
    return b;
}

/* Removes entry b of the stripe.  Backward-shift deletion: the entries
 * after the hole that would not be found past it move up, so no tombstone
 * is ever left. */
static inline void wdi_blocks_remove(wd_blocks_stripe_t *s, wd_block_info_t *b) {
    size_t hole = (size_t)(b - s->slot);
    for (size_t i = (hole + 1) & s->mask; s->slot[i].p != 0; i = (i + 1) & s->mask) {
        size_t home = wdi_blocks_home(s, s->slot[i].p);
        /* May the entry at i move to hole?  Only if its home is not in
         * (hole, i], cyclically. */
        int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            s->slot[hole] = s->slot[i];
            hole = i;
        }
    }
    s->slot[hole].p = 0;
    s->count--;
}

static inline void wdi_blocks_del(wd_blocks_stripe_t *s, uintptr_t p) {
    wd_block_info_t *b = wdi_blocks_get(s, p);
    if (b != NULL)
        wdi_blocks_remove(s, b);
}

/* --- records in small blocks ------------------------------------------------- */

/* The first 16 bytes of a small block's slot, when check mode handed it
 * out: the program's pointer is the slot plus 2^align_log (32 or more),
 * the left redzone the 16 bytes before it.
 *   tag:  wdi_blocks_tag(slot, word) while the block is live, that xor
 *         wdi_blocks_freed_key once it was freed (then the tiers overwrite
 *         it with their free list's link when the block goes back to them);
 *   word: size (bits 0-19), kind (20-21), align_log (22-27), allocation
 *         stack (28-51). */
typedef struct wd_block_rec_s {
    _Atomic(uint64_t) tag;
    uint64_t word;
} wd_block_rec_t;

#define WD_REC_FRONT 32 /* the front of a block that needs no more alignment */
#define WD_REC_SIZE_BITS 20
_Static_assert(WD_SMALL_MAX < ((size_t)1 << WD_REC_SIZE_BITS), "a small block's size fits");
_Static_assert(WD_STACK_DEPOT_MIB <= 128, "stack ids fit in a record's 24 bits");

extern uint64_t wdi_blocks_secret, wdi_blocks_freed_key;

/* Keyed by the secret: an overflow or a copy that does not know it does
 * not make a live record, and a record copied to another slot is not one
 * there. */
static inline uint64_t wdi_blocks_tag(uintptr_t slot, uint64_t word) {
    uint64_t x = ((uint64_t)slot ^ wdi_blocks_secret) * 0x9E3779B97F4A7C15ULL;
    x ^= word;
    x *= 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 31);
}

/* What the tag of the record in slot says of the block its word
 * describes: WD_BLOCK_LIVE, WD_BLOCK_QUARANTINED (freed: the live tag
 * turned by the freed key), or 0 when it is neither (the tiers' list
 * link, zeros, or something written over it). */
static inline unsigned wdi_blocks_tag_state(uintptr_t slot, uint64_t word, uint64_t tag) {
    uint64_t live = wdi_blocks_tag(slot, word);
    return tag == live                           ? WD_BLOCK_LIVE
           : tag == (live ^ wdi_blocks_freed_key) ? WD_BLOCK_QUARANTINED
                                                  : 0;
}

static inline uint64_t wdi_blocks_rec_word(size_t size, unsigned kind, unsigned align_log,
                                           uint32_t alloc_stack) {
    return (uint64_t)size | (uint64_t)(kind & 3u) << 20 | (uint64_t)(align_log & 63u) << 22 |
           (uint64_t)(alloc_stack & 0xffffffu) << 28;
}

/* Where the block a record's word describes starts, given its slot. */
static inline uintptr_t wdi_blocks_rec_p(uintptr_t slot, uint64_t word) {
    return slot + ((uintptr_t)1 << ((word >> 22) & 63u));
}

/* What a record says, as a table entry of a live block. */
static inline void wdi_blocks_rec_info(uintptr_t slot, uint64_t word, wd_block_info_t *out) {
    unsigned align_log = (unsigned)(word >> 22) & 63u;
    out->p = wdi_blocks_rec_p(slot, word);
    out->meta = wdi_bi_meta(word & ((1u << WD_REC_SIZE_BITS) - 1), (word >> 20) & 3u,
                            WD_BLOCK_LIVE, align_log);
    out->alloc_stack = (uint32_t)(word >> 28) & 0xffffffu;
    out->free_stack = 0;
}

/* Writes the record of a live block whose slot is `slot` (size below
 * 2^WD_REC_SIZE_BITS, pointer slot + 2^align_log). */
static inline void wdi_blocks_rec_put(uint8_t *slot, size_t size, unsigned kind,
                                      unsigned align_log, uint32_t alloc_stack) {
    wd_block_rec_t *r = (wd_block_rec_t *)(void *)slot;
    uint64_t word = wdi_blocks_rec_word(size, kind, align_log, alloc_stack);
    r->word = word;
    atomic_store_explicit(&r->tag, wdi_blocks_tag((uintptr_t)slot, word), memory_order_relaxed);
}

/* The slot of the small block whose pointer p would be, given the small
 * segment of p (its segment map entry without the flag); NULL when p is no
 * block's place in a page.  The common front first: one multiply; any
 * other through a division. */
static inline uint8_t *wdi_blocks_slot_of(wd_small_segment_t *seg, uintptr_t p) {
    wd_page_t *pg = wdi_page_of(seg, (const void *)p);
    uintptr_t start = (uintptr_t)pg->xstart;
    uint32_t reserved = pg->xreserved;
    if (wd_likely(wd_item_index(p - WD_REC_FRONT - start, pg->xshift, pg->xinv) < reserved))
        return (uint8_t *)(p - WD_REC_FRONT);
    uint32_t size = pg->xblock_size;
    if (size == 0 || p < start || (p & 31) != 0)
        return NULL;
    uintptr_t i = (p - start) / size;
    return i < reserved ? (uint8_t *)(start + i * size) : NULL;
}

/* The word of p's record when p is a live small block (its slot in
 * *slot_out), else 0 (a record's word is never 0: its align_log is 5 or
 * more). */
static inline uint64_t wdi_blocks_rec_live(wd_small_segment_t *seg, uintptr_t p,
                                           uint8_t **slot_out) {
    uint8_t *slot = wdi_blocks_slot_of(seg, p);
    if (wd_unlikely(slot == NULL))
        return 0;
    wd_block_rec_t *r = (wd_block_rec_t *)(void *)slot;
    uint64_t word = r->word;
    if (wd_unlikely(wdi_blocks_rec_p((uintptr_t)slot, word) != p ||
                    atomic_load_explicit(&r->tag, memory_order_acquire) !=
                        wdi_blocks_tag((uintptr_t)slot, word)))
        return 0;
    *slot_out = slot;
    return word;
}

/* For a free: turns p's record from live to freed when p is a live small
 * block, gives its entry (*out) and returns its slot; NULL when it is not
 * (never freed twice: of two threads that free it at once, one wins). */
static inline uint8_t *wdi_blocks_rec_take(wd_small_segment_t *seg, uintptr_t p,
                                           wd_block_info_t *out) {
    uint8_t *slot = wdi_blocks_slot_of(seg, p);
    if (wd_unlikely(slot == NULL))
        return NULL;
    wd_block_rec_t *r = (wd_block_rec_t *)(void *)slot;
    uint64_t word = r->word;
    uint64_t live = wdi_blocks_tag((uintptr_t)slot, word);
    if (wd_unlikely(wdi_blocks_rec_p((uintptr_t)slot, word) != p ||
                    !atomic_compare_exchange_strong_explicit(&r->tag, &live,
                                                             live ^ wdi_blocks_freed_key,
                                                             memory_order_acq_rel,
                                                             memory_order_relaxed)))
        return NULL;
    wdi_blocks_rec_info((uintptr_t)slot, word, out);
    return slot;
}

/* Whether a record's word could be one check mode wrote for a block at p
 * in slot: it puts the block at p, its front and size fit the slot, its
 * kind is one there is and the depot knows its stack.  A slot never handed
 * out has a word of 0. */
static inline int wdi_blocks_word_plausible(wd_small_segment_t *seg, const uint8_t *slot,
                                            uintptr_t p, uint64_t word) {
    unsigned align_log = (unsigned)(word >> 22) & 63u;
    size_t size = word & ((1u << WD_REC_SIZE_BITS) - 1);
    void *pc;
    return word != 0 && align_log >= 5 && align_log <= WD_PAGE_SHIFT &&
           wdi_blocks_rec_p((uintptr_t)slot, word) == p &&
           ((uintptr_t)1 << align_log) + size <= wdi_page_of(seg, slot)->xblock_size &&
           ((word >> 20) & 3u) <= 2 &&
           wdi_stack_load((uint32_t)(word >> 28) & 0xffffffu, &pc, 1) != 0;
}

/* For a report: whether p is where the small block that its slot's record
 * still names lay, that block no longer live (freed, and given back to its
 * page long enough ago for the history to have forgotten it: the page's
 * list link took the tag's place, the word stays until the slot is handed
 * out again).  Then *out gets what the word says, state RELEASED, no free
 * stack.  A tag that is no list link was written over (below). */
static inline int wdi_blocks_rec_gone(wd_small_segment_t *seg, uintptr_t p, wd_block_info_t *out) {
    uint8_t *slot = wdi_blocks_slot_of(seg, p);
    if (slot == NULL)
        return 0;
    uint64_t word = ((const wd_block_rec_t *)(const void *)slot)->word;
    if (!wdi_blocks_word_plausible(seg, slot, p, word) ||
        !wdi_block_looks_free(wdi_page_of(seg, slot)->xkey, slot))
        return 0;
    wdi_blocks_rec_info((uintptr_t)slot, word, out);
    out->meta = wdi_bi_with_state(out->meta, WD_BLOCK_RELEASED);
    return 1;
}

/* For a report: whether something wrote over the tag of the record of p,
 * a live block (an overflow of the block before it that jumped that
 * block's right redzone, or an underflow of p that jumped its left one):
 * the word still names p, the tag is neither the live one, nor the freed
 * one, nor the tiers' list link of a block given back.  Then *out gets
 * what the word says (state LIVE) and *slot_out the slot. */
static inline int wdi_blocks_rec_overwritten(wd_small_segment_t *seg, uintptr_t p,
                                             wd_block_info_t *out, uint8_t **slot_out) {
    uint8_t *slot = wdi_blocks_slot_of(seg, p);
    if (slot == NULL)
        return 0;
    const wd_block_rec_t *r = (const wd_block_rec_t *)(const void *)slot;
    uint64_t word = r->word, tag = atomic_load_explicit(&r->tag, memory_order_acquire);
    if (!wdi_blocks_word_plausible(seg, slot, p, word) ||
        wdi_blocks_tag_state((uintptr_t)slot, word, tag) != 0 ||
        wdi_block_looks_free(wdi_page_of(seg, slot)->xkey, slot))
        return 0;
    wdi_blocks_rec_info((uintptr_t)slot, word, out);
    *slot_out = slot;
    return 1;
}

/* Makes the tag of the record in slot, whose word is intact, what it was:
 * a live block's, or a freed one's when `freed` is set. */
static inline void wdi_blocks_rec_mend(uint8_t *slot, int freed) {
    wd_block_rec_t *r = (wd_block_rec_t *)(void *)slot;
    uint64_t live = wdi_blocks_tag((uintptr_t)slot, r->word);
    atomic_store_explicit(&r->tag, freed ? live ^ wdi_blocks_freed_key : live,
                          memory_order_release);
}

/* Sets the secret and the freed key; before the first record. */
void wdi_blocks_init(void);

/* Every stripe locked / unlocked in turn (a snapshot at exit and for the
 * leak scan), and a walk over every live block: the entries of the table
 * so locked, then the records of every small page (read as they are: a
 * block that another thread allocates or frees meanwhile may be seen or
 * not).  fn gets a copy it may change. */
void wdi_blocks_lock_all(void);
void wdi_blocks_unlock_all(void);
/* Every stripe locked, if none is held by anyone (1); else none (0). */
int wdi_blocks_try_lock_all(void);
/* fork(): every lock of the table held across it. */
void wdi_blocks_fork_prepare(void);
void wdi_blocks_fork_parent(void);
void wdi_blocks_fork_child(void);
void wdi_blocks_foreach(void (*fn)(wd_block_info_t *b, void *arg), void *arg);

/* Memory of the checker itself (from wdi_os_map), listed as warden's own
 * (ownmem.h): the leak scan skips it. */
void *wdi_check_map(size_t size);
void wdi_check_unmap(void *p, size_t size);

#endif /* WARDEN_BLOCKS_H */
