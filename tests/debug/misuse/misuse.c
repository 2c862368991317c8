/* tests/debug/misuse/misuse.c -- heap misuse through the standard names: every
 * case is one misuse (double free, interior, foreign or misaligned pointer,
 * wrong size or alignment, overflow into a header, write after free into a
 * free list ...) that warden must stop with one exact line
 *
 *     warden: <what> at <address> in <function>
 *
 * and abort().  The same program runs
 *   - linked with libwarden.a (misuse_static), preloaded with libwarden.so
 *     (misuse_preload), or through the wd_ names (misuse_wd, built with
 *     MISUSE_WD_NAMES, also in the sanitizer build): ctest runs these;
 *   - under any other allocator, one case at a time (peers.sh):
 *         misuse_cases --list        the case names, one a line
 *         misuse_cases --describe    name, kind (case/gap) and what warden says
 *         misuse_cases NAME          runs that one case in this process and
 *                                    exits 0 when nothing stopped it, 77 when
 *                                    it does not apply here (n/a)
 *         misuse_cases [--verbose]   the test: every case in a forked child
 *
 * In the test every case runs in a child whose stderr is piped back; just
 * before the misuse the child writes the line it expects on another pipe
 * (the parent cannot know the addresses), and the parent requires SIGABRT
 * and stderr == that line, byte for byte, address included.
 *
 * With WARDEN_OPTIONS=harden=2 in the environment (misuse_*_harden2) the
 * same cases run against the stronger level: where it catches a misuse
 * earlier or otherwise (a canary, the quarantine's pattern, a guard page)
 * the case expects that report instead, and the gaps it closes (flag
 * H2_CAUGHT) become cases.  A guard page stops the program with SIGSEGV
 * and no line: expect_fault().
 *
 * Expected gaps are misuse warden does not catch yet.  They stay in the
 * table, marked GAP with what is missed, and the test asserts that they
 * still go unnoticed (exit 0, no `warden:` line): when one starts being
 * caught, the test fails until it is moved to the cases, so the list in
 * docs/security.md stays honest. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include "misuse.h"
#include "test.h"

#ifdef MISUSE_WD_NAMES
/* The wd_ names: the same cases without the override (sanitizer build). */
#include "warden.h"
#define malloc wd_malloc
#define calloc wd_calloc
#define realloc wd_realloc
#define free wd_free
#define aligned_alloc wd_aligned_alloc
#define malloc_usable_size wd_malloc_usable_size
#define malloc_trim wd_trim
#define free_sized wd_free_sized
#define free_aligned_sized wd_free_aligned_sized
#define HAVE_FREE_SIZED() 1
#define VARIANT "wd_ names"
#else
/* C23, not in glibc 2.36's headers.  Weak, so that the program also starts
 * where nothing defines them (glibc, jemalloc ...): those cases are n/a. */
void free_sized(void *p, size_t size) __attribute__((weak));
void free_aligned_sized(void *p, size_t alignment, size_t size) __attribute__((weak));
#define HAVE_FREE_SIZED() (free_sized != NULL && free_aligned_sized != NULL)
#define VARIANT "standard names"
#endif

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)
#define SMALL 40             /* a 48-byte class block */
#define MEDIUM ((size_t)100000)
#define LARGE (8 * MiB)
#define MEDIUM_SAME_LIST ((size_t)96000) /* served from MEDIUM's free list first (see medium_uaf) */
#define SEGMENT (4 * MiB)    /* warden's segment size and alignment */
#define OFF_LAST LONG_MIN    /* offset: the last 16-aligned byte of the block */
#define OFF_END (LONG_MIN + 1) /* offset: the block's usable size (first byte past it) */
#define POP_SMALL 100000     /* allocations tried to pop a damaged free block: small */
#define POP_MEDIUM 64        /* medium (other allocators would map GBs) */

/* --- a case ------------------------------------------------------------------ */

enum {
    GAP = 1,   /* not caught yet: the test asserts it is still not caught */
    CXX = 2,   /* uses the C++ operators (not in the wd_ variant) */
    SIZED = 4, /* needs free_sized / free_aligned_sized */
    H2_CAUGHT = 8, /* a gap that harden=2 closes: a case there */
};

typedef struct mcase mcase_t;
struct mcase {
    const char *name;
    void (*fn)(const mcase_t *c);
    size_t size; /* the block's size, for the cases that take one */
    long off;    /* an offset or a count, for the cases that take one */
    unsigned flags;
    const char *what; /* what it is: the message warden prints, or for a GAP what is missed */
};

/* --- helpers ----------------------------------------------------------------- */

static int announce_fd = -1; /* test mode: where the child writes the line it expects */
static int H2;                /* WARDEN_OPTIONS has harden=2 */
/* WARDEN_OPTIONS has check=1 or check=2: check mode reports in its own
 * words and goes on, so a case passes when the child reported anything. */
static int CHECKING;

/* Hides a pointer from the compiler: no folding of malloc/free pairs, no
 * -Wfree-nonheap-object or -Wuse-after-free about the misuse we ask for. */
static inline void *hide(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}
static inline void escape(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static void announce(const char *line) {
    if (announce_fd < 0)
        return;
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t w = write(announce_fd, line + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

/* The line warden must print next. */
static void expect(const char *what, const void *p, const char *fn) {
    char line[256];
    snprintf(line, sizeof line, "warden: %s at 0x%" PRIxPTR " in %s\n", what, (uintptr_t)p, fn);
    announce(line);
}

/* harden=2: a guard page stops the misuse (SIGSEGV, no line).  No case
 * needs it since the large blocks' header page stopped being read-only
 * (2026-12-06); kept for the next one. */
#define FAULT_LINE "fault\n"
__attribute__((unused)) static void expect_fault(void) { announce(FAULT_LINE); }

/* The case does not apply to the allocator in use. */
static void not_applicable(const char *why) {
    printf("n/a: %s\n", why);
    fflush(stdout);
    _exit(TEST_SKIP);
}

static void need_free_sized(void) {
    if (!HAVE_FREE_SIZED())
        not_applicable("the allocator has no free_sized / free_aligned_sized");
}

static char *block(size_t size) {
    char *p = malloc(size);
    if (p == NULL) {
        perror("malloc");
        _exit(2);
    }
    return hide(p);
}

/* harden=2: a block written after its free is caught when the quarantine
 * lets it go, which these frees of blocks of its size force. */
static void h2_write_after_free(const void *p, size_t size) {
    expect("write after free", p, "free");
    for (int i = 0; i < 20000; i++)
        free(block(size));
}

static char *at_offset(char *p, long off) {
    if (off == OFF_LAST)
        return p + ((malloc_usable_size(p) - 1) & ~(size_t)15);
    if (off == OFF_END)
        return p + malloc_usable_size(p);
    return p + off;
}

static void *thread_free(void *p) {
    free(hide(p));
    return NULL;
}

static void free_in_thread(void *p) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_free, p) != 0) {
        perror("pthread_create");
        _exit(2);
    }
    pthread_join(t, NULL);
}

