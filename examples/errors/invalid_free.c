/* invalid_free.c -- free of pointers malloc never returned: a stack
 * array, a static array, and a pointer into the middle of a block.
 *
 * Each is reported as "invalid pointer" with the stack of the free; the
 * third also names the block the pointer is inside, with its allocation
 * stack.  Each bad free is ignored and the program goes on. */
#include <stdio.h>
#include <stdlib.h>

static char table[64];

int main(void) {
    char local[64];
    local[0] = 0;
    table[0] = 0;
    char *block = malloc(100); /* ALLOC */
    if (block == NULL)
        return 1;
    free(local); /* ERROR_STACK: a stack array */
    free(table); /* ERROR_STATIC: a static array */
    free(block + 10); /* ERROR_INSIDE: 10 bytes inside the block */
    free(block);
    puts("invalid_free: done");
    return 0;
}
