/* leaks.c -- owns check mode's leak scan (leaks.h).  Calls: blocks.h (the
 * blocks and the checker's own memory), segment.h (which memory is the
 * heap's), large.h (its table, which is no root), os.h (the mappings,
 * reading memory safely), report.h. */
#include "debug/leaks.h"

#include <stdint.h>
#include <string.h>

#include "base/options.h"
#include "base/ownmem.h"
#include "core/large.h"
#include "core/segment.h"
#include "debug/blocks.h"
#include "debug/report.h"
#include "debug/suppress.h"
#include "os/os.h"

/* COVERED: indirectly lost, and reached from a directly lost block (only
 * while lost cycles are sorted out: INDIRECT again in the report). */
enum { UNSEEN = 0, REACHABLE = 1, INDIRECT = 2, COVERED = 3 };

typedef struct {
    uintptr_t start, end; /* [start, end): a pointer anywhere in it counts */
    uint32_t stack;
    uint8_t mark;
} leak_block_t;

typedef struct {
    uintptr_t start, end;
} range_t;

typedef struct {
    leak_block_t *block;  /* sorted by start */
    size_t count, cap;
    size_t *todo;         /* reachable blocks whose contents wait to be scanned */
    size_t todo_count;
    range_t *skip;        /* warden's own memory (ownmem.h), sorted */
    size_t skips, skip_cap;
    const uintptr_t *dead; /* exited threads' thread pointers (leaks.h) */
    size_t ndead;
    uintptr_t live_sp[256]; /* the other threads' stack pointers */
    int nlive;              /* -1: not all known (then no stack counts as dead) */
    uintptr_t from_sp;      /* the calling thread's live frames begin here (0: at the scan) */
    uintptr_t guard_end;    /* the end of the last inaccessible mapping seen */
} scan_t;

/* --- the blocks, sorted ---------------------------------------------------- */

static void collect_one(wd_block_info_t *b, void *arg) {
    scan_t *sc = arg;
    if (wdi_bi_state(b) != WD_BLOCK_LIVE || sc->count == sc->cap)
        return;
    leak_block_t *l = &sc->block[sc->count++];
    l->start = b->p;
    size_t size = wdi_bi_size(b);
    l->end = b->p + (size ? size : 1); /* a pointer to a 0-byte block is to it */
    l->stack = b->alloc_stack;
    l->mark = UNSEEN;
}

static void count_one(wd_block_info_t *b, void *arg) {
    if (wdi_bi_state(b) == WD_BLOCK_LIVE)
        ++*(size_t *)arg;
}

/* Heapsort by start: no memory, no recursion (qsort may allocate). */
static void sift(leak_block_t *a, size_t root, size_t n) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1].start > a[child].start)
            child++;
        if (a[root].start >= a[child].start)
            return;
        leak_block_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void sort_blocks(leak_block_t *a, size_t n) {
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t i = n; i-- > 1;) {
        leak_block_t t = a[0];
        a[0] = a[i];
        a[i] = t;
        sift(a, 0, i);
    }
}

