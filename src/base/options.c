/* options.c -- owns the fatal report (the only write(2) of the library) and
 * the small formatter messages use.  Calls nothing but write and abort: this
 * code runs when the heap may be corrupted, so it must not allocate. */
#include "base/options.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static size_t put_str(char *buf, size_t size, size_t at, const char *s) {
    while (*s && at + 1 < size)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t size, size_t at, uintmax_t v, unsigned base,
                      const char *prefix) {
    char digits[32];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    at = put_str(buf, size, at, prefix);
    while (n > 0 && at + 1 < size)
        buf[at++] = digits[--n];
    return at;
}

size_t wdi_vfmt(char *buf, size_t size, const char *fmt, va_list ap) {
    size_t at = 0;
    if (size == 0)
        return 0;
    for (; *fmt && at + 1 < size; fmt++) {
        if (*fmt != '%') {
            buf[at++] = *fmt;
            continue;
        }
        fmt++;
        if (*fmt == 's') {
            const char *s = va_arg(ap, const char *);
            at = put_str(buf, size, at, s ? s : "(null)");
        } else if (*fmt == 'p') {
            at = put_num(buf, size, at, (uintptr_t)va_arg(ap, void *), 16, "0x");
        } else if (*fmt == 'd') {
            int d = va_arg(ap, int);
            uintmax_t mag = d < 0 ? (uintmax_t)(-(intmax_t)d) : (uintmax_t)d;
            at = put_num(buf, size, at, mag, 10, d < 0 ? "-" : "");
        } else if (fmt[0] == 'z' && (fmt[1] == 'u' || fmt[1] == 'x')) {
            at = put_num(buf, size, at, va_arg(ap, size_t), fmt[1] == 'u' ? 10 : 16, "");
            fmt++;
        } else if (*fmt == '%') {
            buf[at++] = '%';
        } else {
            break; /* unknown conversion: stop rather than misread the va_list */
        }
    }
    buf[at] = '\0';
    return at;
}

size_t wdi_fmt(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = wdi_vfmt(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int wdi_write_all(int fd, const char *buf, size_t n) {
    int saved = errno;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            errno = saved;
            return -1;
        }
        off += (size_t)w;
    }
    errno = saved;
    return 0;
}

static void vprint_line(int fd, const char *fmt, va_list ap) {
    char line[512];
    size_t n = wdi_vfmt(line, sizeof line - 1, fmt, ap);
    line[n++] = '\n';
    wdi_write_all(fd, line, n);
}

void wdi_print_line(int fd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_line(fd, fmt, ap);
    va_end(ap);
}

const char *wdi_freed_what(const char *fn) {
    return strstr(fn, "free") != NULL || strstr(fn, "delete") != NULL ? "double free"
                                                                      : "use after free";
}

__thread size_t wdi_fatal_offset __attribute__((tls_model("initial-exec")));

void wdi_fatal(const char *what, const void *addr, const char *func) {
    addr = (const uint8_t *)addr + wdi_fatal_offset;
    wdi_print_line(2, "warden: %s at %p in %s", what, addr, func);
    abort();
}

/* --- WARDEN_OPTIONS -------------------------------------------------------- */

extern char **environ;

int wdi_stats_fd = 2;

int wdi_stderr_fd(void) {
    int saved = errno; /* EBADF when it is closed: not the program's business */
    int open = fcntl(2, F_GETFD) != -1;
    errno = saved;
    return open ? 2 : wdi_stats_fd;
}

wd_options_t wdi_options = {
#define WD_OPTION_DEFAULT(name, def, doc) .name = def,
    WD_OPTIONS(WD_OPTION_DEFAULT)
#undef WD_OPTION_DEFAULT
};

int wdi_harden2;
int wdi_checking;

/* Decimal digits only; -1 for anything else (no strtol: it may consult the
 * locale this early). */
