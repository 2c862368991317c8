/* test_guard.c -- the guard sampler (guard_sample=N, docs/guard.md) and
 * check=2's guarded blocks (docs/check.md) seen from outside: each program
 * runs in a child under LD_PRELOAD=libwarden.so with its output captured,
 * and the reports are compared with what the program did.  Not linked with
 * warden.  Three parts, one ctest each:
 *
 *   test_guard sampler    guard_errors.c's cases with guard_sample=1 (every
 *                         allocation sampled): overflow and underflow writes,
 *                         an overflow read, reads and writes after free,
 *                         damaged slack found at free, a double free,
 *                         guard_continue=1, the program's own SIGSEGV
 *                         handler (faults that are not warden's reach it),
 *                         fork, a thread, harden=2, freed blocks' pages
 *                         given back; with the default
 *                         options, a program that overflows each of many
 *                         64-byte blocks by one byte; a correct threaded
 *                         program with no report
 *   test_guard check2     the same errors under check=2 (check_align=start
 *                         for the underflow), where the program goes on
 *                         after each report, and abort_on_error=1; a read
 *                         one past an int array of 40 bytes (caught with
 *                         check_exact, not without); the alignments
 *                         check=2 hands out, operator new's too
 *   test_guard programs   python3, sqlite3 (skipped when missing), sort and
 *                         the C++ STL program: the same output with the
 *                         default options (the sampler on), with
 *                         guard_sample=1 and with check=2, and no report
 *
 * The lines a report must name are found by their marker comments (G_...
 * in guard_errors.c).  Arguments after the part: as test_check's, plus
 * --guard PROGRAM (guard_errors) and --options OPTIONS, appended to every
 * run's WARDEN_OPTIONS. */
#define _GNU_SOURCE
#include "check_harness.h"

static const char *guard_bin;

#define TS cfg.tests_src
#define GSRC "guard_errors.c"

static run_t guard_run(const char *options, const char *which) {
    const char *argv[] = {guard_bin, which, NULL};
    return run(PRELOAD, options, NULL, 60, argv);
}

/* One report of an access that faulted: headline, the access's stack at
 * marker, the allocation's at alloc, the free's at freed (or NULL). */
static void expect_fault(run_t *r, const char *head, const char *detail, const char *marker,
                         const char *alloc, const char *freed) {
    span_t rep = expect_report(r, head, 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, detail == NULL || span_has(rep, detail), "the report does not say `%s`", detail);
    expect_frame(r, rep, NULL, TS, GSRC, marker);
    expect_frame(r, rep, "allocated at", TS, GSRC, alloc);
    if (freed != NULL)
        expect_frame(r, rep, "freed at", TS, GSRC, freed);
}

/* One report of damage found when the block was freed: headline, the
 * free's stack at marker, the allocation's at alloc. */
static void expect_found_in_free(run_t *r, const char *head, const char *marker,
                                 const char *alloc) {
    span_t rep = expect_report(r, head, 0);
    if (rep.start == NULL)
        return;
    EXPECT(r, span_has(rep, " written (found in free)\n"), "not found in free");
    expect_frame(r, rep, "found at", TS, GSRC, marker);
    expect_frame(r, rep, "allocated at", TS, GSRC, alloc);
}

/* --- the sampler ---------------------------------------------------------------- */

typedef struct {
    const char *which, *head, *detail, *marker, *alloc, *freed;
} gcase_t;

static const gcase_t sampler_cases[] = {
    {"overflow", "heap buffer overflow: write at 0x", ", 0 bytes past the end of a 64-byte block",
     "G_OVERFLOW", "G_ALLOC", NULL},
    {"underflow", "heap buffer underflow: write at 0x",
     ", 1 bytes before the start of a 64-byte block", "G_UNDERFLOW", "G_ALLOC", NULL},
    {"overflow_read", "heap buffer overflow: read at 0x",
     ", 0 bytes past the end of a 64-byte block", "G_READ_PAST", "G_ALLOC", NULL},
    {"read_after_free", "use after free: read at 0x", ", 3 bytes inside a freed 64-byte block",
     "G_READ_FREED", "G_ALLOC", "G_FREE"},
    {"write_after_free", "use after free: write at 0x", ", 8 bytes inside a freed 64-byte block",
     "G_WRITE_FREED", "G_ALLOC", "G_FREE2"},
    {"medium", "heap buffer overflow: write at 0x", ", 0 bytes past the end of a 300000-byte block",
     "G_MEDIUM_OVERFLOW", "G_MEDIUM_ALLOC", NULL},
};

