/* override.c -- the standard names, as thin calls into the wd_ functions.
 *
 * Linked (libwarden.a) or preloaded (libwarden.so), these replace the C
 * library's malloc family for the whole program, libc's own internal calls
 * included.  Every name of the family is defined, so that no block is ever
 * handed to the wrong allocator (a program calling pvalloc or __libc_free
 * must still reach warden).  The C++ operators are defined here by their
 * mangled names (x86_64 / aarch64 Itanium ABI, size_t = unsigned long), so
 * C programs do not pull in libstdc++; bad_alloc is thrown through
 * libstdc++'s own helper, found as a weak symbol when the program is C++.
 * The nothrow forms of new are left to libstdc++: since GCC 9 they call the
 * throwing form (warden's) inside try/catch, which is what the standard
 * asks and what C cannot do; defining them here would need libstdc++ in
 * every process that preloads warden.
 * This file is compiled with -fexceptions so that the exception unwinds
 * through it. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/process.h"
#include "base/internal.h"
#include "debug/info.h"
#include "warden.h"

#define WD_EXPORT __attribute__((visibility("default")))

/* --- C ---------------------------------------------------------------------- */

WD_EXPORT void *malloc(size_t size) { return wd_malloc(size); }
WD_EXPORT void free(void *p) { wd_free(p); }
WD_EXPORT void *calloc(size_t n, size_t size) { return wd_calloc(n, size); }
WD_EXPORT void *realloc(void *p, size_t size) { return wd_realloc(p, size); }
WD_EXPORT void *reallocarray(void *p, size_t n, size_t size) { return wd_reallocarray(p, n, size); }
WD_EXPORT void *aligned_alloc(size_t alignment, size_t size) { return wd_aligned_alloc(alignment, size); }
WD_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
    return wd_posix_memalign(out, alignment, size);
}
WD_EXPORT void *memalign(size_t alignment, size_t size) { return wd_memalign(alignment, size); }
WD_EXPORT void *valloc(size_t size) { return wd_valloc(size); }
WD_EXPORT void *pvalloc(size_t size) { return wd_pvalloc(size); }
WD_EXPORT size_t malloc_usable_size(void *p) { return wd_malloc_usable_size(p); }
WD_EXPORT void free_sized(void *p, size_t size) { wd_free_sized(p, size); }
WD_EXPORT void free_aligned_sized(void *p, size_t alignment, size_t size) {
    wd_free_aligned_sized(p, alignment, size);
}
WD_EXPORT void cfree(void *p) { wd_free(p); }

/* glibc's internal entry points: some programs call them directly. */
WD_EXPORT void *__libc_malloc(size_t size) { return wd_malloc(size); }
WD_EXPORT void __libc_free(void *p) { wd_free(p); }
WD_EXPORT void *__libc_calloc(size_t n, size_t size) { return wd_calloc(n, size); }
WD_EXPORT void *__libc_realloc(void *p, size_t size) { return wd_realloc(p, size); }
WD_EXPORT void *__libc_memalign(size_t alignment, size_t size) { return wd_memalign(alignment, size); }
WD_EXPORT void *__libc_valloc(size_t size) { return wd_valloc(size); }
WD_EXPORT void *__libc_pvalloc(size_t size) { return wd_pvalloc(size); }

/* --- the end of the process ------------------------------------------------- */

/* _exit and _Exit skip atexit, and with it check mode's checks at exit: a
 * program (or a test harness's forked child) that ends with them would
 * never hear of a write after free into a block still in the quarantine.
 * Weak: a program linked statically with the C library keeps its own. */
WD_EXPORT __attribute__((weak, noreturn)) void _exit(int status) { wdi_process_exit_now(status); }
WD_EXPORT __attribute__((weak, noreturn)) void _Exit(int status) { wdi_process_exit_now(status); }

/* --- glibc's introspection ------------------------------------------------- */

/* mallinfo2 and malloc_info come from one collection (debug/info.h), so
 * the figures of one agree with the other's (docs/stats.md). */
