/* guard_errors.c -- memory errors for the guard sampler and check=2
 * (test_guard.c runs it under LD_PRELOAD=libwarden.so with
 * WARDEN_OPTIONS=guard_sample=1, every allocation sampled, or check=2).
 * One case per run, named by argv[1]; each line a report must name
 * carries a marker comment (G_...).  Built -g -O0, not linked with warden.
 *
 * A sampled block is end-aligned or start-aligned, in turn, so the cases
 * that need one or the other make the error on two blocks in a row: the
 * first block that faults is the one reported. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* gcc sees these misuses and says so; they are what is tested. */
#pragma GCC diagnostic ignored "-Wuse-after-free"

static volatile char sink;

__attribute__((noinline)) static char *alloc64(void) {
    return malloc(64); /* G_ALLOC */
}

__attribute__((noinline)) static void overflow_one(char *p) {
    p[64] = 'x'; /* G_OVERFLOW: one byte past the end */
}

__attribute__((noinline)) static void underflow_one(char *p) {
    p[-1] = 'x'; /* G_UNDERFLOW: one byte before the start */
}

__attribute__((noinline)) static void read_past(char *p) {
    sink = p[64]; /* G_READ_PAST */
}

/* A block of the medium tier (16 KiB to 1 MiB). */
__attribute__((noinline)) static char *alloc_medium(void) {
    return malloc(300000); /* G_MEDIUM_ALLOC */
}

__attribute__((noinline)) static void overflow_medium(char *p) {
    p[300000] = 'x'; /* G_MEDIUM_OVERFLOW */
}

static void medium(void) {
    char *a = alloc_medium(), *b = alloc_medium();
    overflow_medium(a);
    overflow_medium(b);
    puts("medium: not caught");
}

static void overflow(void) {
    char *a = alloc64(), *b = alloc64();
    overflow_one(a);
    overflow_one(b);
    puts("overflow: not caught");
}

static void underflow(void) {
    char *a = alloc64(), *b = alloc64();
    underflow_one(a);
    underflow_one(b);
    puts("underflow: not caught");
}

static void overflow_read(void) {
    char *a = alloc64(), *b = alloc64();
    read_past(a);
    read_past(b);
    puts("overflow_read: not caught");
}

/* An array of ten ints (40 bytes, not a multiple of 16) read one past its
 * end: check=2 places it 8-byte aligned against its guard page, so the
 * read faults (16-byte aligned, it would land in 8 bytes of slack). */
__attribute__((noinline)) static int sum_one_past(const int *a) {
    int s = 0;
    for (int i = 0; i <= 10; i++)
        s += a[i]; /* G_READ_PAST40: a[10] */
    return s;
}

static void int_array_read(void) {
    int *a = malloc(10 * sizeof(int)); /* G_ALLOC40 */
    for (int i = 0; i < 10; i++)
        a[i] = i;
    sink = (char)sum_one_past(a);
    free(a);
    puts("int_array_read: not caught");
}

/* A collector's write barrier, correct: the program makes the whole pages
 * inside a live block of its own read-only and opens each one in its own
 * SIGSEGV handler when it is written.  warden's handler, in front of the
 * program's again once the next guarded block is made, must hand those
 * faults on (it once took them for an underflow and retried for ever). */
static char *barrier_lo, *barrier_hi;
static volatile int barrier_faults;

static void barrier_handler(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    char *a = si->si_addr;
    if (a >= barrier_lo && a < barrier_hi) {
        barrier_faults++;
        mprotect((void *)((uintptr_t)a & ~(uintptr_t)4095), 4096, PROT_READ | PROT_WRITE);
        return;
    }
    signal(SIGSEGV, SIG_DFL);
}

