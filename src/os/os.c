/* os.c -- owns mmap, munmap, madvise, mprotect, sysconf, getrandom and exit_group.
 * Upper layers ask for memory here and nowhere else (STYLE.md, section 2).
 * Calls only the kernel through libc wrappers that never allocate. */
#define _GNU_SOURCE
#include "os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Threads that come first at once may all fill the cache; they store the
 * same value, so relaxed atomics suffice (and tell TSan it is no race). */
size_t wdi_os_page_size(void) {
    static size_t page;
    size_t cached = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (cached == 0) {
        long p = sysconf(_SC_PAGESIZE);
        cached = p > 0 ? (size_t)p : 4096;
        __atomic_store_n(&page, cached, __ATOMIC_RELAXED);
    }
    return cached;
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

/* Where the next aligned mapping is tried first: just below the last one.
 * The kernel hands out address space from the top down, so that spot is
 * usually free, and one mmap there replaces an over-sized mmap and two
 * trimming munmaps. */
static uintptr_t aligned_hint;

/* Maps size bytes at exactly hint, or returns nonzero with nothing mapped.
 * MAP_FIXED_NOREPLACE never replaces a mapping; a kernel older than 4.17
 * takes it as a plain hint and may map elsewhere, which is undone. */
static int map_at(uintptr_t hint, size_t size, void **out) {
    int saved = errno;
    void *p = mmap((void *)hint, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    errno = saved;
    if (p == MAP_FAILED)
        return -1;
    if ((uintptr_t)p != hint) {
        wdi_os_unmap(p, size);
        return -1;
    }
    *out = p;
    return 0;
}

int wdi_os_map_aligned(size_t size, size_t align, void **out) {
    size_t page = wdi_os_page_size();
    if (align <= page)
        return wdi_os_map(size, out);
    if (size > SIZE_MAX - align)
        return ENOMEM;
    uintptr_t below = __atomic_load_n(&aligned_hint, __ATOMIC_RELAXED);
    uintptr_t hint = (below - size) & ~(uintptr_t)(align - 1);
    if (below > size + align && map_at(hint, size, out) == 0) {
        __atomic_store_n(&aligned_hint, hint, __ATOMIC_RELAXED);
        return 0;
    }
    void *raw;
    int err = wdi_os_map(size + align - page, &raw);
    if (err != 0)
        return err;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = (size_t)(start - (uintptr_t)raw);
    size_t tail = align - page - head;
    if (head != 0)
        wdi_os_unmap(raw, head);
    if (tail != 0)
        wdi_os_unmap((void *)(start + size), tail);
    __atomic_store_n(&aligned_hint, start, __ATOMIC_RELAXED);
    *out = (void *)start;
    return 0;
}

int wdi_os_remap(void *addr, size_t old_size, size_t new_size, void *dest, void **out) {
    int saved = errno;
    void *p = dest ? mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest)
                   : mremap(addr, old_size, new_size, 0);
    int err = p == MAP_FAILED ? errno : 0;
    errno = saved;
    if (err == 0)
        *out = p;
    return err;
}

int wdi_os_reserve(size_t size, void **out) {
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    int err = p == MAP_FAILED ? errno : 0;
    errno = saved;
    if (err == 0)
        *out = p;
    return err;
}

int wdi_os_decommit(void *addr, size_t size, size_t *released) {
    size_t page = wdi_os_page_size();
    uintptr_t lo = ((uintptr_t)addr + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)addr + size) & ~(uintptr_t)(page - 1);
    *released = 0;
    if (hi <= lo)
        return 0;
    int saved = errno;
    int err = madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0 ? 0 : errno;
    errno = saved;
    if (err == 0)
        *released = hi - lo;
    return err;
}

/* The pages made inaccessible with mprotect, and their memory given back
 * whether or not that worked: opened again, they read as zeros, which the
 * guard pool's cells expect of a closed cell (guard.c) even when the
 * kernel refused the protection (out of mappings).  Returns mprotect's
 * error. */
static int protect_none_dropped(void *addr, size_t size) {
    int err = mprotect(addr, size, PROT_NONE) == 0 ? 0 : errno;
    madvise(addr, size, MADV_DONTNEED);
    return err;
}

/* One call where mprotect and madvise took two: a new mapping replaces
 * the pages (MAP_FIXED), so their memory goes with them.  When the kernel
 * refuses it (out of mappings or memory), the two calls. */
int wdi_os_close_fresh(void *addr, size_t size) {
    int saved = errno, err = 0;
    void *p = mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        err = protect_none_dropped(addr, size);
    errno = saved;
    return err;
}

