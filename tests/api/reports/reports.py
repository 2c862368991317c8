#!/usr/bin/env python3
"""reports.py -- the reports for machines and people, from outside: the
JSON statistics (stats=json, stats_file, stats_interval_ms, wd_stats_json),
the SVG maps (map=FILE.svg, wd_map_svg, wd_heap_map_svg), their rendering by
headless Chromium, and malloc_info's XML against glibc's schema.

    reports.py PART --lib libwarden.so --prog report_prog [--walkthrough heap_walkthrough]

PART is json, interval, map, render or malloc_info (one ctest each).
Exit 0 when every check holds, 1 with a line per failure, 77 (skip) when
what the part needs is missing (chromium for render).
"""
import argparse
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

MiB = 1 << 20
SVG = "{http://www.w3.org/2000/svg}"
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL: " + what)
    return ok


def run(args, options=None, lib=None, timeout=120, cwd=None):
    env = dict(os.environ)
    env.pop("WARDEN_OPTIONS", None)
    if options is not None:
        env["WARDEN_OPTIONS"] = options
    if lib is not None:
        env["LD_PRELOAD"] = lib
    else:
        env.pop("LD_PRELOAD", None)
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)} exited {p.returncode}: {p.stderr[-2000:]}")
    return p


# --- JSON -----------------------------------------------------------------------


def check_object(d, held_mib, where):
    """The figures of a process that holds held_mib MiB (report_prog hold)."""
    for key in ("bytes_in_use", "peak_bytes_in_use", "resident_bytes", "mapped_bytes",
                "committed_bytes", "returned_bytes", "process_resident_bytes", "small",
                "medium", "large", "size_classes", "thread_heaps", "pid", "time_ms"):
        check(key in d, f"{where}: no {key}")
    used = d["bytes_in_use"]
    check(held_mib * MiB <= used <= (held_mib + 4) * MiB,
          f"{where}: bytes_in_use {used / MiB:.2f} MiB, not {held_mib}..{held_mib + 4} MiB")
    check(d["peak_bytes_in_use"] >= used, f"{where}: peak below bytes_in_use")
    check(d["resident_bytes"] >= held_mib * MiB,
          f"{where}: resident_bytes {d['resident_bytes']} below the {held_mib} MiB written")
    check(d["mapped_bytes"] >= d["resident_bytes"] - 8 * MiB,
          f"{where}: mapped_bytes {d['mapped_bytes']} far below resident {d['resident_bytes']}")
    classes = {c["block_size"]: c for c in d["size_classes"]}
    # the guard sampler (docs/guard.md) may give one block now and then a
    # guarded page of its own instead of a place in the class's pages
    want = held_mib * MiB * 4 // 10 // 4096 - 8
    check(4096 in classes and classes[4096]["blocks_in_use"] >= want,
          f"{where}: class 4096 should hold >= {want} blocks: {classes.get(4096)}")
    for c in d["size_classes"]:
        check(c["bytes_in_use"] == c["blocks_in_use"] * c["block_size"],
              f"{where}: class {c['class']}: bytes != blocks * size")
    check(d["medium"]["blocks_in_use"] >= held_mib * MiB * 3 // 10 // (200 << 10),
          f"{where}: medium blocks_in_use {d['medium']['blocks_in_use']}")
    check(d["large"]["blocks_in_use"] >= 1, f"{where}: no large block in use")
    tiers = d["small"]["bytes_in_use"] + d["medium"]["bytes_in_use"] + d["large"]["bytes_in_use"]
    check(abs(tiers - used) <= MiB, f"{where}: tiers sum to {tiers}, bytes_in_use is {used}")
    heaps = d["thread_heaps"]
    check(heaps["count"] >= 1 and len(heaps["heaps"]) == heaps["count"],
          f"{where}: thread_heaps {heaps['count']} with {len(heaps['heaps'])} listed")


