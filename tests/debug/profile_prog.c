/* profile_prog.c -- workloads for the heap profiler's test (test_profile.c),
 * each holding known amounts from known functions.  Built twice: as
 * profile_prog, which calls malloc and is run with LD_PRELOAD=libwarden.so,
 * and as profile_prog_wd (PROF_WD defined), linked with libwarden.a and
 * calling the wd_ names, so that it runs in the sanitizer builds too.
 *
 *   profile_prog hold      ~100 MiB live, 90 % from hold_big and 10 % from
 *                          hold_small, in small, medium and large blocks,
 *                          amid short-lived blocks; the profile is written
 *                          at exit
 *   profile_prog dump P    hold, wd_profile_dump(P.before), frees what
 *                          hold_big holds, wd_profile_dump(P.after)
 *   profile_prog threads   4 threads, each holding ~16 MiB from thread_hold
 *                          and churning meanwhile
 *   profile_prog fork      hold_small's part, then a child that holds more
 *                          from child_hold and calls exit(), then the rest
 *   profile_prog signal S FILE  hold_small's part, raise(S), no allocation
 *                          until FILE (the dump) exists, then more
 *   profile_prog signal_child S P  a fork child holds from child_hold,
 *                          raises S, allocates nothing until its dump
 *                          P.PID.1.prof exists and leaves with _exit (no
 *                          profile at exit): only the signal's dump, by a
 *                          ticker of the child's own, writes it
 *   profile_prog realloc   blocks grown by realloc in grow_hold, others
 *                          grown and freed
 *   profile_prog freed     hold, then every block freed before exit
 *   profile_prog wide      small blocks above the profiler's largest slot
 *                          (4 KiB to 64 KiB) from hold_wide, 32 MiB, amid
 *                          8 MiB of blocks up to 4 KiB from hold_small
 *
 * Each mode prints `truth NAME BYTES` for every function it holds bytes
 * from (requested bytes still live at exit or at the dump). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef PROF_WD
#include "warden.h"
#define XMALLOC wd_malloc
#define XFREE wd_free
#define XREALLOC wd_realloc
#define XCALLOC wd_calloc
static int profile_dump(const char *prefix) { return wd_profile_dump(prefix); }
#else
#define XMALLOC malloc
#define XFREE free
#define XREALLOC realloc
#define XCALLOC calloc
static int profile_dump(const char *prefix) {
    int (*fn)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "wd_profile_dump");
    if (fn == NULL) {
        fprintf(stderr, "profile_prog: wd_profile_dump not found\n");
        exit(2);
    }
    return fn(prefix);
}
#endif

#define MAX_KEEP 400000
static void *kept[MAX_KEEP];
static size_t nkept;
static __thread uint64_t rng = 88172645463325252ull; /* per thread: no race */

static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A size: by count 99.5 % small (16 B to 4 KiB), 0.45 % medium (64 KiB to
 * 1 MiB), 0.05 % large (1 to 4 MiB); by bytes about 35, 42 and 22 %.  The
 * mix is the same for every function. */
static size_t some_size(void) {
    unsigned r = (unsigned)(next() % 10000);
    if (r < 9950)
        return 16 + (size_t)(next() % 4080);
    if (r < 9995)
        return (64 << 10) + (size_t)(next() % (960 << 10));
    return (1 << 20) + (size_t)(next() % (3 << 20));
}

static void churn(void) {
    void *t = XMALLOC(16 + (size_t)(next() % 200));
    memset(t, 0, 8);
    XFREE(t);
}

__attribute__((noinline)) static size_t hold_big(size_t bytes, void **into, size_t *n) {
    size_t got = 0;
    while (got < bytes) { /* up to the target, and one block more */
        size_t s = some_size();
        char *p = XMALLOC(s);
        p[0] = 1;
        into[(*n)++] = p;
        got += s;
        churn();
    }
    return got;
}

__attribute__((noinline)) static size_t hold_small(size_t bytes, void **into, size_t *n) {
    size_t got = 0;
    while (got < bytes) {
        size_t s = some_size();
        char *p = (next() & 1) ? XMALLOC(s) : XCALLOC(1, s);
        p[0] = 1;
        into[(*n)++] = p;
        got += s;
        churn();
    }
    return got;
}