int wdi_os_protect(void *addr, size_t size, int prot) {
    int native = prot == WD_PROT_NONE ? PROT_NONE
                 : prot == WD_PROT_READ ? PROT_READ : PROT_READ | PROT_WRITE;
    return mprotect(addr, size, native) == 0 ? 0 : errno;
}

/* Linux 6.13's guard markers (uapi asm-generic/mman-common.h); Debian 12's
 * headers predate them. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* 0 unknown, 1 markers work, 2 they do not (EINVAL: an older kernel). */
static int guard_markers;

int wdi_os_guard(void *addr, size_t size) {
    int saved = errno, err = 0;
    int mode = __atomic_load_n(&guard_markers, __ATOMIC_RELAXED);
    if (mode != 2) {
        if (madvise(addr, size, MADV_GUARD_INSTALL) == 0) {
            __atomic_store_n(&guard_markers, 1, __ATOMIC_RELAXED);
            errno = saved;
            return 0;
        }
        err = errno;
        if (err != EINVAL || mode == 1) {
            errno = saved;
            return err;
        }
        __atomic_store_n(&guard_markers, 2, __ATOMIC_RELAXED);
    }
    err = protect_none_dropped(addr, size);
    errno = saved;
    return err;
}

int wdi_os_unguard(void *addr, size_t size) {
    int saved = errno, err;
    if (__atomic_load_n(&guard_markers, __ATOMIC_RELAXED) == 1)
        err = madvise(addr, size, MADV_GUARD_REMOVE) == 0 ? 0 : errno;
    else
        err = mprotect(addr, size, PROT_READ | PROT_WRITE) == 0 ? 0 : errno;
    errno = saved;
    return err;
}

int wdi_os_guard_markers(void) {
    return __atomic_load_n(&guard_markers, __ATOMIC_RELAXED) == 1;
}

void wdi_os_guard_markers_off(void) { __atomic_store_n(&guard_markers, 2, __ATOMIC_RELAXED); }

size_t wdi_os_resident_bytes(void) {
    int saved = errno;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    char buf[128];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    errno = saved;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *s = buf;
    while (*s && *s != ' ') /* skip the first field (total size) */
        s++;
    size_t pages = 0;
    for (s++; *s >= '0' && *s <= '9'; s++)
        pages = pages * 10 + (size_t)(*s - '0');
    return pages * wdi_os_page_size();
}

size_t wdi_os_resident(const void *addr, size_t size) {
    size_t page = wdi_os_page_size();
    uintptr_t lo = (uintptr_t)addr & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)addr + size + page - 1) & ~(uintptr_t)(page - 1);
    unsigned char vec[1024]; /* one byte a page: 4 MiB a call */
    size_t pages = 0;
    int saved = errno;
    for (uintptr_t at = lo; at < hi;) {
        size_t n = (hi - at) / page < sizeof vec ? (hi - at) / page : sizeof vec;
        if (mincore((void *)at, n * page, vec) == 0)
            for (size_t i = 0; i < n; i++)
                pages += vec[i] & 1;
        at += n * page;
    }
    errno = saved;
    size_t bytes = pages * page;
    return bytes < size ? bytes : size;
}

int wdi_os_open_output(const char *path, int append, int *fd) {
    int saved = errno;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int got = open(path, flags, 0666);
    int err = got < 0 ? errno : 0;
    errno = saved;
    if (err == 0)
        *fd = got;
    return err;
}

void wdi_os_close(int fd) {
    int saved = errno;
    close(fd);
    errno = saved;
}

int wdi_os_getcwd(char *buf, size_t size) {
    int saved = errno;
    int err = getcwd(buf, size) != NULL ? 0 : errno;
    errno = saved;
    return err;
}

int wdi_os_pid(void) { return (int)getpid(); }

void wdi_os_sleep_ms(uint32_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    int saved = errno;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    errno = saved;
}