def part_json(a, tmp):
    # stats=json at exit, into stats_file with %p
    run([a.prog, "hold", "100"], "stats=json:stats_file=" + os.path.join(tmp, "s-%p.json"), a.lib)
    files = glob.glob(os.path.join(tmp, "s-*.json"))
    check(len(files) == 1, f"stats_file=s-%p.json made {files}")
    lines = open(files[0]).read().splitlines()
    check(len(lines) == 1, f"stats=json wrote {len(lines)} lines, wanted one object")
    d = json.loads(lines[0])
    check(os.path.basename(files[0]) == f"s-{d['pid']}.json", "%p is not the pid in the object")
    check_object(d, 100, "stats=json at exit")
    print(f"ok: stats=json: bytes_in_use {d['bytes_in_use'] / MiB:.2f} MiB for 100 MiB held, "
          f"resident {d['resident_bytes'] / MiB:.1f} MiB, mapped {d['mapped_bytes'] / MiB:.1f} MiB")
    # a relative path is the starting directory's; text stats go there too
    run([a.prog, "hold", "1"], "stats=1:stats_file=rel.txt", a.lib, cwd=tmp)
    text = open(os.path.join(tmp, "rel.txt")).read()
    check(text.startswith("warden: stats live "), f"stats=1:stats_file=rel.txt wrote {text[:80]!r}")
    # default: stderr, one line among the program's own
    p = run([a.prog, "hold", "8"], "stats=json", a.lib)
    objs = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
    check(len(objs) == 1, f"stats=json on stderr: {len(objs)} objects")
    if objs:
        check_object(objs[0], 8, "stats=json on stderr")
    # a program that never calls malloc still gets its object
    true = shutil.which("true")
    if check(true is not None, "no true on PATH"):
        p = run([true], "stats=json", a.lib)
        objs = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
        check(len(objs) == 1 and objs[0]["bytes_in_use"] == 0,
              f"stats=json on true: {p.stderr[:200]!r}")
    # wd_stats_json(FILE *) in the middle of the run
    out = os.path.join(tmp, "call.json")
    run([a.prog, "json", "100", out], None, a.lib)
    d = json.loads(open(out).read())
    check_object(d, 100, "wd_stats_json")
    print("ok: stats=json on stderr (also for a program that never allocates), wd_stats_json")


def part_interval(a, tmp):
    path = os.path.join(tmp, "i.jsonl")
    run([a.prog, "hold", "20", "1200"], f"stats=json:stats_interval_ms=100:stats_file={path}", a.lib)
    lines = open(path).read().splitlines()
    objs = [json.loads(l) for l in lines]
    check(len(objs) >= 4, f"stats_interval_ms=100 over 1.2 s gave {len(objs)} lines")
    check(len({o["pid"] for o in objs}) == 1, "lines of several processes")
    times = [o["time_ms"] for o in objs]
    check(times == sorted(times), f"time_ms goes back: {times}")
    check_object(objs[-1], 20, "the line at exit")
    held = [o for o in objs[:-1] if o["bytes_in_use"] >= 20 * MiB]
    check(len(held) >= 2, "fewer than 2 interval lines saw the 20 MiB held")
    print(f"ok: stats_interval_ms=100: {len(objs)} lines over 1.2 s, time_ms increasing")


# --- SVG --------------------------------------------------------------------------


def svg_shapes(path, where):
    root = ET.parse(path).getroot()  # raises on malformed XML: the test fails
    check(root.tag == SVG + "svg", f"{where}: root is {root.tag}")
    check(root.find(SVG + "title") is not None, f"{where}: no <title>")
    rects = list(root.iter(SVG + "rect"))
    # a shape that crosses rows is drawn once a row, each with its tooltip
    titles = sorted({r.find(SVG + "title").text for r in rects
                     if r.find(SVG + "title") is not None})
    return root, rects, titles


