/* guard.c -- owns guarded cells (guard.h): the sampler's pool of slots,
 * check=2's cells, their records, the faults in them and the reports.
 * Calls: fault.h (the handler), stack.h, report.h, symbol.h, segment.h,
 * ownmem.h, os.h, lock.h, options.h. */
#include "debug/guard.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/lock.h"
#include "base/options.h"
#include "base/ownmem.h"
#include "debug/fault.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "debug/symbol.h"
#include "os/os.h"

#define SLACK 0xfa /* the bytes between a block and its pages' ends (check mode's redzone byte) */
#define FREED 0xdf /* check mode's freed-block byte (check.c) */

enum { CELL_EMPTY, CELL_BUSY, CELL_LIVE, CELL_FREED, CELL_DEAD };

static const char *const kind_name[] = {"malloc", "new", "new[]"};

/* What is known of the block in a cell: written by the thread that holds
 * the cell (BUSY), published by the state's release store. */
typedef struct guard_cell_s {
    _Atomic(uint32_t) state;
    uint32_t pages;        /* pages open for the block */
    uintptr_t p, raw, end; /* the block; the open bytes around it */
    size_t size;
    uint32_t alloc_stack, free_stack;
    uint8_t kind, at_start;
    uint8_t overflowed; /* check=2: an overflow into the guard page was reported */
    _Atomic(uint64_t) freed_seq; /* the pool reuses the slot freed longest ago */
    struct guard_cell_s *next;   /* check=2: its size's queue of freed cells */
} guard_cell_t;

/* A mapping of cells of one size:
 *     [guard][cell 0 data][guard][cell 1 data][guard] ...
 * The segment map points to its first field. */
typedef struct guard_area_s {
    wd_region_t region; /* kind == WD_KIND_GUARD */
    uint8_t *map;
    size_t map_size;
    uint8_t *first;     /* cell 0's data */
    size_t stride;      /* a cell's data and its guard page */
    size_t cell_bytes;
    uint32_t capacity, carved;
    int pool;           /* 1: the sampler's; 0: check=2's */
    guard_cell_t *cell; /* capacity records */
} guard_area_t;

static size_t page_size;
static uintptr_t warden_lo, warden_hi; /* libwarden.so's code: dropped from stacks */

/* --- stacks ---------------------------------------------------------------- */

/* The caller's stack less warden's frames, stack_depth frames kept. */
static uint32_t stack_here(void) {
    int depth = wdi_options.stack_depth < WD_STACK_MAX ? (int)wdi_options.stack_depth : WD_STACK_MAX;
    return wdi_stack_id_here(NULL, 1, WD_STACK_MAX, depth, warden_lo, warden_hi);
}

/* The stack of the call being reported, without warden's frames (the
 * report drops libwarden.so's; this drops them when warden is linked in,
 * as far as it can tell them: an entry point jumped to is a frame less). */
static void report_stack_here(const char *title) {
    void *pcs[WD_STACK_MAX];
    int n = wdi_stack_capture(pcs, WD_STACK_MAX, 0);
    int k = 0;
    while (k < n && (uintptr_t)pcs[k] > warden_lo && (uintptr_t)pcs[k] <= warden_hi)
        k++;
    wdi_report_stack(title, pcs + k, n - k);
}

/* --- areas and cells -------------------------------------------------------- */

static int fault_claim(const wd_fault_t *f);
static _Atomic(uint32_t) arms; /* guarded blocks: every 16th checks the handler */

/* The fault handler stays in front: a program may have put its own in its
 * place since the last guarded block.  Asking the kernel is two system
 * calls, so every 16th block does; a thread's first gets its alternate
 * stack. */
static void guard_rearm(void) {
    if (atomic_fetch_add_explicit(&arms, 1, memory_order_relaxed) % 16 == 0)
        wdi_fault_arm(fault_claim);
    else
        wdi_fault_arm_thread(fault_claim);
}

static guard_cell_t *cell_of_index(guard_area_t *a, size_t i) { return &a->cell[i]; }

/* Opening and closing pages.  The sampler's pool opens a slot with
 * mprotect and closes it with a fresh inaccessible mapping over its pages,
 * which gives their memory back in the same call: a sample cycle costs
 * what it did when a closed slot kept its page (mprotect both ways), and
 * the 16 slots no longer hold 64 KiB that a small program's RSS showed
 * for ever.  A slot once used is a mapping of its own (32 more at most).
 * check=2's cells are closed with guard markers where the kernel has them
 * (no mapping per cell), which drop the memory too. */
static int area_open(const guard_area_t *a, void *at, size_t len) {
    return a->pool ? wdi_os_protect(at, len, WD_PROT_RW) : wdi_os_unguard(at, len);
}

