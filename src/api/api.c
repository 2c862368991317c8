/* api.c -- the malloc family with C, POSIX and glibc semantics.
 *
 * Owns: the fast paths of malloc and free (a small block of the calling
 * thread's heap), errno, argument rules (alignments, overflows), and the
 * choice for everything else: harden=2's wrapper (harden.h) or the tiers
 * straight (raw.h, which picks the tier: small <= 64 KiB in thread-heap
 * pages, medium <= 1 MiB in shared classic-heap segments, large in their
 * own mapping).  Calls: raw.h, harden.h, check.h, thread.h / page.h /
 * segment.h (the fast paths), sample.h, guard.h and profile.h (sampled
 * allocations: the countdown's next value, the guard's slots, the heap
 * profiler's hooks, on the slow paths only; blocks of kind WD_KIND_GUARD
 * go to the guard from the slow paths), process.h, options.h (misuse
 * reports). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "api/process.h"
#include "base/options.h"
#include "core/page.h"
#include "core/raw.h"
#include "core/segment.h"
#include "core/thread.h"
#include "debug/check.h"
#include "debug/guard.h"
#include "debug/harden.h"
#include "debug/profile.h"
#include "debug/sample.h"
#include "os/os.h"
#include "warden.h"

/* --- the guard sampler's share of the sampled allocations ------------------ */

/* A thread's first countdown only starts its clock (a heap starts at 0,
 * page.c): without this, every thread's first allocation would be
 * sampled. */
static __thread int tl_sampling __attribute__((tls_model("initial-exec")));

/* The block of a sampled allocation from the guard's pool, or NULL (the
 * thread's first countdown, the pool full, a size it does not cover). */
static void *guard_take(size_t alignment, size_t size, wd_alloc_kind_t kind) {
    if (wd_unlikely(!tl_sampling)) {
        tl_sampling = 1;
        return NULL;
    }
    return wdi_guard_sample(alignment, size, (int)kind);
}

/* While profiling: the guard sampler's own countdown takes `mallocs`
 * more allocations; 1 when it ran out (then it starts again), so that
 * the guard sampler goes on beside the profiler at its usual rate. */
static int guard_due_profiling(wd_theap_t *h, intptr_t mallocs) {
    if ((h->small.guard_left -= mallocs) > 0)
        return 0;
    h->small.guard_left = wdi_sample_next(&h->small.rng);
    return 1;
}

/* The slow paths' share of the countdown (medium sizes, aligned blocks,
 * calloc above the small sizes, harden=2's wrapper): the same clock as
 * the fast path, but their blocks are not small ones, so allocs_base
 * moves with it and the count of small blocks stays.  h may be NULL (no
 * heap yet) or wdi_heap_none. */
static WD_ALWAYS_INLINE int slow_sample_due(wd_theap_t *h) {
    if (h == NULL || h == &wdi_heap_none)
        return 0;
    /* While profiling the countdown is the profiler's (its slots are small
     * mallocs): the slow paths count on the guard's own. */
    if (wd_unlikely(wdi_prof_on()))
        return guard_due_profiling(h, 1);
    if (wd_unlikely((h->small.sample_left -= 1) < 0))
        return 1;
    h->small.allocs_base--;
    return 0;
}

/* A slow path's allocation that brought h's countdown below zero: the
 * next countdown, this allocation being its first step as in the fast
 * path (the count unchanged: allocs_base moves as sample_left does);
 * while profiling, the guard's countdown was drawn already. */
WD_NOINLINE static void *sample_slow(wd_theap_t *h, size_t alignment, size_t size, int zero,
                                     wd_alloc_kind_t kind) {
    if (!wdi_prof_on()) {
        intptr_t n = wdi_sample_next(&h->small.rng);
        h->small.allocs_base += (size_t)n - 1;
        h->small.sample_left = n - 1;
    }
    void *p = guard_take(alignment, size, kind); /* fresh pages: zero */
    if (p != NULL)
        return p;
    if (wdi_wrapped())
        return wdi_hard_alloc(alignment, size, zero);
    return wdi_raw_alloc(alignment, size, zero);
}