/* The block that w points into, or NULL. */
static leak_block_t *block_at(scan_t *sc, uintptr_t w) {
    size_t lo = 0, hi = sc->count;
    while (lo < hi) { /* the first block starting after w */
        size_t mid = (lo + hi) / 2;
        if (sc->block[mid].start <= w)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    leak_block_t *b = &sc->block[lo - 1];
    return w < b->end ? b : NULL;
}

/* --- marking --------------------------------------------------------------- */

/* Every aligned word of [from, to) that points into an unseen block marks
 * it `mark`; reachable ones are queued to be scanned in turn.  self is the
 * block being scanned: its pointers to itself do not count. */
static void scan_words(scan_t *sc, const uintptr_t *from, const uintptr_t *to, uint8_t mark,
                       const leak_block_t *self) {
    for (const uintptr_t *w = from; w < to; w++) {
        leak_block_t *b = block_at(sc, *w);
        if (b == NULL || b == self || b->mark != UNSEEN)
            continue;
        b->mark = mark;
        if (mark == REACHABLE)
            sc->todo[sc->todo_count++] = (size_t)(b - sc->block);
    }
}

/* The whole words of block b's contents end here. */
static inline const uintptr_t *words_end(const leak_block_t *b) {
    return (const uintptr_t *)(b->start + ((b->end - b->start) & ~(uintptr_t)7));
}

static void drain(scan_t *sc) {
    while (sc->todo_count > 0) {
        leak_block_t *b = &sc->block[sc->todo[--sc->todo_count]];
        scan_words(sc, (const uintptr_t *)b->start, words_end(b), REACHABLE, b);
    }
}

/* Marks COVERED every INDIRECT block that block i leads to, through any
 * number of others. */
static void cover_from(scan_t *sc, size_t i) {
    sc->todo[sc->todo_count++] = i;
    while (sc->todo_count > 0) {
        const leak_block_t *b = &sc->block[sc->todo[--sc->todo_count]];
        const uintptr_t *w = (const uintptr_t *)b->start;
        const uintptr_t *to = words_end(b);
        for (; w < to; w++) {
            leak_block_t *t = block_at(sc, *w);
            if (t != NULL && t->mark == INDIRECT) {
                t->mark = COVERED;
                sc->todo[sc->todo_count++] = (size_t)(t - sc->block);
            }
        }
    }
}

/* Lost blocks that point to each other and that no other lost block points
 * to (a ring, two nodes that know each other) would all be indirectly
 * lost, and the leak would have no direct record.  As valgrind does, the
 * first of each such group (by address) counts as directly lost, and the
 * others as lost through it. */
static void lost_cycles(scan_t *sc) {
    for (size_t i = 0; i < sc->count; i++)
        if (sc->block[i].mark == UNSEEN)
            cover_from(sc, i);
    for (size_t i = 0; i < sc->count; i++)
        if (sc->block[i].mark == INDIRECT) {
            sc->block[i].mark = UNSEEN;
            cover_from(sc, i);
        }
    for (size_t i = 0; i < sc->count; i++)
        if (sc->block[i].mark == COVERED)
            sc->block[i].mark = INDIRECT;
}

/* A root range of memory that is not warden's: read through a buffer
 * (the range may be unmapped by another thread meanwhile). */
static void scan_root(scan_t *sc, uintptr_t start, uintptr_t end) {
    uintptr_t buf[1024]; /* 8 KiB: wd_check_leaks may run on a small thread stack */
    for (uintptr_t at = start; at < end;) {
        size_t want = end - at < sizeof buf ? (size_t)(end - at) : sizeof buf;
        size_t got = wdi_os_read_self(buf, (const void *)at, want);
        if (got == 0)
            return;
        scan_words(sc, buf, buf + got / sizeof *buf, REACHABLE, NULL);
        drain(sc);
        at += got;
    }
}

/* [start, end) less warden's own memory and the segment map (sc->skip,
 * sorted by start; the ranges do not overlap, so their ends are sorted
 * too). */
static void scan_root_parts(scan_t *sc, uintptr_t start, uintptr_t end) {
    size_t lo = 0, hi = sc->skips; /* the first range that ends after start */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sc->skip[mid].end <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    uintptr_t at = start;
    for (size_t i = lo; i < sc->skips && sc->skip[i].start < end; i++) {
        if (sc->skip[i].start > at)
            scan_root(sc, at, sc->skip[i].start);
        if (sc->skip[i].end > at)
            at = sc->skip[i].end;
    }
    if (at < end)
        scan_root(sc, at, end);
}

/* --- warden's own memory, which is no root --------------------------------- */

static void own_count(uintptr_t start, uintptr_t end, void *arg) {
    (void)start;
    (void)end;
    ++*(size_t *)arg;
}

static void own_take(uintptr_t start, uintptr_t end, void *arg) {
    scan_t *sc = arg;
    if (sc->skips < sc->skip_cap)
        sc->skip[sc->skips++] = (range_t){start, end};
}

/* By start; a Shell sort (qsort may allocate). */
static void sort_ranges(range_t *r, size_t n) {
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            range_t t = r[i];
            size_t j = i;
            for (; j >= gap && r[j - gap].start > t.start; j -= gap)
                r[j] = r[j - gap];
            r[j] = t;
        }
}

/* The ranges of ownmem.h and the segment map, sorted, into sc->skip (room
 * for a few more than there are now: other threads may map meanwhile). */
