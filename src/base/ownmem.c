/* ownmem.c -- owns the list of warden's own mappings (ownmem.h). */
#include "base/ownmem.h"

#include <stdatomic.h>

/* Enough for every mapping check=2 makes (its 1,024 areas' records) and
 * the rest; 64 KiB of .bss, read only by a leak scan or statistics. */
#define OWN_MAX 4096

/* A slot is free while its start is 0; its end is written after the start
 * is claimed and cleared before it is released, so a reader that sees an
 * end sees a whole range. */
static _Atomic(uintptr_t) own_start[OWN_MAX], own_end[OWN_MAX];

static _Atomic(size_t) own_dropped;

void wdi_own_add(const void *p, size_t size) {
    for (size_t i = 0; i < OWN_MAX; i++) {
        uintptr_t free_slot = 0;
        if (atomic_compare_exchange_strong_explicit(&own_start[i], &free_slot, (uintptr_t)p,
                                                    memory_order_relaxed, memory_order_relaxed)) {
            atomic_store_explicit(&own_end[i], (uintptr_t)p + size, memory_order_release);
            return;
        }
    }
    atomic_fetch_add_explicit(&own_dropped, 1, memory_order_relaxed);
}

size_t wdi_own_dropped(void) { return atomic_load_explicit(&own_dropped, memory_order_relaxed); }

void wdi_own_remove(const void *p) {
    for (size_t i = 0; i < OWN_MAX; i++) {
        if (atomic_load_explicit(&own_start[i], memory_order_relaxed) == (uintptr_t)p) {
            atomic_store_explicit(&own_end[i], 0, memory_order_relaxed);
            atomic_store_explicit(&own_start[i], 0, memory_order_release);
            return;
        }
    }
}

void wdi_own_foreach(void (*fn)(uintptr_t start, uintptr_t end, void *arg), void *arg) {
    for (size_t i = 0; i < OWN_MAX; i++) {
        uintptr_t e = atomic_load_explicit(&own_end[i], memory_order_acquire);
        uintptr_t s = atomic_load_explicit(&own_start[i], memory_order_relaxed);
        if (s != 0 && e > s)
            fn(s, e, arg);
    }
}
