/* tests/classic/test_heap_valgrind.c -- the classic heap under valgrind.
 *
 * Without arguments: runs this program again under
 *   valgrind --leak-check=full --error-exitcode=99 <self> <mode>
 * once per mode and asserts on valgrind's report:
 *   clean    heavy use of every call, then everything freed: 0 errors
 *   overflow p[100] = 1 after p = malloc(100): "Invalid write of size 1",
 *            "0 bytes after a block of size 100 alloc'd" (the slack is no-access)
 *   leak     one malloc(100) never freed: "100 bytes in 1 blocks are definitely lost"
 *   uaf      p[0] read after free(p): "Invalid read of size 1", "inside a
 *            block of size 100 free'd"
 *   header   p[-1] read: "Invalid read of size 1", "1 bytes before a block of
 *            size 100 alloc'd" (headers are no-access)
 * Skips (77) when valgrind is not on PATH, when the library was built
 * without the valgrind headers (WD_HAVE_VALGRIND, from CMake), or in an
 * AddressSanitizer or ThreadSanitizer build, which valgrind cannot run. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "test.h"

#ifndef WD_HAVE_VALGRIND
#define WD_HAVE_VALGRIND 0
#endif

static _Alignas(64) unsigned char arena[1 << 20];

/* ---- the modes, run under valgrind -------------------------------------- */

static uint64_t rng = 12345;
static size_t rnd(size_t n) { return n ? (size_t)(test_rand(&rng) % n) : 0; }

static unsigned char pat(uint64_t tag, size_t i) { return (unsigned char)(tag * 37 + i * 11 + (i >> 7)); }

static int visit_count(void *start, size_t size, int allocated, void *arg) {
    (void)start, (void)size, (void)allocated;
    ++*(size_t *)arg;
    return 0;
}

#define NLIVE 512
static struct {
    unsigned char *p;
    size_t n;
    uint64_t tag;
} live[NLIVE];

static void set_block(size_t i, unsigned char *p, size_t n, uint64_t tag) {
    live[i].p = p;
    live[i].n = n;
    live[i].tag = tag;
    for (size_t k = 0; k < n; k++) /* only the requested bytes: the slack is no-access */
        p[k] = pat(tag, k);
}

static void check_block(size_t i, size_t n) {
    for (size_t k = 0; k < n; k++)
        CHECK(live[i].p[k] == pat(live[i].tag, k));
}

static int mode_clean(void) {
    wd_heap_t *h = wd_heap_init(arena, sizeof arena);
    CHECK(h != NULL);
    uint64_t tag = 1;
    for (int op = 0; op < 30000; op++) {
        size_t i = rnd(NLIVE);
        size_t n = rnd(10) == 0 ? rnd(8192) : rnd(200);
        if (live[i].p == NULL) {
            unsigned char *p;
            switch (rnd(4)) {
            case 0:
                p = wd_heap_calloc(h, 1, n);
                if (p)
                    for (size_t k = 0; k < n; k++)
                        CHECK(p[k] == 0);
                break;
            case 1: p = wd_heap_memalign(h, (size_t)16 << rnd(8), n); break;
            case 2: p = wd_heap_realloc(h, NULL, n); break;
            default: p = wd_heap_malloc(h, n); break;
            }
            if (p)
                set_block(i, p, n, tag++);
        } else if (rnd(2) == 0) {
            check_block(i, live[i].n);
            wd_heap_free(h, live[i].p);
            live[i].p = NULL;
        } else {
            check_block(i, live[i].n);
            unsigned char *q = wd_heap_realloc(h, live[i].p, n);
            if (n == 0) {
                CHECK(q == NULL);
                live[i].p = NULL;
            } else if (q) {
                live[i].p = q;
                check_block(i, live[i].n < n ? live[i].n : n);
                set_block(i, q, n, tag++);
            }
        }
        if (op % 2000 == 0) {
            CHECK_EQ(wd_heap_check(h), 0);
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            CHECK(f != NULL);
            wd_heap_dump(h, f);
            CHECK(fclose(f) == 0);
            CHECK(len > 0 && strstr(text, "summary:") != NULL);
            free(text);
            size_t ranges = 0;
            CHECK_EQ(wd_heap_walk(h, visit_count, &ranges), 0);
            wd_heap_stats_t st;
            wd_heap_stats(h, &st);
            CHECK_EQ(ranges, st.allocated_blocks + st.free_blocks);
            for (size_t k = 0; k < NLIVE; k++)
                if (live[k].p)
                    CHECK(wd_heap_usable_size(h, live[k].p) >= live[k].n);
        }
    }
    for (size_t i = 0; i < NLIVE; i++)
        if (live[i].p) {
            check_block(i, live[i].n);
            wd_heap_free(h, live[i].p);
            live[i].p = NULL;
        }
    CHECK_EQ(wd_heap_check(h), 0);
    wd_heap_stats_t st;
    wd_heap_stats(h, &st);
    CHECK_EQ(st.allocated_blocks, 0);
    CHECK_EQ(st.free_blocks, 1);
    printf("clean: done\n");
    return 0;
}

static int mode_overflow(void) {
    wd_heap_t *h = wd_heap_init(arena, sizeof arena);
    CHECK(h != NULL);
    volatile unsigned char *p = wd_heap_malloc(h, 100);
    CHECK(p != NULL);
    p[100] = 1; /* inside the usable size (112), outside the request */
    wd_heap_free(h, (void *)p);
    return 0;
}

