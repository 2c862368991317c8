/* tests/classic/test_heap_misuse.c -- misuse of the classic heap must abort with one
 * line `warden: <what> at <address> in <function>` on stderr.
 *
 * Each case is a function case_x(go) that builds its heap on a static buffer
 * and returns the address the message must name; with go it then commits the
 * misuse.  The parent calls case_x(0) to learn the address (the layout is
 * deterministic: the same buffer, the same calls), then runs case_x(1) in a
 * forked child through EXPECT_ABORT, and once more to assert that the child's
 * stderr is that one line and nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/heap.h>

#include "test.h"

static _Alignas(64) unsigned char arena[65536];
static _Alignas(64) unsigned char other_arena[8192];
static _Alignas(16) unsigned char global_buf[256];
static unsigned char *stack_buf; /* points into main's frame, inherited by the child */
static void *libc_block;

static wd_heap_t *fresh(void) {
    wd_heap_t *h = wd_heap_init(arena, sizeof arena);
    CHECK(h != NULL);
    return h;
}

static void *xmalloc(wd_heap_t *h, size_t n) {
    void *p = wd_heap_malloc(h, n);
    CHECK(p != NULL);
    return p;
}

/* Allocates until no free range is left, so the next malloc has one choice. */
static void fill_rest(wd_heap_t *h) {
    for (int i = 0; i < 64; i++) {
        wd_heap_stats_t st;
        wd_heap_stats(h, &st);
        if (st.free_blocks == 0)
            return;
        xmalloc(h, st.largest_free);
    }
    CHECK(!"heap filled");
}

static wd_heap_t *H;

/* ---- double free -------------------------------------------------------- */

static void *case_double_free(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 100);
    xmalloc(H, 100);
    wd_heap_free(H, p);
    if (go)
        wd_heap_free(H, p);
    return p;
}

static void *case_double_free_later(int go) {
    H = fresh();
    void *p = xmalloc(H, 64);
    xmalloc(H, 64);
    void *q = xmalloc(H, 64);
    xmalloc(H, 64);
    wd_heap_free(H, p);
    void *r = xmalloc(H, 500); /* too big for p's range: p stays free */
    CHECK(r != p);
    wd_heap_free(H, q);
    void *s = xmalloc(H, 10);
    wd_heap_free(H, s);
    if (go)
        wd_heap_free(H, p);
    return p;
}

/* p is freed, then its previous neighbour: p merges into the range before
 * it and is no longer the start of any range. */
static void *case_double_free_merged_into_prev(int go) {
    H = fresh();
    void *a = xmalloc(H, 64);
    void *p = xmalloc(H, 64);
    xmalloc(H, 64);
    wd_heap_free(H, p);
    wd_heap_free(H, a); /* [a free][p free] -> [a ........] */
    if (go)
        wd_heap_free(H, p);
    return p;
}

static void *case_double_free_merged_next(int go) {
    H = fresh();
    void *p = xmalloc(H, 64);
    void *b = xmalloc(H, 64);
    xmalloc(H, 64);
    wd_heap_free(H, b);
    wd_heap_free(H, p); /* [p free][b free] -> [p ........] */
    if (go)
        wd_heap_free(H, p);
    return p;
}

static void *case_realloc0_then_free(int go) {
    H = fresh();
    void *p = xmalloc(H, 64);
    xmalloc(H, 64);
    CHECK(wd_heap_realloc(H, p, 0) == NULL);
    if (go)
        wd_heap_free(H, p);
    return p;
}

static void *case_free_after_realloc_moved(int go) {
    H = fresh();
    void *p = xmalloc(H, 64);
    xmalloc(H, 64);
    void *q = wd_heap_realloc(H, p, 1000);
    CHECK(q != NULL && q != p);
    if (go)
        wd_heap_free(H, p);
    return p;
}

/* ---- invalid pointers --------------------------------------------------- */

