/* test_unwind.c -- the fast stack walk (src/debug/unwind.c) gives the
 * stack libgcc's unwinder gives, frame by frame.
 *
 * A walk is a random chain of 0..40 levels, each one of: a plain -O2
 * frame, a frame with a variable-length array or alloca (RBP-based even
 * at -O2), a 20 KB frame (an RSP offset beyond 16 bits), -O0 frames
 * (test_unwind_o0.c), libc's qsort_r calling back from its comparator, a
 * shared library calling back (unwind_lib.c), an entry point whose return
 * address a capture_from names, a tail call.  At its end the stack is
 * captured twice, by warden (wdi_stack_capture or wdi_stack_capture_from,
 * random skip and max) and by libgcc's _Unwind_Backtrace as stack.c made
 * every capture before, and the two must be equal:
 *
 *   - 8 threads at once on a cold cache, then the main thread, then a
 *     fork child;
 *   - the fast walk is really taken: no capture fell back to libgcc and
 *     no rule was one it cannot follow; the main thread's walks again
 *     compute no new rule (the cache holds them);
 *   - frames it cannot follow (a realigned frame whose CFA is a DWARF
 *     expression, a signal handler's, one without unwind information):
 *     those captures fall back to libgcc, and the stacks are still equal;
 *   - check mode's wdi_stack_id_here, with and without the thread's memo
 *     of its walks, gives the id of the stack wdi_stack_capture got; and
 *     with a memo always asked with the same arguments (which keeps walks
 *     of many stacks from one place, and is filled and emptied many
 *     times), the id of a fresh walk, also for stacks that differ in one
 *     word only, at depths 0 to 40.
 *
 * test_unwind.c is built with -O2 whatever the build type. */
#define _GNU_SOURCE
#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unwind.h>

#include "test.h"
#include "test_unwind.h"
#include "warden.h"

#include "debug/stack.h"
#include "debug/symbol.h"
#include "debug/unwind.h"

#define NOINLINE __attribute__((noinline))
/* Keeps a frame and what p points to: the compiler must assume the asm
 * reads p's memory. */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")
#define MAXF 128

#define THREADS 8
#define THREAD_WALKS 3000
#define MAIN_WALKS 4000
#define FORK_WALKS 200
#define SLOW_WALKS 2000

/* --- the reference: libgcc's walk --------------------------------------------- */

/* As stack.c captured before the fast walk: the same skip and entry point
 * rules, the same + 1 for an address interrupted by a signal. */
typedef struct ref_walk_s {
    void **pcs;
    int max, n, skip;
    uintptr_t first;
} ref_walk_t;

static _Unwind_Reason_Code ref_frame(struct _Unwind_Context *ctx, void *arg) {
    ref_walk_t *w = arg;
    int before_insn = 0;
    uintptr_t pc = _Unwind_GetIPInfo(ctx, &before_insn);
    if (pc == 0)
        return _URC_END_OF_STACK;
    if (before_insn)
        pc++;
    if (w->skip > 0) {
        w->skip--;
        return _URC_NO_REASON;
    }
    if (w->first != 0 && pc == w->first) {
        w->n = 0;
        w->first = 0;
    }
    if (w->n < w->max)
        w->pcs[w->n++] = (void *)pc;
    else if (w->first == 0)
        return _URC_END_OF_STACK;
    return _URC_NO_REASON;
}

NOINLINE static int ref_capture(void **pcs, int max, int skip) {
    ref_walk_t w = {pcs, max, 0, skip + 1, 0};
    _Unwind_Backtrace(ref_frame, &w);
    return w.n;
}

/* *found: whether a frame returned to first. */
NOINLINE static int ref_capture_from(void **pcs, int max, const void *first, int *found) {
    ref_walk_t w = {pcs, max, 0, 1, (uintptr_t)first};
    _Unwind_Backtrace(ref_frame, &w);
    *found = w.first == 0;
    return w.n;
}

/* --- comparing ------------------------------------------------------------------ */

static atomic_long stacks_compared, frames_compared;

static void print_stack(const char *who, void *const *pcs, int n) {
    fprintf(stderr, "%s, %d frames:\n", who, n);
    for (int i = 0; i < n; i++) {
        Dl_info info;
        int named = dladdr(pcs[i], &info) && info.dli_sname != NULL;
        fprintf(stderr, "  #%d %p %s\n", i, pcs[i], named ? info.dli_sname : "?");
    }
}

/* Frames from .. n of both stacks must be equal, and so must their
 * lengths. */
