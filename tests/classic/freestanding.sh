#!/bin/sh
# The classic heap built alone (docs/heap.md, "Building the heap alone"):
#   freestanding.sh CC SOURCE_DIR WORK_DIR
# compiles src/classic/heap.c with -ffreestanding -DWD_HEAP_FREESTANDING, at
# -Os and -O2, asserts that it needs no symbol but memset and memcpy, links
# examples/heap_freestanding.c with it (-Wl,--gc-sections: only what the
# example calls stays) and runs it, then prints the bytes of heap code the
# example links: init + malloc + free.
set -eu
cc=$1 src=$2 work=$3
mkdir -p "$work"
fail() { echo "heap_freestanding: $*" >&2; exit 1; }
for opt in -Os -O2; do
    obj="$work/heap$opt.o"
    "$cc" -std=c11 -ffreestanding $opt -Wall -Wextra -Werror -DWD_HEAP_FREESTANDING \
        -ffunction-sections -fdata-sections -I"$src/include" -c "$src/src/classic/heap.c" -o "$obj"
    undef=$(nm -u "$obj" | awk '{print $2}' | sort -u | tr '\n' ' ')
    for sym in $undef; do
        case "$sym" in
            memset|memcpy|wd_heap_fatal) ;;
            *) fail "heap.c built alone needs '$sym' (only memset, memcpy and wd_heap_fatal allowed)" ;;
        esac
    done
    ex="$work/heap_freestanding$opt"
    "$cc" -std=c11 -ffreestanding $opt -Wall -Wextra -Werror -DWD_HEAP_FREESTANDING \
        -ffunction-sections -I"$src/include" -c "$src/examples/heap_freestanding.c" -o "$ex.o"
    "$cc" -Wl,--gc-sections "$ex.o" "$obj" -o "$ex"
    "$ex" || fail "examples/heap_freestanding ($opt) exited $?"
    # Bytes of the heap's functions linked by a program that calls only
    # init, malloc and free.
    cat > "$work/minimal.c" <<'END'
#include "warden/heap.h"
static unsigned char memory[4096] __attribute__((aligned(16)));
void wd_heap_fatal(const char *what, const void *addr, const char *fn) {
    (void)what, (void)addr, (void)fn;
    __builtin_trap();
}
int main(void) {
    wd_heap_t *h = wd_heap_init_seeded(memory, sizeof memory, 1);
    void *p = wd_heap_malloc(h, 100);
    wd_heap_free(h, p);
    return p == 0;
}
END
    "$cc" -std=c11 -ffreestanding $opt -DWD_HEAP_FREESTANDING -I"$src/include" \
        -c "$work/minimal.c" -o "$work/minimal$opt.o"
    "$cc" -Wl,--gc-sections "$work/minimal$opt.o" "$obj" -o "$work/minimal$opt"
    "$work/minimal$opt" || fail "init + malloc + free ($opt) failed"
    funcs=$(nm "$obj" | awk '$2 ~ /^[tT]$/ {print $3}' | sort -u)
    bytes=$(nm -S "$work/minimal$opt" | awk -v list="$funcs" '
        function hex(s,   i, v) {
            v = 0
            for (i = 1; i <= length(s); i++)
                v = v * 16 + index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
            return v
        }
        BEGIN { n = split(list, f, "\n"); for (i = 1; i <= n; i++) want[f[i]] = 1 }
        $3 ~ /^[tT]$/ && ($4 in want) { sum += hex($2) }
        END { print sum + 0 }')
    echo "heap code linked for init + malloc + free ($opt): $bytes bytes; needs only: $undef"
done
