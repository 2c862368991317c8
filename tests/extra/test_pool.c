/* test_pool.c -- warden/pool.h: init and its EINVAL cases, exact capacity,
 * item sizes and alignment, ENOMEM when full, LIFO reuse, WD_POOL_STATIC's
 * lazy initialisation, every misuse report (forked, exact text) and a
 * random model test.  (Items live in caller or static memory: ASan does not
 * see overflows there; the model test's pattern checks do.) */
#include <stdint.h>

#include <warden/pool.h>

#include "test.h"

static unsigned char mem[64 * 1024] __attribute__((aligned(16)));

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

static void test_init_einval(void) {
    wd_pool_t p;
    errno = 0;
    CHECK(wd_pool_init(NULL, mem, sizeof mem, 16) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, NULL, sizeof mem, 16) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, mem, sizeof mem, 0) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, mem, sizeof mem, (size_t)PTRDIFF_MAX + 1) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, mem, sizeof mem, SIZE_MAX) == -1 && errno == EINVAL);
    errno = 0; /* one 16-byte item needs 16 bytes and its 8-byte bitmap word */
    CHECK(wd_pool_init(&p, mem, 23, 1) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, mem + 1, 24, 1) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, mem, 0, 1) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(wd_pool_init(&p, mem, 1000, 1000) == -1 && errno == EINVAL);
    CHECK(wd_pool_init(&p, mem, 24, 1) == 0);
    CHECK_EQ(wd_pool_capacity(&p), 1);
    CHECK(wd_pool_init(&p, mem + 1, 24 + 15, 16) == 0);
    CHECK_EQ(wd_pool_capacity(&p), 1);
}

/* WD_POOL_MEM_SIZE(size, n) holds exactly n items; one byte less, n - 1. */
static void test_capacity(void) {
    size_t sizes[] = {1, 16, 17, 24, 48, 80, 100, 208, 1000};
    size_t counts[] = {1, 2, 63, 64, 65, 127, 128, 129, 256, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            size_t need = WD_POOL_MEM_SIZE(sizes[s], counts[c]);
            if (need > sizeof mem)
                continue;
            wd_pool_t p;
            CHECK(wd_pool_init(&p, mem, need, sizes[s]) == 0);
            CHECK_EQ(wd_pool_capacity(&p), counts[c]);
            CHECK_EQ(wd_pool_count(&p), 0);
            if (counts[c] > 1) {
                CHECK(wd_pool_init(&p, mem, need - 1, sizes[s]) == 0);
                CHECK_EQ(wd_pool_capacity(&p), counts[c] - 1);
            }
        }
    }
}

/* Fill, ENOMEM, free all, fill again: items are distinct, aligned, spaced
 * by the rounded size, inside the memory; each keeps its bytes. */
static void fill_and_drain(size_t item_size) {
    size_t isz = WD_POOL_ITEM_SIZE(item_size);
    wd_pool_t p;
    CHECK(wd_pool_init(&p, mem, sizeof mem, item_size) == 0);
    size_t cap = wd_pool_capacity(&p);
    CHECK(cap >= 1 && cap * isz <= sizeof mem);
    static unsigned char *items[4096];
    CHECK(cap <= 4096);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < cap; i++) {
            items[i] = wd_pool_alloc(&p);
            CHECK(items[i] != NULL && aligned16(items[i]));
            CHECK(items[i] >= mem && items[i] + isz <= mem + sizeof mem);
            CHECK_EQ((size_t)(items[i] - mem) % isz, 0);
            memset(items[i], (int)(i & 0xff), item_size);
            CHECK_EQ(wd_pool_count(&p), i + 1);
        }
        errno = 0;
        CHECK(wd_pool_alloc(&p) == NULL && errno == ENOMEM);
        CHECK_EQ(wd_pool_count(&p), cap);
        for (size_t i = 0; i < cap; i++)
            for (size_t j = 0; j < item_size; j++)
                CHECK_EQ(items[i][j], i & 0xff);
        for (size_t i = 0; i < cap; i++) { /* odd indices first, then even */
            size_t k = i < cap / 2 ? 2 * i + 1 : 2 * (i - cap / 2);
            errno = 1234;
            wd_pool_free(&p, items[k]);
            CHECK_EQ(errno, 1234); /* free leaves errno alone */
        }
        CHECK_EQ(wd_pool_count(&p), 0);
    }
}

