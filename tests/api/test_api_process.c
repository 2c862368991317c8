/* tests/api/test_api_process.c -- warden as the process's malloc, from
 * start to exit: allocation in a constructor before main, in an atexit
 * handler and in a destructor; WARDEN_OPTIONS read at start (stats,
 * unknown options, verbose) by a re-executed child; malloc and free in
 * pthread key destructors; fork while other threads allocate; libc
 * functions that allocate (getaddrinfo, dlopen, stdio, qsort, strdup,
 * printf).  Built as api_process_static and api_process_preload (see
 * api_util.h).
 *
 * Child modes (re-executions of this binary): --child-workload runs a small
 * allocation workload and exits 0 (used with WARDEN_OPTIONS set).  The
 * child has this file's constructor and destructor too, so its exit also
 * allocates in a destructor under each option.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <locale.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api_util.h"

/* --- WARDEN_OPTIONS -------------------------------------------------------- */
static const char *self_exe;

/* A workload for the re-executed child; returns the exit code. */
static int child_workload(void) {
    void *p[1000];
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < 1000; i++) {
            size_t n = (size_t)((i * 37 + r) % 5000) + 1;
            if (i % 100 == 0)
                n = 300 * KiB;
            p[i] = malloc(n);
            if (!p[i])
                return 2;
            fill(p[i], n, (uint64_t)i);
        }
        for (int i = 0; i < 1000; i++) {
            size_t n = (size_t)((i * 37 + r) % 5000) + 1;
            if (i % 100 == 0)
                n = 300 * KiB;
            if (verify_at(p[i], n, (uint64_t)i) != n)
                return 3;
            free(p[i]);
        }
    }
    return 0;
}

/* Runs this binary with --child-workload and WARDEN_OPTIONS = opts (unset when
 * NULL); returns the exit status and fills err with the child's stderr. */
static void exec_with_options(const void *opts) {
    if (opts)
        setenv("WARDEN_OPTIONS", opts, 1);
    else
        unsetenv("WARDEN_OPTIONS");
    char *const args[] = {(char *)self_exe, (char *)"--child-workload", NULL};
    execv("/proc/self/exe", args);
    execv(self_exe, args);
    _exit(127);
}

static int run_with_options(const char *opts, char *err, size_t errsize) {
    return test_run_piped(exec_with_options, opts, 0, NULL, 0, err, errsize);
}

static int count_lines(const char *text, const char *needle, int at_start) {
    int count = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        size_t nl = strlen(needle);
        if (at_start) {
            if (ll >= nl && strncmp(line, needle, nl) == 0)
                count++;
        } else {
            for (size_t i = 0; i + nl <= ll; i++)
                if (strncmp(line + i, needle, nl) == 0) {
                    count++;
                    break;
                }
        }
        line = end ? end + 1 : NULL;
    }
    return count;
}

#define OPT_FAIL(opts, why, err)                                               \
    do {                                                                       \
        fprintf(stderr, "FAIL: WARDEN_OPTIONS=%s: %s; child stderr:\n%s\n",    \
                (opts) ? (opts) : "(unset)", why, err);                        \
        test_failures++;                                                       \
    } while (0)