static uint8_t *cell_data(const guard_area_t *a, size_t i) { return a->first + i * a->stride; }

/* Maps an area of `cells` cells of cell_bytes each, every page of it
 * inaccessible, its records beside it; registers it.  0 on success. */
static int area_map(guard_area_t *a, size_t cells, size_t cell_bytes, int pool) {
    size_t stride = cell_bytes + page_size;
    size_t size = wd_align_up(page_size + cells * stride, WD_SEGMENT_SIZE);
    size_t rec = wd_align_up(cells * sizeof(guard_cell_t), page_size);
    void *map, *cell;
    if (wdi_os_map_aligned(size, WD_SEGMENT_SIZE, &map) != 0)
        return -1;
    int closed = pool ? wdi_os_protect(map, size, WD_PROT_NONE) : wdi_os_guard(map, size);
    if (closed != 0 || wdi_os_map(rec, &cell) != 0) {
        wdi_os_unmap(map, size);
        return -1;
    }
    wdi_own_add(cell, rec); /* the records hold blocks' addresses: no root */
    a->region.kind = WD_KIND_GUARD;
    a->map = map;
    a->map_size = size;
    a->first = (uint8_t *)map + page_size;
    a->stride = stride;
    a->cell_bytes = cell_bytes;
    a->capacity = (uint32_t)((size - page_size) / stride);
    a->carved = 0;
    a->pool = pool;
    a->cell = cell;
    wdi_segmap_acquire(map, size);
    wdi_segmap_set(map, size, &a->region);
    return 0;
}

/* Places a block of size bytes in cell i of a (alignment and front as in
 * guard.h), opens its pages and fills in the record (state still BUSY). */
static int cell_open(guard_area_t *a, size_t i, size_t align, size_t front, size_t size,
                     int at_start) {
    guard_cell_t *c = cell_of_index(a, i);
    uint8_t *data = cell_data(a, i), *p, *lo, *hi;
    if (at_start) {
        p = lo = data;
        hi = data + wd_align_up(size ? size : 1, page_size);
    } else {
        /* check=2's cell ends at its guard page.  The pool's block ends
         * where a start-aligned one of its size would: the closed pages of
         * the slot after it fault as the guard would, and a one-page block
         * takes the slot's first page either way. */
        hi = a->pool ? data + wd_align_up(size ? size : 1, page_size) : data + a->cell_bytes;
        p = (uint8_t *)(((uintptr_t)hi - size) & ~(uintptr_t)(align - 1));
        lo = (uint8_t *)((uintptr_t)(p - front) & ~(uintptr_t)(page_size - 1));
    }
    if (lo < data || area_open(a, lo, (size_t)(hi - lo)) != 0)
        return -1;
    c->pages = (uint32_t)((size_t)(hi - lo) / page_size);
    c->p = (uintptr_t)p;
    c->raw = at_start ? (uintptr_t)p : (uintptr_t)(p - front);
    c->end = (uintptr_t)hi;
    c->size = size;
    c->at_start = (uint8_t)at_start;
    c->overflowed = 0;
    c->free_stack = 0;
    return 0;
}

/* The bytes of the cell's open pages (they end at c->end). */
static inline size_t cell_open_bytes(const guard_cell_t *c) { return (size_t)c->pages * page_size; }

/* The cell's open pages become inaccessible again and their memory goes
 * back to the OS, so that they open as fresh zero pages, as slack_check
 * expects. */
static void cell_close(guard_area_t *a, guard_cell_t *c) {
    size_t len = cell_open_bytes(c);
    uint8_t *lo = (uint8_t *)c->end - len;
    if (a->pool)
        wdi_os_close_fresh(lo, len);
    else
        wdi_os_guard(lo, len);
}

/* The area and cell of an address of a guarded area, or NULL. */
static guard_cell_t *cell_at(guard_area_t *a, uintptr_t addr, size_t *in) {
    if (addr < (uintptr_t)a->first)
        return NULL;
    size_t off = (size_t)(addr - (uintptr_t)a->first);
    size_t i = off / a->stride;
    *in = off % a->stride;
    return i < a->capacity ? &a->cell[i] : NULL;
}

/* --- the sampler's pool ----------------------------------------------------- */

static guard_area_t pool;
static _Atomic(int) pool_state; /* 0 not mapped, 1 mapping, 2 ready, 3 failed */
static _Atomic(size_t) pool_pages, sampled, live, live_bytes;
static _Atomic(uint64_t) free_seq;
static _Atomic(uint32_t) alternate; /* end- and start-aligned in turn */

/* Before the first block (the process start): page_size is then only read. */
void wdi_guard_init(void) {
    page_size = wdi_os_page_size();
    if (wdi_options.guard_markers == 0) /* check=2 as on Linux before 6.13 */
        wdi_os_guard_markers_off();
}

