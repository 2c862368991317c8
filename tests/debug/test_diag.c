/* test_diag.c -- the diagnostics the checkers share (src/debug/stack,
 * symbol, report), called directly: the test is linked with libwarden.a
 * and sees src/, so no public API is needed for them.
 *
 *   - a report printed by a child, its stderr piped back, names level3,
 *     level2, level1 and capture_both in that order with this file's lines
 *     (skipped, exit 77 at the end, without addr2line on PATH);
 *   - WARDEN_OPTIONS=symbolize=0 (a fresh exec of this program): frames
 *     are module+offset, and the offset is what addr2line wants;
 *   - PATH without addr2line: module+offset and the hint, once; a frame
 *     without debug information: its name, module+offset, the hint;
 *   - 1,024 addresses in 64 functions named in one call (an answer longer
 *     than the symbolizer's read buffer), with each helper;
 *   - an address under eleven levels of inlined calls: the innermost
 *     levels and the real function (the last) are kept;
 *   - the depot: equal stacks one id, different stacks different ids,
 *     round trips, truncation to WD_STACK_MAX, a full depot;
 *   - 8 threads capturing and saving at once: ids stable and shared.
 * Compiled with -g -O0, so every level is a real frame with lines. */
#include <pthread.h>

#include "test.h"
#include "warden.h"

#include "debug/report.h"
#include "debug/stack.h"
#include "debug/suppress.h"
#include "debug/symbol.h"

#define NOINLINE __attribute__((noinline))

/* --- a known stack ----------------------------------------------------------- */

static void *stack_pcs[WD_STACK_MAX];
static int stack_n;
static int line_of[4]; /* the calls: [0] in capture_both ... [3] in level3 */

NOINLINE static void level3(void) {
    stack_n = wdi_stack_capture(stack_pcs, WD_STACK_MAX, 0); line_of[3] = __LINE__;
}

NOINLINE static void level2(void) {
    level3(); line_of[2] = __LINE__;
}

NOINLINE static void level1(void) {
    level2(); line_of[1] = __LINE__;
}

/* A public entry point of warden stands here: it hands its own return
 * address down, and the capture starts at its caller whatever lies in
 * between. */
static void *entry_pcs[WD_STACK_MAX];
static int entry_n, entry_line;

NOINLINE static int checker(const void *entry_ret) {
    return wdi_stack_capture_from(entry_pcs, WD_STACK_MAX, entry_ret);
}

NOINLINE static int fake_entry(void) {
    return checker(__builtin_return_address(0));
}

NOINLINE static void entry_caller(void) {
    entry_n = fake_entry(); entry_line = __LINE__;
}

/* Both stacks; the parent calls it too, for line_of[] and entry_line. */
NOINLINE static void capture_both(void) {
    level1(); line_of[0] = __LINE__;
    entry_caller();
}

/* Captures both stacks and prints one report with them. */
NOINLINE static void run_report(void) {
    capture_both();
    wdi_report_begin("test report from %s", "level3");
    wdi_report_line("a line of details, %d", 42);
    wdi_report_stack("captured at", stack_pcs, stack_n);
    wdi_report_stack("captured from an entry point", entry_pcs, entry_n);
    wdi_report_end();
}

/* arg: NULL, or a PATH for the child. */
static void report_child(const void *arg) {
    if (arg != NULL)
        setenv("PATH", arg, 1);
    run_report();
}

/* --- looking at a report --------------------------------------------------- */

static char report[65536];

/* The line of frame #k after the line `  <title>:` of report, into line
 * (cap bytes); 0 when there is none. */
