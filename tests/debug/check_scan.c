/* check_scan.c -- the leak scan of check mode (src/debug/leaks.c), case by
 * case: test_check.c runs `check_scan CASE` with WARDEN_OPTIONS=check=1
 * (linked with libwarden.a, so wd_check_leaks is there), reads its stderr
 * and asserts the value wd_check_leaks returned (printed as
 * `wd_check_leaks: N`), the records printed with it and the summary at
 * exit.  The lines the records must name carry a marker comment
 * (SCAN_...), found by the driver in this file.
 *
 *   global     a block reachable only from a global: not lost
 *   thread     a block reachable only from another thread's stack, and one
 *              only from its thread-local variable, while the thread is
 *              blocked on a condition variable: not lost
 *   chain      global -> block -> block: both reachable, not lost (run
 *              with leaks=all: both listed as still reachable)
 *   interior   a block reachable only through a pointer to its middle
 *   indirect   a lost block pointing to another: one directly lost, one
 *              indirectly lost
 *   cycle      two lost blocks pointing to each other: both lost, one
 *              definitely, the other indirectly (through it)
 *   dead_thread  a thread that returns with its only pointer to a block in
 *              a local variable: lost, although glibc keeps its stack
 *              (and the stale pointer) mapped for its next thread
 *   worker_leak  a thread that lost a block deep in a call (a request's
 *              handler) and went back to wait: lost, though a stale copy
 *              of its address lies in the thread's stack below where it
 *              waits
 *   reused_stack  a thread that exited, then one that likely runs on its
 *              stack (glibc's cache) and holds a block only there while
 *              blocked: not lost (a stack where a live thread runs is no
 *              dead one)
 *   main_returned  after a scan that finds nothing lost, main drops a
 *              tree (a block pointing to another) whose address a function
 *              it called left in its dead frame, many times over, and
 *              returns: at exit both blocks are lost (main's frames are
 *              dead once it returned, and so are those of the functions
 *              it called)
 *   tables     a scan that reads no table of warden's own: the page faults
 *              it takes (ru_minflt around it, printed as `scan faults: N`)
 *              stay far below the 16,384 pages of the large tier's 64 MiB
 *              table of slots, which the scan once read at every exit
 *
 * Every case but the lost ones also loses a control block of 123 bytes,
 * so that wd_check_leaks must return exactly 123: the scan did run and did
 * find a leak, and the block of the case is not counted.
 *
 * The blocks are allocated in functions of their own, and the stack below
 * main's frame is wiped before the scan, so no stale copy of a pointer in
 * a dead frame keeps a lost block reachable (the scan reads the calling
 * thread's stack from its own frame up, like LeakSanitizer: a slot not yet
 * written in a live frame still holds what an earlier call left there).
 * -O0: locals stay in memory. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* wd_check_leaks of the preloaded libwarden.so: this program links nothing
 * of warden, so the stacks in the records are the program's own (linked
 * with libwarden.a, warden's frames stay on top of them: check.md). */
static size_t wd_check_leaks(void) {
    size_t (*fn)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "wd_check_leaks");
    return fn != NULL ? fn() : (size_t)-1;
}

#define NOINLINE __attribute__((noinline))

void *global_root; /* the only root of the global, chain and interior cases */

/* Overwrites the stack below the caller's frame (dead frames of earlier
 * calls, where copies of pointers linger). */
NOINLINE static void wipe_stack(void) {
    volatile char area[64 * 1024];
    memset((char *)area, 0, sizeof area);
}

NOINLINE static void lose_control(void) {
    void *volatile p = malloc(123); /* SCAN_CONTROL */
    (void)p;
}

/* Scans and prints what wd_check_leaks returned. */
NOINLINE static void scan_now(void) {
    fprintf(stderr, "wd_check_leaks: %zu\n", wd_check_leaks());
}

/* Both from the same frame (main's), so that the wiped stack is where
 * scan_now's frames go: a frame of scan_now's own whose slots are not yet
 * written (the result of wd_check_leaks ...) would otherwise still hold
 * what a function called before left there. */
#define scan() (wipe_stack(), scan_now())

/* --- global ------------------------------------------------------------------- */

NOINLINE static void make_global(void) {
    global_root = malloc(40); /* SCAN_GLOBAL */
}

/* --- another thread's stack and TLS ------------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int holding, release;
static __thread void *thread_local_root;

/* The thread that holds blocks, by its id (for /proc/self/task). */
static volatile long holder_tid;

/* Says the thread holds its blocks, then waits (blocked, while main
 * scans) until main lets it go. */
