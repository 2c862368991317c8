/* bytes_head.h -- the fill and the check of the head of a freed block
 * (harden=2), inline: harden.c builds its free path twice on them, for
 * AVX2 and for the baseline, so that neither is a call (bytes.h has the
 * same as functions, chosen for the processor).
 *
 * n is at most 256 (WDI_BYTES_HEAD_MAX).  Without a loop, so without a
 * branch that depends on n once n >= 32: eight 32-byte accesses, the first
 * at 0, the last at n - 32, the i-th between at min(32 i, (n - 32) & ~7);
 * they overlap when the block is shorter, and the bytes past n are never
 * touched.  A loop over 32-byte steps took a mispredicted branch or two at
 * every block of a random size (bench/suite/small_loop: 2.5 a malloc/free
 * pair, cachegrind).  The six middle offsets are read from a table
 * (wdi_head_at) by (n - 32) / 8: one load each, where a compare against
 * n took three instructions each.  Below 32 bytes: two overlapping
 * accesses, or bytes. */
#ifndef WARDEN_BYTES_HEAD_H
#define WARDEN_BYTES_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WD_BYTES_AVX2 1
#include <immintrin.h>
#else
#define WD_BYTES_AVX2 0
#endif

/* 1 when the AVX2 versions were chosen (wdi_bytes_init). */
extern int wdi_bytes_avx2;

typedef uint64_t wdi_head_vec4 __attribute__((vector_size(32)));
typedef uint64_t wdi_head_vec2 __attribute__((vector_size(16)));

#define WDI_HEAD_STEPS 8
/* wdi_head_at[last / 8][i] = min(32 i, last & ~7), for last = n - 32 from 0
 * to WDI_BYTES_HEAD_MAX - 32: the i-th access's offset for 0 < i < 7.  Each
 * offset is at most last, so the accesses stay within n; two in a row are
 * at most 32 apart, and the sixth is at least min(192, last - 7), at most
 * 32 below the last access's n - 32, so together they cover the n bytes. */
#define WDI_HEAD_ROWS ((256 - 32) / 8 + 1)
#define WDI_HEAD_AT(i, r) (uint8_t)(32 * (i) < 8 * (r) ? 32 * (i) : 8 * (r))
#define WDI_HEAD_ROW(r)                                                                  \
    {WDI_HEAD_AT(0, r), WDI_HEAD_AT(1, r), WDI_HEAD_AT(2, r), WDI_HEAD_AT(3, r),        \
     WDI_HEAD_AT(4, r), WDI_HEAD_AT(5, r), WDI_HEAD_AT(6, r), WDI_HEAD_AT(7, r)}
/* In the header, a copy in each file that includes it (232 bytes): read
 * relative to the code, without a load of its address, and the header
 * stays whole for tests/core/test_bytes_head.c. */
__attribute__((unused)) static const uint8_t wdi_head_at[WDI_HEAD_ROWS][WDI_HEAD_STEPS] = {
    WDI_HEAD_ROW(0),  WDI_HEAD_ROW(1),  WDI_HEAD_ROW(2),  WDI_HEAD_ROW(3),  WDI_HEAD_ROW(4),
    WDI_HEAD_ROW(5),  WDI_HEAD_ROW(6),  WDI_HEAD_ROW(7),  WDI_HEAD_ROW(8),  WDI_HEAD_ROW(9),
    WDI_HEAD_ROW(10), WDI_HEAD_ROW(11), WDI_HEAD_ROW(12), WDI_HEAD_ROW(13), WDI_HEAD_ROW(14),
    WDI_HEAD_ROW(15), WDI_HEAD_ROW(16), WDI_HEAD_ROW(17), WDI_HEAD_ROW(18), WDI_HEAD_ROW(19),
    WDI_HEAD_ROW(20), WDI_HEAD_ROW(21), WDI_HEAD_ROW(22), WDI_HEAD_ROW(23), WDI_HEAD_ROW(24),
    WDI_HEAD_ROW(25), WDI_HEAD_ROW(26), WDI_HEAD_ROW(27), WDI_HEAD_ROW(28)};

/* The i-th access's offset, last = n - 32 (0 <= last <= 224). */
static WD_ALWAYS_INLINE size_t wdi_head_off(const uint8_t *row, size_t i, size_t last) {
    return i == 0 ? 0 : i == WDI_HEAD_STEPS - 1 ? last : row[i];
}

