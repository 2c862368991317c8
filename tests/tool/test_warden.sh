#!/bin/sh
# The warden command from outside: tests/tool/test_warden.sh CASE
# with WARDEN (the command), VERSION (the project's), CC, EXAMPLES
# (build/examples) and HOLDER (holder.c) in the environment.  One ctest per CASE
# (tests/tool/CMakeLists.txt); exit 0 passed, 1 failed, 77 skipped (a
# library option that this build does not have yet, or a static link that
# this machine cannot do).
#
# The real program is python3 (sqlite3 for one case): the system's own
# interpreter, not a wrapper script in PATH that would start other
# processes, each with its own report.
set -u
case_name=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

fail() {
    echo "FAIL: $*" >&2
    for f in out err; do
        [ -s "$tmp/$f" ] && { echo "--- $f:" >&2; head -n 20 "$tmp/$f" >&2; }
    done
    exit 1
}

# run_w ARGS...: the command, stdout to $tmp/out, stderr to $tmp/err,
# status in $rc.
run_w() {
    "$WARDEN" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

contains() { grep -qF -- "$2" "$tmp/$1"; }

# expect_error TEXT ARGS...: exit 2 and one line on stderr, `warden: ...`
# with TEXT in it; nothing on stdout.
expect_error() {
    text=$1
    shift
    run_w "$@"
    [ "$rc" -eq 2 ] || fail "warden $*: exit $rc, not 2"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "warden $*: not one line on stderr"
    grep -q '^warden: ' "$tmp/err" || fail "warden $*: the line does not start with 'warden: '"
    contains err "$text" || fail "warden $*: no '$text' in the message"
    [ ! -s "$tmp/out" ] || fail "warden $*: wrote to stdout"
    echo "ok: warden $* -> $(cat "$tmp/err")"
}

# skip_unless_option KEY: 77 when the library warned that it does not
# know KEY (or cannot read its value): the verb's back-end is not in this
# build yet.
skip_unless_option() {
    if contains err "unknown option '$1'" || contains err "bad value for option '$1'"; then
        echo "skip: this build's library does not take this $1 option yet ($(grep -m1 "option '$1'" "$tmp/err"))"
        exit 77
    fi
}

# A program that keeps 8 MiB live and exits with status 5.
py_holds='
import sys
block = bytearray(8 << 20)
print("python ran", len(block))
sys.exit(5)'

case_help() {
    run_w --help
    [ "$rc" -eq 0 ] || fail "--help: exit $rc"
    cp "$tmp/out" "$tmp/help"
    for verb in run check stats profile map; do
        grep -q "^  $verb " "$tmp/help" || fail "--help does not list $verb"
        run_w "$verb" --help
        [ "$rc" -eq 0 ] || fail "$verb --help: exit $rc"
        grep -q "^usage: warden $verb " "$tmp/out" || fail "$verb --help: no usage line"
    done
    run_w help stats
    grep -q "^usage: warden stats " "$tmp/out" || fail "help stats: no usage line"
    run_w --version
    [ "$rc" -eq 0 ] || fail "--version: exit $rc"
    [ "$(cat "$tmp/out")" = "warden $VERSION" ] || fail "--version: '$(cat "$tmp/out")', not 'warden $VERSION'"
    echo "ok: --help, VERB --help, --version ($(cat "$tmp/out"))"
}

case_errors() {
    expect_error "no verb given"
    expect_error "unknown verb 'frobnicate'" frobnicate -- true
    expect_error "unknown option '--frobnicate'" --frobnicate
    expect_error "unknown option '-x'" run -x -- true
    expect_error "unknown option '--json'" check --json -- true
    expect_error "unknown option '-o'" check -o x -- true
    expect_error "needs a value" stats -o
    expect_error "no program given" run
    expect_error "no program given" stats --json --
    expect_error "no such program: no-such-program-here" run -- no-such-program-here
    expect_error "no such program: ./not/here" check -- ./not/here
    expect_error "no such program: /nonexistent/python9" run -- /nonexistent/python9 x
    # A script whose interpreter is missing.
    printf '#!/nonexistent/interp\necho hi\n' >"$tmp/script"
    chmod +x "$tmp/script"
    expect_error "no such program: /nonexistent/interp" run -- "$tmp/script"
    # setuid: the loader would ignore LD_PRELOAD (even owned by us, the
    # command refuses: as root it could work, but says what to expect).
    cp /bin/true "$tmp/suid-true"
    chmod u+s "$tmp/suid-true"
    expect_error "setuid" run -- "$tmp/suid-true"
    expect_error "LD_PRELOAD" run -- "$tmp/suid-true"
    # Outputs that cannot be written: the program never starts.
    expect_error "cannot write /nonexistent/dir/s.json" stats --json -o /nonexistent/dir/s.json -- "$PYTHON" -c 'open("/tmp/ran", "w")'
    expect_error "Is a directory" map -o "$tmp" -- "$PYTHON" -c pass
    expect_error "cannot create directory /nonexistent/prof" profile -o /nonexistent/prof -- "$PYTHON" -c pass
    mkdir "$tmp/ro"
    chmod 0555 "$tmp/ro"
    if [ "$(id -u)" -ne 0 ]; then # root writes anywhere
        expect_error "cannot write $tmp/ro/m.svg" map -o "$tmp/ro/m.svg" -- "$PYTHON" -c pass
    fi
    expect_error "cannot write /proc/warden.svg" map -o /proc/warden.svg -- "$PYTHON" -c pass
    expect_error "contains ':'" stats -o "$tmp/a:b" -- "$PYTHON" -c pass
    [ ! -e "$tmp/a:b" ] || fail "the rejected output file was left behind"
}

case_static() {
    printf 'int main(void) { return 0; }\n' >"$tmp/s.c"
    if ! "$CC" -static -o "$tmp/static" "$tmp/s.c" 2>/dev/null; then
        echo "skip: $CC cannot link statically here (no libc.a)"
        exit 77
    fi
    expect_error "statically linked" run -- "$tmp/static"
    expect_error "libwarden.a" check -- "$tmp/static"
}

case_run() {
    # The exit status passes through, also a signal's.
    run_w run -- sh -c 'exit 7'
    [ "$rc" -eq 7 ] || fail "run: exit status $rc, not 7"
    run_w run -- sh -c 'kill -TERM $$'
    [ "$rc" -eq 143 ] || fail "run: status $rc after SIGTERM, not 143"
    # A script: found in PATH, run through its interpreter (env, then sh).
    mkdir "$tmp/bin"
    printf '#!/usr/bin/env sh\necho "script ran: $1"\nexit 9\n' >"$tmp/bin/myscript"
    chmod +x "$tmp/bin/myscript"
    PATH="$tmp/bin:$PATH" run_w run -- myscript arg1
    [ "$rc" -eq 9 ] || fail "run myscript: exit $rc, not 9"
    contains out "script ran: arg1" || fail "run myscript: its output is missing"
    printf 'echo "plain script: $1"\nexit 4\n' >"$tmp/bin/plain" # no #!: sh runs it
    chmod +x "$tmp/bin/plain"
    run_w run -- "$tmp/bin/plain" x
    [ "$rc" -eq 4 ] && contains out "plain script: x" || fail "run a script without #!: exit $rc"
    run_w run -- "$PYTHON" -c "$py_holds"
    [ "$rc" -eq 5 ] || fail "run python3: exit $rc, not 5"
    contains out "python ran 8388608" || fail "run python3: its output is missing"
    [ ! -s "$tmp/err" ] || fail "run python3: something on stderr"
    # warden is loaded in the program, before the user's LD_PRELOAD, and
    # the user's library is loaded too.
    other=$(ldd "$PYTHON" | awk '/libm\.so/ { print $3 }')
    [ -n "$other" ] || other=$(ldd "$PYTHON" | awk '/libc\.so/ { print $3 }')
    LD_PRELOAD=$other run_w run -- "$PYTHON" -c '
import os
maps = open("/proc/self/maps").read()
print("PRELOAD=" + os.environ["LD_PRELOAD"])
print("mapped:", "libwarden.so" in maps)'
    [ "$rc" -eq 0 ] || fail "run with LD_PRELOAD: exit $rc"
    contains out "mapped: True" || fail "libwarden.so is not mapped in the program"
    lib=$(sed -n 's/^PRELOAD=\([^:]*\):.*/\1/p' "$tmp/out")
    case $lib in
    */libwarden.so.0) ;;
    *) fail "LD_PRELOAD does not start with libwarden.so.0: $(cat "$tmp/out")" ;;
    esac
    contains out "PRELOAD=$lib:$other" || fail "the user's LD_PRELOAD was not kept after warden"
    [ -f "$lib" ] || fail "LD_PRELOAD names $lib, which does not exist"
    # -o OPTIONS reach the library: stats=1 prints statistics at exit.
    run_w run -o stats=1:decommit_ms=100 -- "$PYTHON" -c "$py_holds"
    [ "$rc" -eq 5 ] || fail "run -o stats=1: exit $rc"
    contains err "warden: stats live" || fail "run -o stats=1: no statistics"
    echo "ok: run: status 7, SIGTERM 143, python3 5; LD_PRELOAD=$lib:$other; -o stats=1"
}

