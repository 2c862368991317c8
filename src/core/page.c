/* page.c -- small objects: size classes, pages and their free lists.
 *
 * Owns: the class tables, the page lists of each small heap, carving pages
 * out of small segments, collecting frees, retiring and decommitting unused
 * pages.  Knows nothing of threads: the caller passes the heap it runs for.
 * Calls: segment.h for segments, os.h to decommit, options.h for the fatal
 * report, counters.h.  Everything here runs on the owning thread, except
 * wdi_page_free_remote and wdi_page_count_live. */
#include "core/page.h"

#include <string.h>

#include "base/counters.h"
#include "base/options.h"
#include "base/tsan.h"
#include "os/os.h"

uint8_t wdi_class_aligned[WD_CLASSES][WD_ALIGNED_SHIFTS];
wd_page_t wdi_page_empty = {.heap = WD_PAGE_UNUSED};

/* Classes: 16-byte steps up to 128, four per power of two up to 1 KiB
 * (160 192 224 256 320 ... 1024: at most 25 % rounding), then eight per
 * power of two up to 64 KiB (1152 1280 ... 65536: at most 12.5 %).  The
 * finer steps above 1 KiB are where the bytes are: sqlite's page cache
 * allocates 1032, 4104 and 4368 bytes, which the four-step classes
 * rounded up by 17 to 25 %.  Up to 16 KiB rather than 8: blocks of 8 to
 * 16 KiB cost about 500 instructions a malloc/free pair in the medium
 * heap and 40 here (bench/suite/aligned: 13.7 % fewer instructions,
 * mstress 3.4 %; peak RSS the same).  Up to 64 KiB since: a page holds
 * two or three blocks of 16-32 KiB, or one above, and what no block reaches
 * is never touched; aligned ran 39 % fewer instructions again, realloc_vec
 * 10 % less peak RSS (docs/design.md).
 *
 * Both directions are constant expressions, so the compiler builds the
 * tables: read-only data, shared by every process, no start-up work (the
 * loop that filled the size-to-class table was 40,000 of the 50,000
 * instructions of the process initialisation), and no thread can read
 * them half-filled. */

/* Class c's size, 1 <= c < WD_CLASSES: the step of a class's power of two
 * is its base / 4 (classes 9 to 20) or base / 8 (21 to 68). */
#define CLASS_SIZE(c)                                                               \
    ((c) <= 8    ? 16u * (c)                                                       \
     : (c) <= 20 ? (128u << ((c) - 9) / 4) + ((c) - 9) % 4 * (32u << ((c) - 9) / 4) + \
                       (32u << ((c) - 9) / 4)                                       \
                 : (1024u << ((c) - 21) / 8) + ((c) - 21) % 8 * (128u << ((c) - 21) / 8) + \
                       (128u << ((c) - 21) / 8))

/* The class of a request of s bytes, 0 <= s <= WD_SMALL_MAX: above 128,
 * s lies in (base, 2 base] with base the power of two below s, and the
 * class is its group's first plus the steps from base to s - 1. */
#define LG(x) (63 - __builtin_clzll(x))
#define GROUP_BASE(s) (1ull << LG((s) - 1))
#define CLASS_OF(s)                                                                  \
    ((s) <= 128    ? ((s) <= 16 ? 1u : ((s) + 15) / 16)                              \
     : (s) <= 1024 ? 9u + 4 * (LG((s) - 1) - 7) + ((s) - 1 - GROUP_BASE(s)) / (GROUP_BASE(s) / 4) \
                   : 21u + 8 * (LG((s) - 1) - 10) + ((s) - 1 - GROUP_BASE(s)) / (GROUP_BASE(s) / 8))

#define SIZE_1(c) CLASS_SIZE(c),
#define SIZE_4(c) SIZE_1(c) SIZE_1(c + 1) SIZE_1(c + 2) SIZE_1(c + 3)
#define SIZE_16(c) SIZE_4(c) SIZE_4(c + 4) SIZE_4(c + 8) SIZE_4(c + 12)
const uint32_t wdi_class_size[WD_CLASSES] = {0, SIZE_16(1) SIZE_16(17) SIZE_16(33) SIZE_16(49)
                                                SIZE_4(65)};