static void hold_until_released(void) {
    holder_tid = (long)syscall(SYS_gettid);
    pthread_mutex_lock(&lock);
    holding = 1;
    pthread_cond_broadcast(&cond);
    while (!release)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void *holder(void *arg) {
    (void)arg;
    void *volatile on_stack = malloc(56);   /* SCAN_THREAD_STACK */
    thread_local_root = malloc(72);         /* SCAN_THREAD_TLS */
    hold_until_released();
    free(on_stack);
    free(thread_local_root);
    return NULL;
}

/* --- chains -------------------------------------------------------------------- */

struct link {
    struct link *next;
    char data[40];
};

NOINLINE static void make_chain(void) {
    struct link *first = malloc(sizeof *first); /* SCAN_CHAIN_FIRST */
    first->next = malloc(200);                  /* SCAN_CHAIN_SECOND */
    global_root = first;
}

NOINLINE static void make_interior(void) {
    char *block = malloc(96); /* SCAN_INTERIOR */
    global_root = block + 50;
}

NOINLINE static void make_indirect(void) {
    struct link *owner = malloc(sizeof *owner); /* SCAN_INDIRECT_OWNER */
    owner->next = malloc(300);                  /* SCAN_INDIRECT_OWNED */
}

NOINLINE static void make_cycle(void) {
    struct link *a = malloc(sizeof *a); /* SCAN_CYCLE_A */
    struct link *b = malloc(sizeof *b); /* SCAN_CYCLE_B */
    a->next = b;
    b->next = a;
}

/* --- threads that exited ----------------------------------------------------- */

static void *loser(void *arg) {
    void *volatile only_here = malloc(77); /* SCAN_DEAD_THREAD */
    (void)only_here;
    return arg;
}

static void *tidy(void *arg) {
    void *volatile p = malloc(77);
    free(p);
    return arg;
}

/* Runs fn in a thread of its own, and waits for it. */
static void run_thread(void *(*fn)(void *)) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) == 0)
        pthread_join(t, NULL);
}

/* The block held by a thread on its stack, given through a global that is
 * cleared once the thread has it. */
static void *volatile handed;

static void *keeper(void *arg) {
    void *volatile mine = handed; /* the only pointer, once handed is cleared */
    handed = NULL;
    hold_until_released();
    free(mine);
    return arg;
}

/* A request's handler, deeper in the stack than the wait that follows:
 * the block's address stays in its dead frame. */
NOINLINE static void handle_request(void) {
    volatile char depth[4096];
    depth[0] = 0;
    void *volatile lost = malloc(91); /* SCAN_WORKER_LEAK */
    (void)lost;
    (void)depth[0];
}

static void *worker(void *arg) {
    handle_request();
    hold_until_released();
    return arg;
}

NOINLINE static void hand_block(void) {
    handed = malloc(55); /* SCAN_REUSED_STACK */
}

/* Waits (up to 5 s) until thread tid sleeps in a system call: the scan
 * knows then where its stack is (a running thread's is not shown). */
static void wait_blocked(long tid) {
    char path[64], state[16];
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
    for (int i = 0; i < 5000; i++) {
        FILE *f = fopen(path, "r");
        size_t got = f != NULL ? fread(state, 1, sizeof state - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        state[got] = '\0';
        if (got > 0 && strncmp(state, "running", 7) != 0)
            return;
        usleep(1000);
    }
}

/* Starts fn in a thread that holds blocks, waits until it holds them,
 * loses the control block and scans (the thread waits on cond meanwhile),
 * then lets the thread go; 2 when it could not start. */
NOINLINE static int scan_while_held(void *(*fn)(void *)) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0)
        return 2;
    pthread_mutex_lock(&lock);
    while (!holding)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    wait_blocked(holder_tid);
    lose_control();
    scan();
    pthread_mutex_lock(&lock);
    release = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(t, NULL);
    return 0;
}

/* --- main returns ----------------------------------------------------------- */

struct tree {
    struct tree *child;
    char data[56];
};

/* Builds a tree and leaves copies of its root's address all over its own
 * frame, 16 KiB of it: after main returns, exit and its handlers run
 * where these frames were, and some of the copies outlive them. */
NOINLINE static void drop_tree(void) {
    struct tree *root = malloc(sizeof *root); /* SCAN_MAIN_ROOT */
    root->child = malloc(sizeof *root);       /* SCAN_MAIN_CHILD */
    root->child->child = NULL;
    volatile uintptr_t copies[2048];
    for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++)
        copies[i] = (uintptr_t)root;
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "";
    if (strcmp(which, "global") == 0) {
        make_global();
        lose_control();
        scan();
    } else if (strcmp(which, "thread") == 0) {
        if (scan_while_held(holder) != 0)
            return 2;
    } else if (strcmp(which, "chain") == 0) {
        make_chain();
        lose_control();
        scan();
    } else if (strcmp(which, "interior") == 0) {
        make_interior();
        lose_control();
        scan();
    } else if (strcmp(which, "indirect") == 0) {
        make_indirect();
        scan();
    } else if (strcmp(which, "cycle") == 0) {
        make_cycle();
        scan();
    } else if (strcmp(which, "worker_leak") == 0) {
        if (scan_while_held(worker) != 0)
            return 2;
    } else if (strcmp(which, "dead_thread") == 0) {
        run_thread(loser);
        lose_control();
        scan();
    } else if (strcmp(which, "reused_stack") == 0) {
        run_thread(tidy);
        hand_block();
        if (scan_while_held(keeper) != 0)
            return 2;
    } else if (strcmp(which, "tables") == 0) {
        lose_control();
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        scan();
        getrusage(RUSAGE_SELF, &after);
        fprintf(stderr, "scan faults: %ld\n", after.ru_minflt - before.ru_minflt);
    } else if (strcmp(which, "main_returned") == 0) {
        scan(); /* nothing lost yet */
        drop_tree();
    } else {
        fprintf(stderr, "usage: check_scan global|thread|chain|interior|indirect|cycle|dead_thread|"
                        "worker_leak|reused_stack|tables|main_returned\n");
        return 2;
    }
    fprintf(stderr, "check_scan: done\n");
    return 0;
}
