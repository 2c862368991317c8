/* test_check.c -- check mode (WARDEN_OPTIONS=check=1, docs/check.md) seen
 * from outside: each program runs in a child with its stdout and stderr
 * captured, and what warden printed is compared with what the program
 * did.  Not linked with warden: the programs under test get it with
 * LD_PRELOAD.  Three parts, one ctest each:
 *
 *   test_check examples   examples/errors/ (one program per error) with the
 *                         default options, abort_on_error=1 and
 *                         error_exitcode=23 (and leaks=0, leaks=all for
 *                         leak.c); tests/debug/check_errors.cpp (underflow,
 *                         eviction from the quarantine, wrong sizes ...);
 *                         tests/debug/check_clean.cpp, which must get no
 *                         report at all
 *   test_check scan       tests/debug/check_scan.c: what wd_check_leaks
 *                         returns and prints for a block reachable from a
 *                         global, another thread's stack or TLS, another
 *                         block, an interior pointer, a lost block pointing
 *                         to another, a cycle of two lost blocks (one
 *                         definitely, one indirectly lost)
 *   test_check programs   python3, sqlite3 (skipped when missing), sort and
 *                         a C++ STL program: the same stdout, stderr and
 *                         status with and without check mode, and only the
 *                         summary line, with 0 errors
 *
 * Reports name `file:line` only with llvm-symbolizer or addr2line on PATH;
 * without either, those assertions are left out (and said so) while all
 * others stay.  The lines a report must name are found in the sources by
 * their marker comments (ERROR, ALLOC, FREE ... in examples/errors/, E_...
 * and SCAN_... here), so that editing a program does not break the test.
 *
 * Arguments after the part: --lib libwarden.so --errors-bin DIR --errors-src
 * DIR --tests-bin DIR --tests-src DIR [--stl PROGRAM]; ctest passes them
 * (tests/debug/CMakeLists.txt). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "test.h"

#include "check_harness.h"

/* --- examples/errors/ ---------------------------------------------------------- */

/* One example under the default options, abort_on_error=1 and
 * error_exitcode=23; check(run) asserts the reports of the first. */
typedef struct {
    const char *name, *src; /* program, source file */
    int reports;            /* reports (misuse and leak records) by default */
    const char *summary;    /* the summary's counts */
    int errors;             /* misuse reported before exit: abort_on_error aborts */
    void (*check)(run_t *r, const char *src);
} example_t;

#define ES cfg.errors_src

static void check_overflow(run_t *r, const char *src) {
    span_t rep =
        expect_report(r, "heap buffer overflow: 4 bytes past the end of a 400-byte block at 0x", 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, "were written (found in free)\n"), "not found in free");
    expect_frame(r, rep, "found at", ES, src, "FREE");
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
    EXPECT(r, span_has(rep, "is the start of a 400-byte block (from malloc)"),
           "the block is not described");
}

static void check_strcpy(run_t *r, const char *src) {
    /* "a string much longer than 4" and its zero: 28 bytes, 24 past the end */
    span_t rep =
        expect_report(r, "heap buffer overflow: 24 bytes past the end of a 4-byte block at 0x", 0);
    if (rep.start == NULL)
        return;
    expect_frame(r, rep, "found at", ES, src, "FREE");
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
}

static void check_uninit(run_t *r, const char *src) {
    (void)src;
    /* Reads are not seen: the garbage is the junk pattern, no report. */
    EXPECT(r, strstr(r->out, "value: 0xbebebebe\n") != NULL, "the int read is not 0xbebebebe");
}

static void check_double_free(run_t *r, const char *src) {
    span_t rep = expect_report(r, "double free of 0x", 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, "in free\n"), "the headline does not name free");
    expect_frame(r, rep, NULL, ES, src, "ERROR");
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
    expect_frame(r, rep, "first freed at", ES, src, "FREE");
    EXPECT(r, span_has(rep, "is a 32-byte block (from malloc) that was freed already"),
           "the block is not described");
}

static void check_invalid_free(run_t *r, const char *src) {
    static const char *const marker[3] = {"ERROR_STACK", "ERROR_STATIC", "ERROR_INSIDE"};
    for (int i = 0; i < 3; i++) {
        span_t rep = expect_report(r, "invalid pointer 0x", i);
        if (rep.start == NULL)
            return;
        EXPECT(r, span_has(rep, " in free\n"), "report %d: not in free", i + 1);
        expect_frame(r, rep, NULL, ES, src, marker[i]);
        char line[256] = "";
        const char *what = line; /* the line of details: `  0x... is ...` */
        for (const char *l = next_line(rep.start); l < rep.end; l = next_line(l))
            if (starts(l, "  0x")) {
                line_copy(l, line, sizeof line);
                break;
            }
        if (i < 2) {
            EXPECT(r, strstr(what, " is not in a block that warden handed out") != NULL,
                   "report %d says `%s`", i + 1, what);
        } else {
            EXPECT(r, strstr(what, " is 10 bytes inside a 100-byte block at 0x") != NULL &&
                          strstr(what, "(from malloc)") != NULL,
                   "report 3 does not name the block: `%s`", what);
            expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
        }
    }
}

static void check_use_after_free(run_t *r, const char *src) {
    /* balance is bytes 8 to 11 of struct account; found at exit */
    span_t rep =
        expect_report(r, "write after free: bytes 8 to 11 of a freed 24-byte block at 0x", 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, "were written (found in exit)\n"), "not found at exit");
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
    expect_frame(r, rep, "freed at", ES, src, "FREE");
}

static void check_mismatch(run_t *r, const char *src) {
    static const struct {
        const char *head, *error, *alloc;
    } want[3] = {
        {"mismatched delete: a block from new[] given to delete", "ERROR_ARRAY", "ALLOC_ARRAY"},
        {"mismatched free: a block from new given to free", "ERROR_NEW", "ALLOC_NEW"},
        {"mismatched delete: a block from malloc given to delete", "ERROR_MALLOC", "ALLOC_MALLOC"},
    };
    const char *from = r->err, *end = r->err + strlen(r->err);
    for (int i = 0; i < 3; i++) {
        span_t rep = report_find(from, end, want[i].head, 0);
        if (!EXPECT(r, rep.start != NULL, "no report `%s` after the one before", want[i].head))
            return;
        expect_frame(r, rep, NULL, ES, src, want[i].error);
        expect_frame(r, rep, "allocated at", ES, src, want[i].alloc);
        from = rep.end;
    }
}

/* leak.c's records, in order: definitely lost (largest first), then
 * indirectly lost; the block a global holds is in none. */