/* Each fault with guard_sample=1 (and harden=2): one report, then abort. */
static void sampler_faults(const char *options) {
    for (size_t i = 0; i < sizeof sampler_cases / sizeof sampler_cases[0]; i++) {
        const gcase_t *c = &sampler_cases[i];
        run_t r = guard_run(options, c->which);
        EXPECT(&r, aborted(&r), "did not abort");
        EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 1, "%d reports, not 1",
               report_count(r.err, r.err + strlen(r.err)));
        expect_fault(&r, c->head, c->detail, c->marker, c->alloc, c->freed);
        printf("%s: %s\n", test_failures ? "so far failed" : "ok", r.name);
        run_free(&r);
    }
}

static void sampler_slack_and_frees(void) {
    run_t r = guard_run("guard_sample=1", "slack");
    EXPECT(&r, aborted(&r), "did not abort");
    expect_found_in_free(&r, "heap buffer overflow: 1 bytes past the end of a 61-byte block at 0x",
                         "G_SLACK_FREE", "G_SLACK_ALLOC");
    printf("ok: %s\n", r.name);
    run_free(&r);

    r = guard_run("guard_sample=1", "slack_gap");
    EXPECT(&r, aborted(&r), "did not abort");
    expect_found_in_free(&r,
                         "heap buffer overflow: the byte 2 bytes past the end of a 61-byte block "
                         "at 0x",
                         "G_SLACK_GAP_FREE", "G_SLACK_GAP_ALLOC");
    printf("ok: %s\n", r.name);
    run_free(&r);

    r = guard_run("guard_sample=1", "double_free");
    EXPECT(&r, aborted(&r), "did not abort");
    span_t rep = expect_report(&r, "double free at 0x", 0);
    if (rep.start != NULL) {
        expect_frame(&r, rep, NULL, TS, GSRC, "G_DOUBLE_FREE");
        expect_frame(&r, rep, "allocated at", TS, GSRC, "G_ALLOC");
    }
    printf("ok: %s\n", r.name);
    run_free(&r);
}

/* guard_continue=1: both overflows reported (one faults, the other's slack
 * is found at free), and the program finishes. */
static void sampler_continue(void) {
    run_t r = guard_run("guard_sample=1:guard_continue=1", "go_on");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "go_on: went on");
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 2, "%d reports, not 2",
           report_count(r.err, r.err + strlen(r.err)));
    expect_report(&r, "heap buffer overflow: write at 0x", 0);
    expect_report(&r, "heap buffer overflow: 1 bytes past the end of a 64-byte block", 0);
    printf("ok: %s\n", r.name);
    run_free(&r);
}

/* A fault in the program's own inaccessible page goes to its handler
 * (which exits 42); a fault in a sampled block is still warden's. */
static void sampler_chain(void) {
    run_t r = guard_run("guard_sample=1", "chain");
    EXPECT(&r, exited(&r, 42), "the program's handler did not run");
    EXPECT(&r, strstr(r.err, "warden:") == NULL, "warden reported the program's own fault");
    printf("ok: %s\n", r.name);
    run_free(&r);
    r = guard_run("guard_sample=1", "chain_warden");
    EXPECT(&r, aborted(&r), "did not abort");
    expect_fault(&r, "heap buffer overflow: write at 0x", NULL, "G_OVERFLOW", "G_ALLOC", NULL);
    printf("ok: %s\n", r.name);
    run_free(&r);
}

