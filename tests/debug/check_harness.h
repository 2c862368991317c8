/* check_harness.h -- what test_check.c and test_guard.c share: running a
 * program under warden (LD_PRELOAD) with its output captured, the lines of
 * marker comments in sources, and reports read back from stderr.  Static
 * functions: each test uses its part. */
#ifndef WARDEN_TESTS_CHECK_HARNESS_H
#define WARDEN_TESTS_CHECK_HARNESS_H

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "test.h"

#pragma GCC diagnostic ignored "-Wunused-function"

static struct {
    const char *lib, *errors_bin, *errors_src, *tests_bin, *tests_src, *stl;
} cfg;

static int have_lines; /* a symbolizer on PATH: frames name file:line */

/* The level that options written "check=1..." run at: test_check's part
 * examples2 runs the examples with "check=2". */
static const char *check_level = "check=1";

/* Appended to every run's WARDEN_OPTIONS (a driver's --options): how a
 * part runs again in another mode, e.g. check=2 without guard markers. */
static const char *extra_options = "";

/* PATH for the programs under check mode: a directory of wrappers first
 * (see helper_wrappers), then the driver's own. */
static char child_path[8192];
static char wrap_dir[64];

/* Takes a driver's argument k with its value v when it is one that the
 * drivers share; 0 when it is not. */
static int harness_arg(const char *k, const char *v) {
    if (strcmp(k, "--lib") == 0)
        cfg.lib = v;
    else if (strcmp(k, "--errors-bin") == 0)
        cfg.errors_bin = v;
    else if (strcmp(k, "--errors-src") == 0)
        cfg.errors_src = v;
    else if (strcmp(k, "--tests-bin") == 0)
        cfg.tests_bin = v;
    else if (strcmp(k, "--tests-src") == 0)
        cfg.tests_src = v;
    else if (strcmp(k, "--stl") == 0)
        cfg.stl = v;
    else if (strcmp(k, "--options") == 0)
        extra_options = v;
    else
        return 0;
    return 1;
}

/* --- running a program ----------------------------------------------------- */

typedef struct {
    char name[128]; /* for messages: program and options */
    int status;     /* wait status */
    char *out, *err;
    int shown;      /* its stderr was printed after a failure */
} run_t;

enum { NO_WARDEN = 0, PRELOAD = 1, LINKED = 2 };