static int own_ranges(scan_t *sc, size_t *bytes) {
    size_t n = 0;
    wdi_own_foreach(own_count, &n);
    sc->skip_cap = n + 64;
    *bytes = wd_align_up(sc->skip_cap * sizeof(range_t), 4096);
    sc->skip = wdi_check_map(*bytes);
    if (sc->skip == NULL)
        return -1;
    sc->skip[sc->skips++] = (range_t){(uintptr_t)wdi_segmap, /* holds region addresses only */
                                      (uintptr_t)(wdi_segmap + WD_SEGMAP_ENTRIES)};
    range_t *table = &sc->skip[sc->skips++]; /* the large tier's slots: no pointers */
    wdi_large_table(&table->start, &table->end);
    wdi_own_foreach(own_take, sc);
    sort_ranges(sc->skip, sc->skips);
    return 0;
}

/* The lowest stack pointer of another (blocked) thread in [start, end), or
 * 0 when none is there (or they are not known). */
static uintptr_t live_sp_in(const scan_t *sc, uintptr_t start, uintptr_t end) {
    uintptr_t low = 0;
    for (int i = 0; i < sc->nlive; i++)
        if (sc->live_sp[i] >= start && sc->live_sp[i] < end && (low == 0 || sc->live_sp[i] < low))
            low = sc->live_sp[i];
    return low;
}

/* Whether a thread's descriptor is still at tp (x86-64 glibc: its first
 * and third words point to it): the stack of a thread that exited may
 * have been unmapped since, and its addresses mapped again for something
 * else, which is a root as any other mapping. */
static int is_tcb(uintptr_t tp) {
    uintptr_t words[3];
    return wdi_os_read_self(words, (const void *)tp, sizeof words) == sizeof words &&
           words[0] == tp && words[2] == tp;
}

/* Where the roots of anonymous mapping [start, end) begin: at the thread
 * descriptor of an exited thread whose stack it is (the stack lies below
 * the descriptor, down to the mapping's start: the guard page below a
 * stack keeps it from sharing a line with a mapping under it), when the
 * stack pointer of no other thread, nor the calling one's, is in it: glibc
 * gives a cached stack to a new thread, and the stack is then a live one
 * (a running thread's is not known: with one, nothing counts as dead).
 * The descriptor itself stays a root: glibc keeps what it points to (the
 * thread's TLS vector, its keys' values) for the stack's next thread.  A
 * mapping with two exited threads' descriptors is left whole.  live: the
 * lowest other thread's stack pointer in it (live_sp_in). */
static uintptr_t dead_stacks_end(const scan_t *sc, uintptr_t start, uintptr_t end,
                                 uintptr_t sp, uintptr_t live) {
    uintptr_t tcb = 0;
    if (sc->nlive < 0 || (sp >= start && sp < end) || live != 0)
        return start;
    for (size_t i = 0; i < sc->ndead; i++) {
        uintptr_t tp = sc->dead[i];
        if (tp < start || tp >= end || tp == tcb || !is_tcb(tp))
            continue;
        if (tcb != 0)
            return start;
        tcb = tp;
    }
    return tcb != 0 ? (tcb & ~(uintptr_t)7) : start;
}

/* Where the roots of a mapping from start begin when another thread's
 * stack is in it: from low, the lowest stack pointer of a blocked thread
 * there (live_sp_in; less the 128 bytes under it that a function may use
 * without moving it) up; below lie dead frames, whose stale pointers would
 * hide leaks (a worker that leaked a block deep in a request and went back
 * to wait).
 * Only a mapping that is a stack for sure: the main thread's, or one right
 * above an inaccessible guard (glibc's thread stacks), not a program's
 * mapping that also holds a signal stack.  Nothing is left out while a
 * thread runs (its stack pointer is not known). */
static uintptr_t live_stack_start(const scan_t *sc, uintptr_t start, uintptr_t low,
                                  const char *path) {
    if (low == 0 || low - start <= 128 || (strcmp(path, "[stack]") != 0 && sc->guard_end != start))
        return start;
    return (low - 128) & ~(uintptr_t)7;
}

/* A writable mapping is a root unless it is warden's heap (blocks are
 * reached only through pointers) or the checker's own bookkeeping (which
 * holds every block's address).  Segments are looked up 4 MiB at a time:
 * the kernel merges a segment with a neighbouring mapping of the program
 * into one line. */