def part_map(a, tmp):
    run([a.prog, "hold", "60"], "map=" + os.path.join(tmp, "m-%p.svg"), a.lib)
    files = glob.glob(os.path.join(tmp, "m-*.svg"))
    check(len(files) == 1, f"map=m-%p.svg made {files}")
    root, rects, titles = svg_shapes(files[0], "map=")
    for what in ("small page of class", "medium block", "large block", "metadata"):
        check(any(what in t for t in titles), f"map=: no shape titled '{what}'")
    pages = [t for t in titles if "(4096-byte blocks)" in t and "of 16 blocks in use (100%)" in t]
    check(len(pages) >= 60 * 4 // 10 * 16 - 16,
          f"map=: {len(pages)} full pages of 4096-byte blocks for 24 MiB of them")
    fills = {r.get("fill") for r in rects}
    check(len(fills) >= 8, f"map=: only {len(fills)} colours")
    check("url(#returned)" in fills or "#cdcdcd" in fills, "map=: no free memory drawn")
    labels = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    check(" large " in labels, "map=: no row labelled as a large block")
    large = [t for t in titles if "large block, 2097152 bytes usable" in t]
    check(len(large) == 9, f"map=: {len(large)} large blocks of 2 MiB, not 9 (18 MiB)")
    print(f"ok: map=: {len(rects)} shapes, {len(titles)} tooltips, {len(fills)} colours")
    out = os.path.join(tmp, "call.svg")
    run([a.prog, "map", "20", out], None, a.lib)
    _, rects, titles = svg_shapes(out, "wd_map_svg")
    check(any("large block" in t for t in titles), "wd_map_svg: no large block")
    if a.walkthrough:
        run([a.walkthrough, "--svg", tmp])
        _, rects, titles = svg_shapes(os.path.join(tmp, "walkthrough-2.svg"), "walkthrough")
        allocated = [t for t in titles if ": allocated," in t]
        check(len(allocated) == 4, f"walkthrough step 2: {len(allocated)} allocated blocks, not 4")
        usable = sorted(int(t.split("allocated, ")[1].split()[0]) for t in allocated)
        check(usable == [112, 240, 256, 336], f"walkthrough step 2: usable sizes {usable}")
        _, _, titles = svg_shapes(os.path.join(tmp, "walkthrough-3.svg"), "walkthrough")
        free = [t for t in titles if ": free," in t]
        check(len(free) == 2, f"walkthrough step 3: {len(free)} free ranges (merged + tail)")
        print("ok: wd_map_svg; wd_heap_map_svg on the walkthrough's 4 KiB heap")


# --- rendering ----------------------------------------------------------------------


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    at, idat, width = 8, b"", 0
    while at < len(data):
        n, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                raise ValueError(f"PNG depth {depth} colour type {ctype}")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        at += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, ul = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + left) & 255
            elif f == 2:
                line[i] = (line[i] + up) & 255
            elif f == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif f == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else ul
                line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def render(chromium, svg, png, tmp):
    root = ET.parse(svg).getroot()
    w, h = int(root.get("width")), int(root.get("height"))
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--user-data-dir=" + os.path.join(tmp, "profile"),
                    f"--window-size={w},{min(h, 4000)}", "--screenshot=" + png,
                    "file://" + os.path.abspath(svg)],
                   capture_output=True, timeout=120, check=True)
    width, height, rows = png_pixels(png)
    colours, ink = {}, 0
    for row in rows:
        for px in row:
            colours[px] = colours.get(px, 0) + 1
            ink += px != (255, 255, 255)
    common = [c for c, n in colours.items() if n >= 50]  # not just anti-aliasing
    return width, height, ink / (width * height), len(common)


def part_render(a, tmp):
    chromium = next((shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome")
                     if shutil.which(c)), None)
    if chromium is None:
        print("SKIP: no chromium on PATH (Debian package chromium)")
        return 77
    run([a.prog, "hold", "60"], "map=" + os.path.join(tmp, "m.svg"), a.lib)
    pictures = [os.path.join(tmp, "m.svg")]
    if a.walkthrough:
        run([a.walkthrough, "--svg", tmp])
        pictures.append(os.path.join(tmp, "walkthrough-4.svg"))
    for svg in pictures:
        png = svg[:-4] + ".png"
        width, height, ink, colours = render(chromium, svg, png, tmp)
        name = os.path.basename(svg)
        check(ink > 0.05, f"{name}: rendered {width}x{height} with {ink:.1%} non-white pixels")
        check(colours >= 6, f"{name}: rendered with {colours} colours")
        print(f"ok: {name} rendered by {os.path.basename(chromium)}: {width}x{height}, "
              f"{ink:.0%} non-white, {colours} colours")
    return 0


# --- malloc_info --------------------------------------------------------------------

# glibc's malloc_info (malloc/malloc.c, __malloc_info): the elements, their
# attributes and the type values each may take.
SCHEMA = {
    "malloc": {"version"},
    "heap": {"nr"},
    "sizes": set(),
    "size": {"from", "to", "total", "count"},
    "unsorted": {"from", "to", "total", "count"},
    "total": {"type", "count", "size"},
    "system": {"type", "size"},
    "aspace": {"type", "size"},
}
TYPES = {"total": {"fast", "rest", "mmap"}, "system": {"current", "max"},
         "aspace": {"total", "mprotect", "subheaps"}}


