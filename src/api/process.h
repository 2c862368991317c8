/* process.h -- starting the allocator in a process: the options, every
 * layer's tables, the thread heaps' key, the fork handlers and what runs at
 * exit.  The one place that knows every layer at once, so it stands on top
 * of them and no layer below calls up to it: the malloc family makes sure
 * the process is started before it asks the tiers for memory. */
#ifndef WARDEN_PROCESS_H
#define WARDEN_PROCESS_H

#include "base/internal.h"

/* 2 once everything is set up and WARDEN_OPTIONS was read; 1 while the
 * options must wait (a preloaded library is called before the C library
 * set up the environment); 0 before the first call. */
extern int wdi_process_state;

void wdi_process_start(void);

/* Starts the process on the first call; reads the options late when they
 * had to wait.  One load once both are done. */
static inline void wdi_process_init(void) {
    if (wd_likely(__atomic_load_n(&wdi_process_state, __ATOMIC_ACQUIRE) == 2))
        return;
    wdi_process_start();
}

/* _exit and _Exit, which skip atexit's handlers: check mode checks its
 * blocks first (check.h), then the process ends as the C library ends
 * it. */
WD_NORETURN void wdi_process_exit_now(int status);

#endif /* WARDEN_PROCESS_H */
