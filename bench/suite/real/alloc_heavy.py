"""alloc_heavy.py -- an allocation-heavy python3 program for the benchmark suite.

What it stresses, through CPython's own allocator (pymalloc serves objects up
to 512 B; larger ones, list and dict tables, and string buffers come from
malloc): building and dropping many dicts, lists, tuples and strings, growing
lists and dicts (realloc of their tables), JSON text built and parsed, and a
sort of records.  Deterministic (fixed seed).

usage: python3 alloc_heavy.py [ROUNDS]   (default 200; ops = rounds)
Prints  result: python <rounds per second> ops/s
"""
import json
import random
import sys
import time


def one_round(rng, keep):
    records = []
    for i in range(2000):
        name = "user-%d-%s" % (i, "x" * rng.randrange(1, 120))
        records.append({"id": i, "name": name, "tags": [str(t) for t in range(rng.randrange(1, 12))],
                        "score": rng.random(), "blob": "y" * rng.randrange(0, 2000)})
    text = json.dumps(records)
    back = json.loads(text)
    back.sort(key=lambda r: (r["score"], r["name"]))
    index = {r["name"]: r for r in back}
    words = " ".join(r["name"] for r in back).split("-")
    table = {}
    for w in words:
        table.setdefault(len(w), []).append(w)
    keep.append(index)                 # a few rounds stay alive for a while
    if len(keep) > 4:
        keep.pop(0)
    return len(text) + len(table)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    if rounds <= 0:
        sys.exit("usage: alloc_heavy.py [ROUNDS]")
    rng = random.Random(1234)
    keep = []
    check = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        check += one_round(rng, keep)
    secs = time.perf_counter() - t0
    print("python: checksum %d" % check, file=sys.stderr)
    print("result: python %.2f ops/s" % (rounds / secs))


if __name__ == "__main__":
    main()
