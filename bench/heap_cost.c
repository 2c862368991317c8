/* heap_cost.c -- the classic heap's workloads, for instruction counts.
 *
 *   heap_cost pair|mix|worst [--naive]   one workload, for callgrind
 *   heap_cost fill                       fill, fragmentation, stack, natively
 *   heap_cost steps [--naive] [N]        every single call of the pair and
 *                                        the worst case, the last N calls of
 *                                        the mix (default 20,000), each
 *                                        single-stepped: worst call, stack
 *                                        (HEAP_COST_DUMP=1: the address of
 *                                        every instruction of the 50th call,
 *                                        on stderr, to read beside objdump)
 *
 * bench/heap_cost.sh runs each workload under callgrind with
 * --toggle-collect on the heap's entry points (WARDEN_VALGRIND=0, so that
 * the native path is counted) and divides by the calls this program
 * reports.  --naive runs the same sequence on the naive first-fit heap
 * below (the tutorial's: walk the ranges from the start).
 *
 *   pair   1 MiB heap with 1,000 free holes (16-2047 B), then 100,000
 *          malloc(4000) + free pairs (the naive heap, which walks: 10,000)
 *   mix    1 MiB heap, sizes 16-2047 B log-uniform, kept about 50 % full,
 *          1,000,000 calls (about half malloc, half free; the naive heap,
 *          which walks, the first 100,000 of them)
 *   worst  N = 5,000 free ranges of 1040 B in one class, nothing else
 *          free, then 1,000 malloc(1056) that none of them can hold
 *   fill   malloc of random sizes on a fresh 1 MiB heap until the first
 *          failure (bytes requested / heap); after the 1M-call mix, the
 *          largest block that malloc serves / free bytes; the largest
 *          block in a 4 KiB array.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <warden/heap.h>

#include "xorshift.h"

/* Under callgrind, the measured phase starts with its counters zeroed. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define PHASE_START() CALLGRIND_ZERO_STATS
#endif
#endif
#ifndef PHASE_START
#define PHASE_START() ((void)0)
#endif
static int tracing_wanted;
#define MEASURE()                                                              \
    do {                                                                       \
        PHASE_START();                                                         \
        tracing = tracing_wanted;                                              \
    } while (0)

/* ---- the naive first-fit heap: 16-byte headers, info word as warden's --- */

typedef struct naive { uint8_t *first, *end; } naive_t;
#define NAIVE_ALLOC ((uint64_t)1 << 63)

__attribute__((noinline)) static void *naive_malloc(naive_t *n, size_t size) {
    size_t need = (size + 16 + 15) & ~(size_t)15;
    for (uint8_t *at = n->first; at < n->end;) {
        uint64_t *info = (uint64_t *)(void *)(at + 8);
        size_t have = (size_t)(*info & ~NAIVE_ALLOC);
        if (!(*info & NAIVE_ALLOC) && have >= need) {
            if (have - need >= 32) {
                *(uint64_t *)(void *)(at + need + 8) = have - need;
                have = need;
            }
            *info = NAIVE_ALLOC | have;
            return at + 16;
        }
        at += have;
    }
    return NULL;
}

/* Frees and merges with the next range when it is free (no boundary tags:
 * a free range before it stays apart, as in the tutorial). */
__attribute__((noinline)) static void naive_free(naive_t *n, void *p) {
    if (p == NULL)
        return;
    uint64_t *info = (uint64_t *)(void *)((uint8_t *)p - 8);
    size_t size = (size_t)(*info & ~NAIVE_ALLOC);
    uint8_t *next = (uint8_t *)p - 16 + size;
    if (next < n->end) {
        uint64_t ninfo = *(uint64_t *)(void *)(next + 8);
        if (!(ninfo & NAIVE_ALLOC))
            size += (size_t)ninfo;
    }
    *info = size;
}