/* Two blocks of `size` bytes, b right after a in memory: a's usable bytes,
 * then at most 16 bytes of header (warden's medium blocks: 16, glibc: 8,
 * small blocks: none), then b; with harden=2 up to 64 bytes (a's tail
 * canary and slack, b's header and prefix), in check mode up to 96 (a's
 * right redzone, b's record and left redzone, a medium block's header).
 * Allocates until two blocks are so placed (in either order); everything
 * stays allocated. */
static void adjacent_pair(size_t size, char **a, char **b) {
    char *seen[64];
    for (int n = 0; n < 64; n++) {
        seen[n] = block(size);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 2; k++) {
                char *lo = k ? seen[n] : seen[i], *hi = k ? seen[i] : seen[n];
                char *end = lo + malloc_usable_size(lo);
                if (hi >= end && hi <= end + (CHECKING ? 96 : H2 ? 64 : 16)) {
                    *a = lo;
                    *b = hi;
                    return;
                }
            }
        }
    }
    not_applicable("no two blocks found next to each other");
}

/* Allocates `size` until the allocator pops `target` (or `limit` times). */
static void allocate_until(size_t size, const void *target, int limit) {
    for (int i = 0; i < limit; i++)
        if (block(size) == target)
            return;
}

/* --- double frees ------------------------------------------------------------ */

static void double_free(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size)); /* keeps the page in use and p from merging */
    free(hide(p));
    expect("double free", p, "free");
    free(hide(p));
}

static void double_free_after_others(const mcase_t *c) {
    char *a = block(c->size), *b = block(c->size), *d = block(c->size);
    free(hide(a));
    free(hide(b));
    free(hide(d));
    expect("double free", b, "free");
    free(hide(b));
}

static void double_free_unwritten(const mcase_t *c) { /* malloc clears the word free checks */
    char *p = block(c->size), *q = block(c->size);
    free(hide(q));
    free(hide(p));
    expect("double free", q, "free");
    free(hide(q));
}

static void double_free_only_block(const mcase_t *c) { /* the page empties at the first free */
    char *p = block(c->size);
    free(hide(p));
    expect("double free", p, "free");
    free(hide(p));
}

static void double_free_second_in_thread(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    expect("double free", p, "free");
    free_in_thread(p);
}

static void double_free_first_in_thread(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    free_in_thread(p);
    expect("double free", p, "free");
    free(hide(p));
}

static void double_free_after_realloc(const mcase_t *c) { /* realloc moved it: p is freed */
    char *p = block(c->size);
    escape(block(c->size)); /* no growing in place into free space */
    char *q = realloc(hide(p), (size_t)c->off);
    if (q == p)
        not_applicable("realloc did not move the block");
    escape(q);
    expect("double free", p, "free");
    free(hide(p));
}

static void double_free_after_realloc_zero(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    char *q = realloc(hide(p), 0); /* glibc semantics: frees p */
    if (q == p)
        not_applicable("realloc(hide(p), 0) kept the block");
    escape(q);
    expect("double free", p, "free");
    free(hide(p));
}

static void double_free_merged(const mcase_t *c) { /* p merged into its free left neighbour */
    char *a = block(c->size), *p = block(c->size);
    escape(block(c->size));
    free(hide(a));
    free(hide(p));
    expect("double free", p, "free");
    free(hide(p));
}

static void double_free_after_trim(const mcase_t *c) { /* c->what: what warden says then */
    char *p = block(c->size);
    free(hide(p));
    malloc_trim(0);
    expect(H2 ? "double free" : c->what, p, "free"); /* harden=2: still in the quarantine */
    free(hide(p));
}

/* --- pointers warden never returned ------------------------------------------ */

static void interior(const mcase_t *c) {
    char *p = at_offset(block(c->size), c->off);
    expect("invalid pointer", p, "free");
    free(hide(p));
}

static void interior_other_thread(const mcase_t *c) {
    char *p = block(c->size) + c->off;
    expect("invalid pointer", p, "free");
    free_in_thread(p);
}

/* Past the last block of a small page: 64 KiB / 3072 leaves 1 KiB unused
 * (harden=2: 3000 bytes and their prefix and tail are a 3072 block too). */
static void small_page_tail(const mcase_t *c) {
    char *p = block(c->size);
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)0xffff;
    size_t bs = H2 ? 3072 : malloc_usable_size(p);
    if (((uintptr_t)p - page - (H2 ? 16 : 0)) % bs != 0)
        not_applicable("blocks do not start at 64 KiB boundaries");
    char *tail = (char *)page + (65536 / bs) * bs + (H2 ? 16 : 0);
    expect("invalid pointer", tail, "free");
    free(hide(tail));
}

/* Inside the 4 MiB segment that holds a block, at its start (warden keeps
 * the segment header there). */
static void segment_header(const mcase_t *c) {
    char *p = block(c->size);
    char *q = (char *)((uintptr_t)p & ~(uintptr_t)(SEGMENT - 1)) + c->off;
    if (q == p)
        not_applicable("the block is at the start of its 4 MiB");
    expect("invalid pointer", q, "free");
    free(hide(q));
}

