/* leak.c -- memory leaks of each kind the report at exit tells apart:
 *
 *  - ten 333-byte blocks from one line, whose pointers are dropped:
 *    "3330 bytes in 10 blocks are definitely lost";
 *  - a struct whose only pointer is dropped, and which points to a second
 *    block: the struct is definitely lost, the block it points to is
 *    "indirectly lost" (freeing the struct's owner would free both);
 *  - a block a global variable still points to: "still reachable", which
 *    is not a leak and is listed only with WARDEN_OPTIONS=leaks=all. */
#include <stdio.h>
#include <stdlib.h>

struct node {
    char name[16];
    char *payload; /* the second block, reachable only through the node */
};

char *config; /* global: what it points to stays reachable */

/* noinline: the pointers live in this function's frame, which is dead
 * (and overwritten) by the time the leak scan runs at exit. */
static __attribute__((noinline)) void make_leaks(void) {
    for (int i = 0; i < 10; i++) {
        char *p = malloc(333); /* LEAK: ten blocks, definitely lost */
        if (p != NULL)
            p[0] = (char)i;
    }
    struct node *n = malloc(sizeof *n); /* LEAK_NODE: definitely lost */
    if (n == NULL)
        return;
    n->payload = malloc(100); /* LEAK_PAYLOAD: indirectly lost */
    n->name[0] = '\0';
}

int main(void) {
    make_leaks();
    config = malloc(64); /* REACHABLE: still reachable from a global */
    if (config != NULL)
        config[0] = '\0';
    puts("leak: done");
    return 0;
}