/* --- the wrappers: harden=2 and check mode ----------------------------------- */

/* Either one hides the thread heaps (wdi_tl_heap is wdi_heap_none), so
 * every call comes down a slow path to these (harden=2's small mallocs
 * from small_refill straight to wdi_hard_malloc: hard_or_slow); fast mode
 * pays one test of wdi_wrapped() there and nothing on the fast paths.  kind says whether
 * malloc, new or new[] made (or is to free) the block: check mode reports
 * a mismatch. */
WD_NOINLINE static void *wrap_alloc(size_t alignment, size_t size, int zero,
                                    wd_alloc_kind_t kind) {
    if (wdi_checking)
        return wdi_check_alloc(alignment, size, zero, kind);
    if (wd_unlikely(slow_sample_due(wdi_tl_home))) /* harden=2 samples too */
        return sample_slow(wdi_tl_home, alignment, size, zero, kind);
    return wdi_hard_alloc(alignment, size, zero);
}

/* Sampled blocks (harden=2's or not) are the guard's; check mode's
 * guarded blocks are check mode's. */
static inline int sampled_block(const void *p) { return !wdi_checking && wdi_guard_owns(p); }

WD_NOINLINE static void wrap_free(void *p, wd_alloc_kind_t kind, const char *fn) {
    if (wd_unlikely(wdi_prof_on()))
        wdi_prof_free(p);
    if (wdi_checking && kind != WD_FROM_MALLOC)
        wdi_check_free_aligned(p, 0, kind, fn); /* delete: the block must have no alignment */
    else if (wdi_checking)
        wdi_check_free(p, kind, fn);
    else if (wdi_guard_owns(p))
        wdi_guard_free(p, fn);
    else
        wdi_hard_free(p, fn);
}

static void *wrap_realloc(void *p, size_t size) {
    return wdi_checking ? wdi_check_realloc(p, size) : wdi_hard_realloc(p, size);
}

static size_t wrap_usable(const void *p, const char *fn) {
    return wdi_checking ? wdi_check_usable(p, fn) : wdi_hard_usable(p, fn);
}

static void wrap_free_sized(void *p, size_t alignment, size_t size, wd_alloc_kind_t kind,
                            const char *fn) {
    if (wd_unlikely(wdi_prof_on()))
        wdi_prof_free(p);
    if (wdi_checking)
        wdi_check_free_sized(p, alignment, size, kind, fn);
    else
        wdi_hard_free_sized(p, alignment, size, fn);
}

/* --- the heap profiler (profile=PREFIX) ---------------------------------------- */

/* A block for an allocation the sampler picked, recorded with its stack:
 * a wrapper's as usual, else one apart from the small pages (raw.h), so
 * that its free never takes the small fast path and comes down to
 * free_any, where the profiler finds it. */
WD_NOINLINE static void *prof_alloc_as(size_t alignment, size_t size, int zero,
                                       wd_alloc_kind_t kind, size_t chance) {
    void *p = wd_unlikely(wdi_wrapped()) ? wrap_alloc(alignment, size, zero, kind)
                                         : wdi_raw_alloc_apart(alignment, size, zero);
    if (p != NULL)
        wdi_prof_alloc(p, size, chance);
    return p;
}

/* The same for an allocation picked with the chance p(size): every one
 * but the small countdown's (prof_stop). */
static void *prof_alloc(size_t alignment, size_t size, int zero, wd_alloc_kind_t kind) {
    return prof_alloc_as(alignment, size, zero, kind, size);
}

/* A slow free of p, when profiling: its sample, if it has one, goes
 * (wdi_prof_free tells a small block, which has none, from its region:
 * the free of a small block seldom comes this way). */