static int pool_ready(void) {
    int s = atomic_load_explicit(&pool_state, memory_order_acquire);
    if (wd_likely(s == 2))
        return 1;
    int expected = 0;
    if (s != 0 || !atomic_compare_exchange_strong(&pool_state, &expected, 1))
        return 0; /* another thread maps it (its own block goes the usual way) */
    wdi_symbol_warden_code(&warden_lo, &warden_hi);
    uintptr_t libc_lo, libc_hi;
    if (!wdi_options.check && warden_hi != 0 && wdi_symbol_libc_code(&libc_lo, &libc_hi))
        wdi_stack_cut_at(libc_lo, libc_hi, warden_lo, warden_hi);
    int ok = area_map(&pool, WDI_GUARD_SLOTS, WDI_GUARD_SAMPLE_MAX, 1) == 0;
    atomic_store_explicit(&pool_state, ok ? 2 : 3, memory_order_release);
    return ok;
}

/* A free slot: one never used, else the one freed longest ago; claimed
 * (BUSY) with a compare-and-swap.  -1 when none is free. */
static int slot_claim(void) {
    for (int tries = 0; tries < 4; tries++) {
        int best = -1;
        uint64_t best_seq = UINT64_MAX;
        for (int i = 0; i < (int)pool.capacity && i < WDI_GUARD_SLOTS; i++) {
            guard_cell_t *c = &pool.cell[i];
            uint32_t st = atomic_load_explicit(&c->state, memory_order_relaxed);
            uint64_t seq = st == CELL_EMPTY ? 0
                           : st == CELL_FREED ? atomic_load_explicit(&c->freed_seq, memory_order_relaxed)
                                              : UINT64_MAX;
            if (seq < best_seq || (seq == best_seq && seq != UINT64_MAX && best < 0)) {
                best = i;
                best_seq = seq;
                if (seq == 0)
                    break;
            }
        }
        if (best < 0)
            return -1;
        uint32_t expected = best_seq == 0 ? CELL_EMPTY : CELL_FREED;
        if (atomic_compare_exchange_strong_explicit(&pool.cell[best].state, &expected, CELL_BUSY,
                                                    memory_order_acquire, memory_order_relaxed))
            return best;
    }
    return -1;
}

/* The slack: the bytes of a block's open pages that are not the block.
 * The WINDOW bytes next to the block get the slack byte, the rest stay as
 * the fresh pages came (zero): filling a whole page for a 64-byte block
 * was two thirds of a sample's instructions.  Both are checked at free. */
#define WINDOW 64

static size_t window_of(uintptr_t from, uintptr_t to) {
    return to - from < WINDOW ? (size_t)(to - from) : WINDOW;
}

/* The last byte of the slack after a block, [after, end), that is not
 * what it was given, or 0. */
static uintptr_t slack_last_bad(uintptr_t after, uintptr_t end) {
    uintptr_t win = after + window_of(after, end);
    if (!wdi_bytes_are((const void *)win, (size_t)(end - win), 0)) {
        const uint8_t *b = (const uint8_t *)end;
        while (b[-1] == 0)
            b--;
        return (uintptr_t)b - 1;
    }
    const uint8_t *b = (const uint8_t *)win;
    while (b > (const uint8_t *)after && b[-1] == SLACK)
        b--;
    return b > (const uint8_t *)after ? (uintptr_t)b - 1 : 0;
}

/* The first byte of the slack before a block, [first, p), that is not
 * what it was given, or 0. */
static uintptr_t slack_first_bad(uintptr_t first, uintptr_t p) {
    uintptr_t win = p - window_of(first, p);
    if (!wdi_bytes_are((const void *)first, (size_t)(win - first), 0)) {
        const uint8_t *b = (const uint8_t *)first;
        while (*b == 0)
            b++;
        return (uintptr_t)b;
    }
    const uint8_t *b = (const uint8_t *)win;
    while (b < (const uint8_t *)p && *b == SLACK)
        b++;
    return b < (const uint8_t *)p ? (uintptr_t)b : 0;
}

/* Whether slack byte q no longer holds what it was given: the slack
 * byte in [win, win_end), zero elsewhere. */
static inline int slack_changed(uintptr_t q, uintptr_t win, uintptr_t win_end) {
    return *(const uint8_t *)q != (q >= win && q < win_end ? SLACK : 0);
}

/* The bytes of the slack [from, to) that changed, as a report counts them
 * from the block's edge: after the block (edge: its end) or before it
 * (edge: its start).  Only once slack_last_bad or slack_first_bad found
 * one: a byte at a time. */
