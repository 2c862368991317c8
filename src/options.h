/* options.h -- the fatal report and the message formatter.
 * Both work without allocating and without stdio, so they may run anywhere:
 * before main, inside a fork handler, with the heap corrupted. */
#ifndef WARDEN_OPTIONS_H
#define WARDEN_OPTIONS_H

#include <stdarg.h>
#include <stddef.h>

#include "internal.h"

/* Formats into buf (always NUL-terminated, truncated to size) and returns the
 * length written.  Understands %s, %zu, %zx, %p, %d and %%; nothing else. */
size_t wdi_fmt(char *buf, size_t size, const char *fmt, ...);
size_t wdi_vfmt(char *buf, size_t size, const char *fmt, va_list ap);

/* Writes one line `warden: <what> at <addr> in <func>` to stderr with
 * write(2), then aborts.  The program misused memory; nothing is trusted. */
WD_NORETURN WD_COLD void wdi_fatal(const char *what, const void *addr, const char *func);

#endif /* WARDEN_OPTIONS_H */