case_options() {
    # The user's WARDEN_OPTIONS are kept, the verb's come after them.
    WARDEN_OPTIONS=verbose=1:decommit_ms=100 run_w stats -- sh -c 'echo "WO=$WARDEN_OPTIONS"'
    contains out "WO=verbose=1:decommit_ms=100:stats=1" ||
        fail "WARDEN_OPTIONS not merged: $(cat "$tmp/out")"
    WARDEN_OPTIONS=leaks=0 run_w run -o verbose=1 -- "$PYTHON" -c pass
    grep -q "^warden: options .* verbose=1 " "$tmp/err" || fail "run -o verbose=1: no options line"
    grep -q "^warden: options .* leaks=0 " "$tmp/err" ||
        fail "the user's leaks=0 did not reach the library"
    # The command line wins: stats=0 from the environment, stats=1 from the verb.
    WARDEN_OPTIONS=stats=0 run_w stats -- "$PYTHON" -c pass
    contains err "warden: stats live" || fail "stats: the environment's stats=0 won"
    # Output names are made absolute (the program may change directory).
    run_w stats -o rel.txt -- sh -c 'echo "WO=$WARDEN_OPTIONS"'
    contains out "WO=stats=1:stats_file=$tmp/rel.txt" || fail "stats -o rel.txt: $(cat "$tmp/out")"
    run_w profile -o rel -- sh -c 'echo "WO=$WARDEN_OPTIONS"'
    contains out "WO=profile=$tmp/rel/heap" || fail "profile -o rel: $(cat "$tmp/out")"
    [ -d "$tmp/rel" ] || fail "profile -o rel: the directory was not created"
    run_w map -- sh -c 'echo "WO=$WARDEN_OPTIONS"'
    contains out "WO=map=$tmp/warden-map.svg" || fail "map: default output: $(cat "$tmp/out")"
    [ ! -e "$tmp/warden-map.svg" ] || fail "map: the probe of the output file was left behind"
    run_w stats --json -o s.json -- sh -c 'echo "WO=$WARDEN_OPTIONS"'
    contains out "WO=stats=json:stats_file=$tmp/s.json" || fail "stats --json: $(cat "$tmp/out")"
    echo "ok: WARDEN_OPTIONS merged, command line last, outputs absolute"
}