static int root_mapping(uintptr_t start, uintptr_t end, const char *perms, const char *path,
                        void *arg) {
    scan_t *sc = arg;
    if (perms[0] == '-' && perms[1] == '-' && perms[2] == '-')
        sc->guard_end = end;
    if (perms[0] != 'r' || perms[1] != 'w' || strcmp(path, "[vvar]") == 0 ||
        strcmp(path, "[vsyscall]") == 0)
        return 0;
    /* The calling thread's stack from its stack pointer up (or from where
     * its live frames begin, when the caller knows: at exit, the caller of
     * exit): below lie dead frames, whose stale pointers would hide leaks;
     * other threads' the same way while none runs (live_stack_start).  An
     * exited thread's stack is left out (dead_stacks_end). */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t live = live_sp_in(sc, start, end);
    if (path[0] == '\0')
        start = dead_stacks_end(sc, start, end, sp, live);
    start = live_stack_start(sc, start, live, path);
    if (sp >= start && sp < end)
        start = (sc->from_sp > sp && sc->from_sp < end ? sc->from_sp : sp) & ~(uintptr_t)7;
    uintptr_t at = start;
    while (at < end) {
        uintptr_t next = (at | (WD_SEGMENT_SIZE - 1)) + 1;
        if (next > end || next == 0)
            next = end;
        if (wdi_region_of((const void *)at) == NULL)
            scan_root_parts(sc, at, next);
        at = next;
    }
    return 0;
}

/* --- the report ------------------------------------------------------------ */

typedef struct {
    uint32_t stack;
    uint8_t mark;
    size_t bytes, blocks;
} record_t;

/* The records of one mark: its blocks grouped by stack, largest first,
 * appended to rec[n ...]; returns the new count.  The mark's bytes and
 * blocks are added to *bytes and *blocks. */
static size_t records_of(scan_t *sc, uint8_t mark, record_t *rec, size_t n, size_t *bytes,
                         size_t *blocks) {
    size_t first = n;
    for (size_t i = 0; i < sc->count; i++) {
        leak_block_t *b = &sc->block[i];
        if (b->mark != mark)
            continue;
        size_t size = b->end - b->start;
        *bytes += size;
        ++*blocks;
        size_t r = first;
        while (r < n && rec[r].stack != b->stack)
            r++;
        if (r == n)
            rec[n++] = (record_t){b->stack, mark, 0, 0};
        rec[r].bytes += size;
        rec[r].blocks++;
    }
    for (size_t i = first + 1; i < n; i++) /* insertion sort: records are few */
        for (size_t j = i; j > first && rec[j].bytes > rec[j - 1].bytes; j--) {
            record_t t = rec[j];
            rec[j] = rec[j - 1];
            rec[j - 1] = t;
        }
    return n;
}

/* Moves a suppressed record's bytes and blocks from the lost ones in *out
 * to the suppressed ones. */
static void count_suppressed(const record_t *r, wd_leaks_t *out) {
    out->lost_bytes -= r->bytes;
    out->lost_blocks -= r->blocks;
    if (r->mark == INDIRECT) {
        out->indirect_bytes -= r->bytes;
        out->indirect_blocks -= r->blocks;
    }
    out->suppressed_bytes += r->bytes;
    out->suppressed_blocks += r->blocks;
}

/* How drop_suppressed matches: every lost record (a program of the
 * system's), or by patterns on the names dladdr knows (no helper run), or
 * on every name a report prints. */
enum { DROP_ALL, DROP_QUICK, DROP_NAMED };

/* Of the records rec[0 .. n), keeps the reachable ones and the lost ones
 * no suppression matches (suppress.h; the others are counted in *out) and
 * returns how many. */
static size_t drop_suppressed(record_t *rec, size_t n, int how, wd_leaks_t *out) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (rec[i].mark != REACHABLE &&
            (how == DROP_ALL ||
             wdi_report_stack_any(rec[i].stack, how == DROP_QUICK, wdi_suppress_frame)))
            count_suppressed(&rec[i], out);
        else
            rec[kept++] = rec[i];
    }
    return kept;
}

/* Prints the records rec[0 .. n) but the lost ones a suppression matches,
 * their stacks all named at once first: one helper run, not one a record.
 * Those of a program of the system, and those a pattern on a module names,
 * are left out before the helper runs.  ids: room for n stack ids. */