/* Entry i: the class of a request of 16 i bytes, and of the 15 below. */
#define OF16_1(i) (uint8_t)CLASS_OF(16ull * (i)),
#define OF16_4(i) OF16_1(i) OF16_1(i + 1) OF16_1(i + 2) OF16_1(i + 3)
#define OF16_16(i) OF16_4(i) OF16_4(i + 4) OF16_4(i + 8) OF16_4(i + 12)
#define OF16_64(i) OF16_16(i) OF16_16(i + 16) OF16_16(i + 32) OF16_16(i + 48)
#define OF16_256(i) OF16_64(i) OF16_64(i + 64) OF16_64(i + 128) OF16_64(i + 192)
#define OF16_1024(i) OF16_256(i) OF16_256(i + 256) OF16_256(i + 512) OF16_256(i + 768)
const uint8_t wdi_class_of16[WD_SMALL_MAX / 16 + 1] = {
    OF16_1024(0) OF16_1024(1024) OF16_1024(2048) OF16_1024(3072) OF16_1(4096)};

_Static_assert(WD_CLASSES == 69 && CLASS_SIZE(68) == WD_SMALL_MAX, "the classes reach 64 KiB");
_Static_assert(CLASS_OF(WD_SMALL_MAX) == 68 && CLASS_OF(1024) == 20 && CLASS_OF(1025) == 21,
               "the class of a size is the first that holds it");
#undef CLASS_SIZE
#undef LG
#undef GROUP_BASE
#undef CLASS_OF
#undef SIZE_1
#undef SIZE_4
#undef SIZE_16
#undef OF16_1
#undef OF16_4
#undef OF16_16
#undef OF16_64
#undef OF16_256
#undef OF16_1024

void wdi_page_init_classes(void) {
    for (unsigned k = 0; k < WD_ALIGNED_SHIFTS; k++) {
        unsigned next = WD_CLASSES; /* filled from the top down */
        for (unsigned cls = WD_CLASSES - 1; cls >= 1; cls--) {
            if (wdi_class_size[cls] % (32u << k) == 0)
                next = cls;
            wdi_class_aligned[cls][k] = (uint8_t)next;
        }
    }
}

static int list_holds(const wd_page_t *pg, const wd_block_t *list, const void *p) {
    uint32_t steps = pg->capacity;
    for (const wd_block_t *b = list; b != NULL && steps-- > 0; b = wdi_block_decode(pg, b))
        if (b == p)
            return 1;
    return 0;
}

/* p is not a block start, or its first word decodes like a free-list link:
 * then it is a double free if a list of the page holds p.  Run by the owner,
 * which alone changes the page's own list; the remote list only grows at its
 * head, so a snapshot of it is safe to walk. */
void wdi_page_check_live(wd_page_t *pg, const void *p, const wd_small_heap_t *mine,
                         const char *fn) {
    if (wdi_block_misplaced(pg->xstart, pg->xshift, pg->xinv, pg->xreserved, p))
        wdi_fatal("invalid pointer", p, fn);
    if (!wdi_block_looks_free(pg->xkey, p))
        return;
    if (pg->heap != mine)
        wdi_fatal(wdi_freed_what(fn), p, fn); /* not our lists to search: see free_remote */
    const wd_block_t *remote =
        WD_REMOTE_HEAD(atomic_load_explicit(&pg->xthread_free, memory_order_acquire));
    if (list_holds(pg, pg->free, p) || list_holds(pg, remote, p))
        wdi_fatal(wdi_freed_what(fn), p, fn);
}

void wdi_page_free_suspect(wd_small_heap_t *h, wd_page_t *pg, void *p, const char *fn) {
    wdi_page_check_live(pg, p, h, fn);
    wdi_page_push_local(h, pg, p); /* a live block whose data decoded by chance */
}