static char *slurp(FILE *f) {
    fflush(f);
    long n = lseek(fileno(f), 0, SEEK_END);
    CHECK(n >= 0);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK(pread(fileno(f), buf, (size_t)n, 0) == n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs argv with stdin from `input` (NULL: /dev/null) and stdout and stderr
 * into files; how: NO_WARDEN (no LD_PRELOAD, no WARDEN_OPTIONS), PRELOAD
 * (LD_PRELOAD=libwarden.so and WARDEN_OPTIONS=options) or LINKED (the
 * program has warden in it: WARDEN_OPTIONS only).  A child still running
 * after `seconds` gets SIGALRM. */
static run_t run(int how, const char *options, const char *input, int seconds,
                 const char *const *argv) {
    run_t r;
    memset(&r, 0, sizeof r);
    const char *base = strrchr(argv[0], '/');
    snprintf(r.name, sizeof r.name, "%s%s%s%s%s", base ? base + 1 : argv[0], argv[1] ? " " : "",
             argv[1] ? argv[1] : "", how == NO_WARDEN ? " (no warden)" : " with ",
             how == NO_WARDEN ? "" : options);
    FILE *out = tmpfile(), *err = tmpfile(), *in = NULL;
    CHECK(out != NULL && err != NULL);
    if (input != NULL) {
        in = tmpfile();
        CHECK(in != NULL && fputs(input, in) >= 0 && fflush(in) == 0);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd0 = in != NULL ? fileno(in) : open("/dev/null", O_RDONLY);
        if (in != NULL)
            lseek(fd0, 0, SEEK_SET);
        dup2(fd0, 0);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        unsetenv("LD_PRELOAD");
        unsetenv("WARDEN_OPTIONS");
        if (how != NO_WARDEN && child_path[0] != '\0')
            setenv("PATH", child_path, 1);
        if (how == PRELOAD)
            setenv("LD_PRELOAD", cfg.lib, 1);
        char opts[512];
        const char *sep = options[0] != '\0' && extra_options[0] != '\0' ? ":" : "";
        if (strncmp(options, "check=1", 7) == 0)
            snprintf(opts, sizeof opts, "%s%s%s%s", check_level, options + 7, sep, extra_options);
        else
            snprintf(opts, sizeof opts, "%s%s%s", options, sep, extra_options);
        if (how != NO_WARDEN)
            setenv("WARDEN_OPTIONS", opts, 1);
        setenv("LC_ALL", "C", 1);
        alarm((unsigned)seconds);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    r.status = test_wait(pid);
    if (in != NULL)
        fclose(in);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static void run_free(run_t *r) {
    free(r->out);
    free(r->err);
}

/* A failed expectation: says which, and the first time for a run, what
 * the program printed. */
static int expect_(run_t *r, int ok, const char *fmt, ...) {
    if (ok)
        return 1;
    test_failures++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: %s: ", r->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (!r->shown) {
        r->shown = 1;
        fprintf(stderr, "--- status 0x%x, stdout:\n%s--- stderr:\n%s---\n", (unsigned)r->status,
                r->out, r->err);
    }
    return 0;
}
#define EXPECT(r, cond, ...) expect_((r), (cond), __VA_ARGS__)

static int exited(const run_t *r, int code) {
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

static int aborted(const run_t *r) {
    return WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT;
}

/* --- the symbolizer helper ---------------------------------------------------- */

/* On PATH, into path (cap bytes)? */
static int find_on_path(const char *prog, char *path, size_t cap) {
    const char *dirs = getenv("PATH");
    if (dirs == NULL)
        return 0;
    for (const char *p = dirs; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(path, cap, "%.*s/%s", (int)n, p, prog);
        if (n > 0 && access(path, X_OK) == 0)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

static int on_path(const char *prog) {
    char path[1024];
    return find_on_path(prog, path, sizeof path);
}

/* Warden starts llvm-symbolizer or addr2line with the program's own
 * environment, LD_PRELOAD and WARDEN_OPTIONS included: the helper then runs
 * under check mode too, and when it reports anything at its exit (with
 * leaks=all it always does: its still reachable blocks), it starts helpers
 * of its own for that report, which do the same, without end.  Until the
 * helper gets a clean environment, the programs here find, first on their
 * PATH, wrappers that drop both variables and run the real helper. */
static void helper_wrappers(void) {
    static const char *const helpers[] = {"llvm-symbolizer", "addr2line"};
    strcpy(wrap_dir, "/tmp/wd-check-XXXXXX");
    CHECK(mkdtemp(wrap_dir) != NULL);
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++) {
        char real[1024], wrapper[1024];
        if (!find_on_path(helpers[i], real, sizeof real))
            continue;
        snprintf(wrapper, sizeof wrapper, "%s/%s", wrap_dir, helpers[i]);
        FILE *f = fopen(wrapper, "w");
        CHECK(f != NULL);
        fprintf(f, "#!/bin/sh\nunset LD_PRELOAD WARDEN_OPTIONS\necho >> '%s/runs'\nexec '%s' \"$@\"\n",
                wrap_dir, real);
        CHECK(fclose(f) == 0 && chmod(wrapper, 0755) == 0);
    }
    const char *path = getenv("PATH");
    snprintf(child_path, sizeof child_path, "%s:%s", wrap_dir,
             path != NULL ? path : "/usr/bin:/bin");
}

/* How many times the wrappers ran a helper since the last call. */
static int helper_runs_since(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/runs", wrap_dir);
    FILE *f = fopen(path, "r");
    int runs = 0;
    if (f != NULL) {
        for (int c; (c = fgetc(f)) != EOF;)
            runs += c == '\n';
        fclose(f);
    }
    unlink(path);
    return runs;
}

static void helper_wrappers_remove(void) {
    static const char *const helpers[] = {"llvm-symbolizer", "addr2line"};
    char wrapper[1024];
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++) {
        snprintf(wrapper, sizeof wrapper, "%s/%s", wrap_dir, helpers[i]);
        unlink(wrapper);
    }
    helper_runs_since(); /* the count's file */
    rmdir(wrap_dir);
}

/* --- sources: the line of a marker ----------------------------------------- */

/* The line (from 1) of the one comment `/ * MARKER` or `// MARKER` in path
 * (followed by a space, a colon or the comment's end); fails the test when
 * there is none or more than one. */
static int marker_line(const char *path, const char *marker) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "FAIL: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char line[1024];
    int at = 0, found = 0, count = 0;
    size_t n = strlen(marker);
    while (fgets(line, sizeof line, f) != NULL) {
        at++;
        for (const char *c = line; (c = strstr(c, marker)) != NULL; c += n) {
            int opened = c - line >= 3 &&
                         (memcmp(c - 3, "/* ", 3) == 0 || memcmp(c - 3, "// ", 3) == 0);
            char next = c[n];
            if (opened && (next == ' ' || next == ':' || next == '\n' || next == '*')) {
                found = at;
                count++;
            }
        }
    }
    fclose(f);
    if (count != 1) {
        fprintf(stderr, "FAIL: marker %s found %d times in %s\n", marker, count, path);
        exit(1);
    }
    return found;
}

/* --- reports ----------------------------------------------------------------- */

/* A report: its headline `warden: ...` and the indented lines after it
 * (and warden's hint line `warden: (no file:line ...)`). */
typedef struct {
    const char *start, *end;
} span_t;

static int starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *next_line(const char *s) {
    const char *nl = strchr(s, '\n');
    return nl != NULL ? nl + 1 : s + strlen(s);
}

static int is_headline(const char *line) {
    return starts(line, "warden: ") && !starts(line, "warden: (");
}

static int is_summary(const char *line) { return starts(line, "warden: check: "); }

/* The nth report (from 0) in [from, to) whose headline starts with
 * `warden: ` head; {NULL, NULL} when there is none. */
static span_t report_find(const char *from, const char *to, const char *head, int nth) {
    char want[256];
    snprintf(want, sizeof want, "warden: %s", head);
    for (const char *l = from; l < to && *l; l = next_line(l)) {
        if (!starts(l, want) || nth-- > 0)
            continue;
        const char *e = next_line(l);
        while (e < to && *e && (starts(e, "  ") || starts(e, "warden: (")))
            e = next_line(e);
        return (span_t){l, e};
    }
    return (span_t){NULL, NULL};
}

/* Whether report rep holds text. */
static int span_has(span_t rep, const char *text) {
    return rep.start != NULL &&
           memmem(rep.start, (size_t)(rep.end - rep.start), text, strlen(text)) != NULL;
}

/* Reports (not the summary) in [from, to). */
static int report_count(const char *from, const char *to) {
    int n = 0;
    for (const char *l = from; l < to && *l; l = next_line(l))
        n += is_headline(l) && !is_summary(l);
    return n;
}

static int summary_count(const char *s) {
    int n = 0;
    for (const char *l = s; *l; l = next_line(l))
        n += is_summary(l);
    return n;
}

/* Copies the line at s (without its newline) into buf. */
static const char *line_copy(const char *s, char *buf, size_t cap) {
    size_t n = (size_t)(next_line(s) - s);
    if (n > 0 && s[n - 1] == '\n')
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* The first frame (`    #0 ...`) of the stack under `  title:` in report
 * rep, or of the stack right under the headline when title is NULL, copied
 * into buf; "" when there is none. */
static const char *top_frame(span_t rep, const char *title, char *buf, size_t cap) {
    buf[0] = '\0';
    const char *l = next_line(rep.start);
    if (title != NULL) {
        char want[128];
        snprintf(want, sizeof want, "  %s:\n", title);
        while (l < rep.end && !starts(l, want))
            l = next_line(l);
        if (l >= rep.end)
            return buf;
        l = next_line(l);
    }
    if (l < rep.end && starts(l, "    #0 "))
        line_copy(l, buf, cap);
    return buf;
}

/* Whether a frame line ends with `/file:line` or ` file:line`. */
static int frame_names(const char *frame, const char *file, int line) {
    char want[256];
    snprintf(want, sizeof want, "%s:%d", file, line);
    size_t n = strlen(frame), w = strlen(want);
    return n > w && strcmp(frame + n - w, want) == 0 &&
           (frame[n - w - 1] == '/' || frame[n - w - 1] == ' ');
}

/* Asserts that report rep's stack under title (NULL: under the headline)
 * starts in file (in dir) at the line of marker.  Without a symbolizer,
 * only that the stack is there. */
static void expect_frame(run_t *r, span_t rep, const char *title, const char *dir,
                         const char *file, const char *marker) {
    char frame[512], path[1024];
    top_frame(rep, title, frame, sizeof frame);
    if (!EXPECT(r, frame[0] != '\0', "no stack %s%s in the report `%.80s`",
                title ? "under " : "right under the headline", title ? title : "", rep.start))
        return;
    if (!have_lines)
        return;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int line = marker_line(path, marker);
    EXPECT(r, frame_names(frame, file, line), "%s: #0 should be %s:%d (%s), is `%s`",
           title ? title : "the error's stack", file, line, marker, frame);
}

/* Asserts there is a report starting with head (the nth one) and returns it. */
static span_t expect_report(run_t *r, const char *head, int nth) {
    span_t rep = report_find(r->err, r->err + strlen(r->err), head, nth);
    EXPECT(r, rep.start != NULL, "no report `warden: %s` (number %d)", head, nth + 1);
    return rep;
}

/* Asserts the summary line is there, once, and starts with
 * `warden: check: ` counts. */
static void expect_summary(run_t *r, const char *counts) {
    char want[256];
    snprintf(want, sizeof want, "warden: check: %s", counts);
    EXPECT(r, summary_count(r->err) == 1, "%d summary lines, not 1", summary_count(r->err));
    span_t s = report_find(r->err, r->err + strlen(r->err), "check: ", 0);
    EXPECT(r, s.start != NULL && starts(s.start, want), "the summary is not `%s...`", want);
}

/* The last line of s, copied into buf. */
static const char *last_line(const char *s, char *buf, size_t cap) {
    const char *last = s;
    for (const char *l = s; *l; l = next_line(l))
        last = l;
    return line_copy(last, buf, cap);
}

static void expect_last_line(run_t *r, const char *want) {
    char buf[256];
    EXPECT(r, strcmp(last_line(r->out, buf, sizeof buf), want) == 0,
           "stdout's last line is `%s`, not `%s`", buf, want);
}

#endif /* WARDEN_TESTS_CHECK_HARNESS_H */
