"""workload.py -- an allocation-heavy, deterministic Python workload.

Run by python_workload.sh (with PYTHONMALLOC=malloc, so that every object
goes through malloc/realloc/free rather than pymalloc's arenas) once without
and once with an allocator preloaded; the two stdouts must be identical.
Every line printed depends only on the computation, never on addresses,
timing or hash seeds.
"""

import hashlib
import json
import math
import re
import sys
import threading
import zlib


def digest(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:16]


def lcg(seed):
    """A small deterministic pseudo-random stream (no `random`: stable across versions)."""
    x = seed & 0xFFFFFFFF
    while True:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        yield x


def out(section, *fields):
    print(section + ": " + " ".join(str(f) for f in fields))
    sys.stdout.flush()


# --- dicts ---------------------------------------------------------------------
def dicts():
    rnd = lcg(1)
    d = {}
    for i in range(200_000):
        d["key-%06d-%x" % (i, next(rnd) % 4096)] = i
    total = sum(d.values())
    # rewrite half, delete a third, re-add: exercises resizes and tombstones
    for i, k in enumerate(list(d)):
        if i % 2 == 0:
            d[k] = d[k] * 3 + 1
        if i % 3 == 0:
            del d[k]
    for i in range(50_000):
        d[("tuple", i, i * i)] = [i] * (i % 7)
    ints = {i * 7919 % 1_000_003: str(i) for i in range(150_000)}
    nested = {}
    for i in range(30_000):
        nested.setdefault(i % 997, {}).setdefault(i % 13, []).append(i)
    keys_sig = digest("|".join(str(k) for k in list(d)[:5000]))
    out("dict", len(d), total, sum(len(v) for v in ints.values()), len(nested),
        sum(len(x) for v in nested.values() for x in v.values()), keys_sig)


# --- big ints ------------------------------------------------------------------
def bigints():
    f = math.factorial(3000)
    s = str(f)
    m = (1 << 4423) - 1  # a Mersenne prime, as a big modulus
    p = pow(3, 10**6 + 17, m)
    q = pow(f, 65537, m)
    fib_a, fib_b = 0, 1
    for _ in range(20_000):
        fib_a, fib_b = fib_b, fib_a + fib_b
    prod = f * fib_a
    g = math.gcd(f, fib_a * 2**100)
    inv = pow(12345678901234567, -1, m)
    out("bigint", len(s), digest(s), digest(hex(p)), digest(hex(q)),
        fib_a.bit_length(), digest(str(prod)), g.bit_length(), (inv * 12345678901234567) % m)


# --- json ----------------------------------------------------------------------
def build_tree(rnd, depth):
    if depth == 0:
        v = next(rnd)
        kind = v % 5
        if kind == 0:
            return v
        if kind == 1:
            return "s%x" % v * (v % 5 + 1)
        if kind == 2:
            return v / 7.0
        if kind == 3:
            return v % 2 == 0
        return None
    node = {}
    for i in range(next(rnd) % 6 + 2):
        node["k%d_%d" % (depth, i)] = build_tree(rnd, depth - 1)
    node["list"] = [build_tree(rnd, depth - 2) if depth > 1 else i for i in range(3)]
    node["text"] = "naïve ünïcødé %d \u2603 \"quoted\" \\ \n" % depth
    return node


def json_roundtrip():
    rnd = lcg(7)
    tree = [build_tree(rnd, 6) for _ in range(6)]
    text = json.dumps(tree, sort_keys=True)
    back = json.loads(text)
    again = json.dumps(back, sort_keys=True)
    pretty = json.dumps(back, indent=2, ensure_ascii=False)
    assert back == tree and again == text
    out("json", len(text), digest(text), len(pretty), digest(pretty), back == tree)


# --- re ------------------------------------------------------------------------
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega").split()


