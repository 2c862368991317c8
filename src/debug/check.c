/* check.c -- owns check mode (check.h): the redzones and patterns of every
 * block, the quarantine of freed blocks, the reports of misuse, and what
 * runs at exit.  Calls: the tiers' raw interface for memory, blocks.h (what
 * is known of each block), stack.h and report.h (stacks and reports),
 * leaks.h (the scan at exit), options.h. */
#include "debug/check.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/lock.h"
#include "base/options.h"
#include "core/page.h"
#include "core/raw.h"
#include "core/segment.h"
#include "core/thread.h"
#include "debug/blocks.h"
#include "debug/closed.h"
#include "debug/fault.h"
#include "debug/guard.h"
#include "debug/leaks.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "debug/symbol.h"
#include "os/os.h"
#include "warden.h"

/* The patterns, as the program's memory shows them (docs/check.md). */
#define JUNK 0xbe    /* a new block from malloc (not calloc): "uninitialised" */
#define FREED 0xdf   /* a freed block in the quarantine */
#define REDZONE 0xfa /* the bytes around every block */
_Static_assert(JUNK == 0xbe && FREED == 0xdf, "report_nearby names the patterns' bytes");
#define RZ 16        /* left redzone; the right one is 16 or more */
#define SIZE_MAX_CHECK ((size_t)1 << 47)

static const char *const kind_name[] = {"malloc", "new", "new[]"};
static const char *const release_name[] = {"free", "delete", "delete[]"};

/* The name a report gives the release: a C++ program's is the operator it
 * called (delete, delete[]), not the C entry the operators share. */
static inline const char *release_fn(wd_alloc_kind_t kind, const char *fn) {
    return kind == WD_FROM_MALLOC ? fn : release_name[kind];
}

/* --- each thread's part ------------------------------------------------------ */

/* Freed blocks wait in batches: copies of their entries, BATCH of them or
 * fewer that hold BATCH_BYTES.  A thread fills its own, then hands it to
 * the quarantine whole (below): one hold of the quarantine's lock and a
 * few pointers moved for BATCH frees. */
#define BATCH 32
#define BATCH_BYTES ((size_t)64 << 10)
#define LIVE_SLACK ((intptr_t)256 << 10)

typedef struct q_batch_s {
    struct q_batch_s *next;  /* in the quarantine, the history or the spare ones */
    uint32_t n;              /* entries, once handed over */
    _Atomic(uint32_t) busy;  /* 1 while its blocks are checked and given back */
    size_t bytes;            /* held_cost of its entries */
    wd_block_info_t b[BATCH];
} q_batch_t;

/* What check mode keeps for each thread, with its heap (a heap outlives
 * its thread and goes to the next one: the memory of another thread's
 * walks is no error, only of no use):
 * - its memory of its latest stack walks (stack.h);
 * - its batch of latest frees, filled.  They are in the quarantine
 *   already: a double free finds them, the exit checks them.  Only the
 *   owner writes them; `cur` and `held` change only with the quarantine's
 *   lock held, and `held` is published with release after the entry is
 *   written, so a holder of that lock reads the first `held` entries of
 *   any thread's batch safely.  cur is NULL when no memory was left;
 * - the bytes it allocated less those it freed since it last told
 *   live_bytes (a shared counter written on every malloc and free would
 *   be a line that every thread's calls pull to itself). */
typedef struct wd_check_thread_s {
    wd_stack_memo_t memo;
    _Atomic(uint32_t) held;
    size_t held_bytes;
    intptr_t live_delta;
    q_batch_t *cur;
} wd_check_thread_t;

/* Bytes of live blocks, give or take LIVE_SLACK a thread: the quarantine
 * holds at most half as much again (and 1 MiB more), so that a small
 * program does not pay the whole budget in memory (peak RSS is the cost
 * check mode is judged by, beside time). */
static _Atomic(intptr_t) live_bytes;
#define QUARANTINE_FLOOR ((size_t)1 << 20)

/* Carved THREADS_PER_MAP at a time from one mapping (touched as they are
 * used): one mapping each would take a slot of ownmem.h's list per
 * thread, and a full list would leave the table to the leak scan.  They
 * are never given back, like the heaps that hold them. */
#define THREADS_PER_MAP 64
static wd_lock_t ct_lock = WD_LOCK_INIT;
static wd_check_thread_t *ct_map;
static size_t ct_used;

static q_batch_t *batch_first(void);

static WD_NOINLINE wd_check_thread_t *ct_new(wd_theap_t *h) {
    wd_check_thread_t *ct = NULL;
    wdi_lock(&ct_lock);
    if (ct_map == NULL || ct_used == THREADS_PER_MAP) {
        ct_map = wdi_check_map(THREADS_PER_MAP * sizeof *ct_map);
        ct_used = 0;
    }
    if (ct_map != NULL)
        ct = &ct_map[ct_used++];
    wdi_unlock(&ct_lock);
    if (ct != NULL)
        ct->cur = batch_first();
    __atomic_store_n(&h->check, ct, __ATOMIC_RELEASE); /* the exit reads other heaps' */
    return ct;
}

/* The calling thread's part; NULL while it exits (it has no heap then)
 * or when no memory was left for it.  A thread that only frees (a
 * consumer of another's blocks) gets a heap here, for its memo and its
 * batch: without them each of its frees walked its stack and took the
 * quarantine's lock. */
static inline wd_check_thread_t *ct_here(void) {
    wd_theap_t *h = wdi_tl_home;
    if (wd_unlikely(h == NULL) && (h = wdi_heap_get_slow()) == NULL)
        return NULL;
    wd_check_thread_t *ct = h->check;
    if (wd_unlikely(ct == NULL))
        ct = ct_new(h);
    return ct;
}

/* Another heap's part, for a holder of quarantine_lock. */
static inline wd_check_thread_t *ct_of(wd_theap_t *h) {
    return __atomic_load_n(&h->check, __ATOMIC_ACQUIRE);
}

static inline void live_add(wd_check_thread_t *ct, intptr_t bytes) {
    if (wd_unlikely(ct == NULL)) {
        atomic_fetch_add_explicit(&live_bytes, bytes, memory_order_relaxed);
        return;
    }
    intptr_t d = ct->live_delta + bytes;
    if (wd_unlikely(d > LIVE_SLACK || d < -LIVE_SLACK)) {
        atomic_fetch_add_explicit(&live_bytes, d, memory_order_relaxed);
        d = 0;
    }
    ct->live_delta = d;
}

/* --- stacks ---------------------------------------------------------------- */

/* libwarden.so's code, whose frames top every stack captured here. */
static uintptr_t warden_lo, warden_hi;

/* The calling thread's stack, kept in the depot: stack_depth frames of the
 * program, after warden's own (up to 8 more, dropped here so they take no
 * room; when warden is linked into the program they stay, and take some). */
static inline uint32_t stack_here(wd_check_thread_t *ct) {
    int depth = (int)wdi_options.stack_depth;
    return wdi_stack_id_here(ct != NULL ? &ct->memo : NULL, 1, depth + 8, depth, warden_lo,
                             warden_hi);
}

/* The stack of the call that is being reported, straight into it. */
static WD_NOINLINE void report_stack_here(const char *title) {
    void *pcs[WD_STACK_MAX];
    int n = wdi_stack_capture(pcs, WD_STACK_MAX, 2);
    wdi_report_stack(title, pcs, n);
}

/* Ends a report of misuse: the program goes on unless abort_on_error=1. */
static void report_done(void) {
    wdi_report_end();
    if (wdi_options.abort_on_error)
        abort();
}

/* The lines that say what a block is and where it comes from. */
static void report_block(const wd_block_info_t *b, int freed) {
    wdi_report_line("0x%zx is the start of a %zu-byte block (from %s)", (size_t)b->p,
                    (size_t)wdi_bi_size(b), kind_name[wdi_bi_kind(b)]);
    wdi_report_stack_id("allocated at", b->alloc_stack);
    if (freed)
        wdi_report_stack_id("freed at", b->free_stack);
}

/* --- redzones and patterns ------------------------------------------------- */

static inline size_t front_of(const wd_block_info_t *b) { return (size_t)1 << wdi_bi_align_log(b); }

/* Bytes of a block that the patterns cover (check_fill_kb; SIZE_MAX:
 * all): of a larger block, its first and its last half of that, where
 * most writes through a stale pointer land (a struct's fields, an
 * array's first or last element). */
static size_t fill_max = SIZE_MAX;

/* Sets the bytes of [p, p + size) that the patterns cover to byte. */
static inline void pattern_fill(uint8_t *p, size_t size, uint8_t byte) {
    if (wd_likely(size <= fill_max)) {
        memset(p, byte, size);
        return;
    }
    size_t half = fill_max / 2;
    memset(p, byte, half);
    memset(p + size - half, byte, half);
}

/* Whether the bytes of [p, p + size) that the patterns cover hold byte. */
static inline int pattern_is(const uint8_t *p, size_t size, uint8_t byte) {
    if (wd_likely(size <= fill_max))
        return wdi_bytes_are(p, size, byte);
    size_t half = fill_max / 2;
    return wdi_bytes_are(p, half, byte) && wdi_bytes_are(p + size - half, half, byte);
}

/* check=2: blocks placed against an inaccessible page (guard.h). */
static int check2;

/* The process that check mode's blocks belong to: set at start and in a
 * fork child.  A child of vfork (or of clone) shares the parent's memory
 * and gets no fork handler: its _exit must not touch the blocks. */
static pid_t check_pid;
static _Atomic(unsigned) check2_turn; /* check_align=both: end and start in turn */

/* Guarded blocks larger than this (check=2's) get all of their first
 * open page before them as their left redzone (left_start). */
#define LEFT_PAGE_FROM ((size_t)128 << 10)
/* The left redzone of a smaller guarded block: the slack before it in its
 * first open page, up to this many bytes (a write 32 bytes before such a
 * block went unseen with check=1's 16). */
#define LEFT_GUARDED 256

/* The start of the left redzone of block p of size bytes, whose raw
 * block (its open bytes, for a guarded one) starts at raw: RZ bytes before
 * it, or fewer where the raw block starts nearer (the pad of an aligned
 * block before them is never read).  A guarded block larger than
 * LEFT_PAGE_FROM gets all its first open page before it: a write a page
 * before such a block (where the large tier's header lies under check=1)
 * is caught at free, not left in slack no one reads; for a smaller one
 * the page's fill would cost more than its block's, and the slack up to
 * LEFT_GUARDED bytes before it is its left redzone. */
