/* tests/api/test_api_misuse.c -- misuse reports through the standard free:
 * a pointer warden never handed out (stack, global, mmap'd page, one at a
 * big alignment) or one inside a block of each tier must stop the program
 * with `warden: invalid pointer at 0x... in free`, and a second free of a
 * block another thread freed with `warden: double free`.  Each case runs
 * in a forked child.  Built as api_misuse_static and api_misuse_preload (see
 * api_util.h); the full misuse suite is tests/debug/misuse/.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_util.h"

/* --- misuse ---------------------------------------------------------------- */
/* Runs fn in a child with stderr piped back; asserts SIGABRT and a line
 * `warden: <what> at 0x<hex> in <func>`. */
static int expect_abort_line(void (*fn)(void), const char *name, const char *what,
                             const char *func) {
    static char buf[65536];
    int status = test_child_stderr(fn, buf, sizeof buf);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "warden: %s at 0x", what);
    int found = 0;
    for (char *line = buf; line && *line;) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        size_t pl = strlen(prefix);
        if (ll > pl && strncmp(line, prefix, pl) == 0) {
            size_t i = pl;
            while (i < ll && strchr("0123456789abcdef", line[i]))
                i++;
            char tail[64];
            snprintf(tail, sizeof tail, " in %s", func);
            if (i > pl && ll - i == strlen(tail) && strncmp(line + i, tail, ll - i) == 0)
                found = 1;
        }
        line = end ? end + 1 : NULL;
    }
    if (aborted && found) {
        printf("ok: %s aborts with \"%s...in %s\"\n", name, prefix, func);
        return 0;
    }
    fprintf(stderr, "FAIL: %s: %s; wanted a line \"%s<hex> in %s\"; child stderr:\n%s\n", name,
            !aborted ? (WIFSIGNALED(status) ? "killed by another signal" : "child did not abort")
                     : "message not found",
            prefix, func, buf);
    return 1;
}

static _Alignas(4096) char global_buf[3 * 4096];

static void free_stack(void) {
    _Alignas(64) char buf[256];
    memset(buf, 1, sizeof buf);
    free(hidep(buf + 64));
}
static void free_global(void) { free(hidep(global_buf + 4096)); }
static void free_global_start(void) { free(hidep(global_buf)); }
static void free_mmap_page(void) {
    void *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        _exit(3);
    free(hidep((char *)m + 4096));
}
/* A page at a big alignment, where a segment-based allocator would look for
 * its metadata. */
static void free_mmap_aligned(void) {
    size_t span = 128 * MiB;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        _exit(3);
    uintptr_t a = ((uintptr_t)m + 64 * MiB - 1) & ~(uintptr_t)(64 * MiB - 1);
    free(hidep((void *)a));
}
static void free_interior_small(void) {
    char *p = malloc(hide(64));
    free(hidep(p + 8));
}
static void free_interior_medium(void) {
    char *p = malloc(hide(20 * KiB));
    free(hidep(p + 4096));
}
static void free_interior_large(void) {
    char *p = malloc(hide(5 * MiB));
    free(hidep(p + 4096));
}

static void t_invalid_free(void) {
    test_failures += expect_abort_line(free_stack, "free(stack address)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_global, "free(global)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_global_start, "free(page-aligned global)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_mmap_page, "free(mmap page)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_mmap_aligned, "free(64 MiB-aligned mmap page)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_interior_small, "free(malloc(64) + 8)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_interior_medium, "free(malloc(20 KiB) + 4096)", "invalid pointer", "free");
    test_failures += expect_abort_line(free_interior_large, "free(malloc(5 MiB) + 4096)", "invalid pointer", "free");
}

/* --- a second free of a block another thread freed -------------------------- */
/* A block freed by a thread that does not own it waits on its page's list
 * of other threads' frees until the owner takes it back; a second free
 * must be caught whoever makes it: the owner, the same thread, a third
 * one, or the owner once the freeing thread has exited. */

/* A thread's first allocation gives it a heap: its frees then take the
 * path of a thread with one. */
static void own_heap(void) {
    void *q = malloc(hide(16));
    escape(q); /* a malloc freed unseen may be left out */
    free(q);
}

static void *free_arg(void *p) {
    own_heap();
    free(p);
    return NULL;
}

static pthread_mutex_t stay_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stay_cond = PTHREAD_COND_INITIALIZER;
static int stay_freed;

/* Frees p, then stays alive until the child process exits. */
static void *free_and_stay(void *p) {
    own_heap();
    free(p);
    pthread_mutex_lock(&stay_lock);
    stay_freed = 1;
    pthread_cond_broadcast(&stay_cond);
    pthread_mutex_unlock(&stay_lock);
    for (;;)
        pause();
    return NULL;
}

/* Allocates size bytes here, has another thread free them (and stay, or
 * exit), then calls then(p). */
static void freed_elsewhere(size_t size, int stays, void (*then)(void *)) {
    char *p = malloc(hide(size));
    memset(p, 7, size);
    pthread_t t;
    if (pthread_create(&t, NULL, stays ? free_and_stay : free_arg, p) != 0)
        _exit(3);
    if (stays) {
        pthread_mutex_lock(&stay_lock);
        while (!stay_freed)
            pthread_cond_wait(&stay_cond, &stay_lock);
        pthread_mutex_unlock(&stay_lock);
    } else {
        pthread_join(t, NULL);
    }
    then(p);
}

static void do_free(void *p) { free(p); }
static void do_realloc(void *p) { escape(realloc(p, hide(200))); }
static void do_free_in_thread(void *p) {
    pthread_t t;
    if (pthread_create(&t, NULL, free_arg, p) == 0)
        pthread_join(t, NULL);
}
static void *free_twice(void *p) {
    void *volatile again = p; /* out of the compiler's sight */
    own_heap();
    free(p);
    free(again);
    return NULL;
}

static void owner_frees_again(void) { freed_elsewhere(64, 1, do_free); }
static void owner_reallocs(void) { freed_elsewhere(64, 1, do_realloc); }
static void third_thread_frees_again(void) { freed_elsewhere(96, 1, do_free_in_thread); }
static void owner_frees_after_exit(void) { freed_elsewhere(64, 0, do_free); }
static void freer_frees_again(void) {
    char *p = malloc(hide(112));
    pthread_t t;
    if (pthread_create(&t, NULL, free_twice, p) == 0)
        pthread_join(t, NULL);
}

static void t_double_free_across_threads(void) {
    test_failures += expect_abort_line(owner_frees_again, "owner frees a block another thread freed",
                                       "double free", "free");
    test_failures += expect_abort_line(owner_reallocs, "owner reallocs a block another thread freed",
                                       "use after free", "realloc");
    test_failures += expect_abort_line(third_thread_frees_again, "a third thread frees it again",
                                       "double free", "free");
    test_failures += expect_abort_line(freer_frees_again, "the freeing thread frees it again",
                                       "double free", "free");
    test_failures += expect_abort_line(owner_frees_after_exit,
                                       "owner frees it again after the freeing thread exited",
                                       "double free", "free");
}

/* --- main ------------------------------------------------------------------ */
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);

    resolve_names();
    check_identity();

    SECTION(t_invalid_free());
    SECTION(t_double_free_across_threads());

    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("all api_misuse checks passed\n");
    return 0;
}