static void sampler_fork_thread(void) {
    run_t r = guard_run("guard_sample=1", "fork");
    EXPECT(&r, exited(&r, 0), "the parent did not exit 0");
    expect_last_line(&r, "child: signal 6");
    expect_fault(&r, "heap buffer overflow: write at 0x", NULL, "G_OVERFLOW", "G_ALLOC", NULL);
    printf("ok: %s\n", r.name);
    run_free(&r);
    r = guard_run("guard_sample=1", "thread");
    EXPECT(&r, aborted(&r), "did not abort");
    span_t rep = expect_report(&r, "heap buffer overflow: write at 0x", 0);
    if (rep.start != NULL && have_lines) {
        char path[1024], a[64], b[64];
        snprintf(path, sizeof path, "%s/%s", TS, GSRC);
        snprintf(a, sizeof a, GSRC ":%d\n", marker_line(path, "G_THREAD_OVERFLOW"));
        snprintf(b, sizeof b, GSRC ":%d\n", marker_line(path, "G_THREAD_OVERFLOW2"));
        EXPECT(&r, span_has(rep, a) || span_has(rep, b), "the thread's write is not named");
        expect_frame(&r, rep, "allocated at", TS, GSRC, "G_THREAD_ALLOC");
    }
    printf("ok: %s\n", r.name);
    run_free(&r);
}

/* A freed sampled block's pages go back to the OS with its slot's close. */
static void sampler_closed_pages(void) {
    run_t r = guard_run("guard_sample=1", "closed_resident");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "closed_resident: 0 of 40 pages resident");
    printf("ok: %s\n", r.name);
    run_free(&r);
}

/* Default options: the sampler is on, and the process's first sampled
 * block comes early, so a program that overflows every block is stopped
 * with the faulting line, before the damaged free lists are found. */
static void sampler_default(void) {
    for (int i = 0; i < 5; i++) {
        run_t r = guard_run("", "many");
        EXPECT(&r, aborted(&r), "did not abort");
        expect_fault(&r, "heap buffer overflow: write at 0x", NULL, "G_MANY", "G_MANY_ALLOC",
                     NULL);
        printf("ok: %s (run %d)\n", r.name, i + 1);
        run_free(&r);
    }
}

/* The heap profiler on, the sampler at its default rate: a guarded block
 * still comes early, and its fault is reported at the faulting line. */
static void sampler_profiling(void) {
    char dir[] = "/tmp/wd-guard-prof-XXXXXX", options[96];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(options, sizeof options, "profile=%s/p", dir);
    for (int i = 0; i < 3; i++) {
        run_t r = guard_run(options, "profiled");
        EXPECT(&r, aborted(&r), "did not abort");
        /* An overflow or an underflow, as the block's slot was aligned. */
        expect_fault(&r, "heap buffer ", NULL, "G_PROF", "G_PROF_ALLOC", NULL);
        printf("ok: %s (run %d)\n", r.name, i + 1);
        run_free(&r);
    }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void expect_clean(const char *options) {
    run_t r = guard_run(options, "clean");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "clean: done, child 0");
    EXPECT(&r, strstr(r.err, "warden:") == NULL || strstr(options, "check=") != NULL,
           "a report from a correct program");
    if (strstr(options, "check=") != NULL)
        expect_summary(&r, "0 errors");
    printf("ok: %s\n", r.name);
    run_free(&r);
}

/* Case `which` under check mode's options goes on to its last line,
 * `last`, with no error. */
static void expect_no_error(const char *options, const char *which, const char *last) {
    run_t r = guard_run(options, which);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, last);
    expect_summary(&r, "0 errors");
    printf("ok: %s\n", r.name);
    run_free(&r);
}

/* A correct program's own write barrier (mprotect of its block's pages,
 * opened in its SIGSEGV handler): no report, every fault its own. */
static void expect_barrier(const char *options) {
    run_t r = guard_run(options, "barrier");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "barrier: 10 faults");
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 0, "%d reports, not 0",
           report_count(r.err, r.err + strlen(r.err)));
    if (strstr(options, "check=") != NULL)
        expect_summary(&r, "0 errors");
    printf("ok: %s\n", r.name);
    run_free(&r);
}

static void test_sampler(void) {
    sampler_faults("guard_sample=1");
    sampler_faults("guard_sample=1:harden=2");
    sampler_slack_and_frees();
    sampler_continue();
    sampler_chain();
    sampler_fork_thread();
    sampler_closed_pages();
    sampler_default();
    sampler_profiling();
    expect_clean("");
    expect_clean("guard_sample=1");
    expect_clean("guard_sample=1:harden=2");
    expect_clean("guard_sample=7");
    expect_barrier("guard_sample=1");
}

/* --- check=2 ---------------------------------------------------------------------- */

/* check mode goes on after a report: both blocks of a case fault (each
 * is end-aligned, or with check_align=start each starts after its guard). */
