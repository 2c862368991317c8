/* tests/api/test_api_misuse.c -- misuse reports through the standard free:
 * a pointer warden never handed out (stack, global, mmap'd page, one at a
 * big alignment) or one inside a block of each tier must stop the program
 * with `warden: invalid pointer at 0x... in free`.  Each case runs in a
 * forked child.  Built as api_misuse_static and api_misuse_preload (see
 * api_util.h); the full misuse suite is tests/debug/misuse/.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* --- main ------------------------------------------------------------------ */
int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);

    resolve_names();
    check_identity();

    SECTION(t_invalid_free());

    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("all api_misuse checks passed\n");
    return 0;
}