static size_t interior_off;
static int interior_fill; /* 0: 0x5a bytes, 1: zeros, 2: copies of the real header */

static void *case_interior(int go) {
    H = fresh();
    xmalloc(H, 32);
    unsigned char *p = xmalloc(H, 200);
    xmalloc(H, 32);
    if (interior_fill == 2) {
        for (size_t off = 0; off + 16 <= 208; off += 16)
            memcpy(p + off, p - 16, 16);
    } else {
        memset(p, interior_fill == 1 ? 0 : 0x5a, 200);
    }
    if (go)
        wd_heap_free(H, p + interior_off);
    return p + interior_off;
}

/* An interior pointer that lands on an old header: p = malloc(1000) split
 * the first range (a free header at p + 1008), free(p) merged it back, and
 * q = malloc(2000) == p now covers that stale header.  q + 1024 was never
 * returned by malloc: it is interior to the live q. */
static void *case_interior_stale_header(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 1000);
    wd_heap_free(H, p);
    unsigned char *q = xmalloc(H, 2000);
    CHECK(q == p);
    if (go)
        wd_heap_free(H, q + 1024);
    return q + 1024;
}

/* The same through realloc: shrink in place (split at p + 112), grow back in
 * place; p + 128 is interior to the live p. */
static void *case_interior_after_resize(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 1000);
    xmalloc(H, 16);
    CHECK(wd_heap_realloc(H, p, 100) == p);
    CHECK(wd_heap_realloc(H, p, 1000) == p);
    if (go)
        wd_heap_free(H, p + 128);
    return p + 128;
}

static void *case_usable_stale_header(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 1000);
    wd_heap_free(H, p);
    unsigned char *q = xmalloc(H, 2000);
    CHECK(q == p);
    if (go)
        wd_heap_usable_size(H, q + 1024);
    return q + 1024;
}

static void *case_stack(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, stack_buf + 16);
    return stack_buf + 16;
}

static void *case_global(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, global_buf + 16);
    return global_buf + 16;
}

static void *case_libc(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, libc_block);
    return libc_block;
}

static void *case_other_heap(int go) {
    H = fresh();
    wd_heap_t *o = wd_heap_init(other_arena, sizeof other_arena);
    CHECK(o != NULL);
    void *q = wd_heap_malloc(o, 64);
    CHECK(q != NULL);
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, q);
    return q;
}

static void *case_control_block(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, arena + 32);
    return arena + 32;
}

static void *case_past_end(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, arena + sizeof arena);
    return arena + sizeof arena;
}

static void *case_misaligned_freed(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 64);
    xmalloc(H, 64);
    if (go)
        wd_heap_free(H, p + 8);
    return p + 8;
}

/* ---- overwritten headers ------------------------------------------------ */

static unsigned char *ov_a, *ov_b;

/* a (usable 112) overflows 16 bytes into b's header; c guards b. */
static void overflow_setup(int full) {
    H = fresh();
    ov_a = xmalloc(H, 100);
    ov_b = xmalloc(H, 100);
    xmalloc(H, 100);
    CHECK(ov_b == ov_a + 128);
    if (full)
        memset(ov_a, 0x55, 112 + 16);
    else
        ov_a[112] ^= 0xff; /* one byte too far: b's checksum */
}

static void *case_overflow_free_next(int go) {
    overflow_setup(1);
    if (go)
        wd_heap_free(H, ov_b);
    return ov_b;
}

static void *case_overflow_free_self(int go) {
    overflow_setup(1);
    if (go)
        wd_heap_free(H, ov_a);
    return ov_b; /* the damaged header is b's */
}

static void *case_off_by_one(int go) {
    overflow_setup(0);
    if (go)
        wd_heap_free(H, ov_b);
    return ov_b;
}

/* The same one byte too far, then a is freed: free reads the allocated bit
 * of its right neighbour's header and checks that header only when it
 * merges with it (docs/heap.md, "Misuse detection"), so this free of a
 * goes through; the next call that acts on b's header reports it.  The
 * function named, usable_size rather than free, shows that free(a) did
 * not stop. */