def regexes():
    rnd = lcg(42)
    parts = []
    for i in range(120_000):
        r = next(rnd)
        w = WORDS[r % len(WORDS)]
        if r % 11 == 0:
            parts.append("user%d@host%d.example.org" % (r % 1000, i % 37))
        elif r % 7 == 0:
            parts.append("2024-%02d-%02d" % (r % 12 + 1, r % 28 + 1))
        elif r % 5 == 0:
            parts.append(w.upper())
        else:
            parts.append(w)
        if i % 17 == 16:
            parts.append(".\n")
    text = " ".join(parts)
    email = re.compile(r"\b([a-z]+\d+)@(host\d+)\.example\.org\b")
    date = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
    caps = re.compile(r"\b[A-Z]{2,}\b")
    emails = email.findall(text)
    dates = date.findall(text)
    capwords = caps.findall(text)
    swapped = date.sub(r"\3/\2/\1", text)
    masked = email.sub(lambda m: m.group(1)[::-1] + " at " + m.group(2), swapped)
    split = re.split(r"\s*\.\s*\n\s*", masked)
    per_word = {}
    for m in re.finditer(r"\b(" + "|".join(WORDS) + r")\b", text, re.IGNORECASE):
        k = m.group(1).lower()
        per_word[k] = per_word.get(k, 0) + 1
    out("re", len(text), len(emails), len(set(emails)), len(dates), len(capwords),
        digest(masked), len(split), digest(repr(sorted(per_word.items()))))


# --- threads -------------------------------------------------------------------
def worker(idx, results):
    rnd = lcg(1000 + idx)
    acc = []
    table = {}
    blob = bytearray()
    for i in range(40_000):
        r = next(rnd)
        s = "w%d-%d-%x" % (idx, i, r)
        table[s] = r
        acc.append(s[::-1])
        blob += s.encode()
        if i % 5000 == 4999:
            # zlib and hashlib release the GIL: real concurrent malloc/free
            comp = zlib.compress(bytes(blob) * 8, 6)
            assert zlib.decompress(comp) == bytes(blob) * 8
            acc.append(hashlib.sha256(comp).hexdigest())
    acc.sort()
    big = 1
    for i in range(1, 800 + idx * 50):
        big *= i
    results[idx] = (len(table), sum(table.values()) % 1_000_000_007, digest("".join(acc)),
                    len(blob), digest(str(big)))


def threads():
    results = [None] * 4
    ts = [threading.Thread(target=worker, args=(i, results)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i, r in enumerate(results):
        out("thread%d" % i, *r)


# --- sorting -------------------------------------------------------------------
def sorting():
    rnd = lcg(99)
    nums = [next(rnd) for _ in range(300_000)]
    strs = ["%08x%s" % (n, WORDS[n % len(WORDS)]) for n in nums[:150_000]]
    recs = [(n % 1000, WORDS[n % 24], n) for n in nums[:200_000]]
    a = sorted(nums)
    b = sorted(strs, key=lambda s: (len(s), s[::-1]))
    recs.sort(key=lambda t: (t[1], -t[0], t[2]))
    c = sorted(nums, reverse=True)
    assert a == c[::-1]
    out("sort", a[0], a[-1], a[len(a) // 2], digest(",".join(b[:2000])),
        digest(repr(recs[:1000] + recs[-1000:])))


# --- string building -------------------------------------------------------------
def strings():
    s = ""
    for i in range(100_000):
        s += "%d," % (i * i % 9973)
    parts = [("%-10s|%10d|%08.3f" % (WORDS[i % 24], i, i / 3.0)) for i in range(100_000)]
    joined = "\n".join(parts)
    up = joined.upper().replace("|", "::").split("\n")
    fmt = "".join(f"{i:>6}:{w:^9}" for i, w in enumerate(WORDS * 4000))
    ba = bytearray()
    for i in range(50_000):
        ba.extend(b"x" * (i % 31))
        if len(ba) > 200_000:
            del ba[: len(ba) // 2]
    out("str", len(s), digest(s), len(joined), digest(joined), len(up), digest(up[-1]),
        len(fmt), digest(fmt), len(ba))


def main():
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # str() of 10000-digit ints below
    dicts()
    bigints()
    json_roundtrip()
    regexes()
    threads()
    sorting()
    strings()
    print("done")


if __name__ == "__main__":
    main()
