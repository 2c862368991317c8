/* internal.h -- macros and tiny inlines every layer of warden shares.  No
 * state of its own, no calls. */
#ifndef WARDEN_INTERNAL_H
#define WARDEN_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define wd_likely(x)   __builtin_expect(!!(x), 1)
#define wd_unlikely(x) __builtin_expect(!!(x), 0)
#define WD_NOINLINE    __attribute__((noinline))
#define WD_ALWAYS_INLINE inline __attribute__((always_inline))
#define WD_COLD        __attribute__((cold, noinline))
#define WD_NORETURN    __attribute__((noreturn))

/* Every block warden hands out is aligned to this (glibc does the same on
 * x86_64, and SSE code relies on it). */
#define WD_ALIGN ((size_t)16)

static inline size_t wd_align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
static inline uintptr_t wd_ptr_align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }
static inline int wd_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* m * inv == 1 mod 2^64 for odd m; Newton's iteration doubles the correct
 * low bits each step (m is its own inverse mod 8: 3 bits, then 6 ... 96). */
static inline uint64_t wd_inverse_odd(uint64_t m) {
    uint64_t x = m;
    for (int i = 0; i < 5; i++)
        x *= 2 - m * x;
    return x;
}

/* Which item of size m << shift (m odd, inv == wd_inverse_odd(m)) starts
 * at offset off, or a value >= any item count when none does.  Exact:
 * rotating off right by shift keeps off / 2^shift when the low bits are 0
 * and sets high bits otherwise; multiplying by inv is a bijection modulo
 * 2^64 that takes i * m to i, so a product below the count comes only from
 * a true multiple (i * m fits 64 bits).  Offsets below the start wrap to
 * huge values and fail the same way.  A rotate, a multiply, no division. */
static inline uint64_t wd_item_index(uint64_t off, unsigned shift, uint64_t inv) {
    uint64_t x = (off >> shift) | (off << ((64 - shift) & 63));
    return x * inv;
}

/* *total = n * size; -1 with errno = ENOMEM when that overflows (calloc,
 * reallocarray: C and glibc fail with ENOMEM, never wrap). */
static inline int wd_mul_size(size_t n, size_t size, size_t *total) {
    if (wd_unlikely(__builtin_mul_overflow(n, size, total))) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* Always-on misuse checks of the fast paths (double and interior frees of
 * small blocks).  0 only to measure what they cost (cmake -DWD_HARDEN=OFF). */
#ifndef WD_HARDEN
#define WD_HARDEN 1
#endif

/* A hint to the CPU inside a spin loop. */
static inline void wd_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* wd_assert: warden's own invariants, compiled out unless WD_DEBUG.
 * (Misuse by the program is never an assert: see wdi_fatal in options.h.) */
#if defined(WD_DEBUG) && WD_DEBUG > 0
#include <assert.h>
#define wd_assert(x) assert(x)
#else
#define wd_assert(x) ((void)0)
#endif

#endif /* WARDEN_INTERNAL_H */