/* In the free space after the last medium block: never handed out. */
static void medium_free_space(const mcase_t *c) {
    char *p = block(c->size);
    char *q = p + malloc_usable_size(p) + 16 + (size_t)c->off;
    expect(c->what, q, "free");
    free(hide(q));
}

static int a_global[64];
static const char a_string[] = "not from malloc";

static void foreign_stack(const mcase_t *c) {
    (void)c;
    char local[64];
    memset(local, 0, sizeof local);
    expect("invalid pointer", local + 16, "free");
    free(hide(local + 16));
}

static void foreign_global(const mcase_t *c) {
    (void)c;
    expect("invalid pointer", &a_global[4], "free");
    free(hide(&a_global[4]));
}

static void foreign_rodata(const mcase_t *c) {
    (void)c;
    expect("invalid pointer", a_string, "free");
    free(hide((void *)a_string));
}

static void foreign_mmap(const mcase_t *c) {
    (void)c;
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    expect("invalid pointer", m + 16, "free");
    free(hide(m + 16));
}

/* A mapping dressed as a glibc chunk of 48 bytes (size word 0x31 before the
 * pointer): the "house of spirit" shape. */
static void foreign_fake_chunk(const mcase_t *c) {
    (void)c;
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    size_t *chunk = (size_t *)(m + 64);
    chunk[1] = 0x31;               /* size 48, previous in use */
    ((size_t *)(m + 64 + 48))[1] = 0x21; /* a plausible next chunk */
    char *p = (char *)(chunk + 2);
    expect("invalid pointer", p, "free");
    free(hide(p));
}

/* A block from glibc's own malloc (through dlopen, whatever the process's
 * malloc is): another allocator's pointer. */