void wdi_page_corrupt(const wd_page_t *pg, const void *block) {
    (void)pg;
    wdi_fatal("corrupted free list", block, "malloc");
}

/* --- page lists of a heap (doubly linked, heads in the heap) ------------- */

static wd_page_t **list_head(wd_small_heap_t *h, wd_page_t *pg, unsigned list) {
    return list == WD_LIST_AVAIL ? &h->avail[pg->cls] : &h->full[pg->cls];
}

static void list_push(wd_small_heap_t *h, wd_page_t *pg, unsigned list) {
    wd_page_t **head = list_head(h, pg, list);
    pg->prev = NULL;
    pg->next = *head;
    if (*head)
        (*head)->prev = pg;
    *head = pg;
    __atomic_store_n(&pg->list, (uint8_t)list, __ATOMIC_RELAXED);
}

/* The retired list is a FIFO: the oldest unused page is at its head. */
static void retired_append(wd_small_heap_t *h, wd_page_t *pg) {
    pg->next = NULL;
    pg->prev = h->retired_tail;
    if (h->retired_tail)
        h->retired_tail->next = pg;
    else
        h->retired = pg;
    h->retired_tail = pg;
    __atomic_store_n(&pg->list, (uint8_t)WD_LIST_RETIRED, __ATOMIC_RELAXED);
}

static void list_remove(wd_small_heap_t *h, wd_page_t *pg) {
    if (pg->list == WD_LIST_NONE)
        return;
    wd_page_t **head = pg->list == WD_LIST_RETIRED ? &h->retired : list_head(h, pg, pg->list);
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        *head = pg->next;
    if (pg->next)
        pg->next->prev = pg->prev;
    else if (pg->list == WD_LIST_RETIRED)
        h->retired_tail = pg->prev;
    pg->next = pg->prev = NULL;
    __atomic_store_n(&pg->list, (uint8_t)WD_LIST_NONE, __ATOMIC_RELAXED);
}

/* --- carving and collecting ---------------------------------------------- */

#define EXTEND_BYTES 4096
#define EXTEND_MAX (EXTEND_BYTES / 16)

/* harden=2: the order in which n fresh blocks are handed out, shuffled
 * (Fisher-Yates, xorshift64 from the heap's secret), so that where the
 * next block lands cannot be predicted from the previous ones. */
