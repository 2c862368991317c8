#!/usr/bin/env bash
# run_compare.sh -- run a real program twice, without and with an allocator
# preloaded, and compare what it printed.
#
#   run_compare.sh [OPTIONS] NAME PRELOAD_LIB -- COMMAND ARGS...
#
# OPTIONS (before NAME or between PRELOAD_LIB and --):
#   --cwd-temp      run each of the two runs in its own fresh, empty temp dir
#                   (the command may create files in its working directory);
#                   relative paths like ./x.sh among the arguments are made
#                   absolute first
#   --require PROG  skip (exit 77) unless PROG is on PATH; may be repeated
#   --timeout SECS  kill a run that takes longer (default 120; 0 = none)
#
# The reference run has LD_PRELOAD removed from its environment; the second
# run has LD_PRELOAD=PRELOAD_LIB.  Both get the same environment otherwise,
# with LC_ALL=C and TZ=UTC, and stdin from /dev/null.
#
# Exit status:
#   0   stdout and exit status identical, both runs exited 0;
#   1   any difference, a crash, a timeout, a non-zero exit, a `warden:` misuse
#       report on the preloaded run's stderr that the reference run does not
#       have (the `warden: stats ...` and `warden: options ...` lines of
#       WARDEN_OPTIONS=stats=1:verbose=1 are not reports), or a preload
#       library that the dynamic loader refused;
#   77  skip: COMMAND or a --require'd program is not installed, the reference
#       run itself exited 77 (the driver found something missing), or
#       PRELOAD_LIB does not define malloc (no override built into it yet).
#
# The outputs are kept under ${TMPDIR:-/tmp}/wd-prog-NAME.XXXXXX on failure
# (and always when RUN_COMPARE_KEEP=1) so that they can be looked at.
set -u

usage() {
    echo "usage: $0 [--cwd-temp] [--require PROG]... [--timeout SECS] NAME PRELOAD_LIB -- COMMAND ARGS..." >&2
    exit 2
}