static inline void prof_forget(void *p) {
    if (wd_unlikely(wdi_prof_on()))
        wdi_prof_free(p);
}

/* For an allocation the small countdown does not see: 1 when the
 * profiler samples it (the chance p(size), sample.h). */
static inline int prof_picks(size_t size) {
    return wd_unlikely(wdi_prof_on()) && wdi_sample_pick(size);
}

static void *prof_new_class(wd_theap_t *h, unsigned cls, size_t size, wd_alloc_kind_t kind);

/* --- allocating -------------------------------------------------------------- */

/* Everything but the small fast path: the first call of a thread, medium
 * and large sizes, the wrappers. */
WD_NOINLINE static void *alloc_slow(size_t size, wd_alloc_kind_t kind) {
    wdi_process_init();
    if (prof_picks(size))
        return prof_alloc(WD_ALIGN, size, 0, kind);
    if (wd_unlikely(wdi_wrapped()))
        return wrap_alloc(WD_ALIGN, size, 0, kind);
    if (wd_unlikely(slow_sample_due(wdi_tl_home)))
        return sample_slow(wdi_tl_home, WD_ALIGN, size, 0, kind);
    return wdi_raw_alloc(WD_ALIGN, size, 0);
}

static void *sample_alloc(wd_theap_t *h, size_t size, wd_alloc_kind_t kind);

/* A malloc of a thread without a published heap: with harden=2 or check
 * mode (when not profiling) and a heap of its own, the wrapper's malloc
 * without alloc_slow's detour (harden=2's countdown moved as wrap_alloc
 * moves it); else alloc_slow. */
static WD_ALWAYS_INLINE void *hard_or_slow(size_t size, wd_alloc_kind_t kind) {
    wd_theap_t *home = wdi_tl_home;
    /* home first: a thread with a heap went through wdi_process_init, so
     * the level it reads next is the one fixed there (a thread's first
     * malloc may run while another thread starts the process). */
    if (home != NULL && wdi_harden2 && !wdi_prof_on()) {
        if (wd_unlikely((home->small.sample_left -= 1) < 0))
            return sample_slow(home, WD_ALIGN, size, 0, kind);
        return wdi_hard_malloc(home, size);
    }
    /* Check mode (when not profiling) without the two frames of the
     * detour: each is a word more for every stack capture to compare. */
    if (home != NULL && wdi_checking && !wdi_prof_on())
        return wdi_check_alloc(WD_ALIGN, size, 0, kind);
    return alloc_slow(size, kind);
}

/* small_refill's work, apart: small_refill itself only tests and jumps,
 * so that harden=2's mallocs, which all come through it, pass without
 * its registers being saved (9 instructions a malloc). */
WD_NOINLINE static void *heap_refill(wd_theap_t *h, unsigned cls) {
    void *p = wdi_heap_refill(h, cls);
    if (wd_unlikely(p == NULL)) {
        h->small.allocs_base--; /* not handed out after all */
        errno = ENOMEM;
    }
    return p;
}

/* The class's page has no free block: the heap finds or carves one,
 * without alloc_slow's detour (a quarter of python's mallocs).  The
 * thread may have no heap at all (wdi_heap_none): then the detour. */
WD_NOINLINE static void *small_refill(wd_theap_t *h, unsigned cls, size_t size,
                                      wd_alloc_kind_t kind) {
    /* One test for two rare cases: the thread has no heap (wdi_heap_none,
     * whose top_end is 0), or its heap never had a page of a class this
     * large, which the profiler's countdown must hear of. */
    if (wd_unlikely(cls >= h->small.top_end)) {
        if (h == &wdi_heap_none)
            return hard_or_slow(size, kind);
        if (wdi_prof_on())
            return prof_new_class(h, cls, size, kind);
    }
    if (wd_unlikely((h->small.sample_left -= 1) < 0))
        return sample_alloc(h, size, kind);
    return heap_refill(h, cls);
}

