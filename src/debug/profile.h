/* profile.h -- the heap profiler: WARDEN_OPTIONS=profile=PREFIX.
 *
 * Allocations are sampled by bytes (sample.h: each one on its own with
 * the chance p(s) = 1 - exp(-s / profile_rate)).  A sampled block is
 * placed apart from the small pages (raw.h: wdi_raw_alloc_apart), so its
 * free never takes the small fast path: it comes down api.c's slow free,
 * which asks wdi_prof_free.  Each sample is kept in a table of pointers
 * (open addressing in 64 locked stripes, mapped from the OS) with its size
 * and its allocation site, a stack of the depot (stack.h); each site
 * counts what its samples stand for, allocated and freed, in atomic
 * counters, so the profile knows in-use and total allocated bytes and
 * objects by stack at any moment.
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
 * the report lock), os.h, ownmem.h, lock.h, options.h. */
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
 * One relaxed load when its stripe holds no sample. */
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

/* fork(): the stripes' locks are held across it; the child also drops a
 * dump another thread was writing. */
void wdi_prof_fork_prepare(void);
void wdi_prof_fork_parent(void);
void wdi_prof_fork_child(void);

#endif /* WARDEN_PROFILE_H */
