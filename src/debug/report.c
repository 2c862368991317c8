/* report.c -- owns the report format, the report lock and the error count
 * (report.h).  Calls: symbol.h (names and lines, at the end of a report),
 * stack.h (stacks by id), lock.h, options.h (wdi_vfmt).  A report is kept
 * in static storage under the lock and written with write(2): no
 * allocation, so it may be printed from inside the allocator. */
#include "debug/report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/options.h"
#include "debug/stack.h"
#include "debug/symbol.h"
#include "os/os.h"

/* stderr, or the copy made at start once the program closed it
 * (options.h). */
#define REPORT_FD wdi_stderr_fd()
#define REPORT_FRAMES (WDI_REPORT_STACKS * WD_STACK_MAX)

/* A report is a list of items, each a line of text or a stack. */
typedef struct item_s {
    int first; /* a line: offset in lines[]; a stack: index in pcs[] */
    int n;     /* a stack's frames; -1 for a line */
} item_t;

static wd_lock_t report_lock = WD_LOCK_INIT;
static _Atomic(size_t) report_errors;

/* The report being built: only the holder of report_lock touches it. */
static struct {
    item_t items[1 + WDI_REPORT_LINES + 2 * WDI_REPORT_STACKS];
    int nitems, nlines, nstacks, npcs;
    char lines[4096];
    size_t lines_used;
    void *pcs[REPORT_FRAMES];
    wdi_sym_t syms[REPORT_FRAMES];
    char names[32768]; /* the strings of syms */
    char out[4096];    /* what write(2) has not taken yet */
    size_t out_used;
} rep;

/* Frames named ahead for the reports to come (wdi_report_names_ahead):
 * sorted distinct addresses, then their names and the names' text; only
 * the holder of report_lock touches them. */
static struct {
    uintptr_t *pcs;
    wdi_sym_t *syms;
    size_t n;
    int missing;
    void *map[2];
    size_t bytes[2];
} ahead;

/* --- building --------------------------------------------------------------- */

static void add_line(const char *prefix, const char *fmt, va_list ap) {
    size_t room = sizeof rep.lines - rep.lines_used;
    int cap = (int)(sizeof rep.items / sizeof rep.items[0]);
    if (rep.nitems == cap || room < 64)
        return;
    char *at = rep.lines + rep.lines_used;
    size_t len = wdi_fmt(at, room, "%s", prefix);
    len += wdi_vfmt(at + len, room - len, fmt, ap);
    rep.items[rep.nitems++] = (item_t){(int)rep.lines_used, -1};
    rep.lines_used += len + 1;
}

static void add_text(const char *prefix, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add_line(prefix, fmt, ap);
    va_end(ap);
}

/* Takes the lock and starts the report's first line. */
static void report_start(const char *fmt, va_list ap) {
    wdi_lock(&report_lock);
    rep.nitems = rep.nlines = rep.nstacks = rep.npcs = 0;
    rep.lines_used = rep.out_used = 0;
    add_line("warden: ", fmt, ap);
}

void wdi_report_begin(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report_start(fmt, ap);
    va_end(ap);
    atomic_fetch_add_explicit(&report_errors, 1, memory_order_relaxed);
}

void wdi_report_redzone_begin(const wd_redzone_hit_t *hit, size_t size, uintptr_t p,
                              const char *fn) {
    const char *what = hit->after ? "overflow" : "underflow";
    const char *side = hit->after ? "past the end" : "before the start";
    const char *least = hit->open ? "at least " : "";
    if (hit->whole) /* a run from the block on: its length */
        wdi_report_begin("heap buffer %s: %s%zu bytes %s of a %zu-byte block at 0x%zx were "
                         "written (found in %s)",
                         what, least, hit->after ? hit->far + 1 : hit->far, side, size,
                         (size_t)p, fn);
    else if (hit->near == hit->far) /* one byte; open: the redzone's last, maybe more */
        wdi_report_begin("heap buffer %s: the byte %zu bytes %s of a %zu-byte block at 0x%zx "
                         "was written%s (found in %s)",
                         what, hit->near, side, size, (size_t)p,
                         hit->open ? ", and perhaps more beyond it" : "", fn);
    else
        wdi_report_begin("heap buffer %s: bytes from %zu to %s%zu bytes %s of a %zu-byte block "
                         "at 0x%zx were written (found in %s)",
                         what, hit->near, least, hit->far, side, size, (size_t)p, fn);
}

void wdi_report_begin_record(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report_start(fmt, ap);
    va_end(ap);
}

void wdi_report_line(const char *fmt, ...) {
    if (rep.nlines == WDI_REPORT_LINES)
        return;
    rep.nlines++;
    va_list ap;
    va_start(ap, fmt);
    add_line("  ", fmt, ap);
    va_end(ap);
}

