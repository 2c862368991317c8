/* test_classes.c -- the small tier's size classes, which the compiler
 * builds from two formulas (core/page.c): every request from 0 to
 * WD_SMALL_MAX bytes gets the first class that holds it, the sizes grow
 * in the documented steps (16 bytes up to 128, four per power of two up
 * to 1 KiB, eight above), and the aligned-class table names, for each
 * class and alignment, the first class whose blocks all have it. */
#include <warden.h>

#include "core/page.h"
#include "test.h"

static void t_sizes(void) {
    CHECK_EQ(wdi_class_size[1], 16);
    CHECK_EQ(wdi_class_size[WD_CLASSES - 1], WD_SMALL_MAX);
    for (unsigned c = 2; c < WD_CLASSES; c++) {
        uint32_t prev = wdi_class_size[c - 1], size = wdi_class_size[c];
        /* the step: 16 up to 128; a quarter, then an eighth, of the power
         * of two below */
        uint32_t base = 1;
        while (base * 2 < size)
            base *= 2;
        uint32_t step = size <= 128 ? 16 : size <= 1024 ? base / 4 : base / 8;
        if (size - prev != step) {
            fprintf(stderr, "class %u: %u after %u, step %u expected\n", c, size, prev, step);
            exit(1);
        }
    }
}

static void t_class_of_every_size(void) {
    for (size_t n = 0; n <= WD_SMALL_MAX; n++) {
        unsigned c = wdi_small_class(n);
        if (c < 1 || c >= WD_CLASSES || wdi_class_size[c] < n ||
            (c > 1 && wdi_class_size[c - 1] >= n)) {
            fprintf(stderr, "a request of %zu bytes got class %u (%u bytes)\n", n, c,
                    c < WD_CLASSES ? wdi_class_size[c] : 0);
            exit(1);
        }
    }
}

static void t_aligned_classes(void) {
    wdi_page_init_classes(); /* as the process start does; once more is harmless */
    for (unsigned k = 0; k < WD_ALIGNED_SHIFTS; k++)
        for (unsigned c = 1; c < WD_CLASSES; c++) {
            unsigned want = c;
            while (want < WD_CLASSES && wdi_class_size[want] % (32u << k) != 0)
                want++;
            CHECK_EQ(wdi_class_aligned[c][k], want);
        }
}

int main(void) {
    t_sizes();
    t_class_of_every_size();
    t_aligned_classes();
    if (test_failures)
        return 1;
    printf("all class checks passed\n");
    return 0;
}