static void order_shuffled(wd_small_heap_t *h, uint16_t *order, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        order[i] = (uint16_t)i;
    for (uint32_t i = n - 1; i > 0; i--) {
        h->rng ^= h->rng << 13;
        h->rng ^= h->rng >> 7;
        h->rng ^= h->rng << 17;
        uint32_t j = (uint32_t)(h->rng % (i + 1));
        uint16_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Carves up to 4 KiB more blocks (at least one) into the free list: pages
 * are touched a little at a time, so a class with few objects costs few
 * resident pages. */
static void page_extend(wd_page_t *pg) {
    uint32_t size = pg->block_size;
    uint32_t n = EXTEND_BYTES / size ? EXTEND_BYTES / size : 1;
    if (n > pg->reserved - pg->capacity)
        n = pg->reserved - pg->capacity;
    uint8_t *first = pg->start + (size_t)pg->capacity * size;
    uint16_t order[EXTEND_MAX];
    const int shuffled = wdi_harden2;
    if (wd_unlikely(shuffled))
        order_shuffled(pg->heap, order, n);
#define EXTEND_AT(i) ((wd_block_t *)(void *)(first + (size_t)(shuffled ? order[i] : (i)) * size))
    wd_block_t *head = EXTEND_AT(0), *b = head;
    for (uint32_t i = 1; i < n; i++) {
        wd_block_t *next = EXTEND_AT(i);
        wdi_block_set_next(pg, b, next);
        b = next;
    }
#undef EXTEND_AT
    wdi_block_set_next(pg, b, NULL);
    /* Published last: a fork() in the middle (another thread) leaves the
     * child a page without the new blocks, not a half-built list. */
    pg->free = head;
    pg->capacity += n;
    pg->span = pg->capacity * size;
}

/* Takes the frees of other threads; returns how many blocks came back.
 * The count comes with the list (WD_REMOTE_COUNT), so when the page's own
 * list is empty, as it is whenever malloc comes here, the list is taken
 * whole and its links are checked one by one as malloc pops them (as the
 * page's own list is).  A count above the blocks handed out means the
 * word was overwritten. */
static uint32_t page_collect_remote(wd_page_t *pg) {
    /* A load first: the exchange is a locked instruction (about 20 cycles
     * even on a line this core holds), and most pages have nothing
     * waiting, every page of a program with one thread. */
    if (atomic_load_explicit(&pg->xthread_free, memory_order_relaxed) == 0)
        return 0;
    uintptr_t word = atomic_exchange_explicit(&pg->xthread_free, 0, memory_order_acquire);
    if (word == 0)
        return 0;
    wd_block_t *head = WD_REMOTE_HEAD(word);
    uint32_t count = WD_REMOTE_COUNT(word);
    if (wd_unlikely(count == 0 || count > pg->used ||
                    (uintptr_t)head - (uintptr_t)pg->start >= pg->span))
        wdi_page_corrupt(pg, head);
    if (pg->free != NULL) {
        /* Both lists hold blocks: the remote one goes first, its tail
         * found by a walk that checks each link on the way. */
        wd_block_t *last = head;
        for (uint32_t i = 1; i < count; i++) {
            wd_block_t *next = wdi_block_decode(pg, last);
            if (wd_unlikely((uintptr_t)next - (uintptr_t)pg->start >= pg->span))
                wdi_page_corrupt(pg, last);
            last = next;
        }
        wdi_block_set_next(pg, last, pg->free);
    }
    pg->free = head;
    pg->used -= count;
    return count;
}

/* Makes pg->free non-empty if anything can; returns 0 when the page is full. */
static int page_refill(wd_page_t *pg) {
    if (pg->free == NULL)
        page_collect_remote(pg);
    if (pg->free == NULL && pg->capacity < pg->reserved)
        page_extend(pg);
    return pg->free != NULL;
}

/* --- pages entering and leaving use -------------------------------------- */

static wd_small_segment_t *segment_of(wd_page_t *pg) {
    return (wd_small_segment_t *)((uintptr_t)pg & ~(uintptr_t)(WD_SEGMENT_SIZE - 1));
}

static wd_small_segment_t *segment_new(wd_small_heap_t *h) {
    wd_small_segment_t *seg = wdi_segment_alloc();
    if (seg == NULL)
        return NULL;
    seg->region.kind = WD_KIND_SMALL;
    wdi_segmap_set_small(seg);
    seg->heap = h;
    seg->free_mask = ~(uint64_t)1; /* page 0 holds this header */
    if (wdi_harden2) /* the last page is the segment's guard */
        seg->free_mask &= ~((uint64_t)1 << (WD_PAGES_PER_SEGMENT - 1));
    /* The descriptors stay as the kernel gave them (zeros: unused,
     * committed) until page_fresh takes their page. */
    seg->next = h->segments;
    /* Released: other threads walk the list (statistics, the map) and must
     * see the header written above once they see the segment. */
    __atomic_store_n(&h->segments, seg, __ATOMIC_RELEASE);
    wdi_stat_add(WD_STAT_COMMITTED, WD_SEGMENT_SIZE);
    return seg;
}

/* A page of h's segments that holds no blocks; prefers one still committed
 * (a recently retired page costs no page faults). */
static wd_page_t *page_unused(wd_small_heap_t *h) {
    if (h->retired_tail != NULL && !h->retired_tail->decommitted)
        return h->retired_tail;
    for (wd_small_segment_t *seg = h->segments; seg; seg = seg->next)
        if (seg->free_mask != 0)
            return &seg->pages[__builtin_ctzll(seg->free_mask)];
    wd_small_segment_t *seg = segment_new(h);
    return seg ? &seg->pages[1] : NULL;
}

/* How far back page_kept looks among the retired pages. */
#define KEPT_LOOK 8

/* One of the latest retired pages that was of class cls: it keeps its
 * blocks carved and listed (page_retire), so it comes back as it was.  A
 * program whose rounds free everything and allocate it again (a page that
 * is not its class's current one is retired when it empties) took a
 * page_extend for every 4 KiB of every round: a fifth of the allocator's
 * instructions in rounds of 2,000 blocks of 1..1000 bytes. */
static wd_page_t *page_kept(wd_small_heap_t *h, unsigned cls) {
    unsigned n = 0;
    for (wd_page_t *pg = h->retired_tail; pg != NULL && n < KEPT_LOOK; pg = pg->prev, n++)
        if (pg->cls == cls && pg->capacity != 0 && !pg->decommitted)
            return pg;
    return NULL;
}

/* Takes pg out of the unused pages of its segment and gives it to h. */
static void page_take(wd_small_heap_t *h, wd_page_t *pg) {
    wd_small_segment_t *seg = segment_of(pg);
    list_remove(h, pg);
    seg->free_mask &= ~((uint64_t)1 << (pg - seg->pages));
    seg->used_pages++;
    __atomic_store_n(&pg->heap, h, __ATOMIC_RELAXED); /* page_notify_owner reads it */
}

static wd_page_t *page_fresh(wd_small_heap_t *h, unsigned cls) {
    wd_page_t *pg = page_kept(h, cls);
    if (pg != NULL) {
        page_take(h, pg); /* its blocks, key and class are as they were */
        return pg;
    }
    pg = page_unused(h);
    if (pg == NULL)
        return NULL;
    wd_small_segment_t *seg = segment_of(pg);
    unsigned index = (unsigned)(pg - seg->pages);
    page_take(h, pg);
    if (pg->decommitted) {
        pg->decommitted = 0;
        wdi_stat_add(WD_STAT_COMMITTED, WD_PAGE_SIZE);
    }
    pg->start = (uint8_t *)seg + ((size_t)index << WD_PAGE_SHIFT);
    pg->cls = (uint8_t)cls;
    pg->block_size = wdi_class_size[cls];
    pg->reserved = (uint32_t)(WD_PAGE_SIZE / pg->block_size);
    pg->shift = pg->xshift = (uint8_t)__builtin_ctz(pg->block_size);
    pg->inv = pg->xinv = wd_inverse_odd(pg->block_size >> pg->shift);
    pg->xblock_size = pg->block_size;
    pg->xreserved = pg->reserved;
    pg->xstart = pg->start;
    pg->xspan = pg->reserved * pg->block_size;
    pg->capacity = pg->span = pg->used = 0;
    pg->free = NULL;
    atomic_store_explicit(&pg->xthread_free, 0, memory_order_relaxed);
    /* Through a multiply, so that one page's key leaked does not give the
     * keys of the heap's other pages (an XOR with a public multiple of the
     * address would). */
    uint64_t key = ((uint64_t)(uintptr_t)pg ^ h->secret) * 0x9E3779B97F4A7C15ULL;
    pg->key = pg->xkey = (uintptr_t)(key ^ (key >> 29));
    page_extend(pg);
    return pg;
}

/* pg holds no live block: give it back to its segment, memory still
 * committed, its blocks still listed for page_kept; wdi_page_decommit_idle
 * returns it to the OS decommit_ms later.
 * Not sooner: programs that free most of their memory between phases and
 * allocate it again (sqlite) would fault every page in again.  A first
 * version also returned all but 32 idle pages at once: sqlite took 146 k
 * page faults with it, 94.5 k without (glibc 84 k). */
static void page_retire(wd_small_heap_t *h, wd_page_t *pg) {
    wd_small_segment_t *seg = segment_of(pg);
    list_remove(h, pg);
    __atomic_store_n(&pg->heap, WD_PAGE_UNUSED, __ATOMIC_RELAXED); /* as in page_fresh */
    seg->free_mask |= (uint64_t)1 << (pg - seg->pages);
    seg->used_pages--;
    pg->retired_ms = (uint32_t)wdi_os_now_ms();
    retired_append(h, pg);
}

void wdi_page_emptied(wd_small_heap_t *h, wd_page_t *pg) {
    if (h->current[pg->cls] != pg)
        page_retire(h, pg);
}

void wdi_page_unfull(wd_small_heap_t *h, wd_page_t *pg) {
    list_remove(h, pg);
    list_push(h, pg, WD_LIST_AVAIL);
}

/* Tells the owner that a page it set aside as full has free blocks again,
 * so it is found without scanning the full list.  The read of pg->list
 * races with the owner; a missed notice only delays the page until the
 * owner's bounded scan of its full list finds it. */
static void page_notify_owner(wd_page_t *pg) {
    if (__atomic_load_n(&pg->list, __ATOMIC_RELAXED) != WD_LIST_FULL ||
        atomic_load_explicit(&pg->xnotified, memory_order_relaxed) != 0 ||
        atomic_exchange_explicit(&pg->xnotified, 1, memory_order_acq_rel) != 0)
        return; /* not set aside, or already reported: no locked operation */
    /* The owner may have taken the block back and retired the page since
     * the push (a thread's exit retires every page it leaves empty): then
     * nobody is to be told, and the page's owner is the mark of a retired
     * page, no heap.  Pages never move to another heap, and a heap's
     * memory is never given back, so a heap read here stays one. */
    wd_small_heap_t *h = __atomic_load_n(&pg->heap, __ATOMIC_RELAXED);
    if (wd_unlikely((uintptr_t)h <= (uintptr_t)WD_PAGE_UNUSED)) {
        atomic_store_explicit(&pg->xnotified, 0, memory_order_release);
        return;
    }
    wd_page_t *head = atomic_load_explicit(&h->xpages, memory_order_relaxed);
    do {
        pg->xnext = head;
    } while (!atomic_compare_exchange_weak_explicit(&h->xpages, &head, pg, memory_order_release,
                                                    memory_order_relaxed));
}

/* Pushes b onto pg's list of remote frees, and tells the owner. */
static WD_ALWAYS_INLINE void remote_push(wd_page_t *pg, wd_block_t *b) {
    uintptr_t word = atomic_load_explicit(&pg->xthread_free, memory_order_relaxed), next;
    do {
        /* as wdi_block_set_next, from line 2 */
        b->next = (uintptr_t)WD_REMOTE_HEAD(word) ^ pg->xkey ^ (uintptr_t)b;
        next = ((uintptr_t)WD_REMOTE_COUNT(word) + 1) << WD_REMOTE_SHIFT | (uintptr_t)b;
    } while (!atomic_compare_exchange_weak_explicit(&pg->xthread_free, &word, next,
                                                    memory_order_release, memory_order_relaxed));
    page_notify_owner(pg);
}

void wdi_page_free_remote(wd_page_t *pg, wd_block_t *b) {
    if (wd_unlikely(wdi_page_unused(pg)))
        wdi_fatal("invalid pointer", b, "free");
#if WD_HARDEN
    /* From line 2 only.  Not confirmed against the lists (they are the
     * owner's): a live block decodes into its page by chance with a
     * probability of about 2^-47. */
    if (wd_unlikely(wdi_block_misplaced(pg->xstart, pg->xshift, pg->xinv, pg->xreserved, b)))
        wdi_fatal("invalid pointer", b, "free");
    if (wd_unlikely(wdi_block_looks_free(pg->xkey, b)))
        wdi_fatal("double free", b, "free");
#endif
    remote_push(pg, b);
}

void wdi_page_push_remote(wd_page_t *pg, wd_block_t *b) { remote_push(pg, b); }

/* Moves the pages other threads reported back from the full list. */
static void page_drain_notices(wd_small_heap_t *h) {
    wd_page_t *pg = atomic_exchange_explicit(&h->xpages, NULL, memory_order_acquire);
    while (pg != NULL) {
        wd_page_t *next = pg->xnext;
        atomic_store_explicit(&pg->xnotified, 0, memory_order_release);
        if (pg->list == WD_LIST_FULL && pg->heap == h)
            wdi_page_unfull(h, pg);
        pg = next;
    }
}

/* --- the slow path --------------------------------------------------------- */

/* Looks at up to `budget` full pages for frees made by other threads. */
static wd_page_t *page_from_full(wd_small_heap_t *h, unsigned cls, unsigned budget) {
    wd_page_t *pg = h->full[cls];
    while (pg != NULL && budget-- > 0) {
        wd_page_t *next = pg->next;
        if (page_collect_remote(pg) != 0) {
            list_remove(h, pg);
            return pg;
        }
        pg = next;
    }
    return NULL;
}

void *wdi_page_malloc_slow(wd_small_heap_t *h, unsigned cls) {
    if (atomic_load_explicit(&h->xpages, memory_order_relaxed) != NULL)
        page_drain_notices(h);
    wd_page_t *pg = h->current[cls];
    if (pg != &wdi_page_empty) {
        if (page_refill(pg))
            return wdi_page_pop(pg, pg->free);
        list_push(h, pg, WD_LIST_FULL);
        h->current[cls] = &wdi_page_empty;
    }
    while ((pg = h->avail[cls]) != NULL) {
        list_remove(h, pg);
        if (page_refill(pg))
            break;
        list_push(h, pg, WD_LIST_FULL);
    }
    if (pg == NULL)
        pg = page_from_full(h, cls, 8);
    if (pg == NULL)
        pg = page_fresh(h, cls);
    if (pg == NULL)
        return NULL;
    h->current[cls] = pg;
    if (wd_unlikely(cls >= h->top_end))
        h->top_end = (uint8_t)(cls + 1);
    return wdi_page_pop(pg, pg->free);
}

/* --- heaps: a new one, thread exit, trim, decommit, counting ---------------- */

void wdi_small_heap_init(wd_small_heap_t *h) {
    memset(h, 0, sizeof *h);
    for (unsigned c = 0; c < WD_CLASSES; c++)
        h->current[c] = &wdi_page_empty;
    h->secret = wdi_os_random();
    h->rng = h->secret | 1;
    /* sample_left = 0: the first malloc asks the sampler for a countdown. */
}

static void page_settle(wd_small_heap_t *h, wd_page_t *pg) {
    page_refill(pg);
    if (pg->used == 0)
        page_retire(h, pg);
}

void wdi_page_collect_all(wd_small_heap_t *h, int release_empty) {
    for (unsigned cls = 1; cls < WD_CLASSES; cls++) {
        wd_page_t *pg = h->current[cls];
        h->current[cls] = &wdi_page_empty;
        if (pg != &wdi_page_empty)
            list_push(h, pg, WD_LIST_AVAIL);
        if (!release_empty)
            continue;
        for (unsigned list = WD_LIST_AVAIL; list <= WD_LIST_FULL; list++) {
            wd_page_t *next;
            for (pg = list == WD_LIST_AVAIL ? h->avail[cls] : h->full[cls]; pg; pg = next) {
                next = pg->next;
                page_settle(h, pg);
            }
        }
    }
}

/* Pages leave the retired list either way (they stay unused in their
 * segment, and read back as zeros); oldest first, so the walk stops at the
 * first page retired too recently. */
size_t wdi_page_decommit_idle(wd_small_heap_t *h, uint32_t now_ms, uint32_t delay_ms) {
    size_t total = 0;
    for (wd_page_t *pg = h->retired; pg != NULL;) {
        wd_page_t *next = pg->next;
        if (delay_ms != 0 && (uint32_t)(now_ms - pg->retired_ms) < delay_ms)
            break;
        size_t released = 0;
        if (!pg->decommitted && wdi_os_decommit(pg->start, WD_PAGE_SIZE, &released) == 0) {
            pg->decommitted = 1;
            wdi_stat_sub(WD_STAT_COMMITTED, WD_PAGE_SIZE);
            wdi_stat_add(WD_STAT_RETURNED, released);
            total += released;
        }
        list_remove(h, pg); /* no longer page_kept's: its bytes may be zeros now */
        pg->free = NULL;
        pg->capacity = pg->span = 0;
        pg = next;
    }
    return total;
}

/* Statistics read other threads' pages without their owners' consent: the
 * counts may be a moment old (the owners' writes are plain, to keep them
 * off every malloc and free, so TSan is told to leave this reader alone),
 * and the walk itself is safe: segments are only ever added at a list's
 * head, never freed. */
WD_TSAN_UNCHECKED void wdi_page_count_live(const wd_small_heap_t *h, size_t *blocks,
                                           size_t *bytes) {
    for (const wd_small_segment_t *seg = wdi_small_segments(h); seg; seg = seg->next) {
        for (unsigned i = 1; i < WD_PAGES_PER_SEGMENT; i++) {
            const wd_page_t *pg = &seg->pages[i];
            if (!wdi_page_unused(pg)) {
                /* Less what other threads freed and the owner has not
                 * taken back yet (the list's length is in its head). */
                uintptr_t word = atomic_load_explicit(&pg->xthread_free, memory_order_relaxed);
                uint32_t live = pg->used - WD_REMOTE_COUNT(word);
                *blocks += live;
                *bytes += (size_t)live * pg->block_size;
            }
        }
    }
}

/* --- looking from outside ------------------------------------------------------ */

WD_TSAN_UNCHECKED static uint8_t page_state(const wd_small_segment_t *seg, const wd_page_t *pg,
                                             unsigned i) {
    if (i == 0)
        return WD_PAGE_META;
    if (wdi_harden2 && i == WD_PAGES_PER_SEGMENT - 1)
        return WD_PAGE_GUARD;
    if (wdi_page_unused(pg) || (seg->free_mask >> i & 1))
        return pg->decommitted ? WD_PAGE_RETURNED : WD_PAGE_IDLE;
    return WD_PAGE_IN_USE;
}

/* Racy reads, as in wdi_page_count_live; a page caught while its owner
 * changes it may show a count from before and a class from after. */
WD_TSAN_UNCHECKED void wdi_page_segment_info(const wd_small_segment_t *seg,
                                             wd_page_info_t out[WD_PAGES_PER_SEGMENT]) {
    for (unsigned i = 0; i < WD_PAGES_PER_SEGMENT; i++) {
        const wd_page_t *pg = &seg->pages[i];
        wd_page_info_t *info = &out[i];
        memset(info, 0, sizeof *info);
        info->state = page_state(seg, pg, i);
        if (info->state != WD_PAGE_IN_USE)
            continue;
        info->cls = pg->cls;
        info->block_size = pg->block_size;
        info->used = pg->used;
        info->capacity = pg->capacity;
        info->reserved = pg->reserved;
        if (info->used > info->reserved) /* torn read: a count from another moment */
            info->used = info->reserved;
    }
}

WD_TSAN_UNCHECKED void wdi_page_heap_summary(const wd_small_heap_t *h, wd_small_summary_t *sum) {
    wd_page_info_t info[WD_PAGES_PER_SEGMENT];
    for (const wd_small_segment_t *seg = wdi_small_segments(h); seg; seg = seg->next) {
        sum->segments++;
        wdi_page_segment_info(seg, info);
        for (unsigned i = 0; i < WD_PAGES_PER_SEGMENT; i++) {
            if (info[i].state == WD_PAGE_IDLE)
                sum->pages_idle++;
            else if (info[i].state == WD_PAGE_RETURNED)
                sum->pages_returned++;
            if (info[i].state != WD_PAGE_IN_USE || info[i].cls >= WD_CLASSES)
                continue;
            sum->pages_in_use++;
            wd_class_count_t *c = &sum->cls[info[i].cls];
            c->pages++;
            c->blocks += info[i].used;
            c->reserved += info[i].reserved;
        }
    }
}