static void slack_hit(uintptr_t from, uintptr_t to, uintptr_t win, uintptr_t win_end, int after,
                      uintptr_t edge, wd_redzone_hit_t *hit) {
    uintptr_t lo = 0, hi = 0;
    for (uintptr_t q = from; q < to; q++)
        if (slack_changed(q, win, win_end)) {
            lo = lo != 0 ? lo : q;
            hi = q;
        }
    int whole = 1;
    for (uintptr_t q = lo; q <= hi && whole; q++)
        whole = slack_changed(q, win, win_end);
    /* never open: past the slack lies the guard page, where a write faults */
    if (after)
        *hit = (wd_redzone_hit_t){1, lo - edge, hi - edge, whole && lo == edge, 0};
    else
        *hit = (wd_redzone_hit_t){0, edge - hi, edge - lo, whole && hi == edge - 1, 0};
}

void *wdi_guard_sample(size_t alignment, size_t size, int kind) {
    if (wdi_options.guard_sample == 0 || wdi_checking || size > WDI_GUARD_SAMPLE_MAX ||
        alignment > wdi_os_page_size() || !pool_ready())
        return NULL;
    size_t need = (wd_align_up(size ? size : 1, alignment) + page_size - 1) / page_size + 1;
    size_t used = atomic_fetch_add_explicit(&pool_pages, need, memory_order_relaxed);
    if (used + need > WDI_GUARD_POOL_BYTES / page_size) {
        atomic_fetch_sub_explicit(&pool_pages, need, memory_order_relaxed);
        return NULL;
    }
    int i = slot_claim();
    int at_start = (int)(atomic_fetch_add_explicit(&alternate, 1, memory_order_relaxed) & 1);
    if (i < 0 || cell_open(&pool, (size_t)i, alignment, 0, size, at_start) != 0) {
        if (i >= 0) /* no page could be opened: the slot is not reused */
            atomic_store_explicit(&pool.cell[i].state, CELL_DEAD, memory_order_release);
        atomic_fetch_sub_explicit(&pool_pages, need, memory_order_relaxed);
        return NULL;
    }
    guard_cell_t *c = &pool.cell[i];
    /* The estimate `need` may be a page above the pages opened. */
    atomic_fetch_sub_explicit(&pool_pages, need - c->pages, memory_order_relaxed);
    uintptr_t first = c->raw & ~(uintptr_t)(page_size - 1); /* before an end-aligned block */
    memset((void *)(c->p - window_of(first, c->p)), SLACK, window_of(first, c->p));
    memset((void *)(c->p + size), SLACK, window_of(c->p + size, c->end));
    c->kind = (uint8_t)kind;
    c->alloc_stack = stack_here();
    atomic_store_explicit(&c->state, CELL_LIVE, memory_order_release);
    atomic_fetch_add_explicit(&sampled, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&live_bytes, size, memory_order_relaxed);
    guard_rearm();
    return (void *)c->p;
}

/* --- reports ------------------------------------------------------------- */

static void report_block(const guard_cell_t *c, int freed) {
    wdi_report_line("0x%zx is the start of a %zu-byte block (from %s)", (size_t)c->p, c->size,
                    kind_name[c->kind < 3 ? c->kind : 0]);
    wdi_report_stack_id("allocated at", c->alloc_stack);
    if (freed)
        wdi_report_stack_id("freed at", c->free_stack);
}

/* After a report: the sampler aborts unless guard_continue=1, check=2
 * goes on unless abort_on_error=1.  Returns when the program goes on. */
static void report_done(int pool_block) {
    wdi_report_end();
    if (pool_block ? !wdi_options.guard_continue : wdi_options.abort_on_error)
        abort();
}

/* The slack of pool block c (end-aligned: also the bytes before it in its
 * first page) still holds its byte; else a report per side. */
static void slack_check(const guard_cell_t *c, const char *fn) {
    uintptr_t first = c->raw & ~(uintptr_t)(page_size - 1);
    uintptr_t after = c->p + c->size;
    wd_redzone_hit_t hit;
    if (slack_last_bad(after, c->end) != 0) {
        slack_hit(after, c->end, after, after + window_of(after, c->end), 1, after, &hit);
        wdi_report_redzone_begin(&hit, c->size, c->p, fn);
        report_stack_here("found at");
        report_block(c, 0);
        report_done(1);
    }
    if (!c->at_start && slack_first_bad(first, c->p) != 0) {
        slack_hit(first, c->p, c->p - window_of(first, c->p), c->p, 0, c->p, &hit);
        wdi_report_redzone_begin(&hit, c->size, c->p, fn);
        report_stack_here("found at");
        report_block(c, 0);
        report_done(1);
    }
}

/* p is no live sampled block: a double free, or a pointer into a slot
 * that is not its block's start. */
