#!/usr/bin/env bash
# sqlite_workload.sh -- runs sqlite_workload.sql in the sqlite3 shell on an
# in-memory database (-init /dev/null: no ~/.sqliterc).  Exits 77 (skip)
# when the sqlite3 shell is not installed.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v sqlite3 >/dev/null 2>&1; then
    echo "sqlite_workload: no sqlite3 shell installed" >&2
    exit 77
fi
exec sqlite3 -init /dev/null -bail -batch :memory: ".read $here/sqlite_workload.sql"