static void foreign_libc_malloc(const mcase_t *c) {
    (void)c;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *(*libc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    if (libc_malloc == NULL)
        not_applicable("glibc's malloc not found");
#ifndef MISUSE_WD_NAMES
    if ((void *)libc_malloc == dlsym(RTLD_DEFAULT, "malloc"))
        not_applicable("glibc's malloc is the process's malloc");
#endif
    char *p = libc_malloc(48);
    CHECK(p != NULL);
    expect("invalid pointer", p, "free");
    free(hide(p));
}

static void foreign_address(const mcase_t *c) { /* c->off: the address */
    char *p = (char *)(uintptr_t)(unsigned long)c->off;
    expect("invalid pointer", p, "free");
    free(hide(p));
}

/* --- realloc and malloc_usable_size of what is not a live block ---------------- */

static void realloc_freed(const mcase_t *c) { /* c->off: the new size */
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    expect(c->what, p, "realloc");
    escape(realloc(hide(p), (size_t)c->off));
}

static void realloc_zero_freed(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    expect(c->what, p, "realloc");
    escape(realloc(hide(p), 0));
}

static void usable_size_freed(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    expect(c->what, p, "malloc_usable_size");
    escape((void *)(uintptr_t)malloc_usable_size(hide(p)));
}

static void realloc_foreign(const mcase_t *c) {
    (void)c;
    char local[64];
    memset(local, 0, sizeof local);
    expect("invalid pointer", local + 16, "realloc");
    escape(realloc(hide(local + 16), 100));
}

static void usable_size_foreign(const mcase_t *c) {
    (void)c;
    char local[64];
    memset(local, 0, sizeof local);
    expect("invalid pointer", local + 16, "malloc_usable_size");
    escape((void *)(uintptr_t)malloc_usable_size(hide(local + 16)));
}

static void realloc_interior(const mcase_t *c) {
    char *p = block(c->size) + c->off;
    expect("invalid pointer", p, "realloc");
    escape(realloc(hide(p), c->size * 2));
}

/* --- free_sized and free_aligned_sized (C23) ----------------------------------- */

static void free_sized_wrong(const mcase_t *c) { /* c->off: the size given, 0: usable + 1 */
    need_free_sized();
    char *p = block(c->size);
    size_t given = c->off ? (size_t)c->off : malloc_usable_size(p) + 1;
    if (!(c->flags & GAP))
        expect("free_sized with a wrong size", p, "free_sized");
    free_sized(hide(p), given);
}

static void free_sized_freed(const mcase_t *c) {
    need_free_sized();
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    expect("double free", p, "free_sized");
    free_sized(hide(p), c->size);
}

static void free_sized_interior(const mcase_t *c) {
    need_free_sized();
    char *p = block(c->size) + c->off;
    expect("invalid pointer", p, "free_sized");
    free_sized(hide(p), 16);
}

/* A 16-aligned block (not 4096-aligned) freed as if aligned to 4096. */
static void free_aligned_sized_misaligned(const mcase_t *c) {
    need_free_sized();
    char *p = block(c->size);
    if (((uintptr_t)p & 4095) == 0)
        p = block(c->size); /* two in a row cannot both be */
    expect("free_aligned_sized with a wrong alignment", p, "free_aligned_sized");
    free_aligned_sized(hide(p), 4096, c->size);
}

static void free_aligned_sized_not_pow2(const mcase_t *c) {
    need_free_sized();
    char *p = aligned_alloc(64, c->size);
    CHECK(p != NULL);
    expect("free_aligned_sized with a wrong alignment", p, "free_aligned_sized");
    free_aligned_sized(hide(p), 48, c->size);
}

static void free_aligned_sized_too_big(const mcase_t *c) {
    need_free_sized();
    char *p = aligned_alloc(64, c->size);
    CHECK(p != NULL);
    expect("free_aligned_sized with a wrong size", p, "free_aligned_sized");
    free_aligned_sized(hide(p), 64, (size_t)c->off);
}

/* GAP: a 4096-aligned block freed with alignment 16 (it is 16-aligned too);
 * harden=2 keeps the alignment in the prefix. */
static void free_aligned_sized_smaller_alignment(const mcase_t *c) {
    need_free_sized();
    char *p = aligned_alloc(4096, c->size);
    CHECK(p != NULL);
    if (H2)
        expect("free_aligned_sized with a wrong alignment", p, "free_aligned_sized");
    free_aligned_sized(hide(p), 16, c->size);
}

/* --- overflows into the next block's metadata ----------------------------------- */

enum { THEN_FREE_NEXT, THEN_FREE_PREV, THEN_USABLE_NEXT, THEN_REALLOC_NEXT, THEN_FREE_PREV_LATER };

/* harden=2: an overflow of a is caught by a's tail canary when a is freed,
 * resized or measured (the call `then` makes, on a). */
static void h2_overflow_then(char *a, int then) {
    switch (then) {
    case THEN_USABLE_NEXT:
        expect("buffer overflow", a, "malloc_usable_size");
        escape((void *)(uintptr_t)malloc_usable_size(hide(a)));
        break;
    case THEN_REALLOC_NEXT:
        expect("buffer overflow", a, "realloc");
        escape(realloc(hide(a), 100000));
        break;
    default:
        expect("buffer overflow", a, "free");
        free(hide(a));
    }
}

/* Writes n bytes of `fill` at `at`, each one changed: a byte that already
 * holds `fill` gets fill ^ 1 (else a one-byte overflow of 'A' over a
 * checksum byte that happens to be 'A' would change nothing, 1 run in 256).
 * Zeros are written as they are: an all-zero header is never a valid one. */
static void overwrite(char *at, int fill, size_t n) {
    if (fill == 0) {
        memset(at, 0, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        at[i] = (char)(at[i] == (char)fill ? fill ^ 1 : fill);
}

/* a and b adjacent medium blocks; c->off bytes written past a's usable size
 * (into b's 16-byte header, and b's data past 16), then one call on a
 * neighbour.  The report names b, whose header was hit. */
static void medium_overflow(const mcase_t *c, int fill, int then) {
    char *a, *b;
    adjacent_pair(c->size, &a, &b);
    escape(block(c->size));
    overwrite(a + malloc_usable_size(a), fill, (size_t)c->off);
    if (H2) { /* a's tail canary, whichever call looks at a first */
        h2_overflow_then(a, then);
        return;
    }
    switch (then) {
    case THEN_FREE_NEXT:
        expect("corrupted block header", b, "free");
        free(hide(b));
        break;
    case THEN_FREE_PREV:
        expect("corrupted block header", b, "free");
        free(hide(a));
        break;
    case THEN_FREE_PREV_LATER:
        /* free(a) reads only the allocated bit of b's header, which an
         * overflow that stops short of it leaves alone (docs/heap.md,
         * "What changed on 2026-12-06"): a goes, and the next call that
         * acts on b's header reports it. */
        expect("corrupted block header", b, "malloc_usable_size");
        free(hide(a));
        escape((void *)(uintptr_t)malloc_usable_size(hide(b)));
        break;
    case THEN_USABLE_NEXT:
        expect("corrupted block header", b, "malloc_usable_size");
        escape((void *)(uintptr_t)malloc_usable_size(hide(b)));
        break;
    case THEN_REALLOC_NEXT:
        expect("corrupted block header", b, "realloc");
        escape(realloc(hide(b), c->size * 2));
        break;
    }
}

static void medium_overflow_free_next(const mcase_t *c) { medium_overflow(c, 'A', THEN_FREE_NEXT); }
static void medium_overflow_free_prev(const mcase_t *c) { medium_overflow(c, 'A', THEN_FREE_PREV); }
static void medium_overflow_free_prev_later(const mcase_t *c) {
    medium_overflow(c, 'A', THEN_FREE_PREV_LATER);
}
static void medium_overflow_zeros(const mcase_t *c) { medium_overflow(c, 0, THEN_FREE_NEXT); }
static void medium_overflow_usable(const mcase_t *c) { medium_overflow(c, 'A', THEN_USABLE_NEXT); }
static void medium_overflow_realloc(const mcase_t *c) { medium_overflow(c, 'A', THEN_REALLOC_NEXT); }

/* The same into the header of a free block b, found when a is freed (merge)
 * or when malloc takes b from its list. */
static void medium_overflow_into_free(const mcase_t *c, int by_malloc) {
    char *a, *b;
    adjacent_pair(c->size, &a, &b);
    escape(block(c->size)); /* b stays a free range of its own */
    free(hide(b));
    overwrite(a + malloc_usable_size(a), 'A', (size_t)c->off);
    if (H2) {
        h2_overflow_then(a, THEN_FREE_PREV);
        return;
    }
    if (by_malloc) {
        expect("corrupted block header", b, "malloc");
        allocate_until(MEDIUM_SAME_LIST, b, POP_MEDIUM);
    } else {
        expect("corrupted block header", b, "free");
        free(hide(a));
    }
}

static void medium_overflow_free_free(const mcase_t *c) { medium_overflow_into_free(c, 0); }
static void medium_overflow_free_malloc(const mcase_t *c) { medium_overflow_into_free(c, 1); }

/* One byte before the block: the top byte of its own header. */
static void medium_underflow(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    p[-1] ^= 0x40; /* harden=2: the prefix's tag */
    expect(H2 ? "buffer underflow" : "corrupted block header", p, "free");
    free(hide(p));
}

/* A large block's header is at the start of its mapping, one page before
 * the pointer.  c->off: where the overwrite starts in it (0: also the
 * region kind, which makes the mapping unknown to free). */
static void large_header(const mcase_t *c) {
    char *p = block(c->size);
    memset(p - 4096 + c->off, 'A', 48);
    /* harden=2: the header is checked before the block's prefix is read
     * (its page is not read-only: no system call a block) */
    expect(H2 ? "corrupted block header" : c->what, p, "free");
    free(hide(p));
}

/* Small blocks have no header: b's only metadata is its free-list link. */
static void small_overflow_into_free(const mcase_t *c) {
    char *a, *b;
    adjacent_pair(c->size, &a, &b);
    free(hide(b));
    overwrite(a + malloc_usable_size(a), 'A', (size_t)c->off);
    if (H2) {
        h2_overflow_then(a, THEN_FREE_PREV);
        return;
    }
    expect("corrupted free list", b, "malloc");
    allocate_until(c->size, b, POP_SMALL);
}

/* GAP: into a live small neighbour: no metadata there, nothing to notice. */
static void small_overflow_into_live(const mcase_t *c) {
    char *a, *b;
    adjacent_pair(c->size, &a, &b);
    memset(a + malloc_usable_size(a), 'A', (size_t)c->off);
    if (H2) {
        h2_overflow_then(a, THEN_FREE_PREV);
        return;
    }
    free(hide(b));
    free(hide(a));
}

/* --- writes after free into a free list ------------------------------------------ */

/* The freed block's first c->off bytes overwritten with `fill`; malloc
 * finds it when it pops the block. */
static void small_uaf(const mcase_t *c, int fill) {
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    memset(p, fill, (size_t)c->off);
    if (H2)
        h2_write_after_free(p, c->size);
    expect("corrupted free list", p, "malloc");
    allocate_until(c->size, p, POP_SMALL);
}

static void small_uaf_garbage(const mcase_t *c) { small_uaf(c, 'X'); }
static void small_uaf_zeros(const mcase_t *c) { small_uaf(c, 0); }

/* One bit of p's encoded link flipped (bit 4): the link still decodes to an
 * address inside the page, 16 bytes off q, the block it led to.  The pop of
 * p accepts it (only "inside the page" is checked there); the next malloc
 * pops the forged address, whose first word does not decode, and stops. */
static void small_uaf_link_bitflip(const mcase_t *c) {
    char *p = block(c->size), *q = block(c->size);
    escape(block(c->size));
    free(hide(q));
    free(hide(p)); /* p's link now leads to q */
    p[0] ^= 0x10;
    if (H2)
        h2_write_after_free(p, c->size);
    expect("corrupted free list", (void *)((uintptr_t)q ^ 0x10), "malloc");
    allocate_until(c->size, p, POP_SMALL);
    escape(block(c->size));
}

/* A write after free over the link (which hides the block from the
 * double-free check), then a second free: p is listed twice.  malloc hands
 * p out once and stops at the second pop, whose link was cleared. */
static void small_double_free_after_uaf_write(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    memset(p, 'X', 8);
    if (H2) /* the prefix still says freed */
        expect("double free", p, "free");
    free(hide(p));
    expect("corrupted free list", p, "malloc");
    allocate_until(c->size, p, POP_SMALL);
    escape(block(c->size));
}

static void medium_double_free_after_uaf_write(const mcase_t *c) {
    char *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    memset(p, 'X', 16);
    expect("double free", p, "free");
    free(hide(p));
}

/* A medium block p between two live ones, freed, its two links overwritten,
 * then found by a merge (free of a neighbour) or by malloc. */
static void medium_uaf(const mcase_t *c, int fill, int by_malloc) {
    char *a = block(c->size), *p = block(c->size);
    escape(block(c->size));
    free(hide(p));
    memset(p, fill, (size_t)c->off);
    if (H2)
        h2_write_after_free(p, c->size);
    if (by_malloc) {
        expect("corrupted free list", p, "malloc");
        allocate_until(MEDIUM_SAME_LIST, p, POP_MEDIUM);
    } else {
        expect("corrupted free list", p, "free");
        free(hide(a));
    }
}

static void medium_uaf_free(const mcase_t *c) { medium_uaf(c, 'X', 0); }
static void medium_uaf_zeros_free(const mcase_t *c) { medium_uaf(c, 0, 0); }
static void medium_uaf_malloc(const mcase_t *c) { medium_uaf(c, 'X', 1); }

/* --- C++ ------------------------------------------------------------------------- */

static void cxx_sized_delete_wrong_size(const mcase_t *c) {
    (void)c;
    void *p = cxx_new_small();
    expect("free_sized with a wrong size", p, "free_sized");
    cxx_delete_as_big(p);
}

static void cxx_array_delete_wrong_size(const mcase_t *c) {
    void *p = cxx_new_array(c->size);
    expect("free_sized with a wrong size", p, "free_sized");
    cxx_delete_array_sized(p, (size_t)c->off);
}

static void cxx_double_delete(const mcase_t *c) {
    (void)c;
    void *p = cxx_new_small();
    escape(cxx_new_small());
    cxx_delete_small(p);
    expect("double free", p, "free_sized");
    cxx_delete_small(hide(p));
}

static void cxx_delete_interior(const mcase_t *c) {
    char *p = (char *)cxx_new_array(c->size) + c->off;
    expect("invalid pointer", p, "free_sized");
    cxx_delete_array_sized(p, 16);
}

static void cxx_aligned_delete_wrong_alignment(const mcase_t *c) {
    (void)c;
    char *p = cxx_new_aligned64();
    if (((uintptr_t)p & 4095) == 0)
        p = cxx_new_aligned64();
    expect("free_aligned_sized with a wrong alignment", p, "free_aligned_sized");
    cxx_delete_aligned_sized(p, 64, 4096);
}

/* Sized delete told a size below the block's (no virtual destructor): the
 * 4000-byte object is freed with size 16. */
static void cxx_delete_base_no_virtual_dtor(const mcase_t *c) {
    (void)c;
    void *p = cxx_new_derived_as_base();
    expect("free_sized with a wrong size", p, "free_sized");
    cxx_delete_base(p);
}

/* --- the table ------------------------------------------------------------------- */

#define NO 0

static const mcase_t cases[] = {
    /* double frees */
    {"small_double_free", double_free, SMALL, NO, 0, "double free"},
    {"small_double_free_8k", double_free, 8192, NO, 0, "double free"},
    {"small_double_free_after_others", double_free_after_others, SMALL, NO, 0, "double free"},
    {"small_double_free_unwritten", double_free_unwritten, 16, NO, 0, "double free"},
    {"small_double_free_only_block", double_free_only_block, 7000, NO, 0, "double free"},
    {"small_double_free_second_in_thread", double_free_second_in_thread, 64, NO, 0, "double free"},
    {"small_double_free_first_in_thread", double_free_first_in_thread, 64, NO, 0, "double free"},
    {"small_double_free_after_realloc", double_free_after_realloc, 32, 4000, 0, "double free"},
    {"small_double_free_after_realloc_zero", double_free_after_realloc_zero, SMALL, NO, 0, "double free"},
    {"small_double_free_after_trim", double_free_after_trim, 5000, NO, 0, "invalid pointer"},
    {"medium_double_free", double_free, MEDIUM, NO, 0, "double free"},
    {"medium_double_free_merged", double_free_merged, MEDIUM, NO, 0, "double free"},
    {"medium_double_free_in_thread", double_free_second_in_thread, MEDIUM, NO, 0, "double free"},
    {"medium_double_free_after_trim", double_free_after_trim, MEDIUM, NO, 0, "double free"},
    {"large_double_free", double_free, LARGE, NO, 0, "double free"},
    {"large_double_free_in_thread", double_free_second_in_thread, LARGE, NO, 0, "double free"},
    {"large_double_free_after_trim", double_free_after_trim, LARGE, NO, 0, "invalid pointer"},

    /* interior pointers */
    {"small_interior_40_at_16", interior, 40, 16, 0, "invalid pointer"},
    {"small_interior_40_at_32", interior, 40, 32, 0, "invalid pointer"},
    {"small_interior_200_at_112", interior, 200, 112, 0, "invalid pointer"},
    {"small_interior_200_at_208", interior, 200, 208, 0, "invalid pointer"},
    {"small_interior_3000_at_1024", interior, 3000, 1024, 0, "invalid pointer"},
    {"small_interior_3000_at_3056", interior, 3000, 3056, 0, "invalid pointer"},
    {"small_interior_8192_at_16", interior, 8192, 16, 0, "invalid pointer"},
    {"small_interior_8192_at_4096", interior, 8192, 4096, 0, "invalid pointer"},
    {"small_interior_8192_at_last", interior, 8192, OFF_LAST, 0, "invalid pointer"},
    {"small_interior_in_thread", interior_other_thread, 200, 96, 0, "invalid pointer"},
    {"small_page_tail", small_page_tail, 3000, NO, 0, "invalid pointer"},
    {"small_segment_header", segment_header, SMALL, 4096, 0, "invalid pointer"},
    {"medium_interior_at_16", interior, MEDIUM, 16, 0, "invalid pointer"},
    {"medium_interior_at_32", interior, MEDIUM, 32, 0, "invalid pointer"},
    {"medium_interior_at_4096", interior, MEDIUM, 4096, 0, "invalid pointer"},
    {"medium_interior_at_last", interior, MEDIUM, OFF_LAST, 0, "invalid pointer"},
    {"medium_segment_header", segment_header, MEDIUM, 64, 0, "invalid pointer"},
    {"medium_free_space", medium_free_space, MEDIUM, 8192, 0, "invalid pointer"},
    {"large_interior_at_16", interior, LARGE, 16, 0, "invalid pointer"},
    {"large_interior_at_4096", interior, LARGE, 4096, 0, "invalid pointer"},
    {"large_interior_at_1m", interior, LARGE, 1 << 20, 0, "invalid pointer"},
    {"large_interior_at_last", interior, LARGE, OFF_LAST, 0, "invalid pointer"},
    {"large_header_pointer", interior, LARGE, -4096, 0, "invalid pointer"},
    {"large_past_end", interior, LARGE, OFF_END, 0, "invalid pointer"},

    /* misaligned pointers */
    {"small_misaligned_1", interior, SMALL, 1, 0, "invalid pointer"},
    {"small_misaligned_8", interior, SMALL, 8, 0, "invalid pointer"},
    {"medium_misaligned_8", interior, MEDIUM, 8, 0, "invalid pointer"},
    {"large_misaligned_8", interior, LARGE, 8, 0, "invalid pointer"},

    /* pointers from elsewhere */
    {"foreign_stack", foreign_stack, NO, NO, 0, "invalid pointer"},
    {"foreign_global", foreign_global, NO, NO, 0, "invalid pointer"},
    {"foreign_rodata", foreign_rodata, NO, NO, 0, "invalid pointer"},
    {"foreign_mmap", foreign_mmap, NO, NO, 0, "invalid pointer"},
    {"foreign_fake_chunk", foreign_fake_chunk, NO, NO, 0, "invalid pointer"},
    {"foreign_libc_malloc", foreign_libc_malloc, NO, NO, 0, "invalid pointer"},
    {"foreign_low_address", foreign_address, NO, 0x1010, 0, "invalid pointer"},
    {"foreign_kernel_address", foreign_address, NO, (long)0xffff800000001000UL, 0, "invalid pointer"},

    /* realloc and malloc_usable_size */
    {"small_realloc_freed", realloc_freed, 32, 64, 0, "use after free"},
    {"small_realloc_freed_in_place", realloc_freed, 32, 24, 0, "use after free"},
    {"small_realloc_zero_freed", realloc_zero_freed, 32, NO, 0, "use after free"},
    {"small_usable_size_freed", usable_size_freed, 32, NO, 0, "use after free"},
    {"medium_realloc_freed", realloc_freed, MEDIUM, 200000, 0, "use after free"},
    {"medium_usable_size_freed", usable_size_freed, MEDIUM, NO, 0, "use after free"},
    {"medium_realloc_interior", realloc_interior, MEDIUM, 4096, 0, "invalid pointer"},
    {"large_realloc_freed", realloc_freed, LARGE, 16 << 20, 0, "use after free"},
    {"large_usable_size_freed", usable_size_freed, LARGE, NO, 0, "use after free"},
    {"foreign_realloc_stack", realloc_foreign, NO, NO, 0, "invalid pointer"},
    {"foreign_usable_size_stack", usable_size_foreign, NO, NO, 0, "invalid pointer"},

    /* free_sized, free_aligned_sized */
    {"small_free_sized_too_big", free_sized_wrong, 100, 4096, SIZED, "free_sized with a wrong size"},
    {"medium_free_sized_too_big", free_sized_wrong, MEDIUM, NO, SIZED, "free_sized with a wrong size"},
    {"large_free_sized_too_big", free_sized_wrong, LARGE, 16 << 20, SIZED, "free_sized with a wrong size"},
    {"medium_free_sized_too_small", free_sized_wrong, MEDIUM, 100, SIZED,
     "free_sized with a size below the block's (100000-byte block, size 100)"},
    {"medium_free_sized_just_below", free_sized_wrong, MEDIUM, MEDIUM - 32, SIZED,
     "free_sized with a size 32 bytes below the request of a medium block"},
    {"small_free_sized_too_small", free_sized_wrong, 100, 8, SIZED,
     "free_sized with a size below half the block's (100-byte block, size 8)"},
    {"large_free_sized_too_small", free_sized_wrong, LARGE, 4096, SIZED,
     "free_sized with a size more than a page below the block's"},
    {"small_free_sized_freed", free_sized_freed, 100, NO, SIZED, "double free"},
    {"medium_free_sized_interior", free_sized_interior, MEDIUM, 4096, SIZED, "invalid pointer"},
    {"small_free_aligned_sized_misaligned", free_aligned_sized_misaligned, 48, NO, SIZED,
     "free_aligned_sized with a wrong alignment"},
    {"small_free_aligned_sized_not_pow2", free_aligned_sized_not_pow2, 64, NO, SIZED,
     "free_aligned_sized with a wrong alignment"},
    {"small_free_aligned_sized_too_big", free_aligned_sized_too_big, 64, 8192, SIZED,
     "free_aligned_sized with a wrong size"},

    /* overflows into the next block's header (medium), free list (small) */
    {"medium_overflow_1_free_next", medium_overflow_free_next, MEDIUM, 1, 0, "corrupted block header"},
    {"medium_overflow_1_free_prev", medium_overflow_free_prev_later, MEDIUM, 1, 0, "corrupted block header"},
    {"medium_overflow_8_free_next", medium_overflow_free_next, MEDIUM, 8, 0, "corrupted block header"},
    {"medium_overflow_16_free_next", medium_overflow_free_next, MEDIUM, 16, 0, "corrupted block header"},
    {"medium_overflow_16_free_prev", medium_overflow_free_prev, MEDIUM, 16, 0, "corrupted block header"},
    {"medium_overflow_200_free_next", medium_overflow_free_next, MEDIUM, 200, 0, "corrupted block header"},
    {"medium_overflow_16_zeros", medium_overflow_zeros, MEDIUM, 16, 0, "corrupted block header"},
    {"medium_overflow_1_usable_size", medium_overflow_usable, MEDIUM, 1, 0, "corrupted block header"},
    {"medium_overflow_1_realloc", medium_overflow_realloc, MEDIUM, 1, 0, "corrupted block header"},
    {"medium_overflow_into_free_then_free", medium_overflow_free_free, MEDIUM, 4, 0, "corrupted block header"},
    {"medium_overflow_into_free_then_malloc", medium_overflow_free_malloc, MEDIUM, 4, 0, "corrupted block header"},
    {"medium_underflow_1", medium_underflow, MEDIUM, NO, 0, "corrupted block header"},
    {"large_header_overwrite", large_header, LARGE, 8, 0, "corrupted block header"},
    {"large_header_overwrite_kind", large_header, LARGE, 0, 0, "invalid pointer"},
    {"small_overflow_into_free", small_overflow_into_free, SMALL, 8, 0, "corrupted free list"},

    /* writes after free into a free list */
    {"small_uaf_write_8", small_uaf_garbage, SMALL, 8, 0, "corrupted free list"},
    {"small_uaf_write_whole", small_uaf_garbage, SMALL, 48, 0, "corrupted free list"},
    {"small_uaf_zeros_8", small_uaf_zeros, SMALL, 8, 0, "corrupted free list"},
    {"small_uaf_link_bitflip", small_uaf_link_bitflip, SMALL, NO, 0, "corrupted free list"},
    {"small_double_free_after_uaf_write", small_double_free_after_uaf_write, SMALL, NO, 0,
     "corrupted free list"},
    {"medium_double_free_after_uaf_write", medium_double_free_after_uaf_write, MEDIUM, NO, 0,
     "double free"},
    {"medium_uaf_write_then_free", medium_uaf_free, MEDIUM, 16, 0, "corrupted free list"},
    {"medium_uaf_zeros_then_free", medium_uaf_zeros_free, MEDIUM, 16, 0, "corrupted free list"},
    {"medium_uaf_write_then_malloc", medium_uaf_malloc, MEDIUM, 16, 0, "corrupted free list"},

    /* C++ */
    {"cxx_sized_delete_wrong_size", cxx_sized_delete_wrong_size, NO, NO, CXX, "free_sized with a wrong size"},
    {"cxx_delete_base_no_virtual_dtor", cxx_delete_base_no_virtual_dtor, NO, NO, CXX,
     "C++ sized delete through a base without virtual destructor (size 16 for a 4000-byte object)"},
    {"cxx_array_delete_wrong_size", cxx_array_delete_wrong_size, MEDIUM, 200000, CXX,
     "free_sized with a wrong size"},
    {"cxx_double_delete", cxx_double_delete, NO, NO, CXX, "double free"},
    {"cxx_delete_interior", cxx_delete_interior, 200, 16, CXX, "invalid pointer"},
    {"cxx_aligned_delete_wrong_alignment", cxx_aligned_delete_wrong_alignment, NO, NO, CXX,
     "free_aligned_sized with a wrong alignment"},

    /* expected gaps: not caught yet */
    {"gap_free_aligned_sized_smaller_alignment", free_aligned_sized_smaller_alignment, 4096, NO,
     SIZED | GAP | H2_CAUGHT, "free_aligned_sized with an alignment below the one allocated (4096 freed as 16)"},
    {"gap_small_overflow_into_live", small_overflow_into_live, SMALL, 16, GAP | H2_CAUGHT,
     "overflow of a small block into its live neighbour (no metadata there)"},
};

#define NCASES (sizeof cases / sizeof cases[0])

static const mcase_t *find_case(const char *name) {
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}

static int skipped_here(const mcase_t *c) {
#ifdef MISUSE_WD_NAMES
    return (c->flags & CXX) != 0; /* the C++ operators are not warden's here */
#else
    (void)c;
    return 0;
#endif
}

/* --- the test ----------------------------------------------------------------- */

enum { PASS, FAIL };

/* In the child of test_run_announced: fd 3 takes the expected line. */
static void case_in_child(const void *arg) {
    const mcase_t *c = arg;
    announce_fd = 3;
    c->fn(c);
}

/* Whether the child's stderr holds a report of check mode's: a `warden:`
 * line other than the summary at exit. */
static int check_reported(const char *g) {
    for (const char *at = g; (at = strstr(at, "warden: ")) != NULL; at++)
        if ((at == g || at[-1] == '\n') && strncmp(at, "warden: check:", 14) != 0)
            return 1;
    return 0;
}

/* check mode: any report catches the case; a gap may be caught or not. */
static int run_case_checking(const mcase_t *c, int status, const char *g) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP) {
        printf("n/a:  %s\n", c->name);
        return PASS;
    }
    if (check_reported(g)) {
        printf("ok:   %s\n", c->name);
        return PASS;
    }
    if (c->flags & GAP) {
        printf("gap:  %s -- not caught in check mode: %s\n", c->name, c->what);
        return PASS;
    }
    printf("FAIL: %s\n", c->name);
    fprintf(stderr, "%s: no report in check mode (status 0x%x, stderr \"%s\")\n", c->name,
            (unsigned)status, g);
    return FAIL;
}

static int run_case(const mcase_t *c, int verbose) {
    char w[512], g[4096];
    int status = test_run_announced(case_in_child, c, w, sizeof w, g, sizeof g);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int exited0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (CHECKING)
        return run_case_checking(c, status, g);

    if ((c->flags & GAP) && !(H2 && (c->flags & H2_CAUGHT))) {
        int caught = WIFSIGNALED(status) || strstr(g, "warden:") != NULL;
        if (exited0 && !caught) {
            printf("gap:  %s -- not caught yet: %s\n", c->name, c->what);
            return PASS;
        }
        printf("FAIL: %s\n", c->name);
        fprintf(stderr,
                "%s: an expected gap (%s) no longer goes unnoticed: status 0x%x, stderr \"%s\".\n"
                "  If warden now catches it, move the case from the gaps to the cases (and "
                "docs/security.md).\n",
                c->name, c->what, (unsigned)status, g);
        return FAIL;
    }
    int ok = aborted && w[0] != '\0' && strcmp(w, g) == 0;
    if (strcmp(w, FAULT_LINE) == 0) /* a guard page: no line (a sanitizer reports the SEGV) */
        ok = strstr(g, "warden:") == NULL &&
             ((WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS)) ||
              (!exited0 && strstr(g, "SEGV") != NULL));
    if (ok) {
        if (verbose)
            printf("ok:   %-40s %s", c->name, g);
        else
            printf("ok:   %s\n", c->name);
        return PASS;
    }
    printf("FAIL: %s\n", c->name);
    const char *why = aborted ? "not the line expected"
                      : WIFSIGNALED(status) ? "killed by another signal"
                      : WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP ? "the case did not apply"
                      : "not caught (the child did not abort)";
    fprintf(stderr, "%s: %s; wanted \"%s\", got \"%s\" (status 0x%x)\n", c->name, why, w, g,
            (unsigned)status);
    return FAIL;
}