static void barrier(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = barrier_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    size_t n = 300000;
    char *heap = malloc(n);
    memset(heap, 0, n);
    barrier_lo = (char *)(((uintptr_t)heap + 4095) & ~(uintptr_t)4095);
    barrier_hi = (char *)(((uintptr_t)heap + n) & ~(uintptr_t)4095);
    mprotect(barrier_lo, (size_t)(barrier_hi - barrier_lo), PROT_READ);
    for (int i = 0; i < 10; i++)
        barrier_lo[i * 3 * 4096 + 100] = 1;
    mprotect(barrier_lo, (size_t)(barrier_hi - barrier_lo), PROT_READ | PROT_WRITE);
    free(heap);
    printf("barrier: %d faults\n", barrier_faults);
}

/* check=2: a block of 40 bytes aligned to 64 ends 24 bytes before its
 * guard page (the alignment's padding); a run of writes past its end
 * goes through the padding and faults at the page: one error, reported
 * there, not again at its free. */
__attribute__((noinline)) static void run_past(char *p) {
    for (int i = 0; i < 64; i++)
        p[40 + i] = 'x'; /* G_PAD_WRITE */
}

static void padding_overflow(void) {
    char *p;
    if (posix_memalign((void **)&p, 64, 40) != 0) /* G_PAD_ALLOC */
        return;
    memset(p, 1, 40);
    run_past(p);
    free(p);
    puts("padding_overflow: done");
}

/* check=2: a memset 20 bytes past a 100-byte block, whose last stores
 * write the slack before the guard page and fault on it: one error, at the
 * fault (the slack, written again when the store is retried, was counted a
 * second time at free before). */
__attribute__((noinline)) static void fill(char *p, size_t n) { memset(p, 'A', n); }

static void memset_overflow(void) {
    char *p = malloc(100); /* G_MEMSET_ALLOC */
    fill(p, 120);
    free(p);
    puts("memset_overflow: done");
}

/* check=2: a read loop that runs off a 13-byte block: reported at its
 * guard page, then at the next page (in no block) the process dies of the
 * fault as it would without warden, instead of a report at every page of
 * the guarded space. */
static void wild_walk(void) {
    char *s = malloc(13);
    memcpy(s, "hello, world", 13);
    size_t n = 0;
    while (((volatile char *)s)[n] != '!')
        n++;
    printf("wild_walk: found at %zu\n", n);
}

/* check=2: a list freed node by node, each next read after its node's
 * free: the freed pages read as the freed pattern, so the walk does not
 * stop at a null and leave the rest of the list for the leak report. */
struct node {
    struct node *next;
    int v;
};

static void list_walk(void) {
    struct node *head = NULL;
    for (int i = 0; i < 3; i++) {
        struct node *n = malloc(sizeof *n);
        n->next = head;
        n->v = i;
        head = n;
    }
    for (struct node *n = head; n != NULL; n = n->next)
        free(n);
    puts("list_walk: done");
}

/* check=2: 8 bytes written 32 before a 64-byte block, in the slack of its
 * first page before its 16-byte left redzone: found at free. */
static void underflow_far(void) {
    char *p = malloc(64); /* G_UFAR_ALLOC */
    char *volatile q = p;
    memset(q - 32, 0, 8);
    free(p); /* G_UFAR_FREE */
    puts("underflow_far: done");
}

/* check=2 with check_guard_live_mb=1: 300 live blocks of 40 bytes would
 * take 300 pages, so the last ones get check=1's redzones; a byte written
 * one past the last block is then found at its free, not at the write. */
#define LIVE_BLOCKS 300
static void live_bound(void) {
    static char *live[LIVE_BLOCKS];
    for (int i = 0; i < LIVE_BLOCKS; i++)
        live[i] = malloc(40); /* G_LIVE_ALLOC */
    live[LIVE_BLOCKS - 1][40] = 1; /* G_LIVE_WRITE */
    for (int i = 0; i < LIVE_BLOCKS; i++)
        free(live[i]); /* G_LIVE_FREE */
    puts("live_bound: not caught at the write");
}

/* The alignment of blocks (check=2): an alignment asked for is kept, a
 * malloc'd block is aligned to 8 or more (16 when its size is a multiple
 * of 16; 4 or more under 8 bytes).  Prints the first block that breaks a
 * rule, then a count. */
