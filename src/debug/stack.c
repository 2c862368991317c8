/* stack.c -- owns stack capture and the stack depot (stack.h).
 * Calls: unwind.h (the fast walk), libgcc's unwinder (_Unwind_Backtrace:
 * for stacks the fast walk cannot follow; it finds each frame's unwind
 * table with glibc's lock-free _dl_find_object and never allocates), os.h
 * (the depot's chunks), counters.h. */
#include "debug/stack.h"

#include <stdatomic.h>
#include <string.h>
#include <unwind.h>

#include "base/counters.h"
#include "base/internal.h"
#include "base/lock.h"
#include "base/options.h"
#include "base/ownmem.h"
#include "debug/unwind.h"
#include "os/os.h"

/* --- capture ---------------------------------------------------------------- */

typedef struct walk_s {
    void **pcs;
    int max;
    int n;
    int skip;        /* frames still to leave out */
    uintptr_t first; /* with capture_from: restart when a frame returns here */
    uintptr_t until; /* frames before the first whose address this is are not counted; 0: none */
    int outside;     /* a frame kept lies outside the C library and warden (cut_at) */
} walk_t;

/* wdi_stack_cut_at's ranges: the C library's code and warden's; empty
 * (lo == hi) until it is called. */
static struct {
    _Atomic(uintptr_t) lo, hi, own_lo, own_hi;
} cut;

/* hi last (released): a walk that sees it sees the rest. */
void wdi_stack_cut_at(uintptr_t lo, uintptr_t hi, uintptr_t own_lo, uintptr_t own_hi) {
    atomic_store_explicit(&cut.own_lo, own_lo, memory_order_relaxed);
    atomic_store_explicit(&cut.own_hi, own_hi, memory_order_relaxed);
    atomic_store_explicit(&cut.lo, lo, memory_order_relaxed);
    atomic_store_explicit(&cut.hi, hi, memory_order_release);
}

/* Whether the walk ends at pc, a frame just taken (wdi_stack_cut_at). */
static inline int walk_cut(walk_t *w, uintptr_t pc) {
    uintptr_t hi = atomic_load_explicit(&cut.hi, memory_order_acquire);
    uintptr_t lo = atomic_load_explicit(&cut.lo, memory_order_relaxed);
    if (pc - lo < hi - lo)
        return w->outside;
    if (pc - atomic_load_explicit(&cut.own_lo, memory_order_relaxed) >=
        atomic_load_explicit(&cut.own_hi, memory_order_relaxed) -
            atomic_load_explicit(&cut.own_lo, memory_order_relaxed))
        w->outside = 1;
    return 0;
}

static _Atomic(uint64_t) slow_captures;

/* Takes the return address of one more frame into w.  0 when the walk
 * may stop: pcs is full and no entry point is looked for any more. */
static WD_ALWAYS_INLINE int walk_take(walk_t *w, uintptr_t pc) {
    if (w->until != 0) {
        if (pc != w->until)
            return 1;
        w->until = 0;
    }
    if (w->skip > 0) {
        w->skip--;
        return 1;
    }
    if (w->first != 0 && pc == w->first) {
        w->n = 0; /* warden's frames above the entry point are dropped */
        w->first = 0;
        w->outside = 0;
    }
    if (w->n < w->max)
        w->pcs[w->n++] = (void *)pc;
    if (walk_cut(w, pc))
        return 0;
    return w->n < w->max || w->first != 0;
}

/* One frame of libgcc's walk.  Its first is the capture function itself
 * (the unwinder starts at its caller's frame, which is ours), hence the
 * captures' skip + 1 there. */
