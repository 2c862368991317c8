/* holder MIB: keeps MIB mebibytes (default 100) live until exit, in one
 * block written through so that it is resident, and exits 0 without
 * freeing it: statistics written at exit must count it in use.  Not linked
 * with warden; test_warden.sh runs it under `warden stats --json`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    char *block = malloc(mib << 20);
    if (block == NULL)
        return 1;
    memset(block, 1, mib << 20);
    printf("holding %zu MiB, byte %d\n", mib, block[(mib << 20) - 1]); /* keeps the memset */
    return 0; /* block stays live */
}
