#!/bin/sh
# Installs the build into a temporary prefix and uses it from outside:
#   test_install.sh BUILD_DIR SOURCE_DIR VERSION LIBDIR
# (LIBDIR: CMake's CMAKE_INSTALL_LIBDIR, relative).  Checks the layout
# (SONAME, links, headers, warden.pc, the CMake package, man pages that
# `man -l` renders), DESTDIR, a program built against the prefix with
# pkg-config and with find_package(warden) (shared and static), the
# installed warden command on python3, and the same after moving the
# prefix elsewhere (everything installed is relocatable).
set -u
build=$1 src=$2 version=$3 libdir=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
major=${version%%.*}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
check_file() { [ -f "$1" ] && [ ! -L "$1" ] || fail "missing file $1"; }
check_link() { [ "$(readlink "$1")" = "$2" ] || fail "$1 is not a link to $2 ($(readlink "$1"))"; }

# --- cmake --install, with DESTDIR -------------------------------------
DESTDIR=$tmp/stage cmake --install "$build" --prefix /opt/warden >"$tmp/log" 2>&1 ||
    fail "cmake --install with DESTDIR: $(tail -n 5 "$tmp/log")"
check_file "$tmp/stage/opt/warden/bin/warden"
[ ! -e "$tmp/opt" ] || fail "DESTDIR not honoured"
echo "ok: DESTDIR=\$tmp/stage --prefix /opt/warden installs under \$tmp/stage/opt/warden"

p=$tmp/prefix
cmake --install "$build" --prefix "$p" >"$tmp/log" 2>&1 ||
    fail "cmake --install: $(tail -n 5 "$tmp/log")"

# --- layout ---------------------------------------------------------------
L=$p/$libdir
check_file "$L/libwarden.so.$version"
check_link "$L/libwarden.so.$major" "libwarden.so.$version"
check_link "$L/libwarden.so" "libwarden.so.$major"
soname=$(readelf -d "$L/libwarden.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libwarden.so.$major" ] || fail "SONAME is '$soname', not libwarden.so.$major"
check_file "$L/libwarden.a"
for h in warden.h warden/api.h warden/heap.h warden/arena.h warden/pool.h warden/vec.h \
    warden/version.h; do
    check_file "$p/include/$h"
done
grep -q "WARDEN_VERSION \"$version\"" "$p/include/warden/version.h" || fail "version.h: no $version"
check_file "$L/pkgconfig/warden.pc"
for f in wardenConfig.cmake wardenConfigVersion.cmake wardenTargets.cmake; do
    check_file "$L/cmake/warden/$f"
done
check_file "$p/bin/warden"
[ -x "$p/bin/warden" ] || fail "bin/warden is not executable"
pages="man1/warden.1 man3/warden.3 man3/warden_heap.3 man3/warden_arena.3 man3/warden_pool.3 man3/warden_vec.3"
for page in $pages; do
    check_file "$p/share/man/$page"
done
echo "ok: layout: libwarden.so.$version (SONAME $soname), links, .a, headers, warden.pc, CMake package, bin/warden, 6 man pages"

# --- man pages: man -l renders them, without a warning ------------------------
if command -v man >/dev/null; then
    for page in $pages; do
        LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p/share/man/$page" >"$tmp/page" 2>"$tmp/warn" ||
            fail "man -l $page failed: $(cat "$tmp/warn")"
        [ ! -s "$tmp/warn" ] || fail "man -l $page: $(head -n 3 "$tmp/warn")"
        grep -q '^NAME' "$tmp/page" && grep -q '^SYNOPSIS' "$tmp/page" &&
            grep -q '^SEE ALSO' "$tmp/page" || fail "man -l $page: no NAME, SYNOPSIS or SEE ALSO"
        [ "$(wc -l <"$tmp/page")" -gt 30 ] || fail "man -l $page: fewer than 30 lines"
    done
    echo "ok: man -l renders the 6 pages without warnings"
else
    echo "note: no man here; the pages were not rendered"
fi

# --- an outside program: pkg-config ---------------------------------------------
use_prefix() { # $1: the prefix; checks pkg-config, the CMake package and warden
    P=$1
    L=$P/$libdir
    export PKG_CONFIG_PATH=$L/pkgconfig
    v=$(pkg-config --modversion warden) || fail "pkg-config --modversion warden failed"
    [ "$v" = "$version" ] || fail "pkg-config: version $v, not $version"
    cflags=$(pkg-config --cflags warden) libs=$(pkg-config --libs warden)
    # shellcheck disable=SC2086
    cc -o "$tmp/pc_consumer" "$src/tests/install/consumer/consumer.c" $cflags $libs ||
        fail "cc with pkg-config ($cflags $libs) failed"
    LD_LIBRARY_PATH=$L "$tmp/pc_consumer" "$version" || fail "the pkg-config program failed"
    ldd_line=$(LD_LIBRARY_PATH=$L ldd "$tmp/pc_consumer" | grep libwarden)
    case $ldd_line in
    *"$L/libwarden.so.$major"*) ;;
    *) fail "the pkg-config program does not load $L/libwarden.so.$major: $ldd_line" ;;
    esac
    echo "ok: pkg-config --cflags --libs warden: $cflags $libs"

    # --- find_package(warden) ------------------------------------------------------
    rm -rf "$tmp/cb"
    cmake -S "$src/tests/install/consumer" -B "$tmp/cb" -DCMAKE_PREFIX_PATH="$P" \
        >"$tmp/log" 2>&1 || fail "find_package(warden): $(tail -n 20 "$tmp/log")"
    cmake --build "$tmp/cb" >"$tmp/log" 2>&1 || fail "consumer build: $(tail -n 20 "$tmp/log")"
    "$tmp/cb/consumer_shared" "$version" || fail "consumer_shared (warden::warden) failed"
    "$tmp/cb/consumer_static" "$version" || fail "consumer_static (warden::static) failed"
    readelf -d "$tmp/cb/consumer_static" | grep -q libwarden &&
        fail "consumer_static needs libwarden.so"
    echo "ok: find_package(warden): warden::warden and warden::static programs run"

    # --- the installed command ---------------------------------------------------------
    [ "$("$P/bin/warden" --version)" = "warden $version" ] || fail "installed warden --version"
    out=$("$P/bin/warden" stats -- "$PYTHON" -c '
import os, sys
print(os.environ["LD_PRELOAD"])
print("libwarden.so" in open("/proc/self/maps").read())
sys.exit(3)' 2>"$tmp/err")
    rc=$?
    [ "$rc" -eq 3 ] || fail "installed warden stats python3: exit $rc"
    [ "$out" = "$(printf '%s\n%s' "$L/libwarden.so.$major" True)" ] ||
        fail "installed warden did not preload $L/libwarden.so.$major: $out"
    grep -q "warden: stats live" "$tmp/err" || fail "installed warden stats: no statistics"
    "$P/bin/warden" check -- "$PYTHON" -c 'print(sum(range(10)))' >/dev/null 2>"$tmp/err" ||
        fail "installed warden check python3 failed"
    grep -q "warden: check: 0 errors" "$tmp/err" || fail "installed warden check: no summary"
    echo "ok: $P/bin/warden preloads $L/libwarden.so.$major (stats, check on python3)"
}
use_prefix "$p"

# --- relocated: the whole prefix moved ----------------------------------------------------
mv "$p" "$tmp/moved"
use_prefix "$tmp/moved"
echo "ok: the prefix still works after it was moved"