static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg) {
    int before_insn = 0;
    uintptr_t pc = _Unwind_GetIPInfo(ctx, &before_insn);
    if (pc == 0)
        return _URC_END_OF_STACK;
    /* A signal frame's address is the interrupted instruction, not a
     * return address: one more, so that the pc - 1 every frame is looked
     * up with names that instruction. */
    if (before_insn)
        pc++;
    /* Any value but NO_REASON stops the walk. */
    return walk_take(arg, pc) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

#if WD_FAST_UNWIND
/* The fast walk (unwind.h) from the frame u describes, whose own return
 * address is the first taken.  1 when the stack is captured, 0 when a
 * frame needs libgcc's unwinder: w is then half filled, to start again. */
static int walk_fast(walk_t *w, wdi_unwind_t *u) {
    for (;;) {
        int step = wdi_unwind_step(u);
        if (step != WDI_UNWIND_NEXT)
            return step == WDI_UNWIND_END;
        if (!walk_take(w, u->pc))
            return 1;
    }
}
#endif

static int in_code(const wd_code_range_t *in, int n, uintptr_t pc) {
    for (int i = 0; i < n; i++)
        if (pc >= in[i].lo && pc < in[i].hi)
            return 1;
    return 0;
}

/* wdi_stack_sp_past's walk, frame by frame: libgcc's (once, at exit:
 * its cost does not matter, and it follows every frame the tables
 * describe, the fast walk not all: crtstuff's, that run atexit handlers
 * of a shared library, ask for libgcc). */
typedef struct past_s {
    const wd_code_range_t *in;
    int n;
    int inside;         /* a frame in `in` was seen */
    uintptr_t prev_cfa; /* the CFA of the frame before: its caller's stack pointer */
    uintptr_t sp;       /* the answer */
} past_t;

static _Unwind_Reason_Code past_frame(struct _Unwind_Context *ctx, void *arg) {
    past_t *p = arg;
    int before = 0;
    uintptr_t pc = (uintptr_t)_Unwind_GetIPInfo(ctx, &before);
    if (in_code(p->in, p->n, pc)) {
        p->inside = 1;
    } else if (p->inside) {
        p->sp = p->prev_cfa;
        return _URC_END_OF_STACK;
    }
    p->prev_cfa = (uintptr_t)_Unwind_GetCFA(ctx);
    return _URC_NO_REASON;
}

uintptr_t wdi_stack_sp_past(const wd_code_range_t *in, int n) {
    past_t p = {in, n, 0, 0, 0};
    _Unwind_Backtrace(past_frame, &p);
    return p.sp;
}

/* Both captures run this inlined (never called or jumped to), so each
 * reads its own registers and calls libgcc's unwinder itself and the frame
 * counts are exact: the fast walk starts in the capture's own frame and
 * takes its return address first, libgcc's starts one frame lower.
 * Walking the whole stack again with libgcc when one frame needs it is
 * simpler than handing it the fast walk's state halfway, and the result
 * is libgcc's in either case.  first: see wdi_stack_capture_from (0:
 * none). */
static WD_ALWAYS_INLINE int capture(void **pcs, int max, int skip, uintptr_t first) {
    if (max <= 0)
        return 0;
#if WD_FAST_UNWIND
    walk_t fast = {pcs, max, 0, skip, first, 0, 0};
    wdi_unwind_t u;
    WDI_UNWIND_HERE(&u);
    if (walk_fast(&fast, &u))
        return fast.n;
    atomic_fetch_add_explicit(&slow_captures, 1, memory_order_relaxed);
#endif
    walk_t w = {pcs, max, 0, skip + 1, first, 0, 0};
    _Unwind_Backtrace(walk_frame, &w);
    return w.n;
}

WD_NOINLINE int wdi_stack_capture(void **pcs, int max, int skip) {
    return capture(pcs, max, skip, 0);
}

WD_NOINLINE int wdi_stack_capture_from(void **pcs, int max, const void *first) {
    return capture(pcs, max, 0, (uintptr_t)first);
}

/* --- captures remembered ------------------------------------------------------ */

/* The stored id of pcs[0 .. n) without its top frames in (lo, hi], at most
 * keep frames. */
static uint32_t save_kept(void *const *pcs, int n, int keep, uintptr_t lo, uintptr_t hi) {
    int k = 0;
    while (k < n && (uintptr_t)pcs[k] > lo && (uintptr_t)pcs[k] <= hi)
        k++;
    return wdi_stack_save(pcs + k, n - k < keep ? n - k : keep);
}

#if WD_FAST_UNWIND
/* The first slot to look at for walks that start at (sp, ret): a sum, so
 * that moving the stack moves every start's slot alike (stack.h). */
static inline unsigned memo_slot(uintptr_t sp, uintptr_t ret) {
    return (unsigned)((sp + ret) >> 4) & (WD_MEMO_SLOTS - 1);
}

/* The entry at offset `at` of m's entries (a head[] or next value). */
static inline wd_stack_memo_entry_t *memo_at(wd_stack_memo_t *m, unsigned at) {
    return (wd_stack_memo_entry_t *)((char *)m->entry + at);
}

/* One word of memo_same: the k-th from the end of e's. */
#define MEMO_WORD(k)                                                                      \
    case k:                                                                               \
        if (e->value[WD_MEMO_READS - (k)] !=                                              \
            *(const uintptr_t *)(sp + e->off[WD_MEMO_READS - (k)]))                       \
            return 0;                                                                     \
        __attribute__((fallthrough))

/* Whether entry e's words still hold their values, from a walk that
 * starts at sp with e's return address.  They are compared in the order
 * the walk read them: the first that differs stops the compare, so every
 * word read is one the walk itself would read now (the addresses of the
 * later ones follow from the values of the earlier).  A jump into
 * straight code, as the words are the last n of the arrays: four
 * instructions a word, where a loop takes five or six. */
static WD_ALWAYS_INLINE int memo_same(const wd_stack_memo_entry_t *e, uintptr_t sp) {
    _Static_assert(WD_MEMO_READS == 40, "one case a word");
    switch (e->n & 63) { /* a table of 64 jumps, with no test of its range */
        MEMO_WORD(40); MEMO_WORD(39); MEMO_WORD(38); MEMO_WORD(37); MEMO_WORD(36);
        MEMO_WORD(35); MEMO_WORD(34); MEMO_WORD(33); MEMO_WORD(32); MEMO_WORD(31);
        MEMO_WORD(30); MEMO_WORD(29); MEMO_WORD(28); MEMO_WORD(27); MEMO_WORD(26);
        MEMO_WORD(25); MEMO_WORD(24); MEMO_WORD(23); MEMO_WORD(22); MEMO_WORD(21);
        MEMO_WORD(20); MEMO_WORD(19); MEMO_WORD(18); MEMO_WORD(17); MEMO_WORD(16);
        MEMO_WORD(15); MEMO_WORD(14); MEMO_WORD(13); MEMO_WORD(12); MEMO_WORD(11);
        MEMO_WORD(10); MEMO_WORD(9); MEMO_WORD(8); MEMO_WORD(7); MEMO_WORD(6);
        MEMO_WORD(5); MEMO_WORD(4); MEMO_WORD(3); MEMO_WORD(2); MEMO_WORD(1);
    case 0:
        return 1;
    case WD_MEMO_READS + 1 ... 63: /* more than memo_put keeps: the memo was overwritten */
        return 0;
    }
    return 0;
}
#undef MEMO_WORD

/* Whether e, a walk from sp with the capture's return address, is the
 * walk from (sp, bp). */
static WD_ALWAYS_INLINE int memo_match_more(const wd_stack_memo_entry_t *e, uintptr_t sp,
                                            uintptr_t bp) {
    return (!e->bp_used || e->bp == bp) && memo_same(e, sp);
}

/* Whether e is the walk from (sp, bp) with return address ret. */
static inline int memo_match(const wd_stack_memo_entry_t *e, uintptr_t sp, uintptr_t bp,
                             uintptr_t ret) {
    return e->sp == sp && e->ret == ret && memo_match_more(e, sp, bp);
}

/* Forgets every walk and takes the arguments of the captures to come.
 * With m->busy set. */
static void memo_clear(wd_stack_memo_t *m, int skip, int max, int keep, uintptr_t lo,
                       uintptr_t hi) {
    memset(m->head, 0, sizeof m->head);
    m->used = 1;
    m->skip = skip;
    m->max = max;
    m->keep = keep;
    m->lo = lo;
    m->hi = hi;
}

/* The slot of the walks that start at (sp, ret), or the free slot where
 * they would go; -1 when every slot is taken by others. */
static int memo_find_slot(wd_stack_memo_t *m, uintptr_t sp, uintptr_t ret) {
    unsigned s = memo_slot(sp, ret);
    for (unsigned k = 0; k < WD_MEMO_SLOTS; k++, s = (s + 1) & (WD_MEMO_SLOTS - 1)) {
        const wd_stack_memo_entry_t *e = memo_at(m, m->head[s]);
        if (m->head[s] == 0 || (e->sp == sp && e->ret == ret))
            return (int)s;
    }
    return -1;
}

/* Moves e, found in slot's chain behind its first walk, to the front
 * (the latest used first: a call path that comes back soon is found
 * sooner).  With m->busy set. */
static WD_NOINLINE void memo_promote(wd_stack_memo_t *m, unsigned slot,
                                     const wd_stack_memo_entry_t *e) {
    unsigned at = (unsigned)((const char *)e - (const char *)m->entry);
    wd_stack_memo_entry_t *prev = memo_at(m, m->head[slot]);
    while (prev->next != at)
        prev = memo_at(m, prev->next);
    prev->next = e->next;
    memo_at(m, at)->next = m->head[slot];
    m->head[slot] = (uint16_t)at;
}

/* The id of a kept walk from (sp, bp) with return address ret, or 0.
 * With m->busy set. */
static uint32_t memo_lookup(wd_stack_memo_t *m, uintptr_t sp, uintptr_t bp, uintptr_t ret) {
    int s = memo_find_slot(m, sp, ret);
    if (s < 0)
        return 0;
    for (unsigned at = m->head[s]; at != 0; at = memo_at(m, at)->next) {
        const wd_stack_memo_entry_t *e = memo_at(m, at);
        if (memo_match(e, sp, bp, ret)) {
            if (at != m->head[s])
                memo_promote(m, (unsigned)s, e);
            return e->id;
        }
    }
    return 0;
}

/* Keeps a finished walk that started at (sp, bp) with return address
 * ret and read what note says, as stack id, in front of its start's
 * chain; with m->busy set. */
static void memo_put(wd_stack_memo_t *m, uintptr_t sp, uintptr_t ret, uintptr_t bp,
                     const wdi_unwind_note_t *note, uint32_t id) {
    if (note->full || id == 0 || note->n == 0 || note->value[0] != ret)
        return;
    unsigned n = 0; /* the first read is ret's, the key's */
    for (int i = 1; i < note->n; i++)
        if (note->used[i]) {
            if (note->addr[i] - sp > UINT32_MAX)
                return;
            n++;
        }
    if (n > WD_MEMO_READS)
        return;
    if (m->used == WD_MEMO_ENTRIES)
        memo_clear(m, m->skip, m->max, m->keep, m->lo, m->hi);
    int s = memo_find_slot(m, sp, ret);
    if (s < 0)
        return;
    unsigned at = m->used * (unsigned)sizeof(wd_stack_memo_entry_t);
    wd_stack_memo_entry_t *e = memo_at(m, at);
    unsigned j = WD_MEMO_READS - n;
    for (int i = 1; i < note->n; i++)
        if (note->used[i]) {
            e->off[j] = (uint32_t)(note->addr[i] - sp);
            e->value[j++] = note->value[i];
        }
    e->sp = sp;
    e->ret = ret;
    e->bp = bp;
    e->bp_used = (uint8_t)note->bp_used;
    e->n = (uint8_t)n;
    e->id = id;
    e->next = m->head[s];
    m->head[s] = (uint16_t)at;
    m->used++;
}
#endif

#if WD_FAST_UNWIND
/* The walk of wdi_stack_id_here: from the frame (pc, sp, bp) of that
 * function (still there: what runs this is called, never jumped to),
 * kept in m (NULL: not kept; else busy). */
static uint32_t id_walk(wd_stack_memo_t *m, uintptr_t pc, uintptr_t sp,
                                         uintptr_t bp, uintptr_t ret, int skip, int max, int keep,
                                         uintptr_t lo, uintptr_t hi) {
    void *pcs[WD_STACK_MAX];
    int w_max = max > WD_STACK_MAX ? WD_STACK_MAX : max < 1 ? 1 : max;
    wdi_unwind_t u = {pc, sp, bp, sp};
    walk_t w = {pcs, w_max, 0, skip, 0, 0, 0};
    wdi_unwind_note_t note;
    note.n = 0;
    note.bp_from = -1;
    note.bp_used = 0;
    note.full = 0;
    for (;;) {
        int step = wdi_unwind_step_noted(&u, &note);
        if (step == WDI_UNWIND_NEXT && walk_take(&w, u.pc))
            continue;
        if (step == WDI_UNWIND_SLOW)
            break;
        uint32_t id = save_kept(pcs, w.n, keep, lo, hi);
        if (m != NULL)
            memo_put(m, sp, ret, bp, &note, id);
        return id;
    }
    atomic_fetch_add_explicit(&slow_captures, 1, memory_order_relaxed);
    /* libgcc starts at its caller's frame (id_miss's): the frames up to
     * wdi_stack_id_here's are left out, whatever calls lie between. */
    walk_t slow = {pcs, w_max, 0, skip, 0, ret, 0};
    _Unwind_Backtrace(walk_frame, &slow);
    return save_kept(pcs, slow.n, keep, lo, hi);
}

/* wdi_stack_id_here when the first walk of its start's slot was not the
 * one: the rest of the memo, then a walk, remembered.  A memo found busy
 * (this is a signal handler's capture, inside another's) is not used.
 * mine: whether (pc, sp, bp) is the point that the hit path reads the
 * memo from (else the memo only takes the capture's arguments: the walks
 * it keeps are from that point alone, as an RSP of another point would
 * name another place of the frame). */
static WD_NOINLINE uint32_t id_miss(wd_stack_memo_t *m, int skip, int max, int keep, uintptr_t lo,
                                    uintptr_t hi, uintptr_t pc, uintptr_t sp, uintptr_t bp,
                                    uintptr_t ret, int mine) {
    if (m != NULL && m->busy != 0)
        m = NULL;
    if (m != NULL) {
        m->busy = 1;
        atomic_signal_fence(memory_order_seq_cst);
        if (m->used == 0 || m->skip != skip || m->max != max || m->keep != keep ||
            m->lo != lo || m->hi != hi) {
            memo_clear(m, skip, max, keep, lo, hi);
        } else if (mine) {
            uint32_t id = memo_lookup(m, sp, bp, ret);
            if (id != 0) {
                atomic_signal_fence(memory_order_seq_cst);
                m->busy = 0;
                return id;
            }
        }
        if (!mine) {
            atomic_signal_fence(memory_order_seq_cst);
            m->busy = 0;
            m = NULL;
        }
    }
    uint32_t id = id_walk(m, pc, sp, bp, ret, skip, max, keep, lo, hi);
    if (m != NULL) {
        atomic_signal_fence(memory_order_seq_cst);
        m->busy = 0;
    }
    return id;
}
#endif

/* wdi_stack_id_here when the first walk of its start's chain, e, is
 * not the one: the others, then id_miss.  With m->busy set. */
static WD_NOINLINE uint32_t id_chain(wd_stack_memo_t *m, const wd_stack_memo_entry_t *e,
                                     uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t ret) {
    for (wd_stack_memo_entry_t *prev = (wd_stack_memo_entry_t *)e; prev->next != 0;) {
        unsigned at = prev->next;
        wd_stack_memo_entry_t *f = memo_at(m, at);
        if (memo_match_more(f, sp, bp)) {
            uint16_t *head = &m->head[memo_slot(sp, ret)];
            prev->next = f->next; /* to the front: see memo_promote */
            f->next = *head;
            *head = (uint16_t)at;
            uint32_t id = f->id;
            atomic_signal_fence(memory_order_seq_cst);
            m->busy = 0;
            return id;
        }
        prev = f;
    }
    atomic_signal_fence(memory_order_seq_cst);
    m->busy = 0;
    return id_miss(m, m->skip, m->max, m->keep, m->lo, m->hi, pc, sp, bp, ret, 1);
}

/* Where the walk of wdi_stack_id_here starts: this point of its frame.
 * Each path takes its own, after the test of the arguments, so that they
 * and these are not all in registers at once (which would cost registers
 * saved on every call); walks are remembered from the hit path's only
 * (id_miss's mine). */
#define ID_HERE(pc, sp, bp, ret)                                                           \
    do {                                                                                   \
        __asm__ volatile("mov %%rsp, %1\n\tmov %%rbp, %2\n\tlea 0(%%rip), %0"             \
                         : "=r"(pc), "=r"(sp), "=r"(bp));                                  \
        ret = (uintptr_t)__builtin_return_address(0);                                      \
    } while (0)

/* The common case, a capture from a call path seen before at the same
 * depth, is the first walk of its start's chain: it costs the compares of
 * the words that walk depends on and some 37 instructions more; the other
 * walks of the chain are id_chain's, anything else id_miss's.  A memo is
 * busy while it is read or changed; a signal handler's capture meanwhile,
 * which finds it so, does not use it, so that nobody sees a change half
 * made. */
WD_NOINLINE uint32_t wdi_stack_id_here(wd_stack_memo_t *m, int skip, int max, int keep,
                                       uintptr_t lo, uintptr_t hi) {
#if WD_FAST_UNWIND
    uintptr_t pc, sp, bp, ret;
    uint32_t id;
    if (wd_likely(m != NULL && m->skip == skip && m->max == max && m->keep == keep &&
                  m->busy == 0)) {
        ID_HERE(pc, sp, bp, ret);
        m->busy = 1;
        atomic_signal_fence(memory_order_seq_cst);
        const wd_stack_memo_entry_t *e = memo_at(m, m->head[memo_slot(sp, ret)]);
        if (wd_likely(e->sp == sp && e->ret == ret)) {
            if (wd_likely(memo_match_more(e, sp, bp))) {
                id = e->id;
                atomic_signal_fence(memory_order_seq_cst);
                m->busy = 0;
                return id;
            }
            id = id_chain(m, e, pc, sp, bp, ret);
        } else {
            atomic_signal_fence(memory_order_seq_cst);
            m->busy = 0;
            /* The arguments are the memo's: read there again, not kept in
             * registers meanwhile. */
            id = id_miss(m, m->skip, m->max, m->keep, m->lo, m->hi, pc, sp, bp, ret, 1);
        }
    } else {
        ID_HERE(pc, sp, bp, ret);
        id = id_miss(m, skip, max, keep, lo, hi, pc, sp, bp, ret, 0);
    }
    __asm__ volatile("" ::: "memory"); /* a call, not a jump: the walk reads this frame */
    return id;
#else
    (void)m;
    void *pcs[WD_STACK_MAX];
    if (max > WD_STACK_MAX)
        max = WD_STACK_MAX;
    if (max < 1)
        max = 1;
    walk_t slow = {pcs, max, 0, skip + 1, 0, 0, 0};
    _Unwind_Backtrace(walk_frame, &slow);
    return save_kept(pcs, slow.n, keep, lo, hi);
#endif
}

/* 16 memos a mapping (1 MiB, touched as they are used): one mapping each
 * would take a slot of ownmem.h's list per thread. */
#define MEMOS_PER_MAP 16
static wd_lock_t memo_lock = WD_LOCK_INIT;
static wd_stack_memo_t *memo_map;
static size_t memo_used;

wd_stack_memo_t *wdi_stack_memo_new(void) {
    wdi_lock(&memo_lock);
    if (memo_map == NULL || memo_used == MEMOS_PER_MAP) {
        void *map;
        memo_map = NULL;
        if (wdi_os_map(MEMOS_PER_MAP * sizeof *memo_map, &map) == 0) {
            wdi_own_add(map, MEMOS_PER_MAP * sizeof *memo_map); /* code addresses: no root */
            memo_map = map;
            memo_used = 0;
        }
    }
    wd_stack_memo_t *m = memo_map != NULL ? &memo_map[memo_used++] : NULL;
    wdi_unlock(&memo_lock);
    return m;
}

void wdi_stack_fork_child(void) { wdi_lock_reset(&memo_lock); }

uint64_t wdi_stack_slow_captures(void) {
    return atomic_load_explicit(&slow_captures, memory_order_relaxed);
}

/* --- depot ------------------------------------------------------------------ */

/* The depot is WD_STACK_DEPOT_MIB chunks of 1 MiB, each mapped when the
 * first stack lands in it.  A stack's place is a byte offset in that
 * space, handed out by one atomic cursor; its id is the offset in 8-byte
 * units plus one.  Stacks never move or go away, so an id stays valid for
 * the life of the process (and in its fork children). */
#define DEPOT_CHUNK ((size_t)1 << 20)
#define DEPOT_CHUNKS WD_STACK_DEPOT_MIB
#define DEPOT_BYTES (DEPOT_CHUNKS * DEPOT_CHUNK)
/* The chains' heads, mapped with the first stack: 2^18 (1 MiB) when
 * check mode or the profiler is on, which keep stacks by the hundred
 * thousand (a full depot of 20-frame stacks has chains of about 1.3
 * stacks); 2^10 (4 KiB, one page) when only the guard sampler keeps
 * them, a few dozen a run, each of whose heads would otherwise lie on a
 * page of its own and add that page to a small program's resident memory
 * (2^12 heads, 16 KiB, kept four pages resident once a program had saved
 * a few dozen stacks; a thousand stacks make chains of one). */
#define DEPOT_BUCKETS_LG_MANY 18
#define DEPOT_BUCKETS_LG_FEW 10

_Static_assert(WD_STACK_DEPOT_MIB >= 1 && WD_STACK_DEPOT_MIB <= 128,
               "ids must fit in 24 bits");

typedef struct depot_entry_s {
    uint32_t next; /* id of the next stack of the chain; 0 ends it */
    uint32_t hash;
    uint32_t n;
    uint32_t unused;
    void *pcs[];
} depot_entry_t;

static _Atomic(char *) depot_chunks[DEPOT_CHUNKS];
static _Atomic(_Atomic(uint32_t) *) depot_heads;
static _Atomic(uint32_t) depot_mask; /* buckets - 1, fixed before they are mapped */
static _Atomic(size_t) depot_cursor;

/* *slot's mapping of size bytes, mapped now when nobody did yet.  Threads
 * that come at once may each map one; the first to publish wins, the others
 * unmap theirs.  NULL when the OS refuses. */
static void *map_once(void *_Atomic *slot, size_t size) {
    void *have = atomic_load_explicit(slot, memory_order_acquire);
    if (wd_likely(have != NULL))
        return have;
    void *mine;
    if (wdi_os_map(size, &mine) != 0)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &have, mine, memory_order_acq_rel,
                                                memory_order_acquire)) {
        wdi_own_add(mine, size); /* code addresses: nothing for the leak scan */
        wdi_stat_add(WD_STAT_MAPPED, size);
        wdi_stat_add(WD_STAT_COMMITTED, size);
        return mine;
    }
    wdi_os_unmap(mine, size);
    return have;
}