static void check_leak(run_t *r, const char *src) {
    const char *end = r->err + strlen(r->err);
    span_t ten = expect_report(r, "3330 bytes in 10 blocks are definitely lost\n", 0);
    span_t node = expect_report(r, "24 bytes in 1 blocks are definitely lost\n", 0);
    span_t payload = expect_report(r, "100 bytes in 1 blocks are indirectly lost\n", 0);
    if (ten.start == NULL || node.start == NULL || payload.start == NULL)
        return;
    EXPECT(r, ten.start < node.start && node.start < payload.start, "records out of order");
    expect_frame(r, ten, "allocated at", ES, src, "LEAK");
    expect_frame(r, node, "allocated at", ES, src, "LEAK_NODE");
    expect_frame(r, payload, "allocated at", ES, src, "LEAK_PAYLOAD");
    EXPECT(r, report_find(r->err, end, "64 bytes in 1 blocks", 0).start == NULL &&
                  strstr(r->err, "still reachable\n") == NULL,
           "a still reachable record without leaks=all");
}

/* check=2: the overflow faults at the write (the block ends at a guard
 * page: 400 bytes leave no slack), and the program goes on. */
static void check_overflow2(run_t *r, const char *src) {
    span_t rep = expect_report(r, "heap buffer overflow: write at 0x", 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, ", 0 bytes past the end of a 400-byte block at 0x"),
           "not 0 bytes past the end of the 400-byte block");
    expect_frame(r, rep, NULL, ES, src, "ERROR");
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
}

/* The 4-byte block ends at its guard page (check_exact: aligned to 4, as
 * its size allows): strcpy (libc's, frame #0) faults at its fifth byte,
 * and nothing is left for free to find. */
static void check_strcpy2(run_t *r, const char *src) {
    span_t rep = expect_report(r, "heap buffer overflow: write at 0x", 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, ", 0 bytes past the end of a 4-byte block at 0x"),
           "not 0 bytes past the end of the 4-byte block");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ES, src);
    if (have_lines) {
        char want[64];
        snprintf(want, sizeof want, "%s:%d\n", src, marker_line(path, "ERROR"));
        EXPECT(r, span_has(rep, want), "no frame of the stack names %s", want);
    }
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
}

/* The write to the freed struct faults: its pages were closed at free. */
static void check_use_after_free2(run_t *r, const char *src) {
    span_t rep = expect_report(r, "use after free: write at 0x", 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, ", 8 bytes inside a freed 24-byte block at 0x"), "not bytes 8 of 24");
    expect_frame(r, rep, NULL, ES, src, "ERROR");
    expect_frame(r, rep, "allocated at", ES, src, "ALLOC");
    expect_frame(r, rep, "freed at", ES, src, "FREE");
}

static const example_t examples2[] = {
    {"overflow", "overflow.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1, check_overflow2},
    {"strcpy_overflow", "strcpy_overflow.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1,
     check_strcpy2},
    {"uninit", "uninit.c", 0, "0 errors, 0 bytes leaked in 0 blocks (", 0, check_uninit},
    {"leak", "leak.c", 3, "0 errors, 3454 bytes leaked in 12 blocks (", 0, check_leak},
    {"double_free", "double_free.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1,
     check_double_free},
    {"invalid_free", "invalid_free.c", 3, "3 errors, 0 bytes leaked in 0 blocks (", 3,
     check_invalid_free},
    {"use_after_free", "use_after_free.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1,
     check_use_after_free2},
    {"mismatch", "mismatch.cpp", 3, "3 errors, 0 bytes leaked in 0 blocks (", 3, check_mismatch},
};

static const example_t examples[] = {
    {"overflow", "overflow.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1, check_overflow},
    {"strcpy_overflow", "strcpy_overflow.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1,
     check_strcpy},
    {"uninit", "uninit.c", 0, "0 errors, 0 bytes leaked in 0 blocks (", 0, check_uninit},
    {"leak", "leak.c", 3, "0 errors, 3454 bytes leaked in 12 blocks (", 0, check_leak},
    {"double_free", "double_free.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1,
     check_double_free},
    {"invalid_free", "invalid_free.c", 3, "3 errors, 0 bytes leaked in 0 blocks (", 3,
     check_invalid_free},
    {"use_after_free", "use_after_free.c", 1, "1 errors, 0 bytes leaked in 0 blocks (", 1,
     check_use_after_free},
    {"mismatch", "mismatch.cpp", 3, "3 errors, 0 bytes leaked in 0 blocks (", 3, check_mismatch},
};

static void test_example(const example_t *e) {
    char bin[1024], done[128];
    snprintf(bin, sizeof bin, "%s/%s", cfg.errors_bin, e->name);
    snprintf(done, sizeof done, "%s: done", e->name);
    const char *argv[] = {bin, NULL};

    /* Default options: the reports, the summary, and the program went on. */
    run_t r = run(PRELOAD, "check=1", NULL, 60, argv);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, done);
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == e->reports, "%d reports, not %d",
           report_count(r.err, r.err + strlen(r.err)), e->reports);
    expect_summary(&r, e->summary);
    e->check(&r, e->src);
    run_free(&r);

    /* abort_on_error=1: SIGABRT at the first error, which is the only
     * report; leaks are no error that aborts. */
    r = run(PRELOAD, "check=1:abort_on_error=1", NULL, 60, argv);
    if (e->errors > 0) {
        EXPECT(&r, aborted(&r), "did not abort");
        EXPECT(&r, strstr(r.out, done) == NULL, "went on after the first error");
        EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 1, "%d reports, not 1",
               report_count(r.err, r.err + strlen(r.err)));
        EXPECT(&r, summary_count(r.err) == 0, "a summary after abort");
    } else {
        EXPECT(&r, exited(&r, 0), "no misuse, but did not exit 0");
        expect_last_line(&r, done);
    }
    run_free(&r);

    /* error_exitcode=23: the status when anything was reported (errors or
     * leaks), the program's own (0) otherwise.  (stdout is not compared:
     * the exit status is set with _exit from the handler at exit, before
     * stdio flushes the program's buffers; see docs/check.md.) */
    r = run(PRELOAD, "check=1:error_exitcode=23", NULL, 60, argv);
    int reported = e->reports > 0;
    EXPECT(&r, exited(&r, reported ? 23 : 0), "exit status is not %d", reported ? 23 : 0);
    run_free(&r);
}

/* leak.c with leaks=0 and leaks=all. */
static void test_leak_options(void) {
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/leak", cfg.errors_bin);
    const char *argv[] = {bin, NULL};

    run_t r = run(PRELOAD, "check=1:leaks=0", NULL, 60, argv);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 0, "leak records with leaks=0");
    expect_summary(&r, "0 errors (leaks not checked: leaks=0)");
    run_free(&r);

    /* check_summary=0 keeps the summary of a run that leaked */
    r = run(PRELOAD, "check=1:check_summary=0", NULL, 60, argv);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    EXPECT(&r, strstr(r.err, "warden: check: 0 errors, ") != NULL &&
                   strstr(r.err, " bytes leaked in 0 blocks") == NULL,
           "no summary of the leaks with check_summary=0");
    run_free(&r);

    /* Every record's stack is named in one symbolizer run, not one each. */
    helper_runs_since();
    r = run(PRELOAD, "check=1:leaks=all", NULL, 60, argv);
    int runs = helper_runs_since();
    EXPECT(&r, !have_lines || runs == 1, "4 leak records named in more than one helper run");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    span_t reach = expect_report(&r, "64 bytes in 1 blocks are still reachable\n", 0);
    if (reach.start != NULL)
        expect_frame(&r, reach, "allocated at", ES, "leak.c", "REACHABLE");
    expect_report(&r, "3330 bytes in 10 blocks are definitely lost\n", 0);
    expect_report(&r, "100 bytes in 1 blocks are indirectly lost\n", 0);
    expect_summary(&r, "0 errors, 3454 bytes leaked in 12 blocks (");
    run_free(&r);
}

