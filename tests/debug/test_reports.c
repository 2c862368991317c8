/* tests/debug/test_reports.c -- the reports from inside, through the wd_
 * names, so that the sanitizer builds run them too (tests/api/reports/
 * checks them from outside, on programs under LD_PRELOAD):
 *   - wd_stats_json and wd_map_svg while four threads allocate and free
 *     small, medium and large blocks (each document whole, each time);
 *   - the figures of wd_stats_json against what this test holds;
 *   - wd_heap_map_svg on a classic heap: one tooltip per range, and on a
 *     64 MiB heap of 100,000 ranges a picture of bounded size;
 *   - stats_interval_ms: this program again, with the option, its lines
 *     written by warden's thread while four threads allocate.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "warden.h"

#define MiB ((size_t)1 << 20)

/* What a report wrote into a temporary stream, NUL-terminated (static:
 * some maps are megabytes). */
static char text[16 << 20];

static size_t capture(int (*fn)(FILE *), void (*vfn)(FILE *)) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (fn != NULL)
        CHECK(fn(f) == 0);
    else
        vfn(f);
    CHECK(fflush(f) == 0);
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    CHECK(n < sizeof text - 1);
    text[n] = '\0';
    fclose(f);
    return n;
}

static size_t json_number(const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(text, pattern);
    CHECK(at != NULL);
    return strtoull(at + strlen(pattern), NULL, 10);
}

/* --- reports while other threads allocate ------------------------------------ */

static atomic_int stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *slots[64] = {0};
    while (!atomic_load(&stop)) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % 64;
        wd_free(slots[i]);
        unsigned kind = (seed >> 16) % 16;
        size_t size = kind < 12 ? 16 + (seed >> 20) % 4000     /* small */
                      : kind < 15 ? 70000 + (seed >> 20) % 500000 /* medium */
                                  : 2 * MiB + (seed >> 20) % MiB; /* large */
        slots[i] = wd_malloc(size);
        CHECK(slots[i] != NULL);
        memset(slots[i], 1, size < 4096 ? size : 4096);
    }
    for (unsigned i = 0; i < 64; i++)
        wd_free(slots[i]);
    return NULL;
}

static void reports_under_load(int rounds) {
    pthread_t t[4];
    atomic_store(&stop, 0);
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int round = 0; round < rounds; round++) {
        size_t n = capture(NULL, wd_stats_json);
        CHECK(n > 100 && text[0] == '{' && strcmp(text + n - 2, "}\n") == 0);
        CHECK(strchr(text, '\n') == text + n - 1); /* one line */
        CHECK(json_number("mapped_bytes") > 0);
        n = capture(wd_map_svg, NULL);
        CHECK(strncmp(text, "<?xml", 5) == 0 && strcmp(text + n - 7, "</svg>\n") == 0);
        CHECK(strstr(text, "small page of class") != NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    printf("ok: wd_stats_json and wd_map_svg, %d times each, while 4 threads allocate\n", rounds);
}

/* --- the figures ---------------------------------------------------------------- */

static void figures(void) {
    enum { N = 2560 };
    static void *small[N];
    for (int i = 0; i < N; i++) /* 10 MiB in 4 KiB blocks */
        memset(small[i] = wd_malloc(4096), 2, 4096);
    void *medium = wd_malloc(300000), *large = wd_malloc(20 * MiB);
    CHECK(medium != NULL && large != NULL);
    memset(large, 3, 20 * MiB);
    capture(NULL, wd_stats_json);
    size_t used = json_number("bytes_in_use");
    CHECK(used >= 30 * MiB + 300000 && used <= 34 * MiB);
    CHECK(json_number("peak_bytes_in_use") >= used);
    CHECK(json_number("resident_bytes") >= 30 * MiB);
    CHECK(strstr(text, "\"block_size\":4096") != NULL);
    capture(wd_map_svg, NULL);
    CHECK(strstr(text, "large block, 20971520 bytes usable") != NULL);
    for (int i = 0; i < N; i++)
        wd_free(small[i]);
    wd_free(medium);
    wd_free(large);
    printf("ok: wd_stats_json's figures for 30 MiB held\n");
}

/* --- classic heaps ------------------------------------------------------------------ */

static int count(const char *needle) {
    int n = 0;
    for (const char *at = text; (at = strstr(at, needle)) != NULL; at++)
        n++;
    return n;
}

static wd_heap_t *heap;
static int heap_map(FILE *out) { return wd_heap_map_svg(heap, out); }

static void classic(void) {
    static unsigned char mem[65536] __attribute__((aligned(16)));
    heap = wd_heap_init(mem, sizeof mem);
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = wd_heap_malloc(heap, (size_t)(i * 37 % 700 + 1));
    for (int i = 0; i < 40; i += 3)
        wd_heap_free(heap, p[i]);
    wd_heap_stats_t st;
    wd_heap_stats(heap, &st);
    capture(heap_map, NULL);
    /* Rows are 1024 bytes here: a range crossing a row boundary has two
     * shapes with one tooltip each, so count the tooltips' distinct starts
     * through the headers, which are 16 bytes and never cross. */
    CHECK_EQ(count(": header of the range at"), st.allocated_blocks + st.free_blocks);
    CHECK(count(": allocated,") >= (int)st.allocated_blocks);
    CHECK(strstr(text, "control block") != NULL && strstr(text, "end marker") != NULL);

    size_t big_size = 64 * MiB;
    void *big = wd_malloc(big_size);
    CHECK(big != NULL);
    heap = wd_heap_init(big, big_size);
    for (int i = 0; i < 100000; i++)
        CHECK(wd_heap_malloc(heap, (size_t)(i % 200 + 1)) != NULL);
    size_t n = capture(heap_map, NULL);
    CHECK(n < 4 * MiB); /* tiny ranges are merged, not drawn one by one */
    CHECK(strstr(text, "ranges too narrow to draw one by one") != NULL);
    wd_free(big);
    printf("ok: wd_heap_map_svg: a tooltip per range; 100,000 ranges in %zu bytes of SVG\n", n);
}

/* --- the statistics thread ---------------------------------------------------------- */

static void interval(const char *self) {
    char path[] = "/tmp/wd-test-interval-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char opts[256];
        snprintf(opts, sizeof opts, "stats_interval_ms=20:stats_file=%s", path);
        setenv("WARDEN_OPTIONS", opts, 1);
        execl(self, self, "--interval-child", (char *)NULL);
        _exit(127);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int lines = 0;
    static char line[1 << 16];
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        CHECK(n > 2 && line[0] == '{' && strcmp(line + n - 2, "}\n") == 0);
        CHECK(strstr(line, "\"bytes_in_use\":") != NULL);
        lines++;
    }
    fclose(f);
    unlink(path);
    CHECK(lines >= 3);
    printf("ok: stats_interval_ms=20: %d lines while 4 threads allocated\n", lines);
}

/* Lines in the file so far. */
static int lines_in(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (f == NULL)
        return 0;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* The child: four threads allocate until warden's thread has written
 * three lines (at most 20 s: a loaded machine, a sanitizer build). */
static int interval_child(void) {
    wd_free(wd_malloc(1)); /* the process starts: options, statistics thread */
    const char *path = strstr(getenv("WARDEN_OPTIONS"), "stats_file=") + strlen("stats_file=");
    atomic_store(&stop, 0);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int waited = 0; waited < 2000 && lines_in(path) < 3; waited++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--interval-child") == 0)
        return interval_child();
    figures();
    reports_under_load(12);
    classic();
    interval(argv[0]);
    return test_failures; /* every check exits at once; test.h's counter stays 0 */
}
