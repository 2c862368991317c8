/* blocks.h -- check mode's table of blocks: what the checker knows of each
 * block it handed out, kept outside the blocks so that no write out of
 * bounds can change it.  Keyed by the program's pointer; 64 stripes, each
 * an open-addressing table behind its own lock, so threads rarely meet. */
#ifndef WARDEN_BLOCKS_H
#define WARDEN_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

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

/* The entry of p, made (zeroed but for p) when there is none; NULL when no
 * memory is left for the table. */
wd_block_info_t *wdi_blocks_put(wd_blocks_stripe_t *s, uintptr_t p);
void wdi_blocks_del(wd_blocks_stripe_t *s, uintptr_t p);

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
