#!/bin/sh
# make demo: a real program runs on warden (`warden stats`, which puts
# libwarden.so in LD_PRELOAD and sets WARDEN_OPTIONS=stats=1) and prints its
# own output, then warden's statistics; then the classic-heap walkthrough.
# Uses python3 when present, else perl (which every Debian system has).
set -eu
build=${1:-build}
[ -x "$build/warden" ] || { echo "demo: $build/warden is missing; run make first" >&2; exit 1; }
warden=$build/warden
# The system interpreter itself, not a wrapper script that would start
# several processes (each printing its own statistics).
python=""
for p in /usr/bin/python3 /usr/local/bin/python3; do
    [ -x "$p" ] && { python=$p; break; }
done

echo "== a real program on warden, with statistics at exit: $warden stats -- PROGRAM"
if [ -n "$python" ]; then
    echo "\$ $warden stats -- $python -c '<word counts, a JSON round trip and big integers>'"
    "$warden" stats -- "$python" -c '
import json, collections, threading
words = [("w%d" % (i * 7919 % 5003)) for i in range(300000)]
counts = collections.Counter(words)
doc = json.dumps({"counts": counts, "top": counts.most_common(3)})
back = json.loads(doc)
results = []
def work(k):
    results.append(sum(int(str(3 ** (200 + k))[:12]) for _ in range(2000)))
threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("distinct words:", len(back["counts"]), "- most common:", back["top"][0])
print("JSON document:", len(doc), "bytes; threads summed", sum(results))
'
else
    echo "\$ $warden stats -- perl -e '<word counts and sorting>'"
    "$warden" stats -- perl -e '
my %c; $c{"w" . ($_ * 7919 % 5003)}++ for 0 .. 299999;
my @top = sort { $c{$b} <=> $c{$a} || $a cmp $b } keys %c;
print "distinct words: ", scalar(@top), " - most common: $top[0] ($c{$top[0]})\n";'
fi

echo
echo "== the classic heap: the seed's walkthrough on a 4 KiB static array"
"$build/examples/heap_walkthrough"