case_check() {
    run_w check -- "$EXAMPLES/errors/overflow"
    contains err "warden: heap buffer overflow" || fail "check overflow: no report"
    contains err "overflow.c:" || fail "check overflow: no file:line in the stack"
    contains err "warden: check: 1 errors" || fail "check overflow: no summary"
    run_w check -- "$PYTHON" -c "$py_holds"
    [ "$rc" -eq 5 ] || fail "check python3: exit $rc, not 5"
    contains out "python ran 8388608" || fail "check python3: its output is missing"
    contains err "warden: check: 0 errors" || fail "check python3: no clean summary"
    WARDEN_OPTIONS=error_exitcode=23 run_w check -- "$EXAMPLES/errors/double_free"
    [ "$rc" -eq 23 ] || fail "check double_free with error_exitcode=23: exit $rc"
    echo "ok: check: overflow reported with file:line; python3 clean, status 5; error_exitcode"
}

case_stats() {
    run_w stats -- "$PYTHON" -c "$py_holds"
    [ "$rc" -eq 5 ] || fail "stats python3: exit $rc, not 5"
    contains out "python ran 8388608" || fail "stats python3: its output is missing"
    contains err "warden: stats live" || fail "stats python3: no statistics"
    command -v sqlite3 >/dev/null || { echo "skip: no sqlite3"; exit 77; }
    run_w stats -- sqlite3 :memory: 'create table t(x); insert into t values (42); select x from t;'
    [ "$rc" -eq 0 ] || fail "stats sqlite3: exit $rc"
    [ "$(cat "$tmp/out")" = 42 ] || fail "stats sqlite3: output $(cat "$tmp/out")"
    contains err "warden: stats live" || fail "stats sqlite3: no statistics"
    echo "ok: stats on python3 and sqlite3"
}

