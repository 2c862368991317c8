/* pool.c -- the fixed-size item pool of warden/pool.h (its only interface:
 * nothing else in warden calls it).
 *
 * Owns: the pool's layout inside the memory given, the encoded free list,
 * the in-use bitmap and every check of a pointer handed back.  Calls:
 * options.h (misuse reports), os.h (the per-pool key).  Never allocates.
 *
 * Telling an item start from any other address without a division: with
 * item_size = m << shift (m odd, shift >= 4), addr is item i exactly when
 * wd_item_index(addr - start, shift, inv(m)) == i < capacity (internal.h
 * says why; capacity * item_size < 2^63 keeps it exact).
 */
#include "warden/pool.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"
#include "base/options.h"
#include "os/os.h"

/* Items that fit in bytes together with their bitmap words. */
static size_t capacity_for(size_t bytes, size_t isz) {
    size_t n = 0;
    if (isz <= (SIZE_MAX - 8) / 64) { /* whole groups: 64 items and their word */
        size_t group = isz * 64 + 8;
        n = bytes / group * 64;
        bytes %= group;
    }
    return bytes > 8 ? n + (bytes - 8) / isz : n; /* then a partial group */
}

/* Usable bytes of [mem, mem + size) from its first 16-byte boundary, capped
 * so that capacity * item_size < 2^63 (the index test relies on it). */
static size_t usable_bytes(const void *mem, size_t size, uintptr_t *start) {
    *start = wd_ptr_align_up((uintptr_t)mem, WD_ALIGN);
    size_t lost = (size_t)(*start - (uintptr_t)mem);
    if (size < lost)
        return 0;
    return size - lost < PTRDIFF_MAX ? size - lost : PTRDIFF_MAX;
}

static int einval(void) {
    errno = EINVAL;
    return -1;
}

int wd_pool_init(wd_pool_t *p, void *mem, size_t mem_size, size_t item_size) {
    uintptr_t start;
    size_t bytes = usable_bytes(mem, mem_size, &start);
    if (p == NULL || mem == NULL || item_size == 0 || item_size > PTRDIFF_MAX)
        return einval();
    size_t isz = WD_POOL_ITEM_SIZE(item_size);
    size_t cap = capacity_for(bytes, isz);
    if (cap == 0)
        return einval();
    *p = (wd_pool_t){.start = start, .capacity = cap, .item_size = isz,
                     .key = wdi_os_random(), .mem = mem, .mem_size = mem_size};
    p->shift = (unsigned)__builtin_ctzll(isz);
    p->inv = wd_inverse_odd(isz >> p->shift);
    p->bitmap = (uint64_t *)(start + cap * isz); /* 16-aligned: isz is */
    memset(p->bitmap, 0, (cap + 63) / 64 * sizeof(uint64_t));
    return 0;
}

/* The index of the item that starts at addr, or SIZE_MAX when addr is not
 * an item start inside the pool (see the top of the file). */
static inline size_t item_index(const wd_pool_t *p, uintptr_t addr) {
    uint64_t i = wd_item_index(addr - p->start, p->shift, p->inv);
    return i < p->capacity ? (size_t)i : SIZE_MAX;
}

static inline int bit_get(const wd_pool_t *p, size_t i) {
    return (int)(p->bitmap[i / 64] >> (i % 64)) & 1;
}

static inline void bit_flip(wd_pool_t *p, size_t i) {
    p->bitmap[i / 64] ^= (uint64_t)1 << (i % 64);
}

/* --- alloc ------------------------------------------------------------------ */

/* Nothing listed and nothing fresh: a WD_POOL_STATIC pool's first call
 * (initialise it, then allocate), or a full pool. */
static WD_NOINLINE void *pool_alloc_slow(wd_pool_t *p) {
    if (p->capacity == 0 && p->lazy_item_size != 0 &&
        wd_pool_init(p, p->mem, p->mem_size, p->lazy_item_size) == 0)
        return wd_pool_alloc(p);
    errno = ENOMEM;
    return NULL;
}

/* Pops the free list.  The decoded link must be 0 or a handed-out item
 * that is not in use; anything else means the freed item was written to
 * (a use after free) and is reported instead of followed. */
static inline uintptr_t pool_pop(wd_pool_t *p, uintptr_t item) {
    uintptr_t next = *(uintptr_t *)item ^ p->key ^ item;
    if (next != 0) {
        size_t i = item_index(p, next);
        if (wd_unlikely(i >= p->fresh || bit_get(p, i)))
            wdi_fatal("corrupted free list", (void *)item, "wd_pool_alloc");
    }
    p->free = next;
    return item;
}

void *wd_pool_alloc(wd_pool_t *p) {
    uintptr_t item;
    size_t i;
    if (wd_likely(p->free != 0)) {
        item = pool_pop(p, p->free);
        i = item_index(p, item);
    } else if (p->fresh < p->capacity) {
        i = p->fresh++;
        item = p->start + i * p->item_size;
    } else {
        return pool_alloc_slow(p);
    }
    bit_flip(p, i);
    p->count++;
    return (void *)item;
}

/* --- free ------------------------------------------------------------------- */

void wd_pool_free(wd_pool_t *p, void *item) {
    if (item == NULL)
        return;
    uintptr_t addr = (uintptr_t)item;
    size_t i = item_index(p, addr);
    if (wd_unlikely(i >= p->fresh)) /* outside, inside an item, or never handed out */
        wdi_fatal("invalid pointer", item, "wd_pool_free");
    if (wd_unlikely(!bit_get(p, i)))
        wdi_fatal("double free", item, "wd_pool_free");
    bit_flip(p, i);
    *(uintptr_t *)addr = p->free ^ p->key ^ addr; /* safe-linking style */
    p->free = addr;
    p->count--;
}

size_t wd_pool_count(const wd_pool_t *p) { return p->count; }

size_t wd_pool_capacity(const wd_pool_t *p) {
    if (p->capacity == 0 && p->lazy_item_size != 0) { /* static, before first use */
        uintptr_t start;
        return capacity_for(usable_bytes(p->mem, p->mem_size, &start), p->lazy_item_size);
    }
    return p->capacity;
}