static void expect_same(const char *what, void *const *fast, int nf, void *const *ref, int nr,
                        int from) {
    int same = nf == nr;
    for (int i = from; same && i < nf; i++)
        same = fast[i] == ref[i];
    if (!same) {
        fprintf(stderr, "%s: the fast walk and libgcc's differ\n", what);
        print_stack("fast", fast, nf);
        print_stack("libgcc", ref, nr);
        exit(1);
    }
    atomic_fetch_add(&stacks_compared, 1);
    atomic_fetch_add(&frames_compared, nf - from);
}

/* The thread's memory of its walks, as check mode keeps one per thread. */
static __thread wd_stack_memo_t memo;
static atomic_long ids_compared;

/* A memo always asked with the same arguments, as check mode asks its
 * own: it keeps the walks of every stack that reaches this place, chained
 * by where they start, and forgets them all when it is full. */
static __thread wd_stack_memo_t memo_fixed;

/* Its ids are those of fresh walks from the same frame, twice (the second
 * time at least from the memo).  site: which caller (kept, so that
 * callers with different sites are different code). */
NOINLINE static void compare_fixed_ids(int site) {
    KEEP(&site);
    uint32_t want = wdi_stack_id_here(NULL, 1, WD_STACK_MAX, WD_STACK_MAX, 0, 0);
    for (volatile int i = 0; i < 2; i++) {
        uint32_t got = wdi_stack_id_here(&memo_fixed, 1, WD_STACK_MAX, WD_STACK_MAX, 0, 0);
        if (got != want) {
            void *pcs[WD_STACK_MAX];
            fprintf(stderr, "wdi_stack_id_here (fixed memo): id %u, a fresh walk's %u\n", got,
                    want);
            print_stack("fresh walk", pcs, wdi_stack_load(want, pcs, WD_STACK_MAX));
            print_stack("memo", pcs, wdi_stack_load(got, pcs, WD_STACK_MAX));
            exit(1);
        }
    }
    atomic_fetch_add(&ids_compared, 2);
}

/* wdi_stack_id_here, called from the same frame as the capture (so with
 * the same skip it walks the same frames), gives the id of the stack the
 * capture got: without a memo, and twice with the thread's memo (the
 * second time at least is remembered, the first may be a walk
 * remembered from another stack at the same place, which must not match). */
NOINLINE static void compare_ids(void *const *fast, int nf, int max, int skip) {
    uint32_t want = wdi_stack_save(fast, nf);
    int m = max < WD_STACK_MAX ? max : WD_STACK_MAX;
    CHECK(want != 0);
    for (volatile int i = 0; i < 3; i++) {
        uint32_t got = wdi_stack_id_here(i == 0 ? NULL : &memo, skip + 1, m, m, 0, 0);
        if (got != want) {
            fprintf(stderr, "wdi_stack_id_here (%s): id %u, the capture's %u\n",
                    i == 0 ? "no memo" : "memo", got, want);
            print_stack("capture", fast, nf);
            exit(1);
        }
    }
    atomic_fetch_add(&ids_compared, 3);
    compare_fixed_ids(0);
}

/* The same frames, depth deep, above compare_fixed_ids, called from one
 * of two places below them: odd sites from one, even from the other. */
NOINLINE static void common_frames(int depth, int site) {
    if (depth > 0)
        common_frames(depth - 1, site);
    else if (site & 1)
        compare_fixed_ids(site);
    else
        compare_fixed_ids(site + 100);
    KEEP(&depth);
}

/* Stacks that differ in one word, at the same place: sites 1 and 2 in
 * the return address into common_frames at depth 0 (the first word after
 * the capture's own), sites 1 and 3 in the return address into this
 * function, depth + 1 words further (or in none, when the walk stops at
 * WD_STACK_MAX frames before it).  Taken in turn, at depths up to 40, so
 * that the fixed memo holds each beside the others: a memo that does not
 * compare every word, the last one too, gives one the id of another. */
NOINLINE static void test_one_word(void) {
    for (int depth = 0; depth <= 40; depth++)
        for (int r = 0; r < 9; r++) {
            if (r % 3 == 2) {
                common_frames(depth, 3);
                KEEP(&r);
            } else {
                common_frames(depth, 1 + r % 3);
            }
        }
}

/* A random max: mostly all frames, one time in four a short stack. */
static int max_of(uint32_t seed) { return seed % 4 == 0 ? 1 + (int)((seed >> 2) % MAXF) : MAXF; }

/* Both captures skip this function's frame (their return addresses in it
 * differ) and 0..2 more. */