static inline uint8_t *left_start(uint8_t *raw, uint8_t *p, size_t size, int guarded) {
    if (wd_unlikely(guarded)) {
        uintptr_t page = (uintptr_t)raw & ~(uintptr_t)(wdi_os_page_size() - 1);
        return size > LEFT_PAGE_FROM || (uintptr_t)p - page <= LEFT_GUARDED ? (uint8_t *)page
                                                                            : p - LEFT_GUARDED;
    }
    return p - raw < RZ ? raw : p - RZ;
}

/* Where a block's memory lies: the raw block (for a guarded block, the
 * first byte of its open pages that check mode fills), its left redzone
 * (RZ bytes before the block, or less for a guarded block that starts
 * right after its guard page), the end of the raw block and the end of
 * its right redzone (right_end); for a small block found by its record,
 * its page (else NULL). */
typedef struct {
    uint8_t *raw, *left, *end, *right;
    wd_page_t *page;
} bounds_t;

/* The right redzone of a block that is not guarded: the slack after it up
 * to the end of its raw block, but at most RIGHT_MAX bytes (or an eighth
 * of the block, for a larger one).  A medium or aligned block's slack runs
 * to kilobytes (an allocation of 36 KiB for a 20-KiB block aligned to 16
 * KiB); filled and read whole at every malloc and free, it was a third of
 * the instructions of the benchmark of aligned blocks.  An overflow writes
 * its first bytes past the end first. */
#define RIGHT_MAX 256

static inline uint8_t *right_end(uint8_t *p, size_t size, uint8_t *end) {
    size_t slack = (size_t)(end - (p + size));
    if (wd_likely(slack <= RIGHT_MAX)) /* most: a small slot's */
        return end;
    return slack > size / 8 ? p + size + (size / 8 > RIGHT_MAX ? size / 8 : RIGHT_MAX) : end;
}

static WD_NOINLINE void block_bounds_slow(const wd_block_info_t *b, const char *fn,
                                          bounds_t *out) {
    uint8_t *p = (uint8_t *)b->p;
    wd_region_t *r = wdi_region_of(p);
    int guarded = r != NULL && r->kind == WD_KIND_GUARD;
    if (guarded) {
        wdi_guard_bounds(p, &out->raw, &out->end);
        out->right = out->end;
    } else {
        out->raw = p - front_of(b);
        if (r != NULL && r->kind == WD_KIND_SMALL && wdi_region_of(out->raw) == r)
            out->end = out->raw + wdi_page_of((wd_small_segment_t *)r, out->raw)->block_size;
        else
            out->end = out->raw + wdi_raw_usable_known(out->raw, fn);
        out->right = right_end(p, wdi_bi_size(b), out->end);
    }
    out->left = left_start(out->raw, p, wdi_bi_size(b), guarded);
    out->page = NULL;
}

/* The bounds of small block p, whose raw block raw lies in page pg: its
 * end is the slot's (the page's block size, from the line any thread
 * reads). */
static inline void small_bounds(uint8_t *raw, uint8_t *p, size_t size, wd_page_t *pg,
                                bounds_t *out) {
    out->raw = raw;
    out->left = p - RZ;
    out->end = raw + pg->xblock_size;
    out->right = right_end(p, size, out->end);
    out->page = pg;
}

/* b's bounds.  A small block (most) lies in the page of p, whose block
 * size gives its end: a few loads, no call. */
static inline void block_bounds(const wd_block_info_t *b, const char *fn, bounds_t *out) {
    uint8_t *p = (uint8_t *)b->p;
    uintptr_t e = wdi_segmap_entry(p);
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        uint8_t *raw = p - front_of(b);
        small_bounds(raw, p, wdi_bi_size(b),
                     wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), raw), out);
        return;
    }
    block_bounds_slow(b, fn, out);
}

/* The first byte of [from, to) that is not `byte`, or to. */
static const uint8_t *first_not(const uint8_t *from, const uint8_t *to, uint8_t byte) {
    while (from < to && *from == byte)
        from++;
    return from;
}

/* The last byte of [from, to) that is not `byte`, or NULL. */
static const uint8_t *last_not(const uint8_t *from, const uint8_t *to, uint8_t byte) {
    while (to > from && to[-1] == byte)
        to--;
    return to > from ? to - 1 : NULL;
}

typedef uint64_t vec2_t __attribute__((vector_size(16)));

/* wdi_bytes_are, with the 16 to 32 bytes of most redzones compared here:
 * two 16-byte loads, which may overlap. */
static inline int bytes_are(const void *p, size_t n, uint8_t byte) {
    if (n < 16 || n > 32)
        return wdi_bytes_are(p, n, byte);
    uint64_t w = byte * 0x0101010101010101ULL;
    vec2_t want = {w, w}, a, z;
    memcpy(&a, p, 16);
    memcpy(&z, (const uint8_t *)p + n - 16, 16);
    vec2_t d = (a ^ want) | (z ^ want);
    return (d[0] | d[1]) == 0;
}

/* memset, with 16 to 32 bytes written here (two 16-byte stores). */
static inline void bytes_fill(void *p, uint8_t byte, size_t n) {
    if (n < 16 || n > 32) {
        memset(p, byte, n);
        return;
    }
    uint64_t w = byte * 0x0101010101010101ULL;
    vec2_t v = {w, w};
    memcpy(p, &v, 16);
    memcpy((uint8_t *)p + n - 16, &v, 16);
}

/* The left redzone of a block from new (not new[]) ends with a word of
 * zeros, not the pattern: delete[] given such a block reads there the
 * count of elements new[] keeps before an array of a type with a
 * destructor, and a count made of the pattern ran the destructor until
 * the program was killed, with no report; a count of 0 runs it never,
 * and the address delete[] passes on (8 or 16 bytes before the block) is
 * reported as the mismatch it is (report_not_live). */
#define COOKIE 8

static inline uint64_t word_at(const uint8_t *q) {
    uint64_t w;
    memcpy(&w, q, sizeof w);
    return w;
}

/* Whether the left redzone [left, p) of a block of this kind ends with
 * the word of zeros. */
static inline int has_zero_word(unsigned kind, const uint8_t *left, const uint8_t *p) {
    return kind == WD_FROM_NEW && p - left >= COOKIE;
}

#define REDZONE_WORD (REDZONE * 0x0101010101010101ULL)

/* Fills the left redzone [left, p) of a block of this kind. */
static inline void left_fill(uint8_t *left, uint8_t *p, unsigned kind) {
    if (left > p) /* never: said for the compiler's bounds of the fill */
        __builtin_unreachable();
    bytes_fill(left, REDZONE, (size_t)(p - left));
    if (wd_unlikely(has_zero_word(kind, left, p)))
        memset(p - COOKIE, 0, COOKIE);
}

/* left_intact for a left redzone of another length than RZ (a guarded
 * block's, which may start right after its guard page). */
static WD_NOINLINE int left_intact_other(const wd_block_info_t *b, const uint8_t *left,
                                         const uint8_t *p) {
    size_t n = (size_t)(p - left);
    if (!has_zero_word(wdi_bi_kind(b), left, p))
        return bytes_are(left, n, REDZONE);
    return (n == COOKIE || bytes_are(left, n - COOKIE, REDZONE)) && word_at(p - COOKIE) == 0;
}

/* Whether the left redzone [left, p) of b is as left_fill made it: most
 * are RZ bytes, two words, the second of zeros for a block from new. */
static WD_ALWAYS_INLINE int left_intact(const wd_block_info_t *b, const uint8_t *left,
                                        const uint8_t *p) {
    if (wd_unlikely(p - left != RZ))
        return left_intact_other(b, left, p);
    uint64_t last = wdi_bi_kind(b) == WD_FROM_NEW ? 0 : REDZONE_WORD;
    return word_at(left) == REDZONE_WORD && word_at(p - COOKIE) == last;
}

/* Whether both redzones of b still hold their pattern. */
static inline int redzones_intact(const wd_block_info_t *b, const bounds_t *bd) {
    const uint8_t *p = (const uint8_t *)b->p, *end = p + wdi_bi_size(b);
    return bytes_are(end, (size_t)(bd->right - end), REDZONE) && left_intact(b, bd->left, p);
}

/* What the left redzone [left, p) of b holds when intact, at byte q. */
static inline uint8_t left_byte(const wd_block_info_t *b, const uint8_t *left, const uint8_t *p,
                                const uint8_t *q) {
    return has_zero_word(wdi_bi_kind(b), left, p) && q >= p - COOKIE ? 0 : REDZONE;
}

/* The bytes an overflow changed in [from, to), the slack after a block
 * (each held REDZONE), as a report counts them; 0 when none did. */
static int right_hit(const uint8_t *from, const uint8_t *to, wd_redzone_hit_t *hit) {
    const uint8_t *last = last_not(from, to, REDZONE);
    if (last == NULL)
        return 0;
    const uint8_t *first = first_not(from, to, REDZONE);
    *hit = (wd_redzone_hit_t){1, (size_t)(first - from), (size_t)(last - from), 0, last == to - 1};
    hit->whole = first == from && memchr(from, REDZONE, (size_t)(last + 1 - from)) == NULL;
    return 1;
}

/* The bytes an underflow changed in b's left redzone [left, p), as a
 * report counts them; 0 when none did. */
static int left_hit(const wd_block_info_t *b, const uint8_t *left, const uint8_t *p,
                    wd_redzone_hit_t *hit) {
    const uint8_t *far = left, *near = p - 1;
    while (far < p && *far == left_byte(b, left, p, far))
        far++;
    if (far == p)
        return 0;
    while (*near == left_byte(b, left, p, near))
        near--;
    int whole = 1;
    for (const uint8_t *q = far; q < p && whole; q++)
        whole = *q != left_byte(b, left, p, q);
    *hit = (wd_redzone_hit_t){0, (size_t)(p - near), (size_t)(p - far), whole, far == left};
    return 1;
}

/* The rest of a redzone report, once its headline is out. */
static void redzone_report_end(const wd_block_info_t *b, const char *fn) {
    if (strcmp(fn, "exit") != 0)
        report_stack_here("found at");
    report_block(b, wdi_bi_state(b) != WD_BLOCK_LIVE);
    report_done();
}

/* check=2: why a write next to a block against a guard page was found
 * only now, not where it happened (the reader expects the latter).  Past
 * the end: the bytes between the block's end and its guard page, which
 * its alignment leaves (8 for a size not a multiple of 16: check_exact;
 * the alignment asked for by posix_memalign and the like); before the
 * start: the left redzone of a block that ends at its guard page
 * (check_align=end, the default). */