case_stats_file() {
    run_w stats -o "$tmp/stats.txt" -- "$PYTHON" -c "$py_holds"
    skip_unless_option stats_file
    [ "$rc" -eq 5 ] || fail "stats -o: exit $rc"
    grep -q "warden: stats live" "$tmp/stats.txt" || fail "stats -o: no statistics in the file"
    ! contains err "warden: stats live" || fail "stats -o: statistics on stderr too"
    echo "ok: stats -o FILE"
}

case_stats_json() {
    # holder keeps 100 MiB live until exit (python3 frees its objects
    # before the statistics at exit are written).
    run_w stats --json -o "$tmp/stats.json" -- "$HOLDER" 100
    skip_unless_option stats
    skip_unless_option stats_file
    [ "$rc" -eq 0 ] || fail "stats --json holder: exit $rc"
    contains out "holding 100 MiB" || fail "stats --json holder: its output is missing"
    "$PYTHON" - "$tmp/stats.json" <<'END' || fail "stats --json: not the JSON expected"
import json, sys
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)  # one object, on one line or more
except ValueError:
    doc = json.loads([l for l in text.splitlines() if l.strip()][-1])  # JSON lines: the last
live = doc["bytes_in_use"]
assert 100 << 20 <= live < 104 << 20, live
print("bytes_in_use", live, "(%.1f MiB)" % (live / 2**20))
END
    echo "ok: stats --json -o FILE: bytes_in_use of a program holding 100 MiB"
}

case_profile() {
    # holder keeps 8 MiB live until exit: the profile at exit has it in use
    # (python3 frees its objects before, so its in-use profile is empty).
    run_w profile -o "$tmp/prof" -- "$HOLDER" 8
    skip_unless_option profile
    [ "$rc" -eq 0 ] || fail "profile: exit $rc"
    for f in heap.prof heap.folded heap.svg; do
        [ -s "$tmp/prof/$f" ] || fail "profile: no $f"
    done
    grep -q "main" "$tmp/prof/heap.folded" || fail "profile: main is not in heap.folded: $(cat "$tmp/prof/heap.folded")"
    "$PYTHON" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
        "$tmp/prof/heap.svg" || fail "profile: heap.svg is not XML"
    echo "ok: profile -o DIR"
}

case_map() {
    run_w map -o "$tmp/heap.svg" -- "$PYTHON" -c "$py_holds"
    skip_unless_option map
    [ "$rc" -eq 5 ] || fail "map: exit $rc"
    "$PYTHON" - "$tmp/heap.svg" <<'END' || fail "map: not an SVG document"
import sys, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
assert root.tag.endswith("svg"), root.tag
END
    echo "ok: map -o FILE.svg"
}

case "$case_name" in
help | errors | static | run | options | check | stats | stats_file | stats_json | profile | map)
    "case_$case_name" ;;
*)
    echo "unknown case $case_name" >&2
    exit 1 ;;
esac