NOINLINE static void compare_here(uint32_t seed) {
    void *fast[MAXF], *ref[MAXF];
    int max = max_of(seed), skip = 1 + (int)((seed >> 12) % 3);
    int nf = wdi_stack_capture(fast, max, skip);
    int nr = ref_capture(ref, max, skip);
    expect_same("wdi_stack_capture", fast, nf, ref, nr, 0);
    compare_ids(fast, nf, max, skip);
    KEEP(fast);
}

/* An address that is no return address. */
#define NOT_ON_STACK ((const void *)1)

/* With `first` on the stack, both start at the frame it returns into;
 * without (or beyond where the walks end), at their own return addresses
 * into this function, which differ: frame 0 is then not compared. */
NOINLINE static void compare_from(const void *first, uint32_t seed) {
    void *fast[MAXF], *ref[MAXF];
    int max = max_of(seed), found;
    int nf = wdi_stack_capture_from(fast, max, first);
    int nr = ref_capture_from(ref, max, first, &found);
    expect_same("wdi_stack_capture_from", fast, nf, ref, nr, !found);
    KEEP(fast);
}

/* The innermost entry point's return address (k_entry), for capture_from. */
static __thread const void *entry_ret;

static void leaf(uint32_t seed) {
    switch ((seed >> 20) % 4) {
    case 0:
    case 1:
        compare_here(seed);
        break;
    case 2:
        compare_from(entry_ret != NULL ? entry_ret : NOT_ON_STACK, seed);
        break;
    default:
        compare_from(NOT_ON_STACK, seed);
    }
}

/* --- the levels of a walk ---------------------------------------------------------- */

static void walk(int depth, uint32_t seed);

NOINLINE static void k_plain(int depth, uint32_t seed) {
    walk(depth, seed);
    KEEP(&seed);
}

NOINLINE static void k_vla(int depth, uint32_t seed) {
    char vla[16 + (seed & 255)];
    KEEP(vla);
    walk(depth, seed);
    KEEP(vla);
}

NOINLINE static void k_alloca(int depth, uint32_t seed) {
    char *p = alloca(16 + (seed & 1023));
    KEEP(p);
    walk(depth, seed);
    KEEP(p);
}

NOINLINE static void k_big(int depth, uint32_t seed) {
    char big[20000];
    KEEP(big);
    walk(depth, seed);
    KEEP(big);
}

typedef struct call_back_s {
    int depth;
    uint32_t seed;
    int called;
} call_back_t;

/* qsort_r's comparator: the walk goes on from inside libc, once. */
static int by_value(const void *a, const void *b, void *arg) {
    call_back_t *c = arg;
    if (!c->called) {
        c->called = 1;
        walk(c->depth, c->seed);
    }
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

NOINLINE static void k_qsort(int depth, uint32_t seed) {
    int v[6] = {5, 3, 9, 1, (int)(seed & 7), 4};
    call_back_t c = {depth, seed, 0};
    qsort_r(v, 6, sizeof v[0], by_value, &c);
    CHECK(c.called && v[0] <= v[1]);
}

static void from_lib(void *arg) {
    call_back_t *c = arg;
    walk(c->depth, c->seed);
    KEEP(c);
}

NOINLINE static void k_lib(int depth, uint32_t seed) {
    call_back_t c = {depth, seed, 0};
    unwind_lib_call(1 + (int)(seed % 3), from_lib, &c);
    KEEP(&c);
}

/* A public entry point of warden would stand here. */
NOINLINE static void k_entry(int depth, uint32_t seed) {
    const void *outer = entry_ret;
    entry_ret = __builtin_return_address(0);
    walk(depth, seed);
    entry_ret = outer;
}

/* A tail call: this frame is gone by the time the walk goes on. */
NOINLINE static void k_tail(int depth, uint32_t seed) { walk(depth, seed); }

/* Aligned to 64 with a variable-length array: gcc keeps the incoming
 * stack pointer in a register (DRAP), and the CFA and the saved RBP are
 * DWARF expressions, which the fast walk leaves to libgcc. */
NOINLINE static void k_realign(int depth, uint32_t seed) {
    char aligned[64] __attribute__((aligned(64)));
    char vla[8 + (seed & 63)];
    KEEP(aligned);
    KEEP(vla);
    walk(depth, seed);
    KEEP(aligned);
    KEEP(vla);
}

/* A signal handler's frame returns into the kernel's signal return
 * trampoline, whose CIE says 'S'.  Not nested (ThreadSanitizer's handler
 * of a signal raised inside a handler never returns): a walk inside the
 * handler takes a plain frame instead.  What the handler reads is
 * volatile: glibc declares raise a leaf function, so the compiler may
 * assume it never calls back into this file and drop the stores before
 * it. */
static __thread volatile int signal_depth = -1; /* -1: not in the handler */
static __thread volatile uint32_t signal_seed;

static void on_signal(int sig) {
    (void)sig;
    walk(signal_depth, signal_seed);
}

NOINLINE static void k_signal(int depth, uint32_t seed) {
    if (signal_depth >= 0) {
        k_plain(depth, seed);
        return;
    }
    signal_depth = depth;
    signal_seed = seed;
    raise(SIGUSR1);
    signal_depth = -1;
}

/* A function without unwind information, in assembly: no FDE holds the
 * return address into it, so both walks end there (libgcc after checking
 * that the code is not a signal return). */
void no_cfi_call(int depth, uint32_t seed, unwind_next_fn next);
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".type no_cfi_call, @function\n"
        "no_cfi_call:\n"
        "\tpush %rbp\n"
        "\tmov %rsp, %rbp\n"
        "\tcall *%rdx\n" /* next(depth, seed): rdi and rsi as they came */
        "\tpop %rbp\n"
        "\tret\n"
        ".size no_cfi_call, . - no_cfi_call\n"
        ".popsection\n");

