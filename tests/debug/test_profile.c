/* test_profile.c -- the heap profiler (WARDEN_OPTIONS=profile=PREFIX,
 * docs/profiling.md) from outside: runs the workloads of profile_prog.c,
 * each of which prints what it holds from which function (`truth NAME
 * BYTES`), and checks the files the profiler wrote against that.
 *
 *   test_profile preload --prog profile_prog --lib libwarden.so
 *   test_profile linked  --prog profile_prog_wd
 *
 * preload runs the program with LD_PRELOAD (its malloc is warden's);
 * linked runs the variant linked with libwarden.a that calls the wd_
 * names, so the sanitizer builds run it too.  Parts, in order:
 *
 *   hold      ~100 MiB live, 90 % from hold_big: .folded puts >= 80 % under
 *             hold_big, its total within 30 % of the truth (the default
 *             rate: about 200 samples); .prof starts with `heap profile:`
 *             and google-pprof --text ranks hold_big first (left out when
 *             google-pprof is missing); .svg parses as XML (python3) and
 *             names hold_big in a <title>
 *   precise   hold at profile_rate=65536 (about 1,600 samples): the total
 *             and hold_big's part within 10 % of the truth
 *   dump      wd_profile_dump before and after freeing hold_big's blocks:
 *             in use under hold_big drops to nothing, hold_small's stays
 *   threads   4 threads holding 16 MiB each from thread_hold
 *   fork      a child that holds more and calls exit(): it writes
 *             PREFIX.PID.*, with child_hold, and the parent's profile is
 *             its own, intact
 *   signal    profile_signal=12 and raise(SIGUSR2): PREFIX.1.* is written
 *             while the program allocates nothing; in a fork child that
 *             raises it and then allocates nothing and leaves with _exit,
 *             PREFIX.PID.1.* is written too, with child_hold in it
 *   realloc   blocks grown by realloc and kept (grow_hold) or freed
 *             (grow_free): only the kept ones are in use
 *   wide      small blocks of 4 to 64 KiB, above the countdown's largest
 *             slot (kept with the chance of a 4 KiB block and weighted
 *             so), beside blocks up to 4 KiB, at profile_rate=16384:
 *             each function's part within 30 % (a weight of p(s) would
 *             put hold_wide at a quarter of the truth)
 *   freed     hold, then everything freed before exit, with a PATH whose
 *             llvm-symbolizer and addr2line leave a mark when run: no
 *             mark (nothing in use, nothing to name), and a .prof whose
 *             header counts the allocations; the same PATH with hold
 *             leaves the mark (the control)
 *   wrapped   (preload only) hold at profile_rate=65536 with harden=2 and
 *             with check=1: the same figures within 15 %
 *
 * Estimates are random (the sampler's stream is seeded from the OS): the
 * bounds are 4 to 5 standard deviations wide. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>

#include "test.h"

static struct {
    const char *prog, *lib;
    int preload;
    char dir[64];
} cfg;

static int have_pprof, have_python;

/* --- running ---------------------------------------------------------------- */

/* Runs the program with args and WARDEN_OPTIONS=options; its stdout goes
 * into out (cap bytes).  Returns the wait status. */
static int run(const char *options, const char *const *args, char *out, size_t cap) {
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        if (cfg.preload)
            setenv("LD_PRELOAD", cfg.lib, 1);
        setenv("WARDEN_OPTIONS", options, 1);
        const char *argv[8] = {cfg.prog};
        for (int i = 0; args[i] != NULL && i < 6; i++)
            argv[i + 1] = args[i];
        alarm(120);
        execv(cfg.prog, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    test_read_all(p[0], out, cap);
    return test_wait(pid);
}

static int run_ok(const char *options, const char *const *args, char *out, size_t cap) {
    int st = run(options, args, out, cap);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s %s with %s: status %d\n%s", cfg.prog, args[0], options, st, out);
        exit(1);
    }
    return st;
}

