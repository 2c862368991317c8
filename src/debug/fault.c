/* fault.c -- owns warden's SIGSEGV/SIGBUS handler, its chaining to the
 * program's handler and the alternate signal stacks (fault.h).  Calls:
 * stack.h and report.h (the faulting access's stack in a report; check
 * mode's note on what the process dies of), options.h, os.h, sigaction,
 * sigaltstack, raise. */
#define _GNU_SOURCE
#include "debug/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>

#include "base/internal.h"
#include "base/options.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "os/os.h"

#define ALT_STACK ((size_t)64 << 10)

static _Atomic(wd_fault_claim_t) fault_claim;
static void (*_Atomic last_words)(int sig);
/* What the program had for SIGSEGV and SIGBUS before warden stood in front. */
static struct sigaction chained[2];
static _Atomic(uint64_t) claimed;

/* The calling thread's alternate stack (warden's own), its fault in progress. */
static __thread uint8_t *tl_alt __attribute__((tls_model("initial-exec")));
static __thread int tl_alt_checked __attribute__((tls_model("initial-exec")));
static __thread int tl_in_fault __attribute__((tls_model("initial-exec")));
static __thread uintptr_t tl_fault_pc __attribute__((tls_model("initial-exec")));

static struct sigaction *chained_for(int sig) { return &chained[sig == SIGBUS]; }

static uintptr_t fault_pc(const void *ucv) {
#if defined(__x86_64__) && defined(__linux__)
    return (uintptr_t)((const ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__) && defined(__linux__)
    return (uintptr_t)((const ucontext_t *)ucv)->uc_mcontext.pc;
#else
    (void)ucv;
    return 0;
#endif
}

/* The faulting access's stack, into the report being written: the stack
 * as libgcc's walk (or the fast walk) sees it from here is the handler's
 * frames, the signal frame, then the faulting instruction as pc + 1
 * (stack.c adds one to a signal frame's address); everything above that
 * frame goes. */
void wdi_fault_report_stack(void) {
    void *all[WD_STACK_MAX];
    int n = wdi_stack_capture(all, WD_STACK_MAX, 0);
    int k = 0;
    while (k < n && (uintptr_t)all[k] != tl_fault_pc + 1)
        k++;
    if (k == n) /* not found: keep it all (a report drops libwarden.so's frames) */
        k = 0;
    wdi_report_stack(NULL, all + k, n - k);
}

/* Whether a register of the faulting context holds a word of check
 * mode's patterns, give or take an offset below 64 KiB: a pointer loaded
 * from a block's junk or from a freed block. */
static int pattern_in_registers(const void *ucv) {
#if defined(__x86_64__) && defined(__linux__)
    const ucontext_t *uc = ucv;
    for (int i = 0; i < NGREG; i++) {
        uint64_t high = (uint64_t)uc->uc_mcontext.gregs[i] >> 16;
        if (high == 0xbebebebebebeULL || high == 0xdfdfdfdfdfdfULL)
            return 1;
    }
#else
    (void)ucv;
#endif
    return 0;
}

/* What the process dies of, under check mode, said with the faulting
 * access's stack before the default action ends it (a new user's program
 * crashed without a word): an access to memory the program does not
 * have, or a general protection fault, which carries no address.  Check
 * mode's likely part in the latter: a pointer loaded from its patterns
 * (a block's junk 0xbe.. or a freed block's 0xdf.., neither a valid
 * address), and under check=2 an access that needs 16-byte alignment (an
 * SSE load or store, movaps) to a block whose size is not a multiple of
 * 16, which check=2 aligns to 8 only when it ends at its guard page
 * (check_exact=1); both are named, the one the registers point to first. */
static void fault_note(int sig, const siginfo_t *si, const void *uc) {
    if (wdi_options.check == 0 || tl_in_fault || si->si_code <= 0)
        return;
    tl_in_fault = 1;
    tl_fault_pc = fault_pc(uc);
    const char *name = sig == SIGBUS ? "SIGBUS" : "SIGSEGV";
    static const char junk[] = "a pointer read from check mode's patterns (0xbebe... a block's "
                               "junk, 0xdfdf... a freed block's) is no valid address";
    static const char sse[] = "an aligned SSE load or store to a block whose size is not a "
                              "multiple of 16 faults so (check_exact=1 aligns such a block to 8; "
                              "check_exact=0 aligns every block to 16)";
    /* check=1 aligns every block to 16: what else faults so is the
     * program's own (it once named the patterns alone, wrongly for a wild
     * pointer) */
    static const char wild[] = "an address that is not canonical (a wild pointer), or an aligned "
                               "SSE load or store to an address that is not a multiple of 16";
    if (sig == SIGSEGV && si->si_code == SI_KERNEL) {
        /* the likelier cause first: a register that holds a pattern's word
         * (plus an offset) tells a pointer read from a block */
        int from_pattern = pattern_in_registers(uc);
        const char *other = wdi_options.check < 2 ? wild : sse;
        wdi_report_begin("%s: general protection fault at 0x%zx: %s; or %s", name,
                         (size_t)tl_fault_pc, from_pattern ? junk : other,
                         from_pattern ? other : junk);
    } else
        wdi_report_begin("%s: an access to 0x%zx at 0x%zx, %s: the process dies of it", name,
                         (size_t)si->si_addr, (size_t)tl_fault_pc,
                         sig == SIGSEGV && si->si_code == SEGV_ACCERR
                             ? "where the memory may not be accessed so (read-only, or closed)"
                             : "where no memory of the program's lies");
    wdi_fault_report_stack();
    wdi_report_end();
    tl_in_fault = 0;
}

static int is_ours(const struct sigaction *sa);

/* The program's handler goes: what it handed on reaches the default
 * action (behind warden's handler there is nothing else). */
static void chained_forget(int sig) {
    struct sigaction *p = chained_for(sig);
    memset(p, 0, sizeof *p);
    p->sa_handler = SIG_DFL;
}

/* After the program's handler returned: when it put back the handler it
 * had replaced, warden's, and sent itself the signal again (the usual end
 * of a crash handler: Python's faulthandler, crash reporters), it meant
 * the signal for what was there before it, which behind warden's is the
 * default action.  Without this the pending signal came back to warden's
 * handler, which handed it to the program's again, for ever. */
static void chained_returned(int sig) {
    sigset_t pending;
    struct sigaction cur;
    if (sigpending(&pending) == 0 && sigismember(&pending, sig) &&
        sigaction(sig, NULL, &cur) == 0 && is_ours(&cur))
        chained_forget(sig);
}

/* Hands a fault that is not warden's to what the program had: its
 * handler, or the default action (restored, then the access is retried
 * and faults again, or for a signal sent by kill, raised again), after
 * check mode's note on what the process dies of unless `noted`.  A
 * handler installed with SA_RESETHAND is called once, as the kernel would
 * call it: the program's disposition becomes the default first.  A crash
 * handler of that kind (LLVM's) puts back the handler it replaced, which
 * in front of it was warden's, and returns for the fault to happen again
 * and kill the process: warden's then chained to it for ever (clang under
 * check=2 spun in this handler until it was killed).  One that sends
 * itself the signal again is seen to when it returns (chained_returned). */
static void chain(int sig, siginfo_t *si, void *uc, int noted) {
    struct sigaction h = *chained_for(sig);
    if (h.sa_flags & SA_RESETHAND)
        chained_forget(sig);
    if ((h.sa_flags & SA_SIGINFO) && h.sa_sigaction != NULL) {
        h.sa_sigaction(sig, si, uc);
        chained_returned(sig);
        return;
    }
    if (!(h.sa_flags & SA_SIGINFO) && h.sa_handler != SIG_DFL && h.sa_handler != SIG_IGN) {
        h.sa_handler(sig);
        chained_returned(sig);
        return;
    }
    if (!noted)
        fault_note(sig, si, uc);
    void (*words)(int) = atomic_load_explicit(&last_words, memory_order_acquire);
    if (words != NULL && !tl_in_fault)
        words(sig);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (si->si_code <= 0) /* sent, not a fault: retrying would not repeat it */
        raise(sig);
}

static int fault_is_write(const void *ucv) {
#if defined(__x86_64__) && defined(__linux__)
    const ucontext_t *uc = ucv;
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0; /* page fault error code: W/R */
#else
    (void)ucv;
    return -1;
#endif
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
    int saved = errno;
    wd_fault_claim_t claim = atomic_load_explicit(&fault_claim, memory_order_acquire);
    /* A fault inside warden's own report of a fault is not claimed again. */
    if (claim != NULL && !tl_in_fault && si->si_code > 0) {
        tl_in_fault = 1;
        wd_fault_t f = {(uintptr_t)si->si_addr, fault_pc(uc), fault_is_write(uc)};
        tl_fault_pc = f.pc;
        int mine = claim(&f);
        tl_in_fault = 0;
        if (mine == 1) {
            atomic_fetch_add_explicit(&claimed, 1, memory_order_relaxed);
            errno = saved;
            return;
        }
        if (mine == WD_FAULT_FATAL) {
            chain(sig, si, uc, 1);
            errno = saved;
            return;
        }
    }
    chain(sig, si, uc, 0);
    errno = saved;
}

static int is_ours(const struct sigaction *sa) {
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_fault;
}

/* Puts the handler in front for sig, keeping what the kernel says was
 * there, unless it is warden's own: two threads may both have found it
 * missing, and the second must not chain to the first's.  No lock (a
 * fork child could inherit it held): the swap itself is the kernel's. */
static void install(int sig) {
    struct sigaction cur, old;
    if (sigaction(sig, NULL, &cur) != 0 || is_ours(&cur))
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) == 0 && !is_ours(&old))
        *chained_for(sig) = old;
}