enum {
    K_PLAIN,
    K_VLA,
    K_ALLOCA,
    K_BIG,
    K_O0,
    K_O0_VLA,
    K_QSORT,
    K_LIB,
    K_ENTRY,
    K_TAIL,
    FAST_KINDS, /* the kinds above are walked by the fast walk alone */
    K_REALIGN = FAST_KINDS,
    K_SIGNAL,
    K_NO_CFI,
    ALL_KINDS
};

/* How many kinds walks choose from in this thread. */
static __thread int kinds = FAST_KINDS;

static uint32_t next_seed(uint32_t x) { /* xorshift32: never 0 from non-zero */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

NOINLINE static void walk(int depth, uint32_t seed) {
    if (depth == 0) {
        leaf(seed);
        return;
    }
    seed = next_seed(seed);
    depth--;
    switch (seed % (uint32_t)kinds) {
    case K_PLAIN: k_plain(depth, seed); break;
    case K_VLA: k_vla(depth, seed); break;
    case K_ALLOCA: k_alloca(depth, seed); break;
    case K_BIG: k_big(depth, seed); break;
    case K_O0: o0_plain(depth, seed, walk); break;
    case K_O0_VLA: o0_vla(depth, seed, walk); break;
    case K_QSORT: k_qsort(depth, seed); break;
    case K_LIB: k_lib(depth, seed); break;
    case K_ENTRY: k_entry(depth, seed); break;
    case K_TAIL: k_tail(depth, seed); break;
    case K_REALIGN: k_realign(depth, seed); break;
    case K_SIGNAL: k_signal(depth, seed); break;
    default: no_cfi_call(depth, seed, walk); break;
    }
    KEEP(&seed);
}

/* count walks of 0..40 levels from seed. */
NOINLINE static void run_walks(uint32_t seed, int count) {
    for (int i = 0; i < count; i++) {
        seed = next_seed(seed);
        walk((int)(seed % 41), seed);
    }
}

/* --- the tests --------------------------------------------------------------------- */

static uint32_t seed0;
static pthread_barrier_t start;

static void *thread_main(void *arg) {
    pthread_barrier_wait(&start);
    run_walks(seed0 + 7919 * (uint32_t)(uintptr_t)arg, THREAD_WALKS);
    return NULL;
}

/* 8 threads at once, the first captures of the process: they race to
 * compute and keep the same rules. */
static void test_threads(void) {
    pthread_t th[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, thread_main, (void *)(uintptr_t)(t + 1)) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
}

/* The main thread's walks, twice from the same call site: no capture
 * needed libgcc, no rule was a slow one, and the second time computes no
 * rule: they are all kept. */
static void test_fast_path_taken(void) {
    wdi_unwind_counts_t counts[2];
    volatile int passes = 2; /* a loop the compiler cannot unroll: one call site */
    for (int pass = 0; pass < passes; pass++) {
        run_walks(seed0, MAIN_WALKS);
        wdi_unwind_counts(&counts[pass]);
    }
    const wdi_unwind_counts_t first = counts[0], again = counts[1];
    printf("rules computed %llu, slow %llu, evicted %llu; slow captures %llu\n",
           (unsigned long long)first.rules, (unsigned long long)first.slow_rules,
           (unsigned long long)first.evictions, (unsigned long long)wdi_stack_slow_captures());
    CHECK(first.rules > 0);
    CHECK_EQ(first.slow_rules, 0);
    CHECK_EQ(wdi_stack_slow_captures(), 0);
    CHECK_EQ(again.rules, first.rules);
}

static void fork_child(const void *arg) {
    (void)arg;
    run_walks(seed0 ^ 0x5a5a5a5a, FORK_WALKS);
    CHECK_EQ(wdi_stack_slow_captures(), 0);
}

/* The child of a threaded parent keeps the table and walks with it. */
static void test_fork(void) {
    char out[4096];
    int status = test_run_piped(fork_child, NULL, 0, NULL, 0, out, sizeof out);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "fork child: status 0x%x\n%s", (unsigned)status, out);
        exit(1);
    }
}