/* leak.c with suppressions=FILE: a file naming make_leaks (a static
 * function: the helper names it) or the program (its module: named
 * without the helper) leaves out all three records, which then count as
 * suppressed and not for error_exitcode; a file naming nothing of it, or
 * none there, leaves them in, with a warning for what is not understood. */
static void test_suppressions(void) {
    char bin[1024], path[] = "/tmp/test_check_supp.XXXXXX", options[256];
    snprintf(bin, sizeof bin, "%s/leak", cfg.errors_bin);
    const char *argv[] = {bin, NULL};
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    static const struct {
        const char *text;
        int needs_lines, suppressed;
        const char *warning;
    } cases[] = {
        {"# the function that leaks\n  leak:make_leaks  \n", 1, 1, NULL},
        {"leak:^/*/leak$\n", 0, 1, NULL},
        {"leak:no_such_function\nleak_it:make_leaks\n", 0, 0,
         "line 2 is no `leak:PATTERN` line: ignored"},
        {NULL, 0, 0, "cannot open it"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].needs_lines && !have_lines)
            continue;
        if (cases[i].text != NULL) {
            FILE *f = fopen(path, "w");
            CHECK(f != NULL && fputs(cases[i].text, f) >= 0 && fclose(f) == 0);
        }
        snprintf(options, sizeof options, "check=1:error_exitcode=23:suppressions=%s%s", path,
                 cases[i].text != NULL ? "" : ".none");
        run_t r = run(PRELOAD, options, NULL, 60, argv);
        if (cases[i].suppressed) {
            EXPECT(&r, exited(&r, 0), "did not exit 0: suppressed leaks counted");
            EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 0, "leak records");
            expect_summary(&r, "0 errors, 0 bytes leaked in 0 blocks (");
            EXPECT(&r, strstr(r.err, "; 3454 bytes in 12 blocks suppressed)\n") != NULL,
                   "the summary does not count 3454 bytes in 12 blocks suppressed");
        } else {
            EXPECT(&r, exited(&r, 23), "did not exit 23");
            expect_report(&r, "3330 bytes in 10 blocks are definitely lost\n", 0);
            expect_summary(&r, "0 errors, 3454 bytes leaked in 12 blocks (");
            EXPECT(&r, strstr(r.err, "suppressed") == NULL, "something suppressed");
        }
        if (cases[i].warning != NULL)
            EXPECT(&r, strstr(r.err, cases[i].warning) != NULL, "no warning `%s`",
                   cases[i].warning);
        printf("ok: suppressions, case %zu\n", i + 1);
        run_free(&r);
    }
    unlink(path);
}

/* Without a symbolizer on PATH: the same report, module+offset frames and
 * the hint. */
static void test_no_symbolizer(void) {
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/overflow", cfg.errors_bin);
    const char *argv[] = {bin, NULL};
    char saved[sizeof child_path];
    strcpy(saved, child_path);
    strcpy(child_path, "/nonexistent");
    run_t r = run(PRELOAD, "check=1", NULL, 60, argv);
    strcpy(child_path, saved);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    span_t rep = expect_report(&r, "heap buffer overflow: 4 bytes past the end of a 400-byte", 0);
    char frame[512];
    if (rep.start != NULL)
        EXPECT(&r, strstr(top_frame(rep, "allocated at", frame, sizeof frame), "(") != NULL &&
                       strstr(frame, "overflow+0x") != NULL,
               "frame without a symbolizer is `%s`, not module+offset", frame);
    EXPECT(&r, strstr(r.err, "warden: (no file:line") != NULL, "no hint about file:line");
    expect_summary(&r, "1 errors, 0 bytes leaked in 0 blocks (");
    run_free(&r);
}

/* --- tests/debug/check_errors.cpp ------------------------------------------- */

#define TS cfg.tests_src

