/* blocks.h -- check mode's table of blocks: what the checker knows of each
 * block it handed out, kept outside the blocks so that no write out of
 * bounds can change it.  Keyed by the program's pointer; 64 stripes, each
 * an open-addressing table behind its own lock, so threads rarely meet. */
#ifndef WARDEN_BLOCKS_H
#define WARDEN_BLOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"
#include "base/lock.h"

enum {
    WD_BLOCK_LIVE = 1,        /* handed out, not freed */
    WD_BLOCK_QUARANTINED = 2, /* freed, held filled with a pattern */
    WD_BLOCK_RELEASED = 3     /* freed and given back to the tiers; kept a while
                                 so that a late double free is still named */
};

typedef struct wd_block_info_s {
    uintptr_t p;              /* the program's pointer; 0: an empty slot */
    uint64_t size : 48;       /* bytes requested */
    uint64_t kind : 4;        /* wd_alloc_kind_t */
    uint64_t state : 4;       /* WD_BLOCK_* */
    uint64_t align_log : 8;   /* log2 of the alignment (>= 4) */
    uint32_t alloc_stack;     /* stack depot ids (stack.h), 0 if none */
    uint32_t free_stack;
} wd_block_info_t;

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

/* Every stripe locked / unlocked in turn (a snapshot at exit and for the
 * leak scan), and a walk over the entries of a table so locked. */
void wdi_blocks_lock_all(void);
void wdi_blocks_unlock_all(void);
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