static void guarded_hint(const wd_block_info_t *b, const bounds_t *bd, int after) {
    uintptr_t p = b->p, gap = (uintptr_t)bd->end - (p + wdi_bi_size(b));
    if (!check2 || !wdi_guard_owns((const void *)p))
        return;
    size_t asked = front_of(b) > RZ ? front_of(b) : 0; /* an alignment asked for */
    int end_aligned = gap < (asked ? asked : RZ);
    if (after && end_aligned && ((uintptr_t)bd->end & (wdi_os_page_size() - 1)) == 0) {
        if (asked)
            wdi_report_line("the block ends %zu bytes before its guard page (an aligned "
                            "allocation: it starts at a multiple of %zu): a write there is found "
                            "at free, one past them faults where it happens",
                            (size_t)gap, asked);
        else
            wdi_report_line("the block ends %zu bytes before its guard page (it keeps the "
                            "alignment its size calls for): a write there is found at free, one "
                            "past them faults where it happens",
                            (size_t)gap);
    } else if (!after && end_aligned)
        wdi_report_line("the block ends at its guard page: with check_align=start (or both) "
                        "an underflow faults where it happens");
}

static void next_record_lines(wd_page_t *pg, uint8_t *next);

/* Reports what was written in b's redzones, which are not intact (and then
 * mends them, so that a damage is reported once).  fn names the call that
 * found it ("free", ...; at "exit" no stack is shown: it says nothing). */
static WD_NOINLINE void redzones_report(const wd_block_info_t *b, const bounds_t *bd,
                                        const char *fn, uint8_t **next_record) {
    uint8_t *p = (uint8_t *)b->p, *end = bd->right, *left = bd->left;
    size_t size = wdi_bi_size(b);
    wd_redzone_hit_t hit;
    if (right_hit(p + size, end, &hit)) {
        /* check=2 reported it where it happened, when it reached the guard */
        if (!(check2 && wdi_guard_owns(p) && wdi_guard_overflowed(p))) {
            wdi_report_redzone_begin(&hit, size, b->p, fn);
            guarded_hint(b, bd, 1);
            if (next_record != NULL && *next_record != NULL) { /* one overflow, one report */
                size_t past = (size_t)(*next_record - p) - size;
                wdi_report_line("it went on past the redzone: bytes %zu to %zu past the end, "
                                "where the checker keeps the record of the next slot, were "
                                "written too",
                                past, past + 15);
                next_record_lines(bd->page, *next_record);
                *next_record = NULL;
            }
            redzone_report_end(b, fn);
        }
        memset(p + size, REDZONE, (size_t)(end - (p + size))); /* reported once */
    }
    if (left_hit(b, left, p, &hit)) {
        wdi_report_redzone_begin(&hit, size, b->p, fn);
        guarded_hint(b, bd, 0);
        redzone_report_end(b, fn);
        left_fill(left, p, wdi_bi_kind(b)); /* reported once */
    }
}

/* Checks both redzones of block b; reports what was written there. */
static inline void redzones_check(const wd_block_info_t *b, const char *fn) {
    bounds_t bd;
    block_bounds(b, fn, &bd);
    if (wd_unlikely(!redzones_intact(b, &bd)))
        redzones_report(b, &bd, fn, NULL);
}

/* Fills freed block b's spans [p, head) and [tail, p + size) with the
 * freed pattern. */
static void spans_fill(const wd_block_info_t *b, uint8_t *head, uint8_t *tail) {
    uint8_t *p = (uint8_t *)b->p;
    memset(p, FREED, (size_t)(head - p));
    memset(tail, FREED, (size_t)(p + wdi_bi_size(b) - tail));
}

/* Reports a freed block whose spans [p, head) and [tail, p + size) that
 * the freed pattern covers no longer hold it, and fills them again (so
 * that it is reported once). */
static WD_NOINLINE void freed_report_in(const wd_block_info_t *b, uint8_t *head, uint8_t *tail,
                                        const char *fn) {
    uint8_t *p = (uint8_t *)b->p, *end = p + wdi_bi_size(b);
    /* the first and last bytes written, in the spans the pattern covers */
    const uint8_t *w = first_not(p, head, FREED);
    if (w == head)
        w = first_not(tail, end, FREED);
    const uint8_t *last = last_not(tail, end, FREED);
    if (last == NULL)
        last = last_not(p, head, FREED);
    wdi_report_begin("write after free: bytes %zu to %zu of a freed %zu-byte block at 0x%zx "
                     "were written (found in %s)",
                     (size_t)(w - p), (size_t)(last - p), (size_t)(end - p), (size_t)b->p, fn);
    report_block(b, 1);
    report_done();
    spans_fill(b, head, tail);
}

/* Reports a quarantined block that no longer holds the freed pattern. */
static WD_NOINLINE void freed_report(const wd_block_info_t *b, const char *fn) {
    uint8_t *p = (uint8_t *)b->p;
    size_t size = wdi_bi_size(b), half = size <= fill_max ? size : fill_max / 2;
    freed_report_in(b, p + half, p + size - (size <= fill_max ? 0 : half), fn);
}

/* Checks that a quarantined block still holds the freed pattern. */
static inline void freed_check(const wd_block_info_t *b, const char *fn) {
    if (wd_unlikely(!pattern_is((const uint8_t *)b->p, wdi_bi_size(b), FREED)))
        freed_report(b, fn);
}

/* --- large freed blocks, closed (closed.h) ------------------------------------ */

/* A closed block's bytes outside its whole pages, [p, *head) and
 * [*tail, p + size): they hold the freed pattern while it waits. */
static void closed_edges(const wd_block_info_t *b, uint8_t **head, uint8_t **tail) {
    uintptr_t lo, hi;
    wdi_closed_span(b->p, wdi_bi_size(b), &lo, &hi);
    *head = (uint8_t *)lo;
    *tail = (uint8_t *)hi;
}

/* Checks that a closed block's edges still hold the freed pattern. */
static void closed_edges_check(const wd_block_info_t *b, const char *fn) {
    uint8_t *p = (uint8_t *)b->p, *head, *tail;
    closed_edges(b, &head, &tail);
    if (!wdi_bytes_are(p, (size_t)(head - p), FREED) ||
        !wdi_bytes_are(tail, (size_t)(p + wdi_bi_size(b) - tail), FREED))
        freed_report_in(b, head, tail, fn);
}

static void closed_exit_check(const wd_block_info_t *b) { closed_edges_check(b, "exit"); }

static inline void raw_release(const wd_block_info_t *b, const char *fn);

/* A closed block leaves (closed.h): its edges are checked, its raw block
 * goes back. */
static void closed_release(const wd_block_info_t *b) {
    closed_edges_check(b, "free");
    raw_release(b, "free");
}

/* An access to a closed block (closed.h), in the words of check=2's
 * reports of freed blocks (guard.c). */
static void closed_report(const wd_block_info_t *b, const wd_fault_t *f) {
    wdi_report_begin("use after free: %s at 0x%zx, %zu bytes inside a freed %zu-byte block at "
                     "0x%zx",
                     wdi_fault_access(f), (size_t)f->addr, (size_t)(f->addr - b->p),
                     (size_t)wdi_bi_size(b), (size_t)b->p);
    wdi_fault_report_stack();
    report_block(b, 1);
    report_done();
}

/* --- giving blocks back to the tiers ------------------------------------------ */

/* Gives small raw block raw of page pg, checked, back: straight on its
 * page's list when the page is the calling thread's (mine; the common
 * case): check mode handed it out and took it back once (the page's checks
 * could not fail); else through raw.h. */
static inline void small_release(wd_small_heap_t *mine, wd_page_t *pg, uint8_t *raw,
                                 const char *fn) {
    if (wd_likely(pg->heap == mine && mine != NULL))
        wdi_page_push_local(mine, pg, raw);
    else
        wdi_raw_free(raw, fn);
}

/* Gives the raw block of b, checked, back to its tier: a small one as
 * small_release does, anything else through raw.h or the guard. */
static inline void raw_release(const wd_block_info_t *b, const char *fn) {
    uint8_t *raw = (uint8_t *)b->p - front_of(b);
    uintptr_t e = wdi_segmap_entry(raw);
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        small_release(wdi_small_here(),
                      wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), raw), raw, fn);
        return;
    }
    if (wdi_guard_owns((const void *)b->p))
        wdi_guard_check_free((void *)b->p, b->free_stack); /* its pages close */
    else
        wdi_raw_free(raw, fn);
}

/* --- the quarantine ---------------------------------------------------------- */

/* The threads' batches of freed blocks, oldest first, bounded by bytes
 * (check_quarantine_mb, and half the live bytes and 1 MiB: quarantine_room);
 * the oldest batches leave it, their blocks are checked and given back, and
 * the batch stays in the history (the last HISTORY_BATCHES batches), so
 * that a late double free is still named.  Batches move by their pointer,
 * spare ones wait in `spare`.  A small block's record (blocks.h) or the
 * table holds the live blocks only: the batches hold copies of the
 * entries, so a block leaves the quarantine without a look at either.  A
 * pointer that is no live block is looked for in the quarantine and the
 * history (for reports only). */
#define HISTORY_BATCHES 2048 /* 65,536 blocks given back, when batches are full */
#define BATCHES_PER_MAP 64
#define EVICT_MAX 4 /* batches that leave at one hand-over at most: the rest at the next ones */

typedef struct {
    q_batch_t *head, *tail;
    size_t count;
} q_list_t;

static wd_lock_t quarantine_lock = WD_LOCK_INIT;
static q_list_t quarantine, history; /* with quarantine_lock */
static q_batch_t *spare;
static q_batch_t *loose; /* the history's batch that blocks given back at once go into */
static size_t q_bytes, q_budget;

/* What a block in the quarantine costs: its bytes, its redzones, its
 * record and its copy in a batch (most of the memory a freed block of a few
 * bytes holds is not its own bytes: a 20-byte block takes 64 or more). */
#define HELD_EXTRA (2 * RZ + 32)
static inline size_t held_cost(const wd_block_info_t *b) { return wdi_bi_size(b) + HELD_EXTRA; }

/* What the quarantine may hold now. */
static inline size_t quarantine_room(void) {
    intptr_t live = atomic_load_explicit(&live_bytes, memory_order_relaxed);
    size_t scaled = (live > 0 ? (size_t)live / 2 : 0) + QUARANTINE_FLOOR;
    return scaled < q_budget ? scaled : q_budget;
}

static inline void list_append(q_list_t *l, q_batch_t *b) {
    b->next = NULL;
    if (l->tail != NULL)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    l->count++;
}

