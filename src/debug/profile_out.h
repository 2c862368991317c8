/* profile_out.h -- writing a heap profile (profile.h) to its three files:
 *
 *   PREFIX.prof    gperftools' heap profile, the text format google-pprof
 *                  and jeprof read: a header line
 *                    heap profile: INUSE_N: INUSE_BYTES [ALLOC_N: ALLOC_BYTES] @ heapprofile
 *                  one line per stack with the same four figures and
 *                  `@ 0xADDR ...` (innermost first), then a line
 *                  `MAPPED_LIBRARIES:` and /proc/self/maps as it is.  The
 *                  figures are the samples' estimates already ("heapprofile":
 *                  pprof scales nothing);
 *   PREFIX.folded  in-use bytes by symbolized stack, root first,
 *                  `main;parse;xmalloc 1048576` (flamegraph.pl, speedscope,
 *                  inferno);
 *   PREFIX.svg     a flame graph of the in-use bytes, one rectangle per
 *                  function with its name and a <title> tooltip (bytes and
 *                  percent), readable in any browser.
 *
 * Warden's own frames at the top of each stack are left out: those in
 * libwarden.so by address; when warden is linked into the program, those
 * down to the allocation entry point (malloc, operator new, wd_ ...) by
 * name.  Each file is written to PREFIX.EXT.tmp.PID and renamed, so a
 * reader never sees half a file.  Scratch space is mapped for the dump and
 * unmapped after it; names come from one run of the symbolizer helper per
 * module and batch (symbol.h, under the report lock).  One dump at a time.
 *
 * Calls: symbol.h, report.h, stack.h, os.h, lock.h, options.h (wdi_fmt). */
#ifndef WARDEN_PROFILE_OUT_H
#define WARDEN_PROFILE_OUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One allocation site: a stack of the depot and what its samples stand
 * for.  Counters only grow; in use is allocated less freed. */
typedef struct wdi_prof_site_s {
    _Atomic(uint32_t) id; /* stack id (stack.h); 0: a free slot */
    uint32_t unused;
    _Atomic(uint64_t) alloc_n, alloc_b, free_n, free_b;
} wdi_prof_site_t;

/* Writes the profile of the sites sites[used[k] - 1] for k < n (an entry
 * of used still 0 is a site being claimed, left out) and sites[lost],
 * which counts the samples whose stack was not kept, to prefix.prof,
 * .folded and .svg.  0, or the errno value of the first file that could
 * not be written. */
int wdi_prof_write(const char *prefix, wdi_prof_site_t *sites, _Atomic(uint32_t) *used, size_t n,
                   uint32_t lost);

/* In a fork child: a dump another thread was writing is gone with it. */
void wdi_prof_write_fork_child(void);

#endif /* WARDEN_PROFILE_OUT_H */