/* With a wrapper the thread's heap is not published in wdi_tl_heap, so
 * this fast path never finds a block and alloc_slow wraps every block. */
static WD_ALWAYS_INLINE void *malloc_kind(size_t size, wd_alloc_kind_t kind) {
    wd_theap_t *h = wdi_tl_heap;
    if (wd_likely(size <= WD_SMALL_MAX)) {
        unsigned cls = wdi_small_class(size);
        wd_page_t *pg = h->small.current[cls];
        wd_block_t *b = pg->free;
        if (wd_likely(b != NULL)) {
            /* The sampler's countdown counts the block; sample_alloc is
             * also where a steady program, whose pages never run dry,
             * reaches the upkeep. */
            if (wd_unlikely((h->small.sample_left -= 1) < 0))
                return sample_alloc(h, size, kind);
            return wdi_page_pop(pg, b);
        }
        return small_refill(h, cls, size, kind); /* the page is empty: refill it */
    }
    return alloc_slow(size, kind);
}

/* Profiling: the small malloc the countdown stopped at (it is counted
 * already).  Kept with the chance sample.h gives, from the draw that led
 * here (p(size), or p(slot) for a block larger than the slot, which its
 * weight then says); then the next draw.  A kept one is not a small block: the
 * countdown and the count move as malloc_kind would have moved them, less
 * the block.  One the profiler does not keep goes to the guard sampler
 * when the guard's own countdown has run out (the profiler's samples are
 * never taken from it, so its estimates stay unbiased). */
WD_NOINLINE static void *prof_stop(wd_theap_t *h, size_t size, wd_alloc_kind_t kind) {
    int picked = wdi_sample_pick_small(size);
    size_t slot = wdi_prof_slot(h); /* what the draw that led here was cut for */
    intptr_t since = h->small.prof_drawn + 1; /* mallocs since the last stop */
    intptr_t n = wdi_sample_profile_next(&h->small.rng, slot);
    h->small.prof_drawn = n;
    h->small.prof_end = h->small.top_end;
    h->small.allocs_base += (size_t)n;
    h->small.sample_left = n;
    if (wd_unlikely(picked)) {
        h->small.guard_left -= since; /* a guard sample due waits for the next stop */
        h->small.sample_left--;
        h->small.allocs_base--;
        return prof_alloc_as(WD_ALIGN, size, 0, kind, size < slot ? size : slot);
    }
    if (wd_unlikely(guard_due_profiling(h, since))) {
        void *p = guard_take(WD_ALIGN, size, kind);
        if (p != NULL) {
            h->small.sample_left--; /* counted as the malloc below would */
            return p;
        }
    }
    return malloc_kind(size, kind);
}

/* Profiling: a small malloc of a class larger than any h had a page of,
 * so beyond the countdown's slot: picked on its own (the chance p(size)),
 * and the countdown drawn again for the larger slot once the page is in. */
WD_NOINLINE static void *prof_new_class(wd_theap_t *h, unsigned cls, size_t size,
                                        wd_alloc_kind_t kind) {
    void *p;
    if (wdi_sample_pick(size)) {
        p = prof_alloc(WD_ALIGN, size, 0, kind);
    } else {
        p = wdi_heap_refill(h, cls);
        if (wd_likely(p != NULL))
            h->small.allocs_base++; /* counted, without moving the countdown */
        else
            errno = ENOMEM;
    }
    wdi_prof_redraw(h);
    return p;
}

/* --- sampled allocations --------------------------------------------------- */

/* The small malloc that took h's countdown below zero (it is counted
 * already): every 16th time runs the upkeep (a thread whose frees keep its
 * pages stocked never reaches the refill path that otherwise paces it),
 * then starts the next countdown and allocates as usual.  The sampled
 * diagnostics take their blocks here. */