static void check2_case(const char *options, const gcase_t *c, int reports, const char *done) {
    run_t r = guard_run(options, c->which);
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, done);
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == reports, "%d reports, not %d",
           report_count(r.err, r.err + strlen(r.err)), reports);
    expect_fault(&r, c->head, c->detail, c->marker, c->alloc, c->freed);
    char counts[64];
    snprintf(counts, sizeof counts, "%d errors", reports);
    expect_summary(&r, counts);
    printf("ok: %s\n", r.name);
    run_free(&r);
}

static void test_check2(void) {
    const gcase_t *over = &sampler_cases[0], *under = &sampler_cases[1];
    check2_case("check=2:leaks=0", over, 2, "overflow: not caught");
    check2_case("check=2:leaks=0:check_align=start", under, 2, "underflow: not caught");
    check2_case("check=2:leaks=0", &sampler_cases[2], 2, "overflow_read: not caught");
    check2_case("check=2:leaks=0", &sampler_cases[3], 1, "read_after_free: not caught");
    check2_case("check=2:leaks=0", &sampler_cases[4], 1, "write_after_free: not caught");
    /* a malloc'd block ends exactly at its guard page (check_exact) */
    static const gcase_t past40 = {"int_array_read", "heap buffer overflow: read at 0x",
                                   ", 0 bytes past the end of a 40-byte block", "G_READ_PAST40",
                                   "G_ALLOC40", NULL};
    check2_case("check=2:leaks=0", &past40, 1, "int_array_read: not caught");
    /* writes through an alignment's padding to the guard page: one error,
     * at the fault (the padding was counted again at free before) */
    static const gcase_t padding = {"padding_overflow", "heap buffer overflow: write at 0x",
                                    ", 24 bytes past the end of a 40-byte block", "G_PAD_WRITE",
                                    "G_PAD_ALLOC", NULL};
    check2_case("check=2:leaks=0", &padding, 1, "padding_overflow: done");
    /* a memset past the end: one error, where it faulted */
    static const gcase_t memset_past = {"memset_overflow", "heap buffer overflow: write at 0x",
                                        " bytes past the end of a 100-byte block", NULL,
                                        "G_MEMSET_ALLOC", NULL};
    {
        run_t r = guard_run("check=2:leaks=0", memset_past.which);
        EXPECT(&r, exited(&r, 0), "did not exit 0");
        expect_last_line(&r, "memset_overflow: done");
        EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 1, "%d reports, not 1",
               report_count(r.err, r.err + strlen(r.err)));
        expect_report(&r, memset_past.head, 0);
        expect_summary(&r, "1 errors");
        printf("ok: %s\n", r.name);
        run_free(&r);
    }
    /* a walk off a block into no block: two reports, then the fault kills it */
    {
        run_t r = guard_run("check=2:leaks=0", "wild_walk");
        EXPECT(&r, WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "not killed by SIGSEGV");
        EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 2, "%d reports, not 2",
               report_count(r.err, r.err + strlen(r.err)));
        expect_report(&r, "heap buffer overflow: read at 0x", 0);
        expect_report(&r, "wild read at 0x", 0);
        /* the exit handlers do not run: the summary comes before the death */
        EXPECT(&r, strstr(r.err, "warden: check: 2 errors (the process dies of SIGSEGV: leaks not "
                                 "checked)") != NULL,
               "no summary before the death");
        printf("ok: %s\n", r.name);
        run_free(&r);
    }
    /* a list freed in a walk: its tail is not reported lost */
    {
        run_t r = guard_run("check=2", "list_walk");
        expect_report(&r, "use after free: read at 0x", 0);
        EXPECT(&r, strstr(r.err, "lost") == NULL, "leaks reported after a read after free");
        printf("ok: %s\n", r.name);
        run_free(&r);
    }
    {
        run_t r = guard_run("check=2:leaks=0", "underflow_far");
        EXPECT(&r, exited(&r, 0), "did not exit 0");
        expect_last_line(&r, "underflow_far: done");
        expect_found_in_free(&r,
                             "heap buffer underflow: bytes from 25 to 32 bytes before the start of "
                             "a 64-byte block at 0x",
                             "G_UFAR_FREE", "G_UFAR_ALLOC");
        expect_summary(&r, "1 errors");
        printf("ok: %s\n", r.name);
        run_free(&r);
    }
    expect_barrier("check=2:leaks=0");
    expect_barrier("check=1:leaks=0");
    /* the read lands in the slack */
    expect_no_error("check=2:leaks=0:check_exact=0", "int_array_read",
                    "int_array_read: not caught");
    /* an alignment asked for is kept; malloc's blocks stay word-aligned */
    expect_no_error("check=2:leaks=0", "alignments", "alignments: 0 wrong");
    /* A crash handler installed with SA_RESETHAND that puts back the one
     * before it (warden's) and returns: called once, then the process dies
     * of the fault, as it would without warden (not handed back for ever) */
    /* and one that puts back the one before it and sends itself the
     * signal again (Python's faulthandler): the same */
    static const char *const reset_modes[] = {"check=2:leaks=0", "check=1:leaks=0", ""};
    static const char *const reset_cases[] = {"resethand", "reraise"};
    for (size_t c = 0; c < sizeof reset_cases / sizeof reset_cases[0]; c++)
        for (size_t i = 0; i < sizeof reset_modes / sizeof reset_modes[0]; i++) {
            run_t rr = guard_run(reset_modes[i], reset_cases[c]);
            EXPECT(&rr, WIFSIGNALED(rr.status) && WTERMSIG(rr.status) == SIGSEGV,
                   "did not die of SIGSEGV (status 0x%x)", (unsigned)rr.status);
            EXPECT(&rr, strstr(rr.out, "crash_handler: putting back") != NULL &&
                            strstr(rr.out, "went on") == NULL,
                   "the handler did not run, or the program went on");
            printf("ok: %s\n", rr.name);
            run_free(&rr);
        }
    /* operator new's blocks of 16 bytes or more stay 16-byte aligned */
    expect_no_error("check=2:leaks=0", "new_alignments", "new_alignments: 0 wrong, stored");
    run_t r;
    /* the live blocks' pages bounded: the last of 300 blocks of 40 bytes
     * gets redzones (found at its free, with a note of how many), while
     * under the default bound the write faults at once */
    static const gcase_t live_write = {"live_bound", "heap buffer overflow: write at 0x",
                                       ", 0 bytes past the end of a 40-byte block",
                                       "G_LIVE_WRITE", "G_LIVE_ALLOC", NULL};
    check2_case("check=2:leaks=0", &live_write, 1, "live_bound: not caught at the write");
    r = guard_run("check=2:leaks=0:check_guard_live_mb=1", "live_bound");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_last_line(&r, "live_bound: not caught at the write");
    expect_found_in_free(&r, "heap buffer overflow: 1 bytes past the end of a 40-byte block at 0x",
                         "G_LIVE_FREE", "G_LIVE_ALLOC");
    {
        /* 256 pages for 300 blocks: 44 left (fewer if the C library kept
         * a guarded block of its own live) */
        const char *note = strstr(r.err, "warden: check=2: ");
        long left = note != NULL ? strtol(note + strlen("warden: check=2: "), NULL, 10) : 0;
        EXPECT(&r, note != NULL && left > 30 && left <= 44 &&
                       strstr(note, " blocks got redzones, not guard pages: the live ones' pages "
                                    "reached check_guard_live_mb=1\n") != NULL,
               "no note of the blocks left unguarded (or %ld of them, not 31 to 44)", left);
    }
    expect_summary(&r, "1 errors");
    printf("ok: %s\n", r.name);
    run_free(&r);
    /* What the process dies of, named with the faulting line first: a
     * 16-byte aligned store into a block check_exact aligned to 8 (with
     * check_exact=0 it is stored), a load through a pointer of junk (under
     * check=1 too), a store through a null pointer */
    /* note: in the report; lead: what the headline names first (check=2
     * names both causes of a general protection fault, the likelier first:
     * a pointer from a pattern when a register holds one) */
    static const struct {
        const char *options, *which, *head, *note, *marker, *lead;
    } deaths[] = {
#if defined(__x86_64__)
        {"check=2:leaks=0", "sse_odd_block", "SIGSEGV: general protection fault at 0x",
         "check_exact=0 aligns every block to 16)", "G_SSE_STORE", ": an aligned SSE load"},
#endif
        {"check=2:leaks=0", "junk_pointer", "SIGSEGV: general protection fault at 0x",
         "0xbebe... a block's junk", "G_JUNK_LOAD", ": a pointer read from check mode's"},
        {"check=1:leaks=0", "junk_pointer", "SIGSEGV: general protection fault at 0x",
         "0xbebe... a block's junk", "G_JUNK_LOAD", ": a pointer read from check mode's"},
        {"check=1:leaks=0", "wild_pointer", "SIGSEGV: general protection fault at 0x",
         "(a wild pointer)", "G_WILD_STORE", ": an address that is not canonical"},
        {"check=1:leaks=0", "null_store", "SIGSEGV: an access to 0x0 at 0x",
         "where no memory of the program's lies", "G_NULL_STORE", ", where no memory"},
        /* before the program's first block: check=2's handler is in place
         * from the start (until 2026-12-08 it came with the first guarded
         * block, and such a death went without a word) */
        {"check=2:leaks=0", "null_store", "SIGSEGV: an access to 0x0 at 0x",
         "where no memory of the program's lies", "G_NULL_STORE", ", where no memory"},
    };
    for (size_t i = 0; i < sizeof deaths / sizeof deaths[0]; i++) {
        r = guard_run(deaths[i].options, deaths[i].which);
        EXPECT(&r, WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV,
               "did not die of SIGSEGV");
        span_t rep = expect_report(&r, deaths[i].head, 0);
        if (rep.start != NULL) {
            EXPECT(&r, span_has(rep, deaths[i].note), "the note does not say `%s`",
                   deaths[i].note);
            char headline[1024];
            line_copy(rep.start, headline, sizeof headline);
            const char *lead = strstr(headline, deaths[i].lead), *or = strstr(headline, "; or ");
            EXPECT(&r, lead != NULL && (or == NULL || lead < or),
                   "the headline does not name `%s` first", deaths[i].lead);
            expect_frame(&r, rep, NULL, TS, GSRC, deaths[i].marker);
        }
        EXPECT(&r, strstr(r.err, "warden: check: 1 errors (the process dies of SIGSEGV") != NULL,
               "no summary of the death");
        printf("ok: %s\n", r.name);
        run_free(&r);
    }