static void alignments(void) {
    size_t bad = 0;
    for (size_t n = 1; n <= 96; n++) {
        char *m = malloc(n);
        size_t want = n % 16 == 0 ? 16 : n >= 8 ? 8 : 4;
        if ((uintptr_t)m % want != 0 && bad++ == 0)
            printf("malloc(%zu) at %p: not %zu-byte aligned\n", n, (void *)m, want);
        free(m);
        void *q = NULL;
        if (posix_memalign(&q, 16, n) != 0 || (uintptr_t)q % 16 != 0) {
            if (bad++ == 0)
                printf("posix_memalign(16, %zu) at %p: not 16-byte aligned\n", n, q);
        }
        free(q);
        char *c = aligned_alloc(8, (n + 7) / 8 * 8);
        if ((uintptr_t)c % 8 != 0 && bad++ == 0)
            printf("aligned_alloc(8, %zu) at %p: not 8-byte aligned\n", n, (void *)c);
        free(c);
    }
    printf("alignments: %zu wrong\n", bad);
}

/* A 16-byte aligned store (movaps) into a 24-byte block, which check=2
 * aligns to 8 (check_exact=1): a general protection fault, which warden
 * names before the process dies of it.  With check_exact=0 the block is
 * 16-byte aligned and the store is fine. */
static void sse_odd_block(void) {
    char *p = malloc(24); /* G_SSE_ALLOC */
#if defined(__x86_64__)
    __asm__ volatile("xorps %%xmm0, %%xmm0\n\tmovaps %%xmm0, (%0)" /* G_SSE_STORE */
                     :
                     : "r"(p)
                     : "xmm0", "memory");
#else
    memset(p, 0, 16);
#endif
    free(p);
    puts("sse_odd_block: stored");
}

/* Crash handlers installed after warden's (blocks before and after, so
 * warden's goes in front again) that put back the handler they replaced
 * and leave the process to die of the fault, as without warden: LLVM's
 * (SA_RESETHAND, then it returns and the store faults again) and the
 * usual end of Python's faulthandler (it sends itself the signal again).
 * Each must run once: warden's handler once handed the fault back to it
 * for ever (clang and python3 -X faulthandler hung under check=2). */
static struct sigaction crash_old;
static volatile int crash_calls;
static int crash_raises;

static void crash_handler(int sig, siginfo_t *si, void *ctx) {
    (void)si;
    (void)ctx;
    if (++crash_calls == 1000)
        _exit(42); /* handed back again and again */
    static const char msg[] = "crash_handler: putting back the previous handler\n";
    if (crash_calls == 1 && write(1, msg, sizeof msg - 1) < 0)
        _exit(43);
    sigaction(sig, &crash_old, NULL);
    if (crash_raises)
        raise(sig);
}

static void crash_behind(int flags, int raises) {
    for (int i = 0; i < 50; i++)
        free(malloc(40 + (size_t)i));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    crash_raises = raises;
    sigaction(SIGSEGV, &sa, &crash_old);
    for (int i = 0; i < 50; i++)
        free(malloc(100 + (size_t)i));
    fflush(stdout);
    int *volatile q = NULL;
    *q = 1; /* G_CRASH_STORE */
    puts("crash handler: went on");
}

static void resethand(void) { crash_behind(SA_RESETHAND | SA_NODEFER | SA_ONSTACK, 0); }
static void reraise(void) { crash_behind(0, 1); }

/* Blocks of operator new (check=2), reached through the preloaded
 * library's exported symbol (this program is C): one of 16 bytes or more
 * must be 16-byte aligned, which compilers assume (clang zeroes a new'd
 * 24-byte struct with movaps, and clang died of it under check=2 until
 * 2026-12-07, when such a block was aligned to 8).  Each size from 16 to
 * 96, then the aligned store into a 24-byte one. */
