/* report_prog.c -- a program for the report tests (tests/api/reports/
 * reports.py): it holds a known amount of memory, then lets warden report
 * on it.  Linked with nothing of warden's: run under LD_PRELOAD, it finds
 * the wd_ functions with dlsym.
 *
 *   report_prog hold MIB [MS]        allocates MIB MiB (40 % in 4 KiB blocks,
 *                                    30 % in 200 KiB blocks, 30 % in 2 MiB
 *                                    blocks), writes every byte, sleeps MS ms
 *                                    and exits without freeing
 *   report_prog json MIB FILE        the same, then wd_stats_json into FILE
 *   report_prog map MIB FILE         the same, then wd_map_svg into FILE
 *   report_prog malloc-info FILE     a mix of blocks, some freed; malloc_info
 *                                    into FILE, then mallinfo2's fields on
 *                                    stdout as name=value lines (no
 *                                    allocation between the two)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MiB ((size_t)1 << 20)

static void die(const char *what) {
    fprintf(stderr, "report_prog: %s\n", what);
    exit(2);
}

static void *must(void *p) {
    if (p == NULL)
        die("out of memory");
    return p;
}

/* Blocks of size bytes, and one of what is left, until total is reached;
 * every byte written. */
static void hold(size_t total, size_t size) {
    for (size_t got = 0; got < total; got += size) {
        if (size > total - got)
            size = total - got;
        memset(must(malloc(size)), 0x5a, size);
    }
}

static void hold_mib(size_t mib) {
    size_t total = mib * MiB;
    hold(total * 4 / 10, 4096);
    hold(total * 3 / 10, 200 << 10);
    hold(total - total * 4 / 10 - total * 3 / 10, 2 * MiB);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *wd(const char *name) {
    void *fn = dlsym(RTLD_DEFAULT, name);
    if (fn == NULL)
        die("not running on warden (no wd_ functions): LD_PRELOAD?");
    return fn;
}

static void call_report(const char *fn_name, const char *path) {
    FILE *out = fopen(path, "w");
    if (out == NULL)
        die("cannot write the report's file");
    void (*json)(FILE *) = NULL;
    int (*map)(FILE *) = NULL;
    if (strcmp(fn_name, "wd_stats_json") == 0) {
        *(void **)&json = wd(fn_name);
        json(out);
    } else {
        *(void **)&map = wd(fn_name);
        if (map(out) != 0)
            die("wd_map_svg failed");
    }
    if (fclose(out) != 0)
        die("cannot write the report's file");
}

static void malloc_info_mode(const char *path) {
    static char buf[1 << 20]; /* the stream's buffer: malloc_info allocates nothing through it */
    void *keep[600];
    for (int i = 0; i < 600; i++)
        keep[i] = must(malloc((size_t)(i % 50) * 97 + 1 + (i % 7 == 0 ? 300000 : 0)));
    void *big = must(malloc(6 * MiB));
    for (int i = 0; i < 600; i += 3)
        free(keep[i]);
    FILE *out = fopen(path, "w");
    if (out == NULL || setvbuf(out, buf, _IOFBF, sizeof buf) != 0)
        die("cannot write the XML's file");
    if (malloc_info(0, out) != 0)
        die("malloc_info failed");
    struct mallinfo2 mi = mallinfo2();
    if (fclose(out) != 0)
        die("cannot write the XML's file");
    printf("arena=%zu\nordblks=%zu\nsmblks=%zu\nhblks=%zu\nhblkhd=%zu\nusmblks=%zu\n"
           "fsmblks=%zu\nuordblks=%zu\nfordblks=%zu\nkeepcost=%zu\n",
           mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd, mi.usmblks, mi.fsmblks,
           mi.uordblks, mi.fordblks, mi.keepcost);
    free(big);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "hold") == 0) {
        hold_mib(strtoul(argv[2], NULL, 10));
        if (argc >= 4)
            sleep_ms(strtol(argv[3], NULL, 10));
    } else if (argc == 4 && (strcmp(argv[1], "json") == 0 || strcmp(argv[1], "map") == 0)) {
        hold_mib(strtoul(argv[2], NULL, 10));
        call_report(argv[1][0] == 'j' ? "wd_stats_json" : "wd_map_svg", argv[3]);
    } else if (argc == 3 && strcmp(argv[1], "malloc-info") == 0) {
        malloc_info_mode(argv[2]);
    } else {
        die("usage: report_prog hold MIB [MS] | json MIB FILE | map MIB FILE | malloc-info FILE");
    }
    return 0;
}
