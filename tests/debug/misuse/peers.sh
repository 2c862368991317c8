#!/usr/bin/env bash
# peers.sh -- what warden, glibc, jemalloc, tcmalloc and mimalloc notice of
# the misuse cases of tests/debug/misuse (not run by ctest).
#
#   tests/debug/misuse/peers.sh [--build DIR] [--runs N] [--messages] [--timeout SECS]
#
# Runs every case of DIR/tests/debug/misuse/misuse_cases (built by `make`, linked
# with nothing of warden) once per allocator, each in its own process:
#   warden    LD_PRELOAD=DIR/libwarden.so
#   warden-h2 the same with WARDEN_OPTIONS=harden=2
#   glibc     no preload
#   jemalloc  LD_PRELOAD=libjemalloc.so.2          (Debian: libjemalloc2)
#   tcmalloc  LD_PRELOAD=libtcmalloc_minimal.so.4  (libtcmalloc-minimal4)
#   mimalloc  LD_PRELOAD=libmimalloc.so.2          (libmimalloc2.0)
# from /usr/lib/x86_64-linux-gnu (LIBDIR=... to look elsewhere); an allocator
# whose library is missing is left out of the table, with a note.
#
# Each outcome is one of
#   reported  killed by a signal after printing a message (the allocator
#             named the problem and stopped the program)
#   warned    printed a message but the program went on and exited 0
#   crashed   killed by a signal without a word (SIGSEGV, SIGBUS ...)
#   silent    exit 0 and nothing printed: the misuse went unnoticed
#   hung      still running after the timeout (default 10 s)
#   n/a       the case does not apply (e.g. no free_sized in that allocator)
#   exit N    any other exit status
# Every case runs --runs times (default 5) per allocator: where the outcome
# depends on addresses (what a wild read finds), the cell lists each one seen,
# e.g. "crashed / silent", and the totals count it as "varies".
# Prints a Markdown table (case x allocator), then the totals per allocator;
# --messages adds each allocator's first stderr line per case (addresses
# shown as 0x...).  Exit status 0 unless the case program is missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../../../build"
messages=0
runs=5
timeout_s=10
libdir=${LIBDIR:-/usr/lib/x86_64-linux-gnu}

while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --messages) messages=1; shift ;;
    --runs) runs=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "peers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

build=$(cd "$build" 2>/dev/null && pwd) || { echo "peers.sh: no build directory" >&2; exit 2; }
prog="$build/tests/debug/misuse/misuse_cases"
if [ ! -x "$prog" ]; then
    echo "peers.sh: $prog not found: run \`make\` first" >&2
    exit 2
fi

names=()
libs=()
envs=()
add() { # add NAME LIB ('' = no preload) [VAR=VALUE for the runs]
    if [ -n "$2" ] && [ ! -e "$2" ]; then
        echo "peers.sh: $1 left out: $2 not found" >&2
        return
    fi
    names+=("$1")
    libs+=("$2")
    envs+=("${3:-}")
}
add warden "$build/libwarden.so"
add warden-h2 "$build/libwarden.so" WARDEN_OPTIONS=harden=2
add glibc ""
add jemalloc "$libdir/libjemalloc.so.2"
add tcmalloc "$libdir/libtcmalloc_minimal.so.4"
add mimalloc "$libdir/libmimalloc.so.2"

mapfile -t cases < <("$prog" --list)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wd-peers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ulimit -c 0

# classify LIB CASE [VAR=VALUE]: prints the outcome; the first stderr line
# goes to $tmp/msg
classify() {
    local lib=$1 name=$2 env=${3:-} rc
    (
        if [ -n "$lib" ]; then export LD_PRELOAD="$lib"; else unset LD_PRELOAD; fi
        unset WARDEN_OPTIONS
        if [ -n "$env" ]; then export "${env?}"; fi
        exec timeout -k 2 "$timeout_s" "$prog" "$name" >"$tmp/out" 2>"$tmp/err" </dev/null
    ) 2>/dev/null
    rc=$?
    grep -v '^$' "$tmp/err" | head -n 1 | sed -E 's/0x[0-9a-fA-F]+/0x.../g' >"$tmp/msg"
    local said=0
    [ -s "$tmp/msg" ] && said=1
    if [ $rc -eq 77 ]; then echo "n/a"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then echo "hung"
    elif [ $rc -gt 128 ]; then
        if [ $said -eq 1 ]; then echo "reported"; else echo "crashed"; fi
    elif [ $rc -eq 0 ]; then
        if [ $said -eq 1 ]; then echo "warned"; else echo "silent"; fi
    else echo "exit $rc"
    fi
}

declare -A result msg
for name in "${cases[@]}"; do
    for i in "${!names[@]}"; do
        : >"$tmp/seen"
        for ((run = 0; run < runs; run++)); do
            r=$(classify "${libs[$i]}" "$name" "${envs[$i]}") # in a subshell: no "Aborted" notices
            echo "$r" >>"$tmp/seen"
            [ -s "$tmp/msg" ] && [ -z "${msg[$name,$i]:-}" ] && msg[$name,$i]=$(cat "$tmp/msg")
        done
        result[$name,$i]=$(sort -u "$tmp/seen" | paste -s -d ',' | sed 's|,| / |g')
    done
done

# The table.
header="| case |"
rule="|---|"
for n in "${names[@]}"; do header+=" $n |"; rule+="---|"; done
echo "$header"
echo "$rule"
for name in "${cases[@]}"; do
    row="| \`$name\` |"
    for i in "${!names[@]}"; do row+=" ${result[$name,$i]} |"; done
    echo "$row"
done

# Totals per allocator.
echo
echo "| allocator | reported | warned | crashed | silent | hung | n/a | varies | other |"
echo "|---|---|---|---|---|---|---|---|---|"
for i in "${!names[@]}"; do
    declare -A count=([reported]=0 [warned]=0 [crashed]=0 [silent]=0 [hung]=0 [n/a]=0 [varies]=0 [other]=0)
    for name in "${cases[@]}"; do
        r=${result[$name,$i]}
        case "$r" in
        *" / "*) count[varies]=$((count[varies] + 1)) ;;
        reported|warned|crashed|silent|hung|n/a) count[$r]=$((count[$r] + 1)) ;;
        *) count[other]=$((count[other] + 1)) ;;
        esac
    done
    echo "| ${names[$i]} | ${count[reported]} | ${count[warned]} | ${count[crashed]} | ${count[silent]} | ${count[hung]} | ${count[n/a]} | ${count[varies]} | ${count[other]} |"
    unset count
done
echo
echo "${#cases[@]} cases (names starting gap_ are warden's expected gaps), $runs run(s) each; $(date +%Y-%m-%d)"

if [ $messages -eq 1 ]; then
    echo
    echo "| case | allocator | first line on stderr |"
    echo "|---|---|---|"
    for name in "${cases[@]}"; do
        for i in "${!names[@]}"; do
            m=${msg[$name,$i]:-}
            [ -n "$m" ] && echo "| \`$name\` | ${names[$i]} | \`${m//|/\\|}\` |"
        done
    done
fi
exit 0