/* A tool's stdout (execvp on PATH), or exit status 127 when it is missing. */
static int tool(const char *const *argv, char *out, size_t cap) {
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        unsetenv("LD_PRELOAD");
        unsetenv("WARDEN_OPTIONS");
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    test_read_all(p[0], out, cap);
    int st = test_wait(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* `truth NAME BYTES` from the program's output. */
static double truth(const char *out, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "truth %s ", name);
    const char *at = strstr(out, key);
    CHECK(at != NULL);
    return strtod(at + strlen(key), NULL);
}

/* --- the files ------------------------------------------------------------------ */

static char *slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    char *buf = malloc((size_t)st.st_size + 1);
    CHECK(buf != NULL);
    test_read_all(fd, buf, (size_t)st.st_size + 1);
    return buf;
}

typedef struct {
    double total; /* bytes of every line */
    double named; /* bytes of the lines with a frame named so */
    int lines;
} folded_t;

/* Sums PREFIX.folded: `frame;frame;... BYTES` per line. */
static folded_t folded(const char *prefix, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s.folded", prefix);
    char *text = slurp(path);
    if (text == NULL) {
        fprintf(stderr, "%s: missing\n", path);
        exit(1);
    }
    folded_t f = {0, 0, 0};
    size_t nlen = strlen(name);
    for (char *line = text, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        CHECK(nl != NULL);
        *nl = '\0';
        char *space = strrchr(line, ' ');
        CHECK(space != NULL);
        double bytes = strtod(space + 1, NULL);
        f.total += bytes;
        f.lines++;
        for (char *fr = line; fr < space;) { /* each frame, ';' or the count ends it */
            size_t len = strcspn(fr, ";");
            if (fr + len > space)
                len = (size_t)(space - fr);
            if (len == nlen && memcmp(fr, name, nlen) == 0) {
                f.named += bytes;
                break;
            }
            fr += len + 1;
        }
    }
    free(text);
    return f;
}

static void prefix_of(char *buf, size_t cap, const char *part) {
    snprintf(buf, cap, "%s/%s", cfg.dir, part);
}

/* Runs `profile_prog mode` with profile=PREFIX (PREFIX: the part's, into
 * prefix, 128 bytes) and `extra` options after it ("" for none); its
 * output goes into out (4096 bytes). */
static void run_mode(const char *part, const char *mode, const char *extra, char *prefix,
                     char *out) {
    char options[256];
    prefix_of(prefix, 128, part);
    snprintf(options, sizeof options, "profile=%s%s", prefix, extra);
    const char *args[] = {mode, NULL};
    run_ok(options, args, out, 4096);
}

static void expect_near(const char *what, double got, double want, double tolerance) {
    double ratio = want > 0 ? got / want : 0;
    printf("  %s: %.0f estimated, %.0f true (%.3f)\n", what, got, want, ratio);
    if (!(ratio >= 1 - tolerance && ratio <= 1 + tolerance)) {
        fprintf(stderr, "%s: %.3f of the truth, outside 1 +- %.2f\n", what, ratio, tolerance);
        exit(1);
    }
}

/* .prof: the header google-pprof reads, and its ranking. */
static void check_prof(const char *prefix, const char *first) {
    char path[256], out[65536];
    snprintf(path, sizeof path, "%s.prof", prefix);
    char *text = slurp(path);
    CHECK(text != NULL);
    CHECK(strncmp(text, "heap profile: ", 14) == 0);
    CHECK(strstr(text, " @ heapprofile\n") != NULL);
    CHECK(strstr(text, "\nMAPPED_LIBRARIES:\n") != NULL);
    free(text);
    if (!have_pprof) {
        printf("  google-pprof: not installed, left out\n");
        return;
    }
    const char *argv[] = {"google-pprof", "--text", cfg.prog, path, NULL};
    CHECK(tool(argv, out, sizeof out) == 0);
    /* "    89.7  88.6%  88.6%     89.7  88.6% hold_big": the first ranked line. */
    char *line = strchr(out, '%');
    CHECK(line != NULL);
    char *end = strchr(line, '\n');
    if (end != NULL)
        *end = '\0';
    char *name = strrchr(line, ' ');
    CHECK(name != NULL);
    printf("  google-pprof --text ranks first: %s\n", name + 1);
    CHECK(strcmp(name + 1, first) == 0);
}

