/* ownmem.c -- owns the list of warden's own mappings (ownmem.h). */
#include "base/ownmem.h"

#include <stdatomic.h>

#define OWN_MAX 256

/* A slot is free while its start is 0; its end is written after the start
 * is claimed and cleared before it is released, so a reader that sees an
 * end sees a whole range. */
static _Atomic(uintptr_t) own_start[OWN_MAX], own_end[OWN_MAX];

void wdi_own_add(const void *p, size_t size) {
    for (size_t i = 0; i < OWN_MAX; i++) {
        uintptr_t free_slot = 0;
        if (atomic_compare_exchange_strong_explicit(&own_start[i], &free_slot, (uintptr_t)p,
                                                    memory_order_relaxed, memory_order_relaxed)) {
            atomic_store_explicit(&own_end[i], (uintptr_t)p + size, memory_order_release);
            return;
        }
    }
}

void wdi_own_remove(const void *p) {
    for (size_t i = 0; i < OWN_MAX; i++) {
        if (atomic_load_explicit(&own_start[i], memory_order_relaxed) == (uintptr_t)p) {
            atomic_store_explicit(&own_end[i], 0, memory_order_relaxed);
            atomic_store_explicit(&own_start[i], 0, memory_order_release);
            return;
        }
    }
}

size_t wdi_own_list(uintptr_t *start, uintptr_t *end, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < OWN_MAX && n < max; i++) {
        uintptr_t e = atomic_load_explicit(&own_end[i], memory_order_acquire);
        uintptr_t s = atomic_load_explicit(&own_start[i], memory_order_relaxed);
        if (s != 0 && e > s) {
            start[n] = s;
            end[n] = e;
            n++;
        }
    }
    return n;
}
