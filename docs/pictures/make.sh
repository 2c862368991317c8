#!/bin/sh
# Remakes the pictures of docs/map.md from real programs:
#   python3.svg      python3 in the middle of a run (wd_map_svg through ctypes)
#   sqlite3.svg      sqlite (libsqlite3, through python3's module) holding a
#                    200,000-row database in memory (wd_map_svg)
#   sqlite3-exit.svg the sqlite3 shell at exit, after it freed everything
#                    (WARDEN_OPTIONS=map=...)
#   walkthrough-N.svg  the classic heap's walkthrough, step by step
#                    (heap_walkthrough --svg)
# and their PNGs with headless Chromium when it is installed.
#   sh docs/pictures/make.sh [BUILD_DIR]
set -eu
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")"
lib=$build/libwarden.so

LD_PRELOAD=$lib /usr/bin/python3 - <<'PY'
import ctypes, json, collections
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fclose.argtypes = libc.wd_map_svg.argtypes = [ctypes.c_void_p]
# a word count, a JSON round trip, big integers and a 24 MiB buffer
words = [("w%d" % (i * 7919 % 50021)) for i in range(400000)]
counts = collections.Counter(words)
doc = json.dumps({"counts": counts, "top": counts.most_common(100)})
back = json.loads(doc)
numbers = [3 ** (i % 700) for i in range(20000)]
buffer = bytearray(24 << 20)
del words[::2]
out = libc.fopen(b"python3.svg", b"w")
assert libc.wd_map_svg(out) == 0
libc.fclose(out)
print("python3.svg:", len(back["counts"]), "distinct words,", len(doc), "bytes of JSON")
PY

LD_PRELOAD=$lib /usr/bin/python3 - <<'PY'
import ctypes, sqlite3
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fclose.argtypes = libc.wd_map_svg.argtypes = [ctypes.c_void_p]
db = sqlite3.connect(":memory:")
db.execute("PRAGMA cache_size = -200000")
db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL, blob BLOB)")
db.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
              INSERT INTO t SELECT i, 'name-' || (i * 7919 % 100003), i * 0.5,
                                   randomblob(i % 300) FROM n""")
db.execute("CREATE INDEX t_name ON t(name)")
db.execute("DELETE FROM t WHERE id % 3 = 0")
rows = db.execute("SELECT count(*), sum(length(blob)) FROM t").fetchone()
out = libc.fopen(b"sqlite3.svg", b"w")
assert libc.wd_map_svg(out) == 0
libc.fclose(out)
print("sqlite3.svg:", rows[0], "rows,", rows[1], "bytes of blobs")
PY

LD_PRELOAD=$lib WARDEN_OPTIONS=map=sqlite3-exit.svg sqlite3 :memory: <<'SQL' > /dev/null
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL, blob BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t SELECT i, 'name-' || (i * 7919 % 100003), i * 0.5, randomblob(i % 300) FROM n;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(length(blob)) FROM t GROUP BY id % 1000 ORDER BY 2 DESC LIMIT 3;
DELETE FROM t WHERE id % 3 = 0;
SQL
echo "sqlite3-exit.svg: written at exit"

"$build/examples/heap_walkthrough" --svg . > /dev/null

chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "no chromium: SVGs only"; exit 0; }
for svg in python3.svg sqlite3.svg walkthrough-4.svg; do
    size=$(sed -n 's/.*<svg [^>]* width="\([0-9]*\)" height="\([0-9]*\)".*/\1,\2/p' "$svg" | head -1)
    "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$size" \
        --screenshot="${svg%.svg}.png" "file://$PWD/$svg" > /dev/null 2>&1
    echo "${svg%.svg}.png"
done
