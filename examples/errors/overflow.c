/* overflow.c -- a heap buffer overflow: an array of 100 ints (400 bytes)
 * written at index 100, one element past its end.
 *
 * Under WARDEN_OPTIONS=check=1 the write lands in the redzone after the
 * block; free finds it there and reports "heap buffer overflow: 4 bytes
 * past the end of a 400-byte block", with the stack of the free and the
 * stack of the malloc.  The program goes on and prints its last line. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    int *a = malloc(100 * sizeof *a); /* ALLOC */
    if (a == NULL)
        return 1;
    for (int i = 0; i < 100; i++)
        a[i] = i;
    a[100] = 100; /* ERROR: index 100 is past the end */
    printf("a[99] = %d\n", a[99]);
    free(a); /* FREE: the overflow is found here */
    puts("overflow: done");
    return 0;
}