static void report_bad_free(const guard_cell_t *c, uintptr_t p, const char *fn) {
    uint32_t st = c ? atomic_load_explicit(&c->state, memory_order_acquire) : CELL_EMPTY;
    if (c != NULL && c->p == p && (st == CELL_FREED || st == CELL_DEAD)) {
        /* The headline is the fatal line of the tiers' own checks. */
        wdi_report_begin("%s at 0x%zx in %s", wdi_freed_what(fn), (size_t)p, fn);
        report_stack_here(NULL);
        wdi_report_line("0x%zx is a %zu-byte block (from %s) that was freed already", (size_t)p,
                        c->size, kind_name[c->kind < 3 ? c->kind : 0]);
        wdi_report_stack_id("allocated at", c->alloc_stack);
        wdi_report_stack_id("first freed at", c->free_stack);
    } else {
        wdi_report_begin("invalid pointer at 0x%zx in %s", (size_t)p, fn);
        report_stack_here(NULL);
        if (c != NULL && st == CELL_LIVE && p > c->p && p < c->p + c->size) {
            wdi_report_line("0x%zx is %zu bytes inside a %zu-byte block at 0x%zx (from %s)",
                            (size_t)p, (size_t)(p - c->p), c->size, (size_t)c->p,
                            kind_name[c->kind < 3 ? c->kind : 0]);
            wdi_report_stack_id("allocated at", c->alloc_stack);
        } else {
            wdi_report_line("0x%zx is not in a block that warden handed out", (size_t)p);
        }
    }
    report_done(1);
}

/* The record of live sampled block p, or NULL after a report. */
static guard_cell_t *pool_live(const void *p, const char *fn) {
    size_t in;
    guard_area_t *a = (guard_area_t *)wdi_region_of(p);
    guard_cell_t *c = a == &pool ? cell_at(a, (uintptr_t)p, &in) : NULL;
    if (c != NULL && atomic_load_explicit(&c->state, memory_order_acquire) == CELL_LIVE &&
        c->p == (uintptr_t)p)
        return c;
    report_bad_free(c, (uintptr_t)p, fn);
    return NULL;
}