/* The heads and their mask (*mask), mapped now with the first stack. */
static _Atomic(uint32_t) *depot_table(uint32_t *mask) {
    uint32_t m = atomic_load_explicit(&depot_mask, memory_order_acquire);
    if (wd_unlikely(m == 0)) {
        int many = wdi_options.check != 0 || wdi_options.profile[0] != '\0';
        uint32_t want = ((uint32_t)1 << (many ? DEPOT_BUCKETS_LG_MANY : DEPOT_BUCKETS_LG_FEW)) - 1;
        if (!atomic_compare_exchange_strong_explicit(&depot_mask, &m, want, memory_order_acq_rel,
                                                     memory_order_acquire))
            want = m; /* another thread chose first */
        m = want;
    }
    *mask = m;
    return map_once((void *_Atomic *)&depot_heads, ((size_t)m + 1) * sizeof(uint32_t));
}

/* Where id's stack lies, or NULL when id names no place handed out. */
static depot_entry_t *depot_entry(uint32_t id) {
    size_t off = ((size_t)id - 1) * 8;
    if (id == 0 || off >= atomic_load_explicit(&depot_cursor, memory_order_acquire))
        return NULL;
    char *chunk = atomic_load_explicit(&depot_chunks[off / DEPOT_CHUNK], memory_order_acquire);
    return chunk ? (depot_entry_t *)(chunk + off % DEPOT_CHUNK) : NULL;
}