static inline q_batch_t *list_pop(q_list_t *l) {
    q_batch_t *b = l->head;
    l->head = b->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->count--;
    return b;
}

/* An empty batch, from the spare ones or a fresh mapping (the one system
 * call made under the lock, once every BATCHES_PER_MAP batches); NULL when
 * the OS refused.  With quarantine_lock held. */
static q_batch_t *batch_new(void) {
    if (spare == NULL) {
        q_batch_t *map = wdi_check_map(BATCHES_PER_MAP * sizeof *map);
        if (map == NULL)
            return NULL;
        for (size_t i = 1; i < BATCHES_PER_MAP; i++) {
            map[i].next = spare;
            spare = &map[i];
        }
        return &map[0];
    }
    q_batch_t *b = spare;
    spare = b->next;
    b->n = 0;
    b->bytes = 0;
    return b;
}

static q_batch_t *batch_first(void) {
    wdi_lock(&quarantine_lock);
    q_batch_t *b = batch_new();
    wdi_unlock(&quarantine_lock);
    return b;
}

/* The history forgets its oldest batches beyond HISTORY_BATCHES (not one
 * whose blocks are still being given back).  With quarantine_lock held. */
static void history_trim(void) {
    while (history.count > HISTORY_BATCHES &&
           !atomic_load_explicit(&history.head->busy, memory_order_acquire)) {
        q_batch_t *b = list_pop(&history);
        if (b == loose)
            loose = NULL;
        b->next = spare;
        spare = b;
    }
}

/* Calls fn on every entry of the batches of l, oldest first, until it
 * returns non-zero. */
static int list_foreach(const q_list_t *l, int (*fn)(const wd_block_info_t *b, void *arg),
                        void *arg) {
    for (const q_batch_t *q = l->head; q != NULL; q = q->next)
        for (uint32_t i = 0; i < q->n; i++)
            if (fn(&q->b[i], arg))
                return 1;
    return 0;
}

/* Calls fn on every block of the quarantine (its batches, then each
 * thread's own) until it returns non-zero; with quarantine_lock held. */
static int quarantine_foreach(int (*fn)(const wd_block_info_t *b, void *arg), void *arg) {
    if (list_foreach(&quarantine, fn, arg))
        return 1;
    for (wd_theap_t *h = wdi_heaps_first(); h != NULL; h = h->next_all) {
        wd_check_thread_t *ct = ct_of(h);
        uint32_t n = ct != NULL ? atomic_load_explicit(&ct->held, memory_order_acquire) : 0;
        for (uint32_t i = 0; i < n; i++)
            if (fn(&ct->cur->b[i], arg))
                return 1;
    }
    return 0;
}

typedef struct {
    uintptr_t p;
    wd_block_info_t *out;
    int found;
} find_t;

static int find_one(const wd_block_info_t *b, void *arg) {
    find_t *f = arg;
    if (b->p != f->p)
        return 0;
    *f->out = *b;
    f->found = 1;
    return 1;
}

/* Keeps looking: the history's newest record of an address is its last. */
static int find_last(const wd_block_info_t *b, void *arg) {
    find_one(b, arg);
    return 0;
}

/* What is known of p, a block freed already: in the quarantine (state
 * QUARANTINED) or given back (RELEASED, the latest if p was given back
 * more than once); 0 when nothing is. */
static int freed_find(uintptr_t p, wd_block_info_t *out) {
    find_t f = {p, out, 0};
    wdi_lock(&quarantine_lock);
    if (!quarantine_foreach(find_one, &f)) {
        list_foreach(&history, find_last, &f);
        if (f.found)
            out->meta = wdi_bi_with_state(out->meta, WD_BLOCK_RELEASED);
    }
    wdi_unlock(&quarantine_lock);
    return f.found;
}

/* Checks blocks that left the quarantine (and went into the history),
 * then gives them back.  Their memory left the cache long ago: the block
 * AHEAD places on is fetched while this one is read. */
#define AHEAD 3

static inline void prefetch_block(const wd_block_info_t *b) {
    const uint8_t *p = (const uint8_t *)b->p - RZ;
    size_t n = wdi_bi_size(b) + 2 * RZ;
    if (n > 256)
        n = 256;
    for (size_t i = 0; i < n; i += 64)
        __builtin_prefetch(p + i);
}

/* Checks block b, which leaves the quarantine, within bounds bd. */
static inline void evicted_check(const wd_block_info_t *b, const bounds_t *bd, const char *fn) {
    if (wd_unlikely(!pattern_is((const uint8_t *)b->p, wdi_bi_size(b), FREED) ||
                    !redzones_intact(b, bd))) {
        freed_check(b, fn);
        redzones_check(b, fn);
    }
}

/* A small block (most) is checked and given back with one look at the
 * segment map and its page, as raw_release would give it back. */
static void evicted(const wd_block_info_t *b, size_t n, const char *fn) {
    wd_small_heap_t *mine = wdi_small_here();
    for (size_t i = 0; i < n && i < AHEAD; i++)
        prefetch_block(&b[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n)
            prefetch_block(&b[i + AHEAD]);
        uint8_t *p = (uint8_t *)b[i].p, *raw = p - front_of(&b[i]);
        uintptr_t e = wdi_segmap_entry(raw);
        bounds_t bd;
        if (wd_likely(e & WD_SEGMAP_SMALL)) {
            wd_page_t *pg = wdi_page_of((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), raw);
            small_bounds(raw, p, wdi_bi_size(&b[i]), pg, &bd);
            evicted_check(&b[i], &bd, fn);
            small_release(mine, pg, raw, fn);
            continue;
        }
        block_bounds(&b[i], fn, &bd);
        evicted_check(&b[i], &bd, fn);
        raw_release(&b[i], fn);
    }
}

/* Batch b (freed blocks, filled) joins the quarantine, whose oldest
 * batches leave it while it holds more than it may; they go into the
 * history, and are checked and given back after the lock is let go.  ct:
 * the caller's part, whose batch b was and which gets an empty one (NULL
 * when the OS refused one); NULL when b was no thread's. */
static void quarantine_put(q_batch_t *b, wd_check_thread_t *ct, const char *fn) {
    q_batch_t *out[EVICT_MAX];
    size_t k = 0;
    wdi_lock(&quarantine_lock);
    list_append(&quarantine, b);
    q_bytes += b->bytes;
    size_t room = quarantine_room();
    while (q_bytes > room && k < EVICT_MAX) {
        q_batch_t *old = list_pop(&quarantine);
        q_bytes -= old->bytes;
        atomic_store_explicit(&old->busy, 1, memory_order_relaxed);
        list_append(&history, old);
        out[k++] = old;
    }
    history_trim();
    if (ct != NULL) {
        ct->cur = batch_new();
        ct->held_bytes = 0;
        atomic_store_explicit(&ct->held, 0, memory_order_relaxed);
    }
    wdi_unlock(&quarantine_lock);
    for (size_t i = 0; i < k; i++) {
        evicted(out[i]->b, out[i]->n, fn);
        atomic_store_explicit(&out[i]->busy, 0, memory_order_release);
    }
}

/* The calling thread's batch goes into the quarantine. */
static void batch_flush(wd_check_thread_t *ct, const char *fn) {
    uint32_t n = atomic_load_explicit(&ct->held, memory_order_relaxed);
    if (ct->live_delta != 0) {
        atomic_fetch_add_explicit(&live_bytes, ct->live_delta, memory_order_relaxed);
        ct->live_delta = 0;
    }
    if (n == 0)
        return;
    ct->cur->n = n;
    ct->cur->bytes = ct->held_bytes;
    quarantine_put(ct->cur, ct, fn);
}

static void block_release_now(const wd_block_info_t *b, const char *fn);

/* b, freed at `stack` and filled, joins the quarantine (a copy: b's
 * words are read again right after, and a byte stored into one of them
 * would make that load wait). */
static WD_ALWAYS_INLINE void quarantine_push(wd_check_thread_t *ct, const wd_block_info_t *b,
                                             uint32_t stack, const char *fn) {
    wd_block_info_t q = {b->p, wdi_bi_with_state(b->meta, WD_BLOCK_QUARANTINED), b->alloc_stack,
                         stack};
    if (wd_unlikely(ct == NULL || ct->cur == NULL)) {
        /* a thread that is exiting, or no memory for a batch */
        wdi_lock(&quarantine_lock);
        q_batch_t *one = batch_new();
        wdi_unlock(&quarantine_lock);
        if (one == NULL) {
            block_release_now(&q, fn);
            return;
        }
        one->b[0] = q;
        one->n = 1;
        one->bytes = held_cost(&q);
        quarantine_put(one, NULL, fn);
        return;
    }
    uint32_t n = atomic_load_explicit(&ct->held, memory_order_relaxed);
    ct->held_bytes += held_cost(&q);
    ct->cur->b[n] = q;
    atomic_store_explicit(&ct->held, n + 1, memory_order_release);
    if (wd_unlikely(n + 1 == BATCH || ct->held_bytes >= BATCH_BYTES))
        batch_flush(ct, fn);
}

/* A freed block that does not wait in the quarantine joins the history,
 * so that a late double free of it is named. */
static void history_add(const wd_block_info_t *b) {
    wdi_lock(&quarantine_lock);
    if (loose == NULL || loose->n == BATCH) {
        loose = batch_new();
        if (loose != NULL)
            list_append(&history, loose);
        history_trim();
    }
    if (loose != NULL)
        loose->b[loose->n++] = *b;
    wdi_unlock(&quarantine_lock);
}

/* A freed block that does not wait (too large, check=2's, no quarantine):
 * into the history, then back. */
static WD_NOINLINE void block_release_now(const wd_block_info_t *b, const char *fn) {
    history_add(b);
    raw_release(b, fn);
}

/* check=1's freed block b too large for the quarantine (closed.h): into the
 * history, its edges filled with the freed pattern, its whole pages
 * closed while it waits; back at once when it cannot wait. */
static WD_NOINLINE void block_close(const wd_block_info_t *b, const char *fn) {
    history_add(b);
    uint8_t *head, *tail;
    closed_edges(b, &head, &tail);
    spans_fill(b, head, tail);
    if (!wdi_closed_put(b, quarantine_room() / 2))
        raw_release(b, fn);
}

static void summary_at_death(int sig);