static naive_t *naive_init(void *mem, size_t size) {
    static naive_t n;
    n.first = (uint8_t *)(((uintptr_t)mem + 15) & ~(uintptr_t)15);
    n.end = (uint8_t *)mem + (size & ~(size_t)15);
    *(uint64_t *)(void *)(n.first + 8) = (uint64_t)(n.end - n.first);
    return &n;
}

/* ---- one interface over both ------------------------------------------- */

static int use_naive;
static wd_heap_t *heap;
static naive_t *nheap;

static void h_init(void *mem, size_t size) {
    if (use_naive)
        nheap = naive_init(mem, size);
    else
        heap = wd_heap_init_seeded(mem, size, 1);
}
/* Under `steps`, each call of the measured phase is announced by an int3
 * that the tracing parent catches (see steps_trace). */
static int tracing;
static long trace_skip, trace_left; /* calls to let pass, then to trace */
static inline void trace_mark(void) {
    if (tracing && trace_skip > 0)
        trace_skip--;
    else if (tracing && trace_left > 0) {
        trace_left--;
        __asm__ volatile("int3");
    }
}

static void *h_malloc(size_t n) {
    trace_mark();
    return use_naive ? naive_malloc(nheap, n) : wd_heap_malloc(heap, n);
}
static void h_free(void *p) {
    trace_mark();
    if (use_naive)
        naive_free(nheap, p);
    else
        wd_heap_free(heap, p);
}

static size_t draw(void) { /* 16..2047, log-uniform */
    size_t base = (size_t)16 << (rnd() % 7);
    return base + (size_t)(rnd() % base);
}

static _Alignas(64) unsigned char mem1m[1 << 20];
static unsigned long n_malloc, n_free;

static void work_pair(void) {
    h_init(mem1m, sizeof mem1m);
    void *keep[2000];
    for (int i = 0; i < 2000; i++)
        keep[i] = h_malloc(draw());
    for (int i = 0; i < 2000; i += 2)
        h_free(keep[i]);
    n_malloc = n_free = 0;
    MEASURE();
    for (int i = 0; i < (use_naive ? 10000 : 100000); i++) {
        void *p = h_malloc(4000);
        h_free(p);
        n_malloc++, n_free++;
    }
}

enum { SLOTS = 8192 };
static void *live[SLOTS];
static size_t live_size[SLOTS];

static size_t run_mix(long calls) {
    size_t used = 0, nlive = 0;
    for (long i = 0; i < calls; i++) {
        if (used < sizeof mem1m / 2 || nlive == 0) {
            size_t n = draw();
            void *p = h_malloc(n);
            n_malloc++;
            if (p == NULL)
                continue;
            live[nlive] = p;
            live_size[nlive++] = n;
            used += n;
        } else {
            size_t j = (size_t)(rnd() % nlive);
            h_free(live[j]);
            n_free++;
            used -= live_size[j];
            live[j] = live[--nlive];
            live_size[j] = live_size[nlive];
        }
    }
    return nlive;
}

/* The naive heap walks its ranges: 100,000 calls of the same sequence. */
static void work_mix(void) {
    h_init(mem1m, sizeof mem1m);
    MEASURE();
    run_mix(use_naive ? 100000 : 1000000);
}

static void work_worst(void) {
    size_t n = 5000, size = n * 1100 + (1 << 16);
    unsigned char *mem = malloc(size);
    h_init(mem, size);
    void **holes = malloc(n * sizeof *holes);
    for (size_t i = 0; i < n; i++) {
        holes[i] = h_malloc(1024);
        h_malloc(16);
    }
    while (h_malloc(4096) != NULL) /* nothing else free ... */
        ;
    for (size_t sz = 2048; sz >= 16; sz /= 2)
        while (h_malloc(sz) != NULL)
            ;
    for (size_t i = 0; i < n; i++)
        h_free(holes[i]);
    n_malloc = n_free = 0;
    MEASURE();
    for (int i = 0; i < 1000; i++) {
        if (h_malloc(1056) != NULL) {
            fprintf(stderr, "worst: malloc(1056) succeeded\n");
            exit(1);
        }
        n_malloc++;
    }
}

