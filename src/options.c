/* options.c -- owns the fatal report (the only write(2) of the library) and
 * the small formatter messages use.  Calls nothing but write and abort: this
 * code runs when the heap may be corrupted, so it must not allocate. */
#include "options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

void wdi_fatal(const char *what, const void *addr, const char *func) {
    char line[256];
    size_t n = wdi_fmt(line, sizeof line - 1, "warden: %s at %p in %s", what, addr, func);
    line[n++] = '\n';
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(2, line + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    abort();
}
