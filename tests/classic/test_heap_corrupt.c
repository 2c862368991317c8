/* tests/classic/test_heap_corrupt.c -- wd_heap_check on deliberately
 * corrupted headers: each flipped bit of a tag, an info word or a free
 * range's link word (both halves), an overwritten control block tail and replayed stale headers
 * must make it fail (in a forked child, so a crash shows as such), and
 * undoing the damage must make it pass again. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/heap.h>

#include "test.h"
#include "test_heap.h"

/* ---- wd_heap_check on deliberately corrupted headers -------------------- */

/* Layout used by every corruption: [a][x free][b][rest free]; x cannot merge. */
static unsigned char *ca, *cx, *cb;
static wd_heap_t *corrupt_setup(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    ca = wd_heap_malloc(h, 100);
    cx = wd_heap_malloc(h, 100);
    cb = wd_heap_malloc(h, 100);
    CHECK(ca && cx && cb);
    wd_heap_free(h, cx);
    CHECK_EQ(wd_heap_check(h), 0);
    return h;
}

/* Flips bit `bit` of the 64-bit word at addr; check must fail, must not
 * abort or crash; flipping back must make it pass again.  Runs in a child so
 * a crash is reported as such.  Returns 1 on failure. */
static int check_catches(const char *what, int which, int word, unsigned bit) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        wd_heap_t *h = corrupt_setup();
        unsigned char *blk = which == 0 ? ca : which == 1 ? cx : cb;
        uint64_t *w = (uint64_t *)(void *)(blk + 8 * word); /* word -2: tag, -1: info */
        *w ^= (uint64_t)1 << bit;
        if (wd_heap_check(h) == 0)
            _exit(3);
        *w ^= (uint64_t)1 << bit;
        if (wd_heap_check(h) != 0)
            _exit(4);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        fprintf(stderr, "wd_heap_check missed: %s\n", what);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
        fprintf(stderr, "wd_heap_check still fails once %s is undone\n", what);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "wd_heap_check died of signal %d on: %s\n", WTERMSIG(status), what);
    else
        fprintf(stderr, "child failed (status %d) on: %s\n", status, what);
    return 1;
}

/* Runs fn in a child: it must exit 0 (not crash, not abort).  1 on failure. */
static int in_child(void (*fn)(void), const char *what) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: died of signal %d\n", what, WTERMSIG(status));
    else
        fprintf(stderr, "%s: failed (exit %d)\n", what, WEXITSTATUS(status));
    return 1;
}

/* An underflow of the first block runs into the control block's tail (list
 * heads and bitmaps). */
static void ctrl_tail_child(void) {
    wd_heap_t *h = corrupt_setup();
    unsigned char *tail = ca - 16 - 32; /* the 32 bytes before the first header */
    unsigned char saved[32];
    memcpy(saved, tail, 32);
    memset(tail, 0x41, 32);
    if (wd_heap_check(h) == 0) {
        fprintf(stderr, "wd_heap_check missed an overwritten control block tail\n");
        _exit(3);
    }
    memcpy(tail, saved, 32);
    if (wd_heap_check(h) != 0)
        _exit(4);
}
static int check_catches_ctrl_tail(void) {
    return in_child(ctrl_tail_child, "control block tail overwritten");
}

/* Headers saved while p was split off are written back after everything
 * merged: each has a valid checksum and the tiling is consistent, but the
 * lists and counters disagree with the ranges. */
static void replay_child(void) {
    wd_heap_t *h = fresh(heap4k, sizeof heap4k);
    unsigned char *p = wd_heap_malloc(h, 1000);
    unsigned char *g = wd_heap_malloc(h, 16);
    CHECK(p && g);
    wd_heap_free(h, p); /* p's header now says: free, 1024 */
    unsigned char saved[16];
    memcpy(saved, p - 16, 16);
    wd_heap_free(h, g); /* all one range: p - 16 now says the whole size */
    CHECK_EQ(wd_heap_check(h), 0);
    memcpy(p - 16, saved, 16); /* [free 1024][free 32 (g's old)][free rest] */
    if (wd_heap_check(h) == 0) {
        fprintf(stderr, "wd_heap_check missed three touching free ranges made of replayed headers\n");
        _exit(3);
    }
}
static int check_catches_replayed_headers(void) {
    return in_child(replay_child, "replayed stale headers");
}

static void test_check_corruption(void) {
    static const struct {
        const char *what;
        int which, word;
        unsigned bit;
    } cases[] = {
        {"allocated block: info size bit 4", 0, -1, 4},
        {"allocated block: info size bit 9", 2, -1, 9},
        {"allocated block: info allocated bit", 0, -1, 63},
        {"allocated block: info bit 40", 2, -1, 40},
        {"allocated block: tag checksum bit 0", 0, -2, 0},
        {"allocated block: tag checksum bit 31", 2, -2, 31},
        {"allocated block: tag prev-size bit 32", 2, -2, 32},
        {"allocated block: tag prev-size bit 36", 2, -2, 36},
        {"free block: info size bit 4", 1, -1, 4},
        {"free block: info allocated bit", 1, -1, 63},
        {"free block: tag checksum bit 7", 1, -2, 7},
        {"free block: tag prev-size bit 35", 1, -2, 35},
        /* the link word: next in the low half, prev in the high half */
        {"free block: link word, next bit 4", 1, 0, 4},
        {"free block: link word, next bit 20", 1, 0, 20},
        {"free block: link word, prev bit 44", 1, 0, 44},
        {"free block: link word, prev bit 60", 1, 0, 60},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_failures += check_catches(cases[i].what, cases[i].which, cases[i].word, cases[i].bit);
    test_failures += check_catches_ctrl_tail();
    test_failures += check_catches_replayed_headers();
    /* and in this process too, plainly: one flipped bit, check says -1 */
    wd_heap_t *h = corrupt_setup();
    uint64_t *info = (uint64_t *)(void *)(cb - 8);
    *info ^= 16;
    CHECK_EQ(wd_heap_check(h), -1);
    *info ^= 16;
    CHECK_EQ(wd_heap_check(h), 0);
}

int main(void) {
    test_check_corruption();
    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