def parse_malloc_info(path, where):
    """Checks the document against glibc's schema; returns the top-level
    figures as {(element, type): {attr: int}} and the heaps."""
    root = ET.parse(path).getroot()
    check(root.tag == "malloc" and root.get("version") == "1",
          f"{where}: root <{root.tag} version={root.get('version')}>")
    for el in root.iter():
        check(el.tag in SCHEMA, f"{where}: element <{el.tag}> is not glibc's")
        extra = set(el.attrib) - SCHEMA.get(el.tag, set())
        check(not extra, f"{where}: <{el.tag}> has attributes {extra}")
        if el.tag in TYPES:
            check(el.get("type") in TYPES[el.tag], f"{where}: <{el.tag} type={el.get('type')}>")
        for k, v in el.attrib.items():
            if k not in ("type", "version"):
                check(v.isdigit(), f"{where}: <{el.tag} {k}={v!r}> is not a number")

    def figures(parent):
        out = {}
        for el in parent:
            if el.tag in TYPES:
                out[(el.tag, el.get("type"))] = {k: int(v) for k, v in el.attrib.items()
                                                 if k != "type"}
        return out

    top = figures(root)
    for need in (("total", "fast"), ("total", "rest"), ("total", "mmap"), ("system", "current"),
                 ("system", "max"), ("aspace", "total"), ("aspace", "mprotect")):
        check(need in top, f"{where}: no top-level <{need[0]} type=\"{need[1]}\">")
    heaps = root.findall("heap")
    check(len(heaps) >= 1, f"{where}: no <heap>")
    for h in heaps:
        check(h.get("nr", "").isdigit() and h.find("sizes") is not None,
              f"{where}: <heap nr={h.get('nr')}> without <sizes>")
        f = figures(h)
        for need in (("total", "fast"), ("total", "rest"), ("system", "current"),
                     ("system", "max")):
            check(need in f, f"{where}: heap {h.get('nr')} has no <{need[0]} type=\"{need[1]}\">")
        for s in h.find("sizes"):
            check(int(s.get("from")) <= int(s.get("to")), f"{where}: <size> from > to")
    return top, heaps


def mallinfo_lines(text):
    return {k: int(v) for k, v in (l.split("=") for l in text.split())}


def part_malloc_info(a, tmp):
    # The reference: glibc's own document, read by the same parser.
    ref = os.path.join(tmp, "glibc.xml")
    mi = mallinfo_lines(run([a.prog, "malloc-info", ref]).stdout)
    before = len(failures)
    top, heaps = parse_malloc_info(ref, "glibc")
    check(len(failures) == before, "the parser rejects glibc's own malloc_info")
    check(mi["hblks"] == top[("total", "mmap")]["count"], "glibc: hblks != mmap count")
    check(mi["arena"] == top[("system", "current")]["size"], "glibc: arena != system current")
    print(f"ok: glibc's malloc_info parsed: {len(heaps)} heaps")
    mine = os.path.join(tmp, "warden.xml")
    mi = mallinfo_lines(run([a.prog, "malloc-info", mine], None, a.lib).stdout)
    top, heaps = parse_malloc_info(mine, "warden")
    fast, rest, mmap = top[("total", "fast")], top[("total", "rest")], top[("total", "mmap")]
    agree = {
        "arena": top[("system", "current")]["size"],
        "smblks": fast["count"], "fsmblks": fast["size"],
        "ordblks": rest["count"], "fordblks": fast["size"] + rest["size"],
        "hblks": mmap["count"], "hblkhd": mmap["size"],
    }
    for k, v in agree.items():
        check(mi[k] == v, f"warden: mallinfo2.{k} = {mi[k]}, malloc_info says {v}")
    check(mmap["count"] >= 1 and mmap["size"] >= 6 * MiB, f"warden: the 6 MiB block: {mmap}")
    check(top[("system", "max")]["size"] >= top[("system", "current")]["size"],
          "warden: system max below current")
    check(mi["uordblks"] >= 6 * MiB, f"warden: uordblks {mi['uordblks']}")
    sizes = sum(int(s.get("count")) for h in heaps for s in h.find("sizes"))
    check(sizes > 0, "warden: no free block listed in <sizes>")
    print(f"ok: warden's malloc_info in glibc's schema ({len(heaps)} heaps) agrees with mallinfo2")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=["json", "interval", "map", "render", "malloc_info"])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--prog", required=True)
    ap.add_argument("--walkthrough")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wd-reports-") as tmp:
        rc = {"json": part_json, "interval": part_interval, "map": part_map,
              "render": part_render, "malloc_info": part_malloc_info}[a.part](a, tmp)
    if rc == 77:
        return 77
    if failures:
        print(f"{len(failures)} failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
