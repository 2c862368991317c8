/* double_free.c -- a block freed twice.
 *
 * The second free is reported as "double free", with its own stack, the
 * stack of the malloc and the stack of the first free; it is then
 * ignored and the program goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *name = malloc(32); /* ALLOC */
    if (name == NULL)
        return 1;
    strcpy(name, "twice");
    free(name); /* FREE: the first free, which is right */
    free(name); /* ERROR: the second */
    puts("double_free: done");
    return 0;
}
