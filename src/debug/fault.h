/* fault.h -- warden's SIGSEGV and SIGBUS handler: turns a fault in
 * memory warden protected on purpose (guard.h: the guard sampler's slots,
 * check=2's blocks; closed.h: check=1's large freed blocks) into a
 * report, and hands every other fault to the handler the program had (or
 * to the default action, which kills the process as if warden were not
 * there).
 *
 * The handler is installed when the first guarded block is handed out, and
 * put back in front whenever a later guarded block finds that the program
 * replaced it (sigaction is asked again at every 16th sampled block and at
 * every check=2 block): the program's handler is then the one faults that
 * are not warden's go to.
 * It runs on an alternate signal stack of its own in every thread that
 * handed out a guarded block (64 KiB from os.h, with an inaccessible page
 * below; given back at the thread's exit), unless the thread has one of
 * its own already; other threads run it on their own stacks, which is
 * enough for a fault in the heap (not for a stack overflow, which is not
 * warden's and goes to the default action all the same).
 *
 * What runs inside the handler (fault.c and guard.c's report): reads of
 * the segment map and of the guard's records, the stack capture (stack.h:
 * the fast walk, and libgcc's unwinder for the signal frame; neither
 * allocates, libgcc takes a lock only for frames registered at run time
 * with __register_frame), the report (report.h: a spinlock, static buffers,
 * write(2)) and its symbolizer (symbol.h: dladdr, which takes the dynamic
 * loader's lock, then vfork and execve of a helper).  Only write, execve,
 * sigaction and abort are async-signal-safe by POSIX; the rest is safe
 * here because the fault comes from the program's own access to the heap,
 * not from inside warden, the loader or another signal handler: a fault
 * while the faulting thread holds the report lock or the loader's lock
 * (a bad access from inside dlopen or from a report) would deadlock.
 *
 * Calls: stack.h, os.h (the alternate stacks), sigaction,
 * sigaltstack. */
#ifndef WARDEN_FAULT_H
#define WARDEN_FAULT_H

#include <stdint.h>

/* A fault, as the handler saw it. */
typedef struct wd_fault_s {
    uintptr_t addr; /* the address accessed (si_addr) */
    uintptr_t pc;   /* the faulting instruction */
    int write;      /* 1 a write, 0 a read, -1 unknown (not x86-64) */
} wd_fault_t;

/* Returns 1 when the fault was in warden's guarded memory and was
 * reported (and the access may be retried: the page was opened), 0 when it
 * is not warden's, WD_FAULT_FATAL when it was reported and the program may
 * not go on (it then gets the fault as if warden had no handler, without a
 * second report); may abort. */
#define WD_FAULT_FATAL 2
typedef int (*wd_fault_claim_t)(const wd_fault_t *f);

/* Makes sure the handler is installed and in front of the program's, with
 * claim asked first (NULL: no fault is claimed, each goes on to the
 * program's handler or the default action), and that the calling thread
 * has an alternate stack.
 * One sigaction query (and sigaltstack once a thread); called at every
 * guarded allocation. */
void wdi_fault_arm(wd_fault_claim_t claim);

/* The calling thread's part of wdi_fault_arm alone (its alternate stack,
 * and the handler when this thread never armed it): no system call once
 * done.  The sampler arms fully at every 16th guarded block only. */
void wdi_fault_arm_thread(wd_fault_claim_t claim);

/* How f's report names the access: "write", "read", or "access" when
 * the fault does not say. */
static inline const char *wdi_fault_access(const wd_fault_t *f) {
    return f->write > 0 ? "write" : f->write == 0 ? "read" : "access";
}

/* Inside claim: the stack of the faulting access, innermost first (the
 * faulting instruction's address plus one, so that symbol.h's pc - 1
 * names it), into the report being written (report.h). */
void wdi_fault_report_stack(void);

/* What check mode says last when a fault is about to kill the process
 * (the default action follows): fn(sig) writes its summary line, which
 * the exit handlers that would write it never get to.  NULL: nothing.
 * fn runs in the signal handler: write(2) and what it read alone. */
void wdi_fault_last_words(void (*fn)(int sig));

/* The calling thread exits: its alternate stack goes back. */
void wdi_fault_thread_exit(void);

/* Faults claimed so far (tests). */
uint64_t wdi_fault_count(void);

#endif /* WARDEN_FAULT_H */
