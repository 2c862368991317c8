/* stack.h -- call stacks for reports: capturing the return addresses of the
 * calling thread, and the depot that stores each distinct stack once under
 * a 32-bit id (check mode, the guard allocator and the heap profiler keep an
 * id per block, not 32 pointers).
 *
 * Capture follows the unwind tables (.eh_frame) every object of a Debian
 * system has: Debian's libc and most libraries are built without frame
 * pointers, so following frame pointers stops at the first frame of libc.
 * On x86-64 Linux the fast walk of unwind.h does it with a rule per return
 * address, computed once; a stack with a frame it cannot follow (a signal
 * frame, a realigned one) is walked by libgcc's unwinder
 * (_Unwind_Backtrace) instead, which gives the same frames.  glibc's
 * backtrace() is not used: its first call dlopens libgcc_s, which
 * allocates.
 *
 * Nothing here allocates or takes a lock, so both may run inside the
 * allocator, in any thread, and in a fork child at any moment: the depot
 * is filled lock-free (one compare-and-swap on a bucket head), so fork
 * needs no handlers for it.  Symbols are looked up only when a report is
 * printed (symbol.h, report.h).
 *
 * Calls: unwind.h, libgcc's unwinder, os.h (the depot's memory),
 * internal.h. */
#ifndef WARDEN_STACK_H
#define WARDEN_STACK_H

#include <stddef.h>
#include <stdint.h>

/* Frames a stored stack keeps at most (the innermost ones). */
#define WD_STACK_MAX 32

/* Bytes the depot may use at most: stacks are kept for the life of the
 * process, so the bound holds whatever the program does.  A stack of n
 * frames costs 16 + 8 n bytes: 64 MiB hold about 350,000 stacks of 20
 * frames.  Change with -DWD_STACK_DEPOT_MIB=N (at most 128). */
#ifndef WD_STACK_DEPOT_MIB
#define WD_STACK_DEPOT_MIB 64
#endif

/* Fills pcs with up to max return addresses of the calling thread,
 * innermost first, and returns how many.  With skip 0, pcs[0] lies in the
 * caller (where its call to wdi_stack_capture returns); skip leaves out
 * that many more frames (warden's own: the checker, the wrapper).  Each
 * address points just after a call; symbol.h asks for the line of pc - 1.
 * Never allocates.  The cost is some 60 instructions a frame once each
 * return address's rule is known, a few thousand for each new address,
 * 1,800 a frame when libgcc walks: docs/design.md ("Stacks for reports")
 * has the figures. */
int wdi_stack_capture(void **pcs, int max, int skip);

/* From now on, a walk ends at the first return address in [lo, hi) (the C
 * library's code) that follows one outside it and outside warden's (the
 * caller of main, or of a thread's start routine): taken, but not
 * followed.  The outermost frames of every stack lie there, and reading
 * their unwind tables would keep pages of the library's tables resident in
 * every process that samples (about 100 KiB).  What is lost is the frames
 * below a callback that the C library made (qsort, atexit, a signal
 * handler): check mode, whose reports want them, does not call this. */
void wdi_stack_cut_at(uintptr_t lo, uintptr_t hi, uintptr_t own_lo, uintptr_t own_hi);

/* Like wdi_stack_capture, but the stack starts at the frame that
 * `first` returns into: a public entry point passes its own
 * __builtin_return_address(0), and every frame of warden above it is left
 * out whatever the compiler inlined or turned into jumps (a count of
 * frames to skip depends on both).  When no frame returns to `first`, the
 * whole stack from the caller of this function is given. */
int wdi_stack_capture_from(void **pcs, int max, const void *first);

/* Code ranges [lo, hi) of modules, for wdi_stack_sp_past. */
typedef struct wd_code_range_s {
    uintptr_t lo, hi;
} wd_code_range_t;

/* Where the frames that called into the code of `in` (n ranges) begin:
 * walks out from the caller, past its own frames outside them, through
 * the first run of frames whose return addresses lie in them, and returns
 * the stack pointer of the first frame after that run (its stack pointer
 * at its call into them; the frames below it are the run's and the
 * caller's).  0 when the walk ends first.  libgcc's unwinder walks (the
 * fast walk does not follow every frame; this runs once, at exit).
 * Check mode's leak scan at exit passes the C library's, the
 * loader's and warden's code: below the caller of exit lie the frames of
 * exit and of the handlers it runs, and the dead frames of everything main
 * called, whose stale copies of pointers would keep lost blocks
 * reachable. */
uintptr_t wdi_stack_sp_past(const wd_code_range_t *in, int n);

