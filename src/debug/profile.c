/* profile.c -- owns the heap profiler (profile.h): the samples' table, the
 * sites' counters, the signal, when and where to dump.  Calls:
 * profile_out.h (writing the files), sample.h, stack.h, thread.h (a
 * ticker thread for the signal's dump; the heaps' countdowns), page.h
 * (their slots), raw.h (the hook that says a heap's slot grew), large.h
 * and segment.h (a large block's sample in its header), os.h, ownmem.h,
 * lock.h, options.h. */
#define _GNU_SOURCE
#include "debug/profile.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/options.h"
#include "base/ownmem.h"
#include "core/large.h"
#include "core/page.h"
#include "core/raw.h"
#include "core/segment.h"
#include "core/thread.h"
#include "debug/profile_out.h"
#include "debug/sample.h"
#include "debug/stack.h"
#include "os/os.h"
#include "warden.h"

int wdi_profiling;

/* --- sites: what the samples of one stack stand for ------------------------- */

/* A fixed table of 2^17 sites (5 MiB of address space, mapped with the
 * first sample; a page becomes memory when a site lands in it), found by
 * stack id with linear probing; a slot is claimed with one
 * compare-and-swap and never freed, so no lock.  The counters only grow:
 * in use is allocated less freed.  A stack the depot could not keep, or
 * one more site than the table holds, is counted in the last slot, which
 * the dump names as such.  The slots claimed are listed in the order they
 * were (each index + 1, written after the claim: 0 while it is being
 * written), in the same mapping after the table, so that a dump reads the
 * sites that have samples and not the whole table: reading its 5 MiB
 * twice made some 80,000 cache misses of every dump at exit. */
#define SITES_LG 17
#define SITES ((size_t)1 << SITES_LG)
#define SITE_LOST ((uint32_t)SITES) /* the extra slot at the end */
#define SITES_BYTES ((SITES + 1) * sizeof(wdi_prof_site_t))

static _Atomic(wdi_prof_site_t *) sites;
static _Atomic(size_t) sites_listed;

static _Atomic(uint32_t) *site_list(wdi_prof_site_t *tab) {
    return (_Atomic(uint32_t) *)(void *)((uint8_t *)tab + SITES_BYTES);
}

static wdi_prof_site_t *sites_map(void) {
    wdi_prof_site_t *have = atomic_load_explicit(&sites, memory_order_acquire);
    if (wd_likely(have != NULL))
        return have;
    size_t bytes = wd_align_up(SITES_BYTES + SITES * sizeof(uint32_t), wdi_os_page_size());
    void *mem;
    if (wdi_os_map(bytes, &mem) != 0)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(&sites, &have, (wdi_prof_site_t *)mem,
                                                memory_order_acq_rel, memory_order_acquire)) {
        wdi_own_add(mem, bytes);
        return mem;
    }
    wdi_os_unmap(mem, bytes); /* another thread mapped it first */
    return have;
}

/* The slot of stack id (claimed now when new). */
static uint32_t site_of(wdi_prof_site_t *tab, uint32_t id) {
    if (id == 0)
        return SITE_LOST;
    size_t i = (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15u) >> (64 - SITES_LG));
    for (size_t probes = 0; probes < SITES; probes++, i = (i + 1) & (SITES - 1)) {
        uint32_t have = atomic_load_explicit(&tab[i].id, memory_order_acquire);
        if (have == 0 &&
            atomic_compare_exchange_strong_explicit(&tab[i].id, &have, id, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            size_t k = atomic_fetch_add_explicit(&sites_listed, 1, memory_order_relaxed);
            atomic_store_explicit(&site_list(tab)[k], (uint32_t)i + 1, memory_order_release);
            return (uint32_t)i;
        }
        if (have == id)
            return (uint32_t)i;
    }
    return SITE_LOST;
}

/* Adds what sample w stands for to its site's allocated or freed counts
 * (undo: takes it off again). */
