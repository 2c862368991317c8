/* warden/arena.h -- a region ("arena") allocator: bump allocation, freed all
 * at once.
 *
 * An arena hands out memory by moving a pointer forward inside a chunk; a
 * single allocation cannot be freed.  Everything goes at once with
 * wd_arena_reset (or wd_arena_destroy), or everything after a mark with
 * wd_arena_rewind.  It suits data that dies together: a parse tree, the
 * scratch data of one request, one frame of a game.
 *
 *   - wd_arena_create: chunks come from warden's allocator (wd_malloc, never
 *     the libc names).  The first chunk has chunk_hint bytes, each later one
 *     twice the previous, up to max(chunk_hint, WD_ARENA_CHUNK_CAP); a
 *     request above a quarter of the next chunk's size gets a chunk of its
 *     own, so the current chunk keeps serving small requests.
 *   - wd_arena_init: a fixed arena inside caller memory (a static array, a
 *     stack buffer); its control block sits at the start of that memory and
 *     it never grows, so it needs no allocator at all.
 *
 * Every allocation is 16-byte aligned (or more, with wd_arena_alloc_aligned)
 * and not zeroed.  Failure returns NULL with errno = ENOMEM and leaves the
 * arena as it was, still usable.  The fast path of wd_arena_alloc is inline
 * below: one compare and one add.
 *
 * Not thread-safe: an arena belongs to one thread at a time.  Different
 * arenas are independent.  See docs/arena.md.
 */
#ifndef WARDEN_ARENA_H
#define WARDEN_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "warden/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Chunks double up to this size (or up to chunk_hint when it is larger). */
#define WD_ARENA_CHUNK_CAP ((size_t)1 << 20)
/* wd_arena_create's first chunk when chunk_hint is 0. */
#define WD_ARENA_CHUNK_DEFAULT ((size_t)4096)

struct wd_arena_chunk; /* private to src/arena.c */

/* The fields are private: they are here only so that wd_arena_alloc's fast
 * path can be inline.  Invariants (kept by src/arena.c):
 *   base <= ptr <= end, all three 16-byte aligned and never 0;
 *   [base, end) is the current chunk's room, [base, ptr) is handed out;
 *   used_before + (ptr - base) == wd_arena_used(). */
typedef struct wd_arena {
    uintptr_t ptr;                 /* next free byte: the fast path reads */
    uintptr_t end;                 /* ptr and end, and writes ptr only */
    uintptr_t base;
    struct wd_arena_chunk *cur;    /* chunk of [base, end), then older regular
                                      ones; NULL in a fixed arena */
    struct wd_arena_chunk *big;    /* chunks of one request each, newest first */
    size_t used_before;            /* bytes handed out outside [base, ptr) */
    size_t next_size;              /* next regular chunk; 0 in a fixed arena */
    size_t max_size;               /* cap of next_size */
} wd_arena_t;

/* A point in an arena's life, from wd_arena_mark.  Plain data: copy it,
 * keep it on the stack. */
typedef struct wd_arena_mark {
    struct wd_arena_chunk *cur; /* the heads of both chunk lists then */
    struct wd_arena_chunk *big;
    uintptr_t ptr;
    size_t used;
} wd_arena_mark_t;

/* Bytes of caller memory the control block of wd_arena_init takes (when mem
 * is 16-byte aligned): wd_arena_init(mem, WD_ARENA_OVERHEAD + n) can hand
 * out n bytes (rounded down to 16). */
#define WD_ARENA_OVERHEAD ((sizeof(wd_arena_t) + 15) & ~(size_t)15)

/* A growing arena whose first chunk has chunk_hint bytes (0: 4 KiB; below
 * 256: 256).  Returns NULL with errno = ENOMEM when the control block or
 * the first chunk cannot be allocated.  Free it with wd_arena_destroy. */
WD_API wd_arena_t *wd_arena_create(size_t chunk_hint);

/* A fixed arena in [mem, mem + size): the control block at the start of mem
 * (aligned up to 16), the rest for allocations; it never grows and never
 * calls an allocator.  Returns the arena (inside mem), or NULL with
 * errno = EINVAL when mem is NULL or size cannot hold the control block.
 * Nothing to free afterwards: the memory stays the caller's. */
WD_API wd_arena_t *wd_arena_init(void *mem, size_t size);

/* The slow path of wd_arena_alloc: a new chunk, or ENOMEM. */
WD_API void *wd_arena_alloc_slow(wd_arena_t *a, size_t size);

/* size bytes, 16-byte aligned, not zeroed.  NULL + ENOMEM when the arena is
 * fixed and full, when a new chunk cannot be allocated or when size is
 * above PTRDIFF_MAX; the arena stays usable.  A size of 0 returns a valid
 * pointer to no bytes (it may equal the next allocation).  O(1): inline
 * compare and add; a call to take a new chunk when the current is full.
 *
 * Why one compare suffices: ptr and end are multiples of 16, so end - ptr
 * is too, and size <= end - ptr implies size rounded up to 16 fits; size is
 * bounded by it, so the rounding cannot overflow. */
static inline void *wd_arena_alloc(wd_arena_t *a, size_t size) {
    uintptr_t p = a->ptr;
    if (__builtin_expect(size > a->end - p, 0))
        return wd_arena_alloc_slow(a, size);
    a->ptr = p + ((size + 15) & ~(size_t)15);
    return (void *)p;
}

/* size bytes aligned to alignment, which must be a power of two (else
 * NULL + EINVAL); alignments up to 16 are plain wd_arena_alloc.  Otherwise
 * as wd_arena_alloc; the padding counts in wd_arena_used.  O(1). */
WD_API void *wd_arena_alloc_aligned(wd_arena_t *a, size_t alignment, size_t size);

/* A copy of s (with its NUL) in the arena, or NULL + ENOMEM.  O(strlen). */
WD_API char *wd_arena_strdup(wd_arena_t *a, const char *s);

/* The current point; wd_arena_rewind(a, mark) comes back to it.  O(1). */
WD_API wd_arena_mark_t wd_arena_mark(wd_arena_t *a);

/* Frees everything allocated after m: pointers handed out since then are
 * invalid, chunks taken since then go back to warden (wd_free), and
 * wd_arena_used() is m's value again.  A mark stays valid until a rewind to
 * an earlier mark or a reset; using an invalid mark is a bug, caught in
 * common cases with `warden: invalid arena mark at 0x... in
 * wd_arena_rewind`.  O(chunks freed). */
WD_API void wd_arena_rewind(wd_arena_t *a, wd_arena_mark_t m);

/* Frees every allocation at once.  A growing arena keeps its largest
 * regular chunk for reuse and gives the others back to warden; a fixed
 * arena starts again at its beginning.  Invalidates every mark.
 * O(chunks). */
WD_API void wd_arena_reset(wd_arena_t *a);

/* Gives every chunk and the control block back to warden.  A fixed arena
 * needs no destroy (calling it does nothing: the memory is the caller's).
 * wd_arena_destroy(NULL) does nothing.  O(chunks). */
WD_API void wd_arena_destroy(wd_arena_t *a);

/* Bytes handed out since the last reset (or creation): each allocation's
 * size rounded up to 16, plus the padding that larger alignments took.
 * The tail of a chunk left behind when a request did not fit is not
 * counted.  0 after wd_arena_reset; wd_arena_rewind restores it exactly.
 * O(1). */
WD_API size_t wd_arena_used(const wd_arena_t *a);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_ARENA_H */