static void new_alignments(void) {
    void *(*op_new)(size_t) = NULL;
    void (*op_delete)(void *) = NULL;
    void *sym_new = dlsym(RTLD_DEFAULT, "_Znwm"), *sym_delete = dlsym(RTLD_DEFAULT, "_ZdlPv");
    memcpy(&op_new, &sym_new, sizeof op_new);
    memcpy(&op_delete, &sym_delete, sizeof op_delete);
    if (op_new == NULL || op_delete == NULL) {
        puts("new_alignments: no operator new");
        return;
    }
    size_t bad = 0;
    for (size_t n = 16; n <= 96; n++) {
        char *p = op_new(n);
        if ((uintptr_t)p % 16 != 0 && bad++ == 0)
            printf("operator new(%zu) at %p: not 16-byte aligned\n", n, (void *)p);
        op_delete(p);
    }
    char *s = op_new(24);
#if defined(__x86_64__)
    __asm__ volatile("xorps %%xmm0, %%xmm0\n\tmovaps %%xmm0, (%0)" : : "r"(s) : "xmm0", "memory");
#else
    memset(s, 0, 16);
#endif
    op_delete(s);
    printf("new_alignments: %zu wrong, stored\n", bad);
}

/* A pointer never written, read from a new block: check mode's junk
 * (0xbebe...), no valid address, so the load through it is a general
 * protection fault, which warden names before the process dies of it. */
struct link {
    struct link *next;
};
__attribute__((noinline)) static void follow(struct link *l) {
    sink = (char)(uintptr_t)l->next->next; /* G_JUNK_LOAD */
}

static void junk_pointer(void) {
    struct link *l = malloc(sizeof *l);
    follow(l);
    free(l);
    puts("junk_pointer: followed");
}

/* A store through an address that is not canonical, no pattern's: a
 * general protection fault, which check mode names as a wild pointer
 * first. */
static void wild_pointer(void) {
    int *volatile q = (int *)(uintptr_t)0x8000000000000000ULL;
    *q = 1; /* G_WILD_STORE */
    puts("wild_pointer: stored");
}

/* A store through a null pointer: no block's, the process dies of it; check
 * mode says so with the store's stack first. */
static void null_store(void) {
    int *volatile q = NULL;
    *q = 1; /* G_NULL_STORE */
    puts("null_store: stored");
}

static void read_after_free(void) {
    char *p = alloc64();
    p[3] = 1;
    free(p); /* G_FREE */
    sink = p[3]; /* G_READ_FREED */
    puts("read_after_free: not caught");
}

static void write_after_free(void) {
    char *p = alloc64();
    free(p); /* G_FREE2 */
    p[8] = 1; /* G_WRITE_FREED */
    puts("write_after_free: not caught");
}

/* 61 bytes: whichever the alignment, byte 61 is slack, found at free. */
static void slack(void) {
    char *p = malloc(61); /* G_SLACK_ALLOC */
    p[61] = 'x';
    free(p); /* G_SLACK_FREE */
    puts("slack: not caught");
}

/* One byte written two bytes past a 61-byte block, the one between left
 * as it was: named where it lies ("the byte 2 bytes past the end"). */
static void slack_gap(void) {
    char *p = malloc(61); /* G_SLACK_GAP_ALLOC */
    p[63] = 'x';
    free(p); /* G_SLACK_GAP_FREE */
    puts("slack_gap: not caught");
}

/* check=2: 13 bytes, aligned to 8, end 3 bytes before their guard page:
 * a byte written one past them is found at free. */
static void odd_slack(void) {
    char *p = malloc(13); /* G_ODD_ALLOC */
    p[13] = 'x';
    free(p); /* G_ODD_FREE */
    puts("odd_slack: done");
}

static void double_free(void) {
    char *p = alloc64();
    free(p);
    free(p); /* G_DOUBLE_FREE */
    puts("double_free: not caught");
}

/* guard_continue=1: the reports come and the program goes on. */
static void go_on(void) {
    char *a = alloc64(), *b = alloc64();
    overflow_one(a);
    overflow_one(b);
    free(a);
    free(b);
    puts("go_on: went on");
}

/* A SIGSEGV handler of the program's own, installed after warden's (which
 * comes with the first sampled block and puts itself in front again at the
 * next): a fault in memory that is not warden's reaches it. */
static void own_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    static const char msg[] = "own handler\n";
    write(1, msg, sizeof msg - 1);
    _exit(42);
}

