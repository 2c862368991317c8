/* os.c -- owns mmap, munmap, madvise, mprotect, sysconf and getrandom.
 * Upper layers ask for memory here and nowhere else (STYLE.md, section 2).
 * Calls only the kernel through libc wrappers that never allocate. */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

size_t wdi_os_page_size(void) {
    static size_t page;
    if (page == 0) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

int wdi_os_map(size_t size, void **out) {
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int err = p == MAP_FAILED ? errno : 0;
    errno = saved;
    if (err == 0)
        *out = p;
    return err;
}

int wdi_os_unmap(void *addr, size_t size) {
    int saved = errno;
    int err = munmap(addr, size) == 0 ? 0 : errno;
    errno = saved;
    return err;
}

/* splitmix64 finaliser: spreads weak entropy over all 64 bits. */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t wdi_os_random(void) {
    static uint64_t counter;
    uint64_t r = 0;
    int saved = errno;
    ssize_t got = getrandom(&r, sizeof r, GRND_NONBLOCK);
    errno = saved;
    if (got == (ssize_t)sizeof r)
        return r;
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    counter += 0x9E3779B97F4A7C15ULL;
    return mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                 (uint64_t)(uintptr_t)&r ^ counter);
}