static void records_print(record_t *rec, size_t n, uint32_t *ids, wd_leaks_t *out) {
    int patterns = wdi_suppress_load() != 0;
    if (wdi_suppress_all())
        n = drop_suppressed(rec, n, DROP_ALL, out);
    else if (patterns)
        n = drop_suppressed(rec, n, DROP_QUICK, out);
    for (size_t i = 0; i < n; i++)
        ids[i] = rec[i].stack;
    wdi_report_names_ahead(ids, n);
    if (patterns)
        n = drop_suppressed(rec, n, DROP_NAMED, out);
    for (size_t i = 0; i < n; i++) {
        const char *what = rec[i].mark == UNSEEN     ? "definitely lost"
                           : rec[i].mark == INDIRECT ? "indirectly lost"
                                                     : "still reachable";
        wdi_report_begin_record("%zu bytes in %zu blocks are %s", rec[i].bytes, rec[i].blocks,
                                what);
        wdi_report_stack_id("allocated at", rec[i].stack);
        wdi_report_end();
    }
    wdi_report_names_done();
}

/* Clears the stack below the caller's frame: the walk over the blocks
 * left copies of their addresses in frames that are dead now, and the
 * calling thread's stack is scanned from a frame further down. */
static WD_NOINLINE void wipe_dead_frames(void) {
    volatile uintptr_t area[256]; /* 2 KiB: deeper than the walk's frames go */
    for (size_t i = 0; i < sizeof area / sizeof area[0]; i++)
        area[i] = 0;
}

void wdi_leaks_check(int all, const uintptr_t *dead, size_t ndead, uintptr_t live_sp,
                     wd_leaks_t *out) {
    memset(out, 0, sizeof *out);
    scan_t sc;
    memset(&sc, 0, sizeof sc);
    size_t live = 0;
    wdi_blocks_lock_all();
    wdi_blocks_foreach(count_one, &live);
    size_t block_bytes = wd_align_up((live + 1) * sizeof(leak_block_t), 4096);
    /* Later the records and their stacks' ids (records_print). */
    size_t todo_bytes = wd_align_up((live + 1) * (sizeof(record_t) + sizeof(uint32_t)), 4096);
    size_t skip_bytes = 0;
    sc.block = wdi_check_map(block_bytes);
    sc.todo = wdi_check_map(todo_bytes);
    if (sc.block == NULL || sc.todo == NULL || own_ranges(&sc, &skip_bytes) != 0) {
        wdi_blocks_unlock_all();
        wdi_print_line(wdi_stderr_fd(), "warden: check: no memory for the leak scan");
        return;
    }
    sc.cap = live;
    wdi_blocks_foreach(collect_one, &sc);
    sort_blocks(sc.block, sc.count);
    wipe_dead_frames();
    sc.dead = dead;
    sc.ndead = ndead;
    sc.from_sp = live_sp;
    sc.nlive = wdi_os_threads_sp(sc.live_sp, 256);
    __builtin_unwind_init(); /* this thread's registers onto its stack, a root */
    wdi_os_maps_foreach(root_mapping, &sc);
    /* Of the blocks no root reaches, those another one points to are lost
     * only through it (its own pointers to itself do not count). */
    for (size_t i = 0; i < sc.count; i++) {
        leak_block_t *b = &sc.block[i];
        if (b->mark == REACHABLE)
            continue;
        scan_words(&sc, (const uintptr_t *)b->start, words_end(b), INDIRECT, b);
    }
    lost_cycles(&sc);
    wdi_blocks_unlock_all();
    /* The records go where the scan's work list was (free again now: room
     * for as many records and ids as blocks). */
    record_t *rec = (record_t *)(void *)sc.todo;
    size_t n = records_of(&sc, UNSEEN, rec, 0, &out->lost_bytes, &out->lost_blocks);
    n = records_of(&sc, INDIRECT, rec, n, &out->indirect_bytes, &out->indirect_blocks);
    out->lost_bytes += out->indirect_bytes;
    out->lost_blocks += out->indirect_blocks;
    if (all)
        n = records_of(&sc, REACHABLE, rec, n, &out->reachable_bytes, &out->reachable_blocks);
    else
        for (size_t i = 0; i < sc.count; i++)
            if (sc.block[i].mark == REACHABLE) {
                out->reachable_bytes += sc.block[i].end - sc.block[i].start;
                out->reachable_blocks++;
            }
    records_print(rec, n, (uint32_t *)(void *)(rec + n), out);
    if (wdi_own_dropped() != 0)
        wdi_print_line(wdi_stderr_fd(), "warden: check: warden's own mappings outgrew their list: "
                                        "some lost blocks may have been counted as reachable");
    wdi_check_unmap(sc.block, block_bytes);
    wdi_check_unmap(sc.todo, todo_bytes);
    wdi_check_unmap(sc.skip, skip_bytes);
}