static void test_more_errors(void) {
    static const struct {
        const char *which, *options, *head, *where, *title, *marker, *alloc, *freed;
    } cases[] = {
        {"underflow", "check=1",
         "heap buffer underflow: 4 bytes before the start of a 40-byte block at 0x",
         "(found in free)", "found at", "E_UNDERFLOW_FREE", "E_UNDERFLOW_ALLOC", NULL},
        /* the whole left redzone written: a lower bound */
        {"underflow_whole", "check=1",
         "heap buffer underflow: at least 16 bytes before the start of a 40-byte block at 0x",
         "(found in free)", "found at", "E_UNDERFLOW_WHOLE_FREE", "E_UNDERFLOW_WHOLE_ALLOC", NULL},
        /* past the left redzone, into the record: the block's size and
         * stacks are gone, the underflow and where it was found are not */
        {"underflow_far", "check=1",
         "heap buffer underflow: the 16 bytes before a block at 0x", "(found in free)",
         "found at", "E_UNDERFLOW_FAR_FREE", NULL, NULL},
        /* past a block's right redzone, onto the next slot's record: named
         * at the free of the block that overflowed, or at the other's free
         * with the block before it; never a double free */
        {"record_jump", "check=1",
         "heap buffer overflow: a write reached 24 to 39 bytes past the end of a 40-byte block at 0x",
         "(found in free)", "found at", "E_RJUMP_FREE", "E_RJUMP_ALLOC", NULL},
        /* the same with both blocks live at exit: found there (until
         * 2026-12-08 only at a free; the record's block was then lost
         * to the leak scan's count) */
        {"record_jump_exit", "check=1",
         "heap buffer overflow: a write reached 24 to 39 bytes past the end of a 40-byte block at 0x",
         "(found in exit)", NULL, NULL, "E_RJUMPX_ALLOC", NULL},
        /* through the redzone onto that record: the same overflow, one
         * report (its redzone's, with a line for the record) */
        {"record_through", "check=1",
         "heap buffer overflow: at least 24 bytes past the end of a 40-byte block at 0x",
         "(found in free)", "found at", "E_RTHRU_FREE", "E_RTHRU_ALLOC", NULL},
        {"record_jump_back", "check=1",
         "heap buffer overflow or underflow: the checker's record of a 40-byte block at 0x",
         "(found in free)", "found at", "E_RJUMPB_FREE", "E_RJUMPB_ALLOC", NULL},
        {"record_zeroed", "check=1",
         "heap buffer overflow or underflow: the checker's record of a 64-byte block at 0x",
         "(found in free)", "found at", "E_RZERO_FREE", "E_RZERO_ALLOC", NULL},
        /* a byte written apart from the block: where it lies, not a count */
        {"overflow_gap", "check=1",
         "heap buffer overflow: the byte 10 bytes past the end of a 48-byte block at 0x",
         "was written (found in free)", "found at", "E_GAP_FREE", "E_GAP_ALLOC", NULL},
        {"overflow_sparse", "check=1",
         "heap buffer overflow: bytes from 0 to 4 bytes past the end of a 48-byte block at 0x",
         "were written (found in free)", "found at", "E_SPARSE_FREE", "E_SPARSE_ALLOC", NULL},
        /* the redzone's last byte: the write may have gone on past it */
        {"overflow_edge", "check=1",
         "heap buffer overflow: the byte 15 bytes past the end of a 48-byte block at 0x",
         "was written, and perhaps more beyond it (found in free)", "found at", "E_EDGE_OVER_FREE",
         "E_EDGE_OVER_ALLOC", NULL},
        /* a slack of kilobytes: its first bytes are the redzone */
        {"overflow_slack", "check=1",
         "heap buffer overflow: the byte 200 bytes past the end of a 20000-byte block at 0x",
         "was written (found in free)", "found at", "E_SLACK_FREE", "E_SLACK_ALLOC", NULL},
        {"underflow_gap", "check=1",
         "heap buffer underflow: the byte 10 bytes before the start of a 40-byte block at 0x",
         "was written (found in free)", "found at", "E_UGAP_FREE", "E_UGAP_ALLOC", NULL},
        /* found by a later free that pushes the block out, not at exit */
        {"evicted", "check=1:check_quarantine_mb=1",
         "write after free: bytes 10 to 10 of a freed 100-byte block at 0x", "(found in free)",
         NULL, NULL, "E_EVICTED_ALLOC", "E_EVICTED_FREE"},
        /* between the first and last 32 KiB: seen only when the patterns
         * cover the whole block (test_fill_bound: not by default) */
        {"evicted_far", "check=1:check_quarantine_mb=1:check_fill_kb=0",
         "write after free: bytes 50000 to 50000 of a freed 100000-byte block at 0x",
         "(found in free)", NULL, NULL, "E_FAR_ALLOC", "E_FAR_FREE"},
        /* in the last 8 KiB: seen by default */
        {"evicted_end", "check=1:check_quarantine_mb=1",
         "write after free: bytes 99999 to 99999 of a freed 100000-byte block at 0x",
         "(found in free)", NULL, NULL, "E_FAR_ALLOC", "E_FAR_FREE"},
        /* check=2: blocks up to 64 MiB lie against a guard page and close
         * at free: a write or read after free, a read past the end fault
         * and are reported at the access; a write into the slack before
         * such a block is found at free (its left redzone is the page) */
        {"large_uaf_write", "check=2", "use after free: write at 0x",
         "2500000 bytes inside a freed 5000000-byte block at 0x", NULL, "E_BIGW_WRITE",
         "E_BIGW_ALLOC", "E_BIGW_FREE"},
        {"large_uaf_read", "check=2", "use after free: read at 0x",
         "500000 bytes inside a freed 1048576-byte block at 0x", NULL, "E_BIGR_READ",
         "E_BIGR_ALLOC", "E_BIGR_FREE"},
        /* check=1: a block too large for the quarantine waits closed: the
         * same reports, and its bytes before its first whole page hold the
         * freed pattern */
        {"large_uaf_write", "check=1", "use after free: write at 0x",
         "2500000 bytes inside a freed 5000000-byte block at 0x", NULL, "E_BIGW_WRITE",
         "E_BIGW_ALLOC", "E_BIGW_FREE"},
        {"large_uaf_read", "check=1", "use after free: read at 0x",
         "500000 bytes inside a freed 1048576-byte block at 0x", NULL, "E_BIGR_READ",
         "E_BIGR_ALLOC", "E_BIGR_FREE"},
        {"large_uaf_edge", "check=1",
         "write after free: bytes 0 to 7 of a freed 1048576-byte block at 0x", "(found in exit)",
         NULL, NULL, "E_EDGE_ALLOC", "E_EDGE_FREE"},
        {"large_overflow_read", "check=2", "heap buffer overflow: read at 0x",
         "0 bytes past the end of a 2000000-byte block at 0x", NULL, "E_BIGO_READ",
         "E_BIGO_ALLOC", NULL},
        {"large_underflow", "check=2",
         "heap buffer underflow: the byte 2000 bytes before the start of a 2000000-byte block at "
         "0x",
         "(found in free)", "found at", "E_BIGU_FREE", "E_BIGU_ALLOC", NULL},
        /* out of the quarantine: known from the history of blocks given back */
        {"late_double", "check=1:check_quarantine_mb=1", "double free of 0x", " in free", NULL,
         "E_LATE_DOUBLE", "E_LATE_ALLOC", "E_LATE_FREE"},
        /* named with the operator the program called */
        {"double_delete", "check=1", "double free of 0x", " in delete", NULL, "E_DD_DOUBLE",
         "E_DD_ALLOC", "E_DD_FREE"},
        /* delete of new[]'s array: the pointer is past the count of elements */
        {"cookie_delete", "check=1", "mismatched delete: 0x", " bytes into a block from new[]",
         NULL, "E_COOKIE_DELETE", "E_COOKIE_ALLOC", NULL},
        /* the history forgot it: the slot's record still names the block */
        {"forgotten_double", "check=1", "double free of 0x", " in free", NULL, "E_FORGOT_DOUBLE",
         "E_FORGOT_ALLOC", NULL},
        /* check=2's cell keeps both stacks until a block takes it (until
         * 2026-12-08: "not in a block that warden handed out") */
        {"forgotten_double", "check=2", "double free of 0x", " in free", NULL, "E_FORGOT_DOUBLE",
         "E_FORGOT_ALLOC", "E_FORGOT_FREE"},
        {"free_sized", "check=1", "free_sized with a wrong size: 32 for a 40-byte block at 0x",
         "", NULL, "E_FREE_SIZED", "E_FREE_SIZED_ALLOC", NULL},
        /* named with the operator the program called, with the likely cause */
        {"sized_delete", "check=1", "sized delete with a wrong size: 24 for a 40-byte block at 0x",
         "", NULL, "E_SIZED_DELETE", "E_SIZED_DELETE_ALLOC", NULL},
        {"delete_overflow", "check=1",
         "heap buffer overflow: 1 bytes past the end of a 10-byte block at 0x",
         "were written (found in delete[])", "found at", "E_DOVER_DELETE", "E_DOVER_ALLOC", NULL},
        {"aligned_plain_delete", "check=1",
         "mismatched delete: a block from new aligned to 256 given to delete without an alignment",
         "", NULL, "E_APD_DELETE", "E_APD_ALLOC", NULL},
        {"plain_aligned_delete", "check=1",
         "mismatched delete: a block from new without an alignment given to delete with alignment "
         "64",
         "", NULL, "E_PAD_DELETE", "E_PAD_ALLOC", NULL},
        {"array_delete", "check=1", "mismatched delete[]: a block from new given to delete[]", "",
         NULL, "E_ARRAY_DELETE", "E_ARRAY_DELETE_ALLOC", NULL},
        /* delete[] of new's object of a type with a destructor: the count it
         * reads before the object is 0, the address it passes on 8 before */
        {"array_delete_destructor", "check=1", "mismatched delete[]: 0x",
         "8 bytes before a block from new", NULL, "E_ADD_DELETE", "E_ADD_ALLOC", NULL},
        {"realloc_freed", "check=1", "use after free of 0x", " in realloc", NULL, "E_REALLOC",
         "E_REALLOC_ALLOC", "E_REALLOC_FREE"},
    };
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/check_errors", cfg.tests_bin);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {bin, cases[i].which, NULL};
        run_t r = run(PRELOAD, cases[i].options, NULL, 60, argv);
        if (exited(&r, 77)) {
            printf("skip: check_errors %s (not available)\n", cases[i].which);
            run_free(&r);
            continue;
        }
        EXPECT(&r, exited(&r, 0), "did not exit 0");
        expect_last_line(&r, "check_errors: done");
        EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 1, "%d reports, not 1",
               report_count(r.err, r.err + strlen(r.err)));
        expect_summary(&r, "1 errors, 0 bytes leaked in 0 blocks (");
        span_t rep = expect_report(&r, cases[i].head, 0);
        if (rep.start == NULL)
            goto next;
        char headline[512];
        line_copy(rep.start, headline, sizeof headline);
        EXPECT(&r, strstr(headline, cases[i].where) != NULL, "the headline lacks `%s`",
               cases[i].where);
        if (strcmp(cases[i].which, "record_jump_back") == 0) { /* and the likely culprit */
            static const char before[] = "the block before it, a 40-byte block at 0x";
            EXPECT(&r, memmem(rep.start, (size_t)(rep.end - rep.start), before, strlen(before)) != NULL,
                   "the report lacks `%s`", before);
        }
        if (strcmp(cases[i].which, "record_through") == 0) { /* and the record */
            static const char on[] = "it went on past the redzone: bytes 24 to 39 past the end";
            EXPECT(&r, memmem(rep.start, (size_t)(rep.end - rep.start), on, strlen(on)) != NULL,
                   "the report lacks `%s`", on);
        }
        if (strcmp(cases[i].which, "sized_delete") == 0) { /* and its likely cause */
            static const char cause[] = "through a pointer to its base class, whose destructor";
            EXPECT(&r, memmem(rep.start, (size_t)(rep.end - rep.start), cause, strlen(cause)) != NULL,
                   "the report lacks `%s`", cause);
        }
        if (cases[i].marker != NULL)
            expect_frame(&r, rep, cases[i].title, TS, "check_errors.cpp", cases[i].marker);
        if (cases[i].alloc != NULL)
            expect_frame(&r, rep, "allocated at", TS, "check_errors.cpp", cases[i].alloc);
        /* a second release of a block names its first one */
        int again = strncmp(cases[i].head, "double free", 11) == 0 ||
                    strncmp(cases[i].head, "use after free of", 17) == 0;
        if (cases[i].freed != NULL)
            expect_frame(&r, rep, again ? "first freed at" : "freed at", TS, "check_errors.cpp",
                         cases[i].freed);
    next:
        run_free(&r);
    }
}