/* The largest request that succeeds, by bisection (each probe freed). */
static size_t largest_block(void) {
    size_t lo = 0, hi = sizeof mem1m;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        void *p = h_malloc(mid);
        if (p) {
            h_free(p);
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

static void fill_figures(void) {
    h_init(mem1m, sizeof mem1m);
    size_t requested = 0;
    for (;;) {
        size_t n = draw();
        if (h_malloc(n) == NULL)
            break;
        requested += n;
    }
    printf("fill of a fresh 1 MiB heap before the first failure: %.1f %% (bytes requested / heap)\n",
           100.0 * (double)requested / (double)sizeof mem1m);
    h_init(mem1m, sizeof mem1m);
    run_mix(1000000);
    wd_heap_stats_t st;
    wd_heap_stats(heap, &st);
    size_t big = largest_block();
    printf("after the 1M-call mix: largest block %zu B, free %zu B (in %zu ranges): %.1f %%\n", big,
           st.free_bytes, st.free_blocks, 100.0 * (double)(big + 16) / (double)st.free_bytes);
    static _Alignas(16) unsigned char mem4k[4096];
    wd_heap_t *h4 = wd_heap_init_seeded(mem4k, sizeof mem4k, 1);
    wd_heap_stats(h4, &st);
    void *p = wd_heap_malloc(h4, st.largest_free);
    printf("largest block in a 4 KiB array, control block inside: %zu B (%s)\n", st.largest_free,
           p ? "allocated" : "FAILED");
}

/* Stack depth: the 1M-call mix runs on a stack of its own, painted first;
 * the deepest byte touched, less the same loop's depth with calls to an
 * empty function of the same shape, is what malloc and free use below
 * their caller (the return address included). */
static ucontext_t main_ctx, op_ctx;
static _Alignas(64) unsigned char op_stack[1 << 16];
static int stack_dummy;

__attribute__((noinline)) static void *dummy_malloc(size_t n) {
    __asm__ volatile("" ::"r"(n));
    return (void *)&stack_dummy;
}
__attribute__((noinline)) static void dummy_free(void *p) { __asm__ volatile("" ::"r"(p)); }

static void stack_run(void) {
    size_t nlive = 0;
    for (long i = 0; i < 1000000; i++) {
        if (nlive < 1000) {
            void *p = stack_dummy ? dummy_malloc(draw()) : h_malloc(draw());
            if (p)
                live[nlive++] = p;
        } else {
            size_t j = (size_t)(rnd() % nlive);
            if (stack_dummy)
                dummy_free(live[j]);
            else
                h_free(live[j]);
            live[j] = live[--nlive];
        }
    }
}

static size_t stack_depth(int dummy) {
    stack_dummy = dummy;
    memset(op_stack, 0xa5, sizeof op_stack);
    getcontext(&op_ctx);
    op_ctx.uc_stack.ss_sp = op_stack;
    op_ctx.uc_stack.ss_size = sizeof op_stack;
    op_ctx.uc_link = &main_ctx;
    makecontext(&op_ctx, stack_run, 0);
    swapcontext(&main_ctx, &op_ctx);
    size_t i = 0;
    while (i < sizeof op_stack && op_stack[i] == 0xa5)
        i++;
    return sizeof op_stack - i;
}

static void stack_figures(void) {
    h_init(mem1m, sizeof mem1m);
    size_t with = stack_depth(0), base = stack_depth(1);
    printf("stack used by malloc and free below their caller (1M-call mix): %zu bytes\n",
           with - base + 8);
}

/* ---- steps: instructions of each single call, by single-stepping ------- */

/* The parent single-steps the child through each announced call: from the
 * entry of the heap's malloc or free (same binary, same addresses: fork
 * without exec) to the return address found on the stack there.  It keeps
 * the largest count and the deepest stack pointer of each function. */
typedef struct step_stats {
    unsigned long calls, total, max, depth;
} step_stats_t;

static int step_to(pid_t pid, struct user_regs_struct *regs) {
    int status;
    if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) != 0 || waitpid(pid, &status, 0) != pid ||
        !WIFSTOPPED(status))
        return -1;
    return ptrace(PTRACE_GETREGS, pid, 0, regs) == 0 ? 0 : -1;
}