static int run_all(int verbose) {
#ifndef MISUSE_WD_NAMES
    /* Refuse to pass by accident: the allocator in use must be warden. */
    if (dlsym(RTLD_DEFAULT, "wd_malloc") == NULL) {
        fprintf(stderr, "misuse: wd_malloc not found: warden is not this process's allocator "
                        "(link libwarden.a with -rdynamic, or LD_PRELOAD libwarden.so)\n");
        return 1;
    }
    if (!HAVE_FREE_SIZED()) {
        fprintf(stderr, "misuse: free_sized not found\n");
        return 1;
    }
#endif
    int cases_run = 0, gaps = 0, skipped = 0;
    for (size_t i = 0; i < NCASES; i++) {
        const mcase_t *c = &cases[i];
        if (skipped_here(c)) {
            skipped++;
            continue;
        }
        test_failures += run_case(c, verbose);
        if ((c->flags & GAP) && !(H2 && (c->flags & H2_CAUGHT)))
            gaps++;
        else
            cases_run++;
    }
    printf("%d misuse case(s) through the %s%s, %d expected gap(s), %d skipped here: %d failure(s)\n",
           cases_run, VARIANT, H2 ? " with harden=2" : "", gaps, skipped, test_failures);
    return test_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    H2 = test_harden2();
    const char *options = getenv("WARDEN_OPTIONS");
    CHECKING = options != NULL && (strstr(options, "check=1") || strstr(options, "check=2"));
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NCASES; i++)
            if (!skipped_here(&cases[i]))
                printf("%s\n", cases[i].name);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--describe") == 0) {
        for (size_t i = 0; i < NCASES; i++)
            printf("%s\t%s\t%s\n", cases[i].name, cases[i].flags & GAP ? "gap" : "case",
                   cases[i].what);
        return 0;
    }
    if (argc == 1 || (argc == 2 && strcmp(argv[1], "--verbose") == 0))
        return run_all(argc == 2);
    if (argc == 2 && argv[1][0] != '-') {
        const mcase_t *c = find_case(argv[1]);
        if (c == NULL) {
            fprintf(stderr, "misuse: no case named %s (--list)\n", argv[1]);
            return 2;
        }
        if (skipped_here(c))
            not_applicable("C++ cases need the standard names");
        if ((c->flags & SIZED) && !HAVE_FREE_SIZED())
            not_applicable("the allocator has no free_sized / free_aligned_sized");
        c->fn(c);
        return 0; /* the misuse went unnoticed */
    }
    fprintf(stderr, "usage: %s [--verbose | --list | --describe | CASE]\n", argv[0]);
    return 2;
}