#if defined(__x86_64__)
    expect_no_error("check=2:leaks=0:check_exact=0", "sse_odd_block", "sse_odd_block: stored");
#endif
    /* end-aligned, an underflow lands in the left redzone: found at exit,
     * with a word on check_align */
    r = guard_run("check=2:leaks=0", "underflow");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    span_t under_rep =
        expect_report(&r, "heap buffer underflow: 1 bytes before the start of a 64-byte block", 0);
    if (under_rep.start != NULL)
        EXPECT(&r, span_has(under_rep, "with check_align=start (or both) an underflow faults"),
               "no word on check_align");
    printf("ok: %s\n", r.name);
    run_free(&r);
    /* a 13-byte block is aligned to 8, so it ends 3 bytes before its guard
     * page: a write one past it is found at free, and the report says why */
    r = guard_run("check=2:leaks=0", "odd_slack");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_found_in_free(&r, "heap buffer overflow: 1 bytes past the end of a 13-byte block at 0x",
                         "G_ODD_FREE", "G_ODD_ALLOC");
    span_t odd_rep = expect_report(&r, "heap buffer overflow: 1 bytes past the end of a 13-byte", 0);
    if (odd_rep.start != NULL)
        EXPECT(&r, span_has(odd_rep, "the block ends 3 bytes before its guard page (it keeps"),
               "no word on the slack");
    printf("ok: %s\n", r.name);
    run_free(&r);
    /* both: one block of two faults each way */
    r = guard_run("check=2:leaks=0:check_align=both", "overflow");
    EXPECT(&r, exited(&r, 0), "did not exit 0");
    expect_fault(&r, over->head, over->detail, over->marker, over->alloc, NULL);
    printf("ok: %s\n", r.name);
    run_free(&r);
    r = guard_run("check=2:abort_on_error=1", "overflow");
    EXPECT(&r, aborted(&r), "did not abort");
    EXPECT(&r, report_count(r.err, r.err + strlen(r.err)) == 1, "%d reports, not 1",
           report_count(r.err, r.err + strlen(r.err)));
    printf("ok: %s\n", r.name);
    run_free(&r);
    expect_clean("check=2:leaks=0");
    expect_clean("check=2:leaks=0:check_align=both");
}