static WD_ALWAYS_INLINE int wdi_head_are_short(const void *p, size_t n, uint8_t byte) {
    const uint8_t *b = p;
    uint64_t want, diff = 0;
    memset(&want, byte, sizeof want);
    if (n >= 16) {
        wdi_head_vec2 vwant = {want, want}, w0, w1;
        memcpy(&w0, b, 16);
        memcpy(&w1, b + n - 16, 16);
        w0 = (w0 ^ vwant) | (w1 ^ vwant);
        diff = w0[0] | w0[1];
    } else if (n >= 8) {
        uint64_t w0, w1;
        memcpy(&w0, b, 8);
        memcpy(&w1, b + n - 8, 8);
        diff = (w0 ^ want) | (w1 ^ want);
    } else {
        for (size_t i = 0; i < n; i++)
            diff |= (uint64_t)(b[i] ^ byte);
    }
    return diff == 0;
}

static WD_ALWAYS_INLINE void wdi_head_fill_short(void *p, size_t n, uint8_t byte) {
    uint8_t *b = p;
    uint64_t want;
    memset(&want, byte, sizeof want);
    if (n >= 16) {
        wdi_head_vec2 v = {want, want};
        memcpy(b, &v, 16);
        memcpy(b + n - 16, &v, 16);
    } else if (n >= 8) {
        memcpy(b, &want, 8);
        memcpy(b + n - 8, &want, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            b[i] = byte;
    }
}

static WD_ALWAYS_INLINE int wdi_head_are_generic(const void *p, size_t n, uint8_t byte) {
    if (wd_likely(n >= 32)) {
        const uint8_t *b = p;
        uint64_t want;
        memset(&want, byte, sizeof want);
        wdi_head_vec4 vwant = {want, want, want, want}, vdiff = {0, 0, 0, 0}, w;
        size_t last = n - 32;
        const uint8_t *row = wdi_head_at[last >> 3];
#pragma GCC unroll 8
        for (size_t i = 0; i < WDI_HEAD_STEPS; i++) {
            memcpy(&w, b + wdi_head_off(row, i, last), 32);
            vdiff |= w ^ vwant;
        }
        return (vdiff[0] | vdiff[1] | vdiff[2] | vdiff[3]) == 0;
    }
    return wdi_head_are_short(p, n, byte);
}

static WD_ALWAYS_INLINE void wdi_head_fill_generic(void *p, size_t n, uint8_t byte) {
    if (wd_likely(n >= 32)) {
        uint8_t *b = p;
        uint64_t want;
        memset(&want, byte, sizeof want);
        wdi_head_vec4 v = {want, want, want, want};
        size_t last = n - 32;
        const uint8_t *row = wdi_head_at[last >> 3];
#pragma GCC unroll 8
        for (size_t i = 0; i < WDI_HEAD_STEPS; i++)
            memcpy(b + wdi_head_off(row, i, last), &v, 32);
        return;
    }
    wdi_head_fill_short(p, n, byte);
}

#if WD_BYTES_AVX2
/* With the intrinsics: one vptest at the end, and no vector spilled to a
 * realigned stack (the generic vectors cost both). */
static WD_ALWAYS_INLINE __attribute__((target("avx2"))) int wdi_head_are_avx2(const void *p,
                                                                               size_t n,
                                                                               uint8_t byte) {
    if (wd_likely(n >= 32)) {
        const uint8_t *b = p;
        __m256i want = _mm256_set1_epi8((char)byte), diff = _mm256_setzero_si256();
        size_t last = n - 32;
        const uint8_t *row = wdi_head_at[last >> 3];
#pragma GCC unroll 8
        for (size_t i = 0; i < WDI_HEAD_STEPS; i++)
            diff = _mm256_or_si256(
                diff,
                _mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(b + wdi_head_off(row, i, last))), want));
        return _mm256_testz_si256(diff, diff);
    }
    return wdi_head_are_short(p, n, byte);
}

static WD_ALWAYS_INLINE __attribute__((target("avx2"))) void wdi_head_fill_avx2(void *p,
                                                                                 size_t n,
                                                                                 uint8_t byte) {
    if (wd_likely(n >= 32)) {
        uint8_t *b = p;
        __m256i v = _mm256_set1_epi8((char)byte);
        size_t last = n - 32;
        const uint8_t *row = wdi_head_at[last >> 3];
#pragma GCC unroll 8
        for (size_t i = 0; i < WDI_HEAD_STEPS; i++)
            _mm256_storeu_si256((__m256i *)(b + wdi_head_off(row, i, last)), v);
        return;
    }
    wdi_head_fill_short(p, n, byte);
}
#endif

#endif /* WARDEN_BYTES_HEAD_H */
