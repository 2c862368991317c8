/* platform.h -- what the classic heap (heap.c) needs from the rest of
 * warden, in one place, so that heap.c names no other warden file and can
 * be built alone (-DWD_HEAP_FREESTANDING, where the program supplies the
 * fatal report and the seed instead; docs/heap.md). */
#ifndef WARDEN_SRC_HEAP_PLATFORM_H
#define WARDEN_SRC_HEAP_PLATFORM_H

#include <stdint.h>

/* Writes `warden: <what> at <addr> in <fn>` to stderr and aborts. */
__attribute__((noreturn, cold)) void wdi_heap_fatal(const char *what, const void *addr,
                                                    const char *fn);

/* "double free" when fn frees, "use after free" when it reads or resizes. */
const char *wdi_heap_freed_what(const char *fn);

/* A fresh 64-bit secret for a new heap (the kernel's random source). */
uint64_t wdi_heap_seed(void);

/* 0 when WARDEN_VALGRIND=0 is in the environment: a heap made under
 * valgrind then runs its plain path and says nothing to memcheck (so that
 * callgrind counts what runs natively). */
int wdi_heap_valgrind_allowed(void);

#endif /* WARDEN_SRC_HEAP_PLATFORM_H */
