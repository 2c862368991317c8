#!/usr/bin/env bash
# perl_workload.sh -- runs workload.pl with the system perl (fixed hash seed,
# no PERL5LIB/PERL5OPT from the caller).  Exits 77 (skip) when there is no
# perl or no Digest::MD5.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
perl=/usr/bin/perl
[ -x "$perl" ] || perl="$(command -v perl || true)"
if [ -z "$perl" ]; then
    echo "perl_workload: no perl installed" >&2
    exit 77
fi
unset PERL5LIB PERL5OPT PERLLIB PERL_UNICODE
export PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
rc=0
"$perl" -MDigest::MD5 -e 1 2>/dev/null || rc=$?
if [ "$rc" -ge 128 ]; then
    echo "perl_workload: perl crashed (exit $rc) just loading Digest::MD5" >&2
    exit "$rc"
elif [ "$rc" -ne 0 ]; then
    echo "perl_workload: perl has no Digest::MD5 (install the perl package)" >&2
    exit 77
fi
exec "$perl" "$here/workload.pl"