void wdi_check_init(void) {
    if (wdi_options.check == 0)
        return;
    check2 = wdi_options.check >= 2;
    wdi_checking = 1;
    wdi_harden2 = 0; /* check mode has redzones and a quarantine of its own */
    q_budget = (size_t)wdi_options.check_quarantine_mb << 20;
    if (wdi_options.check_fill_kb != 0)
        fill_max = (size_t)wdi_options.check_fill_kb << 10;
    if (wdi_options.stack_depth > WD_STACK_MAX)
        wdi_options.stack_depth = WD_STACK_MAX;
    wdi_blocks_init();
    wdi_symbol_warden_code(&warden_lo, &warden_hi);
    check_pid = getpid();
    /* A crash is said with its stack (fault.c), from the start: check=1's
     * faults are those in its closed blocks, check=2's those in the
     * guard's pages. */
    static const wdi_closed_calls_t closed_calls = {closed_release, closed_report};
    wdi_closed_init(&closed_calls);
    wdi_fault_last_words(summary_at_death);
    if (check2)
        wdi_guard_check_arm();
    else
        wdi_fault_arm(wdi_closed_claim);
}

void wdi_check_late(void) {
    if (wdi_options.check != 0 && !wdi_checking)
        wdi_print_line(2, "warden: check=1 was read after the first allocation; it stays off");
}

/* The thread pointers of the latest threads that exited (a ring): the leak
 * scan does not read their stacks, which glibc keeps mapped for its next
 * threads, as roots (leaks.h).  A block a thread lost when it returned,
 * its only pointer in a local variable, is then lost, not reachable. */
#define DEAD_THREADS 64
static _Atomic(uintptr_t) dead_tp[DEAD_THREADS];
static _Atomic(unsigned) dead_next;

/* The dead threads' thread pointers into out (DEAD_THREADS at most). */
static size_t dead_threads(uintptr_t *out) {
    size_t n = 0;
    for (size_t i = 0; i < DEAD_THREADS; i++) {
        uintptr_t tp = atomic_load_explicit(&dead_tp[i], memory_order_relaxed);
        if (tp != 0)
            out[n++] = tp;
    }
    return n;
}

void wdi_check_heap_exit(wd_theap_t *h) {
    wd_check_thread_t *ct = h->check;
    if (ct != NULL)
        batch_flush(ct, "free");
    uintptr_t tp = wdi_os_thread_pointer(); /* this runs in the thread that exits */
    if (tp != 0)
        atomic_store_explicit(&dead_tp[atomic_fetch_add_explicit(&dead_next, 1,
                                                                 memory_order_relaxed) %
                                       DEAD_THREADS],
                              tp, memory_order_relaxed);
}

/* The leak scan, with the dead threads' stacks left out of its roots.
 * live_sp: as wdi_leaks_check has it. */
static void leaks_check(uintptr_t live_sp, wd_leaks_t *leaks) {
    /* zeroed: this frame is read as a root, and a stale copy of a lost
     * block's address left here by an earlier call would keep it reachable */
    uintptr_t dead[DEAD_THREADS] = {0};
    size_t n = dead_threads(dead);
    wdi_leaks_check(wdi_options.leaks >= 2, dead, n, live_sp, leaks);
}

/* Run by exit: where the exiting thread's live frames begin, at the
 * caller of exit, found by walking out through the frames of the C
 * library that run this handler (and of the loader and warden, should it
 * run from the loader's destructor calls; process.c registers it so that
 * it does not: stack.h); 0 when not known.  After main returned that is
 * the C library's start code, and main's dead frames are no root, as they
 * are none for valgrind, which checks after the process ended. */
static uintptr_t exit_live_sp(void) {
    wd_code_range_t in[3];
    int n = 0;
    if (!wdi_symbol_libc_code(&in[n].lo, &in[n].hi))
        return 0;
    n++;
    n += wdi_symbol_loader_code(&in[n].lo, &in[n].hi);
    n += wdi_symbol_warden_code(&in[n].lo, &in[n].hi);
    return wdi_stack_sp_past(in, n);
}

/* --- finding the block a bad pointer points into ------------------------------ */

typedef struct {
    uintptr_t p;
    wd_block_info_t found;
} near_t;

static inline int near_to(const wd_block_info_t *b, uintptr_t p) {
    return p >= b->p - RZ && p < b->p + wdi_bi_size(b) + RZ;
}

static void near_live(wd_block_info_t *b, void *arg) {
    near_t *n = arg;
    if (near_to(b, n->p))
        n->found = *b;
}

static int near_freed(const wd_block_info_t *b, void *arg) {
    near_t *n = arg;
    if (!near_to(b, n->p))
        return 0;
    n->found = *b;
    return 1;
}

/* The live or quarantined block that p lies in or near, into *out; 0 when
 * there is none.  Before the report: the report's lock comes after the
 * quarantine's. */
static int block_near(uintptr_t p, wd_block_info_t *out) {
    near_t n = {p, {0}};
    wdi_blocks_lock_all();
    wdi_blocks_foreach(near_live, &n);
    wdi_blocks_unlock_all();
    if (n.found.p == 0) {
        wdi_lock(&quarantine_lock);
        quarantine_foreach(near_freed, &n);
        wdi_unlock(&quarantine_lock);
    }
    *out = n.found;
    return n.found.p != 0;
}

/* Says what a pointer that is no block is: inside or near a block of the
 * checker's (which one, with its stacks), or nothing warden knows. */
static void report_nearby(uintptr_t p, const wd_block_info_t *b) {
    if (b == NULL) {
        wdi_report_line("0x%zx is not in a block that warden handed out", (size_t)p);
        if ((p | 0xfff) == ((uint64_t)FREED * 0x0101010101010101ULL | 0xfff))
            wdi_report_line("it is check mode's freed-block pattern (0xdf bytes): a pointer read "
                            "from a block after the block was freed");
        else if ((p | 0xfff) == ((uint64_t)JUNK * 0x0101010101010101ULL | 0xfff))
            wdi_report_line("it is check mode's pattern of a new block's bytes (0xbe): a pointer "
                            "read from memory the program never wrote");
        return;
    }
    size_t size = wdi_bi_size(b);
    const char *from = kind_name[wdi_bi_kind(b)];
    if (p >= b->p && p < b->p + size)
        wdi_report_line("0x%zx is %zu bytes inside a %zu-byte block at 0x%zx (from %s)", (size_t)p,
                        (size_t)(p - b->p), size, (size_t)b->p, from);
    else if (p < b->p)
        wdi_report_line("0x%zx is %zu bytes before a %zu-byte block at 0x%zx (from %s)", (size_t)p,
                        (size_t)(b->p - p), size, (size_t)b->p, from);
    else
        wdi_report_line("0x%zx is %zu bytes past the end of a %zu-byte block at 0x%zx (from %s)",
                        (size_t)p, (size_t)(p - b->p - size), size, (size_t)b->p, from);
    wdi_report_stack_id("allocated at", b->alloc_stack);
    if (wdi_bi_state(b) != WD_BLOCK_LIVE)
        wdi_report_stack_id("freed at", b->free_stack);
}

/* Whether p looks like a small block whose record (blocks.h) an underflow
 * overwrote: p is where a block of its slot starts, the slot's last 16
 * bytes hold the right redzone's pattern (a slot that never held a block
 * of check mode's does not), its left redzone does not. */
static int record_damaged(uintptr_t p) {
    uintptr_t e = wdi_segmap_entry((const void *)p);
    if (!(e & WD_SEGMAP_SMALL))
        return 0;
    wd_small_segment_t *seg = (wd_small_segment_t *)(e - WD_SEGMAP_SMALL);
    uint8_t *slot = wdi_blocks_slot_of(seg, p);
    if (slot == NULL || slot + WD_REC_FRONT != (uint8_t *)p)
        return 0;
    uint32_t size = wdi_page_of(seg, slot)->xblock_size;
    /* the left redzone's first word: every kind's pattern (has_zero_word) */
    return bytes_are(slot + size - RZ, RZ, REDZONE) && !bytes_are(slot + RZ, RZ - COOKIE, REDZONE);
}

/* Whether p, given to a release, is the first element of live block b
 * from new[] of a type with a destructor: C++ keeps the count of elements
 * in the 8 bytes before them (16 for a type aligned to 16), so a delete
 * or free of such an array (not delete[]) gets p and not the block. */
static int cookie_of(uintptr_t p, const wd_block_info_t *b) {
    return wdi_bi_state(b) == WD_BLOCK_LIVE && wdi_bi_kind(b) == WD_FROM_NEW_ARRAY &&
           (p - b->p == 8 || p - b->p == 16);
}

/* Whether p, given to delete[], lies where delete[] of an array of a
 * type with a destructor would find the array's start, for live block b
 * from new: the count before b was the redzone's zeros (COOKIE), and
 * delete[] passed on b less the count's room (8, or 16 for a type
 * aligned to 16). */
static int cookie_before(uintptr_t p, const wd_block_info_t *b, wd_alloc_kind_t kind) {
    return kind == WD_FROM_NEW_ARRAY && wdi_bi_state(b) == WD_BLOCK_LIVE &&
           wdi_bi_kind(b) == WD_FROM_NEW && (b->p - p == 8 || b->p - p == 16);
}

/* The small block, live or waiting in the quarantine, whose slot lies
 * just before `slot`, into *out; 0 when that slot holds none. */
static int slot_before(wd_small_segment_t *seg, const uint8_t *slot, wd_block_info_t *out) {
    const wd_page_t *pg = wdi_page_of(seg, slot);
    if (slot - pg->xstart < (ptrdiff_t)pg->xblock_size)
        return 0;
    const uint8_t *prev = slot - pg->xblock_size;
    const wd_block_rec_t *r = (const wd_block_rec_t *)(const void *)prev;
    uint64_t word = r->word;
    uint64_t tag = atomic_load_explicit(&r->tag, memory_order_acquire);
    unsigned state = wdi_blocks_tag_state((uintptr_t)prev, word, tag);
    if (state == 0)
        return 0;
    wdi_blocks_rec_info((uintptr_t)prev, word, out);
    out->meta = wdi_bi_with_state(out->meta, state);
    return 1;
}

/* The record of b, a live small block, was written over (blocks.h:
 * wdi_blocks_rec_overwritten) and found by a release or a realloc: an
 * overflow of the block before it that jumped that block's right redzone,
 * or an underflow of b.  Reported once, with both blocks; the record and
 * the left redzone are mended, so b is then released as if nothing had
 * happened (it is no double free, and no leak either). */