/* 90 and 10 MiB, interleaved in slices so that neither comes first. */
static void hold(size_t *big, size_t *small, size_t *nbig) {
    static void *smalls[MAX_KEEP];
    size_t ns = 0;
    *big = *small = 0;
    for (size_t slice = 1; slice <= 10; slice++) {
        if (*big < (slice * 9) << 20)
            *big += hold_big(((slice * 9) << 20) - *big, kept, &nkept);
        if (*small < slice << 20)
            *small += hold_small((slice << 20) - *small, smalls, &ns);
    }
    *nbig = nkept;
    for (size_t i = 0; i < ns; i++)
        kept[nkept++] = smalls[i];
}

static void print_truth(const char *name, size_t bytes) {
    printf("truth %s %zu\n", name, bytes);
    fflush(stdout);
}

static int mode_hold(void) {
    size_t big, small, nbig;
    hold(&big, &small, &nbig);
    print_truth("hold_big", big);
    print_truth("hold_small", small);
    return 0;
}

static int mode_freed(void) {
    /* No stdout buffer: the C library would malloc one at the first
     * printf and keep it, in use at exit (sampled now and then). */
    setvbuf(stdout, NULL, _IONBF, 0);
    size_t big, small, nbig;
    hold(&big, &small, &nbig);
    for (size_t i = 0; i < nkept; i++)
        XFREE(kept[i]);
    nkept = 0;
    print_truth("allocated", big + small);
    return 0;
}

static int mode_dump(const char *prefix) {
    size_t big, small, nbig;
    char path[4096];
    hold(&big, &small, &nbig);
    print_truth("hold_big", big);
    print_truth("hold_small", small);
    snprintf(path, sizeof path, "%s.before", prefix);
    if (profile_dump(path) != 0)
        return 3;
    for (size_t i = 0; i < nbig; i++)
        XFREE(kept[i]);
    snprintf(path, sizeof path, "%s.after", prefix);
    if (profile_dump(path) != 0)
        return 4;
    return 0;
}

#define THREADS 4

__attribute__((noinline)) static void *thread_hold(void *arg) {
    size_t *got = arg, n = 0;
    void **mine = (void **)XMALLOC(sizeof(void *) * 100000);
    size_t target = (size_t)16 << 20;
    while (*got < target) {
        size_t s = some_size();
        char *p = XMALLOC(s);
        p[0] = 1;
        mine[n++] = p;
        *got += s;
        for (int i = 0; i < 4; i++)
            churn();
    }
    return mine; /* kept: reachable from the main thread */
}

static int mode_threads(void) {
    pthread_t t[THREADS];
    size_t got[THREADS] = {0};
    void *res[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, thread_hold, &got[i]) != 0)
            return 3;
    size_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], &res[i]);
        total += got[i];
    }
    print_truth("thread_hold", total);
    return 0;
}

__attribute__((noinline)) static size_t child_hold(void) {
    size_t got = 0;
    for (int i = 0; i < 2000; i++) {
        size_t s = 1000 + (size_t)(next() % 9000);
        kept[nkept++] = XMALLOC(s);
        got += s;
    }
    return got;
}

/* fork(): the child runs body, which never returns; the parent waits for
 * it.  The child's pid, or -1 when there is none or it did not exit with 0. */
static pid_t fork_and_wait(void (*body)(const char *), const char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        body(arg);
        _exit(3); /* not reached */
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? pid : -1;
}

static void child_exits(const char *unused) {
    (void)unused;
    child_hold();
    exit(0); /* atexit handlers run: the child writes its own profile */
}

static int mode_fork(void) {
    static void *smalls[MAX_KEEP];
    size_t ns = 0;
    size_t small = hold_small((size_t)8 << 20, smalls, &ns);
    pid_t pid = fork_and_wait(child_exits, NULL);
    if (pid < 0)
        return 4;
    small += hold_small((size_t)8 << 20, smalls, &ns);
    printf("child %d\n", (int)pid);
    print_truth("hold_small", small);
    return 0;
}

/* Waits for file with stat, which allocates nothing, up to 10 s; 0 when
 * it came. */