/* .svg: well-formed XML, a <title> naming the function. */
static void check_svg(const char *prefix, const char *name) {
    char path[256], out[4096];
    snprintf(path, sizeof path, "%s.svg", prefix);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 0);
    if (!have_python) {
        printf("  python3: not installed, the SVG is not parsed\n");
        return;
    }
    const char *argv[] = {
        "python3", "-c",
        "import sys, xml.etree.ElementTree as E\n"
        "root = E.parse(sys.argv[1]).getroot()\n"
        "titles = [t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}title')]\n"
        "print(len(titles), len(list(root.iter('{http://www.w3.org/2000/svg}rect'))))\n"
        "sys.exit(0 if any(t.startswith(sys.argv[2] + ' (') for t in titles) else 1)\n",
        path, name, NULL};
    int rc = tool(argv, out, sizeof out);
    printf("  svg: titles and rectangles: %s", out);
    CHECK(rc == 0);
}

/* --- the parts ------------------------------------------------------------------ */

static void part_hold(void) {
    char prefix[128], out[4096];
    run_mode("hold", "hold", "", prefix, out);
    double big = truth(out, "hold_big"), small = truth(out, "hold_small");
    folded_t f = folded(prefix, "hold_big");
    printf("hold: %d stacks\n", f.lines);
    expect_near("in use", f.total, big + small, 0.3);
    printf("  under hold_big: %.1f %%\n", 100 * f.named / f.total);
    CHECK(f.named >= 0.8 * f.total);
    check_prof(prefix, "hold_big");
    check_svg(prefix, "hold_big");
}

static void part_precise(void) {
    char prefix[128], out[4096];
    run_mode("precise", "hold", ":profile_rate=65536", prefix, out);
    double big = truth(out, "hold_big"), small = truth(out, "hold_small");
    folded_t f = folded(prefix, "hold_big");
    printf("precise (profile_rate=65536):\n");
    expect_near("in use", f.total, big + small, 0.1);
    expect_near("hold_big", f.named, big, 0.1);
}

static void part_dump(void) {
    char prefix[128], before[160], after[160], out[4096];
    prefix_of(prefix, sizeof prefix, "dump");
    snprintf(before, sizeof before, "%s.before", prefix);
    snprintf(after, sizeof after, "%s.after", prefix);
    const char *args[] = {"dump", prefix, NULL};
    /* The option's own prefix is elsewhere: only the calls write these. */
    char options[256];
    snprintf(options, sizeof options, "profile=%s/dump-exit:profile_rate=131072", cfg.dir);
    run_ok(options, args, out, sizeof out);
    double big = truth(out, "hold_big"), small = truth(out, "hold_small");
    folded_t b = folded(before, "hold_big"), a = folded(after, "hold_big");
    folded_t as = folded(after, "hold_small");
    printf("dump:\n");
    expect_near("in use before", b.total, big + small, 0.25);
    printf("  after freeing hold_big's blocks: %.0f under hold_big, %.0f in all\n", a.named,
           a.total);
    CHECK(a.named == 0);
    expect_near("hold_small after", as.named, small, 0.5);
}

static void part_threads(void) {
    char prefix[128], out[4096];
    run_mode("threads", "threads", ":profile_rate=65536", prefix, out);
    folded_t f = folded(prefix, "thread_hold");
    printf("threads:\n");
    expect_near("under thread_hold", f.named, truth(out, "thread_hold"), 0.25);
    CHECK(f.named >= 0.9 * f.total);
}

