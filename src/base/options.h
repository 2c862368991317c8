/* options.h -- the fatal report and the message formatter.
 * Both work without allocating and without stdio, so they may run anywhere:
 * before main, inside a fork handler, with the heap corrupted. */
#ifndef WARDEN_OPTIONS_H
#define WARDEN_OPTIONS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "base/internal.h"

/* Formats into buf (always NUL-terminated, truncated to size) and returns the
 * length written.  Understands %s, %zu, %zx, %p, %d and %%; nothing else. */
size_t wdi_fmt(char *buf, size_t size, const char *fmt, ...);
size_t wdi_vfmt(char *buf, size_t size, const char *fmt, va_list ap);

/* Writes all n bytes at buf to fd with write(2) (again after a short
 * write or EINTR); 0, or -1 when the descriptor refuses them. */
int wdi_write_all(int fd, const char *buf, size_t n);

/* Formats one line (wdi_fmt's conversions), adds a newline and writes it
 * to fd with write(2). */
void wdi_print_line(int fd, const char *fmt, ...);

/* Writes one line `warden: <what> at <addr> in <func>` to stderr with
 * write(2), then aborts.  The program misused memory; nothing is trusted. */
WD_NORETURN WD_COLD void wdi_fatal(const char *what, const void *addr, const char *func);

/* What to call a call on a block that is already free: "double free" when
 * fn frees (free, free_sized, wd_heap_free, delete ...), "use after free" when it
 * reads or resizes (realloc, malloc_usable_size ...). */
const char *wdi_freed_what(const char *fn);

/* A switch of its own in the environment (WARDEN_VALGRIND=0): 0 when NAME
 * is "0", 1 when it is anything else, dflt when it is unset or empty. */
int wdi_env_flag(const char *name, int dflt);

/* Added to the address of every report; 0 except while harden=2 asks a tier
 * about the raw block under a program's pointer (harden.c), so the report
 * names the pointer the program passed. */
extern __thread size_t wdi_fatal_offset __attribute__((tls_model("initial-exec")));

/* The options, from WARDEN_OPTIONS=key=value:key=value (sanitizer style).
 * One table (WD_OPTIONS below) gives the struct, the parser and the docs. */
#define WD_OPTIONS(X)                                                              \
    X(stats, 0, "statistics at exit: 1 text lines, 2 (or json) one JSON object (docs/stats.md)") \
    X(stats_interval_ms, 0, "append one JSON line of statistics every N ms (0: never)") \
    X(verbose, 0, "report option parsing and OS failures on stderr")              \
    X(help, 0, "1: print every option, its default and what it does, at start")   \
    X(decommit_ms, 750, "return memory freed this many ms ago to the OS (0: at once)") \
    X(harden, 1, "1: checks that cost almost nothing; 2: also canaries, quarantine, guard pages") \
    X(quarantine_kb, 1024, "with harden=2: KiB of freed blocks each thread holds back (0: none)") \
    X(check, 0, "1: the memory checker (redzones, quarantine, stacks, leaks; docs/check.md)") \
    X(leaks, 1, "with check=1: 0 no leak report, 1 lost blocks, 2 (or all) also reachable ones") \
    X(default_suppressions, 1, "with check=1: the leaks of the system's programs (in /usr/bin, /usr/lib, ...) are counted, not listed (0: listed too; docs/check.md)") \
    X(abort_on_error, 0, "with check=1: abort at the first error instead of going on") \
    X(error_exitcode, 0, "with check=1: exit status when errors or leaks were reported (0: the program's)") \
    X(check_summary, 1, "with check=1: the summary line at exit always (1), or only when errors or leaks were reported (0: a clean run writes nothing to stderr)") \
    X(check_quarantine_mb, 20, "with check=1: MiB of freed blocks held back at most (and half the live bytes + 1 MiB); larger ones wait closed") \
    X(check_fill_kb, 16, "with check=1: blocks up to this many KiB get the patterns whole, larger ones their first and last half of it (0: all)") \
    X(symbolize, 1, "reports name file:line with addr2line or llvm-symbolizer (0: module+offset only)") \
    X(stack_depth, 16, "with check=1: frames kept of each allocation's and free's stack (at most 32)") \
    X(guard_sample, 50000, "one allocation in N on average goes to a guarded slot (0: none; docs/guard.md)") \
    X(guard_continue, 0, "1: the program goes on after a guarded slot's report (0: abort)") \
    X(check_align, 0, "with check=2: blocks end at the protected page (0, end), start after it (1, start) or alternate (2, both)") \
    X(check_exact, 1, "with check=2, blocks that end at the protected page: a malloc'd block aligned only as its size allows (8 to 16 bytes; 4 below 8 bytes), so that it ends exactly there, one from new only under 16 bytes (0: every block 16-byte aligned)") \
    X(check_guard_mb, 1024, "with check=2: MiB of address space of freed blocks kept inaccessible") \
    X(check_guard_live_mb, 4096, "with check=2: MiB of live blocks' pages placed against guard pages at most; the blocks beyond get check=1's redzones (0: no bound)") \
    X(guard_markers, 1, "with check=2 and harden=2's large blocks: 0 closes pages with mprotect even where the kernel has guard markers (as before Linux 6.13)") \
    X(profile_rate, 524288, "with profile=: mean bytes allocated between two samples (1: every allocation)") \
    X(profile_signal, 0, "with profile=: dump the profile when this signal comes (0: none)")

