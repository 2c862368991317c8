/* sink.h -- where the machine-readable reports (the JSON statistics, the
 * SVG maps, malloc_info's XML) are written: a buffer in the caller's frame,
 * emptied with write(2) into a descriptor or with fwrite into a stream.
 *
 * Formatting never allocates (wdi_fmt's conversions).  A descriptor sink
 * is safe anywhere (at exit, in the statistics thread); a stream sink calls
 * stdio, which may allocate, so it is used only where no lock of warden's
 * is held: the reports collect their figures first, then write. */
#ifndef WARDEN_SINK_H
#define WARDEN_SINK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define WD_SINK_BUFFER 32768 /* a JSON line fits: one write(2), not torn by another's */

typedef struct wd_sink_s {
    int fd;       /* >= 0: write(2) here */
    FILE *file;   /* else fwrite here */
    size_t len;
    int failed;   /* a write was refused: the rest is dropped */
    char buf[WD_SINK_BUFFER];
} wd_sink_t;

void wdi_sink_init_fd(wd_sink_t *s, int fd);
void wdi_sink_init_file(wd_sink_t *s, FILE *file);

void wdi_sink_write(wd_sink_t *s, const char *p, size_t n);
void wdi_sink_put(wd_sink_t *s, const char *text);
/* wdi_fmt's conversions (%s %zu %zx %p %d), up to 1 KiB a call. */
void wdi_sink_fmt(wd_sink_t *s, const char *fmt, ...);
/* text with XML's five special characters escaped. */
void wdi_sink_xml(wd_sink_t *s, const char *text);
/* bytes as a short human figure: "512 B", "3.5 KiB", "12.0 MiB", "1.2 GiB". */
void wdi_sink_size(wd_sink_t *s, size_t bytes);

/* Writes what is buffered; 0, or -1 when any write failed. */
int wdi_sink_flush(wd_sink_t *s);

/* A human figure (as wdi_sink_size) into buf; returns buf. */
char *wdi_size_text(char *buf, size_t size, size_t bytes);

#endif /* WARDEN_SINK_H */