static void site_count(const wdi_prof_sample_t *w, int freed, int undo) {
    wdi_prof_site_t *s = &atomic_load_explicit(&sites, memory_order_acquire)[w->site];
    uint64_t n = w->count, b = w->bytes;
    _Atomic(uint64_t) *cn = freed ? &s->free_n : &s->alloc_n;
    _Atomic(uint64_t) *cb = freed ? &s->free_b : &s->alloc_b;
    if (undo) {
        atomic_fetch_sub_explicit(cn, n, memory_order_relaxed);
        atomic_fetch_sub_explicit(cb, b, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(cn, n, memory_order_relaxed);
        atomic_fetch_add_explicit(cb, b, memory_order_relaxed);
    }
}

/* --- samples: the blocks sampled and not freed ------------------------------ */

/* 64 stripes by the pointer's hash, each an open-addressing table of its
 * own under its own lock (linear probing, deletion by moving the entries
 * after the hole back, so no tombstones), mapped from the OS and doubled
 * when half full.  count is read without the lock by every slow free:
 * zero means the stripe has no sample, the common case, decided with one
 * load.  (It cannot read zero while p's own sample is there: the insert
 * happened before the program could hand p to the free.) */
#define STRIPES 64
#define STRIPE_FIRST_LG 9 /* 512 entries, 16 KiB, at a stripe's first sample */

typedef struct entry_s {
    uintptr_t p; /* 0: empty */
    wdi_prof_sample_t s;
} entry_t;

typedef struct stripe_s {
    wd_lock_t lock;
    _Atomic(size_t) count;
    entry_t *slots;
    unsigned lg; /* 2^lg slots */
} __attribute__((aligned(64))) stripe_t;

static stripe_t stripes[STRIPES];

static uint64_t ptr_hash(uintptr_t p) { return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15u; }

static stripe_t *stripe_of(uintptr_t p) { return &stripes[ptr_hash(p) >> 58]; }

/* Where p's probe starts in a table of 2^lg slots: the hash's bits below
 * the stripe's six. */
static size_t home_of(uintptr_t p, unsigned lg) { return (size_t)((ptr_hash(p) << 6) >> (64 - lg)); }

static size_t slots_bytes(unsigned lg) {
    return wd_align_up(((size_t)1 << lg) * sizeof(entry_t), wdi_os_page_size());
}

static void slot_put(entry_t *slots, unsigned lg, const entry_t *e) {
    size_t mask = ((size_t)1 << lg) - 1;
    size_t i = home_of(e->p, lg);
    while (slots[i].p != 0)
        i = (i + 1) & mask;
    slots[i] = *e;
}

/* Doubles the stripe's table (or maps its first); 0 on success.  The lock
 * is held; mapping makes no call into the allocator. */
static int stripe_grow(stripe_t *st) {
    unsigned lg = st->slots != NULL ? st->lg + 1 : STRIPE_FIRST_LG;
    void *mem;
    if (wdi_os_map(slots_bytes(lg), &mem) != 0)
        return -1;
    if (st->slots != NULL) {
        for (size_t i = 0; i < ((size_t)1 << st->lg); i++)
            if (st->slots[i].p != 0)
                slot_put(mem, lg, &st->slots[i]);
        wdi_own_remove(st->slots);
        wdi_os_unmap(st->slots, slots_bytes(st->lg));
    }
    wdi_own_add(mem, slots_bytes(lg));
    st->slots = mem;
    st->lg = lg;
    return 0;
}

static int sample_insert(const entry_t *e) {
    stripe_t *st = stripe_of(e->p);
    wdi_lock(&st->lock);
    size_t count = atomic_load_explicit(&st->count, memory_order_relaxed);
    if ((st->slots == NULL || (count + 1) * 2 > ((size_t)1 << st->lg)) && stripe_grow(st) != 0) {
        wdi_unlock(&st->lock);
        return -1;
    }
    slot_put(st->slots, st->lg, e);
    atomic_store_explicit(&st->count, count + 1, memory_order_relaxed);
    wdi_unlock(&st->lock);
    return 0;
}

/* Removes p's entry into *out; 0 when p has none. */
static int sample_remove(uintptr_t p, entry_t *out) {
    stripe_t *st = stripe_of(p);
    if (atomic_load_explicit(&st->count, memory_order_relaxed) == 0)
        return 0;
    wdi_lock(&st->lock);
    size_t mask = ((size_t)1 << st->lg) - 1;
    size_t i = st->slots != NULL ? home_of(p, st->lg) : 0;
    while (st->slots != NULL && st->slots[i].p != 0 && st->slots[i].p != p)
        i = (i + 1) & mask;
    if (st->slots == NULL || st->slots[i].p != p) {
        wdi_unlock(&st->lock);
        return 0;
    }
    *out = st->slots[i];
    /* Knuth's deletion for linear probing: an entry after the hole whose
     * home is not cyclically in (hole, entry] moves into the hole. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (st->slots[j].p == 0)
            break;
        size_t k = home_of(st->slots[j].p, st->lg);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        st->slots[i] = st->slots[j];
        i = j;
    }
    st->slots[i].p = 0;
    atomic_store_explicit(&st->count, atomic_load_explicit(&st->count, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    wdi_unlock(&st->lock);
    return 1;
}

/* --- samples of large blocks: in their own headers --------------------------- */

_Static_assert(sizeof(wdi_prof_sample_t) <= sizeof(((wd_large_t *)0)->note),
               "a sample fits a large block's note");

/* p's slot for its sample when p is a large block (count 0: none), in the
 * header its free reads anyway: neither the sample's free nor the free of
 * a large block that has none goes to the table (its hash, its stripe's
 * count, often its lock); NULL when p is not a large block's payload. */
static wdi_prof_sample_t *note_of(const void *p, wd_region_t *r) {
    if (r == NULL || r->kind != WD_KIND_LARGE)
        return NULL;
    wd_large_t *l = (wd_large_t *)r;
    if ((const uint8_t *)l + l->offset != (const uint8_t *)p)
        return NULL; /* not a block: the free will say so */
    return (wdi_prof_sample_t *)(void *)l->note;
}

/* Takes the sample out of note into *out; 0 when it holds none (or a
 * site no sample has: the header was overwritten, and the free that
 * follows checks it). */
static int note_take(wdi_prof_sample_t *note, wdi_prof_sample_t *out) {
    if (note->count == 0)
        return 0;
    *out = *note;
    note->count = 0;
    return out->site <= SITE_LOST;
}

/* p's sample, if it has one, out of the header or the table into *out:
 * 1 when there was one.  A small block (not wrapped) has none: sampled
 * blocks are placed apart from the small pages. */
static int sample_take(const void *p, wdi_prof_sample_t *out) {
    wd_region_t *r = wdi_region_of(p);
    wdi_prof_sample_t *note = note_of(p, r);
    if (note != NULL)
        return note_take(note, out);
    if (r != NULL && r->kind == WD_KIND_SMALL && !wdi_wrapped())
        return 0;
    entry_t e;
    if (!sample_remove((uintptr_t)p, &e))
        return 0;
    *out = e.s;
    return 1;
}

/* Keeps p's sample: in its header when p is a large block, else in the
 * table; -1 when there was no room. */
static int sample_keep(const void *p, const wdi_prof_sample_t *s) {
    wdi_prof_sample_t *note = note_of(p, wdi_region_of(p));
    if (note != NULL) {
        *note = *s;
        return 0;
    }
    entry_t e = {(uintptr_t)p, *s};
    return sample_insert(&e);
}

/* --- dumps ------------------------------------------------------------------- */

static pid_t prof_pid; /* the process that read the options */

/* The files' prefix for a dump of this process: PREFIX, or PREFIX.PID in a
 * fork child, which must not overwrite its parent's profile. */
static void prefix_here(char *buf, size_t cap) {
    if (getpid() == prof_pid)
        wdi_fmt(buf, cap, "%s", wdi_options.profile);
    else
        wdi_fmt(buf, cap, "%s.%d", wdi_options.profile, (int)getpid());
}

static int dump(const char *prefix) {
    wdi_prof_site_t *tab = atomic_load_explicit(&sites, memory_order_acquire);
    if (tab == NULL)
        return wdi_prof_write(prefix, NULL, NULL, 0, SITE_LOST);
    size_t n = atomic_load_explicit(&sites_listed, memory_order_relaxed);
    return wdi_prof_write(prefix, tab, site_list(tab), n < SITES ? n : SITES, SITE_LOST);
}

/* Signals seen and not dumped yet (profile_signal): the handler only
 * counts; the next sample, in whatever thread, dumps (a dump takes locks
 * and starts a process: nothing a handler may do), or a ticker thread
 * within SIGNAL_POLL_MS when the program allocates nothing meanwhile.  The n-th such dump
 * writes PREFIX.n.prof ..., so that the one at exit does not replace it. */
static _Atomic(unsigned) signals_pending;
static _Atomic(unsigned) signal_dumps;

WD_NOINLINE static void dump_signalled(void) {
    if (atomic_exchange_explicit(&signals_pending, 0, memory_order_relaxed) == 0)
        return; /* another thread took it */
    unsigned seq = atomic_fetch_add_explicit(&signal_dumps, 1, memory_order_relaxed) + 1;
    char base[WD_OPTION_STR_MAX + 16], prefix[WD_OPTION_STR_MAX + 32];
    prefix_here(base, sizeof base);
    wdi_fmt(prefix, sizeof prefix, "%s.%zu", base, (size_t)seq);
    dump(prefix);
}

/* --- the hooks ---------------------------------------------------------------- */

/* The calling thread's memory of its latest stacks, kept with its heap
 * (a loop that allocates from one place is sampled from one stack again
 * and again: a memo hit compares some words where a walk costs hundreds
 * of instructions); NULL without a heap. */
static wd_stack_memo_t *memo_here(void) {
    wd_theap_t *h = wdi_tl_home;
    if (h == NULL)
        return NULL;
    if (wd_unlikely(h->prof_memo == NULL))
        h->prof_memo = wdi_stack_memo_new();
    return h->prof_memo;
}

void wdi_prof_alloc(void *p, size_t size, size_t chance) {
    int saved = errno;
    wdi_prof_site_t *tab = sites_map();
    if (tab != NULL) {
        /* The whole stack, warden's frames included (the dump drops them). */
        uint32_t id = wdi_stack_id_here(memo_here(), 0, WD_STACK_MAX, WD_STACK_MAX, 0, 0);
        wdi_prof_sample_t w = {size, 0, 0, site_of(tab, id)};
        uint64_t count;
        wdi_sample_weight(size, chance, &count, &w.bytes);
        w.count = count < UINT32_MAX ? (uint32_t)count : UINT32_MAX;
        site_count(&w, 0, 0);
        if (sample_keep(p, &w) != 0)
            site_count(&w, 1, 0); /* no room to follow it: counted as freed */
    }
    if (wd_unlikely(atomic_load_explicit(&signals_pending, memory_order_relaxed) != 0))
        dump_signalled();
    errno = saved;
}

void wdi_prof_free(void *p) {
    wdi_prof_sample_t w;
    if (sample_take(p, &w))
        site_count(&w, 1, 0);
}

int wdi_prof_take(const void *p, wdi_prof_sample_t *out) {
    if (!sample_take(p, out))
        return 0;
    site_count(out, 1, 0);
    return 1;
}

void wdi_prof_put_back(const void *p, const wdi_prof_sample_t *s) {
    if (sample_keep(p, s) == 0)
        site_count(s, 1, 1); /* the free is undone */
}

/* --- the small countdown's slot ----------------------------------------------- */

size_t wdi_prof_slot(const wd_theap_t *h) {
    size_t top = h->small.top_end != 0 ? wdi_class_size[h->small.top_end - 1] : 0;
    return top < WDI_PROF_SLOT_MAX ? top : WDI_PROF_SLOT_MAX;
}

void wdi_prof_redraw(wd_theap_t *h) {
    intptr_t n = wdi_sample_profile_next(&h->small.rng, wdi_prof_slot(h));
    h->small.guard_left -= h->small.prof_drawn - h->small.sample_left; /* mallocs so far */
    h->small.prof_drawn = n;
    h->small.allocs_base += (size_t)(n - h->small.sample_left);
    h->small.sample_left = n;
    h->small.prof_end = h->small.top_end;
}

/* --- options, signal, exit, fork -------------------------------------------------- */

void wdi_prof_init(void) {
    wdi_profiling = wdi_options.profile[0] != '\0';
    prof_pid = getpid();
    __atomic_store_n(&wdi_raw_class_grew, wdi_profiling ? wdi_prof_redraw : NULL,
                     __ATOMIC_RELAXED);
}

static void on_signal(int sig) {
    (void)sig;
    atomic_fetch_add_explicit(&signals_pending, 1, memory_order_relaxed);
}

/* An idle program (a server waiting for requests) still gets its dump. */
#define SIGNAL_POLL_MS 50

static void signal_tick(void) {
    if (atomic_load_explicit(&signals_pending, memory_order_relaxed) != 0)
        dump_signalled();
}

void wdi_prof_start(void) {
    int sig = (int)wdi_options.profile_signal;
    if (sig > 0 && sig < NSIG) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) != 0)
            wdi_print_line(2, "warden: profile_signal=%d: no handler could be installed", sig);
        else if (wdi_ticker_start(signal_tick, SIGNAL_POLL_MS, 1) != 0)
            wdi_print_line(2, "warden: profile_signal=%d: no thread to dump while idle", sig);
    }
    atexit(wdi_prof_at_exit);
}

void wdi_prof_at_exit(void) {
    char prefix[WD_OPTION_STR_MAX + 16];
    prefix_here(prefix, sizeof prefix);
    dump(prefix);
}

int wd_profile_dump(const char *prefix) {
    if (!wdi_prof_on()) {
        errno = EINVAL;
        return -1;
    }
    char own[WD_OPTION_STR_MAX + 16];
    if (prefix == NULL) {
        prefix_here(own, sizeof own);
        prefix = own;
    }
    int err = dump(prefix);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

void wdi_prof_fork_prepare(void) {
    for (int i = 0; i < STRIPES; i++)
        wdi_lock(&stripes[i].lock);
}

void wdi_prof_fork_parent(void) {
    for (int i = 0; i < STRIPES; i++)
        wdi_unlock(&stripes[i].lock);
}

void wdi_prof_fork_child(void) {
    for (int i = 0; i < STRIPES; i++)
        wdi_lock_reset(&stripes[i].lock);
    wdi_prof_write_fork_child();
}