/* --- real programs ----------------------------------------------------------------- */

/* Same status and stdout as without warden, stderr too (but for check
 * mode's summary, which says 0 errors). */
static void compare(const char *const *argv, const char *input, const char *options) {
    run_t ref = run(NO_WARDEN, "", input, 240, argv);
    run_t r = run(PRELOAD, options, input, 240, argv);
    EXPECT(&r, r.status == ref.status, "status 0x%x, without warden 0x%x", (unsigned)r.status,
           (unsigned)ref.status);
    EXPECT(&r, strcmp(r.out, ref.out) == 0, "stdout differs from the run without warden");
    if (strstr(options, "check=") != NULL) {
        expect_summary(&r, "0 errors");
        /* drop the summary */
        char *s = strstr(r.err, "warden: check: ");
        if (s != NULL)
            *s = '\0';
    }
    EXPECT(&r, strcmp(r.err, ref.err) == 0, "stderr differs from the run without warden");
    printf("ok: %s\n", r.name);
    run_free(&ref);
    run_free(&r);
}

static void test_programs(void) {
    static const char *const modes[] = {"", "guard_sample=1", "check=2:leaks=0"};
    /* python3 itself, not a wrapper script that would run other programs
     * first (each printing its summary) */
    char exe[1024] = "";
    if (on_path("python3")) {
        const char *which[] = {"python3", "-c", "import sys; print(sys.executable)", NULL};
        run_t w = run(NO_WARDEN, "", NULL, 60, which);
        last_line(w.out, exe, sizeof exe);
        if (!exited(&w, 0) || exe[0] != '/')
            exe[0] = '\0';
        run_free(&w);
    }
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        if (exe[0] != '\0') {
            const char *py[] = {exe, "-c",
                                "import json, re\n"
                                "d = {str(i): [i] * (i % 7) for i in range(3000)}\n"
                                "s = json.dumps(d)\n"
                                "print(len(s), len(re.findall(r'[0-9]+', s)))\n",
                                NULL};
            compare(py, NULL, modes[m]);
        } else {
            printf("skip: python3 is not installed (or has no sys.executable)\n");
        }
        if (on_path("sqlite3")) {
            const char *sq[] = {"sqlite3", ":memory:",
                                "create table t(a, b); "
                                "with recursive c(x) as (select 1 union all select x + 1 from c "
                                "where x < 5000) insert into t select x, hex(randomblob(20)) "
                                "from c; create index i on t(b); select count(*), sum(a) from t;",
                                NULL};
            compare(sq, NULL, modes[m]);
        } else {
            printf("skip: sqlite3 is not installed\n");
        }
        const char *sort[] = {"sort", NULL};
        compare(sort, "pear\napple\nfig\nbanana\napple\n", modes[m]);
        if (cfg.stl != NULL) {
            const char *stl[] = {cfg.stl, NULL};
            compare(stl, NULL, modes[m]);
        }
    }
}