static void t_options(void) {
    static char err[65536];
    int st;

    st = run_with_options(NULL, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL((const char *)NULL, "child did not exit 0", err);
    else if (err[0] != '\0')
        OPT_FAIL((const char *)NULL, "child printed to stderr without any option", err);

    st = run_with_options("stats=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("stats=1", "child did not exit 0", err);
    else if (count_lines(err, "warden: stats", 1) < 1)
        OPT_FAIL("stats=1", "no line starting with \"warden: stats\" at exit", err);

    st = run_with_options("nonsense=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("nonsense=1", "child did not exit 0", err);
    else if (count_lines(err, "warden: unknown option", 0) != 1)
        OPT_FAIL("nonsense=1", "wanted exactly one line containing \"warden: unknown option\"", err);
    else if (count_lines(err, "warden: stats", 1) != 0)
        OPT_FAIL("nonsense=1", "stats printed without stats=1", err);

    st = run_with_options("verbose=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("verbose=1", "child did not exit 0", err);
    else if (count_lines(err, "unknown option", 0) != 0)
        OPT_FAIL("verbose=1", "verbose rejected as unknown", err);

    st = run_with_options("stats=1:verbose=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("stats=1:verbose=1", "child did not exit 0", err);
    else if (count_lines(err, "unknown option", 0) != 0 || count_lines(err, "warden: stats", 1) < 1)
        OPT_FAIL("stats=1:verbose=1", "wanted stats lines and no unknown option", err);

    /* a comma separates options as a colon does (sanitizers take both) */
    st = run_with_options("stats=1,verbose=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("stats=1,verbose=1", "child did not exit 0", err);
    else if (count_lines(err, "bad value", 0) != 0 || count_lines(err, "warden: stats", 1) < 1 ||
             count_lines(err, "warden: options", 1) < 1)
        OPT_FAIL("stats=1,verbose=1", "wanted stats lines, the verbose options line, no bad value",
                 err);

    /* a mistyped name gets the option it likely meant */
    st = run_with_options("exit_code=3", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("exit_code=3", "child did not exit 0", err);
    else if (count_lines(err, "warden: unknown option 'exit_code' in WARDEN_OPTIONS "
                              "(error_exitcode? help=1 lists them all)", 1) != 1)
        OPT_FAIL("exit_code=3", "wanted one unknown option line naming error_exitcode", err);

    /* help=1: every option with its default, one a line */
    st = run_with_options("help=1", err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        OPT_FAIL("help=1", "child did not exit 0", err);
    else if (count_lines(err, "warden: options, WARDEN_OPTIONS=", 1) != 1 ||
             count_lines(err, "warden:   check_quarantine_mb=20  with check=1: ", 1) != 1 ||
             count_lines(err, "warden:   error_exitcode=0  ", 1) != 1 ||
             count_lines(err, "warden:   profile=  ", 1) != 1)
        OPT_FAIL("help=1", "wanted the options' lines (check_quarantine_mb=20, error_exitcode=0, "
                           "profile=)", err);

    printf("ok: WARDEN_OPTIONS (stats, unknown option, verbose, separators, help)\n");
}

/* --- awkward places -------------------------------------------------------- */
static int ctor_result = -1;

__attribute__((constructor)) static void early_alloc(void) {
    int ok = 1;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)i * 97 + 1;
        if (i == 10)
            n = 300 * KiB;
        if (i == 20)
            n = 5 * MiB;
        p[i] = malloc(n);
        if (!p[i] || !ALIGNED(p[i], 16)) {
            ok = 0;
            break;
        }
        fill(p[i], n, (uint64_t)i);
    }
    for (int i = 0; ok && i < 64; i++) {
        size_t n = (size_t)i * 97 + 1;
        if (i == 10)
            n = 300 * KiB;
        if (i == 20)
            n = 5 * MiB;
        if (verify_at(p[i], n, (uint64_t)i) != n)
            ok = 0;
        free(p[i]);
    }
    char *s = strdup("constructor");
    if (!s || strcmp(s, "constructor") != 0)
        ok = 0;
    free(s);
    void *c = calloc(100, 100);
    if (!c || !all_zero(c, 10000))
        ok = 0;
    free(c);
    ctor_result = ok;
}

static void late_alloc_or_die(const char *where) {
    int ok = 1;
    void *p = malloc(1000);
    void *q = calloc(10, 5000);
    void *r = malloc(3 * MiB);
    if (!p || !q || !r || !all_zero(q, 50000))
        ok = 0;
    if (ok) {
        fill(p, 1000, 1);
        fill(r, 3 * MiB, 2);
        p = realloc(p, 100000);
        if (!p || verify_at(p, 1000, 1) != 1000 || verify_at(r, 3 * MiB, 2) != 3 * MiB)
            ok = 0;
    }
    free(p);
    free(q);
    free(r);
    if (!ok) {
        char msg[128];
        int len = snprintf(msg, sizeof msg, "FAIL: allocation in %s\n", where);
        if (write(2, msg, (size_t)len) < 0)
            _exit(1);
        _exit(1);
    }
}
static void at_exit_alloc(void) { late_alloc_or_die("an atexit handler"); }
__attribute__((destructor)) static void dtor_alloc(void) { late_alloc_or_die("a destructor"); }

static pthread_key_t tls_key;
static atomic_int key_dtor_calls, key_dtor_ok;

static void key_dtor(void *v) {
    int n = atomic_fetch_add(&key_dtor_calls, 1) + 1;
    int ok = verify_at(v, 500, 99) == 500;
    free(v);
    void *p = malloc(1000), *q = malloc(50000), *r = malloc(2 * MiB);
    if (!p || !q || !r)
        ok = 0;
    else {
        fill(p, 1000, 3);
        fill(q, 50000, 4);
        memset(r, 1, 2 * MiB);
        ok &= verify_at(p, 1000, 3) == 1000 && verify_at(q, 50000, 4) == 50000;
    }
    free(p);
    free(q);
    free(r);
    if (n == 1) { /* set again: a second round of destructors */
        void *again = malloc(500);
        if (again) {
            fill(again, 500, 99);
            pthread_setspecific(tls_key, again);
        } else {
            ok = 0;
        }
    }
    if (ok)
        atomic_fetch_add(&key_dtor_ok, 1);
}
static void *key_thread(void *arg) {
    (void)arg;
    void *v = malloc(500);
    if (!v)
        return NULL;
    fill(v, 500, 99);
    pthread_setspecific(tls_key, v);
    for (int i = 0; i < 1000; i++)
        free(malloc((size_t)i + 1));
    return NULL;
}

static void t_tls_destructor(void) {
    CHECK(pthread_key_create(&tls_key, key_dtor) == 0);
    for (int round = 0; round < 10; round++) {
        atomic_store(&key_dtor_calls, 0);
        atomic_store(&key_dtor_ok, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, key_thread, NULL) == 0);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_EQ(atomic_load(&key_dtor_calls), 2);
        CHECK_EQ(atomic_load(&key_dtor_ok), 2);
    }
    pthread_key_delete(tls_key);
    printf("ok: malloc and free in pthread key destructors\n");
}

static atomic_int busy_stop;
static atomic_long busy_ops;

static void *busy_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    void *slot[256] = {0};
    while (!atomic_load_explicit(&busy_stop, memory_order_relaxed)) {
        uint64_t r = test_rand(&rng);
        unsigned i = (unsigned)(r & 255);
        free(slot[i]);
        size_t n = (r >> 8) % 100 == 0 ? (size_t)((r >> 16) % (512 * KiB)) : (size_t)((r >> 16) % 2048);
        slot[i] = malloc(n + 1);
        if (slot[i])
            ((char *)slot[i])[n] = 1;
        atomic_fetch_add_explicit(&busy_ops, 1, memory_order_relaxed);
    }
    for (int i = 0; i < 256; i++)
        free(slot[i]);
    return NULL;
}

static void *child_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        void *p = malloc((size_t)(i % 3000) + 1);
        if (!p)
            return (void *)1;
        memset(p, 1, (size_t)(i % 3000) + 1);
        free(p);
    }
    return NULL;
}

static int child_after_fork(void) {
    enum { RING = 64 };
    void *ring[RING] = {0};
    size_t sz[RING] = {0};
    for (int i = 0; i < 10000; i++) {
        int s = i % RING;
        if (ring[s]) {
            if (verify_at(ring[s], sz[s], (uint64_t)s) != sz[s])
                return 2;
            free(ring[s]);
        }
        size_t n = (size_t)(i * 131 % 4000) + 1;
        if (i % 500 == 0)
            n = 400 * KiB;
        if (i % 2000 == 0)
            n = 3 * MiB;
        ring[s] = (i % 7 == 0) ? calloc(1, n) : malloc(n);
        if (!ring[s])
            return 3;
        sz[s] = n;
        fill(ring[s], n, (uint64_t)s);
    }
    for (int s = 0; s < RING; s++)
        free(ring[s]);
    /* a thread in the child, too */
    pthread_t t;
    void *res = (void *)1;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &res) != 0 || res != NULL)
        return 4;
    return 0;
}

