/* warden.h -- the global allocator: the whole malloc family, thread-safe.
 *
 * These are the functions behind the standard names: libwarden.so, put in
 * LD_PRELOAD, makes malloc, free, operator new ... of any program call them,
 * and linking libwarden.a does the same.  A program may also call the wd_
 * names directly.
 *
 * Semantics are those of C11/C23, POSIX and glibc (see each comment):
 *   - every block is aligned to 16 bytes; malloc(0) returns a unique pointer;
 *   - failure returns NULL with errno = ENOMEM, also when a size is above
 *     PTRDIFF_MAX or a count * size overflows; a failed realloc leaves the
 *     old block intact;
 *   - free(NULL) does nothing; free never changes errno;
 *   - misuse that is detected (double free, a pointer warden never returned)
 *     prints one line `warden: <what> at <address> in <function>` to stderr
 *     and aborts.
 * Options come from the environment variable WARDEN_OPTIONS, read once at
 * start, e.g. WARDEN_OPTIONS=stats=1:verbose=1 (see docs/options.md).
 */
#ifndef WARDEN_H
#define WARDEN_H

#include <stddef.h>
#include <stdio.h>

#include "warden/heap.h"    /* the classic heap, usable on its own */
#include "warden/version.h" /* WARDEN_VERSION "MAJOR.MINOR.PATCH", from the build */

#ifdef __cplusplus
extern "C" {
#endif

/* --- the malloc family ---------------------------------------------------- */
WD_API void *wd_malloc(size_t size);
WD_API void *wd_calloc(size_t n, size_t size);
/* realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL
 * (glibc's behaviour). */
WD_API void *wd_realloc(void *p, size_t size);
/* realloc(p, n * size), NULL + ENOMEM when the product overflows. */
WD_API void *wd_reallocarray(void *p, size_t n, size_t size);
WD_API void wd_free(void *p);
/* C23: size must be the size requested when p was allocated (or any size
 * between it and malloc_usable_size(p)). */
WD_API void wd_free_sized(void *p, size_t size);
WD_API void wd_free_aligned_sized(void *p, size_t alignment, size_t size);
/* C11/C17: alignment must be a power of two (else NULL + EINVAL); any size
 * is accepted. */
WD_API void *wd_aligned_alloc(size_t alignment, size_t size);
/* POSIX: returns 0, EINVAL (alignment not a power of two multiple of
 * sizeof(void *)) or ENOMEM; never changes errno. */
WD_API int wd_posix_memalign(void **out, size_t alignment, size_t size);
/* glibc: an alignment that is not a power of two is rounded up to one. */
WD_API void *wd_memalign(size_t alignment, size_t size);
WD_API void *wd_valloc(size_t size);  /* page-aligned */
WD_API void *wd_pvalloc(size_t size); /* page-aligned, size rounded up to pages */
/* Bytes usable at p, >= the request; 0 for NULL. */
WD_API size_t wd_malloc_usable_size(const void *p);
WD_API char *wd_strdup(const char *s);
WD_API char *wd_strndup(const char *s, size_t n);

/* --- memory back to the OS ------------------------------------------------ */
/* Returns every free page to the OS now (glibc's malloc_trim); returns 1
 * when some memory was released, 0 otherwise. */
WD_API int wd_trim(size_t pad);

/* --- statistics ------------------------------------------------------------ */
typedef struct wd_stats {
    size_t live_bytes;      /* bytes in blocks the program holds (usable sizes) */
    size_t peak_live_bytes; /* highest live_bytes seen: sampled at least every
                               50 ms of allocator activity and at each query */
    size_t mapped_bytes;    /* address space reserved from the OS */
    size_t committed_bytes; /* of it, what warden has not given back: an upper
                               bound of its resident memory */
    size_t resident_bytes;  /* the whole process's resident memory (RSS) */
    size_t returned_bytes;  /* total bytes given back to the OS so far */
    size_t small_allocs, medium_allocs, large_allocs; /* allocations per tier, total */
    size_t small_live, medium_live, large_live;       /* live blocks per tier (with
                                                         harden=2: quarantined ones too) */
    size_t threads;         /* thread heaps created */
    size_t quarantined_bytes; /* harden=2: freed blocks held back (not in live_bytes) */
    size_t quarantined_large_bytes; /* of them, in large blocks (their own bound) */
} wd_stats_t;

WD_API void wd_stats_get(wd_stats_t *out);
/* Human-readable statistics; writes with write(2) when out is stderr or
 * stdout, so it is safe at exit and never allocates. */
WD_API void wd_stats_print(FILE *out);

/* The statistics for machines: one JSON object on one line (the schema is
 * docs/stats.md): bytes in use and their peak, resident, mapped and
 * returned bytes of the whole process heap as of the call, each tier's
 * figures, counts by size class, the thread heaps.  Collects every figure
 * first and then writes to out (stderr when NULL) with stdio, holding no
 * lock of warden's.  Thread-safe; O(heap size / 4 MiB) system calls for
 * the resident bytes. */
WD_API void wd_stats_json(FILE *out);

/* The heap as a picture: a self-contained SVG of every region of warden's
 * heap in address order, one row per 4 MiB segment (docs/map.md): small
 * pages coloured by size class and shaded by how full they are, medium
 * ranges and large blocks to scale, free memory and memory returned to the
 * OS told apart, a legend, a tooltip (<title>) on every shape.  Collects
 * the layout first (into memory mapped for the purpose, never malloc),
 * then writes to out (stdout when NULL) with no lock held.  0, or -1 with
 * errno set when the memory for the layout or the write failed. */
WD_API int wd_map_svg(FILE *out);

/* With WARDEN_OPTIONS=check=1: scans for leaks now and reports them as the
 * report at exit does; returns the bytes lost (0 when check mode is off). */
WD_API size_t wd_check_leaks(void);

/* With WARDEN_OPTIONS=profile=PREFIX (docs/profiling.md): writes the heap
 * profile now to prefix.prof (google-pprof's heap format), prefix.folded
 * (in-use bytes by stack, root first) and prefix.svg (a flame graph);
 * prefix NULL means the option's PREFIX.  Each file is replaced whole.
 * Returns 0, or -1 with errno: EINVAL when profiling is off, else why a
 * file could not be written.  Thread-safe; names functions by running
 * llvm-symbolizer or addr2line, so it takes a moment. */
WD_API int wd_profile_dump(const char *prefix);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_H */