static int frame_line(const char *title, int k, char *line, size_t cap) {
    char want[128];
    snprintf(want, sizeof want, "\n  %s:\n", title);
    const char *at = strstr(report, want);
    if (at == NULL)
        return 0;
    at += strlen(want);
    snprintf(want, sizeof want, "    #%d 0x", k);
    /* Frame k of this stack, before the next title or report. */
    for (const char *ln = at; *ln != '\0';) {
        const char *nl = strchr(ln, '\n');
        size_t len = nl ? (size_t)(nl - ln) : strlen(ln);
        if (strncmp(ln, "    #", 5) != 0)
            return 0;
        if (strncmp(ln, want, strlen(want)) == 0) {
            snprintf(line, cap, "%.*s", (int)len, ln);
            return 1;
        }
        ln += len + (nl != NULL);
    }
    return 0;
}

/* Frame k of the stack `title` is in function fn at test_diag.c:line. */
static void expect_frame(const char *title, int k, const char *fn, int line) {
    char got[1024], want[128];
    if (!frame_line(title, k, got, sizeof got)) {
        fprintf(stderr, "no frame #%d under '%s' in:\n%s", k, title, report);
        exit(1);
    }
    snprintf(want, sizeof want, " in %s ", fn);
    int ok = strstr(got, want) != NULL;
    snprintf(want, sizeof want, "/test_diag.c:%d", line);
    const char *end = strstr(got, want);
    ok = ok && end != NULL && end[strlen(want)] == '\0';
    if (!ok) {
        fprintf(stderr, "frame #%d under '%s': wanted %s at test_diag.c:%d, got \"%s\"\n%s", k,
                title, fn, line, got, report);
        exit(1);
    }
}

/* addr2line's path, or "" when it is not on PATH. */
static char addr2line[4096];

static void find_addr2line(void) {
    FILE *p = popen("command -v addr2line", "r");
    CHECK(p != NULL);
    if (fgets(addr2line, sizeof addr2line, p) == NULL || addr2line[0] != '/')
        addr2line[0] = '\0';
    addr2line[strcspn(addr2line, "\n")] = '\0';
    pclose(p);
}

/* file:line for the four levels, in order, and the entry point's caller
 * first in the other stack; the details line and no hint.  With path,
 * the child's PATH is that (a directory where addr2line is the only
 * helper, when llvm-symbolizer would otherwise be used). */
