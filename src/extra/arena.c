/* arena.c -- the region allocator of warden/arena.h (its only interface:
 * nothing else in warden calls it).
 *
 * Owns: chunks, their growth and the bookkeeping behind marks.  Calls: the
 * public wd_malloc / wd_free for chunks (never the libc names, so the arena
 * follows warden whatever the program's malloc is), options.h for the
 * misuse report.  The bump fast path is inline in the header.
 *
 * A growing arena keeps two lists of chunks, newest first:
 *
 *   a->cur -> [ regular ] -> [ older regular ] -> ... -> [ first ] -> NULL
 *   a->big -> [ one request ] -> [ one request ] -> ... -> NULL
 *   each chunk:  [ header | room .................................. ]
 *                           base        ptr (cur only)          end
 *
 * Regular chunks double in size up to a cap; the newest is the one the fast
 * path bumps in.  A request above a quarter of the next chunk's size gets a
 * chunk of its own on the `big` list, so the room left in `cur` is not
 * abandoned.  A mark is the two list heads plus the bump position:
 * rewinding frees the chunks in front of the heads it recorded, so both
 * its check and its work are O(chunks freed).
 */
#include "warden/arena.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"
#include "base/options.h"
#include "warden.h"

#define MIN_CHUNK ((size_t)256)

typedef struct wd_arena_chunk {
    struct wd_arena_chunk *next; /* older chunk of the same list */
    size_t room;                 /* bytes after the header */
} chunk_t;
_Static_assert(sizeof(chunk_t) % WD_ALIGN == 0, "room starts 16-byte aligned");

static uintptr_t chunk_base(const chunk_t *c) { return (uintptr_t)(c + 1); }
static uintptr_t chunk_end(const chunk_t *c) { return chunk_base(c) + c->room; }

/* A chunk with room bytes after its header, or NULL (errno from wd_malloc). */
static chunk_t *chunk_new(size_t room, chunk_t *next) {
    chunk_t *c = wd_malloc(sizeof(chunk_t) + room);
    if (c == NULL)
        return NULL;
    c->next = next;
    c->room = room;
    return c;
}

/* Makes c (now the head of the regular list) the chunk the fast path bumps in. */
static void arena_enter(wd_arena_t *a, chunk_t *c) {
    a->cur = c;
    a->base = a->ptr = chunk_base(c);
    a->end = chunk_end(c);
}

static void *fail(int err) {
    errno = err;
    return NULL;
}

wd_arena_t *wd_arena_create(size_t chunk_hint) {
    size_t first = chunk_hint ? chunk_hint : WD_ARENA_CHUNK_DEFAULT;
    first = first < MIN_CHUNK ? MIN_CHUNK : first;
    if (first > PTRDIFF_MAX / 2)
        return fail(ENOMEM);
    first = wd_align_up(first, WD_ALIGN);
    wd_arena_t *a = wd_malloc(sizeof *a);
    chunk_t *c = a ? chunk_new(first - sizeof(chunk_t), NULL) : NULL;
    if (c == NULL) {
        wd_free(a); /* wd_free leaves errno (ENOMEM) alone */
        return NULL;
    }
    memset(a, 0, sizeof *a);
    a->max_size = first > WD_ARENA_CHUNK_CAP ? first : WD_ARENA_CHUNK_CAP;
    a->next_size = first * 2 < a->max_size ? first * 2 : a->max_size;
    arena_enter(a, c);
    return a;
}

wd_arena_t *wd_arena_init(void *mem, size_t size) {
    uintptr_t start = wd_ptr_align_up((uintptr_t)mem, WD_ALIGN);
    size_t lost = (size_t)(start - (uintptr_t)mem);
    if (mem == NULL || size < lost || size - lost < WD_ARENA_OVERHEAD)
        return fail(EINVAL);
    wd_arena_t *a = (wd_arena_t *)start;
    memset(a, 0, sizeof *a);
    a->base = a->ptr = start + WD_ARENA_OVERHEAD;
    a->end = start + ((size - lost) & ~(WD_ALIGN - 1)); /* next_size 0: fixed */
    return a;
}

/* --- the slow path ---------------------------------------------------------- */

/* A request of n bytes (a multiple of 16) needing up to `pad` bytes of
 * padding gets its own chunk; cur stays current.  NULL + ENOMEM. */
static void *alloc_dedicated(wd_arena_t *a, size_t alignment, size_t n, size_t pad) {
    chunk_t *c = chunk_new(n + pad, a->big);
    if (c == NULL)
        return NULL;
    a->big = c;
    uintptr_t p = wd_ptr_align_up(chunk_base(c), alignment);
    a->used_before += (size_t)(p - chunk_base(c)) + n;
    return (void *)p;
}

/* Takes the next regular chunk and makes it current; the caller checked
 * that need <= next_size / 4 fits.  -1 (errno ENOMEM) leaves the arena as
 * it was. */
static int arena_grow(wd_arena_t *a, size_t need) {
    size_t size = a->next_size;
    wd_assert(need <= size - sizeof(chunk_t));
    (void)need;
    chunk_t *c = chunk_new(size - sizeof(chunk_t), a->cur);
    if (c == NULL)
        return -1;
    a->used_before += (size_t)(a->ptr - a->base); /* the old tail is not counted */
    arena_enter(a, c);
    a->next_size = size * 2 < a->max_size ? size * 2 : a->max_size;
    return 0;
}