/* Options whose value is a string (at most WD_OPTION_STR_MAX - 1 bytes;
 * no ':' or ',', which separate the options): the same table's other half.  A
 * `%p` in the path of map or stats_file stands for the process id (a
 * program that starts others under the same options). */
#define WD_OPTION_STR_MAX 256
#define WD_STRING_OPTIONS(X)                                                       \
    X(profile, "heap profile: write PREFIX.prof, .folded and .svg at exit (docs/profiling.md)") \
    X(map, "at exit, write a picture of the heap (SVG) to this file (docs/map.md)") \
    X(stats_file, "where stats and stats_interval_ms write, appending (default: stderr)") \
    X(suppressions, "with check=1: a file of leak:PATTERN lines; leaks allocated under a matching frame are not printed (docs/check.md)")

typedef struct wd_options_s {
#define WD_OPTION_FIELD(name, def, doc) uint32_t name;
    WD_OPTIONS(WD_OPTION_FIELD)
#undef WD_OPTION_FIELD
#define WD_OPTION_STR_FIELD(name, doc) char name[WD_OPTION_STR_MAX];
    WD_STRING_OPTIONS(WD_OPTION_STR_FIELD)
#undef WD_OPTION_STR_FIELD
} wd_options_t;

extern wd_options_t wdi_options;

/* 1 when harden=2 is in force.  Fixed once, before the first block is
 * handed out (harden.c decides), and read by every layer that adds its
 * part of level 2: random order in pages, guards in segments and around
 * large blocks. */
extern int wdi_harden2;

/* 1 when check mode is in force (check.h): fixed, like wdi_harden2, before
 * the first block is handed out; harden=2 is then off. */
extern int wdi_checking;

/* Either of the two: every block is wrapped, so the thread heaps are
 * hidden from the fast paths and every call reaches the wrappers. */
static inline int wdi_wrapped(void) { return wdi_harden2 | wdi_checking; }

/* A copy of stderr made when stats, stats_interval_ms or check=1 was read
 * (else stderr itself), for when the program has closed stderr. */
extern int wdi_stats_fd;

/* Where the statistics at exit and the reports go: stderr as the process
 * has it now (a child whose stderr a test harness redirected reports
 * there), or wdi_stats_fd once the program closed it (programs close
 * stderr in their own exit handlers: coreutils does).  stats_file=PATH
 * sends the statistics elsewhere (debug/json.c). */
int wdi_stderr_fd(void);

/* 1 when WARDEN_OPTIONS is set and not empty (the environment is read
 * with getenv: only once the C library has set it up). */
int wdi_options_given(void);

/* Reads WARDEN_OPTIONS once, without allocating; warns (one line each) about
 * unknown keys and bad values.  Returns 0 when the environment was not set up
 * yet (very early calls), so the caller can try again later. */
int wdi_options_init(void);

/* With verbose=1, reports that the OS refused `what` of `size` bytes
 * (os.c itself never prints; its callers report through this). */
void wdi_os_failed(const char *what, size_t size, int err);

#endif /* WARDEN_OPTIONS_H */
