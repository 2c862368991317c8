/* sink.c -- owns the output buffer of the machine-readable reports
 * (sink.h).  Calls: options.h (the formatter, write(2)) and the caller's
 * stdio stream, only for a stream sink. */
#include "debug/sink.h"

#include <string.h>

#include "base/options.h"

void wdi_sink_init_fd(wd_sink_t *s, int fd) {
    s->fd = fd;
    s->file = NULL;
    s->len = 0;
    s->failed = 0;
}

void wdi_sink_init_file(wd_sink_t *s, FILE *file) {
    wdi_sink_init_fd(s, -1);
    s->file = file;
}

int wdi_sink_flush(wd_sink_t *s) {
    if (s->len != 0 && !s->failed) {
        if (s->file != NULL)
            s->failed = fwrite(s->buf, 1, s->len, s->file) != s->len;
        else
            s->failed = wdi_write_all(s->fd, s->buf, s->len) != 0;
    }
    s->len = 0;
    if (s->file != NULL && !s->failed)
        s->failed = fflush(s->file) != 0;
    return s->failed ? -1 : 0;
}

/* Empties the buffer without flushing a stream (fflush once, at the end). */
static void sink_drain(wd_sink_t *s) {
    FILE *file = s->file;
    s->file = NULL;
    if (file != NULL && s->len != 0 && !s->failed)
        s->failed = fwrite(s->buf, 1, s->len, file) != s->len;
    else if (file == NULL && s->len != 0 && !s->failed)
        s->failed = wdi_write_all(s->fd, s->buf, s->len) != 0;
    s->len = 0;
    s->file = file;
}

void wdi_sink_write(wd_sink_t *s, const char *p, size_t n) {
    while (n > 0) {
        if (s->len == sizeof s->buf)
            sink_drain(s);
        size_t room = sizeof s->buf - s->len;
        size_t take = n < room ? n : room;
        memcpy(s->buf + s->len, p, take);
        s->len += take;
        p += take;
        n -= take;
    }
}

void wdi_sink_put(wd_sink_t *s, const char *text) { wdi_sink_write(s, text, strlen(text)); }

void wdi_sink_fmt(wd_sink_t *s, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t n = wdi_vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    wdi_sink_write(s, line, n);
}

void wdi_sink_xml(wd_sink_t *s, const char *text) {
    for (; *text; text++) {
        switch (*text) {
        case '&': wdi_sink_put(s, "&amp;"); break;
        case '<': wdi_sink_put(s, "&lt;"); break;
        case '>': wdi_sink_put(s, "&gt;"); break;
        case '"': wdi_sink_put(s, "&quot;"); break;
        case '\'': wdi_sink_put(s, "&apos;"); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            wdi_sink_write(s, (unsigned char)*text < 0x20 ? "?" : text, 1);
        }
    }
}

char *wdi_size_text(char *buf, size_t size, size_t bytes) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        wdi_fmt(buf, size, "%zu B", bytes);
        return buf;
    }
    unsigned u = 0;
    size_t scale = 1024;
    while (u + 1 < sizeof units / sizeof units[0] && bytes >= scale * 1024) {
        scale *= 1024;
        u++;
    }
    /* one decimal, rounded */
    size_t tenths = (bytes * 10 + scale / 2) / scale;
    wdi_fmt(buf, size, "%zu.%zu %s", tenths / 10, tenths % 10, units[u]);
    return buf;
}

void wdi_sink_size(wd_sink_t *s, size_t bytes) {
    char text[32];
    wdi_sink_put(s, wdi_size_text(text, sizeof text, bytes));
}
