/* lock.h -- the one lock warden uses: a test-and-test-and-set spinlock that
 * yields the CPU after a short spin.  Every critical section in warden is a
 * few hundred instructions and never makes a system call while held, so a
 * spinlock beats a mutex here, needs no initialisation (zero is unlocked)
 * and is trivially reset in a fork child. */
#ifndef WARDEN_LOCK_H
#define WARDEN_LOCK_H

#include <sched.h>
#include <stdatomic.h>

#include "base/internal.h"

typedef struct wd_lock_s {
    atomic_int held;
} wd_lock_t;

#define WD_LOCK_INIT {0}

static inline int wdi_lock_try(wd_lock_t *l) {
    return atomic_load_explicit(&l->held, memory_order_relaxed) == 0 &&
           atomic_exchange_explicit(&l->held, 1, memory_order_acquire) == 0;
}

static inline void wdi_lock(wd_lock_t *l) {
    if (wd_likely(wdi_lock_try(l)))
        return;
    for (unsigned spins = 0;; spins++) {
        if (spins < 64)
            wd_cpu_relax();
        else
            sched_yield(); /* the holder may be descheduled: let it run */
        if (wdi_lock_try(l))
            return;
    }
}

static inline void wdi_unlock(wd_lock_t *l) {
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

/* In a fork child only the forking thread exists: whatever it did not hold
 * is free. */
static inline void wdi_lock_reset(wd_lock_t *l) {
    atomic_store_explicit(&l->held, 0, memory_order_relaxed);
}

#endif /* WARDEN_LOCK_H */
