/* profile.h -- the heap profiler: WARDEN_OPTIONS=profile=PREFIX.
 *
 * Allocations are sampled by bytes (sample.h: each one on its own with
 * the chance p(s) = 1 - exp(-s / profile_rate)).  A sampled block is
 * placed apart from the small pages (raw.h: wdi_raw_alloc_apart), so its
 * free never takes the small fast path: it comes down api.c's slow free,
 * which asks wdi_prof_free.  Each sample is kept with its size and its
 * allocation site, a stack of the depot (stack.h): a large block's in its
 * own header (large.h), any other in a table of pointers (open addressing
 * in 64 locked stripes, mapped from the OS); each site counts what its
 * samples stand for, allocated and freed, in atomic counters, so the
 * profile knows in-use and total allocated bytes and objects by stack at
 * any moment.
 *
 * At exit, on demand (wd_profile_dump) and after the signal profile_signal
 * names, it writes PREFIX.prof (gperftools' heap profile, for google-pprof
 * and jeprof), PREFIX.folded (in-use bytes by symbolized stack, root
 * first, for flamegraph.pl and speedscope) and PREFIX.svg (a flame graph
 * of the in-use bytes); docs/profiling.md.  Nothing here allocates: tables
 * and the dump's scratch space come from os.h, files are written with
 * write(2), names come from symbol.h's helper process.
 *
 * Calls: sample.h (weights), stack.h, symbol.h and report.h (names, under
 * the report lock), large.h, raw.h, os.h, ownmem.h, lock.h, options.h. */
#ifndef WARDEN_PROFILE_H
#define WARDEN_PROFILE_H

#include <stddef.h>
#include <stdint.h>

/* 1 when profile= is set: api.c's hooks are on.  Fixed by the process
 * start (wdi_prof_init) before any block is handed out. */
extern int wdi_profiling;

static inline int wdi_prof_on(void) { return __atomic_load_n(&wdi_profiling, __ATOMIC_RELAXED); }

/* Reads the options; called by the process start (again when the options
 * come late).  Allocates nothing, installs nothing. */
void wdi_prof_init(void);

/* Once the allocator is ready: the signal handler (profile_signal) and the
 * dump at exit.  Called once by the process start when profiling. */
void wdi_prof_start(void);

/* The dump at exit (atexit). */
void wdi_prof_at_exit(void);

/* p, a block of size bytes that the sampler picked with the chance
 * p(chance) (sample.h), from the tier apart (or a wrapper): records it
 * with the calling thread's stack.  Leaves errno as it was. */
void wdi_prof_alloc(void *p, size_t size, size_t chance);

/* p is being freed (any slow free): forgets its sample if it has one.
 * A small block (no wrapper) is told from its region, a large block from
 * its header; for a medium one, one relaxed load when its stripe of the
 * table holds no sample. */
void wdi_prof_free(void *p);

/* realloc: takes p's sample out (1; 0 when p has none) and, when the
 * realloc fails after all, puts it back as it was. */
typedef struct wdi_prof_sample_s {
    size_t size;
    uint64_t bytes; /* what it stands for (sample.h's weight), reckoned once */
    uint32_t count; /* so that its free takes back exactly that */
    uint32_t site;
} wdi_prof_sample_t;
int wdi_prof_take(const void *p, wdi_prof_sample_t *out);
void wdi_prof_put_back(const void *p, const wdi_prof_sample_t *s);

/* The small countdown's slot (sample.h): the largest block h's pages
 * hold (0 before its first page), at most WDI_PROF_SLOT_MAX. */
struct wd_theap_s;
size_t wdi_prof_slot(const struct wd_theap_s *h);

/* Draws h's countdown again for its slot; allocs_base takes what keeps
 * the count of small blocks (base - left) where it was.  api.c calls it
 * when a malloc brings a heap a page of a larger class than it had, and
 * raw.h (wdi_raw_class_grew, set while profiling) when one of its blocks
 * does: the countdown's slot grows with the page, before any malloc of
 * the fast path reaches it. */
void wdi_prof_redraw(struct wd_theap_s *h);

/* fork(): the stripes' locks are held across it; the child also drops a
 * dump another thread was writing. */
void wdi_prof_fork_prepare(void);
void wdi_prof_fork_parent(void);
void wdi_prof_fork_child(void);

#endif /* WARDEN_PROFILE_H */