static void part_fork(void) {
    char prefix[128], child[160], out[4096];
    run_mode("fork", "fork", ":profile_rate=65536", prefix, out);
    const char *c = strstr(out, "child ");
    CHECK(c != NULL);
    snprintf(child, sizeof child, "%s.%d", prefix, atoi(c + 6));
    folded_t p = folded(prefix, "hold_small"), pc = folded(prefix, "child_hold");
    folded_t k = folded(child, "child_hold");
    printf("fork:\n");
    expect_near("parent, hold_small", p.named, truth(out, "hold_small"), 0.25);
    CHECK(pc.named == 0);
    printf("  child (%s.folded): %.0f under child_hold of %.0f\n", child, k.named, k.total);
    CHECK(k.named > 0);
    check_prof(prefix, "hold_small");
}

static void part_signal(void) {
    char prefix[128], first[160], options[256], out[4096];
    prefix_of(prefix, sizeof prefix, "signal");
    snprintf(first, sizeof first, "%s.1", prefix);
    snprintf(options, sizeof options, "profile=%s:profile_signal=%d", prefix, SIGUSR2);
    char sig[16];
    snprintf(sig, sizeof sig, "%d", SIGUSR2);
    char file[192];
    snprintf(file, sizeof file, "%s.prof", first);
    const char *args[] = {"signal", sig, file, NULL};
    run_ok(options, args, out, sizeof out);
    folded_t s = folded(first, "hold_small"), e = folded(prefix, "hold_small");
    printf("signal: %.0f bytes in the signal's dump, %.0f at exit\n", s.total, e.total);
    CHECK(s.named > 0 && e.named > 0);

    /* The same in an idle fork child: its own ticker writes the dump.
     * Not under ThreadSanitizer, which lets no thread start in a child
     * of a multi-threaded process (thread.c). */
    if (TEST_TSAN) {
        printf("signal in an idle fork child: not under ThreadSanitizer\n");
        return;
    }
    prefix_of(prefix, sizeof prefix, "signal-child");
    snprintf(options, sizeof options, "profile=%s:profile_signal=%d", prefix, SIGUSR2);
    const char *cargs[] = {"signal_child", sig, prefix, NULL};
    run_ok(options, cargs, out, sizeof out);
    const char *c = strstr(out, "child ");
    CHECK(c != NULL);
    char child[192];
    snprintf(child, sizeof child, "%s.%d.1", prefix, atoi(c + 6));
    folded_t k = folded(child, "child_hold");
    printf("signal in an idle fork child: %.0f under child_hold in %s.folded\n", k.named, child);
    CHECK(k.named > 0);
}

/* With the wrappers (preloaded only: the sanitizer builds run no
 * harden=2): their blocks are sampled and forgotten as theirs. */
static void part_wrapped(void) {
    static const char *const levels[] = {"harden=2", "check=1:leaks=0"};
    for (int i = 0; i < 2; i++) {
        char prefix[128], options[256], out[4096];
        prefix_of(prefix, sizeof prefix, i == 0 ? "harden2" : "check1");
        snprintf(options, sizeof options, "profile=%s:profile_rate=65536:%s", prefix, levels[i]);
        const char *args[] = {"hold", NULL};
        run_ok(options, args, out, sizeof out);
        folded_t f = folded(prefix, "hold_big");
        printf("%s:\n", levels[i]);
        expect_near("in use", f.total, truth(out, "hold_big") + truth(out, "hold_small"), 0.15);
        expect_near("hold_big", f.named, truth(out, "hold_big"), 0.15);
    }
}

static void part_realloc(void) {
    char prefix[128], out[4096];
    run_mode("realloc", "realloc", ":profile_rate=65536", prefix, out);
    folded_t g = folded(prefix, "grow_hold"), fr = folded(prefix, "grow_free");
    printf("realloc:\n");
    expect_near("under grow_hold", g.named, truth(out, "grow_hold"), 0.25);
    CHECK(fr.named == 0);
}