/* The calling thread's own alternate stack, unless it has one already. */
static void alt_stack_here(void) {
    tl_alt_checked = 1;
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
        return;
    size_t page = wdi_os_page_size();
    void *mem;
    if (wdi_os_map(ALT_STACK + page, &mem) != 0)
        return;
    wdi_os_protect(mem, page, WD_PROT_NONE); /* a handler that overflows faults */
    stack_t ss = {.ss_sp = (uint8_t *)mem + page, .ss_size = ALT_STACK, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        wdi_os_unmap(mem, ALT_STACK + page);
        return;
    }
    tl_alt = mem;
}

void wdi_fault_last_words(void (*fn)(int sig)) {
    atomic_store_explicit(&last_words, fn, memory_order_release);
}

void wdi_fault_arm(wd_fault_claim_t claim) {
    atomic_store_explicit(&fault_claim, claim, memory_order_release);
    install(SIGSEGV);
    install(SIGBUS);
    if (!tl_alt_checked)
        alt_stack_here();
}

void wdi_fault_arm_thread(wd_fault_claim_t claim) {
    if (wd_unlikely(!tl_alt_checked))
        wdi_fault_arm(claim);
}


void wdi_fault_thread_exit(void) {
    if (tl_alt == NULL)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    if (sigaltstack(&ss, NULL) == 0)
        wdi_os_unmap(tl_alt, ALT_STACK + wdi_os_page_size());
    tl_alt = NULL;
}

uint64_t wdi_fault_count(void) { return atomic_load_explicit(&claimed, memory_order_relaxed); }