static __attribute__((noinline)) void leak_one(wd_heap_t *h) {
    void *volatile p = wd_heap_malloc(h, 100);
    CHECK(p != NULL);
    memset(p, 0x33, 100);
    p = NULL;
}

static __attribute__((noinline)) void clobber_stack(void) {
    volatile unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0;
}

static int mode_leak(void) {
    wd_heap_t *h = wd_heap_init(arena, sizeof arena);
    CHECK(h != NULL);
    leak_one(h);
    clobber_stack();
    void *q = wd_heap_malloc(h, 50); /* freed: not reported */
    wd_heap_free(h, q);
    return 0;
}

static int mode_uaf(void) {
    wd_heap_t *h = wd_heap_init(arena, sizeof arena);
    CHECK(h != NULL);
    volatile unsigned char *p = wd_heap_malloc(h, 100);
    void *guard = wd_heap_malloc(h, 100);
    CHECK(p != NULL && guard != NULL);
    p[0] = 7;
    wd_heap_free(h, (void *)p);
    unsigned char v = p[50];
    (void)v;
    wd_heap_free(h, guard);
    return 0;
}

static int mode_header(void) {
    wd_heap_t *h = wd_heap_init(arena, sizeof arena);
    CHECK(h != NULL);
    volatile unsigned char *p = wd_heap_malloc(h, 100);
    CHECK(p != NULL);
    unsigned char v = p[-1];
    (void)v;
    wd_heap_free(h, (void *)p);
    return 0;
}

/* ---- the driver --------------------------------------------------------- */

static int find_valgrind(char *out, size_t n) {
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + 10 < n) {
            memcpy(out, path, len);
            memcpy(out + len, "/valgrind", 10);
            if (access(out, X_OK) == 0)
                return 1;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    return 0;
}

static char output[1 << 20];

struct valgrind_run {
    const char *valgrind, *self, *mode;
};

static void exec_valgrind(const void *arg) {
    const struct valgrind_run *r = arg;
    execl(r->valgrind, r->valgrind, "--leak-check=full", "--error-exitcode=99", r->self, r->mode,
          (char *)NULL);
    _exit(127);
}

/* Runs valgrind on self in mode; returns the exit status (or -1), output in `output`. */
static int run_under_valgrind(const char *valgrind, const char *self, const char *mode) {
    struct valgrind_run r = {valgrind, self, mode};
    int status = test_run_piped(exec_valgrind, &r, TEST_PIPE_STDOUT, NULL, 0, output, sizeof output);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int expect(const char *valgrind, const char *self, const char *mode, int want_status,
                  const char *const *wants) {
    int status = run_under_valgrind(valgrind, self, mode);
    int ok = status == want_status;
    for (size_t i = 0; wants[i]; i++)
        if (!strstr(output, wants[i])) {
            fprintf(stderr, "mode %s: valgrind's report lacks \"%s\"\n", mode, wants[i]);
            ok = 0;
        }
    if (status != want_status)
        fprintf(stderr, "mode %s: exit status %d, wanted %d\n", mode, status, want_status);
    if (!ok) {
        fprintf(stderr, "---- valgrind output (%s) ----\n%s---- end ----\n", mode, output);
        return 1;
    }
    printf("mode %s: ok\n", mode);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "clean") == 0)
            return mode_clean();
        if (strcmp(argv[1], "overflow") == 0)
            return mode_overflow();
        if (strcmp(argv[1], "leak") == 0)
            return mode_leak();
        if (strcmp(argv[1], "uaf") == 0)
            return mode_uaf();
        if (strcmp(argv[1], "header") == 0)
            return mode_header();
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
#if defined(__SANITIZE_ADDRESS__)
    printf("skip: an AddressSanitizer build cannot run under valgrind\n");
    return TEST_SKIP;
#endif
#if TEST_TSAN
    printf("skip: a ThreadSanitizer build cannot run under valgrind\n");
    return TEST_SKIP;
#endif
    if (!WD_HAVE_VALGRIND) {
        printf("skip: built without valgrind/memcheck.h (WD_HAVE_VALGRIND off)\n");
        return TEST_SKIP;
    }
    char valgrind[PATH_MAX];
    if (!find_valgrind(valgrind, sizeof valgrind)) {
        printf("skip: valgrind is not on PATH\n");
        return TEST_SKIP;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
    } else {
        snprintf(self, sizeof self, "%s", argv[0]);
    }

    static const char *const clean[] = {"ERROR SUMMARY: 0 errors", "clean: done", NULL};
    static const char *const overflow[] = {"Invalid write of size 1",
                                           "0 bytes after a block of size 100 alloc'd", NULL};
    static const char *const leak[] = {"definitely lost",
                                       "100 bytes in 1 blocks are definitely lost", NULL};
    static const char *const uaf[] = {"Invalid read of size 1",
                                      "50 bytes inside a block of size 100 free'd", NULL};
    static const char *const header[] = {"Invalid read of size 1",
                                         "1 bytes before a block of size 100 alloc'd", NULL};
    test_failures += expect(valgrind, self, "clean", 0, clean);
    test_failures += expect(valgrind, self, "overflow", 99, overflow);
    test_failures += expect(valgrind, self, "leak", 99, leak);
    test_failures += expect(valgrind, self, "uaf", 99, uaf);
    test_failures += expect(valgrind, self, "header", 99, header);
    return test_failures ? 1 : 0;
}