/* --- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *part = argc > 1 ? argv[1] : "";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!harness_arg(argv[i], argv[i + 1]) && strcmp(argv[i], "--guard") == 0)
            guard_bin = argv[i + 1];
    }
    if (cfg.lib == NULL || cfg.tests_src == NULL || guard_bin == NULL ||
        (strcmp(part, "sampler") != 0 && strcmp(part, "check2") != 0 &&
         strcmp(part, "programs") != 0)) {
        fprintf(stderr, "usage: test_guard sampler|check2|programs --lib LIB --tests-src DIR "
                        "--guard PROGRAM [--stl PROGRAM] [--options OPTIONS]\n");
        return 2;
    }
    have_lines = on_path("llvm-symbolizer") || on_path("addr2line");
    if (!have_lines)
        printf("note: neither llvm-symbolizer nor addr2line on PATH: file:line not asserted\n");
    helper_wrappers();
    atexit(helper_wrappers_remove);
    if (strcmp(part, "sampler") == 0)
        test_sampler();
    else if (strcmp(part, "check2") == 0)
        test_check2();
    else
        test_programs();
    if (test_failures) {
        fprintf(stderr, "test_guard %s: %d failures\n", part, test_failures);
        return 1;
    }
    printf("test_guard %s: all passed\n", part);
    return 0;
}