static void part_wide(void) {
    char prefix[128], out[4096];
    run_mode("wide", "wide", ":profile_rate=16384", prefix, out);
    folded_t w = folded(prefix, "hold_wide"), sm = folded(prefix, "hold_small");
    printf("wide:\n");
    expect_near("under hold_wide", w.named, truth(out, "hold_wide"), 0.3);
    expect_near("under hold_small", sm.named, truth(out, "hold_small"), 0.3);
}

/* run_mode with PATH starting with a directory whose llvm-symbolizer and
 * addr2line create a mark and print nothing; 1 when the mark was made. */
static int symbolizer_ran(const char *part, const char *mode, char *prefix, char *out) {
    char dir[160], mark[192];
    snprintf(dir, sizeof dir, "%s/fake-bin", cfg.dir);
    snprintf(mark, sizeof mark, "%s/symbolizer-ran", cfg.dir);
    mkdir(dir, 0755);
    unlink(mark);
    static const char *const names[] = {"llvm-symbolizer", "addr2line"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fprintf(f, "#!/bin/sh\ntouch '%s'\n", mark);
        CHECK(fclose(f) == 0 && chmod(path, 0755) == 0);
    }
    const char *old = getenv("PATH");
    char *saved = strdup(old != NULL ? old : "/usr/bin:/bin");
    char path[4096];
    snprintf(path, sizeof path, "%s:%s", dir, saved);
    setenv("PATH", path, 1);
    run_mode(part, mode, "", prefix, out);
    setenv("PATH", saved, 1);
    free(saved);
    return access(mark, F_OK) == 0;
}

static void part_freed(void) {
    char prefix[128], out[4096], path[192];
    int ran = symbolizer_ran("freed", "freed", prefix, out);
    printf("freed: the symbolizer %s at exit\n", ran ? "ran" : "did not run");
    CHECK(!ran);
    snprintf(path, sizeof path, "%s.prof", prefix);
    char *text = slurp(path);
    CHECK(text != NULL);
    /* "heap profile: 0: 0 [N: B] @ heapprofile": nothing in use, N > 0 allocated. */
    unsigned long in_n, in_b, al_n, al_b;
    CHECK(sscanf(text, "heap profile: %lu: %lu [%lu: %lu]", &in_n, &in_b, &al_n, &al_b) == 4);
    printf("  in use %lu blocks, allocated %lu blocks, %lu bytes (truth %.0f)\n", in_n, al_n,
           al_b, truth(out, "allocated"));
    CHECK(in_n == 0 && in_b == 0 && al_n > 0);
    free(text);
    ran = symbolizer_ran("freed-control", "hold", prefix, out);
    printf("  with blocks in use at exit the symbolizer %s\n", ran ? "ran" : "did not run");
    CHECK(ran);
}

int main(int argc, char **argv) {
    (void)test_failures; /* every failure exits at once */
    CHECK(argc >= 2);
    cfg.preload = strcmp(argv[1], "preload") == 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--prog") == 0)
            cfg.prog = argv[i + 1];
        else if (strcmp(argv[i], "--lib") == 0)
            cfg.lib = argv[i + 1];
    }
    CHECK(cfg.prog != NULL && (!cfg.preload || cfg.lib != NULL));
    snprintf(cfg.dir, sizeof cfg.dir, "/tmp/wd-profile-XXXXXX");
    CHECK(mkdtemp(cfg.dir) != NULL);
    char out[256];
    const char *pprof[] = {"google-pprof", "--help", NULL};
    have_pprof = tool(pprof, out, sizeof out) != 127;
    const char *py[] = {"python3", "-c", "import xml.etree.ElementTree", NULL};
    have_python = tool(py, out, sizeof out) == 0;
    part_hold();
    part_precise();
    part_dump();
    part_threads();
    part_fork();
    part_signal();
    part_realloc();
    part_wide();
    if (cfg.preload) /* with libwarden.a every row is named (profile_out.c) */
        part_freed();
    if (cfg.preload)
        part_wrapped();
    /* Everything passed: the files go (a failure leaves them to look at). */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cfg.dir);
    CHECK(system(cmd) == 0);
    return 0;
}
