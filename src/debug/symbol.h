/* symbol.h -- what code addresses are, for a report being printed:
 * module and offset, function, file:line.
 *
 * Only when a report is printed, never when a stack is captured: a stack
 * is 32 addresses, its names are kilobytes and cost a process start.
 *
 * For each address, dladdr gives the module (the program or a shared
 * object), where it is loaded, and the function's name when the module
 * exports it (dladdr reads the dynamic symbol table and does not
 * allocate).  Function names of static functions and file:line come from
 * a helper process: llvm-symbolizer when it is on PATH (preferred:
 * symbol.c says why), one run for all the addresses of every module asked
 * for at once, or else `addr2line -C -f -i -a -e MODULE` (binutils), one
 * run per module.  The addresses go to the helper's standard input in a
 * file in memory (memfd), written before it starts.  It is started with
 * vfork and execve (the child only redirects its input and output and
 * executes, as posix_spawn does, which would allocate), found on PATH by
 * hand in a fixed buffer, read through a pipe a line at a time into fixed
 * buffers with a deadline, and reaped with waitpid.  No malloc anywhere,
 * so a report may be printed from inside the allocator.
 *
 * Without the helper (not on PATH, WARDEN_OPTIONS=symbolize=0, a setuid
 * program) or without debug information in a module, a frame keeps what
 * dladdr knew: function+0xOFF when exported, and module+0xOFF always.
 *
 * Not thread-safe: one caller at a time (report.c calls it under its
 * lock); the helper's output goes through a static buffer.
 *
 * Calls: options.h (symbolize=, the formatter), os.h (the page size),
 * dladdr, memfd_create, vfork, execve, pipe2, poll, read, waitpid. */
#ifndef WARDEN_SYMBOL_H
#define WARDEN_SYMBOL_H

#include <stddef.h>
#include <stdint.h>

/* Levels of inlined calls kept for one address (addr2line -i prints the
 * innermost inlined function first, then the functions it was inlined
 * into, up to the real one).  Of more, the innermost ones and the real
 * function (the program's own line under a tower of inlined library
 * templates). */
#define WDI_SYM_INLINE 8

typedef struct wdi_sym_level_s {
    const char *func; /* demangled; NULL when unknown */
    const char *file; /* as the debug information names it; NULL when unknown */
    int line;         /* 0 when unknown */
} wdi_sym_level_t;

typedef struct wdi_sym_s {
    const char *module;  /* path of the program or shared object; NULL: none */
    int in_program;      /* 1 when the module is the program, not a shared object */
    uintptr_t offset;    /* the address in the module's own terms (what
                          * `addr2line -e module` takes): pc for a program
                          * that is not position-independent, pc minus the
                          * load bias otherwise */
    const char *symbol;  /* exported name that dladdr found, or NULL */
    uintptr_t symbol_off; /* pc - the symbol's address */
    int levels;          /* at[0 .. levels) came from the helper */
    wdi_sym_level_t at[WDI_SYM_INLINE];
    /* Private to symbol.c. */
    uintptr_t base;
    int state;
} wdi_sym_t;

/* What wdi_symbolize could not do (flags). */
enum {
    WDI_SYM_OFF = 1,       /* WARDEN_OPTIONS=symbolize=0, or a setuid program */
    WDI_SYM_NO_HELPER = 2, /* neither llvm-symbolizer nor addr2line on PATH */
};

/* Fills out[i] for pcs[i], i < n (return addresses as captured: each is
 * looked up as pc - 1, the call instruction).  Strings are copied into
 * text (cap bytes; what does not fit is left NULL), so they stay valid
 * whatever the program loads or unloads afterwards.  Returns WDI_SYM_*
 * flags for what was missing.  Equal addresses are asked for once. */
int wdi_symbolize(void *const *pcs, int n, wdi_sym_t *out, char *text, size_t cap);

/* The same without the helper: module, offset and exported name only
 * (dladdr's), as with symbolize=0; a few microseconds a frame. */
int wdi_symbolize_quick(void *const *pcs, int n, wdi_sym_t *out, char *text, size_t cap);

/* Sorts a[0 .. n) and drops repeated addresses (heapsort: no recursion,
 * no allocation); returns how many are left.  For a caller that names
 * many stacks at once and looks each frame up after (wdi_sym_find). */
size_t wdi_sym_sort_unique(uintptr_t *a, size_t n);

/* The index of pc in a[0 .. n), sorted, or of the first address above it
 * (n when none is). */
size_t wdi_sym_find(const uintptr_t *a, size_t n, uintptr_t pc);

/* 1 when pc lies in libwarden.so itself; always 0 when warden is linked
 * into the program (libwarden.a), whose frames then are the program's. */
int wdi_symbol_in_warden(const void *pc);

/* The code of libwarden.so, [*lo, *hi), so that a capture can drop its
 * own frames with two compares; 0 (and nothing set) when warden is linked
 * into the program, whose code it shares.  Calls dl_iterate_phdr (no
 * allocation): ask once. */
int wdi_symbol_warden_code(uintptr_t *lo, uintptr_t *hi);

/* The code of the C library (libc.so.6), as wdi_symbol_warden_code; 0 when
 * it is linked into the program. */
int wdi_symbol_libc_code(uintptr_t *lo, uintptr_t *hi);

/* The code of the dynamic loader (ld.so), as wdi_symbol_warden_code; 0
 * when there is none (a static program). */
int wdi_symbol_loader_code(uintptr_t *lo, uintptr_t *hi);

#endif /* WARDEN_SYMBOL_H */