cwd_temp=0
requires=()
limit=120
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
    --cwd-temp) cwd_temp=1; shift ;;
    --require) [ $# -ge 2 ] || usage; requires+=("$2"); shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; limit="$2"; shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) positional+=("$1"); shift ;;
    esac
done
[ ${#positional[@]} -eq 2 ] && [ $# -ge 1 ] || usage
name="${positional[0]}"
lib="${positional[1]}"

say() { printf '%s: %s\n' "$name" "$*"; }

# --- what is needed ----------------------------------------------------------
for prog in "$1" "${requires[@]+"${requires[@]}"}"; do
    if ! command -v "$prog" >/dev/null 2>&1; then
        say "SKIP: '$prog' is not installed"
        exit 77
    fi
done
if [ ! -f "$lib" ]; then
    say "FAIL: preload library '$lib' does not exist"
    exit 1
fi
lib="$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")" # absolute: runs change dir
if command -v nm >/dev/null 2>&1; then
    if ! nm -D --defined-only "$lib" 2>/dev/null | awk '{print $NF}' | grep -qx 'malloc'; then
        say "SKIP: '$lib' does not define malloc (the override is not built into it yet)"
        exit 77
    fi
fi
if [ "$cwd_temp" = 1 ]; then
    # The runs change directory: arguments naming existing files by a relative
    # path with a slash (./x.sh, dir/x.sql) are made absolute first.
    args=()
    for a in "$@"; do
        if [[ "$a" == */* && "$a" != /* && -e "$a" ]]; then
            a="$(cd "$(dirname "$a")" && pwd)/$(basename "$a")"
        fi
        args+=("$a")
    done
    set -- "${args[@]}"
fi
have_timeout=0
[ "$limit" != 0 ] && command -v timeout >/dev/null 2>&1 && have_timeout=1

work="$(mktemp -d "${TMPDIR:-/tmp}/wd-prog-$name.XXXXXX")" || exit 1
keep=${RUN_COMPARE_KEEP:-0}
cleanup() { [ "$keep" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'keep=1; exit 1' INT TERM HUP

export LC_ALL=C TZ=UTC

# run TAG PRELOAD: runs the command, stdout/stderr to $work/TAG.{out,err},
# exit status to $work/TAG.rc, wall time to $work/TAG.time
run() {
    local tag="$1" preload="$2" dir="$PWD" start end rc
    shift 2
    if [ "$cwd_temp" = 1 ]; then
        dir="$work/$tag.cwd"
        mkdir "$dir"
    fi
    local envcmd=(env -u LD_PRELOAD)
    [ -n "$preload" ] && envcmd=(env "LD_PRELOAD=$preload")
    local tcmd=()
    [ "$have_timeout" = 1 ] && tcmd=(timeout -k 10 "$limit")
    start=$(date +%s.%N)
    # (the outer 2>/dev/null silences bash's own "Aborted ..." job notice;
    # the exit status says the same)
    { (cd "$dir" && exec "${tcmd[@]+"${tcmd[@]}"}" "${envcmd[@]}" "$@") \
        </dev/null >"$work/$tag.out" 2>"$work/$tag.err"; } 2>/dev/null
    rc=$?
    end=$(date +%s.%N)
    echo "$rc" >"$work/$tag.rc"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f\n", e - s }' >"$work/$tag.time"
}

describe_rc() { # exit status -> words
    local rc="$1"
    if [ "$rc" = 124 ] && [ "$have_timeout" = 1 ]; then
        echo "$rc (timed out after ${limit}s)"
    elif [ "$rc" -gt 128 ] 2>/dev/null; then
        echo "$rc (killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))))"
    else
        echo "$rc"
    fi
}

show_stderr() { # TAG LABEL
    if [ -s "$work/$1.err" ]; then
        echo "----- stderr of the $2 run (last 30 lines) -----"
        tail -n 30 "$work/$1.err"
    fi
}

run ref "" "$@"
run pre "$lib" "$@"
ref_rc=$(cat "$work/ref.rc")
pre_rc=$(cat "$work/pre.rc")

if [ "$ref_rc" = 77 ]; then
    say "SKIP: the reference run asked to skip: $(tail -n 1 "$work/ref.err" 2>/dev/null)"
    exit 77
fi

problems=()
[ "$ref_rc" = 0 ] || problems+=("reference run (no LD_PRELOAD) exited $(describe_rc "$ref_rc")")
[ "$pre_rc" = 0 ] || problems+=("preloaded run exited $(describe_rc "$pre_rc")")
[ "$ref_rc" = "$pre_rc" ] || problems+=("exit status differs: $ref_rc without, $pre_rc with LD_PRELOAD")
stdout_same=1
cmp -s "$work/ref.out" "$work/pre.out" || { stdout_same=0; problems+=("stdout differs"); }
# misuse reports: lines with `warden:`, but not the informational ones that
# WARDEN_OPTIONS=stats=1 / verbose=1 print
reports() { grep 'warden:' "$1" | grep -Ev '^warden: (stats|options) '; }
ref_reports=$(reports "$work/ref.err" | wc -l)
pre_reports=$(reports "$work/pre.err" | wc -l)
[ "$pre_reports" -le "$ref_reports" ] ||
    problems+=("the preloaded run's stderr has a 'warden:' report: $(reports "$work/pre.err" | head -n 1)")
grep -q 'from LD_PRELOAD cannot be preloaded' "$work/pre.err" &&
    problems+=("the dynamic loader did not preload $lib")

times="$(cat "$work/ref.time")s without, $(cat "$work/pre.time")s with LD_PRELOAD"
if [ ${#problems[@]} -eq 0 ]; then
    say "OK: $(wc -l <"$work/ref.out") lines, $(wc -c <"$work/ref.out") bytes of identical stdout; $times"
    exit 0
fi

keep=1
say "FAIL ($times)"
for p in "${problems[@]}"; do echo "  - $p"; done
if [ "$stdout_same" = 0 ]; then
    echo "----- diff -u (first 200 lines) -----"
    diff -u --label "stdout without LD_PRELOAD" --label "stdout with LD_PRELOAD=$lib" \
        "$work/ref.out" "$work/pre.out" | head -n 200
fi
show_stderr ref "reference"
show_stderr pre "preloaded"
echo "outputs kept in $work"
{
    if [ "$cwd_temp" = 1 ]; then printf 'reproduce: cd "$(mktemp -d)"'; else printf 'reproduce: cd %q' "$PWD"; fi
    printf ' && LC_ALL=C TZ=UTC LD_PRELOAD=%q' "$lib"
    printf ' %q' "$@"
    echo
}
exit 1