WD_NOINLINE static void *sample_alloc(wd_theap_t *h, size_t size, wd_alloc_kind_t kind) {
    if (wd_unlikely(++h->slow_count % 16 == 0))
        wdi_heap_upkeep(h);
    if (wd_unlikely(wdi_prof_on()))
        return prof_stop(h, size, kind);
    intptr_t n = wdi_sample_next(&h->small.rng);
    /* The malloc below decrements again (to n - 1, at least 0, so it is
     * not sampled twice); allocs_base takes the n so that the block is
     * counted once. */
    h->small.allocs_base += (size_t)n;
    h->small.sample_left = n;
    void *p = guard_take(WD_ALIGN, size, kind);
    if (p != NULL) {
        h->small.sample_left = n - 1; /* counted as the malloc below would */
        return p;
    }
    return malloc_kind(size, kind);
}

void *wd_malloc(size_t size) { return malloc_kind(size, WD_FROM_MALLOC); }

/* alloc_aligned's common case, as malloc_kind's: a small block of the
 * first class whose blocks all have the alignment, from the class's page
 * when it has one, the sampler's countdown not running out and no profile
 * being taken (those go the whole way).  A thread without a heap, or with
 * a wrapper, finds no block (wdi_heap_none's pages are empty).  NULL when
 * it does not apply.  bench/suite/aligned 200000: 112.1 M instructions
 * before, 106.9 M after (CPU time 0.98x, 7 alternating runs). */
static WD_ALWAYS_INLINE void *aligned_small(size_t alignment, size_t size) {
    if (size > WD_SMALL_MAX || alignment > WD_SMALL_MAX)
        return NULL;
    unsigned cls = wdi_class_aligned[wdi_small_class(size)][__builtin_ctzll(alignment) - 5];
    wd_theap_t *h = wdi_tl_heap;
    if (cls >= WD_CLASSES || h->small.sample_left <= 0 || wd_unlikely(wdi_prof_on()))
        return NULL;
    wd_page_t *pg = h->small.current[cls];
    wd_block_t *b = pg->free;
    if (b == NULL)
        return NULL;
    h->small.sample_left--; /* as slow_sample_due and small_alloc count it */
    h->small.allocs_base++;
    return wdi_page_pop(pg, b);
}

/* An aligned block: alignment is a power of two. */
static void *alloc_aligned(size_t alignment, size_t size, wd_alloc_kind_t kind) {
    if (alignment <= WD_ALIGN) {
        /* check=2 may align a malloc'd block less than 16 bytes (as its
         * size allows, check_exact); one asked for with an alignment gets
         * twice malloc's, which check mode honours as asked. */
        if (wd_likely(!wdi_checking))
            return malloc_kind(size, kind);
        alignment = 2 * WD_ALIGN;
    }
    void *p = aligned_small(alignment, size);
    if (wd_likely(p != NULL))
        return p;
    wdi_process_init();
    if (prof_picks(size))
        return prof_alloc(alignment, size, 0, kind);
    if (wd_unlikely(wdi_wrapped()))
        return wrap_alloc(alignment, size, 0, kind);
    if (wd_unlikely(slow_sample_due(wdi_tl_home)))
        return sample_slow(wdi_tl_home, alignment, size, 0, kind);
    return wdi_raw_alloc(alignment, size, 0);
}

void *wdi_new(size_t size, size_t alignment, wd_alloc_kind_t kind) {
    return alignment > WD_ALIGN ? alloc_aligned(alignment, size, kind) : malloc_kind(size, kind);
}

/* --- giving blocks back ---------------------------------------------------- */

static void free_any(void *p, wd_alloc_kind_t kind, const char *fn) {
    if (wd_unlikely(wdi_wrapped())) {
        wrap_free(p, kind, fn);
        return;
    }
    if (wd_unlikely(wdi_guard_owns(p))) {
        wdi_guard_free(p, fn);
        return;
    }
    prof_forget(p);
    wdi_raw_free(p, fn);
}