/* A place of size bytes (a multiple of 8, at most a chunk) that never
 * straddles two chunks: the cursor jumps over a chunk's tail that is too
 * short.  Returns its id and sets *out, or 0 when the depot is full. */
static uint32_t depot_alloc(size_t size, depot_entry_t **out) {
    size_t at = atomic_load_explicit(&depot_cursor, memory_order_relaxed), start;
    do {
        start = at;
        if (start / DEPOT_CHUNK != (start + size - 1) / DEPOT_CHUNK)
            start = (start / DEPOT_CHUNK + 1) * DEPOT_CHUNK;
        if (start + size > DEPOT_BYTES)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&depot_cursor, &at, start + size,
                                                    memory_order_relaxed, memory_order_relaxed));
    char *chunk = map_once((void *_Atomic *)&depot_chunks[start / DEPOT_CHUNK], DEPOT_CHUNK);
    if (chunk == NULL)
        return 0; /* the place is lost; so is the stack */
    *out = (depot_entry_t *)(chunk + start % DEPOT_CHUNK);
    return (uint32_t)(start / 8 + 1);
}

/* splitmix64's multiplier and shifts over the frames: addresses differ
 * mostly in their low bits, which every step spreads over all 64. */
static uint32_t stack_hash(void *const *pcs, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)pcs[i];
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    return (uint32_t)(h ^ (h >> 32));
}

