#!/bin/sh
# Instructions per call of the classic heap and of the naive first-fit heap,
# counted by callgrind (bench/heap_cost.c says what each workload does):
#   bench/heap_cost.sh BUILD_DIR        (STEPS_CALLS=N: calls single-stepped)
# Each count is the instructions executed inside the entry point (and what
# it calls) over the measured phase, divided by the calls; WARDEN_VALGRIND=0
# so that the heap runs the path it runs natively.
set -eu
build=$1
bin=$build/bench/heap_cost
command -v valgrind > /dev/null || { echo "heap_cost: valgrind not found" >&2; exit 1; }
count() { # workload heap function -> instructions in that function
    out=$(mktemp)
    WARDEN_VALGRIND=0 valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect="$3" "$bin" "$1" $2 > "$out.calls" 2>/dev/null
    # The workload zeroes callgrind's counters when its measured phase
    # starts (CALLGRIND_ZERO_STATS): the setup's calls are not counted.
    total=$(awk '/^summary:|^totals:/ {print $2; exit}' "$out")
    calls=$(awk -v f="$3" '/^calls:/ { print (f ~ /free/) ? $5 : $3 }' "$out.calls")
    rm -f "$out" "$out.calls"
    echo "$total $calls"
}
printf '%-8s %-22s %14s %14s\n' workload heap "malloc instr" "free instr"
for w in pair mix worst; do
    for heap in warden naive; do
        flag=""; fm=wd_heap_malloc; ff=wd_heap_free
        if [ $heap = naive ]; then flag=--naive; fm="naive_malloc*"; ff="naive_free*"; fi
        set -- $(count $w "$flag" "$fm"); m="$1 $2"
        set -- $(count $w "$flag" "$ff"); f="$1 $2"
        printf '%-8s %-22s %14s %14s\n' $w $heap \
            "$(echo $m | awk '{printf "%.1f", $2 ? $1 / $2 : 0}')" \
            "$(echo $f | awk '{printf "%.1f", $2 ? $1 / $2 : 0}')"
    done
done
"$bin" fill
# The same heap as warden's medium tier: instructions per wd_malloc and
# wd_free on blocks of 64 KiB to 1 MiB (bench/medium_cost.c).
bin=$build/bench/medium_cost
set -- $(count "" "" wd_malloc); m="$1 $2"
set -- $(count "" "" wd_free); f="$1 $2"
printf '%-8s %-22s %14s %14s\n' medium "warden malloc/free" \
    "$(echo $m | awk '{printf "%.1f", $2 ? $1 / $2 : 0}')" \
    "$(echo $f | awk '{printf "%.1f", $2 ? $1 / $2 : 0}')"
bin=$build/bench/heap_cost
# The worst single call: the last STEPS_CALLS calls of the mix (and every
# call of the pair and of the worst case) single-stepped with ptrace.
echo
"$bin" steps x "${STEPS_CALLS:-5000}"
"$bin" steps --naive 200