/* check_errors CASE under options, which must exit 0 after its last line
 * with `reports` reports. */
static run_t errors_run(const char *which, const char *options, int reports) {
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/check_errors", cfg.tests_bin);
    const char *argv[] = {bin, which, NULL};
    run_t r = run(PRELOAD, options, NULL, 60, argv);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "check_errors: done");
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == reports, "%d reports, not %d",
           report_count(r.err, r.err + strlen(r.err)), reports);
    return r;
}

/* The patterns cover the first and the last check_fill_kb / 2 KiB of a
 * larger block (64 by default): a write after free in between is not seen
 * (docs/check.md, "Limits"); check_errors evicted_far, whose report
 * test_more_errors asserts with check_fill_kb=0 (and evicted_end's, in
 * the last 8 KiB, by default). */
static void test_fill_bound(void) {
    run_t r = errors_run("evicted_far", "check=1:check_quarantine_mb=1", 0);
    expect_summary(&r, "0 errors, 0 bytes leaked in 0 blocks (");
    run_free(&r);
}

/* A fork child that reported an error of its own and left with _exit
 * prints its summary at _exit with its own count (not its parent's too),
 * and exits with its own status; the parent counts its own at exit. */
static void test_child_exit(void) {
    run_t r = errors_run("child_exit", "check=1:error_exitcode=0", 2);
    EXPECT(&r, strstr(r.err, "warden: check: 1 errors (at _exit: leaks not checked)\n") != NULL,
           "no summary of the child's own error at _exit");
    EXPECT(&r, strstr(r.err, "warden: check: 1 errors, 0 bytes leaked in 0 blocks (") != NULL,
           "no summary of the parent's own error at exit");
    run_free(&r);
}

/* --- tests/debug/check_clean.cpp ---------------------------------------------- */

/* No report at all: only summary lines (the parent's and its fork child's),
 * each with 0 errors and 0 bytes leaked. */
static void test_clean(void) {
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/check_clean", cfg.tests_bin);
    const char *argv[] = {bin, NULL};
    run_t r = run(PRELOAD, "check=1", NULL, 120, argv);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "check_clean: done");
    int summaries = 0, others = 0;
    for (const char *l = r.err; *l; l = next_line(l)) {
        if (is_summary(l)) {
            summaries++;
            others += !starts(l, "warden: check: 0 errors, 0 bytes leaked in 0 blocks (");
        } else if (starts(l, "warden:")) {
            others++;
        }
    }
    EXPECT(&r, summaries == 2, "%d summary lines, not 2 (the program's and its child's)",
           summaries);
    EXPECT(&r, others == 0, "%d warden lines that are not a clean summary", others);
    run_free(&r);

    /* check_summary=0: nothing at all on stderr for a clean run */
    r = run(PRELOAD, "check=1:check_summary=0", NULL, 120, argv);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "check_clean: done");
    EXPECT(&r, r.err[0] == '\0', "stderr is not empty: %.200s", r.err);
    run_free(&r);
}

/* --- the leak scan: tests/debug/check_scan.c ----------------------------------- */

/* What check_scan CASE printed: wd_check_leaks's value, and its records
 * (those before the `wd_check_leaks:` line) apart from those at exit. */
typedef struct {
    run_t r;
    long lost;              /* -1: not printed */
    const char *mid, *end;  /* r.err: [err, mid) the scan's, [mid, end) exit's */
} scan_run_t;

