/* warden/pool.h -- a pool of same-size items in fixed memory: O(1)
 * allocation and free, misuse caught.
 *
 * A pool holds at most `capacity` items of one size, in memory the caller
 * gives (wd_pool_init) or in static storage (WD_POOL_STATIC): the seed's
 * game menu of at most 256 entries, the nodes of a bounded queue, the
 * connections of a server with a connection limit.  It never calls an
 * allocator and never grows.
 *
 *   - Items are 16-byte aligned: item_size is rounded up to a multiple of
 *     16 (at least 16).
 *   - Free items form a list threaded through their first word, stored
 *     encoded (XOR with a per-pool secret key and the item's own address,
 *     as warden's free lists are), so a stray write into a freed item does
 *     not turn into an arbitrary pointer for the next wd_pool_alloc.
 *   - One bit per item says whether it is in use, so wd_pool_free aborts
 *     with one line on stderr instead of corrupting the pool:
 *       warden: double free at 0x... in wd_pool_free
 *       warden: invalid pointer at 0x... in wd_pool_free
 *     (invalid: outside the pool, not at an item start, or never handed out)
 *     and a corrupted link aborts with
 *       warden: corrupted free list at 0x... in wd_pool_alloc
 *
 * Layout of the memory given, 16-byte aligned first:
 *   [ item 0 | item 1 | ... | item capacity-1 | in-use bitmap (64-bit words) ]
 *
 * Not thread-safe: one thread at a time.  See docs/pool.md.
 */
#ifndef WARDEN_POOL_H
#define WARDEN_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "warden/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Complete here so that WD_POOL_STATIC can define one; the fields are
 * private to src/pool.c.  Invariants once initialised (capacity > 0):
 *   count + |free list| == fresh <= capacity;
 *   the items below `fresh` that are in use are exactly the bitmap's set
 *   bits; every listed item is below `fresh` and has its bit clear;
 *   items at and above `fresh` were never handed out (carved lazily, so
 *   init does not touch them).
 * A WD_POOL_STATIC pool starts all zero but for mem, mem_size and
 * lazy_item_size; its first wd_pool_alloc initialises it. */
typedef struct wd_pool {
    uintptr_t free;        /* first free item, plain; NULL-terminated list */
    uintptr_t start;       /* item 0 */
    size_t fresh;          /* items handed out at least once: [0, fresh) */
    size_t capacity;
    size_t count;          /* items in use */
    size_t item_size;      /* multiple of 16 */
    uint64_t key;          /* link encoding secret */
    uint64_t inv;          /* item_size >> shift, odd: its inverse mod 2^64 */
    unsigned shift;        /* trailing zero bits of item_size (>= 4) */
    uint64_t *bitmap;      /* capacity bits, 1 = in use */
    void *mem;             /* as given, for the lazy initialisation */
    size_t mem_size;
    size_t lazy_item_size; /* non-zero: WD_POOL_STATIC, not yet initialised */
} wd_pool_t;

/* Item size as the pool stores it: a multiple of 16, at least 16. */
#define WD_POOL_ITEM_SIZE(size) ((size) ? ((size_t)(size) + 15) & ~(size_t)15 : (size_t)16)
/* Bytes of memory wd_pool_init needs for count items of item_size bytes
 * when mem is 16-byte aligned (bitmap included). */
#define WD_POOL_MEM_SIZE(item_size, count)                                     \
    ((size_t)(count) * WD_POOL_ITEM_SIZE(item_size) + ((size_t)(count) + 63) / 64 * 8)

/* Sets up a pool of item_size-byte items in [mem, mem + mem_size) (mem
 * need not be aligned).  Returns 0, or -1 with errno = EINVAL when p or mem
 * is NULL, item_size is 0 or above PTRDIFF_MAX, or there is no room for one
 * item and its bit.  O(capacity / 64): the bitmap words are cleared; the items
 * are not touched.  Calling it again on a pool empties it. */
WD_API int wd_pool_init(wd_pool_t *p, void *mem, size_t mem_size, size_t item_size);

/* An item (16-byte aligned, not zeroed), or NULL with errno = ENOMEM when
 * all capacity items are in use (or a WD_POOL_STATIC pool's storage is
 * unusable).  O(1): pops the free list, else takes the next never-used
 * item. */
WD_API void *wd_pool_alloc(wd_pool_t *p);

/* Gives item back.  wd_pool_free(p, NULL) does nothing.  Aborts with a
 * `warden:` line (above) on a double free or an invalid pointer.  Leaves
 * errno alone.  O(1): an address check, one multiply, one bit. */
WD_API void wd_pool_free(wd_pool_t *p, void *item);

/* Items in use now.  O(1). */
WD_API size_t wd_pool_count(const wd_pool_t *p);

/* Items the pool can hold at once (also before a WD_POOL_STATIC pool's
 * first use).  O(1). */
WD_API size_t wd_pool_capacity(const wd_pool_t *p);

/* Defines `static wd_pool_t name` holding up to count items of item_type,
 * with static storage (16-byte aligned, bitmap included) and no init call:
 * wd_pool_alloc(&name) works at once, the first call initialises it.  Use
 * it at file or block scope; it is always static (do not write `static`
 * before it), so share the pool with other files through a pointer.  The
 * storage is named name##_wd_storage.  Example:
 *     WD_POOL_STATIC(menu, struct menu_item, 256);
 *     struct menu_item *it = wd_pool_alloc(&menu); */
#define WD_POOL_STATIC(name, item_type, count)                                 \
    _Static_assert((count) > 0, "WD_POOL_STATIC needs count > 0");             \
    static _Alignas(16) unsigned char                                          \
        name##_wd_storage[WD_POOL_MEM_SIZE(sizeof(item_type), count)];         \
    static wd_pool_t name = {.mem = name##_wd_storage,                         \
                             .mem_size = sizeof name##_wd_storage,             \
                             .lazy_item_size = WD_POOL_ITEM_SIZE(sizeof(item_type))}

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_POOL_H */
