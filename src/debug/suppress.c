/* suppress.c -- owns the leak suppressions: the file's patterns and
 * whether the program is the system's (suppress.h).  Calls: symbol.h (the
 * frame's names), options.h, lock.h, open/read/close, readlink. */
#include "debug/suppress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/options.h"
#include "debug/symbol.h"

/* Where the system's own programs lie (Debian's packages: /usr/local is
 * the machine owner's, and not here).  Check mode reaches every process
 * that a build or a test script starts under the same WARDEN_OPTIONS:
 * the shell, make, the compiler's five programs, perl, sort.  Many of
 * them free nothing they will need until they end and drop their last
 * pointers before exit (valgrind finds the same blocks lost): bash loses
 * 3 KiB in a script of pyenv's, gcc hello.c 64 records over ld, as and
 * collect2, perl 45 blocks of its interpreter.  Those leaks are not the
 * new user's to fix, and their records would bury the ones of the
 * program under test.  Their errors (overflows, frees) are still
 * reported; default_suppressions=0 lists their leaks too. */
static const char *const system_dirs[] = {
    "/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/libexec/", "/usr/games/",
    "/bin/",     "/sbin/",     "/lib/",     "/lib64/",       "/usr/lib64/",
};

#define MAX_PATTERNS 256
#define FILE_BYTES 16384

typedef struct {
    const char *at;
    unsigned len;
} pattern_t;

static wd_lock_t load_lock = WD_LOCK_INIT;
static _Atomic int loaded;
static int system_program; /* the program lies in system_dirs */
static pattern_t patterns[MAX_PATTERNS];
static int npatterns;
static char file_text[FILE_BYTES];

static void add(const char *at, unsigned len) {
    if (npatterns < MAX_PATTERNS)
        patterns[npatterns++] = (pattern_t){at, len};
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The `leak:` lines of text[0 .. len): their patterns, trimmed. */
static void parse(char *text, size_t len, const char *path) {
    size_t line_no = 0;
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && text[end] != '\n')
            end++;
        line_no++;
        size_t a = at, b = end;
        at = end + 1;
        while (a < b && blank(text[a]))
            a++;
        while (b > a && blank(text[b - 1]))
            b--;
        if (a == b || text[a] == '#')
            continue;
        if (b - a > 5 && memcmp(text + a, "leak:", 5) == 0) {
            a += 5;
            while (a < b && blank(text[a]))
                a++;
            if (a < b) {
                add(text + a, (unsigned)(b - a));
                continue;
            }
        }
        wdi_print_line(wdi_stderr_fd(),
                       "warden: suppressions=%s: line %zu is no `leak:PATTERN` line: ignored", path,
                       line_no);
    }
}

/* The file of suppressions=, read whole (what passes FILE_BYTES is left
 * out, with a warning). */
static void load_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        wdi_print_line(wdi_stderr_fd(), "warden: suppressions=%s: cannot open it (errno %d)",
                       path, errno);
        return;
    }
    size_t len = 0;
    ssize_t got;
    while (len < sizeof file_text &&
           (got = read(fd, file_text + len, sizeof file_text - len)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        len += (size_t)got;
    }
    char more;
    if (len == sizeof file_text && read(fd, &more, 1) == 1) {
        wdi_print_line(wdi_stderr_fd(),
                       "warden: suppressions=%s: only its first %d bytes are read", path,
                       FILE_BYTES);
        while (len > 0 && file_text[len - 1] != '\n') /* no half line */
            len--;
    }
    close(fd);
    parse(file_text, len, path);
}

/* 1 when the program's file lies in one of system_dirs. */
static int in_system_dir(void) {
    static char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    if (len <= 0)
        return 0;
    path[len] = '\0';
    for (size_t i = 0; i < sizeof system_dirs / sizeof system_dirs[0]; i++)
        if (strncmp(path, system_dirs[i], strlen(system_dirs[i])) == 0)
            return 1;
    return 0;
}

int wdi_suppress_load(void) {
    if (atomic_load_explicit(&loaded, memory_order_acquire))
        return npatterns;
    wdi_lock(&load_lock);
    if (!atomic_load_explicit(&loaded, memory_order_relaxed)) {
        if (wdi_options.default_suppressions)
            system_program = in_system_dir();
        if (wdi_options.suppressions[0] != '\0')
            load_file(wdi_options.suppressions);
        atomic_store_explicit(&loaded, 1, memory_order_release);
    }
    wdi_unlock(&load_lock);
    return npatterns;
}

int wdi_suppress_match(const char *p, unsigned len, const char *s) {
    if (s == NULL)
        return 0;
    int anchored_start = len > 0 && p[0] == '^';
    if (anchored_start) {
        p++;
        len--;
    }
    int anchored_end = len > 0 && p[len - 1] == '$';
    if (anchored_end)
        len--;
    /* Wildcard matching with one step back to the last `*`; a pattern
     * not anchored at the start has one before it, and one after it when
     * not anchored at the end. */
    size_t pi = 0, si = 0;
    size_t star = anchored_start ? SIZE_MAX : 0, star_s = 0;
    for (;;) {
        if (pi == len && !anchored_end)
            return 1;
        if (s[si] == '\0') {
            while (pi < len && p[pi] == '*')
                pi++;
            return pi == len;
        }
        if (pi < len && p[pi] == '*') {
            star = ++pi;
            star_s = si;
        } else if (pi < len && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star == SIZE_MAX) {
            return 0;
        } else {
            pi = star;
            si = ++star_s;
        }
    }
}

static int matches(const pattern_t *pat, const wdi_sym_t *s) {
    if (wdi_suppress_match(pat->at, pat->len, s->module) ||
        wdi_suppress_match(pat->at, pat->len, s->symbol))
        return 1;
    for (int k = 0; k < s->levels; k++)
        if (wdi_suppress_match(pat->at, pat->len, s->at[k].func) ||
            wdi_suppress_match(pat->at, pat->len, s->at[k].file))
            return 1;
    return 0;
}

int wdi_suppress_all(void) {
    wdi_suppress_load();
    return system_program;
}

int wdi_suppress_frame(const wdi_sym_t *s) {
    for (int i = 0; i < npatterns; i++)
        if (matches(&patterns[i], s))
            return 1;
    return 0;
}
