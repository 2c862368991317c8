/* bytes.c -- owns wdi_bytes_are and wdi_bytes_fill (bytes.h). */
#include "base/bytes.h"

#include <string.h>

#include "base/internal.h"

/* Two versions of each, chosen once by wdi_bytes_init: AVX2 where the
 * processor has it, the baseline (SSE2 on x86-64, NEON on arm64)
 * elsewhere.  One body, compiled twice: 32-byte vectors, which the
 * baseline splits in two 16-byte ones.  A plain pointer rather than an
 * ifunc: a resolver runs while the program is being relocated, before a
 * sanitizer's runtime is up (ThreadSanitizer crashed there). */
#include "base/bytes_head.h" /* WD_BYTES_AVX2 */

int wdi_bytes_avx2;

typedef uint64_t wd_vec4 __attribute__((vector_size(32)));

/* An OR of differences and one test at the end (8 % faster on
 * bench/suite/aligned than a test per word).  32-byte vectors, four a
 * step, then one at a time, then one more that ends exactly at n and
 * overlaps bytes already read: no loop over the last odd bytes (a third of
 * the check's instructions on small_loop's 16-512-byte blocks).  A call to
 * memcmp cost more. */
static WD_ALWAYS_INLINE int bytes_are(const void *p, size_t n, uint8_t byte) {
    const uint8_t *b = p;
    uint64_t want, diff = 0;
    memset(&want, byte, sizeof want);
    if (n >= 32) {
        wd_vec4 vwant = {want, want, want, want}, vdiff = {0, 0, 0, 0}, w0, w1, w2, w3;
        size_t i = 0;
        for (; i + 128 <= n; i += 128) {
            memcpy(&w0, b + i, 32);
            memcpy(&w1, b + i + 32, 32);
            memcpy(&w2, b + i + 64, 32);
            memcpy(&w3, b + i + 96, 32);
            vdiff |= (w0 ^ vwant) | (w1 ^ vwant) | (w2 ^ vwant) | (w3 ^ vwant);
        }
        for (; i + 32 <= n; i += 32) {
            memcpy(&w0, b + i, 32);
            vdiff |= w0 ^ vwant;
        }
        memcpy(&w0, b + n - 32, 32);
        vdiff |= w0 ^ vwant;
        diff = vdiff[0] | vdiff[1] | vdiff[2] | vdiff[3];
        return diff == 0;
    }
    return wdi_head_are_short(p, n, byte); /* two overlapping reads, or bytes */
}

/* The same shape: 32-byte stores, the last one ending at n.  Not a call
 * to memset, which gcc inlines as `rep stos` when it sees the size is
 * bounded (slow to start on short blocks). */
static WD_ALWAYS_INLINE void bytes_fill(void *p, size_t n, uint8_t byte) {
    uint8_t *b = p;
    uint64_t want;
    memset(&want, byte, sizeof want);
    if (n >= 32) {
        wd_vec4 v = {want, want, want, want};
        size_t i = 0;
        for (; i + 128 <= n; i += 128) {
            memcpy(b + i, &v, 32);
            memcpy(b + i + 32, &v, 32);
            memcpy(b + i + 64, &v, 32);
            memcpy(b + i + 96, &v, 32);
        }
        for (; i + 32 <= n; i += 32)
            memcpy(b + i, &v, 32);
        memcpy(b + n - 32, &v, 32);
        return;
    }
    wdi_head_fill_short(p, n, byte); /* two overlapping stores, or bytes */
}

/* gcc turns the fill's loops into a call to memset otherwise. */
#define WD_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))

static int are_base(const void *p, size_t n, uint8_t byte) { return bytes_are(p, n, byte); }
static WD_NO_MEMSET void fill_base(void *p, size_t n, uint8_t byte) { bytes_fill(p, n, byte); }
#if WD_BYTES_AVX2
__attribute__((target("avx2"))) static int are_avx2(const void *p, size_t n, uint8_t byte) {
    return bytes_are(p, n, byte);
}
__attribute__((target("avx2"))) WD_NO_MEMSET static void fill_avx2(void *p, size_t n,
                                                                    uint8_t byte) {
    bytes_fill(p, n, byte);
}
#endif

static int head_are_base(const void *p, size_t n, uint8_t byte) {
    return wdi_head_are_generic(p, n, byte);
}
static WD_NO_MEMSET void head_fill_base(void *p, size_t n, uint8_t byte) {
    wdi_head_fill_generic(p, n, byte);
}
#if WD_BYTES_AVX2
__attribute__((target("avx2"))) static int head_are_avx2(const void *p, size_t n, uint8_t byte) {
    return wdi_head_are_avx2(p, n, byte);
}
__attribute__((target("avx2"))) WD_NO_MEMSET static void head_fill_avx2(void *p, size_t n,
                                                                         uint8_t byte) {
    wdi_head_fill_avx2(p, n, byte);
}
#endif

static int (*are_impl)(const void *, size_t, uint8_t) = are_base;
static void (*fill_impl)(void *, size_t, uint8_t) = fill_base;
static int (*head_are_impl)(const void *, size_t, uint8_t) = head_are_base;
static void (*head_fill_impl)(void *, size_t, uint8_t) = head_fill_base;

void wdi_bytes_init(void) {
#if WD_BYTES_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        __atomic_store_n(&are_impl, are_avx2, __ATOMIC_RELAXED);
        __atomic_store_n(&fill_impl, fill_avx2, __ATOMIC_RELAXED);
        __atomic_store_n(&head_are_impl, head_are_avx2, __ATOMIC_RELAXED);
        __atomic_store_n(&head_fill_impl, head_fill_avx2, __ATOMIC_RELAXED);
        __atomic_store_n(&wdi_bytes_avx2, 1, __ATOMIC_RELAXED);
    }
#endif
}

int wdi_bytes_are(const void *p, size_t n, uint8_t byte) {
    return __atomic_load_n(&are_impl, __ATOMIC_RELAXED)(p, n, byte);
}

void wdi_bytes_fill(void *p, size_t n, uint8_t byte) {
    __atomic_load_n(&fill_impl, __ATOMIC_RELAXED)(p, n, byte);
}

int wdi_bytes_head_are(const void *p, size_t n, uint8_t byte) {
    return __atomic_load_n(&head_are_impl, __ATOMIC_RELAXED)(p, n, byte);
}

void wdi_bytes_head_fill(void *p, size_t n, uint8_t byte) {
    __atomic_load_n(&head_fill_impl, __ATOMIC_RELAXED)(p, n, byte);
}
