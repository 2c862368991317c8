/* tsan.h -- what ThreadSanitizer cannot see for itself, told in its terms.
 *
 * The segment map is ordered by the kernel, not by a lock: a thread writes
 * the entries of a range only while it has the range mapped (clear before
 * munmap or a moving mremap, set after mmap returns it), and the kernel
 * hands a range to one mapping at a time.  TSan does not know that an unmap
 * happens before a later map that returns the same addresses, so it would
 * report every reuse of a range as a race.  wdi_tsan_release(addr) just
 * before a range goes back and wdi_tsan_acquire(addr) right after it comes
 * back (on the same address: segment.h uses each entry's own) state that
 * order; a write that does not follow it, like a clear after the range was
 * given away, is then a real report.
 *
 * WD_TSAN_UNCHECKED marks a function that reads, on purpose and harmlessly,
 * what other threads write without a lock (a statistics snapshot): TSan
 * does not instrument it, so its reads are neither reported nor reported
 * against.
 *
 * Outside a TSan build (make test TSAN=1) all of it compiles to nothing. */
#ifndef WARDEN_TSAN_H
#define WARDEN_TSAN_H

#include <stdint.h>

/* clang says so through __has_feature, gcc through a macro. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WD_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(WD_TSAN)
#define WD_TSAN 1
#endif
#ifndef WD_TSAN
#define WD_TSAN 0
#endif

#if WD_TSAN
/* The runtime's entry points (sanitizer/tsan_interface.h), declared here
 * so the core needs no sanitizer header. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

static inline void wdi_tsan_release(const void *addr) { __tsan_release((void *)(uintptr_t)addr); }
static inline void wdi_tsan_acquire(const void *addr) { __tsan_acquire((void *)(uintptr_t)addr); }
#define WD_TSAN_UNCHECKED __attribute__((no_sanitize("thread")))
#else
static inline void wdi_tsan_release(const void *addr) { (void)addr; }
static inline void wdi_tsan_acquire(const void *addr) { (void)addr; }
#define WD_TSAN_UNCHECKED
#endif

#endif /* WARDEN_TSAN_H */
