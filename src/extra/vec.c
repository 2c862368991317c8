/* vec.c -- the out-of-line part of warden/vec.h: its misuse reports.
 *
 * The vector itself is macros in the header (its allocator hook is chosen
 * by the including file, so its code must be compiled there).  Only the
 * reports live here, because they need wdi_fatal.  Calls: options.h. */
#include "warden/vec.h"

#include "base/options.h"

void wd_vec_fail_index(const void *vec, size_t index, size_t len) {
    char what[96];
    wdi_fmt(what, sizeof what, "index %zu out of range (len %zu)", index, len);
    wdi_fatal(what, vec, "wd_vec_at");
}

void wd_vec_fail_empty(const void *vec) {
    wdi_fatal("pop from an empty vector", vec, "wd_vec_pop");
}