void wdi_guard_free(void *p, const char *fn) {
    guard_cell_t *c = pool_live(p, fn);
    if (c == NULL)
        return;
    uint32_t expected = CELL_LIVE;
    if (!atomic_compare_exchange_strong_explicit(&c->state, &expected, CELL_BUSY,
                                                 memory_order_acquire, memory_order_relaxed)) {
        report_bad_free(c, (uintptr_t)p, fn); /* another thread freed it meanwhile */
        return;
    }
    slack_check(c, fn);
    c->free_stack = stack_here();
    cell_close(&pool, c);
    atomic_fetch_sub_explicit(&pool_pages, c->pages, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_bytes, c->size, memory_order_relaxed);
    atomic_store_explicit(&c->freed_seq,
                          atomic_fetch_add_explicit(&free_seq, 1, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&c->state, CELL_FREED, memory_order_release);
}

size_t wdi_guard_usable(const void *p, const char *fn) {
    guard_cell_t *c = pool_live(p, fn);
    return c != NULL ? c->size : 0;
}

size_t wdi_guard_sampled(void) { return atomic_load_explicit(&sampled, memory_order_relaxed); }
size_t wdi_guard_live(void) { return atomic_load_explicit(&live, memory_order_relaxed); }
size_t wdi_guard_live_bytes(void) { return atomic_load_explicit(&live_bytes, memory_order_relaxed); }

/* --- check=2 --------------------------------------------------------------- */

/* Cells of 1, 2, 4 ... 16,384 pages (64 MiB), each size in areas of
 * AREA_BYTES, or of AREA_CELLS_MIN cells where those are fewer. */
#define CLASSES 15
#define AREA_BYTES ((size_t)64 << 20)
#define AREA_CELLS_MIN 4
#define AREAS_MAX 1024

typedef struct {
    wd_lock_t lock;
    guard_area_t *current;             /* cells are carved from it */
    guard_cell_t *freed, *freed_tail;  /* freed cells, oldest first */
} guard_class_t;

static guard_class_t classes[CLASSES];
static guard_area_t areas[AREAS_MAX];
static _Atomic(size_t) areas_used;
static _Atomic(size_t) freed_bytes; /* address space of freed cells kept closed */
/* The open pages of live cells (what check=2's blocks keep resident, a page
 * at least each), and the blocks that check_guard_live_mb sent to check=1's
 * layout. */
static _Atomic(size_t) live_bytes, unguarded;

/* The oldest freed cell of class k when the freed cells hold more address
 * space than check_guard_mb (any: whatever they hold); with the class
 * lock held. */
static guard_cell_t *class_reuse(guard_class_t *k, guard_area_t **area, int any) {
    size_t budget = any ? 0 : (size_t)wdi_options.check_guard_mb << 20;
    while (k->freed != NULL &&
           (any || atomic_load_explicit(&freed_bytes, memory_order_relaxed) > budget)) {
        guard_cell_t *c = k->freed;
        k->freed = c->next;
        if (k->freed == NULL)
            k->freed_tail = NULL;
        guard_area_t *a = (guard_area_t *)wdi_region_of((const void *)c->p);
        atomic_fetch_sub_explicit(&freed_bytes, a->cell_bytes, memory_order_relaxed);
        uint32_t expected = CELL_FREED;
        if (atomic_compare_exchange_strong_explicit(&c->state, &expected, CELL_BUSY,
                                                    memory_order_acquire, memory_order_relaxed)) {
            *area = a;
            return c;
        }
        /* DEAD: a fault opened its pages; never reused */
    }
    return NULL;
}

/* Without guard markers (Linux before 6.13) every cell that was ever
 * opened may stay mappings of its own in the kernel: closed cells do not
 * always merge back with their neighbours (a run of a threaded program
 * reached 50,000 of them), and past vm.max_map_count (65,530 by default)
 * mmap fails for everything, the tiers included.  So then at most this
 * many cells are carved; after that freed ones are reused whatever
 * check_guard_mb says, or the block gets check=1's layout. */
#define CARVE_MAX_MPROTECT 12000
static _Atomic(size_t) carved_total;

static guard_cell_t *class_carve(guard_class_t *k, int cls, guard_area_t **area);

/* A cell of class k: a freed one past the budget, a fresh one, or (when no
 * fresh one may be carved) the oldest freed one; with the lock held. */
static guard_cell_t *class_take(guard_class_t *k, int cls, guard_area_t **area) {
    guard_cell_t *c = class_reuse(k, area, 0);
    if (c == NULL)
        c = class_carve(k, cls, area);
    if (c == NULL)
        c = class_reuse(k, area, 1);
    return c;
}

/* A fresh cell of class k (a new area when the current one is full); with
 * the class lock held. */
static guard_cell_t *class_carve(guard_class_t *k, int cls, guard_area_t **area) {
    if (!wdi_os_guard_markers() &&
        atomic_load_explicit(&carved_total, memory_order_relaxed) >= CARVE_MAX_MPROTECT &&
        k->current != NULL)
        return NULL;
    guard_area_t *a = k->current;
    if (a == NULL || a->carved == a->capacity) {
        size_t n = atomic_fetch_add_explicit(&areas_used, 1, memory_order_relaxed);
        if (n >= AREAS_MAX)
            return NULL;
        a = &areas[n];
        size_t cell = page_size << cls, cells = (AREA_BYTES - page_size) / (cell + page_size);
        if (area_map(a, cells > AREA_CELLS_MIN ? cells : AREA_CELLS_MIN, cell, 0) != 0)
            return NULL;
        k->current = a;
    }
    guard_cell_t *c = &a->cell[a->carved++];
    atomic_fetch_add_explicit(&carved_total, 1, memory_order_relaxed);
    atomic_store_explicit(&c->state, CELL_BUSY, memory_order_relaxed);
    *area = a;
    return c;
}

void *wdi_guard_check_alloc(size_t align, size_t front, size_t size, int at_start, int kind,
                            uint32_t stack, uint8_t **raw, uint8_t **end) {
    if (size > WDI_GUARD_CHECK_MAX || front > page_size)
        return NULL;
    size_t need = at_start ? (size ? size : 1) : wd_align_up(size, align) + front;
    int cls = 0;
    while ((page_size << cls) < need)
        cls++;
    if (cls >= CLASSES)
        return NULL;
    /* A program with millions of live blocks would take a page and more
     * for each (the kernel killed one at 15 GiB): past the bound the new
     * ones get check=1's layout, whose checks run at free. */
    size_t bound = (size_t)wdi_options.check_guard_live_mb << 20;
    if (bound != 0 && atomic_load_explicit(&live_bytes, memory_order_relaxed) +
                              wd_align_up(need, page_size) > bound) {
        atomic_fetch_add_explicit(&unguarded, 1, memory_order_relaxed);
        return NULL;
    }
    guard_class_t *k = &classes[cls];
    guard_area_t *a = NULL;
    wdi_lock(&k->lock);
    guard_cell_t *c = class_take(k, cls, &a);
    wdi_unlock(&k->lock);
    if (c == NULL)
        return NULL;
    if (cell_open(a, (size_t)(c - a->cell), align, front, size, at_start) != 0) {
        atomic_store_explicit(&c->state, CELL_DEAD, memory_order_release);
        return NULL;
    }
    c->kind = (uint8_t)kind;
    c->alloc_stack = stack;
    atomic_fetch_add_explicit(&live_bytes, cell_open_bytes(c), memory_order_relaxed);
    atomic_store_explicit(&c->state, CELL_LIVE, memory_order_release);
    guard_rearm();
    *raw = (uint8_t *)c->raw;
    *end = (uint8_t *)c->end;
    return (void *)c->p;
}

void wdi_guard_check_arm(void) { wdi_fault_arm(fault_claim); }

static guard_cell_t *check_cell(const void *p, guard_area_t **area) {
    size_t in;
    guard_area_t *a = (guard_area_t *)wdi_region_of(p);
    *area = a;
    return cell_at(a, (uintptr_t)p, &in);
}

void wdi_guard_bounds(const void *p, uint8_t **raw, uint8_t **end) {
    guard_area_t *a;
    guard_cell_t *c = check_cell(p, &a);
    *raw = (uint8_t *)c->raw;
    *end = (uint8_t *)c->end;
}

int wdi_guard_overflowed(const void *p) {
    guard_area_t *a;
    return check_cell(p, &a)->overflowed;
}

void wdi_guard_check_free(void *p, uint32_t stack) {
    guard_area_t *a;
    guard_cell_t *c = check_cell(p, &a);
    uint32_t expected = CELL_LIVE;
    if (!atomic_compare_exchange_strong_explicit(&c->state, &expected, CELL_BUSY,
                                                 memory_order_acquire, memory_order_relaxed))
        return; /* check mode reported it already */
    c->free_stack = stack;
    atomic_fetch_sub_explicit(&live_bytes, cell_open_bytes(c), memory_order_relaxed);
    cell_close(a, c);
    size_t cls = 0;
    while ((page_size << cls) < a->cell_bytes)
        cls++;
    guard_class_t *k = &classes[cls];
    c->next = NULL;
    atomic_store_explicit(&c->state, CELL_FREED, memory_order_release);
    wdi_lock(&k->lock);
    if (k->freed_tail != NULL)
        k->freed_tail->next = c;
    else
        k->freed = c;
    k->freed_tail = c;
    atomic_fetch_add_explicit(&freed_bytes, a->cell_bytes, memory_order_relaxed);
    wdi_unlock(&k->lock);
}

int wdi_guard_check_freed(const void *p, size_t *size, unsigned *kind, uint32_t *alloc_stack,
                          uint32_t *free_stack) {
    if (!wdi_guard_owns(p))
        return 0;
    guard_area_t *a;
    guard_cell_t *c = check_cell(p, &a);
    if (c == NULL || atomic_load_explicit(&c->state, memory_order_acquire) != CELL_FREED)
        return 0;
    *size = c->size;
    *kind = c->kind;
    *alloc_stack = c->alloc_stack;
    *free_stack = c->free_stack;
    /* a cell taken meanwhile may have changed under the reads */
    return c->p == (uintptr_t)p &&
           atomic_load_explicit(&c->state, memory_order_acquire) == CELL_FREED;
}

size_t wdi_guard_unguarded(void) { return atomic_load_explicit(&unguarded, memory_order_relaxed); }

void wdi_guard_fork_prepare(void) {
    for (int i = 0; i < CLASSES; i++)
        wdi_lock(&classes[i].lock);
}

void wdi_guard_fork_parent(void) {
    for (int i = CLASSES - 1; i >= 0; i--)
        wdi_unlock(&classes[i].lock);
}

void wdi_guard_fork_child(void) {
    for (int i = 0; i < CLASSES; i++)
        wdi_lock_reset(&classes[i].lock);
}

/* --- faults ------------------------------------------------------------------ */

/* The block a fault at addr concerns: the cell it lies in, or for an
 * address in a guard page, whichever neighbour's block is nearer. */
static guard_cell_t *fault_cell(guard_area_t *a, uintptr_t addr) {
    size_t in = 0;
    guard_cell_t *c = cell_at(a, addr, &in);
    if (addr < (uintptr_t)a->first)
        return &a->cell[0];
    if (c == NULL)
        return NULL;
    if (in < a->cell_bytes)
        return c;
    guard_cell_t *next = c + 1 < a->cell + a->capacity ? c + 1 : NULL;
    uint32_t st = atomic_load_explicit(&c->state, memory_order_acquire);
    uint32_t nst = next ? atomic_load_explicit(&next->state, memory_order_acquire) : CELL_EMPTY;
    int here = st == CELL_LIVE || st == CELL_FREED;
    int there = nst == CELL_LIVE || nst == CELL_FREED;
    if (here && there)
        return addr - (c->p + c->size) <= next->p - addr ? c : next;
    return there ? next : c;
}

static int fault_claim(const wd_fault_t *f) {
    wd_region_t *r = wdi_region_of((const void *)f->addr);
    if (r == NULL || r->kind != WD_KIND_GUARD)
        return 0;
    guard_area_t *a = (guard_area_t *)r;
    guard_cell_t *c = fault_cell(a, f->addr);
    uint32_t st = c ? atomic_load_explicit(&c->state, memory_order_acquire) : CELL_EMPTY;
    const char *how = wdi_fault_access(f);
    uintptr_t addr = f->addr;
    /* A live block's open pages are the program's to protect (a collector's
     * write barrier makes pages of its own blocks read-only and opens them
     * in its handler): a fault there is not warden's, and claiming it would
     * retry the access for ever. */
    if (c != NULL && st == CELL_LIVE && addr >= c->end - cell_open_bytes(c) && addr < c->end)
        return 0;
    if (c == NULL || st == CELL_EMPTY) {
        wdi_report_begin("wild %s at 0x%zx: in warden's guarded memory, in no block: the process "
                         "dies of it",
                         how, (size_t)addr);
    } else if (st != CELL_LIVE) {
        if (addr >= c->p && addr < c->p + c->size)
            wdi_report_begin("use after free: %s at 0x%zx, %zu bytes inside a freed %zu-byte "
                             "block at 0x%zx",
                             how, (size_t)addr, (size_t)(addr - c->p), c->size, (size_t)c->p);
        else if (addr >= c->p)
            wdi_report_begin("use after free: %s at 0x%zx, %zu bytes past the end of a freed "
                             "%zu-byte block at 0x%zx",
                             how, (size_t)addr, (size_t)(addr - c->p - c->size), c->size,
                             (size_t)c->p);
        else
            wdi_report_begin("use after free: %s at 0x%zx, %zu bytes before the start of a freed "
                             "%zu-byte block at 0x%zx",
                             how, (size_t)addr, (size_t)(c->p - addr), c->size, (size_t)c->p);
    } else if (addr >= c->p + c->size) {
        wdi_report_begin("heap buffer overflow: %s at 0x%zx, %zu bytes past the end of a "
                         "%zu-byte block at 0x%zx",
                         how, (size_t)addr, (size_t)(addr - c->p - c->size), c->size,
                         (size_t)c->p);
    } else {
        wdi_report_begin("heap buffer underflow: %s at 0x%zx, %zu bytes before the start of a "
                         "%zu-byte block at 0x%zx",
                         how, (size_t)addr, (size_t)(c->p - (addr < c->p ? addr : c->p)),
                         c->size, (size_t)c->p);
    }
    wdi_fault_report_stack();
    if (c != NULL && st != CELL_EMPTY)
        report_block(c, st != CELL_LIVE);
    /* An overflow of a live check=2 block that ran through the slack
     * after it (an alignment's padding) to get here began there. */
    int overflow = c != NULL && st == CELL_LIVE && !a->pool && addr >= c->p + c->size;
    if (overflow) {
        const uint8_t *q = (const uint8_t *)(c->p + c->size);
        while (q < (const uint8_t *)c->end && *q == SLACK)
            q++;
        if (q < (const uint8_t *)c->end)
            wdi_report_line("it began %zu bytes past the end: the %zu bytes between the block and "
                            "its guard page were written too",
                            (size_t)(q - (const uint8_t *)(c->p + c->size)),
                            (size_t)(c->end - (c->p + c->size)));
    }
    report_done(a->pool);
    /* An access in no block is no overflow to step over: a loop that runs
     * on through the guarded space would fault, and be reported, at every
     * page of it.  The program gets the fault, as it would without warden. */
    if (c == NULL || st == CELL_EMPTY)
        return WD_FAULT_FATAL;
    /* The slack after the block is the same error: its free does not
     * report it again (the access, retried, may write the slack anew). */
    if (overflow)
        c->overflowed = 1;
    /* The program goes on: the page is opened so that the access succeeds
     * (once reported, later accesses to it are not), and a freed cell
     * whose page it was is never reused. */
    uintptr_t page = addr & ~(uintptr_t)(page_size - 1);
    area_open(a, (void *)page, page_size);
    /* A check=2 cell's freed pages lost their bytes: they read as the
     * freed pattern, as a freed block under check=1 does, so that a
     * pointer read from one is no null that ends a walk quietly (a list
     * freed node by node would leave its tail for the leak report) but
     * one that faults where it is used. */
    if (!a->pool && st == CELL_FREED)
        memset((void *)page, FREED, page_size);
    if (c != NULL && st == CELL_FREED) {
        uint32_t expected = CELL_FREED;
        atomic_compare_exchange_strong(&c->state, &expected, CELL_DEAD);
    }
    return 1;
}