static int wait_for(const char *file) {
    struct stat st;
    for (int waited = 0; waited < 1000; waited++) {
        if (stat(file, &st) == 0)
            return 0;
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        nanosleep(&ten_ms, NULL);
    }
    fprintf(stderr, "profile_prog: no %s 10 s after the signal\n", file);
    return -1;
}

/* The dump comes without another allocation: the program waits for
 * `file` (PREFIX.1.prof) with stat, which allocates nothing, up to 10 s. */
static int mode_signal(int sig, const char *file) {
    static void *smalls[MAX_KEEP];
    size_t ns = 0;
    size_t small = hold_small((size_t)8 << 20, smalls, &ns);
    raise(sig);
    if (wait_for(file) != 0)
        return 5;
    small += hold_small((size_t)8 << 20, smalls, &ns);
    print_truth("hold_small", small);
    return 0;
}

static int child_sig;

static void child_signals(const char *prefix) {
    char file[4096];
    child_hold();
    snprintf(file, sizeof file, "%s.%d.1.prof", prefix, (int)getpid());
    raise(child_sig);
    _exit(wait_for(file) == 0 ? 0 : 5); /* no profile at exit */
}

static int mode_signal_child(int sig, const char *prefix) {
    static void *smalls[MAX_KEEP];
    size_t ns = 0;
    size_t small = hold_small((size_t)8 << 20, smalls, &ns);
    child_sig = sig;
    pid_t pid = fork_and_wait(child_signals, prefix);
    if (pid < 0)
        return 4;
    printf("child %d\n", (int)pid);
    print_truth("hold_small", small);
    return 0;
}

__attribute__((noinline)) static size_t grow_hold(void) {
    size_t got = 0;
    for (int i = 0; i < 3000; i++) {
        size_t s = 64;
        char *p = XMALLOC(s);
        while (s < 16384 + (size_t)(next() % 4000)) {
            s = s * 2 + (size_t)(next() % 100);
            p = XREALLOC(p, s);
            p[s - 1] = 1;
        }
        kept[nkept++] = p;
        got += s;
    }
    return got;
}

__attribute__((noinline)) static void grow_free(void) {
    for (int i = 0; i < 3000; i++) {
        size_t s = 64;
        char *p = XMALLOC(s);
        while (s < 65536) {
            s = s * 2;
            p = XREALLOC(p, s);
        }
        XFREE(p);
    }
}

/* Small blocks larger than the profiler's slot (sample.h), which its
 * countdown keeps with the chance of a 4 KiB block. */
__attribute__((noinline)) static size_t hold_wide(size_t bytes) {
    size_t got = 0;
    while (got < bytes) {
        size_t s = 4200 + (size_t)(next() % (60 << 10));
        char *p = XMALLOC(s);
        p[0] = 1;
        kept[nkept++] = p;
        got += s;
        churn();
    }
    return got;
}

static int mode_wide(void) {
    static void *smalls[MAX_KEEP];
    size_t ns = 0, wide = 0, small = 0;
    for (size_t slice = 1; slice <= 8; slice++) {
        small += hold_small((slice << 20) - small, smalls, &ns);
        wide += hold_wide((slice * 4 << 20) - wide);
    }
    print_truth("hold_wide", wide);
    print_truth("hold_small", small);
    return 0;
}

static int mode_realloc(void) {
    size_t got = grow_hold();
    grow_free();
    print_truth("grow_hold", got);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "hold") == 0)
        return mode_hold();
    if (strcmp(argv[1], "dump") == 0 && argc > 2)
        return mode_dump(argv[2]);
    if (strcmp(argv[1], "threads") == 0)
        return mode_threads();
    if (strcmp(argv[1], "fork") == 0)
        return mode_fork();
    if (strcmp(argv[1], "signal") == 0 && argc > 3)
        return mode_signal(atoi(argv[2]), argv[3]);
    if (strcmp(argv[1], "realloc") == 0)
        return mode_realloc();
    if (strcmp(argv[1], "signal_child") == 0 && argc > 3)
        return mode_signal_child(atoi(argv[2]), argv[3]);
    if (strcmp(argv[1], "wide") == 0)
        return mode_wide();
    if (strcmp(argv[1], "freed") == 0)
        return mode_freed();
    return 2;
}