static void test_report_lines(const char *path) {
    int status = test_run_piped(report_child, path, 0, NULL, 0, report, sizeof report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("a report (PATH=%s):\n%s", path ? path : "as it is", report);
    const char *head = "warden: test report from level3\n  a line of details, 42\n";
    CHECK(strncmp(report, head, strlen(head)) == 0);
    expect_frame("captured at", 0, "level3", line_of[3]);
    expect_frame("captured at", 1, "level2", line_of[2]);
    expect_frame("captured at", 2, "level1", line_of[1]);
    expect_frame("captured at", 3, "capture_both", line_of[0]);
    expect_frame("captured from an entry point", 0, "entry_caller", entry_line);
    CHECK(strstr(report, "no file:line") == NULL);
}

/* --- without the helper ------------------------------------------------------ */

/* The program's own path, as reports name it. */
static char self[4096];

static void no_helper_child(const void *arg) {
    (void)arg;
    setenv("PATH", "/nonexistent", 1);
    run_report();
}

/* Frame #0 of "captured at" is `(<self>+0x<off>)`: *off gets the offset. */
static void expect_module_offset(unsigned long *off) {
    char got[1024], want[4200];
    CHECK(frame_line("captured at", 0, got, sizeof got));
    snprintf(want, sizeof want, "(%s+0x", self);
    const char *at = strstr(got, want);
    if (at == NULL) {
        fprintf(stderr, "wanted %s...) in \"%s\"\n%s", want, got, report);
        exit(1);
    }
    *off = strtoul(at + strlen(want), NULL, 16);
    CHECK(strstr(report, "test_diag.c:") == NULL);
}

static void test_no_helper(void) {
    int status = test_run_piped(no_helper_child, NULL, 0, NULL, 0, report, sizeof report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned long off;
    expect_module_offset(&off);
    const char *hint = strstr(report, "\nwarden: (no file:line: ");
    CHECK(hint != NULL && strstr(hint + 1, "\nwarden: (no file:line: ") == NULL);
}

static void exec_symbolize_off(const void *arg) {
    (void)arg;
    setenv("WARDEN_OPTIONS", "symbolize=0", 1);
    char *args[] = {self, "report", NULL};
    execv(self, args);
    _exit(127);
}

/* symbolize=0 in a fresh process (options are read at start): module +
 * offset, no hint; the offset names level3's call for addr2line. */
static void test_symbolize_off(int lines) {
    int status = test_run_piped(exec_symbolize_off, NULL, 0, NULL, 0, report, sizeof report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned long off;
    expect_module_offset(&off);
    CHECK(strstr(report, "no file:line") == NULL);
    if (!lines)
        return;
    char cmd[4300], got[512] = "";
    snprintf(cmd, sizeof cmd, "addr2line -f -e '%s' 0x%lx", self, off - 1);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t len = fread(got, 1, sizeof got - 1, p);
    got[len] = '\0';
    pclose(p);
    char want[64];
    snprintf(want, sizeof want, "level3\n");
    CHECK(strncmp(got, want, strlen(want)) == 0);
    snprintf(want, sizeof want, "/test_diag.c:%d", line_of[3]);
    CHECK(strstr(got, want) != NULL);
}

/* _start comes from crt1.o, which has no debug information. */
extern char _start[];

/* Reports one frame, at address arg. */
static void one_frame_child(const void *arg) {
    void *pcs[1] = {(void *)arg};
    wdi_report_begin("one frame");
    wdi_report_stack("captured at", pcs, 1);
    wdi_report_end();
}

/* A frame of the program without a line: its name from the helper,
 * module+offset, and the hint to build with -g. */
static void test_no_lines(void) {
    int status = test_run_piped(one_frame_child, _start + 1, 0, NULL, 0, report, sizeof report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char got[1024], want[4200];
    CHECK(frame_line("captured at", 0, got, sizeof got));
    snprintf(want, sizeof want, " in _start (%s+0x", self);
    if (strstr(got, want) == NULL || strstr(report, "\nwarden: (no file:line: build ") == NULL) {
        fprintf(stderr, "wanted \"%s\" and the hint to build with -g in:\n%s", want, report);
        exit(1);
    }
}

/* Three reports without a line give the hint once, with the first. */
static void three_reports_child(const void *arg) {
    for (int i = 0; i < 3; i++)
        one_frame_child(arg);
}

static void test_hint_once(void) {
    int status =
        test_run_piped(three_reports_child, _start + 1, 0, NULL, 0, report, sizeof report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int reports = 0, hints = 0;
    for (const char *at = report; (at = strstr(at, "one frame")) != NULL; at++)
        reports++;
    for (const char *at = report; (at = strstr(at, "\nwarden: (no file:line: ")) != NULL; at++)
        hints++;
    const char *hint = strstr(report, "\nwarden: (no file:line: ");
    const char *second = strstr(report, "one frame");
    second = second ? strstr(second + 1, "one frame") : NULL;
    if (reports != 3 || hints != 1 || hint == NULL || second == NULL || hint > second) {
        fprintf(stderr, "wanted 3 reports and the hint once, in the first:\n%s", report);
        exit(1);
    }
}

/* An address no module holds (a library dlclose unmapped) says so. */
static void test_no_module(void) {
    /* below any mapping */
    int status = test_run_piped(one_frame_child, (const void *)(uintptr_t)0x10001, 0, NULL, 0,
                                report, sizeof report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char got[1024];
    CHECK(frame_line("captured at", 0, got, sizeof got));
    if (strstr(got, "#0 0x10001 (in no module loaded now)") == NULL) {
        fprintf(stderr, "wanted the frame in no module in:\n%s", report);
        exit(1);
    }
}

/* --- many addresses at once ---------------------------------------------------- */

/* 64 functions of some 40 bytes or more each (-O0), named many_0 ... many_63. */
#define MANY_BODY(N)                                                                          \
    NOINLINE static int many_##N(volatile int *x) {                                           \
        for (int i = 0; i < N + 3; i++)                                                       \
            *x += i * (N + 1);                                                                \
        return *x;                                                                            \
    }
#define MANY_8(A) MANY_BODY(A##0) MANY_BODY(A##1) MANY_BODY(A##2) MANY_BODY(A##3) \
    MANY_BODY(A##4) MANY_BODY(A##5) MANY_BODY(A##6) MANY_BODY(A##7)
MANY_8(1) MANY_8(2) MANY_8(3) MANY_8(4) MANY_8(5) MANY_8(6) MANY_8(7) MANY_8(8)
#define MANY_REF(N) {many_##N, "many_" #N}
#define MANY_REF8(A) MANY_REF(A##0), MANY_REF(A##1), MANY_REF(A##2), MANY_REF(A##3), \
    MANY_REF(A##4), MANY_REF(A##5), MANY_REF(A##6), MANY_REF(A##7)

static const struct {
    int (*fn)(volatile int *);
    const char *name;
} many[64] = {MANY_REF8(1), MANY_REF8(2), MANY_REF8(3), MANY_REF8(4),
              MANY_REF8(5), MANY_REF8(6), MANY_REF8(7), MANY_REF8(8)};

#define MANY_PCS 1024
static void *many_pcs[MANY_PCS];
static wdi_sym_t many_syms[MANY_PCS];
static char many_text[MANY_PCS * 96];

/* arg: the child's PATH.  Asks for 16 addresses inside each function,
 * interleaved (many_0 + 2, many_1 + 2, ..., many_0 + 3, ...), so that an
 * answer taken for the wrong question names the wrong function. */
static void many_child(const void *arg) {
    setenv("PATH", arg, 1);
    volatile int x = 0;
    for (int f = 0; f < 64; f++)
        many[f].fn(&x);
    for (int i = 0; i < MANY_PCS; i++)
        many_pcs[i] = (char *)(uintptr_t)many[i % 64].fn + 2 + i / 64;
    int missing = wdi_report_symbolize(many_pcs, MANY_PCS, many_syms, many_text, sizeof many_text);
    CHECK_EQ(missing, 0);
    for (int i = 0; i < MANY_PCS; i++) {
        const wdi_sym_t *s = &many_syms[i];
        const char *fn = s->levels > 0 ? s->at[0].func : NULL;
        if (fn == NULL || strcmp(fn, many[i % 64].name) != 0 || s->at[0].line <= 0) {
            fprintf(stderr, "address %d: wanted %s with a line, got %s:%d\n", i,
                    many[i % 64].name, fn ? fn : "(none)", s->levels > 0 ? s->at[0].line : 0);
            exit(1);
        }
    }
}

static void test_many(const char *path) {
    char out[4096];
    int status = test_run_piped(many_child, path, 0, NULL, 0, out, sizeof out);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "many addresses (PATH=%s): status 0x%x\n%s", path, (unsigned)status, out);
        exit(1);
    }
}

/* --- a tower of inlined calls ------------------------------------------------ */

/* Ten functions inlined into each other (always_inline: also at -O0), the
 * innermost capturing the stack: its first address has eleven levels of
 * inlined calls, more than a frame keeps (WDI_SYM_INLINE).  The real
 * function, where the program's own line is, must be the last kept. */
static void *tower_pcs[WD_STACK_MAX];
#define TOWER(N, NEXT) \
    static inline __attribute__((always_inline)) void tower##N(void) { NEXT; }
TOWER(9, wdi_stack_capture(tower_pcs, WD_STACK_MAX, 0))
TOWER(8, tower9()) TOWER(7, tower8()) TOWER(6, tower7()) TOWER(5, tower6())
TOWER(4, tower5()) TOWER(3, tower4()) TOWER(2, tower3()) TOWER(1, tower2())
TOWER(0, tower1())

NOINLINE static void tower_base(void) { tower0(); }

static void test_inline_levels(void) {
    tower_base();
    static wdi_sym_t sym;
    static char text[4096];
    CHECK_EQ(wdi_report_symbolize(tower_pcs, 1, &sym, text, sizeof text), 0);
    CHECK_EQ(sym.levels, WDI_SYM_INLINE);
    CHECK(sym.at[0].func != NULL && strcmp(sym.at[0].func, "tower9") == 0);
    CHECK(sym.at[WDI_SYM_INLINE - 1].func != NULL &&
          strcmp(sym.at[WDI_SYM_INLINE - 1].func, "tower_base") == 0);
}

/* --- the depot --------------------------------------------------------------- */

NOINLINE static int site_a(void **pcs) {
    return wdi_stack_capture(pcs, WD_STACK_MAX, 0);
}

NOINLINE static int site_b(void **pcs) {
    return wdi_stack_capture(pcs, WD_STACK_MAX, 0);
}

static void test_depot(void) {
    void *a[WD_STACK_MAX], *a2[WD_STACK_MAX], *b[WD_STACK_MAX], *back[WD_STACK_MAX];
    int na = 0, na2 = 0, nb;
    for (int i = 0; i < 2; i++) /* one call site, twice: equal stacks */
        *(i ? &na2 : &na) = site_a(i ? a2 : a);
    nb = site_b(b);
    CHECK(na >= 3 && na == na2 && memcmp(a, a2, (size_t)na * sizeof(void *)) == 0);
    uint32_t ida = wdi_stack_save(a, na), idb = wdi_stack_save(b, nb);
    CHECK(ida != 0 && idb != 0 && ida != idb && ida < (1u << 24) && idb < (1u << 24));
    size_t used = wdi_stack_depot_used();
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(wdi_stack_save(a2, na2), ida);
    CHECK_EQ(wdi_stack_depot_used(), used); /* found, not stored again */
    CHECK_EQ(wdi_stack_load(ida, back, WD_STACK_MAX), na);
    CHECK(memcmp(back, a, (size_t)na * sizeof(void *)) == 0);
    CHECK_EQ(wdi_stack_load(idb, back, WD_STACK_MAX), nb);
    CHECK(memcmp(back, b, (size_t)nb * sizeof(void *)) == 0);
    CHECK_EQ(wdi_stack_load(ida, back, 2), 2); /* max is kept */
    CHECK(wdi_stack_save(a, na - 1) != ida);   /* a prefix is another stack */
    CHECK_EQ(wdi_stack_load(0, back, WD_STACK_MAX), 0);
    CHECK_EQ(wdi_stack_load((1u << 24) - 1, back, WD_STACK_MAX), 0);

    /* Longer than WD_STACK_MAX: the innermost frames are kept. */
    void *deep[WD_STACK_MAX + 8];
    for (int i = 0; i < WD_STACK_MAX + 8; i++)
        deep[i] = (void *)(uintptr_t)(0x1000 + 16 * i);
    uint32_t idd = wdi_stack_save(deep, WD_STACK_MAX + 8);
    CHECK(idd != 0);
    CHECK_EQ(wdi_stack_save(deep, WD_STACK_MAX), idd);
    CHECK_EQ(wdi_stack_load(idd, back, WD_STACK_MAX), WD_STACK_MAX);
    CHECK(memcmp(back, deep, sizeof back) == 0);
}

/* Fills the depot in a child: saves end with 0, stacks saved before still
 * load and are still found. */
static void depot_full_child(const void *arg) {
    (void)arg;
    void *pcs[30], *back[30];
    size_t before = wdi_stack_depot_used();
    for (int i = 0; i < 30; i++)
        pcs[i] = (void *)(uintptr_t)(0x5000 + i);
    uint32_t first = wdi_stack_save(pcs, 30);
    CHECK(first != 0);
    size_t saved = 1;
    for (uintptr_t k = 1;; k++) {
        pcs[0] = (void *)(0x100000 + k);
        if (wdi_stack_save(pcs, 30) == 0)
            break;
        saved++;
        CHECK(saved < 1000000);
    }
    /* 16 + 30 * 8 bytes a stack, in WD_STACK_DEPOT_MIB chunks of 1 MiB,
     * after what test_depot stored. */
    size_t bound = (size_t)WD_STACK_DEPOT_MIB << 20, entry = 16 + 30 * 8;
    CHECK(wdi_stack_depot_used() > bound - entry && wdi_stack_depot_used() <= bound);
    CHECK(saved >= (bound - before) / entry - WD_STACK_DEPOT_MIB);
    pcs[0] = (void *)(uintptr_t)0x5000;
    CHECK_EQ(wdi_stack_save(pcs, 30), first);
    CHECK_EQ(wdi_stack_load(first, back, 30), 30);
    CHECK(memcmp(back, pcs, sizeof pcs) == 0);
}

static void test_depot_full(void) {
    char out[4096];
    int status = test_run_piped(depot_full_child, NULL, 0, NULL, 0, out, sizeof out);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "depot_full: status 0x%x\n%s", (unsigned)status, out);
        exit(1);
    }
}

/* --- threads ----------------------------------------------------------------- */

#define THREADS 8
#define SHARED 4000

static pthread_barrier_t start;
static uint32_t site_ids[THREADS];
static uint32_t shared_ids[THREADS][SHARED];

static void shared_stack(int k, void **pcs) {
    pcs[0] = (void *)(uintptr_t)(0x7000 + k);
    pcs[1] = (void *)(uintptr_t)(0x9000 + 3 * k);
    pcs[2] = (void *)(uintptr_t)0xdead;
}

static void *thread_main(void *arg) {
    int t = (int)(intptr_t)arg;
    void *pcs[WD_STACK_MAX], *back[WD_STACK_MAX];
    pthread_barrier_wait(&start);
    for (int i = 0; i < SHARED; i++) {
        /* Each thread starts elsewhere, so every stack is raced for. */
        int k = (i + t * (SHARED / THREADS)) % SHARED;
        shared_stack(k, pcs);
        uint32_t id = wdi_stack_save(pcs, 3);
        CHECK(id != 0);
        shared_ids[t][k] = id;
        if (i % 8 == 0) { /* the same call site again and again */
            int n = site_a(pcs);
            id = wdi_stack_save(pcs, n);
            CHECK(id != 0 && (site_ids[t] == 0 || site_ids[t] == id));
            site_ids[t] = id;
            CHECK_EQ(wdi_stack_load(id, back, WD_STACK_MAX), n);
            CHECK(memcmp(back, pcs, (size_t)n * sizeof(void *)) == 0);
        }
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t th[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
    for (int t = 1; t < THREADS; t++) /* every thread's stack ends the same */
        CHECK_EQ(site_ids[t], site_ids[0]);
    void *pcs[3], *back[3];
    for (int k = 0; k < SHARED; k++) {
        for (int t = 1; t < THREADS; t++)
            CHECK_EQ(shared_ids[t][k], shared_ids[0][k]);
        CHECK(k == 0 || shared_ids[0][k] != shared_ids[0][k - 1]);
        shared_stack(k, pcs);
        CHECK_EQ(wdi_stack_load(shared_ids[0][k], back, 3), 3);
        CHECK(memcmp(back, pcs, sizeof pcs) == 0);
    }
}

/* --- what a capture costs ------------------------------------------------------ */

NOINLINE static int deep(int d, void **pcs) {
    int n = d == 0 ? wdi_stack_capture(pcs, WD_STACK_MAX, 0) : deep(d - 1, pcs);
    __asm__ volatile("" ::: "memory"); /* no tail call: every level a frame */
    return n;
}

/* Printed, not checked: the figure docs/design.md quotes. */
static void print_cost(void) {
    void *pcs[WD_STACK_MAX];
    int n = deep(7, pcs), rounds = 20000;
    double t0 = test_now();
    for (int i = 0; i < rounds; i++)
        deep(7, pcs);
    double t1 = test_now();
    for (int i = 0; i < rounds; i++)
        wdi_stack_save(pcs, n);
    double t2 = test_now();
    printf("cost: capture of %d frames %.0f ns, save of a stored stack %.0f ns\n", n,
           (t1 - t0) / rounds * 1e9, (t2 - t1) / rounds * 1e9);
}

/* Suppression patterns (suppress.h): anywhere in the name unless anchored
 * by ^ or $, * for any run of characters (also none). */
static int pattern(const char *p, const char *name) {
    return wdi_suppress_match(p, (unsigned)strlen(p), name);
}

static void test_suppress_patterns(void) {
    CHECK(pattern("make_leaks", "make_leaks"));
    CHECK(pattern("leaks", "make_leaks"));
    CHECK(pattern("make", "make_leaks"));
    CHECK(!pattern("leakz", "make_leaks"));
    CHECK(pattern("^make", "make_leaks"));
    CHECK(!pattern("^leaks", "make_leaks"));
    CHECK(pattern("leaks$", "make_leaks"));
    CHECK(!pattern("make$", "make_leaks"));
    CHECK(pattern("^make_leaks$", "make_leaks"));
    CHECK(!pattern("^make_leak$", "make_leaks"));
    CHECK(pattern("^/usr/bin/*-linux-gnu*-as$", "/usr/bin/x86_64-linux-gnu-as"));
    CHECK(!pattern("^/usr/bin/*-linux-gnu*-as$", "/usr/bin/x86_64-linux-gnu-ld.bfd"));
    CHECK(!pattern("^/usr/bin/*-linux-gnu*-as$", "/usr/bin/x86_64-linux-gnu-asx"));
    CHECK(pattern("^/usr/bin/*-linux-gnu*-gcc-", "/usr/bin/x86_64-linux-gnu-gcc-12"));
    CHECK(pattern("^/usr/bin/*-linux-gnu*-gcc-", "/usr/bin/arm-linux-gnueabihf-gcc-12"));
    CHECK(!pattern("^/usr/bin/perl", "/usr/lib/x86_64-linux-gnu/libperl.so.5.36"));
    CHECK(pattern("a*b*c", "xxaxxbxxcxx"));
    CHECK(!pattern("a*b*c", "xxaxxcxxbxx"));
    CHECK(pattern("^a**c$", "abbbc"));
    CHECK(pattern("^*$", ""));
    CHECK(pattern("", "anything"));
    CHECK(!pattern("x", NULL));
    CHECK(pattern("aab$", "aaab")); /* a step back after a partial match */
    printf("ok: suppression patterns\n");
}

int main(int argc, char **argv) {
    (void)test_failures; /* every check here exits at once */
    wd_free(wd_malloc(16)); /* starts warden: options read */
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = '\0';
    if (argc > 1 && strcmp(argv[1], "report") == 0) {
        run_report();
        return 0;
    }
    capture_both(); /* fills line_of[] and entry_line for the checks */
    find_addr2line();
    int lines = addr2line[0] != '\0';
    test_suppress_patterns();
    test_depot();
    test_depot_full();
    test_threads();
    test_no_helper();
    test_symbolize_off(lines);
    print_cost();
    if (!lines) {
        printf("skip: no addr2line on PATH, file:line not checked\n");
        return TEST_SKIP;
    }
    test_report_lines(NULL);
    test_no_lines();
    test_hint_once();
    test_no_module();
    test_many(getenv("PATH"));
    test_inline_levels();
    /* addr2line alone, even where llvm-symbolizer would be preferred. */
    char dir[] = "/tmp/test_diag.XXXXXX", link[sizeof dir + 16];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(link, sizeof link, "%s/addr2line", dir);
    CHECK(symlink(addr2line, link) == 0);
    test_report_lines(dir);
    test_many(dir);
    unlink(link);
    rmdir(dir);
    printf("ok\n");
    return 0;
}