static WD_ALWAYS_INLINE void free_kind(void *p, wd_alloc_kind_t kind, const char *fn) {
    uintptr_t e = wdi_segmap_entry(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p);
        wd_theap_t *h = wdi_tl_heap;
        if (wd_likely(pg->heap == &h->small)) {
            wdi_page_free_local(&h->small, pg, p, fn);
            return;
        }
        /* Not the owner, or a wrapper (wdi_tl_heap is wdi_heap_none then). */
        if (wd_unlikely(wdi_wrapped())) {
            if (wd_likely(wdi_harden2 && !wdi_prof_on()))
                wdi_hard_free_small(pg, p, fn); /* knowing the page */
            else
                wrap_free(p, kind, fn);
        }
        else
            wdi_page_free_remote(pg, p); /* checks that pg holds blocks */
        return;
    }
    if (p != NULL) /* C11 7.22.3.3: free(NULL) does nothing */
        free_any(p, kind, fn);
}

void wd_free(void *p) { free_kind(p, WD_FROM_MALLOC, "free"); }

/* The reports name the C entry the operators share (check mode's say
 * delete or delete[] where the kind matters). */
void wdi_delete(void *p, wd_alloc_kind_t kind) { free_kind(p, kind, "free"); }

void wdi_delete_aligned(void *p, size_t alignment, wd_alloc_kind_t kind) {
    if (wd_unlikely(wdi_checking) && p != NULL) {
        if (wd_unlikely(wdi_prof_on()))
            wdi_prof_free(p);
        wdi_check_free_aligned(p, alignment, kind, "free");
        return;
    }
    free_kind(p, kind, "free");
}

/* A live small block's size, checked as free's fast path checks (block
 * start, not already free) from the page's read-mostly line: redis asks
 * for it around every malloc and free.  Not with harden=2 (wdi_tl_heap is
 * wdi_heap_none then): its blocks are not the tier's. */
size_t wd_malloc_usable_size(const void *p) {
    uintptr_t e = wdi_segmap_entry(p);
    if (wd_likely((e & WD_SEGMAP_SMALL) && wdi_tl_heap != &wdi_heap_none &&
                  ((uintptr_t)p & (WD_ALIGN - 1)) == 0)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p);
        if (wd_likely(!wdi_page_unused(pg) &&
                      !wdi_block_misplaced(pg->xstart, pg->xshift, pg->xinv, pg->xreserved, p) &&
                      !wdi_block_looks_free(pg->xkey, p)))
            return pg->xblock_size;
    }
    if (p == NULL)
        return 0;
    if (wd_unlikely(sampled_block(p)))
        return wdi_guard_usable(p, "malloc_usable_size");
    if (wd_unlikely(wdi_wrapped()))
        return wrap_usable(p, "malloc_usable_size");
    return wdi_raw_usable(p, "malloc_usable_size");
}

/* --- the rest of the family ------------------------------------------------ */

void *wd_calloc(size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    if (total > WD_SMALL_MAX) { /* the tiers know when memory is fresh, so zero */
        wdi_process_init();
        if (prof_picks(total))
            return prof_alloc(WD_ALIGN, total, 1, WD_FROM_MALLOC);
        if (wd_unlikely(wdi_wrapped()))
            return wrap_alloc(WD_ALIGN, total, 1, WD_FROM_MALLOC);
        if (wd_unlikely(slow_sample_due(wdi_tl_home)))
            return sample_slow(wdi_tl_home, WD_ALIGN, total, 1, WD_FROM_MALLOC);
        return wdi_raw_alloc(WD_ALIGN, total, 1);
    }
    if (wd_unlikely(wdi_wrapped())) { /* zeroed by the wrapper, not twice */
        if (prof_picks(total))
            return prof_alloc(WD_ALIGN, total, 1, WD_FROM_MALLOC);
        return wrap_alloc(WD_ALIGN, total, 1, WD_FROM_MALLOC);
    }
    void *p = wd_malloc(total);
    if (p != NULL) /* a reused block is dirty */
        memset(p, 0, total);
    return p;
}