static long parse_number(const char *s, size_t len) {
    long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A string option: copied as it is, or refused when it does not fit. */
static void option_set_string(char *to, const char *name, const char *val, size_t vlen) {
    if (vlen >= WD_OPTION_STR_MAX) {
        wdi_print_line(2, "warden: bad value for option '%s' in WARDEN_OPTIONS", name);
        return;
    }
    memcpy(to, val, vlen);
    to[vlen] = '\0';
}

/* The edit distance of a[0 .. la) and b[0 .. lb) (insertions, deletions,
 * changes), for the suggestion of an unknown option; SIZE_MAX for names
 * of 64 bytes or more. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
    size_t row[64];
    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Whether every word of key[0 .. klen) (split at '_') is in name. */
static int words_in(const char *key, size_t klen, const char *name) {
    char word[64];
    for (size_t at = 0; at < klen;) {
        size_t n = 0;
        while (at < klen && key[at] != '_' && n < sizeof word - 1)
            word[n++] = key[at++];
        word[n] = '\0';
        if (n != 0 && strstr(name, word) == NULL)
            return 0;
        while (at < klen && key[at] == '_')
            at++;
    }
    return 1;
}

/* The option a mistyped key most likely meant: of those with every word
 * of it (exit_code: error_exitcode) or within a third of its length in
 * edits (leak: leaks), the nearest; NULL when none is. */
static const char *option_like(const char *key, size_t klen) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
#define WD_OPTION_LIKE(opt)                                                        \
    {                                                                              \
        size_t d = edit_distance(key, klen, #opt, strlen(#opt));                   \
        if ((d <= klen / 3 + 1 || words_in(key, klen, #opt)) && d < best_d) {      \
            best = #opt;                                                           \
            best_d = d;                                                            \
        }                                                                          \
    }
#define WD_OPTION_LIKE_NUM(opt, def, doc) WD_OPTION_LIKE(opt)
#define WD_OPTION_LIKE_STR(opt, doc) WD_OPTION_LIKE(opt)
    WD_OPTIONS(WD_OPTION_LIKE_NUM)
    WD_STRING_OPTIONS(WD_OPTION_LIKE_STR)
#undef WD_OPTION_LIKE_STR
#undef WD_OPTION_LIKE_NUM
#undef WD_OPTION_LIKE
    return best;
}

/* help=1: every option, its default and what it does, a line each. */
static void options_help(void) {
    wdi_print_line(2, "warden: options, WARDEN_OPTIONS=name=value:name=value (docs/options.md):");
#define WD_OPTION_HELP(opt, def, doc) wdi_print_line(2, "warden:   %s=%zu  %s", #opt, (size_t)(def), doc);
    WD_OPTIONS(WD_OPTION_HELP)
#undef WD_OPTION_HELP
#define WD_OPTION_STR_HELP(opt, doc) wdi_print_line(2, "warden:   %s=  %s", #opt, doc);
    WD_STRING_OPTIONS(WD_OPTION_STR_HELP)
#undef WD_OPTION_STR_HELP
}

static void option_set(const char *key, size_t klen, const char *val, size_t vlen) {
    char name[64];
    size_t n = klen < sizeof name - 1 ? klen : sizeof name - 1;
    memcpy(name, key, n);
    name[n] = '\0';
#define WD_OPTION_STR_MATCH(opt, doc)                                              \
    if (strlen(#opt) == klen && memcmp(#opt, key, klen) == 0) {                    \
        option_set_string(wdi_options.opt, name, val, vlen);                       \
        return;                                                                    \
    }
    WD_STRING_OPTIONS(WD_OPTION_STR_MATCH)
#undef WD_OPTION_STR_MATCH
    long v = parse_number(val, vlen);
    if (vlen == 3 && memcmp(val, "all", 3) == 0) /* leaks=all */
        v = 2;
    if (vlen == 4 && memcmp(val, "json", 4) == 0) /* stats=json */
        v = 2;
    /* check_align=end, start or both */
    if (vlen == 3 && memcmp(val, "end", 3) == 0)
        v = 0;
    if (vlen == 5 && memcmp(val, "start", 5) == 0)
        v = 1;
    if (vlen == 4 && memcmp(val, "both", 4) == 0)
        v = 2;
#define WD_OPTION_MATCH(opt, def, doc)                                             \
    if (strlen(#opt) == klen && memcmp(#opt, key, klen) == 0) {                    \
        if (v < 0)                                                                 \
            wdi_print_line(2, "warden: bad value for option '%s' in WARDEN_OPTIONS", name); \
        else                                                                       \
            wdi_options.opt = (uint32_t)v;                                         \
        return;                                                                    \
    }
    WD_OPTIONS(WD_OPTION_MATCH)
#undef WD_OPTION_MATCH
    const char *like = option_like(key, klen);
    if (like != NULL)
        wdi_print_line(2, "warden: unknown option '%s' in WARDEN_OPTIONS (%s? help=1 lists them all)",
                       name, like);
    else
        wdi_print_line(2, "warden: unknown option '%s' in WARDEN_OPTIONS (help=1 lists them all)",
                       name);
}

int wdi_options_given(void) {
    const char *s = environ != NULL ? getenv("WARDEN_OPTIONS") : NULL;
    return s != NULL && *s != '\0';
}

int wdi_env_flag(const char *name, int dflt) {
    if (environ == NULL) /* too early in the process to read it */
        return dflt;
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    return strcmp(v, "0") != 0;
}

int wdi_options_init(void) {
    if (environ == NULL)
        return 0;
    const char *s = getenv("WARDEN_OPTIONS");
    while (s != NULL && *s != '\0') {
        /* ':' or ',' between options, as sanitizers take them: with
         * only ':', check=1,leaks=0 read as a bad value for check and
         * left checking off. */
        size_t len = strcspn(s, ":,");
        const char *end = s[len] != '\0' ? s + len : NULL;
        const char *eq = memchr(s, '=', len);
        if (len != 0) {
            if (eq != NULL)
                option_set(s, (size_t)(eq - s), eq + 1, len - (size_t)(eq - s) - 1);
            else
                option_set(s, len, "1", 1); /* a bare key means key=1 */
        }
        s = end ? end + 1 : NULL;
    }
    if (wdi_options.help)
        options_help();
    if (wdi_options.stats || wdi_options.stats_interval_ms || wdi_options.check) {
        /* Programs may close stderr in their own exit handlers (coreutils
         * does), which run before warden's: keep a private copy. */
        int fd = fcntl(2, F_DUPFD_CLOEXEC, 64);
        if (fd >= 0)
            wdi_stats_fd = fd;
    }
    if (wdi_options.verbose) {
        char line[512 + 3 * WD_OPTION_STR_MAX];
        size_t n = wdi_fmt(line, sizeof line, "warden: options");
#define WD_OPTION_SHOW(opt, def, doc)                                              \
        n += wdi_fmt(line + n, sizeof line - n, " %s=%zu", #opt, (size_t)wdi_options.opt);
        WD_OPTIONS(WD_OPTION_SHOW)
#undef WD_OPTION_SHOW
#define WD_OPTION_STR_SHOW(opt, doc)                                               \
        if (wdi_options.opt[0] != '\0')                                            \
            n += wdi_fmt(line + n, sizeof line - n, " %s=%s", #opt, wdi_options.opt);
        WD_STRING_OPTIONS(WD_OPTION_STR_SHOW)
#undef WD_OPTION_STR_SHOW
        line[n++] = '\n'; /* wdi_fmt left room for it: one byte of the size for the NUL */
        wdi_write_all(2, line, n);
    }
    return 1;
}

void wdi_os_failed(const char *what, size_t size, int err) {
    if (wdi_options.verbose)
        wdi_print_line(2, "warden: the OS refused to %s %zu bytes (errno %d)", what, size, err);
}