static char *own_page(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    for (int i = 0; i < 64; i++)
        free(alloc64()); /* warden's handler goes in front again (every 16th) */
    char *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return page == MAP_FAILED ? NULL : page;
}

static void chain(void) {
    char *page = own_page();
    page[0] = 1; /* not warden's: the program's handler exits 42 */
    puts("chain: no fault");
}

/* The same program's own handler, and a fault that is warden's. */
static void chain_warden(void) {
    own_page();
    char *a = alloc64(), *b = alloc64();
    overflow_one(a);
    overflow_one(b);
    puts("chain_warden: not caught");
}

/* The child of a fork makes the error; the parent says how it ended. */
static void forked(void) {
    char *keep = alloc64(); /* a sampled block from before the fork */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *a = alloc64(), *b = alloc64();
        free(keep);
        overflow_one(a);
        overflow_one(b);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    free(keep);
}

static void *thread_error(void *arg) {
    (void)arg;
    free(malloc(1)); /* the thread's heap, then its clock, as in main */
    free(malloc(1));
    char *a = malloc(64), *b = malloc(64); /* G_THREAD_ALLOC */
    a[64] = 'x'; /* G_THREAD_OVERFLOW */
    b[64] = 'x'; /* G_THREAD_OVERFLOW2 */
    return NULL;
}

static void thread(void) {
    pthread_t t;
    pthread_create(&t, NULL, thread_error, NULL);
    pthread_join(t, NULL);
    puts("thread: not caught");
}

/* With the default options: each of many 64-byte blocks is written one
 * byte past its end right after it is allocated (and kept). */
static char *volatile keep[100000];

static void many(void) {
    for (int i = 0; i < 100000; i++) {
        char *p = malloc(64); /* G_MANY_ALLOC */
        p[64] = 'x';          /* G_MANY */
        keep[i] = p;
    }
    puts("many: not caught");
}

/* Under the heap profiler, with the sampler's default rate: one block of
 * the largest small class first (the profiler's countdown then stops
 * every few mallocs and keeps few of the small ones), then many blocks of
 * 16 to 256 bytes, kept; then each is written one byte past its end and
 * one before its start, so a guarded one faults whichever way it is
 * aligned (the others write into live neighbours, and no malloc comes
 * after to mind). */
#define PROFILED_BLOCKS 200000
static char *volatile keep_profiled[PROFILED_BLOCKS];

static void profiled(void) {
    char *volatile big = malloc(65536);
    big[0] = 1;
    for (int i = 0; i < PROFILED_BLOCKS; i++)
        keep_profiled[i] = malloc(16 * (size_t)(1 + i % 16)); /* G_PROF_ALLOC */
    for (int i = 0; i < PROFILED_BLOCKS; i++) {
        char *p = keep_profiled[i];
        p[16 * (1 + i % 16)] = 'x', p[-1] = 'y'; /* G_PROF */
    }
    puts("profiled: not caught");
}

/* A correct program: threads, cross-thread frees, realloc, calloc,
 * aligned blocks, small, medium and large sizes, fork.  No report. */
#define CLEAN_THREADS 4
#define CLEAN_SLOTS 256
static char *handoff[CLEAN_THREADS][CLEAN_SLOTS];

