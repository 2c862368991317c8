/* uninit.c -- a read of memory nobody wrote: a malloc'd int printed.
 *
 * Check mode does not see reads.  What it does is fill every new block
 * from malloc with the byte 0xbe, so the garbage is always the same and
 * easy to recognise: this program prints 0xbebebebe under warden (and
 * whatever was there before with another allocator).  valgrind's memcheck
 * or MemorySanitizer report the read itself (docs/check.md). */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    unsigned *x = malloc(sizeof *x); /* ALLOC */
    if (x == NULL)
        return 1;
    printf("value: 0x%x\n", *x); /* ERROR: *x was never written */
    free(x);
    puts("uninit: done");
    return 0;
}
