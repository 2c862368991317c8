#!/bin/sh
# The Debian packages of `make deb`, checked (run by .ci/run after it):
#   tests/install/check_deb.sh PACKAGE_DIR [--install]
# - lintian reports no error on any of them;
# - unpacked into a temporary root (dpkg -x), usr/bin/warden finds its
#   library there and runs python3 on it;
# - with --install (CI, as root): dpkg -i, then /usr/bin/warden run and stats
#   on python3, pkg-config --libs warden, a program built with pkg-config
#   and one with find_package(warden); the packages are removed again
#   (dpkg --purge) unless they were installed before.
set -u
dir=$1
install=${2:-}
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PYTHON=/usr/bin/python3
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
set -- "$dir"/libwarden0_*.deb "$dir"/libwarden-dev_*.deb "$dir"/warden_*.deb
for deb in "$@"; do
    [ -f "$deb" ] || fail "missing $deb (run make deb)"
done
version=$(dpkg-deb -f "$dir"/libwarden0_*.deb Version)

# --- lintian ----------------------------------------------------------------
if command -v lintian >/dev/null; then
    lintian --fail-on error "$@" >"$tmp/lintian" 2>&1
    rc=$?
    cat "$tmp/lintian"
    [ "$rc" -eq 0 ] || fail "lintian found errors"
    echo "ok: lintian: no error in $(echo "$@" | wc -w) packages ($(grep -c '^W:' "$tmp/lintian") warnings)"
else
    fail "lintian is not installed (apt-get install lintian)"
fi

# --- unpacked, not installed ------------------------------------------------
for deb in "$@"; do
    dpkg-deb -x "$deb" "$tmp/root" || fail "dpkg-deb -x $deb"
done
out=$("$tmp/root/usr/bin/warden" run -- "$PYTHON" -c '
import os; print(os.environ["LD_PRELOAD"].split(":")[0])
print("libwarden.so" in open("/proc/self/maps").read())') || fail "unpacked warden run failed"
case $out in
"$tmp/root/usr/lib/"*/libwarden.so.0*True) ;;
*) fail "unpacked warden did not preload its own library: $out" ;;
esac
echo "ok: unpacked (dpkg -x): usr/bin/warden preloads usr/lib/.../libwarden.so.0 ($version)"

[ "$install" = "--install" ] || exit 0

# --- installed ------------------------------------------------------------------
was_installed=$(dpkg-query -W -f='${Status}' libwarden0 2>/dev/null | grep -c 'ok installed')
dpkg -i "$@" >"$tmp/log" 2>&1 || fail "dpkg -i: $(cat "$tmp/log")"
cleanup() {
    [ "$was_installed" -eq 0 ] && dpkg --purge warden libwarden-dev libwarden0 >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
out=$(/usr/bin/warden run -- "$PYTHON" -c '
import os, sys; print(os.environ["LD_PRELOAD"])
print("libwarden.so" in open("/proc/self/maps").read()); sys.exit(4)')
rc=$?
[ "$rc" -eq 4 ] || fail "/usr/bin/warden run python3: exit $rc, not 4"
case $out in
/usr/lib/*/libwarden.so.0*True) ;;
*) fail "/usr/bin/warden did not preload /usr/lib/.../libwarden.so.0: $out" ;;
esac
/usr/bin/warden stats -- "$PYTHON" -c 'print(1)' 2>&1 >/dev/null | grep -q "warden: stats live" ||
    fail "/usr/bin/warden stats: no statistics"
libs=$(pkg-config --libs warden) || fail "pkg-config --libs warden failed"
libs=$(echo $libs)
[ "$libs" = "-lwarden" ] || fail "pkg-config --libs warden: '$libs'"
# shellcheck disable=SC2046
cc -o "$tmp/consumer" "$src/tests/install/consumer/consumer.c" $(pkg-config --cflags --libs warden) ||
    fail "cc with pkg-config"
"$tmp/consumer" "${version%-*}" || fail "the pkg-config program failed"
cmake -S "$src/tests/install/consumer" -B "$tmp/cb" >"$tmp/log" 2>&1 &&
    cmake --build "$tmp/cb" >>"$tmp/log" 2>&1 || fail "find_package(warden): $(tail -n 20 "$tmp/log")"
"$tmp/cb/consumer_shared" "${version%-*}" && "$tmp/cb/consumer_static" "${version%-*}" ||
    fail "find_package(warden) programs failed"
echo "ok: dpkg -i: /usr/bin/warden run and stats on python3, pkg-config --libs warden = $libs, pkg-config and find_package programs run"
