/* blocks.c -- owns what check mode knows of each block (blocks.h): the
 * table, the records' keys and the walk over every live block.  Calls:
 * os.h (memory, the keys), ownmem.h (which the leak scan skips), lock.h,
 * page.h and thread.h (the small pages, whose blocks hold records). */
#include "debug/blocks.h"

#include <string.h>

#include "base/ownmem.h"
#include "base/tsan.h"
#include "core/thread.h"
#include "os/os.h"

/* A multiplicative hash of the address: the stripe from its top bits, the
 * slot from the middle ones, so the two are independent (blocks.h). */
static inline size_t home_of(const wd_blocks_stripe_t *s, uintptr_t p) {
    return wdi_blocks_home(s, p);
}

wd_blocks_stripe_t wdi_blocks_stripes[WD_BLOCKS_STRIPES];
#define stripes wdi_blocks_stripes
#define STRIPES WD_BLOCKS_STRIPES
#define FIRST_SLOTS 128     /* slots of a stripe's first table: 3 KiB, so that 64 stripes start small */

uint64_t wdi_blocks_secret, wdi_blocks_freed_key;

void wdi_blocks_init(void) {
    wdi_blocks_secret = wdi_os_random();
    wdi_blocks_freed_key = wdi_os_random() | 1; /* never 0: a freed record is never live */
}

/* --- the checker's own mappings ---------------------------------------------- */

void *wdi_check_map(size_t size) {
    void *p;
    if (wdi_os_map(size, &p) != 0)
        return NULL;
    wdi_own_add(p, size);
    return p;
}

void wdi_check_unmap(void *p, size_t size) {
    wdi_own_remove(p);
    wdi_os_unmap(p, size);
}

/* --- one stripe: open addressing, linear probing ------------------------------ */

/* Doubles the stripe's table (or makes its first).  The one system call
 * made with a lock held: rare (a stripe doubles about 20 times in a
 * program's life), and the checker is not the fast mode. */
int wdi_blocks_grow(wd_blocks_stripe_t *s) {
    size_t slots = s->mask ? (s->mask + 1) * 2 : FIRST_SLOTS;
    wd_block_info_t *fresh = wdi_check_map(slots * sizeof *fresh);
    if (fresh == NULL)
        return -1;
    size_t old_slots = s->mask ? s->mask + 1 : 0;
    wd_block_info_t *old = s->slot;
    s->slot = fresh;
    s->mask = slots - 1;
    for (size_t i = 0; i < old_slots; i++) {
        if (old[i].p == 0)
            continue;
        size_t j = home_of(s, old[i].p);
        while (fresh[j].p != 0)
            j = (j + 1) & s->mask;
        fresh[j] = old[i];
    }
    if (old != NULL)
        wdi_check_unmap(old, old_slots * sizeof *old);
    return 0;
}

/* --- all stripes ------------------------------------------------------------- */

void wdi_blocks_lock_all(void) {
    for (size_t i = 0; i < STRIPES; i++)
        wdi_lock(&stripes[i].lock);
}

int wdi_blocks_try_lock_all(void) {
    for (size_t i = 0; i < STRIPES; i++)
        if (!wdi_lock_try(&stripes[i].lock)) {
            while (i-- > 0)
                wdi_unlock(&stripes[i].lock);
            return 0;
        }
    return 1;
}

void wdi_blocks_unlock_all(void) {
    for (size_t i = STRIPES; i-- > 0;)
        wdi_unlock(&stripes[i].lock);
}

void wdi_blocks_fork_prepare(void) { wdi_blocks_lock_all(); }

void wdi_blocks_fork_parent(void) { wdi_blocks_unlock_all(); }

void wdi_blocks_fork_child(void) {
    for (size_t i = 0; i < STRIPES; i++)
        wdi_lock_reset(&stripes[i].lock);
}

/* The live records of one page in use, read while its owner may change
 * them (blocks.h): a slot is a live block only when its tag matches. */
WD_TSAN_UNCHECKED static void page_foreach(const wd_page_t *pg,
                                           void (*fn)(wd_block_info_t *b, void *arg), void *arg) {
    uintptr_t start = (uintptr_t)pg->xstart;
    uint32_t size = pg->xblock_size, n = pg->capacity;
    if (n > pg->xreserved)
        n = pg->xreserved;
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t slot = start + (uintptr_t)i * size;
        const wd_block_rec_t *r = (const wd_block_rec_t *)slot;
        uint64_t word = r->word;
        if (atomic_load_explicit(&r->tag, memory_order_acquire) != wdi_blocks_tag(slot, word))
            continue;
        wd_block_info_t b;
        wdi_blocks_rec_info(slot, word, &b);
        if (b.p + wdi_bi_size(&b) > slot + size) /* a tag that matched by chance */
            continue;
        fn(&b, arg);
    }
}

/* Every heap's small segments (never freed: the walk needs no lock), each
 * page that holds blocks and whose memory is there. */
WD_TSAN_UNCHECKED static void records_foreach(void (*fn)(wd_block_info_t *b, void *arg),
                                              void *arg) {
    for (wd_theap_t *h = wdi_heaps_first(); h != NULL; h = h->next_all)
        for (wd_small_segment_t *seg = wdi_small_segments(&h->small); seg != NULL;
             seg = seg->next)
            for (size_t i = 1; i < WD_PAGES_PER_SEGMENT; i++) {
                const wd_page_t *pg = &seg->pages[i];
                if (!wdi_page_unused(pg) && !pg->decommitted && pg->xblock_size != 0)
                    page_foreach(pg, fn, arg);
            }
}

void wdi_blocks_foreach(void (*fn)(wd_block_info_t *b, void *arg), void *arg) {
    for (size_t i = 0; i < STRIPES; i++) {
        wd_blocks_stripe_t *s = &stripes[i];
        for (size_t j = 0; s->mask != 0 && j <= s->mask; j++)
            if (s->slot[j].p != 0)
                fn(&s->slot[j], arg);
    }
    records_foreach(fn, arg);
}