static void test_fill(void) {
    size_t sizes[] = {1, 8, 16, 24, 33, 48, 80, 96, 112, 200, 1000, 4000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        fill_and_drain(sizes[i]);
}

/* The last item freed is the next handed out; free(NULL) does nothing;
 * init again empties the pool. */
static void test_lifo_and_reinit(void) {
    wd_pool_t p;
    CHECK(wd_pool_init(&p, mem, 4096, 40) == 0);
    void *a = wd_pool_alloc(&p), *b = wd_pool_alloc(&p), *c = wd_pool_alloc(&p);
    CHECK(a && b && c && a != b && b != c);
    wd_pool_free(&p, b);
    wd_pool_free(&p, a);
    CHECK(wd_pool_alloc(&p) == a);
    CHECK(wd_pool_alloc(&p) == b);
    wd_pool_free(&p, NULL);
    CHECK_EQ(wd_pool_count(&p), 3);
    CHECK(wd_pool_init(&p, mem, 4096, 40) == 0);
    CHECK_EQ(wd_pool_count(&p), 0);
    CHECK(wd_pool_alloc(&p) == a); /* from the start again */
}

/* --- WD_POOL_STATIC ---------------------------------------------------------- */

struct entry {
    char label[20];
    int id;
};

WD_POOL_STATIC(entries, struct entry, 256);

static void test_static(void) {
    CHECK_EQ(wd_pool_capacity(&entries), 256); /* before first use */
    CHECK_EQ(wd_pool_count(&entries), 0);
    CHECK_EQ(sizeof entries_wd_storage, WD_POOL_MEM_SIZE(sizeof(struct entry), 256));
    struct entry *all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = wd_pool_alloc(&entries);
        CHECK(all[i] != NULL && aligned16(all[i]));
        CHECK((unsigned char *)all[i] >= entries_wd_storage);
        CHECK((unsigned char *)(all[i] + 1) <= entries_wd_storage + sizeof entries_wd_storage);
        snprintf(all[i]->label, sizeof all[i]->label, "entry %d", i);
        all[i]->id = i;
    }
    CHECK_EQ(wd_pool_capacity(&entries), 256);
    errno = 0;
    CHECK(wd_pool_alloc(&entries) == NULL && errno == ENOMEM);
    for (int i = 0; i < 256; i++)
        CHECK(all[i]->id == i);
    for (int i = 255; i >= 0; i--)
        wd_pool_free(&entries, all[i]);
    CHECK_EQ(wd_pool_count(&entries), 0);

    /* at block scope too, and with an item larger than 16 bytes unrounded */
    WD_POOL_STATIC(local, double, 3);
    CHECK_EQ(wd_pool_capacity(&local), 3);
    double *d = wd_pool_alloc(&local);
    CHECK(d != NULL);
    *d = 2.5;
    CHECK(wd_pool_alloc(&local) != NULL && wd_pool_alloc(&local) != NULL);
    CHECK(wd_pool_alloc(&local) == NULL);
    CHECK(*d == 2.5);

    /* a lazily initialised pool whose storage cannot hold one item (not
     * something WD_POOL_STATIC can produce, but the slow path's failure):
     * ENOMEM, capacity 0, and it stays so */
    static unsigned char tiny[16] __attribute__((aligned(16)));
    wd_pool_t bad = {.mem = tiny, .mem_size = sizeof tiny, .lazy_item_size = 16};
    CHECK_EQ(wd_pool_capacity(&bad), 0);
    errno = 0;
    CHECK(wd_pool_alloc(&bad) == NULL && errno == ENOMEM);
    CHECK(wd_pool_alloc(&bad) == NULL && errno == ENOMEM);
    CHECK_EQ(wd_pool_count(&bad), 0);
    wd_pool_t zero = {0}; /* never initialised, not static: nothing to hand out */
    CHECK_EQ(wd_pool_capacity(&zero), 0);
    errno = 0;
    CHECK(wd_pool_alloc(&zero) == NULL && errno == ENOMEM);
}

/* --- misuse: each in a forked child, the exact line -------------------------- */

static wd_pool_t victim;
static void *item_a, *item_b;
WD_POOL_STATIC(untouched, int, 8);

static void double_free(void) {
    wd_pool_free(&victim, item_a);
    wd_pool_free(&victim, item_a);
}
static void free_stack_pointer(void) {
    int x;
    wd_pool_free(&victim, &x);
}
static void free_interior(void) { wd_pool_free(&victim, (char *)item_a + 16); }
static void free_misaligned(void) { wd_pool_free(&victim, (char *)item_a + 1); }
static void free_below_start(void) { wd_pool_free(&victim, (char *)item_a - 48); }
static void free_past_end(void) { wd_pool_free(&victim, mem + sizeof mem); }
static void free_never_handed_out(void) { wd_pool_free(&victim, (char *)item_b + 48 * 5); }
static void free_into_uninitialised_static(void) {
    static int x;
    wd_pool_free(&untouched, &x);
}
/* A write into a freed item (use after free) garbles its encoded link: the
 * pop that follows it must stop, not hand out a forged address. */
