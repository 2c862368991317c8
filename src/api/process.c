/* process.c -- owns the start of the allocator in a process (process.h).
 * Calls: options.h, page.h (class tables), thread.h (the heaps' key and
 * fork), harden.h, check.h, guard.h, fault.h, profile.h, stats.h, json.h
 * and map.h (what runs at a thread's exit and at the process's, the
 * statistics thread; fork), report.h and stack.h (fork), sample.h. */
#include "api/process.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/lock.h"
#include "base/options.h"
#include "core/page.h"
#include "core/thread.h"
#include "debug/check.h"
#include "debug/fault.h"
#include "debug/guard.h"
#include "debug/harden.h"
#include "debug/json.h"
#include "debug/map.h"
#include "debug/profile.h"
#include "debug/report.h"
#include "debug/sample.h"
#include "debug/stack.h"
#include "debug/stats.h"
#include "os/os.h"

int wdi_process_state;
static wd_lock_t init_lock = WD_LOCK_INIT;

/* fork(): the checker's locks are taken before the heaps' (a report may
 * ask the tiers about a block, never the other way round); the child
 * resets the init lock (its holder may not exist there). */
static void fork_prepare(void) {
    if (wdi_prof_on()) /* its locks are leaves: no allocator lock is taken under them */
        wdi_prof_fork_prepare();
    if (wdi_checking) {
        wdi_check_fork_prepare();
        wdi_guard_fork_prepare();
    }
    wdi_heaps_fork_prepare();
}

static void fork_parent(void) {
    wdi_heaps_fork_parent();
    if (wdi_checking) {
        wdi_guard_fork_parent();
        wdi_check_fork_parent();
    }
    if (wdi_prof_on())
        wdi_prof_fork_parent();
}

static void fork_child(void) {
    wdi_heaps_fork_child();
    if (wdi_checking) {
        wdi_guard_fork_child();
        wdi_check_fork_child();
    }
    if (wdi_prof_on())
        wdi_prof_fork_child();
    wdi_report_fork_child();
    wdi_stack_fork_child();
    wdi_stats_fork_child();
    wdi_stats_json_fork_child();
    wdi_lock_reset(&init_lock);
    wdi_tickers_fork_child(); /* last: it allocates */
}

/* A thread's heap is given up at its exit: harden=2's quarantine and
 * check mode's latest frees first,
 * and the alternate signal stack the guard gave the thread. */
static void heap_exit(wd_theap_t *h) {
    if (wdi_harden2)
        wdi_hard_heap_exit(h);
    if (wdi_checking)
        wdi_check_heap_exit(h);
    wdi_fault_thread_exit();
}

/* Registered for no shared object (the C library's atexit in a shared
 * library names it): exit runs this itself, not the loader's destructor
 * calls, whose frames (crtstuff's) no unwind table describes, so that the
 * leak scan can walk out to the caller of exit (check.c's exit_live_sp). */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static void check_at_exit(void *arg) {
    (void)arg;
    wdi_check_at_exit();
}

/* Everything that needs no allocation, under the lock; returns 1 when the
 * options were read (0: the environment is not set up yet). */
static int start_locked(void) {
    int have_options = wdi_options_init();
    wdi_harden_init(); /* level 1 when the options must wait */
    wdi_check_init();  /* off when the options must wait */
    wdi_sample_init();
    wdi_prof_init();
    wdi_guard_init();
    wdi_page_init_classes();
    wdi_heaps_init(heap_exit);
    return have_options;
}

void wdi_process_start(void) {
    wdi_lock(&init_lock);
    int state = wdi_process_state;
    int first = state == 0, late = 0;
    if (first)
        state = start_locked() ? 2 : 1;
    else if (state == 1 && wdi_options_init())
        state = 2, late = 1;
    __atomic_store_n(&wdi_process_state, state, __ATOMIC_RELEASE);
    wdi_unlock(&init_lock);
    /* These may allocate, so they run once the allocator is ready (a
     * malloc from inside them finds the state set and returns at once). */
    if (first)
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (late) {
        wdi_harden_late();
        wdi_check_late();
        wdi_sample_init();
        wdi_prof_init();
    }
    if ((first || late) && state == 2)
        wdi_stats_paths_settle();
    if ((first || late) && state == 2 && wdi_options.stats)
        atexit(wdi_options.stats >= 2 ? wdi_stats_json_at_exit : wdi_stats_at_exit);
    if ((first || late) && state == 2 && wdi_options.map[0] != '\0')
        atexit(wdi_map_at_exit);
    if ((first || late) && state == 2)
        wdi_stats_interval_start(); /* pthread_create: it allocates */
    if (first && wdi_harden2)
        atexit(wdi_hard_at_exit);
    if (first && wdi_checking)
        __cxa_atexit(check_at_exit, NULL, NULL);
    if ((first || late) && state == 2 && wdi_prof_on())
        wdi_prof_start();
}

/* Runs after the C library set up the environment and before main: the
 * latest moment at which options a very early first call could not read
 * are read, whether or not the program allocates much afterwards.  With
 * WARDEN_OPTIONS set, a program that has not allocated yet starts warden
 * here all the same: one that never calls malloc (true, a small C tool)
 * still gets the statistics and the map it was asked for. */
__attribute__((constructor)) static void options_at_start(void) {
    int state = __atomic_load_n(&wdi_process_state, __ATOMIC_ACQUIRE);
    if (state == 1 || (state == 0 && wdi_options_given()))
        wdi_process_start();
}

void wdi_process_exit_now(int status) {
    if (wdi_checking)
        status = wdi_check_at_quick_exit(status);
    wdi_os_exit(status);
}
