/* os.h -- the only layer that talks to the kernel about memory.
 * Contract (every function): never sets errno, never prints, never takes a
 * lock; returns 0 or an errno value. */
#ifndef WARDEN_OS_H
#define WARDEN_OS_H

#include <stddef.h>
#include <stdint.h>

/* Bytes in a page of the running system (read once, then cached). */
size_t wdi_os_page_size(void);

/* Maps size bytes (a multiple of the page size) of fresh zeroed memory,
 * read-write, anywhere.  *out is set only on success. */
int wdi_os_map(size_t size, void **out);
int wdi_os_unmap(void *addr, size_t size);

/* Maps size bytes aligned to align (a power of two >= the page size) by
 * over-mapping and trimming both ends. */
int wdi_os_map_aligned(size_t size, size_t align, void **out);

/* Resizes the mapping at addr from old_size to new_size bytes without
 * copying: in place when dest is NULL (fails when the address space after
 * it is taken), else by moving its pages to dest, which must be a mapping of
 * new_size bytes (it is replaced).  *out is set only on success. */
int wdi_os_remap(void *addr, size_t old_size, size_t new_size, void *dest, void **out);

/* Address space only: pages cost nothing until touched (MAP_NORESERVE). */
int wdi_os_reserve(size_t size, void **out);

/* Returns the pages to the OS (MADV_DONTNEED: RSS drops at once, and the
 * range reads back as zeros).  The range stays mapped and usable.  addr and
 * size need not be page-aligned: only whole pages inside are released;
 * *released gets their byte count. */
int wdi_os_decommit(void *addr, size_t size, size_t *released);

/* Changes the access of [addr, addr + size) (page-aligned): WD_PROT_NONE
 * makes a guard (any access faults), WD_PROT_READ a read-only page,
 * WD_PROT_RW gives read-write back. */
enum { WD_PROT_NONE = 0, WD_PROT_READ = 1, WD_PROT_RW = 3 };
int wdi_os_protect(void *addr, size_t size, int prot);
/* Makes [addr, addr + size) of a private anonymous mapping inaccessible
 * and gives its memory back: it reads as zeros once opened again. */
int wdi_os_close_fresh(void *addr, size_t size);

/* Guard pages: [addr, addr + size) (page-aligned, inside a read-write
 * mapping) becomes inaccessible, any access faults (SIGSEGV) and its
 * contents are dropped (the memory goes back to the OS).  With Linux 6.13
 * or later this is MADV_GUARD_INSTALL: a marker in the page tables, no new
 * mapping in the kernel (no VMA), so a process may have millions; older
 * kernels get mprotect(PROT_NONE) and MADV_DONTNEED, each run of pages with
 * other rights around it a mapping of its own (vm.max_map_count: 65530
 * by default), which may fail with ENOMEM (the contents are dropped all
 * the same).  wdi_os_unguard makes the range read-write again, reading as
 * zeros.  Markers and rights survive fork. */
int wdi_os_guard(void *addr, size_t size);
int wdi_os_unguard(void *addr, size_t size);
/* 1 when wdi_os_guard uses page-table markers (no mapping per range). */
int wdi_os_guard_markers(void);
/* From now on wdi_os_guard uses mprotect, as on a kernel without markers:
 * how that path is tested on any kernel (guard_markers=0).  Called before
 * the first wdi_os_guard. */
void wdi_os_guard_markers_off(void);

/* The process's resident memory in bytes (/proc/self/statm), 0 when it
 * cannot be read.  For statistics only: two system calls. */
size_t wdi_os_resident_bytes(void);

/* How many bytes of [addr, addr + size) are resident now (mincore), counted
 * in whole pages of the system that overlap the range, at most size; 0
 * where the range is not mapped.  Reads the page tables only: touches no
 * byte of the range, so it may be asked about memory another thread is
 * unmapping.  For pictures, statistics and the large cache's bound
 * (large.c): a system call per 4 MiB. */
size_t wdi_os_resident(const void *addr, size_t size);

/* Opens path for writing (created with mode 0666 less the umask; appended
 * to when append is non-zero, else emptied first), close-on-exec.  *fd is
 * set only on success. */
int wdi_os_open_output(const char *path, int append, int *fd);
void wdi_os_close(int fd);

/* The working directory into buf (getcwd, which allocates nothing when
 * given a buffer); 0 or an errno value. */
int wdi_os_getcwd(char *buf, size_t size);

/* The calling process's id, and a sleep of ms milliseconds (the statistics
 * thread's clock: thread.c). */
int wdi_os_pid(void);
void wdi_os_sleep_ms(uint32_t ms);

/* Milliseconds since 1970 (CLOCK_REALTIME): when a statistics line was
 * written. */
uint64_t wdi_os_wall_ms(void);

/* Milliseconds from a coarse monotonic clock (cheap: no syscall on Linux). */
uint64_t wdi_os_now_ms(void);

/* 64 unpredictable bits for secrets (checksum keys, link encoding).  Uses the
 * kernel's random source and falls back to address and clock entropy when
 * it is unavailable (early boot, seccomp), so it never fails. */
uint64_t wdi_os_random(void);

/* Ends the process with status at once, as the C library's _exit does,
 * but not through warden's own _exit (whose check mode checks first): for
 * a helper's child and for warden's own ends. */
__attribute__((noreturn)) void wdi_os_exit(int status);

/* Copies n bytes at src of this process's memory to dst without faulting
 * when src is not mapped (process_vm_readv); returns the bytes copied
 * (fewer, down to 0, where the range stops being readable). */
size_t wdi_os_read_self(void *dst, const void *src, size_t n);

/* Calls fn(start, end, perms, path, arg) on every mapping of the process
 * (/proc/self/maps; perms as "rw-p", path "" for an anonymous one), in
 * address order, until fn returns non-zero.  Reads through a fixed buffer:
 * no allocation.  0, or an errno value when the file cannot be read. */
int wdi_os_maps_foreach(int (*fn)(uintptr_t start, uintptr_t end, const char *perms,
                                  const char *path, void *arg),
                        void *arg);

/* The stack pointers of the process's other threads (/proc/self/task: a
 * thread blocked in a system call shows where its stack is), at most max
 * into sp; their count, or -1 when one of them is running (its stack
 * pointer is not shown then), there are more than max, or the files cannot
 * be read.  No allocation. */
int wdi_os_threads_sp(uintptr_t *sp, int max);

/* The calling thread's thread pointer (x86-64: the fs base, where glibc
 * keeps the thread's descriptor, at the top of its stack's mapping); 0
 * where it is not known. */
uintptr_t wdi_os_thread_pointer(void);

/* Calls fn(text, len, arg) on /proc/self/maps as it is, chunk after
 * chunk, until fn returns non-zero (a heap profile copies it whole).  0,
 * or an errno value when the file cannot be read. */
int wdi_os_maps_copy(int (*fn)(const char *text, size_t len, void *arg), void *arg);

#endif /* WARDEN_OS_H */