static WD_NOINLINE void record_overwritten_report(wd_small_segment_t *seg, uint8_t *slot,
                                                  const wd_block_info_t *b, const char *fn) {
    uint8_t *p = (uint8_t *)b->p, *left = p - RZ;
    size_t size = wdi_bi_size(b);
    wd_block_info_t before;
    if (!left_intact(b, left, p)) {
        wdi_report_begin("heap buffer underflow: the %d bytes before a %zu-byte block at 0x%zx and "
                         "the checker's record of it, %zu to %zu bytes before it, were written "
                         "(found in %s)",
                         RZ, size, (size_t)p, (size_t)(p - slot), (size_t)(p - slot) - 15, fn);
        left_fill(left, p, wdi_bi_kind(b));
    } else {
        wdi_report_begin("heap buffer overflow or underflow: the checker's record of a %zu-byte "
                         "block at 0x%zx, %zu to %zu bytes before it, was written, the %d bytes "
                         "between it and the block were not (found in %s)",
                         size, (size_t)p, (size_t)(p - slot), (size_t)(p - slot) - 15, RZ, fn);
    }
    report_stack_here("found at");
    report_block(b, 0);
    if (slot_before(seg, slot, &before)) {
        size_t gap = (size_t)(slot - (uint8_t *)before.p) - wdi_bi_size(&before);
        wdi_report_line("the block before it, a %zu-byte block at 0x%zx (from %s%s), ends %zu "
                        "bytes before the record: an overflow of it past its redzone lands there",
                        wdi_bi_size(&before), (size_t)before.p, kind_name[wdi_bi_kind(&before)],
                        wdi_bi_state(&before) == WD_BLOCK_LIVE ? "" : ", freed since", gap);
        wdi_report_stack_id("allocated at", before.alloc_stack);
    }
    wdi_blocks_rec_mend(slot, 0);
    report_done();
}

/* check=2: what the guard's cell of p knows, when p is a block freed long
 * ago (the history forgot it) whose cell was not taken since. */
static int guarded_freed(uintptr_t p, wd_block_info_t *out) {
    size_t size;
    unsigned kind;
    uint32_t alloc_stack, free_stack;
    if (!check2 ||
        !wdi_guard_check_freed((const void *)p, &size, &kind, &alloc_stack, &free_stack))
        return 0;
    *out = (wd_block_info_t){p, wdi_bi_meta(size, kind, WD_BLOCK_RELEASED, 0), alloc_stack,
                             free_stack};
    return 1;
}

/* p is no live block: a double free (or a use of a freed block) when the
 * quarantine, the history or (check=2) the block's cell knows p as freed,
 * an underflow when it overwrote what the checker knew of p, a delete of
 * an array from new[] past its count of elements, else an invalid
 * pointer.  Returns 1 when p is a live block after all, whose record
 * something wrote over: reported, and mended, so that the caller may take
 * the block as it is. */