static scan_run_t scan_run(const char *which, const char *options) {
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/check_scan", cfg.tests_bin);
    const char *argv[] = {bin, which, NULL};
    scan_run_t s;
    s.r = run(PRELOAD, options, NULL, 60, argv);
    s.end = s.r.err + strlen(s.r.err);
    const char *at = strstr(s.r.err, "wd_check_leaks: ");
    s.lost = at != NULL ? strtol(at + strlen("wd_check_leaks: "), NULL, 10) : -1;
    s.mid = at != NULL ? at : s.end;
    EXPECT(&s.r, exited(&s.r, 0), "did not exit 0");
    EXPECT(&s.r, at != NULL, "no `wd_check_leaks:` line");
    EXPECT(&s.r, strstr(s.r.err, "check_scan: done\n") != NULL, "did not finish");
    return s;
}

/* A record of the scan (before the wd_check_leaks line) with headline head
 * whose allocation stack starts at marker's line. */
static void expect_record(scan_run_t *s, const char *head, const char *marker) {
    for (int nth = 0;; nth++) {
        span_t rep = report_find(s->r.err, s->mid, head, nth);
        if (rep.start == NULL)
            break;
        char frame[512], path[1024];
        top_frame(rep, "allocated at", frame, sizeof frame);
        snprintf(path, sizeof path, "%s/check_scan.c", cfg.tests_src);
        if (!have_lines || frame_names(frame, "check_scan.c", marker_line(path, marker)))
            return;
    }
    EXPECT(&s->r, 0, "no record `warden: %s` allocated at %s", head, marker);
}

/* No record (lost, or any with `what`) of the scan names marker's line. */
static void expect_no_record(scan_run_t *s, const char *what, const char *marker) {
    if (!have_lines)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/check_scan.c", cfg.tests_src);
    int line = marker_line(path, marker);
    for (int nth = 0;; nth++) {
        span_t rep = report_find(s->r.err, s->mid, "", nth);
        if (rep.start == NULL)
            return;
        char frame[512], head[256];
        line_copy(rep.start, head, sizeof head);
        if (strstr(head, what) != NULL &&
            frame_names(top_frame(rep, "allocated at", frame, sizeof frame), "check_scan.c", line))
            EXPECT(&s->r, 0, "`%s` names %s", head, marker);
    }
}

static void expect_exit_summary(scan_run_t *s, const char *counts) {
    char want[256];
    snprintf(want, sizeof want, "warden: check: %s", counts);
    const char *sum = strstr(s->mid, "warden: check: ");
    /* Not the error count: wd_check_leaks's records are counted as errors
     * (docs/check.md). */
    EXPECT(&s->r, sum != NULL && strstr(sum, want + strlen("warden: check: ")) != NULL,
           "the summary at exit does not say `%s`", counts);
}

/* A case where the blocks are reachable: wd_check_leaks finds only the
 * control block (123 bytes) lost; with leaks=all each block is listed as
 * still reachable. */
static void scan_reachable(const char *which, const char *const *heads,
                           const char *const *markers, int n, const char *reachable) {
    scan_run_t s = scan_run(which, "check=1");
    EXPECT(&s.r, s.lost == 123, "wd_check_leaks returned %ld, not 123 (the control)", s.lost);
    expect_record(&s, "123 bytes in 1 blocks are definitely lost\n", "SCAN_CONTROL");
    EXPECT(&s.r, report_count(s.r.err, s.mid) == 1, "%d records, not 1",
           report_count(s.r.err, s.mid));
    for (int i = 0; i < n; i++)
        expect_no_record(&s, "lost", markers[i]);
    expect_exit_summary(&s, reachable);
    run_free(&s.r);

    s = scan_run(which, "check=1:leaks=all");
    EXPECT(&s.r, s.lost == 123, "wd_check_leaks returned %ld, not 123", s.lost);
    for (int i = 0; i < n; i++) {
        expect_record(&s, heads[i], markers[i]);
        expect_no_record(&s, "lost", markers[i]);
    }
    run_free(&s.r);
}

static void test_scan(void) {
    {
        const char *heads[] = {"40 bytes in 1 blocks are still reachable\n"};
        const char *markers[] = {"SCAN_GLOBAL"};
        scan_reachable("global", heads, markers, 1, "123 bytes leaked in 1 blocks (");
    }
    {
        const char *heads[] = {"56 bytes in 1 blocks are still reachable\n",
                               "72 bytes in 1 blocks are still reachable\n"};
        const char *markers[] = {"SCAN_THREAD_STACK", "SCAN_THREAD_TLS"};
        scan_reachable("thread", heads, markers, 2, "123 bytes leaked in 1 blocks (");
    }
    {
        const char *heads[] = {"48 bytes in 1 blocks are still reachable\n",
                               "200 bytes in 1 blocks are still reachable\n"};
        const char *markers[] = {"SCAN_CHAIN_FIRST", "SCAN_CHAIN_SECOND"};
        scan_reachable("chain", heads, markers, 2, "123 bytes leaked in 1 blocks (");
    }
    {
        const char *heads[] = {"96 bytes in 1 blocks are still reachable\n"};
        const char *markers[] = {"SCAN_INTERIOR"};
        scan_reachable("interior", heads, markers, 1, "123 bytes leaked in 1 blocks (");
    }
    {
        /* held on the stack of a live thread that runs where an exited
         * one's stack was: a live stack */
        const char *heads[] = {"55 bytes in 1 blocks are still reachable\n"};
        const char *markers[] = {"SCAN_REUSED_STACK"};
        scan_reachable("reused_stack", heads, markers, 1, "123 bytes leaked in 1 blocks (");
    }

    /* A thread returned with its only pointer to a block in a local: the
     * block is lost, though the thread's stack stays mapped (x86-64: the
     * exited thread's stack is known by its thread pointer). */
    scan_run_t s;
#if defined(__x86_64__)
    s = scan_run("dead_thread", "check=1");
    EXPECT(&s.r, s.lost == 123 + 77, "wd_check_leaks returned %ld, not 200", s.lost);
    expect_record(&s, "77 bytes in 1 blocks are definitely lost\n", "SCAN_DEAD_THREAD");
    expect_exit_summary(&s, "200 bytes leaked in 2 blocks (");
    run_free(&s.r);
#endif

    /* A thread lost a block deep in a call and went back to wait: the
     * stale copy of its address below the thread's stack pointer is no
     * root (the thread is blocked, so where its stack ends is known). */
    s = scan_run("worker_leak", "check=1");
    EXPECT(&s.r, s.lost == 123 + 91, "wd_check_leaks returned %ld, not 214", s.lost);
    expect_record(&s, "91 bytes in 1 blocks are definitely lost\n", "SCAN_WORKER_LEAK");
    run_free(&s.r);

    /* The scan reads none of warden's own tables: the large tier's 64 MiB
     * of slots once cost every exit 16,384 page faults and 8,000 system
     * calls, for a program of a few blocks. */
    s = scan_run("tables", "check=1");
    EXPECT(&s.r, s.lost == 123, "wd_check_leaks returned %ld, not 123", s.lost);
    const char *faults = strstr(s.r.err, "scan faults: ");
    long nfaults = faults != NULL ? strtol(faults + strlen("scan faults: "), NULL, 10) : -1;
    EXPECT(&s.r, nfaults >= 0 && nfaults < 2048, "the scan took %ld page faults (bound 2048)",
           nfaults);
    run_free(&s.r);

    /* A lost block that points to another: one directly, one indirectly. */
    s = scan_run("indirect", "check=1");
    EXPECT(&s.r, s.lost == 48 + 300, "wd_check_leaks returned %ld, not 348", s.lost);
    expect_record(&s, "48 bytes in 1 blocks are definitely lost\n", "SCAN_INDIRECT_OWNER");
    expect_record(&s, "300 bytes in 1 blocks are indirectly lost\n", "SCAN_INDIRECT_OWNED");
    EXPECT(&s.r, report_count(s.r.err, s.mid) == 2, "%d records, not 2",
           report_count(s.r.err, s.mid));
    expect_exit_summary(&s, "348 bytes leaked in 2 blocks (0 bytes still reachable in 0 blocks)");
    run_free(&s.r);

    /* A cycle of two lost blocks: both lost, each in a record of its own,
     * one (the first by address) definitely lost and the other indirectly,
     * through it, as valgrind says (without the sorting out of lost
     * cycles, both were indirectly lost and the leak had no direct record). */
    s = scan_run("cycle", "check=1");
    EXPECT(&s.r, s.lost == 48 + 48, "wd_check_leaks returned %ld, not 96", s.lost);
    EXPECT(&s.r, report_count(s.r.err, s.mid) == 2, "%d records, not 2",
           report_count(s.r.err, s.mid));
    expect_record(&s, "48 bytes in 1 blocks are ", "SCAN_CYCLE_A");
    expect_record(&s, "48 bytes in 1 blocks are ", "SCAN_CYCLE_B");
    static const char *const kinds[] = {"definitely", "indirectly"};
    for (int k = 0; k < 2; k++) {
        char head[64];
        snprintf(head, sizeof head, "48 bytes in 1 blocks are %s lost", kinds[k]);
        EXPECT(&s.r, report_find(s.r.err, s.mid, head, 0).start != NULL,
               "no record of the cycle is %s lost", kinds[k]);
    }
    expect_exit_summary(&s, "96 bytes leaked in 2 blocks (0 bytes still reachable in 0 blocks)");
    run_free(&s.r);

    /* main returned after dropping a tree whose address a function it
     * called left in its dead frame: at exit the tree is lost, root and
     * child, as valgrind has it (the scan at exit starts at the caller of
     * exit; before, copies of the root's address in the frames below it
     * kept the tree "still reachable"). */
    s = scan_run("main_returned", "check=1");
    EXPECT(&s.r, s.lost == 0, "wd_check_leaks returned %ld, not 0", s.lost);
    expect_exit_summary(&s, "128 bytes leaked in 2 blocks (");
    s.mid = s.end; /* the records are exit's */
    expect_record(&s, "64 bytes in 1 blocks are definitely lost\n", "SCAN_MAIN_ROOT");
    expect_record(&s, "64 bytes in 1 blocks are indirectly lost\n", "SCAN_MAIN_CHILD");
    run_free(&s.r);
}