static void *case_off_by_one_then_free_self(int go) {
    overflow_setup(0);
    if (go) {
        wd_heap_free(H, ov_a);
        CHECK_EQ(wd_heap_check(H), -1);
        wd_heap_usable_size(H, ov_b);
    }
    return ov_b;
}

static void *case_underflow(int go) {
    H = fresh();
    unsigned char *a = xmalloc(H, 100);
    xmalloc(H, 100);
    a[-8] ^= 0x10; /* the size in a's info word */
    if (go)
        wd_heap_free(H, a);
    return a;
}

/* Only the boundary tag's previous-size field of b changes (bit 33 of its
 * tag word): the checksum must cover it too. */
static void *case_prev_size_flipped(int go) {
    H = fresh();
    xmalloc(H, 100);
    unsigned char *b = xmalloc(H, 100);
    xmalloc(H, 100);
    uint64_t tag;
    memcpy(&tag, b - 16, 8);
    tag ^= (uint64_t)1 << 33;
    memcpy(b - 16, &tag, 8);
    if (go)
        wd_heap_free(H, b);
    return b;
}

/* b's header is saved, a shrinks in place (a free range now sits between a
 * and b, and b's tag changes), then the old header is written back: a valid
 * checksum, but it names a left neighbour that is not there. */
static void *case_header_replay(int go) {
    H = fresh();
    unsigned char *a = xmalloc(H, 100);
    unsigned char *b = xmalloc(H, 100);
    xmalloc(H, 100);
    unsigned char saved[16];
    memcpy(saved, b - 16, 16);
    CHECK(wd_heap_realloc(H, a, 40) == a); /* a: 64 bytes, then a free 64 */
    memcpy(b - 16, saved, 16);
    if (go)
        wd_heap_free(H, b);
    return b;
}

static void *case_overflow_realloc(int go) {
    overflow_setup(1);
    if (go)
        wd_heap_realloc(H, ov_b, 50);
    return ov_b;
}

static void *case_overflow_realloc_grow(int go) {
    overflow_setup(1);
    if (go)
        wd_heap_realloc(H, ov_a, 200); /* looks at b to grow into it */
    return ov_b;
}

static void *case_overflow_usable(int go) {
    overflow_setup(1);
    if (go)
        wd_heap_usable_size(H, ov_b);
    return ov_b;
}

/* The block before the rest of the heap overflows into the free range's
 * header; malloc then takes that range. */
static void *case_overflow_into_free(int go) {
    H = fresh();
    unsigned char *a = xmalloc(H, 100);
    memset(a, 0x55, 112 + 16);
    if (go)
        wd_heap_malloc(H, 100);
    return a + 128;
}

/* Write after free over the encoded links of a block that cannot merge. */
static void *case_free_list(int go) {
    H = fresh();
    xmalloc(H, 100);
    unsigned char *x = xmalloc(H, 100);
    xmalloc(H, 100);
    fill_rest(H);
    wd_heap_free(H, x); /* x is now the only free range */
    memset(x, 0x41, 16);
    if (go)
        wd_heap_malloc(H, 100);
    return x;
}

/* Write after free of *old* link values: x1 and x2 (same class, guarded,
 * nothing else free) are both listed; U's links are saved; malloc takes T
 * (the other); U's saved links, which name T, are written back.  They decode
 * to a real range, but T is allocated now: the malloc that takes U must
 * abort (naming U or T) rather than write list links into T's payload. */