/* The id of a stack equal to pcs[0 .. n) in the chain from id up to (not
 * including) stop, or 0.  Entries of a chain were written before their id
 * was published with release, and the head was read with acquire. */
static uint32_t chain_find(uint32_t id, uint32_t stop, uint32_t hash, void *const *pcs, int n) {
    while (id != 0 && id != stop) {
        const depot_entry_t *e = depot_entry(id);
        if (e == NULL)
            return 0;
        if (e->hash == hash && e->n == (uint32_t)n &&
            memcmp(e->pcs, pcs, (size_t)n * sizeof(void *)) == 0)
            return id;
        id = e->next;
    }
    return 0;
}

uint32_t wdi_stack_save(void *const *pcs, int n) {
    if (n < 0)
        n = 0;
    if (n > WD_STACK_MAX)
        n = WD_STACK_MAX;
    uint32_t mask;
    _Atomic(uint32_t) *heads = depot_table(&mask);
    if (heads == NULL)
        return 0;
    uint32_t hash = stack_hash(pcs, n);
    _Atomic(uint32_t) *head = &heads[hash & mask];
    uint32_t first = atomic_load_explicit(head, memory_order_acquire);
    uint32_t found = chain_find(first, 0, hash, pcs, n);
    if (found != 0)
        return found;
    depot_entry_t *e;
    uint32_t id = depot_alloc(sizeof *e + (size_t)n * sizeof(void *), &e);
    if (id == 0)
        return 0;
    e->hash = hash;
    e->n = (uint32_t)n;
    memcpy(e->pcs, pcs, (size_t)n * sizeof(void *));
    for (;;) {
        e->next = first;
        if (atomic_compare_exchange_weak_explicit(head, &first, id, memory_order_release,
                                                  memory_order_acquire))
            return id;
        /* Other stacks came in front meanwhile: one may be this one.  Then
         * ours stays unlinked (a few bytes lost, only on such a race). */
        found = chain_find(first, e->next, hash, pcs, n);
        if (found != 0)
            return found;
    }
}

int wdi_stack_load(uint32_t id, void **pcs, int max) {
    const depot_entry_t *e = depot_entry(id);
    if (e == NULL || max <= 0)
        return 0;
    int n = e->n < (uint32_t)max ? (int)e->n : max;
    memcpy(pcs, e->pcs, (size_t)n * sizeof(void *));
    return n;
}

size_t wdi_stack_depot_used(void) {
    return atomic_load_explicit(&depot_cursor, memory_order_relaxed);
}
