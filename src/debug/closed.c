/* closed.c -- check=1's freed large blocks, waiting with their whole pages
 * inaccessible (closed.h).  Calls: os.h, lock.h, ownmem.h. */
#include "debug/closed.h"

#include "base/internal.h"
#include "base/lock.h"
#include "base/ownmem.h"
#include "os/os.h"

/* A waiting block: its entry as check mode knows it, its closed pages. */
typedef struct {
    wd_block_info_t b;
    uintptr_t lo, hi; /* the closed pages [lo, hi) */
    uint8_t cold;     /* its memory went back to the OS while it waits */
    uint8_t opened;   /* a fault opened its pages again (reported once) */
} entry_t;

/* Waiting blocks at most (each over 128 KiB: 512 MiB at least), and the
 * address space of those whose memory went back. */
#define RING 4096
#define COLD_MAX ((size_t)1 << 30)

/* The pages of the latest blocks that left (opened again), so that a
 * fault in one that was on its way meanwhile is retried. */
#define LEFT 64
static struct {
    uintptr_t lo, hi;
} left[LEFT];
static unsigned left_next;

/* The address of the calling thread's latest retried fault: a second
 * fault there is not one of a block that left (the program protected the
 * pages of a block it got since), and goes on to the program. */
static __thread uintptr_t tl_retried __attribute__((tls_model("initial-exec")));

static wd_lock_t lock = WD_LOCK_INIT;
static entry_t *ring; /* mapped at the first block, never given back */
static size_t head, count;
static size_t warm_bytes, cold_bytes;
static wdi_closed_calls_t calls;
static size_t page_size;

void wdi_closed_init(const wdi_closed_calls_t *c) {
    calls = *c;
    page_size = wdi_os_page_size();
}

void wdi_closed_span(uintptr_t p, size_t size, uintptr_t *lo, uintptr_t *hi) {
    *lo = wd_align_up(p, page_size);
    *hi = (p + size) & ~(uintptr_t)(page_size - 1);
    if (*hi < *lo)
        *hi = *lo;
}

/* The ring's memory, mapped once (with the lock held). */
static int ring_ready(void) {
    if (ring != NULL)
        return 0;
    void *m;
    size_t bytes = wd_align_up(RING * sizeof(entry_t), page_size);
    if (wdi_os_map(bytes, &m) != 0)
        return -1;
    wdi_own_add(m, bytes); /* freed blocks' addresses: no root of the leak scan */
    ring = m;
    return 0;
}

/* Takes the oldest waiting block out, with the lock held. */
static entry_t take_oldest(void) {
    entry_t e = ring[head];
    head = (head + 1) % RING;
    count--;
    if (e.cold)
        cold_bytes -= e.hi - e.lo;
    else
        warm_bytes -= e.hi - e.lo;
    return e;
}

/* A block that leaves: its pages open again, then the caller's release;
 * with the lock held, so that a fault in it finds it waiting or open. */
static void leave(const entry_t *e) {
    if (!e->opened)
        wdi_os_protect((void *)e->lo, e->hi - e->lo, WD_PROT_RW);
    left[left_next % LEFT].lo = e->lo;
    left[left_next % LEFT].hi = e->hi;
    left_next++;
    calls.release(&e->b);
}

int wdi_closed_put(const wd_block_info_t *b, size_t warm_max) {
    uintptr_t lo, hi;
    wdi_closed_span(b->p, wdi_bi_size(b), &lo, &hi);
    size_t bytes = hi - lo;
    int cold = bytes > warm_max;
    if (bytes == 0 || (cold && bytes > COLD_MAX))
        return 0;
    /* Every change of a block's pages happens with the lock held: a fault
     * in a block finds it waiting (closed) or its pages open. */
    wdi_lock(&lock);
    int kept = ring_ready() == 0;
    while (kept && count > 0 &&
           (count == RING ||
            (cold ? cold_bytes + bytes > COLD_MAX : warm_bytes + bytes > warm_max))) {
        entry_t old = take_oldest(); /* the oldest leaves to make room */
        leave(&old);
    }
    if (kept && wdi_os_protect((void *)lo, bytes, WD_PROT_NONE) != 0)
        kept = 0;
    if (kept) {
        size_t dropped;
        if (cold)
            wdi_os_decommit((void *)lo, bytes, &dropped);
        ring[(head + count) % RING] = (entry_t){*b, lo, hi, (uint8_t)cold, 0};
        count++;
        if (cold)
            cold_bytes += bytes;
        else
            warm_bytes += bytes;
    }
    wdi_unlock(&lock);
    return kept;
}

int wdi_closed_claim(const wd_fault_t *f) {
    uintptr_t a = f->addr;
    entry_t hit;
    int found = 0, gone = 0;
    wdi_lock(&lock);
    for (size_t i = 0; i < count && !found; i++) {
        entry_t *e = &ring[(head + i) % RING];
        if (a >= e->lo && a < e->hi && !e->opened) {
            /* open: the program goes on, and an access there is reported
             * once; it leaves as any other */
            wdi_os_protect((void *)e->lo, e->hi - e->lo, WD_PROT_RW);
            e->opened = 1;
            hit = *e;
            found = 1;
        }
    }
    /* A block that left (its pages opened) between the fault and this
     * look: the access is tried again.  Any other fault goes on to the
     * program (one in pages it protected itself, too). */
    for (unsigned i = 0; i < LEFT && !found && !gone; i++)
        gone = a >= left[i].lo && a < left[i].hi;
    wdi_unlock(&lock);
    if (found) {
        calls.report(&hit.b, f);
        return 1;
    }
    if (!gone || tl_retried == a) {
        tl_retried = 0;
        return 0;
    }
    tl_retried = a;
    return 1;
}

void wdi_closed_each(void (*fn)(const wd_block_info_t *b), int wait) {
    if (wait)
        wdi_lock(&lock);
    else if (!wdi_lock_try(&lock))
        return;
    for (size_t i = 0; i < count; i++)
        fn(&ring[(head + i) % RING].b);
    wdi_unlock(&lock);
}

void wdi_closed_fork_prepare(void) { wdi_lock(&lock); }
void wdi_closed_fork_parent(void) { wdi_unlock(&lock); }
void wdi_closed_fork_child(void) { wdi_lock_reset(&lock); }
