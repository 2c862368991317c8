/* tests/test.h -- the few helpers every warden test shares.
 *
 *   CHECK(cond)                 fails the test (exit 1) with file:line and the text
 *   CHECK_EQ(a, b)              same, printing both values as unsigned long long
 *   EXPECT_ABORT(fn, "text")    runs fn() in a forked child with stderr piped
 *                               back; asserts the child died of SIGABRT and
 *                               that its stderr contains "text"
 *   test_seed()                 seed for random tests: WD_TEST_SEED or the time;
 *                               printed so a failure can be replayed
 *   TEST_SKIP                   exit code that ctest reads as "skipped"
 *   TEST_TSAN                   1 in the ThreadSanitizer build (make test TSAN=1)
 */
#ifndef WARDEN_TESTS_TEST_H
#define WARDEN_TESTS_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_SKIP 77

/* gcc says so with a macro, clang through __has_feature. */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

static int test_failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        unsigned long long check_a_ = (unsigned long long)(a);                 \
        unsigned long long check_b_ = (unsigned long long)(b);                 \
        if (check_a_ != check_b_) {                                            \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%llu vs %llu)\n",\
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);           \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Reads fd until end of file (or until buf is full), NUL-terminates buf,
 * closes fd and returns the length read.  Retries on EINTR. */
static inline size_t test_read_all(int fd, char *buf, size_t cap) {
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return len;
}

/* waitpid for one child, retrying on EINTR; returns its status. */
static inline int test_wait(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Where a forked child's output goes (test_run_piped). */
enum {
    TEST_PIPE_STDOUT = 1, /* stdout too, into the same buffer as stderr */
    TEST_PIPE_ANNOUNCE = 2, /* fd 3: a pipe for the line the child expects */
};

/* Runs fn(arg) in a forked child whose stderr (and stdout with
 * TEST_PIPE_STDOUT) is piped back into got (gcap bytes, NUL-terminated);
 * with TEST_PIPE_ANNOUNCE, what the child writes on fd 3 goes into want.
 * Returns the child's wait status; fn returning means exit 0.  The pipes
 * are read whole before waiting, so a chatty child cannot block on a full
 * pipe. */
static inline int test_run_piped(void (*fn)(const void *), const void *arg, int flags,
                                 char *want, size_t wcap, char *got, size_t gcap) {
    int w[2] = {-1, -1}, g[2];
    CHECK(pipe(g) == 0 && (!(flags & TEST_PIPE_ANNOUNCE) || pipe(w) == 0));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(g[0]);
        if (flags & TEST_PIPE_ANNOUNCE) {
            close(w[0]);
            dup2(w[1], 3);
        }
        if (flags & TEST_PIPE_STDOUT)
            dup2(g[1], 1);
        dup2(g[1], 2);
        fn(arg);
        _exit(0);
    }
    close(g[1]);
    if (flags & TEST_PIPE_ANNOUNCE) {
        close(w[1]);
        test_read_all(w[0], want, wcap);
    }
    test_read_all(g[0], got, gcap);
    return test_wait(pid);
}

struct test_plain_fn {
    void (*fn)(void);
};
static inline void test_call_plain(const void *arg) { ((const struct test_plain_fn *)arg)->fn(); }

/* Runs fn in a forked child whose stderr is piped back into buf (cap bytes,
 * NUL-terminated); returns the child's wait status.  fn returning (the
 * misuse went unnoticed) means exit 0. */
static inline int test_child_stderr(void (*fn)(void), char *buf, size_t cap) {
    struct test_plain_fn plain = {fn};
    return test_run_piped(test_call_plain, &plain, 0, NULL, 0, buf, cap);
}

/* Runs fn in a child; returns 0 when it died of SIGABRT with `want` in its
 * stderr, else prints why and returns 1. */