/* Bump in cur with alignment > 16 allowed; NULL when it does not fit.  The
 * compares are ordered so that nothing overflows: p >= ptr rules out a
 * wrapped align_up. */
static void *bump_aligned(wd_arena_t *a, size_t alignment, size_t n) {
    uintptr_t p = wd_ptr_align_up(a->ptr, alignment);
    if (p < a->ptr || p > a->end || n > a->end - p)
        return NULL;
    a->ptr = p + n;
    return (void *)p;
}

/* Everything that does not fit in cur: size any, alignment a power of two
 * >= 16.  Fixed arenas, oversized requests and failed chunks give ENOMEM. */
static WD_NOINLINE void *arena_alloc_slow(wd_arena_t *a, size_t alignment, size_t size) {
    size_t pad = alignment - WD_ALIGN; /* worst case: chunk rooms are 16-aligned */
    if (a->next_size == 0 || size > PTRDIFF_MAX || pad > PTRDIFF_MAX - size)
        return fail(ENOMEM);
    size_t n = wd_align_up(size, WD_ALIGN);
    if (n + pad > a->next_size / 4)
        return alloc_dedicated(a, alignment, n, pad);
    if (arena_grow(a, n + pad) != 0)
        return NULL;
    return bump_aligned(a, alignment, n);
}

void *wd_arena_alloc_slow(wd_arena_t *a, size_t size) {
    return arena_alloc_slow(a, WD_ALIGN, size);
}

void *wd_arena_alloc_aligned(wd_arena_t *a, size_t alignment, size_t size) {
    if (!wd_is_pow2(alignment))
        return fail(EINVAL);
    if (alignment <= WD_ALIGN)
        return wd_arena_alloc(a, size);
    if (size <= PTRDIFF_MAX) {
        void *p = bump_aligned(a, alignment, wd_align_up(size, WD_ALIGN));
        if (p != NULL)
            return p;
    }
    return arena_alloc_slow(a, alignment, size);
}

char *wd_arena_strdup(wd_arena_t *a, const char *s) {
    size_t len = strlen(s) + 1;
    char *copy = wd_arena_alloc(a, len);
    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

/* --- marks, rewind, reset ----------------------------------------------------- */

size_t wd_arena_used(const wd_arena_t *a) {
    return a->used_before + (size_t)(a->ptr - a->base);
}

wd_arena_mark_t wd_arena_mark(wd_arena_t *a) {
    return (wd_arena_mark_t){a->cur, a->big, a->ptr, wd_arena_used(a)};
}

/* 1 when `head` reaches `at` (NULL included) by following next. */
static int list_reaches(const chunk_t *head, const chunk_t *at) {
    while (head != at && head != NULL)
        head = head->next;
    return head == at;
}

/* 1 when m can describe a point of a's past: both its chunks are still
 * listed, its position lies inside its chunk and not ahead of ptr when that
 * chunk is still current, and no more was handed out then than now.
 * Checked before anything is freed or read through m. */
static int mark_valid(const wd_arena_t *a, wd_arena_mark_t m) {
    if ((m.cur == NULL) != (a->cur == NULL) || !list_reaches(a->cur, m.cur) ||
        !list_reaches(a->big, m.big) || (m.cur == a->cur && m.ptr > a->ptr))
        return 0;
    uintptr_t base = m.cur ? chunk_base(m.cur) : a->base;
    uintptr_t end = m.cur ? chunk_end(m.cur) : a->end;
    return m.ptr >= base && m.ptr <= end && m.used >= m.ptr - base &&
           m.used <= wd_arena_used(a);
}

/* Frees the chunks of the list at *head in front of `keep`. */
static void list_free_until(chunk_t **head, chunk_t *keep) {
    while (*head != keep) {
        chunk_t *c = *head;
        *head = c->next;
        wd_free(c);
    }
}

void wd_arena_rewind(wd_arena_t *a, wd_arena_mark_t m) {
    if (!mark_valid(a, m))
        wdi_fatal("invalid arena mark", a, "wd_arena_rewind");
    list_free_until(&a->big, m.big);
    if (m.cur != a->cur) {
        list_free_until(&a->cur, m.cur);
        arena_enter(a, m.cur);
    }
    a->ptr = m.ptr;
    a->used_before = m.used - (size_t)(m.ptr - a->base);
}

/* Keeps cur, the largest regular chunk (each is at least as large as the
 * one before), and frees every other. */
void wd_arena_reset(wd_arena_t *a) {
    list_free_until(&a->big, NULL);
    if (a->cur != NULL)
        list_free_until(&a->cur->next, NULL);
    a->ptr = a->base;
    a->used_before = 0;
}

void wd_arena_destroy(wd_arena_t *a) {
    if (a == NULL || a->next_size == 0) /* NULL, or fixed: the caller's memory */
        return;
    list_free_until(&a->big, NULL);
    list_free_until(&a->cur, NULL);
    wd_free(a);
}
