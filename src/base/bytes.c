/* bytes.c -- owns wdi_bytes_are (bytes.h). */
#include "base/bytes.h"

#include <string.h>

/* An OR of differences and one test at the end (8 % faster on
 * bench/suite/aligned than a test per word).  16-byte vectors (SSE2 on
 * x86-64, NEON on arm64), four a step, then one at a time, then one more
 * that ends exactly at n and overlaps bytes already read: no loop over the
 * last odd bytes (a third of the check's instructions on small_loop's
 * 16-512-byte blocks).  A call to memcmp cost more. */
typedef uint64_t wd_vec2 __attribute__((vector_size(16)));

int wdi_bytes_are(const void *p, size_t n, uint8_t byte) {
    const uint8_t *b = p;
    uint64_t want, diff = 0;
    memset(&want, byte, sizeof want);
    if (n >= 16) {
        wd_vec2 vwant = {want, want}, vdiff = {0, 0}, w0, w1, w2, w3;
        size_t i = 0;
        for (; i + 64 <= n; i += 64) {
            memcpy(&w0, b + i, 16);
            memcpy(&w1, b + i + 16, 16);
            memcpy(&w2, b + i + 32, 16);
            memcpy(&w3, b + i + 48, 16);
            vdiff |= (w0 ^ vwant) | (w1 ^ vwant) | (w2 ^ vwant) | (w3 ^ vwant);
        }
        for (; i + 16 <= n; i += 16) {
            memcpy(&w0, b + i, 16);
            vdiff |= w0 ^ vwant;
        }
        memcpy(&w0, b + n - 16, 16);
        vdiff |= w0 ^ vwant;
        diff = vdiff[0] | vdiff[1];
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