/* Realigned frames, signal frames and frames without unwind information
 * in the walks: captures through them fall back to libgcc and give its
 * stack. */
static void test_slow_frames(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    kinds = ALL_KINDS;
    uint64_t slow = wdi_stack_slow_captures();
    run_walks(seed0 ^ 0x3c3c3c3c, SLOW_WALKS);
    kinds = FAST_KINDS;
    wdi_unwind_counts_t c;
    wdi_unwind_counts(&c);
    printf("after walks through slow frames: slow rules %llu, slow captures %llu\n",
           (unsigned long long)c.slow_rules,
           (unsigned long long)(wdi_stack_slow_captures() - slow));
    CHECK(c.slow_rules >= 3 && wdi_stack_slow_captures() > slow); /* each kind met */
}

/* --- wdi_stack_cut_at ------------------------------------------------------- */

typedef struct {
    void *pcs[WD_STACK_MAX];
    int n;
} cut_walk_t;

static NOINLINE void cut_capture(cut_walk_t *w) {
    w->n = wdi_stack_capture(w->pcs, WD_STACK_MAX, 0);
}

static void *cut_thread(void *arg) {
    cut_capture(arg);
    return NULL;
}

/* The walk of w (taken with the cut) and of full (the same stack without
 * it): equal up to the first return address in the C library after one
 * outside it, where w ends; full goes on past it. */
static void expect_cut(const cut_walk_t *w, const cut_walk_t *full, uintptr_t lo, uintptr_t hi) {
    int end = 0;
    while (end < full->n && (uintptr_t)full->pcs[end] - lo >= hi - lo)
        end++; /* the test's own frames: none of them is libc's */
    CHECK(end >= 1 && end < full->n);
    CHECK_EQ(w->n, end + 1); /* ... and the first of the C library's */
    for (int i = 0; i < w->n; i++)
        CHECK(w->pcs[i] == full->pcs[i]);
    CHECK(full->n > w->n); /* without the cut, the walk went on into the library */
}

/* A thread's stack ends at its start routine's caller (start_thread), the
 * main thread's at main's (__libc_start_call_main), without the frames
 * the C library's unwind tables would be read for; check mode never asks
 * for the cut.  Last: the other tests compare whole walks with libgcc's. */
static void test_cut(void) {
    uintptr_t lo, hi;
    if (!wdi_symbol_libc_code(&lo, &hi)) {
        printf("skip: the C library is linked into the program\n");
        return;
    }
    cut_walk_t full[2], cut[2];
    pthread_t th;
    volatile int passes = 2; /* a loop the compiler cannot unroll: one call site */
    for (int pass = 0; pass < passes; pass++) {
        cut_walk_t *w = pass == 0 ? full : cut;
        if (pass == 1)
            wdi_stack_cut_at(lo, hi, 0, 0);
        CHECK(pthread_create(&th, NULL, cut_thread, &w[0]) == 0);
        pthread_join(th, NULL);
        cut_capture(&w[1]);
    }
    wdi_stack_cut_at(0, 0, 0, 0); /* off again */
    expect_cut(&cut[0], &full[0], lo, hi);
    expect_cut(&cut[1], &full[1], lo, hi);
    printf("cut at the C library: a thread's walk %d frames of %d, main's %d of %d\n", cut[0].n,
           full[0].n, cut[1].n, full[1].n);
}

int main(void) {
    (void)test_failures; /* every check here exits at once */
    seed0 = (uint32_t)test_seed() | 1;
    test_threads();
    test_fast_path_taken();
    test_fork();
    test_slow_frames();
    test_one_word();
    CHECK(memo_fixed.used > 1); /* it kept walks */
    test_cut();
    printf("ok: %ld stacks, %ld frames equal to libgcc's; %ld ids of wdi_stack_id_here equal "
           "to the captures'\n", atomic_load(&stacks_compared), atomic_load(&frames_compared),
           atomic_load(&ids_compared));
    return 0;
}