static void t_fork_with_threads(void) {
    enum { BUSY = 4 };
    pthread_t th[BUSY];
    atomic_store(&busy_stop, 0);
    for (int i = 0; i < BUSY; i++)
        CHECK(pthread_create(&th[i], NULL, busy_thread, (void *)(uintptr_t)(i + 1)) == 0);
    while (atomic_load(&busy_ops) < 10000)
        sched_yield();
    for (int round = 0; round < 20; round++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child_after_fork());
        int status = 0, done = 0;
        for (int ms = 0; ms < 10000; ms++) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                done = 1;
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (!done) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "FAIL: fork round %d: child hung (> 10 s) after fork with %d busy threads\n",
                    round, BUSY);
            exit(1);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "FAIL: fork round %d: child %s %d\n", round,
                    WIFEXITED(status) ? "exited with" : "killed by signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            exit(1);
        }
        /* the parent keeps working too */
        void *p = malloc(hide(1000));
        CHECK(p != NULL);
        free(p);
    }
    atomic_store(&busy_stop, 1);
    for (int i = 0; i < BUSY; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    printf("ok: 20 forks with %d busy threads (%ld ops in them)\n", BUSY, atomic_load(&busy_ops));
}

static void *short_thread(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    char *p = malloc(n);
    if (p)
        memset(p, (int)(n & 0xff), n);
    for (int i = 0; i < 100; i++)
        free(malloc((size_t)i * 10 + 1));
    return p; /* freed by the main thread */
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void t_libc_callers(void) {
    /* getaddrinfo: nss, dlopen of libnss_* */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo("localhost", "80", &hints, &res);
    if (rc == 0) {
        int count = 0;
        for (struct addrinfo *a = res; a; a = a->ai_next)
            count++;
        CHECK(count > 0);
        freeaddrinfo(res);
        printf("ok: getaddrinfo(localhost): %d addresses\n", count);
    } else {
        printf("note: getaddrinfo(localhost) failed (%s); that part skipped\n", gai_strerror(rc));
    }

    /* dlopen */
    void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    double (*cosf_)(double) = (double (*)(double))dlsym(h, "cos");
    CHECK(cosf_ != NULL);
    CHECK(cosf_(0.0) == 1.0);
    CHECK(dlclose(h) == 0);
    void *bad = dlopen("libwarden-does-not-exist.so.9", RTLD_NOW);
    CHECK(bad == NULL && dlerror() != NULL);

    /* 50 short threads */
    pthread_t th[50];
    for (int i = 0; i < 50; i++)
        CHECK(pthread_create(&th[i], NULL, short_thread, (void *)(uintptr_t)(i * 1000 + 1)) == 0);
    for (int i = 0; i < 50; i++) {
        void *r = NULL;
        CHECK(pthread_join(th[i], &r) == 0);
        size_t n = (size_t)i * 1000 + 1;
        CHECK(r != NULL && ((unsigned char *)r)[n - 1] == (unsigned char)(n & 0xff));
        free(r);
    }

    /* stdio */
    char path[] = "/tmp/warden-api-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 10000; i++)
        fprintf(f, "line %d %s\n", i, "some text to fill the buffer");
    CHECK(fclose(f) == 0);
    f = fopen(path, "r");
    CHECK(f != NULL);
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        char want[128];
        snprintf(want, sizeof want, "line %d %s\n", lines, "some text to fill the buffer");
        CHECK(strcmp(line, want) == 0);
        lines++;
    }
    CHECK(lines == 10000);
    CHECK(fclose(f) == 0);
    unlink(path);
    char *ms = NULL;
    size_t mslen = 0;
    FILE *mf = open_memstream(&ms, &mslen);
    CHECK(mf != NULL);
    for (int i = 0; i < 20000; i++)
        fprintf(mf, "%d,", i);
    CHECK(fclose(mf) == 0);
    CHECK(ms != NULL && mslen > 100000 && strncmp(ms, "0,1,2,", 6) == 0);
    CHECK(malloc_usable_size(ms) >= mslen);
    free(ms); /* libc's realloc'd buffer, freed by us */
    char *as = NULL;
    CHECK(asprintf(&as, "%s-%d", "asprintf", 42) > 0);
    CHECK(strcmp(as, "asprintf-42") == 0);
    free(as);

    /* qsort (allocates a temporary buffer for large arrays) */
    size_t n = 200000;
    int *arr = malloc(n * sizeof *arr);
    CHECK(arr != NULL);
    uint64_t rng = 42;
    for (size_t i = 0; i < n; i++)
        arr[i] = (int)(test_rand(&rng) >> 33);
    qsort(arr, n, sizeof *arr, cmp_int);
    for (size_t i = 1; i < n; i++)
        CHECK(arr[i - 1] <= arr[i]);
    free(arr);

    /* strdup */
    char *s = strdup("copied by libc's strdup");
    CHECK(s != NULL && strcmp(s, "copied by libc's strdup") == 0);
    CHECK(malloc_usable_size(s) >= 24);
    free(s);

    /* setlocale + printf of a float (printf allocates for wide conversions) */
    const char *loc = setlocale(LC_ALL, "C.UTF-8");
    if (!loc)
        printf("note: C.UTF-8 locale missing; using \"C\"\n");
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", 3.14159);
    CHECK(strcmp(buf, "3.142") == 0);
    printf("float: %.10f %g %e\n", 1.0 / 3.0, 2.5e-300, 6.02e23);
    char *wide = NULL;
    CHECK(asprintf(&wide, "%.5000f", 1e300) == 301 + 1 + 5000);
    /* the exact decimal value of the double nearest 1e300 */
    CHECK(strncmp(wide, "10000000000000000525047602552044202487044685811081591549158541155118024579889"
                        "08195786371375080447864", 100) == 0);
    CHECK(wide[301] == '.' && wide[5301] == '0' && wide[5302] == '\0');
    free(wide);
    CHECK(setlocale(LC_ALL, "C") != NULL);
    printf("ok: getaddrinfo, dlopen, 50 threads, stdio, qsort, strdup, setlocale + printf\n");
}

/* --- main ------------------------------------------------------------------ */
int main(int argc, char **argv) {
    self_exe = argv[0];
    if (argc > 1 && strcmp(argv[1], "--child-workload") == 0)
        return child_workload();
    setvbuf(stdout, NULL, _IOLBF, 0);

    resolve_names();
    check_identity();
    CHECK(atexit(at_exit_alloc) == 0);
    if (ctor_result != 1) {
        fprintf(stderr, "FAIL: allocation in a constructor before main (%d)\n", ctor_result);
        return 1;
    }
    printf("ok: malloc in a constructor before main\n");

    SECTION(t_options());
    SECTION(t_tls_destructor());
    SECTION(t_fork_with_threads());
    SECTION(t_libc_callers());

    if (test_failures) {
        fprintf(stderr, "%d failure(s)\n", test_failures);
        return 1;
    }
    printf("all api_process checks passed\n");
    return 0;
}
