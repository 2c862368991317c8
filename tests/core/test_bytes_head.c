/* test_bytes_head -- the fill and the check of a freed block's head
 * (src/base/bytes_head.h), both versions (the baseline, and AVX2 where the
 * processor has it; harden.c builds its free path on each): for every n
 * from 0 to 256, the fill sets exactly bytes [0, n) and the check sees a
 * change of any one of them, and nothing past n. */
#include "base/bytes_head.h"

#include "test.h"

int wdi_bytes_avx2; /* the header's extern; bytes.c is not linked here */

#define MAXN 256
#define PAD 64
#define PATTERN 0xdf

typedef int (*are_fn)(const void *, size_t, uint8_t);
typedef void (*fill_fn)(void *, size_t, uint8_t);

static int are_generic(const void *p, size_t n, uint8_t b) { return wdi_head_are_generic(p, n, b); }
static void fill_generic(void *p, size_t n, uint8_t b) { wdi_head_fill_generic(p, n, b); }
#if WD_BYTES_AVX2
__attribute__((target("avx2"))) static int are_avx2(const void *p, size_t n, uint8_t b) {
    return wdi_head_are_avx2(p, n, b);
}
__attribute__((target("avx2"))) static void fill_avx2(void *p, size_t n, uint8_t b) {
    wdi_head_fill_avx2(p, n, b);
}
#endif

static void check_version(const char *name, fill_fn fill, are_fn are) {
    static uint8_t buf[PAD + MAXN + PAD];
    for (size_t n = 0; n <= MAXN; n++) {
        for (size_t off = 0; off < 16; off += 8) { /* 16-aligned and not */
            uint8_t *p = buf + PAD + off;
            memset(buf, 0x55, sizeof buf);
            fill(p, n, PATTERN);
            for (size_t i = 0; i < sizeof buf; i++) {
                int inside = buf + i >= p && buf + i < p + n;
                if (buf[i] != (inside ? PATTERN : 0x55)) {
                    fprintf(stderr, "%s: fill of %zu bytes wrote byte %td wrong\n", name, n,
                            (ptrdiff_t)(buf + i - p));
                    exit(1);
                }
            }
            CHECK(are(p, n, PATTERN));
            for (size_t i = 0; i < n; i++) {
                p[i] ^= 1;
                if (are(p, n, PATTERN)) {
                    fprintf(stderr, "%s: check of %zu bytes missed byte %zu\n", name, n, i);
                    exit(1);
                }
                p[i] ^= 1;
            }
            p[-1] = 0;
            p[n] = 0; /* past the end: not looked at */
            CHECK(are(p, n, PATTERN));
        }
    }
    printf("ok: %s\n", name);
}

int main(void) {
    check_version("baseline", fill_generic, are_generic);
#if WD_BYTES_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        check_version("avx2", fill_avx2, are_avx2);
    else
        printf("skip: avx2 (the processor has none)\n");
#endif
    return test_failures ? 1 : 0;
}
