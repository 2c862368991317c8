/* use_after_free.c -- a write through a pointer to a freed block.
 *
 * A freed block is filled with 0xdf and held in a quarantine instead of
 * being reused at once; the write changes some of those bytes.  Check mode
 * sees it when the block leaves the quarantine or, as here, at exit:
 * "write after free: bytes 8 to 11 of a freed 24-byte block", with the
 * stacks of the malloc and of the free (not of the write itself: nothing
 * watches the write as it happens). */
#include <stdio.h>
#include <stdlib.h>

struct account {
    long id;
    int balance;
    int flags;
    char *owner;
};

int main(void) {
    struct account *acc = malloc(sizeof *acc); /* ALLOC */
    if (acc == NULL)
        return 1;
    acc->id = 1;
    acc->balance = 100;
    free(acc); /* FREE */
    acc->balance = 0; /* ERROR: the block was freed */
    puts("use_after_free: done");
    return 0;
}