/* A thread's memory of its latest walks, for wdi_stack_id_here: what each
 * read from the stack (unwind.h's note) and the id its stack got.  A walk
 * that starts where a remembered one started and finds the same words
 * where that one read them is that walk: its id comes back after a few
 * compares instead of a walk, a hash and a lookup in the depot.  One per
 * thread (check mode keeps it with the thread's heap); zeroed: empty.
 *
 * Walks are kept by where they start: RSP and the capture's return
 * address.  head[] holds, for each start seen, the chain of its walks
 * (the call paths that reached that place at that depth), the latest
 * used first; a start's slot is the first free one from (RSP + return
 * address) / 16 on.  That sum moves with the stack as a whole (by a
 * multiple of 16), so which starts share slots is the same wherever the
 * stack lies; and walks are forgotten only all at once, when
 * WD_MEMO_ENTRIES - 1 are kept: what is found, and after how many
 * compares, does not depend on the stack's place.  Entry 0 stays empty
 * (RSP 0): a free slot's 0 names it. */
#define WD_MEMO_ENTRIES 128
#define WD_MEMO_SLOTS 512
#define WD_MEMO_READS 40

typedef struct wd_stack_memo_entry_s {
    uintptr_t sp;  /* RSP where the walk started */
    uintptr_t ret; /* the capture's return address (the first word read) */
    uintptr_t bp;  /* RBP where it started, when the walk used it */
    uint32_t id;   /* the stack's id in the depot */
    uint8_t n;     /* words the result depends on besides ret */
    uint8_t bp_used;
    uint16_t next; /* the next walk from the same start (as head[]); 0: none */
    /* Where each was read (above sp) and its value, in the order the walk
     * read them, in the last n places. */
    uint32_t off[WD_MEMO_READS];
    uintptr_t value[WD_MEMO_READS];
} wd_stack_memo_entry_t;

_Static_assert(sizeof(wd_stack_memo_entry_t) == 512, "an entry's place is a shift");

typedef struct wd_stack_memo_s {
    /* The arguments every kept walk was made with: a capture with other
     * skip, max or keep forgets them all first (a memo serves one caller);
     * lo and hi are compared only when a walk is made. */
    int skip, max, keep;
    uint8_t used; /* entries handed out, the empty one included; 0: none yet */
    uint8_t busy; /* being read or changed: a signal handler's capture changes nothing */
    uintptr_t lo, hi;
    /* Each start's first walk, as its entry's offset in entry[] (index *
     * 512: one add finds it); 0: a free slot. */
    uint16_t head[WD_MEMO_SLOTS];
    wd_stack_memo_entry_t entry[WD_MEMO_ENTRIES];
} wd_stack_memo_t;

_Static_assert((WD_MEMO_ENTRIES - 1) * sizeof(wd_stack_memo_entry_t) <= UINT16_MAX,
               "an entry's offset fits in head[]");

/* A memo (zeroed: empty) for a caller that keeps one per thread, carved
 * with others from one mapping and never given back (like the heaps that
 * keep them); NULL when the OS refuses. */
wd_stack_memo_t *wdi_stack_memo_new(void);

/* In a fork child: the memos' lock, which another thread may have held. */
void wdi_stack_fork_child(void);

/* The id of the calling thread's stack (wdi_stack_save's): up to max
 * frames captured as wdi_stack_capture(pcs, max, skip) would, then the
 * frames whose address lies in (lo, hi] dropped from the top (warden's
 * own), then at most keep of the rest stored.  memo: the thread's own
 * (NULL: none), consulted first and updated after a walk.  An id from the
 * memo is the one the walk would have given (for the same lo and hi: a
 * memo is meant for one caller, whose range does not change).  A capture
 * from a call path seen before costs about 37 instructions and 4 for each
 * word the walk depends on besides its return address (a return address a
 * frame, and a saved RBP where a frame's CFA is computed from it). */
uint32_t wdi_stack_id_here(wd_stack_memo_t *memo, int skip, int max, int keep, uintptr_t lo,
                           uintptr_t hi);

/* Captures since the process started that the fast walk could not finish
 * and libgcc's unwinder made instead (relaxed; for tests and statistics). */
uint64_t wdi_stack_slow_captures(void);

/* Stores pcs[0 .. n) (at most WD_STACK_MAX, the innermost kept) and returns
 * its id: non-zero, below 2^24 (it fits in a block header's spare bits),
 * the same for equal stacks from any thread.  Returns 0 when the depot is
 * full (WD_STACK_DEPOT_MIB) or the OS refused memory; a stack already
 * stored is still found then.  Lock-free: a stack that is already there
 * costs a hash and one walk of a short chain. */
uint32_t wdi_stack_save(void *const *pcs, int n);

/* Copies the stack of `id` (from wdi_stack_save, in this process or its
 * parent before fork) into pcs, at most max frames, and returns how many;
 * 0 for id 0 or an id that names no stored stack. */
int wdi_stack_load(uint32_t id, void **pcs, int max);

/* Bytes of the depot handed out so far (stacks and the waste at chunk
 * ends), for statistics and tests. */
size_t wdi_stack_depot_used(void);

#endif /* WARDEN_STACK_H */