static unsigned char *replay_t, *replay_u;
static void *case_free_list_replay(int go) {
    H = fresh();
    xmalloc(H, 16);
    unsigned char *x1 = xmalloc(H, 100);
    xmalloc(H, 16);
    unsigned char *x2 = xmalloc(H, 100);
    xmalloc(H, 16);
    fill_rest(H);
    wd_heap_free(H, x1);
    wd_heap_free(H, x2);
    unsigned char s1[16], s2[16];
    memcpy(s1, x1, 16);
    memcpy(s2, x2, 16);
    replay_t = xmalloc(H, 100);
    CHECK(replay_t == x1 || replay_t == x2);
    replay_u = replay_t == x1 ? x2 : x1;
    memcpy(replay_u, replay_u == x1 ? s1 : s2, 16);
    if (go)
        wd_heap_malloc(H, 100);
    return replay_u;
}

/* ---- realloc and usable_size on what is not a live block ---------------- */

static void *case_realloc_freed(int go) {
    H = fresh();
    void *p = xmalloc(H, 64);
    xmalloc(H, 64);
    wd_heap_free(H, p);
    if (go)
        wd_heap_realloc(H, p, 100);
    return p;
}

static void *case_usable_freed(int go) {
    H = fresh();
    void *p = xmalloc(H, 64);
    xmalloc(H, 64);
    wd_heap_free(H, p);
    if (go)
        wd_heap_usable_size(H, p);
    return p;
}

static void *case_usable_foreign(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_usable_size(H, global_buf + 32);
    return global_buf + 32;
}

static void *case_usable_interior(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 200);
    memset(p, 0, 200);
    xmalloc(H, 64);
    if (go)
        wd_heap_usable_size(H, p + 64);
    return p + 64;
}

static void *case_realloc_foreign(int go) {
    H = fresh();
    xmalloc(H, 64);
    if (go)
        wd_heap_realloc(H, stack_buf + 32, 10);
    return stack_buf + 32;
}

static void *case_realloc_interior(int go) {
    H = fresh();
    unsigned char *p = xmalloc(H, 200);
    memset(p, 0, 200);
    xmalloc(H, 64);
    if (go)
        wd_heap_realloc(H, p + 32, 10);
    return p + 32;
}

/* ---- the harness -------------------------------------------------------- */

/* Runs fn in a child, returns its whole stderr (static) and its status. */
static const char *child_stderr(void (*fn)(void), int *status) {
    static char buf[65536];
    *status = test_child_stderr(fn, buf, sizeof buf);
    return buf;
}

/* The child's stderr must be exactly one of the wanted lines. */
static int only_line(void (*fn)(void), const char *name, const char *want1, const char *want2) {
    int status = 0;
    const char *err = child_stderr(fn, &status);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (aborted && (strcmp(err, want1) == 0 || (want2 && strcmp(err, want2) == 0)))
        return 0;
    fprintf(stderr, "%s: wanted exactly \"%.*s\"%s%.*s%s, %s; child stderr:\n%s\n", name,
            (int)strlen(want1) - 1, want1, want2 ? " or \"" : "",
            want2 ? (int)strlen(want2) - 1 : 0, want2 ? want2 : "", want2 ? "\"" : "",
            aborted ? "got other text" : "the child did not abort", err);
    return 1;
}

static void line(char *out, size_t n, const char *what, const void *addr, const char *func) {
    snprintf(out, n, "warden: %s at 0x%" PRIxPTR " in %s\n", what, (uintptr_t)addr, func);
}

/* The child's stderr must be one line "warden: <any kind><tail>". */
static int only_line_any_kind(void (*fn)(void), const char *name, const char *tail) {
    int status = 0;
    const char *err = child_stderr(fn, &status);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    size_t len = strlen(err), tl = strlen(tail);
    int ok = aborted && strncmp(err, "warden: ", 8) == 0 && len > 8 + tl &&
             strcmp(err + len - tl, tail) == 0 && strchr(err, '\n') == err + len - 1;
    if (ok) {
        printf("%s: %s", name, err);
        return 0;
    }
    fprintf(stderr, "%s: wanted one line \"warden: <what>%.*s\", %s; child stderr:\n%s\n", name,
            (int)tl - 1, tail, aborted ? "got other text" : "the child did not abort", err);
    return 1;
}