static void *clean_worker(void *arg) {
    int id = (int)(long)arg;
    unsigned seed = (unsigned)id * 2654435761u + 1;
    char *mine[64] = {0};
    size_t sizes[64] = {0};
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)(seed >> 16) % 64;
        size_t size = (seed >> 8) % 7 == 0 ? 70000 + (seed % 100000) : 1 + (seed >> 4) % 600;
        if (mine[k] != NULL) {
            for (size_t j = 0; j < sizes[k]; j++)
                if (mine[k][j] != (char)(k + j)) {
                    fprintf(stderr, "clean: block contents changed\n");
                    abort();
                }
            if (i % 3 == 0) {
                char *q = realloc(mine[k], size);
                size_t keep = sizes[k] < size ? sizes[k] : size;
                for (size_t j = keep; j < size; j++)
                    q[j] = (char)(k + j);
                mine[k] = q;
                sizes[k] = size;
                continue;
            }
            free(mine[k]);
        }
        if (i % 5 == 0) {
            void *a = NULL;
            if (posix_memalign(&a, 64, size) != 0)
                abort();
            mine[k] = a;
        } else if (i % 7 == 0) {
            mine[k] = calloc(1, size);
        } else {
            mine[k] = malloc(size);
        }
        for (size_t j = 0; j < size; j++)
            mine[k][j] = (char)(k + j);
        sizes[k] = size;
        /* hand a block to the next thread, free the one handed to us */
        int slot = i % CLEAN_SLOTS;
        char *given = __atomic_exchange_n(&handoff[(id + 1) % CLEAN_THREADS][slot],
                                          malloc(48), __ATOMIC_ACQ_REL);
        free(given);
        given = __atomic_exchange_n(&handoff[id][slot], NULL, __ATOMIC_ACQ_REL);
        free(given);
    }
    for (int k = 0; k < 64; k++)
        free(mine[k]);
    return NULL;
}

static void clean(void) {
    pthread_t t[CLEAN_THREADS];
    for (long i = 0; i < CLEAN_THREADS; i++)
        pthread_create(&t[i], NULL, clean_worker, (void *)i);
    for (int i = 0; i < CLEAN_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < CLEAN_THREADS; i++)
        for (int s = 0; s < CLEAN_SLOTS; s++) {
            free(handoff[i][s]);
            handoff[i][s] = NULL;
        }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        clean_worker((void *)0);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f != NULL && getline(&line, &cap, f) > 0)
        ;
    if (f != NULL)
        fclose(f);
    free(line);
    printf("clean: done, child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Sampled blocks written and freed, more than the pool has slots: a
 * closed slot gives its pages back (mincore of each freed block's page;
 * it kept them until 2026-12-07, 16 pages for the 16 slots). */
static void closed_resident(void) {
    enum { N = 40 };
    uintptr_t at[N];
    for (int i = 0; i < N; i++) {
        char *p = malloc(64);
        memset(p, 'x', 64);
        at[i] = (uintptr_t)p;
        free(p);
    }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    int resident = 0;
    for (int i = 0; i < N; i++) {
        unsigned char in = 0;
        if (mincore((void *)(at[i] & ~(page - 1)), page, &in) == 0 && (in & 1))
            resident++;
    }
    printf("closed_resident: %d of %d pages resident\n", resident, N);
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        {"overflow", overflow},     {"underflow", underflow},
        {"overflow_read", overflow_read}, {"read_after_free", read_after_free},
        {"write_after_free", write_after_free}, {"slack", slack}, {"slack_gap", slack_gap},
        {"odd_slack", odd_slack},
        {"double_free", double_free}, {"go_on", go_on},
        {"chain", chain},           {"chain_warden", chain_warden},
        {"fork", forked},           {"thread", thread},
        {"many", many},             {"clean", clean},
        {"profiled", profiled},     {"medium", medium},
        {"int_array_read", int_array_read}, {"alignments", alignments},
        {"live_bound", live_bound}, {"sse_odd_block", sse_odd_block},
        {"new_alignments", new_alignments},
        {"resethand", resethand},
        {"reraise", reraise},
        {"wild_pointer", wild_pointer},
        {"junk_pointer", junk_pointer}, {"null_store", null_store},
        {"padding_overflow", padding_overflow}, {"barrier", barrier},
        {"memset_overflow", memset_overflow}, {"wild_walk", wild_walk},
        {"list_walk", list_walk},   {"underflow_far", underflow_far},
        {"closed_resident", closed_resident},
    };
    /* The first allocation makes the heap, the second starts the sampler's
     * clock: every one after it is sampled (guard_sample=1). */
    free(malloc(1));
    free(malloc(1));
    for (size_t i = 0; argc > 1 && i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            cases[i].fn();
            return 0;
        }
    fprintf(stderr, "guard_errors: unknown case\n");
    return 2;
}