static void corrupt_link(void) {
    wd_pool_free(&victim, item_b);
    wd_pool_free(&victim, item_a); /* list: a -> b */
    memset(item_a, 0, sizeof(void *));
    wd_pool_alloc(&victim);
}
/* A link forged to point at an item in use. */
static void link_to_live_item(void) {
    void *c = wd_pool_alloc(&victim);
    wd_pool_free(&victim, item_a); /* list: a -> NULL */
    uintptr_t key_and_slot = *(uintptr_t *)item_a; /* 0 ^ key ^ a */
    *(uintptr_t *)item_a = key_and_slot ^ (uintptr_t)c;
    wd_pool_alloc(&victim);
}

static void expect_line(void (*fn)(void), const char *name, const char *what,
                        const void *addr, const char *func) {
    char want[160];
    snprintf(want, sizeof want, "warden: %s at 0x%lx in %s\n", what,
             (unsigned long)(uintptr_t)addr, func);
    test_failures += test_expect_abort(fn, name, want);
}

static void test_misuse(void) {
    CHECK(wd_pool_init(&victim, mem, sizeof mem, 48) == 0); /* 48: not a power of two */
    item_a = wd_pool_alloc(&victim);
    item_b = wd_pool_alloc(&victim);
    CHECK(item_a && item_b);
    expect_line(double_free, "double_free", "double free", item_a, "wd_pool_free");
    EXPECT_ABORT(free_stack_pointer, "warden: invalid pointer at 0x");
    expect_line(free_interior, "free_interior", "invalid pointer", (char *)item_a + 16,
                "wd_pool_free");
    expect_line(free_misaligned, "free_misaligned", "invalid pointer", (char *)item_a + 1,
                "wd_pool_free");
    expect_line(free_below_start, "free_below_start", "invalid pointer", (char *)item_a - 48,
                "wd_pool_free");
    expect_line(free_past_end, "free_past_end", "invalid pointer", mem + sizeof mem,
                "wd_pool_free");
    expect_line(free_never_handed_out, "free_never_handed_out", "invalid pointer",
                (char *)item_b + 48 * 5, "wd_pool_free");
    EXPECT_ABORT(free_into_uninitialised_static, "warden: invalid pointer at 0x");
    expect_line(corrupt_link, "corrupt_link", "corrupted free list", item_a, "wd_pool_alloc");
    expect_line(link_to_live_item, "link_to_live_item", "corrupted free list", item_a,
                "wd_pool_alloc");
    /* the parent's pool is untouched by the children */
    CHECK_EQ(wd_pool_count(&victim), 2);
}

/* --- random model -------------------------------------------------------------- */

static void test_model(void) {
    uint64_t rng = test_seed();
    enum { MAXCAP = 2000 };
    static unsigned char *live[MAXCAP];
    static unsigned char fills[MAXCAP];
    for (int run = 0; run < 20; run++) {
        size_t item = 1 + test_rand(&rng) % 200;
        size_t size = WD_POOL_MEM_SIZE(item, 1 + test_rand(&rng) % MAXCAP);
        size = size > sizeof mem ? sizeof mem : size;
        size_t off = test_rand(&rng) % 16;
        wd_pool_t p;
        CHECK(wd_pool_init(&p, mem + off, size - off, item) == 0);
        size_t cap = wd_pool_capacity(&p), n = 0;
        CHECK(cap <= MAXCAP);
        for (int step = 0; step < 20000; step++) {
            if (test_rand(&rng) % 2 && n < cap) {
                live[n] = wd_pool_alloc(&p);
                CHECK(live[n] != NULL);
                fills[n] = (unsigned char)test_rand(&rng);
                memset(live[n], fills[n], item);
                n++;
            } else if (n > 0) {
                size_t k = test_rand(&rng) % n;
                for (size_t j = 0; j < item; j++)
                    CHECK_EQ(live[k][j], fills[k]);
                wd_pool_free(&p, live[k]);
                live[k] = live[--n];
                fills[k] = fills[n];
            } else {
                CHECK(n == cap || n == 0);
            }
            CHECK_EQ(wd_pool_count(&p), n);
        }
        if (n == cap) {
            errno = 0;
            CHECK(wd_pool_alloc(&p) == NULL && errno == ENOMEM);
        }
    }
}

int main(void) {
    test_init_einval();
    test_capacity();
    test_fill();
    test_lifo_and_reinit();
    test_static();
    test_misuse();
    test_model();
    if (test_failures)
        return 1;
    printf("test_pool: ok\n");
    return 0;
}