static WD_NOINLINE int report_not_live(uintptr_t p, wd_alloc_kind_t kind, const char *fn) {
    wd_block_info_t known, near;
    uintptr_t e = wdi_segmap_entry((const void *)p);
    const char *what = wdi_freed_what(fn);
    uint8_t *slot;
    int freed = freed_find(p, &known) || guarded_freed(p, &known);
    if (!freed && (e & WD_SEGMAP_SMALL) &&
        wdi_blocks_rec_overwritten((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p, &known,
                                   &slot)) {
        record_overwritten_report((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), slot, &known, fn);
        return 1;
    }
    if (freed) {
        wdi_report_begin("%s of 0x%zx in %s", what, (size_t)p, fn);
        report_stack_here(NULL);
        wdi_report_line("0x%zx is a %zu-byte block (from %s) that was freed already", (size_t)p,
                        (size_t)wdi_bi_size(&known), kind_name[wdi_bi_kind(&known)]);
        wdi_report_stack_id("allocated at", known.alloc_stack);
        wdi_report_stack_id("first freed at", known.free_stack);
    } else if ((e & WD_SEGMAP_SMALL) &&
               wdi_blocks_rec_gone((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p, &known)) {
        wdi_report_begin("%s of 0x%zx in %s", what, (size_t)p, fn);
        report_stack_here(NULL);
        wdi_report_line("0x%zx was a %zu-byte block (from %s), freed so long ago that where is "
                        "no longer known",
                        (size_t)p, (size_t)wdi_bi_size(&known), kind_name[wdi_bi_kind(&known)]);
        wdi_report_stack_id("allocated at", known.alloc_stack);
    } else if (record_damaged(p)) {
        wdi_report_begin("heap buffer underflow: the %d bytes before a block at 0x%zx and the "
                         "checker's record of it were written (found in %s); its size and where "
                         "it was allocated are lost",
                         RZ, (size_t)p, fn);
        report_stack_here("found at");
    } else {
        int have = block_near(p, &near);
        if (have && cookie_of(p, &near))
            wdi_report_begin("mismatched %s: 0x%zx is %zu bytes into a block from new[], past the "
                             "count of elements new[] keeps before them; new[] is released with "
                             "delete[]",
                             release_name[kind], (size_t)p, (size_t)(p - near.p));
        else if (have && cookie_before(p, &near, kind))
            wdi_report_begin("mismatched delete[]: 0x%zx is %zu bytes before a block from new, "
                             "where delete[] reads the count of elements new[] keeps; new is "
                             "released with delete",
                             (size_t)p, (size_t)(near.p - p));
        else
            wdi_report_begin("invalid pointer 0x%zx in %s", (size_t)p, fn);
        report_stack_here(NULL);
        report_nearby(p, have ? &near : NULL);
    }
    report_done();
    return 0;
}

/* The entry of p if it is a live block (copied to *out); else reports and
 * returns 0.  kind: the release's (a report may say it is the wrong one). */
static int block_live(uintptr_t p, wd_block_info_t *out, wd_alloc_kind_t kind, const char *fn) {
    uintptr_t e = wdi_segmap_entry((const void *)p);
    if (e & WD_SEGMAP_SMALL) {
        uint8_t *slot;
        uint64_t word = wdi_blocks_rec_live((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p, &slot);
        if (word != 0) {
            wdi_blocks_rec_info((uintptr_t)slot, word, out);
            return 1;
        }
    } else {
        wd_blocks_stripe_t *s = wdi_blocks_acquire(p);
        wd_block_info_t *b = wdi_blocks_get(s, p);
        if (b != NULL)
            *out = *b;
        wdi_blocks_release(s);
        if (b != NULL)
            return 1;
    }
    /* a record mended after its report: the block is live */
    return report_not_live(p, kind, fn) && block_live(p, out, kind, fn);
}

/* block_take's small path: p's record, in small segment seg, turned
 * from live to freed, its entry into *out and its bounds into *bd; 0 when
 * p is no live small block. */
static WD_ALWAYS_INLINE int small_take(wd_small_segment_t *seg, uintptr_t p, wd_block_info_t *out,
                                       bounds_t *bd) {
    uint8_t *slot = wdi_blocks_rec_take(seg, p, out);
    if (wd_unlikely(slot == NULL))
        return 0;
    small_bounds(slot, (uint8_t *)p, wdi_bi_size(out), wdi_page_of(seg, slot), bd);
    return 1;
}

/* small_take again, for a block whose record was just mended
 * (report_not_live): 0 if another thread took it meanwhile. */
static WD_NOINLINE int block_take_mended(uintptr_t p, wd_block_info_t *out, bounds_t *bd) {
    uintptr_t e = wdi_segmap_entry((const void *)p);
    return small_take((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p, out, bd);
}

/* For a free: when p is a live block, copies its entry to *out, its
 * bounds to *bd, and marks it freed (takes it out of the table), in one
 * visit; else reports and returns 0.  A small block's bounds come from
 * its slot and page, already at hand. */
static WD_ALWAYS_INLINE int block_take(uintptr_t p, wd_block_info_t *out, bounds_t *bd,
                                       wd_alloc_kind_t kind, const char *fn) {
    uintptr_t e = wdi_segmap_entry((const void *)p);
    if (wd_likely(e & WD_SEGMAP_SMALL)) {
        if (wd_likely(small_take((wd_small_segment_t *)(e - WD_SEGMAP_SMALL), p, out, bd)))
            return 1;
    } else {
        wd_blocks_stripe_t *s = wdi_blocks_acquire(p);
        wd_block_info_t *b = wdi_blocks_get(s, p);
        if (wd_likely(b != NULL)) {
            *out = *b;
            wdi_blocks_remove(s, b);
            wdi_blocks_release(s);
            block_bounds(out, fn, bd);
            return 1;
        }
        wdi_blocks_release(s);
    }
    return report_not_live(p, kind, fn) && block_take_mended(p, out, bd);
}

/* --- the malloc family ------------------------------------------------------ */

/* check=2: the block against a guard page, end-aligned or start-aligned
 * as check_align says; NULL when the guard has no cell for it (then
 * check=1's layout).  Its pages are fresh (zero).  A block of the malloc
 * family's own alignment (alignment RZ: no alignment was asked for) that
 * ends at the guard page is aligned only to its size's largest power-of-two
 * divisor, from 8 (4 under 8 bytes) up to 16 (check_exact): most blocks end
 * exactly at the page, and a read or write one byte past them faults (a
 * 40-byte block, 8-byte aligned, leaves no 8 bytes of slack that a read
 * would cross unseen).  Not a block of operator new of 16 bytes or more:
 * compilers assume it 16-byte aligned (clang stores a new'd 24-byte
 * struct with 16-byte aligned instructions, and died of it under check=2
 * at its first object until 2026-12-07). */
static uint8_t *guarded_alloc(size_t front, size_t size, wd_alloc_kind_t kind, uint32_t stack,
                              uint8_t **raw, uint8_t **end) {
    unsigned where = wdi_options.check_align;
    int at_start = where == 1 ||
                   (where == 2 && (atomic_fetch_add_explicit(&check2_turn, 1,
                                                             memory_order_relaxed) & 1));
    size_t align = front;
    if (front == RZ && !at_start && wdi_options.check_exact && size != 0 &&
        (kind == WD_FROM_MALLOC || size < 16)) {
        /* Never less than a word (4 bytes under 8): programs keep flags
         * in the low bits of pointers to their blocks. */
        unsigned lg = (unsigned)__builtin_ctzll(size), least = size >= 8 ? 3 : 2;
        lg = lg < least ? least : lg;
        align = (size_t)1 << (lg < 4 ? lg : 4);
    }
    return wdi_guard_check_alloc(align, front, size, at_start, (int)kind, stack, raw, end);
}

/* A raw block of `bytes` for check=1's layout, aligned to align; its end
 * into *end.  A small one (most) from the thread's current page of its
 * class when it has a free block, as raw.c's small path would. */
static inline uint8_t *raw_take(size_t align, size_t bytes, int zero, uint8_t **end) {
    wd_theap_t *h = wdi_tl_home;
    if (wd_likely(align == RZ && bytes <= WD_SMALL_MAX && h != NULL && !zero)) {
        unsigned cls = wdi_small_class(bytes);
        wd_page_t *pg = h->small.current[cls];
        wd_block_t *b = pg->free;
        if (wd_likely(b != NULL)) {
            uint8_t *raw = wdi_page_pop(pg, b);
            h->small.allocs_base++; /* counted, as raw.c counts it */
            *end = raw + pg->block_size;
            return raw;
        }
    }
    uint8_t *raw = wdi_raw_alloc(align, bytes, zero);
    if (raw != NULL)
        *end = raw + wdi_raw_usable_known(raw, "malloc");
    return raw;
}

/* Keeps what is known of the live block p (raw block raw, front
 * 2^align_log): in its record when it is a small block (its front of 32 or
 * more leaves the record's 16 bytes before the left redzone), else in the
 * table; -1 when the table has no memory left. */
static inline int block_keep(uint8_t *raw, uint8_t *p, size_t size, wd_alloc_kind_t kind,
                             unsigned align_log, uint32_t stack) {
    if (wd_likely(wdi_segmap_entry(raw) & WD_SEGMAP_SMALL)) {
        wdi_blocks_rec_put(raw, size, kind, align_log, stack);
        return 0;
    }
    wd_blocks_stripe_t *s = wdi_blocks_acquire((uintptr_t)p);
    wd_block_info_t *e = wdi_blocks_put(s, (uintptr_t)p);
    if (e != NULL)
        *e = (wd_block_info_t){(uintptr_t)p, wdi_bi_meta(size, kind, WD_BLOCK_LIVE, align_log),
                               stack, 0};
    wdi_blocks_release(s);
    return e != NULL ? 0 : -1;
}

void *wdi_check_alloc(size_t alignment, size_t size, int zero, wd_alloc_kind_t kind) {
    size_t align = alignment > RZ ? alignment : RZ;
    if (wd_unlikely(size >= SIZE_MAX_CHECK || align >= SIZE_MAX_CHECK)) {
        errno = ENOMEM;
        return NULL;
    }
    wd_check_thread_t *ct = ct_here();
    uint32_t stack = stack_here(ct);
    uint8_t *raw = NULL, *end = NULL, *p = NULL;
    size_t front = align;
    if (wd_unlikely(check2))
        p = guarded_alloc(align, size, kind, stack, &raw, &end);
    int guarded = p != NULL;
    if (wd_likely(!guarded)) {
        /* room for a small block's record before its left redzone */
        front = align > WD_REC_FRONT ? align : WD_REC_FRONT;
        raw = raw_take(align, front + size + RZ, zero, &end);
        if (raw == NULL)
            return NULL;
        p = raw + front;
    }
    uint8_t *left = left_start(raw, p, size, guarded);
    left_fill(left, p, kind);
    if (!zero)
        pattern_fill(p, size, JUNK);
    uint8_t *right = guarded ? end : right_end(p, size, end);
    bytes_fill(p + size, REDZONE, (size_t)(right - (p + size)));
    unsigned align_log = (unsigned)__builtin_ctzll(front);
    if (wd_unlikely(block_keep(raw, p, size, kind, align_log, stack) != 0)) {
        /* no memory for the table: no block either */
        if (wdi_guard_owns(p))
            wdi_guard_check_free(p, stack);
        else
            wdi_raw_free(raw, "malloc");
        errno = ENOMEM;
        return NULL;
    }
    live_add(ct, (intptr_t)size);
    return p;
}

/* The report of a release of the wrong kind (a block from new[] given to
 * free, ...). */
static WD_NOINLINE void mismatch_report(const wd_block_info_t *b, wd_alloc_kind_t kind) {
    wdi_report_begin("mismatched %s: a block from %s given to %s", release_name[kind],
                     kind_name[wdi_bi_kind(b)], release_name[kind]);
    report_stack_here(NULL);
    report_block(b, 0);
    report_done();
}

/* Whether a C++ release names the alignment the block was got with
 * ([new.delete]: a block of aligned new goes back through aligned delete
 * with the same alignment, one of plain new through plain delete): reports
 * it when not.  alignment: the release's, 0 for none.  Alignments up to
 * WD_REC_FRONT look alike here (every block is aligned that far). */
static WD_NOINLINE void alignment_check(const wd_block_info_t *b, size_t alignment,
                                        const char *fn) {
    size_t front = front_of(b);
    int aligned_block = front > WD_REC_FRONT, aligned_release = alignment > WD_REC_FRONT;
    if (aligned_block == aligned_release && (!aligned_block || alignment == front))
        return;
    if (aligned_block && aligned_release)
        wdi_report_begin("%s with a wrong alignment: %zu for a block aligned to %zu at 0x%zx", fn,
                         alignment, front, (size_t)b->p);
    else if (aligned_block)
        wdi_report_begin("mismatched %s: a block from %s aligned to %zu given to %s without an "
                         "alignment",
                         fn, kind_name[wdi_bi_kind(b)], front, fn);
    else
        wdi_report_begin("mismatched %s: a block from %s without an alignment given to %s with "
                         "alignment %zu",
                         fn, kind_name[wdi_bi_kind(b)], fn, alignment);
    report_stack_here(NULL);
    report_block(b, 0);
    report_done();
}

/* The record of the slot after a small block's (blocks.h), when an
 * overflow wrote over it: found when the block is freed by the thread that
 * owns its page (the only one that takes blocks from the page: a tag of
 * zero may be a block on its way out in another thread).  Reported with
 * the block that overflowed (in the report of its right redzone when the
 * write ran through that too: one overflow, one error), and mended:
 * a live or quarantined neighbour's tag is made again from its intact
 * word; a slot on a free list of the page gets a link that ends the list
 * there (the blocks that came after it are lost to the page, not handed
 * out twice, and the tiers find no broken link). */
static void next_record_lines(wd_page_t *pg, uint8_t *next) {
    wd_small_segment_t *seg =
        (wd_small_segment_t *)(wdi_segmap_entry(next) - WD_SEGMAP_SMALL);
    uint64_t word = ((const wd_block_rec_t *)(const void *)next)->word;
    wd_block_info_t neighbour, near;
    wdi_blocks_rec_info((uintptr_t)next, word, &neighbour);
    if (wdi_blocks_word_plausible(seg, next, neighbour.p, word)) {
        int freed = freed_find(neighbour.p, &near);
        wdi_report_line("the next block, a %zu-byte block at 0x%zx%s, keeps its size and stack",
                        wdi_bi_size(&neighbour), (size_t)neighbour.p, freed ? " (freed)" : "");
        wdi_blocks_rec_mend(next, freed);
    } else {
        wdi_block_set_next(pg, (wd_block_t *)(void *)next, NULL);
    }
}

/* The same, as a report of its own: the redzone in between held (a write
 * that jumped it). */
static WD_NOINLINE void next_record_report(const wd_block_info_t *b, wd_page_t *pg,
                                           uint8_t *next, const char *fn) {
    size_t size = wdi_bi_size(b), past = (size_t)(next - (uint8_t *)b->p) - size;
    wdi_report_begin("heap buffer overflow: a write reached %zu to %zu bytes past the end of a "
                     "%zu-byte block at 0x%zx, beyond its redzone, where the checker keeps the "
                     "record of the next slot (found in %s)",
                     past, past + 15, size, (size_t)b->p, fn);
    next_record_lines(pg, next);
    redzone_report_end(b, fn);
}

/* The slot after b's when a write damaged its record (see above), else
 * NULL. */
static WD_ALWAYS_INLINE uint8_t *next_record_damaged(const bounds_t *bd) {
    wd_page_t *pg = bd->page;
    uint8_t *next = bd->end;
    if (pg == NULL || pg->heap != wdi_small_here() ||
        (size_t)(next - pg->start) + pg->block_size > (size_t)pg->capacity * pg->block_size)
        return NULL;
    const wd_block_rec_t *r = (const wd_block_rec_t *)(const void *)next;
    uint64_t tag = atomic_load_explicit(&r->tag, memory_order_relaxed);
    if (wd_likely(tag == 0 || wdi_blocks_tag_state((uintptr_t)next, r->word, tag) != 0 ||
                  wdi_block_looks_free(pg->key, next)))
        return NULL;
    return next;
}

/* Checks b's redzones and the record of the slot after it (within bounds
 * bd), and reports what was written there: one overflow through both is
 * one report. */
static WD_ALWAYS_INLINE void edges_check(const wd_block_info_t *b, const bounds_t *bd,
                                         const char *fn) {
    uint8_t *next_record = next_record_damaged(bd);
    if (wd_unlikely(!redzones_intact(b, bd)))
        redzones_report(b, bd, fn, &next_record);
    if (wd_unlikely(next_record != NULL))
        next_record_report(b, bd->page, next_record, fn);
}

/* What follows a free of live block b (a copy of its entry as it was,
 * now marked freed; its bounds bd), freed at `stack`: the checks of the
 * release, the fill, the quarantine. */
static WD_ALWAYS_INLINE void block_freed(wd_check_thread_t *ct, wd_block_info_t *b,
                                         const bounds_t *bd, wd_alloc_kind_t kind, uint32_t stack,
                                         const char *fn) {
    if (wd_unlikely(wdi_bi_kind(b) != kind))
        mismatch_report(b, kind);
    edges_check(b, bd, fn);
    size_t size = wdi_bi_size(b);
    live_add(ct, -(intptr_t)size);
    if (wd_unlikely(q_budget == 0 || size > quarantine_room() / 8 ||
                    (check2 && wdi_guard_owns((const void *)b->p)))) {
        /* too large to wait in the quarantine (over 128 KiB: its room is
         * 1 MiB at least): under check=1 it waits closed, and a read or
         * write after free anywhere in it faults; else back at once, not
         * filled (a guarded block's pages close instead) */
        b->meta = wdi_bi_with_state(b->meta, WD_BLOCK_QUARANTINED);
        b->free_stack = stack;
        if (q_budget != 0 && !check2)
            block_close(b, fn);
        else
            block_release_now(b, fn);
        return;
    }
    pattern_fill((uint8_t *)b->p, size, FREED);
    quarantine_push(ct, b, stack, fn);
}

/* Frees b, a block found live a moment ago (realloc, free_sized): it is
 * taken again, as another thread may have freed it meanwhile. */
static void block_free(wd_block_info_t *b, wd_alloc_kind_t kind, const char *fn) {
    wd_check_thread_t *ct = ct_here();
    uint32_t stack = stack_here(ct);
    bounds_t bd;
    if (block_take(b->p, b, &bd, kind, fn))
        block_freed(ct, b, &bd, kind, stack, fn);
}

void wdi_check_free(void *p, wd_alloc_kind_t kind, const char *fn) {
    wd_check_thread_t *ct = ct_here();
    uint32_t stack = stack_here(ct);
    wd_block_info_t b;
    bounds_t bd;
    if (block_take((uintptr_t)p, &b, &bd, kind, fn))
        block_freed(ct, &b, &bd, kind, stack, fn);
}

void wdi_check_free_aligned(void *p, size_t alignment, wd_alloc_kind_t kind, const char *fn) {
    fn = release_fn(kind, fn);
    wd_check_thread_t *ct = ct_here();
    uint32_t stack = stack_here(ct);
    wd_block_info_t b;
    bounds_t bd;
    if (!block_take((uintptr_t)p, &b, &bd, kind, fn))
        return;
    if (wdi_bi_kind(&b) == kind)
        alignment_check(&b, alignment, fn);
    block_freed(ct, &b, &bd, kind, stack, fn);
}
/* Always moves (valgrind does too): a stale pointer to the old block then
 * reads the freed pattern, and a write through it is caught. */
void *wdi_check_realloc(void *p, size_t size) {
    wd_block_info_t b;
    if (!block_live((uintptr_t)p, &b, WD_FROM_MALLOC, "realloc")) {
        errno = EINVAL;
        return NULL;
    }
    if (wd_unlikely(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = wdi_check_alloc(RZ, size, 0, WD_FROM_MALLOC);
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, wdi_bi_size(&b) < size ? wdi_bi_size(&b) : size);
    block_free(&b, WD_FROM_MALLOC, "realloc");
    return q;
}

/* The requested size: a program that writes up to malloc_usable_size must
 * not land in the redzone. */
size_t wdi_check_usable(const void *p, const char *fn) {
    wd_block_info_t b;
    return block_live((uintptr_t)p, &b, WD_FROM_MALLOC, fn) ? (size_t)wdi_bi_size(&b) : 0;
}

void wdi_check_free_sized(void *p, size_t alignment, size_t size, wd_alloc_kind_t kind,
                          const char *fn) {
    const char *sized = kind == WD_FROM_MALLOC ? "" : "sized ";
    fn = release_fn(kind, fn);
    wd_block_info_t b;
    if (!block_live((uintptr_t)p, &b, kind, fn))
        return;
    /* A block of the wrong kind is reported as such (block_free): its size
     * is then beside the point.  The fronts wdi_check_alloc gives a block
     * of this alignment: a guarded one's, or one with room for a record. */
    size_t align = alignment > RZ ? alignment : RZ, front = front_of(&b);
    size_t block_size = wdi_bi_size(&b);
    int wrong_align = alignment != 0 && front != align &&
                      front != (align > WD_REC_FRONT ? align : WD_REC_FRONT);
    if (wdi_bi_kind(&b) == kind && kind != WD_FROM_MALLOC && alignment == 0)
        alignment_check(&b, 0, fn); /* a sized delete names no alignment */
    if (wdi_bi_kind(&b) == kind && (size != block_size || wrong_align)) {
        if (size != block_size)
            wdi_report_begin("%s%s with a wrong size: %zu for a %zu-byte block at 0x%zx", sized, fn,
                             size, block_size, (size_t)b.p);
        else
            wdi_report_begin("%s%s with a wrong alignment: %zu for a block aligned to %zu at 0x%zx",
                             sized, fn, alignment, front, (size_t)b.p);
        report_stack_here(NULL);
        if (kind == WD_FROM_NEW && size < block_size)
            wdi_report_line("an object deleted through a pointer to its base class, whose "
                            "destructor is not virtual, is deleted with the base's size");
        report_block(&b, 0);
        report_done();
    }
    block_free(&b, kind, fn);
}

/* --- exit ------------------------------------------------------------------ */

/* Live blocks whose redzones were written, gathered with the table locked
 * and reported after it is unlocked: a report may need the table (a bad
 * pointer's neighbour), and takes its locks after the report's own. */
#define DAMAGED_MAX 64

typedef struct {
    wd_block_info_t b[DAMAGED_MAX];
    size_t n;
} damaged_t;

/* Live blocks whose redzones or whose next slot's record (of a page of
 * the thread that exits: next_record_damaged) were written. */
static void live_check(wd_block_info_t *b, void *arg) {
    damaged_t *d = arg;
    if (wdi_bi_state(b) != WD_BLOCK_LIVE || d->n == DAMAGED_MAX)
        return;
    bounds_t bd;
    block_bounds(b, "exit", &bd);
    if (!redzones_intact(b, &bd) || next_record_damaged(&bd) != NULL)
        d->b[d->n++] = *b;
}

/* Reports what live_check found of b, as a free of it would have. */
static void live_report(const wd_block_info_t *b) {
    bounds_t bd;
    block_bounds(b, "exit", &bd);
    edges_check(b, &bd, "exit");
}

static int exit_check_one(const wd_block_info_t *b, void *arg) {
    (void)arg;
    freed_check(b, "exit");
    redzones_check(b, "exit");
    return 0;
}

/* The quarantined blocks (each thread's batch included), then the live
 * blocks' redzones, as exit checks them.  wait: take the locks, else only
 * try them and leave out what they guard. */
static void blocks_check(int wait) {
    if (wait)
        wdi_lock(&quarantine_lock);
    if (wait || wdi_lock_try(&quarantine_lock)) {
        quarantine_foreach(exit_check_one, NULL);
        wdi_unlock(&quarantine_lock);
    }
    wdi_closed_each(closed_exit_check, wait);
    static damaged_t damaged; /* static: 2 KiB off the stack of whoever exits */
    damaged.n = 0;
    if (wait)
        wdi_blocks_lock_all();
    if (wait || wdi_blocks_try_lock_all()) {
        wdi_blocks_foreach(live_check, &damaged);
        wdi_blocks_unlock_all();
    }
    for (size_t i = 0; i < damaged.n; i++)
        live_report(&damaged.b[i]);
}

/* The exit status a process that reported errors or lost blocks ends
 * with (error_exitcode), else status. */
static int exit_status(size_t errors, size_t lost_blocks, int status) {
    if ((errors != 0 || lost_blocks != 0) && wdi_options.error_exitcode != 0) {
        fflush(NULL); /* what the program wrote and did not flush yet: _exit would drop it */
        return (int)wdi_options.error_exitcode;
    }
    return status;
}

/* Set once exit's checks ran: an _exit after them (from a later atexit
 * handler, or this file's own) has nothing more to check. */
static int exit_checked;

/* The errors a fork child's parent had reported when it forked: the
 * child's summary and exit status count its own only. */
static size_t errors_inherited;

static size_t own_errors(void) { return wdi_report_errors() - errors_inherited; }

void wdi_check_at_exit(void) {
    exit_checked = 1;
    wd_check_thread_t *ct = ct_here();
    if (ct != NULL)
        batch_flush(ct, "exit");
    blocks_check(1);
    size_t errors = own_errors();
    wd_leaks_t leaks = {0};
    if (wdi_options.leaks)
        leaks_check(exit_live_sp(), &leaks);
    /* check_summary=0: a clean run says nothing (test suites compare a
     * child's stderr with nothing: python3's test_json did not pass) */
    if (!wdi_options.check_summary && errors == 0 && leaks.lost_blocks == 0)
        return;
    size_t unguarded = check2 ? wdi_guard_unguarded() : 0;
    if (unguarded != 0)
        wdi_print_line(wdi_stderr_fd(),
                       "warden: check=2: %zu blocks got redzones, not guard pages: the live "
                       "ones' pages reached check_guard_live_mb=%zu",
                       unguarded, (size_t)wdi_options.check_guard_live_mb);
    char suppressed[96] = ""; /* what suppress.h left out, when anything */
    if (leaks.suppressed_blocks != 0)
        wdi_fmt(suppressed, sizeof suppressed, "; %zu bytes in %zu blocks suppressed",
                leaks.suppressed_bytes, leaks.suppressed_blocks);
    if (wdi_options.leaks)
        wdi_print_line(wdi_stderr_fd(),
                       "warden: check: %zu errors, %zu bytes leaked in %zu blocks (%zu bytes "
                       "still reachable in %zu blocks%s)",
                       errors, leaks.lost_bytes, leaks.lost_blocks, leaks.reachable_bytes,
                       leaks.reachable_blocks, suppressed);
    else
        wdi_print_line(wdi_stderr_fd(), "warden: check: %zu errors (leaks not checked: leaks=0)",
                       errors);
    int status = exit_status(errors, leaks.lost_blocks, 0);
    if (status != 0)
        wdi_os_exit(status);
}

int wdi_check_at_quick_exit(int status) {
    if (exit_checked || getpid() != check_pid)
        return status;
    /* Only what can be had without waiting: _exit may come from a signal
     * handler that interrupted this very thread inside malloc or free.  A
     * summary when this process reported anything (before _exit too: a
     * fork child's double free). */
    blocks_check(0);
    size_t errors = own_errors();
    if (errors != 0)
        wdi_print_line(wdi_stderr_fd(), "warden: check: %zu errors (at _exit: leaks not checked)",
                       errors);
    return exit_status(errors, 0, status);
}

/* The summary of a process that a fault kills (fault.h, in its signal
 * handler): its exit handlers do not run.  Only what can be had without
 * a lock: no check of live blocks, no leak scan. */
static void summary_at_death(int sig) {
    if (exit_checked || getpid() != check_pid)
        return;
    wdi_print_line(wdi_stderr_fd(),
                   "warden: check: %zu errors (the process dies of %s: leaks not checked)",
                   own_errors(), sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
}

size_t wd_check_leaks(void) {
    if (!wdi_checking)
        return 0;
    wd_leaks_t leaks;
    leaks_check(0, &leaks);
    return leaks.lost_bytes;
}

/* --- fork ------------------------------------------------------------------ */

void wdi_check_fork_prepare(void) {
    wdi_lock(&ct_lock);
    wdi_lock(&quarantine_lock);
    wdi_closed_fork_prepare();
    wdi_blocks_fork_prepare();
}

void wdi_check_fork_parent(void) {
    wdi_blocks_fork_parent();
    wdi_closed_fork_parent();
    wdi_unlock(&quarantine_lock);
    wdi_unlock(&ct_lock);
}

void wdi_check_fork_child(void) {
    check_pid = getpid();
    errors_inherited = wdi_report_errors();
    wdi_blocks_fork_child();
    wdi_closed_fork_child();
    wdi_lock_reset(&quarantine_lock);
    wdi_lock_reset(&ct_lock);
}