/* Profiling: realloc is a free of p (its sample, if any, goes) and an
 * allocation of size bytes, which the sampler may pick; a picked one moves
 * to a block of its own (prof_alloc).  p's sample comes back when the
 * realloc fails. */
WD_NOINLINE static void *prof_realloc(void *p, size_t size) {
    wdi_prof_sample_t was;
    int sampled = wdi_prof_take(p, &was); /* a small block's answer from its region */
    void *q;
    if (wdi_sample_pick(size)) {
        size_t old = wdi_wrapped() ? wrap_usable(p, "realloc") : wdi_raw_usable(p, "realloc");
        q = prof_alloc(WD_ALIGN, size, 0, WD_FROM_MALLOC);
        if (q != NULL) {
            memcpy(q, p, old < size ? old : size);
            if (wdi_wrapped())
                wrap_free(p, WD_FROM_MALLOC, "realloc");
            else
                wdi_raw_free(p, "realloc");
        }
    } else {
        q = wdi_wrapped() ? wrap_realloc(p, size) : wdi_raw_realloc(p, size, "realloc");
    }
    if (q == NULL && sampled)
        wdi_prof_put_back(p, &was);
    return q;
}

/* A sampled block always moves (to a block that may be sampled again). */
WD_NOINLINE static void *sampled_realloc(void *p, size_t size) {
    size_t old = wdi_guard_usable(p, "realloc");
    if (old == 0 && size != 0) { /* reported; the program goes on (guard_continue=1) */
        errno = EINVAL;
        return NULL;
    }
    void *q = wd_malloc(size);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, old < size ? old : size);
    wdi_guard_free(p, "realloc");
    return q;
}

void *wd_realloc(void *p, size_t size) {
    if (p == NULL)
        return wd_malloc(size);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        free_any(p, WD_FROM_MALLOC, "realloc");
        return NULL;
    }
    if (wd_unlikely(sampled_block(p)))
        return sampled_realloc(p, size);
    if (wd_unlikely(wdi_prof_on()))
        return prof_realloc(p, size);
    if (wd_unlikely(wdi_wrapped()))
        return wrap_realloc(p, size);
    return wdi_raw_realloc(p, size, "realloc");
}

void *wd_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (wd_mul_size(n, size, &total) != 0)
        return NULL;
    return wd_realloc(p, total);
}

/* free_sized and free_aligned_sized of a sampled block: the size must be
 * the one asked for (the block has no other), the alignment one the
 * pointer has. */
WD_NOINLINE static void sampled_free_sized(void *p, int aligned, size_t alignment, size_t size,
                                           const char *fn) {
    size_t n = wdi_guard_usable(p, fn);
    if (n == 0 && size != 0)
        return; /* reported; the program goes on (guard_continue=1) */
    if (aligned && (!wd_is_pow2(alignment) || ((uintptr_t)p & (alignment - 1)) != 0))
        wdi_fatal("free_aligned_sized with a wrong alignment", p, fn);
    if (size != n)
        wdi_fatal(aligned ? "free_aligned_sized with a wrong size" : "free_sized with a wrong size",
                  p, fn);
    wdi_guard_free(p, fn);
}

/* C++ sized delete ends here on every delete: a small block of the
 * calling thread's own page whose size matches is freed as wd_free's fast
 * path frees it; anything else (and every misuse) takes the checked path
 * below, which reports it. */
