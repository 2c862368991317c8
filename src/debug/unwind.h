/* unwind.h -- a fast stack walk for x86-64 Linux: one step from a frame to
 * its caller with a rule cached per return address, so that a capture at
 * every malloc and free (check mode) costs a few hundred instructions
 * instead of libgcc's 1,800 a frame.
 *
 * libgcc's unwinder finds each frame's FDE (the unwind table entry of its
 * function) and interprets the CIE's and the FDE's call-frame programs
 * again for every frame of every walk.  The answer for a return address
 * never changes, and it is small: how to get the caller's CFA (its stack
 * pointer before the call: RSP or RBP plus an offset) and where the
 * caller's RBP was saved (at the CFA plus an offset, or not at all); the
 * return address is at CFA - 8.  It is computed once, from the same tables
 * (found with libgcc's _Unwind_Find_FDE) and kept in a table of 64 Ki
 * 8-byte words, each a whole rule with its address, so threads read and
 * fill it with no lock and a torn entry cannot exist.
 *
 * What a rule cannot say (a CFA or a saved RBP given by a DWARF expression,
 * a CFA from another register, a signal frame, an address without unwind
 * table) makes the step answer WDI_UNWIND_SLOW: the caller then walks the
 * whole stack with libgcc instead (stack.c), so a capture always gives what
 * libgcc would.
 *
 * Rules are kept for the life of the process: code unloaded with dlclose
 * and other code loaded at the same address later would be walked with the
 * old rules.  No lock, nothing to do at fork.  Never allocates.
 *
 * Calls: libgcc's _Unwind_Find_FDE (lock-free through glibc's
 * _dl_find_object, no allocation), os.h (the table), counters.h. */
#ifndef WARDEN_UNWIND_H
#define WARDEN_UNWIND_H

#include <stdint.h>

/* The fast walk exists for x86-64 Linux; elsewhere the capture keeps to
 * libgcc's unwinder alone. */
#if defined(__x86_64__) && defined(__linux__)
#define WD_FAST_UNWIND 1
#else
#define WD_FAST_UNWIND 0
#endif

/* Where a walk stands: a frame's code address and its RSP and RBP there. */
typedef struct wdi_unwind_s {
    uintptr_t pc;   /* a return address, or for the first frame a place inside it */
    uintptr_t sp;   /* RSP at pc (for a caller: its CFA) */
    uintptr_t bp;   /* RBP at pc */
    uintptr_t base; /* the first frame's RSP: the walk stays within 1 GiB above it */
} wdi_unwind_t;

#if WD_FAST_UNWIND
/* Sets *u to the calling function's own frame, at this point of it.  A
 * macro, so that the registers are the caller's: RSP and RBP at the lea,
 * whose following address is u->pc (pc - 1 lies in the lea: the unwind
 * rows looked up for it are the ones in force there). */
#define WDI_UNWIND_HERE(u)                                                          \
    do {                                                                            \
        __asm__ volatile("mov %%rsp, %1\n\tmov %%rbp, %2\n\tlea 0(%%rip), %0"       \
                         : "=r"((u)->pc), "=r"((u)->sp), "=r"((u)->bp));            \
        (u)->base = (u)->sp;                                                        \
    } while (0)
#endif

enum {
    WDI_UNWIND_SLOW = -1, /* a frame the rules cannot walk: ask libgcc */
    WDI_UNWIND_END = 0,   /* the outermost frame, or a frame that looks like garbage */
    WDI_UNWIND_NEXT = 1,  /* *u is now the caller's frame; u->pc its return address */
};

/* Moves *u from a frame to its caller: u->pc becomes the return address
 * found at the CFA - 8, u->sp the CFA, u->bp the caller's RBP.  The first
 * step for an address computes its rule (the FDE lookup and the
 * call-frame programs, a few thousand instructions); later steps read it
 * from the table.  END when the frame is the outermost (its return
 * address column is undefined, or the return address read is 0) and when
 * the caller's frame would not lie above this one, by at most 16 MiB and
 * within 1 GiB of u->base (garbage: a corrupted stack; the step stops
 * before it reads there). */
int wdi_unwind_step(wdi_unwind_t *u);

#if WD_FAST_UNWIND
/* What a walk read, for a walk that is to be remembered (stack.c's memo):
 * every word read from the stack, and which of them the walk's result
 * depends on.  The walk is a function of its start (RSP, RBP, PC) and of
 * those words: a later walk from the same start that finds the same
 * values at the same addresses is the same walk.  A return address always
 * counts; a saved RBP only once a CFA is computed from it (a function
 * that saves its caller's RBP, used there as a general register, gives a
 * different value at every call, which no CFA may ever use). */
#define WDI_NOTE_MAX 80
typedef struct wdi_unwind_note_s {
    int n;           /* words read so far */
    int bp_from;     /* the read that the walk's RBP came from; -1: the starting RBP */
    int bp_used;     /* the starting RBP was used for a CFA */
    int full;        /* more than WDI_NOTE_MAX reads: nothing noted is complete */
    uintptr_t addr[WDI_NOTE_MAX];
    uintptr_t value[WDI_NOTE_MAX];
    uint8_t used[WDI_NOTE_MAX];
} wdi_unwind_note_t;

/* wdi_unwind_step that also notes its reads in *note (n, bp_from and
 * bp_used set to 0, -1 and 0 before the first step). */
int wdi_unwind_step_noted(wdi_unwind_t *u, wdi_unwind_note_t *note);
#endif

/* Counts since the process started (relaxed; for tests and statistics). */
typedef struct wdi_unwind_counts_s {
    uint64_t rules;      /* rules computed from the unwind tables */
    uint64_t slow_rules; /* of which the fast walk cannot follow */
    uint64_t evictions;  /* rules dropped for another address of a full bucket */
} wdi_unwind_counts_t;

void wdi_unwind_counts(wdi_unwind_counts_t *out);

#endif /* WARDEN_UNWIND_H */
