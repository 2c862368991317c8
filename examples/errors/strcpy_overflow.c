/* strcpy_overflow.c -- strcpy of a long string into a 4-byte buffer.
 *
 * The string and its terminating zero (28 bytes) run 24 bytes past the
 * end of the block, into the redzone; free reports "heap buffer overflow:
 * 24 bytes past the end of a 4-byte block", with the stacks of the free
 * and of the malloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    (void)argv;
    /* Not a constant the compiler can see through: gcc would otherwise
     * warn, or turn the strcpy into stores it checks at compile time. */
    const char *text = argc > 100 ? "" : "a string much longer than 4";
    char *buf = malloc(4); /* ALLOC */
    if (buf == NULL)
        return 1;
    strcpy(buf, text); /* ERROR: 28 bytes into 4 */
    printf("copied %zu bytes\n", strlen(text) + 1);
    free(buf); /* FREE: the overflow is found here */
    puts("strcpy_overflow: done");
    return 0;
}
