/* platform.c -- the classic heap's glue to the rest of warden: the fatal
 * report and the freed-block wording (options.c), the per-heap secret
 * (os.c), the WARDEN_VALGRIND switch (options.c).  heap.c calls only
 * these, so the heap builds alone without this file (docs/heap.md). */
#include "classic/platform.h"

#include "base/options.h"
#include "os/os.h"

void wdi_heap_fatal(const char *what, const void *addr, const char *fn) {
    wdi_fatal(what, addr, fn);
}

const char *wdi_heap_freed_what(const char *fn) {
    return wdi_freed_what(fn);
}

uint64_t wdi_heap_seed(void) {
    return wdi_os_random();
}

int wdi_heap_valgrind_allowed(void) {
    return wdi_env_flag("WARDEN_VALGRIND", 1);
}