/* One case, one kind: EXPECT_ABORT on the line, then the line alone. */
#define MISUSE(c, what, func)                                                  \
    do {                                                                       \
        char want_[256];                                                       \
        line(want_, sizeof want_, what, case_##c(0), func);                    \
        EXPECT_ABORT(run_##c, want_);                                          \
        test_failures += only_line(run_##c, #c, want_, NULL);                  \
        n_cases++;                                                             \
    } while (0)

/* Either of two kinds is right. */
#define MISUSE2(c, what1, what2, func)                                         \
    do {                                                                       \
        char want1_[256], want2_[256], tail_[128];                             \
        void *a_ = case_##c(0);                                                \
        line(want1_, sizeof want1_, what1, a_, func);                          \
        line(want2_, sizeof want2_, what2, a_, func);                          \
        snprintf(tail_, sizeof tail_, " at 0x%" PRIxPTR " in %s\n", (uintptr_t)a_, func); \
        EXPECT_ABORT(run_##c, tail_);                                          \
        test_failures += only_line(run_##c, #c, want1_, want2_);               \
        n_cases++;                                                             \
    } while (0)

/* Any kind (realloc/usable_size of a freed block: the brief accepts "double
 * free" and "invalid pointer"; only the prefix, address and function are
 * asserted). */
#define MISUSE_ANY(c, func)                                                    \
    do {                                                                       \
        char tail_[128];                                                       \
        void *a_ = case_##c(0);                                                \
        snprintf(tail_, sizeof tail_, " at 0x%" PRIxPTR " in %s\n", (uintptr_t)a_, func); \
        EXPECT_ABORT(run_##c, "warden: ");                                     \
        EXPECT_ABORT(run_##c, tail_);                                          \
        test_failures += only_line_any_kind(run_##c, #c, tail_);               \
        n_cases++;                                                             \
    } while (0)

#define RUNNER(c)                                                              \
    static void run_##c(void) { (void)case_##c(1); }
RUNNER(double_free)
RUNNER(double_free_later)
RUNNER(double_free_merged_into_prev)
RUNNER(double_free_merged_next)
RUNNER(realloc0_then_free)
RUNNER(free_after_realloc_moved)
RUNNER(interior)
RUNNER(interior_stale_header)
RUNNER(interior_after_resize)
RUNNER(usable_stale_header)
RUNNER(stack)
RUNNER(global)
RUNNER(libc)
RUNNER(other_heap)
RUNNER(control_block)
RUNNER(past_end)
RUNNER(misaligned_freed)
RUNNER(overflow_free_next)
RUNNER(overflow_free_self)
RUNNER(off_by_one)
RUNNER(off_by_one_then_free_self)
RUNNER(underflow)
RUNNER(prev_size_flipped)
RUNNER(header_replay)
RUNNER(free_list_replay)
RUNNER(overflow_realloc)
RUNNER(overflow_realloc_grow)
RUNNER(overflow_usable)
RUNNER(overflow_into_free)
RUNNER(free_list)
RUNNER(realloc_freed)
RUNNER(usable_freed)
RUNNER(usable_foreign)
RUNNER(usable_interior)
RUNNER(realloc_foreign)
RUNNER(realloc_interior)

int main(void) {
    _Alignas(16) unsigned char on_stack[256];
    memset(on_stack, 0, sizeof on_stack);
    stack_buf = on_stack;
    libc_block = malloc(64);
    CHECK(libc_block != NULL);
    int n_cases = 0;

    MISUSE(double_free, "double free", "wd_heap_free");
    MISUSE(double_free_later, "double free", "wd_heap_free");
    MISUSE(double_free_merged_into_prev, "double free", "wd_heap_free");
    MISUSE(double_free_merged_next, "double free", "wd_heap_free");
    MISUSE(realloc0_then_free, "double free", "wd_heap_free");
    MISUSE(free_after_realloc_moved, "double free", "wd_heap_free");

    static const size_t offs[] = {1, 8, 16, 24, 32, 48, 100, 192};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        interior_off = offs[i];
        interior_fill = 0;
        printf("interior pointer at offset %zu\n", offs[i]);
        MISUSE(interior, "invalid pointer", "wd_heap_free");
    }
    interior_fill = 1;
    interior_off = 48;
    printf("interior pointer at offset 48, block zeroed\n");
    MISUSE(interior, "invalid pointer", "wd_heap_free");
    interior_fill = 2;
    interior_off = 32;
    printf("interior pointer at offset 32, block full of copies of its header\n");
    MISUSE(interior, "invalid pointer", "wd_heap_free");
    interior_off = 16;
    printf("interior pointer at offset 16, block full of copies of its header\n");
    MISUSE(interior, "invalid pointer", "wd_heap_free");

    MISUSE(interior_stale_header, "invalid pointer", "wd_heap_free");
    MISUSE(interior_after_resize, "invalid pointer", "wd_heap_free");
    MISUSE(usable_stale_header, "invalid pointer", "wd_heap_usable_size");

    MISUSE(stack, "invalid pointer", "wd_heap_free");
    MISUSE(global, "invalid pointer", "wd_heap_free");
    MISUSE(libc, "invalid pointer", "wd_heap_free");
    MISUSE(other_heap, "invalid pointer", "wd_heap_free");
    MISUSE(control_block, "invalid pointer", "wd_heap_free");
    MISUSE(past_end, "invalid pointer", "wd_heap_free");
    MISUSE(misaligned_freed, "invalid pointer", "wd_heap_free");

    MISUSE(overflow_free_next, "corrupted block header", "wd_heap_free");
    MISUSE(overflow_free_self, "corrupted block header", "wd_heap_free");
    MISUSE(off_by_one, "corrupted block header", "wd_heap_free");
    MISUSE(off_by_one_then_free_self, "corrupted block header", "wd_heap_usable_size");
    MISUSE(underflow, "corrupted block header", "wd_heap_free");
    MISUSE(prev_size_flipped, "corrupted block header", "wd_heap_free");
    MISUSE(header_replay, "corrupted block header", "wd_heap_free");
    MISUSE(overflow_realloc, "corrupted block header", "wd_heap_realloc");
    MISUSE(overflow_realloc_grow, "corrupted block header", "wd_heap_realloc");
    MISUSE(overflow_usable, "corrupted block header", "wd_heap_usable_size");
    MISUSE2(overflow_into_free, "corrupted block header", "corrupted free list",
            "wd_heap_malloc");
    MISUSE(free_list, "corrupted free list", "wd_heap_malloc");
    {
        char want_u[256], want_t[256];
        line(want_u, sizeof want_u, "corrupted free list", case_free_list_replay(0),
             "wd_heap_malloc");
        line(want_t, sizeof want_t, "corrupted free list", replay_t, "wd_heap_malloc");
        EXPECT_ABORT(run_free_list_replay, "warden: corrupted free list at 0x");
        test_failures += only_line(run_free_list_replay, "free_list_replay", want_u, want_t);
        n_cases++;
    }

    MISUSE_ANY(realloc_freed, "wd_heap_realloc");
    MISUSE_ANY(usable_freed, "wd_heap_usable_size");
    MISUSE(usable_foreign, "invalid pointer", "wd_heap_usable_size");
    MISUSE(usable_interior, "invalid pointer", "wd_heap_usable_size");
    MISUSE(realloc_foreign, "invalid pointer", "wd_heap_realloc");
    MISUSE(realloc_interior, "invalid pointer", "wd_heap_realloc");

    free(libc_block);
    printf("%d misuse cases, %d failure(s)\n", n_cases, test_failures);
    return test_failures ? 1 : 0;
}
