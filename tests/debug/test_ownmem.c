/* test_ownmem -- warden's own mappings (src/base/ownmem.h) are never roots
 * of check mode's leak scan, however many there are: a block whose only
 * pointer lies in the last of 600 mappings registered as warden's is lost.
 * (The list held 256 and forgot the rest, which the scan then read as the
 * program's memory: in a large perl run under check=2, whose areas' records
 * passed that number, every leak was reported as still reachable.)
 * ctest runs it with WARDEN_OPTIONS=check=1; without check mode it skips. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "test.h"
#include "warden.h"

#include "base/options.h"
#include "base/ownmem.h"

#define MAPS 600
#define LOST 100

static void *maps[MAPS];

/* The block's only pointer goes into warden's (pretended) memory. */
__attribute__((noinline)) static void lose_into(void **slot) {
    void *volatile p = wd_malloc(LOST);
    *slot = p;
}

/* Overwrites the stack below main's frame, where copies of the pointer
 * may linger in dead frames. */
__attribute__((noinline)) static void wipe_stack(void) {
    volatile char area[64 * 1024];
    memset((char *)area, 0, sizeof area);
}

__attribute__((noinline)) static size_t scan(void) { return wd_check_leaks(); }

int main(void) {
    (void)test_failures; /* every check here exits at once */
    if (!wdi_checking) {
        printf("skip: not in check mode (WARDEN_OPTIONS=check=1)\n");
        return TEST_SKIP;
    }
    for (int i = 0; i < MAPS; i++) {
        maps[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(maps[i] != MAP_FAILED);
        wdi_own_add(maps[i], 4096);
    }
    lose_into((void **)maps[MAPS - 1]);
    wipe_stack();
    size_t lost = scan();
    CHECK_EQ(lost, (size_t)LOST);
    CHECK_EQ(wdi_own_dropped(), (size_t)0);
    for (int i = 0; i < MAPS; i++) {
        wdi_own_remove(maps[i]);
        munmap(maps[i], 4096);
    }
    printf("ok: a block known only to the last of %d mappings of warden's is lost\n", MAPS);
    return 0;
}