uint64_t wdi_os_wall_ms(void) {
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t wdi_os_now_ms(void) {
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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

size_t wdi_os_read_self(void *dst, const void *src, size_t n) {
    int saved = errno;
    struct iovec local = {dst, n}, remote = {(void *)(uintptr_t)src, n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    errno = saved;
    return got > 0 ? (size_t)got : 0;
}

static uintptr_t parse_hex(const char **s) {
    uintptr_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* One line of /proc/self/maps: "start-end perms offset dev inode   path". */
static int maps_line(char *line, int (*fn)(uintptr_t, uintptr_t, const char *, const char *, void *),
                     void *arg) {
    const char *s = line;
    uintptr_t start = parse_hex(&s);
    if (*s++ != '-')
        return 0;
    uintptr_t end = parse_hex(&s);
    if (*s++ != ' ')
        return 0;
    char perms[5];
    memcpy(perms, s, 4);
    perms[4] = '\0';
    for (int field = 0; field < 4 && *s; field++) { /* to the path, past 4 fields */
        while (*s && *s != ' ')
            s++;
        while (*s == ' ')
            s++;
    }
    return fn(start, end, perms, s, arg);
}

/* Opens /proc/self/maps: the descriptor, or -1 with the error in *err
 * (errno is put back to saved either way). */
static int maps_open(int saved, int *err) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    *err = fd < 0 ? errno : 0;
    errno = saved;
    return fd;
}

int wdi_os_maps_foreach(int (*fn)(uintptr_t start, uintptr_t end, const char *perms,
                                  const char *path, void *arg),
                        void *arg) {
    int saved = errno, err;
    int fd = maps_open(saved, &err);
    if (fd < 0)
        return err;
    char buf[8192];
    size_t have = 0;
    int stop = 0;
    while (!stop) {
        ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = '\0';
        char *line = buf, *nl;
        while (!stop && (nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
            *nl = '\0';
            stop = maps_line(line, fn, arg);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line); /* a partial line waits for the rest */
        memmove(buf, line, have);
        if (have == sizeof buf - 1) /* a line longer than the buffer: dropped */
            have = 0;
    }
    close(fd);
    errno = saved;
    return 0;
}

/* v in decimal into out (24 bytes). */
static void decimal(unsigned long v, char *out) {
    char digits[24];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

/* The stack pointer in /proc/self/task/TID/syscall ("NR args... SP PC",
 * or "-1 SP PC" when blocked outside a system call), or 0 for "running"
 * or a file that cannot be read. */
static uintptr_t task_sp(const char *tid) {
    char path[64] = "/proc/self/task/", buf[256];
    size_t at = strlen(path), n = strlen(tid);
    if (n > sizeof path - at - sizeof "/syscall")
        return 0;
    memcpy(path + at, tid, n);
    memcpy(path + at + n, "/syscall", sizeof "/syscall");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0 || buf[0] == 'r')
        return 0;
    buf[got] = '\0';
    /* the next to last field */
    const char *fields[16];
    int count = 0;
    for (const char *s = buf; *s && count < 16;) {
        while (*s == ' ' || *s == '\n')
            s++;
        if (*s == '\0')
            break;
        fields[count++] = s;
        while (*s && *s != ' ' && *s != '\n')
            s++;
    }
    if (count < 3 || fields[count - 2][0] != '0' || fields[count - 2][1] != 'x')
        return 0;
    const char *hex = fields[count - 2] + 2;
    return parse_hex(&hex);
}

int wdi_os_threads_sp(uintptr_t *sp, int max) {
    int saved = errno;
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    char self[24];
    decimal((unsigned long)syscall(SYS_gettid), self);
    long dirents[1024]; /* 8 KiB, aligned for the records */
    int n = 0;
    for (;;) {
        long got = (long)syscall(SYS_getdents64, fd, dirents, sizeof dirents);
        if (got <= 0) {
            if (got < 0)
                n = -1;
            break;
        }
        for (long at = 0; at < got && n >= 0;) {
            const char *rec = (const char *)dirents + at;
            unsigned short reclen;
            memcpy(&reclen, rec + 16, sizeof reclen);
            const char *name = rec + 19;
            at += reclen;
            if (name[0] < '0' || name[0] > '9' || strcmp(name, self) == 0)
                continue;
            uintptr_t s = task_sp(name);
            if (s == 0 || n == max) /* running, unreadable, or one too many */
                n = -1;
            else
                sp[n++] = s;
        }
        if (n < 0)
            break;
    }
    close(fd);
    errno = saved;
    return n;
}

uintptr_t wdi_os_thread_pointer(void) {
#if defined(__x86_64__) && defined(__linux__)
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
#else
    return 0;
#endif
}

int wdi_os_maps_copy(int (*fn)(const char *text, size_t len, void *arg), void *arg) {
    int saved = errno, err;
    int fd = maps_open(saved, &err);
    if (fd < 0)
        return err;
    char buf[8192];
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || fn(buf, (size_t)got, arg) != 0)
            break;
    }
    close(fd);
    errno = saved;
    return 0;
}

void wdi_os_exit(int status) {
    for (;;) /* every thread of the process; exit_group does not return */
        syscall(SYS_exit_group, status);
}