WD_EXPORT struct mallinfo2 mallinfo2(void) {
    wd_mallinfo_t w;
    wdi_mallinfo(&w);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = w.arena;
    mi.ordblks = w.ordblks;
    mi.smblks = w.smblks;
    mi.hblks = w.hblks;
    mi.hblkhd = w.hblkhd;
    mi.usmblks = w.usmblks;
    mi.fsmblks = w.fsmblks;
    mi.uordblks = w.uordblks;
    mi.fordblks = w.fordblks;
    mi.keepcost = w.keepcost;
    return mi;
}

/* The old int-sized form, clamped rather than wrapped. */
static int clamp_int(size_t v) { return v > (size_t)INT32_MAX ? INT32_MAX : (int)v; }

WD_EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    mi.arena = clamp_int(m2.arena);
    mi.ordblks = clamp_int(m2.ordblks);
    mi.smblks = clamp_int(m2.smblks);
    mi.hblks = clamp_int(m2.hblks);
    mi.hblkhd = clamp_int(m2.hblkhd);
    mi.usmblks = clamp_int(m2.usmblks);
    mi.fsmblks = clamp_int(m2.fsmblks);
    mi.uordblks = clamp_int(m2.uordblks);
    mi.fordblks = clamp_int(m2.fordblks);
    mi.keepcost = clamp_int(m2.keepcost);
    return mi;
}

WD_EXPORT int malloc_trim(size_t pad) { return wd_trim(pad); }
WD_EXPORT void malloc_stats(void) { wd_stats_print(stderr); }
WD_EXPORT int mallopt(int param, int value) {
    (void)param; /* glibc's tuning knobs mean nothing here; accepted */
    (void)value;
    return 1;
}

WD_EXPORT int malloc_info(int options, FILE *out) {
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    return wdi_malloc_info(out);
}

/* --- C++ ----------------------------------------------------------------------- */

typedef void (*new_handler_t)(void);
/* libstdc++, present when the program is C++: std::get_new_handler() and
 * std::__throw_bad_alloc(). */
extern new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

/* operator new: on failure call the new-handler and retry; without one,
 * throw std::bad_alloc ([new.delete.single]). */
static void *cxx_new(size_t size, size_t alignment, wd_alloc_kind_t kind) {
    for (;;) {
        void *p = wdi_new(size, alignment, kind);
        if (wd_likely(p != NULL))
            return p;
        new_handler_t handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
        if (handler == NULL)
            break;
        handler();
    }
    if (_ZSt17__throw_bad_allocv)
        _ZSt17__throw_bad_allocv();
    abort();
}

/* Sized deletes check the size against the block (C23 free_sized). */
static void cxx_delete_sized(void *p, size_t size, size_t alignment, wd_alloc_kind_t kind) {
    if (p != NULL)
        wdi_delete_sized(p, size, alignment, kind);
}

#define NEW WD_FROM_NEW
#define NEW_ARRAY WD_FROM_NEW_ARRAY

/* new / new[] (the nothrow forms: see the top of this file) */
WD_EXPORT void *_Znwm(size_t n) { return cxx_new(n, 0, NEW); }
WD_EXPORT void *_Znam(size_t n) { return cxx_new(n, 0, NEW_ARRAY); }
WD_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { return cxx_new(n, al, NEW); }
WD_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { return cxx_new(n, al, NEW_ARRAY); }

/* delete / delete[] */
WD_EXPORT void _ZdlPv(void *p) { wdi_delete(p, NEW); }
WD_EXPORT void _ZdaPv(void *p) { wdi_delete(p, NEW_ARRAY); }
WD_EXPORT void _ZdlPvm(void *p, size_t n) { cxx_delete_sized(p, n, 0, NEW); }
WD_EXPORT void _ZdaPvm(void *p, size_t n) { cxx_delete_sized(p, n, 0, NEW_ARRAY); }
WD_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; wdi_delete(p, NEW); }
WD_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; wdi_delete(p, NEW_ARRAY); }
WD_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al) { wdi_delete_aligned(p, al, NEW); }
WD_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al) { wdi_delete_aligned(p, al, NEW_ARRAY); }
WD_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al) { cxx_delete_sized(p, n, al, NEW); }
WD_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al) { cxx_delete_sized(p, n, al, NEW_ARRAY); }
WD_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt) {
    (void)nt;
    wdi_delete_aligned(p, al, NEW);
}
WD_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt) {
    (void)nt;
    wdi_delete_aligned(p, al, NEW_ARRAY);
}