void wdi_report_stack(const char *title, void *const *pcs, int n) {
    int cap = (int)(sizeof rep.items / sizeof rep.items[0]);
    if (rep.nstacks == WDI_REPORT_STACKS || rep.nitems + 2 > cap)
        return;
    rep.nstacks++;
    if (title != NULL)
        add_text("  ", "%s:", title);
    /* libwarden.so's own frames (the capture, the checker, the wrapper). */
    while (n > 0 && wdi_symbol_in_warden(pcs[0]))
        pcs++, n--;
    if (n > WD_STACK_MAX)
        n = WD_STACK_MAX;
    if (n < 0)
        n = 0;
    for (int i = 0; i < n; i++)
        rep.pcs[rep.npcs + i] = pcs[i];
    rep.items[rep.nitems++] = (item_t){rep.npcs, n};
    rep.npcs += n;
}

void wdi_report_stack_id(const char *title, uint32_t id) {
    void *pcs[WD_STACK_MAX];
    int n = wdi_stack_load(id, pcs, WD_STACK_MAX);
    if (n == 0 && title != NULL) {
        add_text("  ", "%s: (no stack kept)", title);
        return;
    }
    wdi_report_stack(title, pcs, n);
}

/* --- writing ---------------------------------------------------------------- */

static void out_flush(void) {
    for (size_t off = 0; off < rep.out_used;) {
        ssize_t w = write(REPORT_FD, rep.out + off, rep.out_used - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    rep.out_used = 0;
}

/* One line of output (cut at 1 KiB), written when the buffer is full and
 * at the end. */
static void emit(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = wdi_vfmt(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    line[len++] = '\n';
    if (rep.out_used + len > sizeof rep.out)
        out_flush();
    for (size_t i = 0; i < len; i++)
        rep.out[rep.out_used++] = line[i];
}

/* The lines of one frame: one per inlining level when the helper found
 * file:line, else one with what dladdr and the helper's name knew.
 * Returns the next frame number. */
static int emit_frame(int num, const void *pc, const wdi_sym_t *s) {
    if (s->levels > 0 && s->at[0].file != NULL) {
        for (int l = 0; l < s->levels; l++, num++) {
            const wdi_sym_level_t *lv = &s->at[l];
            const char *func = lv->func ? lv->func : "??";
            if (lv->file != NULL)
                emit("    #%d %p in %s %s:%d", num, pc, func, lv->file, lv->line);
            else
                emit("    #%d %p in %s (%s+0x%zx)", num, pc, func, s->module, (size_t)s->offset);
        }
        return num;
    }
    const char *func = s->levels > 0 ? s->at[0].func : NULL;
    if (s->module == NULL) /* no module holds it now: dlclose unmapped it, or it is no code */
        emit("    #%d %p (in no module loaded now)", num, pc);
    else if (func != NULL)
        emit("    #%d %p in %s (%s+0x%zx)", num, pc, func, s->module, (size_t)s->offset);
    else if (s->symbol != NULL)
        emit("    #%d %p in %s+0x%zx (%s+0x%zx)", num, pc, s->symbol, (size_t)s->symbol_off,
             s->module, (size_t)s->offset);
    else
        emit("    #%d %p (%s+0x%zx)", num, pc, s->module, (size_t)s->offset);
    return num + 1;
}

/* Whether a report of this process gave the hint already (with the
 * report's lock). */
static int hint_given;

/* Once a process, with the first report where no frame at all or no frame
 * of the program itself got a line: why, and what would help (the cause
 * is the same for every report after it: a stripped program's leak
 * records repeated it hundreds of times).  The system's libraries seldom
 * come with debug information, and the program's _start never does (crt1.o
 * has none): neither alone calls for the hint. */
static void emit_hint(int missing) {
    int lines = 0, program = 0, program_lines = 0;
    for (int i = 0; i < rep.npcs; i++) {
        const wdi_sym_t *s = &rep.syms[i];
        int has = s->levels > 0 && s->at[0].file != NULL;
        lines |= has;
        program |= s->in_program;
        program_lines |= s->in_program && has;
    }
    if (hint_given || rep.npcs == 0 || (missing & WDI_SYM_OFF) ||
        (lines && program_lines == program))
        return;
    hint_given = 1;
    if (missing & WDI_SYM_NO_HELPER)
        emit("warden: (no file:line: no addr2line on PATH; install binutils)");
    else
        emit("warden: (no file:line: build the program with -g)");
}

/* The report's frames from the names made ahead, when every one is there
 * (1; its WDI_SYM_* flags into *missing); 0 leaves them to the helper. */
static int names_from_ahead(int *missing) {
    if (ahead.n == 0)
        return 0;
    for (int i = 0; i < rep.npcs; i++) {
        uintptr_t pc = (uintptr_t)rep.pcs[i];
        size_t k = wdi_sym_find(ahead.pcs, ahead.n, pc);
        if (k == ahead.n || ahead.pcs[k] != pc)
            return 0;
        rep.syms[i] = ahead.syms[k];
    }
    *missing = ahead.missing;
    return 1;
}

void wdi_report_end(void) {
    int saved = errno;
    int missing = 0;
    if (!names_from_ahead(&missing))
        missing = wdi_symbolize(rep.pcs, rep.npcs, rep.syms, rep.names, sizeof rep.names);
    for (int i = 0; i < rep.nitems; i++) {
        const item_t *it = &rep.items[i];
        if (it->n < 0) {
            emit("%s", rep.lines + it->first);
            continue;
        }
        if (it->n == 0)
            emit("    (no frames)");
        for (int f = 0, num = 0; f < it->n; f++)
            num = emit_frame(num, rep.pcs[it->first + f], &rep.syms[it->first + f]);
    }
    emit_hint(missing);
    out_flush();
    errno = saved;
    wdi_unlock(&report_lock);
}

/* Bytes of names kept per address ahead (function, file, module). */
#define AHEAD_TEXT 256
/* Addresses one helper run is given (wdi_symbolize takes an int). */
#define AHEAD_CHUNK 4096

static void ahead_release(void) {
    for (int i = 0; i < 2; i++)
        if (ahead.map[i] != NULL)
            wdi_os_unmap(ahead.map[i], ahead.bytes[i]);
    memset(&ahead, 0, sizeof ahead);
}

/* Mapping i of ahead's: count * each bytes, zeroed, or NULL. */
static void *ahead_map(int i, size_t count, size_t each) {
    ahead.bytes[i] = wd_align_up(count * each + 1, wdi_os_page_size());
    if (wdi_os_reserve(ahead.bytes[i], &ahead.map[i]) != 0)
        ahead.map[i] = NULL;
    return ahead.map[i];
}

/* The distinct frames of the stacks ids[0 .. n), sorted, into ahead.pcs. */
static int ahead_frames(const uint32_t *ids, size_t n) {
    ahead.pcs = ahead_map(0, n * WD_STACK_MAX, sizeof(uintptr_t));
    if (ahead.pcs == NULL)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        void *pcs[WD_STACK_MAX];
        int k = wdi_stack_load(ids[i], pcs, WD_STACK_MAX);
        for (int f = 0; f < k; f++)
            ahead.pcs[count++] = (uintptr_t)pcs[f];
    }
    ahead.n = wdi_sym_sort_unique(ahead.pcs, count);
    return 0;
}

void wdi_report_names_ahead(const uint32_t *ids, size_t n) {
    int saved = errno;
    wdi_lock(&report_lock);
    ahead_release();
    if (n != 0 && ahead_frames(ids, n) == 0 && ahead.n != 0) {
        ahead.syms = ahead_map(1, ahead.n, sizeof(wdi_sym_t) + AHEAD_TEXT);
        if (ahead.syms == NULL) {
            ahead_release();
        } else {
            char *text = (char *)(ahead.syms + ahead.n);
            for (size_t at = 0; at < ahead.n; at += AHEAD_CHUNK) {
                int k = (int)(ahead.n - at < AHEAD_CHUNK ? ahead.n - at : AHEAD_CHUNK);
                ahead.missing |=
                    wdi_symbolize((void *const *)(ahead.pcs + at), k, ahead.syms + at,
                                  text + at * AHEAD_TEXT, (size_t)k * AHEAD_TEXT);
            }
        }
    }
    wdi_unlock(&report_lock);
    errno = saved;
}

void wdi_report_names_done(void) {
    wdi_lock(&report_lock);
    ahead_release();
    wdi_unlock(&report_lock);
}

int wdi_report_stack_any(uint32_t id, int quick, int (*fn)(const wdi_sym_t *)) {
    int saved = errno;
    wdi_lock(&report_lock);
    /* rep is free between reports: its frames and names serve. */
    rep.npcs = wdi_stack_load(id, rep.pcs, WD_STACK_MAX);
    int missing;
    if (quick)
        wdi_symbolize_quick(rep.pcs, rep.npcs, rep.syms, rep.names, sizeof rep.names);
    else if (!names_from_ahead(&missing))
        wdi_symbolize(rep.pcs, rep.npcs, rep.syms, rep.names, sizeof rep.names);
    int any = 0;
    for (int i = 0; i < rep.npcs && !any; i++)
        any = fn(&rep.syms[i]);
    rep.npcs = 0;
    wdi_unlock(&report_lock);
    errno = saved;
    return any;
}

int wdi_report_symbolize(void *const *pcs, int n, wdi_sym_t *out, char *text, size_t cap) {
    wdi_lock(&report_lock);
    int missing = wdi_symbolize(pcs, n, out, text, cap);
    wdi_unlock(&report_lock);
    return missing;
}

size_t wdi_report_errors(void) {
    return atomic_load_explicit(&report_errors, memory_order_relaxed);
}

void wdi_report_fork_child(void) {
    wdi_lock_reset(&report_lock);
}