static inline int test_expect_abort(void (*fn)(void), const char *name,
                                    const char *want) {
    static char buf[65536];
    int status = test_child_stderr(fn, buf, sizeof buf);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int found = strstr(buf, want) != NULL;
    if (aborted && found)
        return 0;
    fprintf(stderr, "EXPECT_ABORT(%s) failed: %s; wanted \"%s\"; child stderr:\n%s\n",
            name,
            aborted ? "message not found"
                    : (WIFSIGNALED(status) ? "killed by another signal" : "child did not abort"),
            want, buf);
    return 1;
}

#define EXPECT_ABORT(fn, want) (test_failures += test_expect_abort(fn, #fn, want))

struct test_timed_fn {
    void (*fn)(const void *);
    const void *arg;
};
static inline void test_call_timed(const void *arg) {
    const struct test_timed_fn *t = (const struct test_timed_fn *)arg;
    alarm(30);
    t->fn(t->arg);
}

/* Runs fn(arg) in a forked child whose fd 3 is a pipe for the line it
 * expects (written just before its misuse) and whose stderr is piped back;
 * fills want and got (NUL-terminated) and returns the child's wait status.
 * fn returning means exit 0; a child still running after 30 s is killed. */
static inline int test_run_announced(void (*fn)(const void *), const void *arg, char *want,
                                     size_t wcap, char *got, size_t gcap) {
    struct test_timed_fn timed = {fn, arg};
    return test_run_piped(test_call_timed, &timed, TEST_PIPE_ANNOUNCE, want, wcap, got, gcap);
}

/* Runs fn as test_run_announced does; it must die of SIGABRT with exactly
 * the line it announced on stderr, or, when it announced "fault", of
 * SIGSEGV with no warden line (a guard page).  Prints ok/FAIL; returns 1 on
 * failure. */
static inline int test_expect_announced(void (*fn)(void), const char *name) {
    char w[512], g[4096];
    struct test_plain_fn plain = {fn};
    int status = test_run_announced(test_call_plain, &plain, w, sizeof w, g, sizeof g);
    int ok;
    if (strcmp(w, "fault") == 0)
        ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && strstr(g, "warden:") == NULL;
    else
        ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && w[0] != '\0' &&
             strcmp(w, g) == 0;
    printf("%s %s\n", ok ? "ok:  " : "FAIL:", name);
    if (!ok)
        fprintf(stderr, "%s: wanted \"%s\", got \"%s\" (status 0x%x)\n", name, w, g,
                (unsigned)status);
    return !ok;
}

/* Whether the run has WARDEN_OPTIONS=harden=2 (then blocks are exactly the
 * requested size and misuse is caught earlier and by other checks). */
static inline int test_harden2(void) {
    const char *env = getenv("WARDEN_OPTIONS");
    return env != NULL && strstr(env, "harden=2") != NULL;
}

static inline unsigned long long test_seed(void) {
    const char *env = getenv("WD_TEST_SEED");
    unsigned long long seed = env ? strtoull(env, NULL, 0)
                                  : (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
    printf("seed: WD_TEST_SEED=%llu\n", seed);
    return seed;
}

/* Runs round(&seed) `rounds` times, each in a forked child of its own
 * with seed test_seed() + r, and prints a line a round; a round that dies
 * or exits non-zero is a failure (its stderr printed).  For the race
 * tests: a round that crashes leaves the next ones their chance. */
static inline void test_rounds(void (*round)(const void *), unsigned rounds) {
    unsigned long long seed = test_seed();
    static char out[1 << 16];
    for (unsigned r = 0; r < rounds; r++) {
        uint64_t round_seed = seed + r;
        int status = test_run_piped(round, &round_seed, 0, NULL, 0, out, sizeof out);
        int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        printf("round %u (seed %llu): %s\n", r, (unsigned long long)round_seed,
               ok ? "ok" : "FAILED");
        if (!ok) {
            fprintf(stderr, "round %u: status 0x%x, stderr:\n%s\n", r, (unsigned)status, out);
            test_failures++;
        }
    }
}

/* Seconds on the monotonic clock: for durations and deadlines. */
static inline double test_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: small, fast, good enough for test workloads. */
static inline uint64_t test_rand(uint64_t *state) {
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL; /* 0 is a fixed point */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif /* WARDEN_TESTS_TEST_H */