/* --- real programs ------------------------------------------------------------ */

/* Removes the lines starting with prefix from s (in place). */
static void drop_lines(char *s, const char *prefix) {
    char *w = s;
    for (const char *l = s; *l;) {
        const char *n = next_line(l);
        if (!starts(l, prefix)) {
            memmove(w, l, (size_t)(n - l));
            w += n - l;
        }
        l = n;
    }
    *w = '\0';
}

/* Runs argv without warden and with check=1 (or check=1:leaks=0 when
 * leaks is 0): same status, same stdout, same stderr but for warden's
 * summary lines (one per process that exits), which say 0 errors and, with
 * leaks, nothing lost: no leak record either (the default suppressions
 * leave out the leaks of the system's programs, perl's, sort's and the
 * GNU compiler's among them: test_suppressed_program checks they are
 * there). */
static void compare_programs(const char *const *argv, const char *input, int expect_status,
                             int processes, int leaks) {
    run_t ref = run(NO_WARDEN, "", input, 240, argv);
    run_t r = run(PRELOAD, leaks ? "check=1" : "check=1:leaks=0", input, 240, argv);
    const char *want = leaks ? "0 errors, 0 bytes leaked in 0 blocks ("
                             : "0 errors (leaks not checked: leaks=0)";
    EXPECT(&ref, exited(&ref, expect_status), "the reference run did not exit %d", expect_status);
    EXPECT(&r, r.status == ref.status, "status 0x%x, without warden 0x%x", (unsigned)r.status,
           (unsigned)ref.status);
    EXPECT(&r, strcmp(r.out, ref.out) == 0, "stdout differs from the run without warden:\n%s",
           ref.out);
    EXPECT(&r, summary_count(r.err) == processes, "%d summary lines, not %d",
           summary_count(r.err), processes);
    for (const char *at = r.err; (at = strstr(at, "warden: check: ")) != NULL; at++)
        EXPECT(&r, starts(at + strlen("warden: check: "), want), "a summary is not `%s...`", want);
    drop_lines(r.err, "warden: check: ");
    EXPECT(&r, strcmp(r.err, ref.err) == 0, "stderr differs (but for the summary) from:\n%s",
           ref.err);
    printf("ok: %s\n", r.name);
    run_free(&ref);
    run_free(&r);
}

static void compare_program(const char *const *argv, const char *input, int expect_status) {
    compare_programs(argv, input, expect_status, 1, 1);
}

/* The bytes and blocks the summary line at s counts as suppressed, as
 * "N bytes leaked in K blocks" ("0 bytes leaked in 0 blocks" when it
 * names none). */
static void summary_suppressed(const char *s, char *buf, size_t cap) {
    const char *at = strstr(s, "; ");
    const char *end = at != NULL ? strstr(at, " suppressed)") : NULL;
    if (end == NULL || end > next_line(s))
        snprintf(buf, cap, "0 bytes leaked in 0 blocks");
    else
        snprintf(buf, cap, "%.*s", (int)(end - at - 2), at + 2);
    char *in = strstr(buf, " bytes in ");
    if (in != NULL) { /* "N bytes in K blocks" -> "N bytes leaked in K blocks" */
        char blocks[64];
        snprintf(blocks, sizeof blocks, "%s", in + strlen(" bytes in "));
        snprintf(in, cap - (size_t)(in - buf), " bytes leaked in %s", blocks);
    }
}

/* What the default suppressions leave out of the reports of a program
 * (and of the programs it runs, one summary each) is what each reports
 * with them off: the same bytes in the same blocks, lost. */