static WD_ALWAYS_INLINE void free_sized_kind(void *p, size_t size, wd_alloc_kind_t kind, const char *fn) {
    uintptr_t e = wdi_segmap_entry(p);
    /* No alignment test: a misaligned p fails both frees' block-start check. */
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p);
        wd_theap_t *h = wdi_tl_heap;
        uint32_t bs = pg->block_size;
        if (wd_likely(pg->heap == &h->small && size <= bs && (size >= bs / 2 || bs <= 32)
#if WD_HARDEN
                      && !wdi_block_misplaced(pg->start, pg->shift, pg->inv, pg->capacity, p) &&
                      !wdi_block_looks_free(pg->key, p)
#endif
                          )) {
            wdi_page_push_local(&h->small, pg, p);
            return;
        }
    }
    if (p == NULL)
        return;
    if (wd_unlikely(sampled_block(p))) {
        sampled_free_sized(p, 0, 0, size, fn);
        return;
    }
    if (wd_unlikely(wdi_wrapped())) {
        wrap_free_sized(p, 0, size, kind, fn);
        return;
    }
    prof_forget(p);
    wdi_raw_free_sized(p, size, fn);
}

void wd_free_sized(void *p, size_t size) { free_sized_kind(p, size, WD_FROM_MALLOC, "free_sized"); }

static void free_aligned_sized_kind(void *p, size_t alignment, size_t size, wd_alloc_kind_t kind,
                                    const char *fn) {
    if (p == NULL)
        return;
    if (wd_unlikely(sampled_block(p))) {
        sampled_free_sized(p, 1, alignment, size, fn);
        return;
    }
    if (wd_unlikely(wdi_wrapped() && wd_is_pow2(alignment))) {
        wrap_free_sized(p, alignment, size, kind, fn);
        return;
    }
    if (wd_unlikely(!wd_is_pow2(alignment) || ((uintptr_t)p & (alignment - 1)) != 0))
        wdi_fatal("free_aligned_sized with a wrong alignment", p, fn);
    if (wd_unlikely(size > wdi_raw_usable(p, fn)))
        wdi_fatal("free_aligned_sized with a wrong size", p, fn);
    prof_forget(p);
    wdi_raw_free(p, fn);
}

void wd_free_aligned_sized(void *p, size_t alignment, size_t size) {
    free_aligned_sized_kind(p, alignment, size, WD_FROM_MALLOC, "free_aligned_sized");
}

void wdi_delete_sized(void *p, size_t size, size_t alignment, wd_alloc_kind_t kind) {
    if (alignment == 0)
        free_sized_kind(p, size, kind, "free_sized");
    else
        free_aligned_sized_kind(p, alignment, size, kind, "free_aligned_sized");
}

/* C17 7.22.3.1: the alignment must be a valid one, so a value that is not a
 * power of two fails with EINVAL (as glibc does since 2.38). */
void *wd_aligned_alloc(size_t alignment, size_t size) {
    if (wd_unlikely(!wd_is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(alignment, size, WD_FROM_MALLOC);
}

/* POSIX: the error is returned, errno is left alone. */
int wd_posix_memalign(void **out, size_t alignment, size_t size) {
    if (!wd_is_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(alignment, size, WD_FROM_MALLOC);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

/* glibc: an alignment that is not a power of two is rounded up to one. */
void *wd_memalign(size_t alignment, size_t size) {
    if (alignment > ((size_t)1 << (sizeof(size_t) * 8 - 2))) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = WD_ALIGN;
    while (a < alignment)
        a <<= 1;
    return alloc_aligned(a, size, WD_FROM_MALLOC);
}

void *wd_valloc(size_t size) {
    return alloc_aligned(wdi_os_page_size(), size, WD_FROM_MALLOC);
}

void *wd_pvalloc(size_t size) {
    size_t page = wdi_os_page_size();
    if (size > PTRDIFF_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(page, size ? wd_align_up(size, page) : page, WD_FROM_MALLOC);
}

char *wd_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = wd_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

char *wd_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = wd_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

int wd_trim(size_t pad) {
    (void)pad; /* every idle page goes back; nothing is worth keeping */
    wdi_process_init();
    return wdi_trim_all();
}