static void steps_trace(pid_t pid, uintptr_t fmalloc, uintptr_t ffree, step_stats_t st[2]) {
    int status;
    waitpid(pid, &status, 0); /* the child's SIGSTOP */
    for (;;) {
        if (ptrace(PTRACE_CONT, pid, 0, 0) != 0 || waitpid(pid, &status, 0) != pid ||
            !WIFSTOPPED(status))
            return; /* exited */
        struct user_regs_struct regs;
        int which = -1;
        for (int i = 0; i < 64 && which < 0; i++) { /* into the call */
            if (step_to(pid, &regs) != 0)
                return;
            which = regs.rip == fmalloc ? 0 : regs.rip == ffree ? 1 : -1;
        }
        if (which < 0)
            continue;
        unsigned long sp0 = regs.rsp, low = regs.rsp, n = 1;
        unsigned long ret = (unsigned long)ptrace(PTRACE_PEEKDATA, pid, (void *)sp0, 0);
        static int dump = -1;
        if (dump < 0)
            dump = getenv("HEAP_COST_DUMP") != NULL;
        while (step_to(pid, &regs) == 0 && !(regs.rip == ret && regs.rsp > sp0)) {
            if (dump && st[which].calls == 50)
                fprintf(stderr, "rip %llx\n", (unsigned long long)regs.rip);
            n++;
            low = regs.rsp < low ? regs.rsp : low;
        }
        st[which].calls++;
        st[which].total += n;
        st[which].max = n > st[which].max ? n : st[which].max;
        st[which].depth = sp0 - low + 8 > st[which].depth ? sp0 - low + 8 : st[which].depth;
    }
}

static void steps(const char *work, void (*run)(void), long skip, long calls) {
    uintptr_t fmalloc = use_naive ? (uintptr_t)naive_malloc : (uintptr_t)wd_heap_malloc;
    uintptr_t ffree = use_naive ? (uintptr_t)naive_free : (uintptr_t)wd_heap_free;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        tracing_wanted = 1;
        trace_skip = skip;
        trace_left = calls;
        run();
        _exit(0);
    }
    step_stats_t st[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    steps_trace(pid, fmalloc, ffree, st);
    int status;
    waitpid(pid, &status, 0);
    for (int i = 0; i < 2; i++)
        if (st[i].calls)
            printf("%-6s %-6s %-6s single-stepped %7lu calls: mean %7.1f, worst %6lu instructions; "
                   "stack %lu B\n",
                   work, use_naive ? "naive" : "warden", i ? "free" : "malloc", st[i].calls,
                   (double)st[i].total / (double)st[i].calls, st[i].max, st[i].depth);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    use_naive = argc > 2 && strcmp(argv[2], "--naive") == 0;
    if (strcmp(mode, "steps") == 0) {
        long calls = argc > 3 ? atol(argv[3]) : 20000;
        use_naive = argc > 2 && strcmp(argv[2], "--naive") == 0;
        /* the mix: its last calls, once the heap is in its steady state */
        steps("pair", work_pair, 0, use_naive ? 20 : 200);
        steps("mix", work_mix, (use_naive ? 100000 : 1000000) - calls, calls);
        steps("worst", work_worst, 0, use_naive ? 20 : 200);
        return 0;
    }
    if (strcmp(mode, "pair") == 0)
        work_pair();
    else if (strcmp(mode, "mix") == 0)
        work_mix();
    else if (strcmp(mode, "worst") == 0)
        work_worst();
    else if (strcmp(mode, "fill") == 0) {
        fill_figures();
        stack_figures();
    }
    else {
        fprintf(stderr, "usage: heap_cost pair|mix|worst [--naive] | fill\n");
        return 2;
    }
    if (strcmp(mode, "fill") != 0)
        printf("calls: malloc %lu free %lu\n", n_malloc, n_free);
    return 0;
}