static void test_suppressed_program(const char *const *argv, const char *input) {
    run_t on = run(PRELOAD, "check=1", input, 240, argv);
    run_t off = run(PRELOAD, "check=1:default_suppressions=0", input, 240, argv);
    EXPECT(&on, report_count(on.err, on.err + strlen(on.err)) == 0, "leak records");
    EXPECT(&off, summary_count(off.err) == summary_count(on.err), "%d summary lines, not %d",
           summary_count(off.err), summary_count(on.err));
    const char *a = on.err, *b = off.err, *key = "warden: check: ";
    int suppressed = 0;
    while ((a = strstr(a, key)) != NULL && (b = strstr(b, key)) != NULL) {
        char counts[128], want[192];
        summary_suppressed(a, counts, sizeof counts);
        snprintf(want, sizeof want, "%s0 errors, %s (", key, counts);
        EXPECT(&off, starts(b, want), "a summary is not `%s...`", want);
        suppressed |= strncmp(counts, "0 ", 2) != 0;
        a++;
        b++;
    }
    EXPECT(&off, !suppressed || report_count(off.err, off.err + strlen(off.err)) != 0,
           "no leak record");
    printf("ok: %s: the suppressed leaks are the ones reported without the suppressions\n",
           on.name);
    run_free(&on);
    run_free(&off);
}

static void test_programs(void) {
    /* python3: the interpreter itself, not a wrapper script that would run
     * other programs first (each printing its summary). */
    if (on_path("python3")) {
        const char *which[] = {"python3", "-c", "import sys; print(sys.executable)", NULL};
        run_t w = run(NO_WARDEN, "", NULL, 60, which);
        char exe[1024];
        last_line(w.out, exe, sizeof exe);
        if (exited(&w, 0) && exe[0] == '/') {
            const char *py[] = {exe, "-c", "import json; print(json.dumps(list(range(10))))",
                                NULL};
            compare_program(py, NULL, 0);
        } else {
            printf("skip: python3 (no sys.executable)\n");
        }
        run_free(&w);
    } else {
        printf("skip: python3 is not installed\n");
    }

    if (on_path("sqlite3")) {
        const char *sq[] = {"sqlite3", ":memory:",
                            "create table t(a); insert into t values(1); select * from t;", NULL};
        compare_program(sq, NULL, 0);
    } else {
        printf("skip: sqlite3 is not installed\n");
    }

    /* sort loses 8 bytes of its main at exit (valgrind finds them too):
     * a program of the system's, its leaks are suppressed by default. */
    const char *sort[] = {"sort", NULL};
    compare_program(sort, "pear\napple\nfig\nbanana\napple\n", 0);
    test_suppressed_program(sort, "pear\napple\n");
    /* leaks=0: only the summary (no scan, nothing suppressed). */
    const char *sort_rev[] = {"sort", "-r", NULL};
    compare_programs(sort_rev, "pear\napple\nfig\n", 0, 1, 0);

    /* gcc: the driver, cc1 and as, each under check mode (each prints its
     * summary); perl: a hash and strings grown and dropped. */
    if (on_path("gcc")) {
        const char *cc[] = {"gcc", "-O2", "-x", "c", "-c", "-o", "/dev/null", "-", NULL};
        compare_programs(cc, "static int t[64];\nint f(int x) { return t[x & 63] * x; }\n", 0,
                         3, 1);
        /* and a link: collect2 and ld too */
        const char *link[] = {"gcc", "-x", "c", "-o", "/dev/null", "-", NULL};
        compare_programs(link, "int main(void) { return 0; }\n", 0, 5, 1);
        test_suppressed_program(link, "int main(void) { return 0; }\n");
    } else {
        printf("skip: gcc is not installed\n");
    }
    if (on_path("perl")) {
        const char *pl[] = {"perl", "-e",
                            "my %h; $h{$_} = $_ x 3 for 1 .. 20000; delete $h{$_} for 1 .. 10000;"
                            " print scalar(keys %h), \" \", length(join '', values %h), \"\\n\";",
                            NULL};
        compare_program(pl, NULL, 0);
        test_suppressed_program(pl, NULL);
    } else {
        printf("skip: perl is not installed\n");
    }

    if (cfg.stl != NULL) {
        const char *stl[] = {cfg.stl, NULL};
        compare_program(stl, NULL, 0);
    }

    /* error_exitcode with no error: the program's own status (sort: 2). */
    const char *missing[] = {"sort", "/nonexistent/file", NULL};
    run_t ref = run(NO_WARDEN, "", NULL, 60, missing);
    run_t r = run(PRELOAD, "check=1:leaks=0:error_exitcode=23", NULL, 60, missing);
    EXPECT(&ref, exited(&ref, 2), "sort of a missing file did not exit 2");
    EXPECT(&r, exited(&r, 2), "error_exitcode=23 and no error: status is not the program's (2)");
    expect_summary(&r, "0 errors");
    run_free(&ref);
    run_free(&r);
}

/* --- main ----------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *part = argc > 1 ? argv[1] : "";
    for (int i = 2; i + 1 < argc; i += 2)
        harness_arg(argv[i], argv[i + 1]);
    if (cfg.lib == NULL || cfg.errors_bin == NULL || cfg.errors_src == NULL ||
        cfg.tests_bin == NULL || cfg.tests_src == NULL) {
        fprintf(stderr, "usage: test_check examples|scan|programs --lib LIB --errors-bin DIR "
                        "--errors-src DIR --tests-bin DIR --tests-src DIR [--stl PROGRAM]\n");
        return 2;
    }
    have_lines = on_path("llvm-symbolizer") || on_path("addr2line");
    if (!have_lines)
        printf("note: neither llvm-symbolizer nor addr2line on PATH: file:line not asserted\n");
    if (strcmp(part, "examples") != 0 && strcmp(part, "examples2") != 0 &&
        strcmp(part, "scan") != 0 && strcmp(part, "programs") != 0) {
        fprintf(stderr, "test_check: unknown part `%s`\n", part);
        return 2;
    }
    helper_wrappers();
    atexit(helper_wrappers_remove);

    if (strcmp(part, "examples") == 0) {
        for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
            test_example(&examples[i]);
            printf("%s: %s\n", test_failures ? "so far failed" : "ok", examples[i].name);
        }
        test_leak_options();
        test_suppressions();
        test_no_symbolizer();
        test_more_errors();
        test_fill_bound();
        test_child_exit();
        test_clean();
    } else if (strcmp(part, "examples2") == 0) {
        /* check=2: the same programs, faults reported where they happen;
         * the leak options and a clean threaded program as with check=1
         * (check_errors.cpp's cases are check=1's: test_guard has
         * check=2's). */
        check_level = "check=2";
        for (size_t i = 0; i < sizeof examples2 / sizeof examples2[0]; i++) {
            test_example(&examples2[i]);
            printf("%s: %s\n", test_failures ? "so far failed" : "ok", examples2[i].name);
        }
        test_leak_options();
        test_clean();
    } else if (strcmp(part, "scan") == 0) {
        test_scan();
    } else {
        test_programs();
    }
    if (test_failures) {
        fprintf(stderr, "test_check %s: %d failures\n", part, test_failures);
        return 1;
    }
    printf("test_check %s: all passed\n", part);
    return 0;
}
