#!/usr/bin/env bash
# python_workload.sh -- runs workload.py with Debian's python3 (/usr/bin/python3)
# when it exists, else the python3 on PATH.  PYTHONMALLOC=malloc sends every
# object allocation to malloc (not only the >512-byte ones pymalloc passes on);
# PYTHONHASHSEED=0 makes str hashing, hence set iteration, reproducible.
# Exits 77 (skip) when there is no python3.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3 || true)"
if [ -z "$py" ]; then
    echo "python_workload: no python3 installed" >&2
    exit 77
fi
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
unset PYTHONSTARTUP PYTHONPATH PYTHONHOME PYTHONUSERBASE PYTHONDEVMODE PYTHONINSPECT
# -s, not -I: isolated mode would ignore PYTHONMALLOC and PYTHONHASHSEED too
exec "$py" -s "$here/workload.py"
