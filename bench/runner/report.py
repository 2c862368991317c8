"""What the runs come to: medians per (workload, allocator), ratios,
geometric means, warden against the best peer, the machine's description,
the markdown report and the csv's rows."""
import math
import os
import statistics
import subprocess
import sys

from .common import CHECK_VARIANT, MEMCHECK
from .packages import dpkg_version


def median(xs):
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ok_runs(runs):
    return [r for r in runs if r.exit == 0 and (r.value is not None or r.extra)]


def summarize(workloads, allocs, results):
    """{(workload, alloc): dict of medians} over successful runs."""
    med = {}
    for w in workloads:
        for a in allocs:
            runs = ok_runs(results.get((w.name, a), []))
            if not runs:
                continue
            m = {"wall": median([r.wall for r in runs]),
                 "cpu": median([r.user + r.sys for r in runs]),
                 "rss": median([r.maxrss for r in runs]),
                 "value": median([r.value for r in runs if r.value is not None]),
                 "unit": runs[0].unit, "n": len(runs)}
            fields = {}
            for r in runs:
                for kv in r.extra.split():
                    k, _, v = kv.partition("=")
                    try:
                        fields.setdefault(k, []).append(float(v))
                    except ValueError:
                        pass
            m["fields"] = {k: median(v) for k, v in fields.items()}
            # What the time columns compare, lower being better: the wall
            # time, or for a workload whose duration it fixes itself and that
            # reports a rate (server), the time per operation, 1 / rate.
            m["rate"] = bool(w.fixed_time and m["value"] and m["unit"].endswith("/s"))
            m["time"] = 1.0 / m["value"] if m["rate"] else m["wall"]
            med[(w.name, a)] = m
    return med


def ratio(med, w, a, ref, key):
    """Median of (workload name w, allocator a) over that of ref, for key
    ("time", "wall", "cpu", "rss")."""
    x, y = med.get((w, a)), med.get((w, ref))
    if not x or not y or not x[key] or not y[key]:
        return None
    return x[key] / y[key]


def fmt_num(x):
    if x is None:
        return "—"
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e4:
        return "%.0fk" % (x / 1e3)
    if x >= 100:
        return "%.0f" % x
    return "%.3g" % x


def fmt_ratio(x):
    return "—" if x is None else "%.2f" % x


def fmt_time(m):
    """A cell of the time table: the wall time, or the rate (see summarize)."""
    return "%s %s" % (fmt_num(m["value"]), m["unit"]) if m["rate"] else "%.3g" % m["wall"]


def table(workloads, allocs, med, results, key, fmt):
    """Markdown rows: median (ratio to mimalloc, ratio to glibc).  key "time"
    shows fmt_time's figure."""
    rows = ["| workload | " + " | ".join(allocs) + " |",
            "|---|" + "---:|" * len(allocs)]
    for w in workloads:
        cells = []
        for a in allocs:
            m = med.get((w.name, a))
            if not m:
                cells.append("FAIL" if (w.name, a) in results else "—")
                continue
            cell = fmt_time(m) if key == "time" else fmt(m[key])
            rm, rg = ratio(med, w.name, a, "mimalloc", key), ratio(med, w.name, a, "glibc", key)
            cell += " (%s, %s)" % (fmt_ratio(rm), fmt_ratio(rg))
            if m["fields"].get("misaligned"):
                cell += " ⚠ misaligned=%d" % m["fields"]["misaligned"]
            cells.append(cell)
        rows.append("| %s | %s |" % (w.name, " | ".join(cells)))
    return rows


def in_time_mean(w, med, key):
    """Whether w counts in a geometric mean of key: a workload whose duration
    is fixed counts in the time means only by its rate (see summarize)."""
    if key not in ("time", "wall", "cpu") or not w.fixed_time:
        return True
    return key == "time" and any(m["rate"] for (n, _), m in med.items() if n == w.name)


def geomeans(workloads, allocs, med, key, ref):
    out = {}
    for a in allocs:
        rs = [ratio(med, w.name, a, ref, key) for w in workloads if in_time_mean(w, med, key)]
        rs = [r for r in rs if r is not None]
        out[a] = (geomean(rs), len(rs))
    return out


def best_peers(workloads, allocs, med, ours, key):
    """For each workload: (the peer with the lowest median of key, that
    median, {o: median of o / that} for each of ours), peers being the
    columns not in ours; and {o: (geometric mean of those ratios, n)}."""
    peers = [a for a in allocs if a not in ours and a != MEMCHECK]
    rows, means = [], {}
    for w in workloads:
        have = [(med[(w.name, a)][key], a) for a in peers
                if (w.name, a) in med and med[(w.name, a)][key]]
        if not have:
            continue
        best, who = min(have)
        rs = {o: med[(w.name, o)][key] / best for o in ours
              if (w.name, o) in med and med[(w.name, o)][key]}
        rows.append((w, who, best, rs))
    for o in ours:
        rs = [r[o] for w, _, _, r in rows if o in r and in_time_mean(w, med, key)]
        means[o] = (geomean(rs), len(rs))
    return rows, means


def best_table(workloads, allocs, med, ours):
    """Markdown rows: per workload, the fastest peer and the one with the
    smallest peak RSS, and each of ours over them; the geometric means last."""
    time_rows, time_gm = best_peers(workloads, allocs, med, ours, "time")
    rss_rows, rss_gm = best_peers(workloads, allocs, med, ours, "rss")
    rss_of = {w.name: (who, best, rs) for w, who, best, rs in rss_rows}
    L = ["| workload | fastest peer | " + " | ".join("%s / it" % o for o in ours) +
         " | smallest peak RSS | " + " | ".join("%s / it" % o for o in ours) + " |",
         "|---|---|" + "---:|" * len(ours) + "---|" + "---:|" * len(ours)]
    for w, who, best, rs in time_rows:
        rwho, rbest, rrs = rss_of.get(w.name, ("—", None, {}))
        shown = fmt_time(med[(w.name, who)]) + ("" if med[(w.name, who)]["rate"] else " s")
        L.append("| %s | %s (%s) | %s | %s | %s |" % (
            w.name, who, shown, " | ".join(fmt_ratio(rs.get(o)) for o in ours),
            "%s (%.1f MiB)" % (rwho, rbest / 1024) if rbest else "—",
            " | ".join(fmt_ratio(rrs.get(o)) for o in ours)))
    L.append("| **geometric mean** | | %s | | %s |" % (
        " | ".join("**%s** (%d)" % (fmt_ratio(g), n) if g else "—" for g, n in
                   (time_gm[o] for o in ours)),
        " | ".join("**%s** (%d)" % (fmt_ratio(g), n) if g else "—" for g, n in
                   (rss_gm[o] for o in ours))))
    return L, time_gm, rss_gm


def check_columns(allocs):
    """--check's columns present in allocs: warden-check, memcheck."""
    return [a for a in (CHECK_VARIANT[0], MEMCHECK) if a in allocs]


def check_means(workloads, allocs, med):
    """{column: {key: (geometric mean of its ratios to warden, n)}} for each
    of --check's columns, key in time, cpu, rss, over the allocation-heavy
    workloads where both have a median."""
    if "warden" not in allocs:
        return {}
    out = {}
    for a in check_columns(allocs):
        out[a] = {}
        for key in ("time", "cpu", "rss"):
            rs = [ratio(med, w.name, a, "warden", key) for w in workloads if w.heavy]
            rs = [r for r in rs if r is not None]
            out[a][key] = (geomean(rs), len(rs))
    return out


def check_table(workloads, allocs, med, results):
    """Markdown lines: warden's check mode and valgrind memcheck against
    default warden, per workload, with the geometric means over the
    allocation-heavy workloads; nothing without --check's columns."""
    cols = check_columns(allocs)
    if not cols or "warden" not in allocs:
        return []
    L = ["", "## %s against warden" % " and ".join(cols), "",
         "Median wall time and peak RSS of default warden, and of %s as ratios to them "
         "(time, CPU time = user + sys, peak RSS; for a workload of fixed duration, its "
         "time per operation). The means count the allocation-heavy workloads (marked *): "
         "programs whose loop is malloc and free." %
         " and ".join(cols), "",
         "| workload | warden time | warden RSS | " +
         " | ".join("%s time / CPU / RSS" % a for a in cols) + " |",
         "|---|---:|---:|" + "---:|" * len(cols)]
    for w in workloads:
        m = med.get((w.name, "warden"))
        if not m:
            continue
        cells = []
        for a in cols:
            x = med.get((w.name, a))
            if not x:
                cells.append("FAIL" if (w.name, a) in results else "—")
                continue
            cells.append("%s: %sx / %sx / %sx" % (
                fmt_time(x) + ("" if x["rate"] else " s"),
                fmt_ratio(ratio(med, w.name, a, "warden", "time")),
                fmt_ratio(ratio(med, w.name, a, "warden", "cpu")),
                fmt_ratio(ratio(med, w.name, a, "warden", "rss"))))
        L.append("| %s%s | %s | %.1f MiB | %s |" % (
            w.name, " *" if w.heavy else "", fmt_time(m) + ("" if m["rate"] else " s"),
            m["rss"] / 1024, " | ".join(cells)))
    cm = check_means(workloads, allocs, med)
    L.append("| **geometric mean*** | | | %s |" % " | ".join(
        "**%s / %s / %s** (%d)" % (fmt_ratio(cm[a]["time"][0]), fmt_ratio(cm[a]["cpu"][0]),
                                   fmt_ratio(cm[a]["rss"][0]), cm[a]["time"][1])
        if cm[a]["time"][0] else "—" for a in cols))
    return L


def machine_info():
    def sh(cmd):
        r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return r.stdout.strip()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    return {
        "nproc": sh("nproc"),
        "cpu": cpu or "?",
        "mem": sh("free -g | awk '/^Mem:/ {print $2}'") + " GiB (free -g)",
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "kernel": sh("uname -r"),
        "gcc": sh("gcc --version | head -1"),
        "glibc": dpkg_version("libc6"),
    }


def write_report(base, args, workloads, allocs, libs, results, info, started, elapsed, load,
                 ours):
    """ours: warden's columns (warden and the variants), set against the
    best of the others (the peers)."""
    med = summarize(workloads, allocs, results)
    title = os.path.basename(base)
    L = ["# Benchmark results %s" % title, "",
         "- date: %s; command: `bench/run %s`" % (started.strftime("%Y-%m-%d %H:%M UTC"),
                                                  " ".join(sys.argv[1:])),
         "- machine: %s cores (`nproc`), %s, %s; %s, kernel %s; %s; glibc %s" % (
             info["nproc"], info["cpu"], info["mem"], info["os"], info["kernel"],
             info["gcc"], info["glibc"]),
         "- allocators: " + ", ".join("%s (%s)" % (a, libs[a]) for a in allocs),
         "- runs per cell: %d, threads: %d, %s sizes; total time %.1f min; "
         "load average (1 min) at the start of the runs: median %.2f, max %.2f" % (
             args.runs, args.threads, "quick" if args.quick else "full",
             elapsed / 60, median(load) or 0, max(load or [0]))]
    if load and max(load) > float(info["nproc"] or 1):
        L += ["", "**Busy machine:** other processes ran during these measurements (load "
              "average up to %.1f on %s cores); single cells are noisy, the medians and "
              "geometric means less so." % (max(load), info["nproc"])]
    best = None
    peers = [a for a in allocs if a not in ours and a != MEMCHECK]
    if ours and peers:
        best = best_table(workloads, allocs, med, ours)
        L += ["", "## %s against the best peer" % " and ".join(ours), "",
              "For each workload, the fastest of the peers (%s) and the one with the "
              "smallest peak RSS, with their medians, and the median of %s over "
              "theirs: below 1.00 beats every peer on that workload. The geometric mean "
              "of the time ratios is the figure the project is judged on."
              % (", ".join(peers), " and of ".join(ours)), ""] + best[0]
    L += check_table(workloads, allocs, med, results)
    L += ["", "Each cell below: median of the runs, then (ratio to mimalloc, ratio to glibc). "
          "Lower is better for times and RSS; for the workload's own figure, "
          "higher is better unless its unit is s.", ""]
    fixed = [w.name for w in workloads if w.fixed_time and in_time_mean(w, med, "time")]
    L += ["## Wall time (s)", ""] + table(workloads, allocs, med, results, "time",
                                           lambda x: "%.3g" % x)
    if fixed:
        L += ["", "%s: the duration is fixed by the workload, so the cell is its "
              "throughput and the ratios are those of the time per operation (the "
              "inverse of the throughput's): lower is better here too." % ", ".join(fixed)]
    L += ["", "## Peak RSS (MiB)", ""] + table(workloads, allocs, med, results, "rss",
                                                 lambda x: "%.1f" % (x / 1024))
    L += ["", "## Geometric means of the ratios", "",
          "| allocator | time / mimalloc | time / glibc | CPU time / mimalloc | "
          "peak RSS / mimalloc | peak RSS / glibc |", "|---|---:|---:|---:|---:|---:|"]
    gm = {(k, ref): geomeans(workloads, allocs, med, k, ref)
          for k in ("time", "cpu", "rss") for ref in ("mimalloc", "glibc")}
    for a in allocs:
        cells = [gm[(k, ref)][a] for k, ref in (("time", "mimalloc"), ("time", "glibc"),
                                                ("cpu", "mimalloc"), ("rss", "mimalloc"),
                                                ("rss", "glibc"))]
        L.append("| %s | %s |" % (a, " | ".join(
            "%s (%d)" % (fmt_ratio(g), n) if g else "—" for g, n in cells)))
    L += ["", "(n) = workloads in the mean.  Time means leave out fragment, whose "
          "duration is fixed by design (2 s of sampling); the workloads of a fixed "
          "duration that report a throughput (server, server_sized) count by their "
          "time per operation, and are left out of the CPU time mean.", ""]
    L += ["## CPU time, user + sys (s)", ""] + table(workloads, allocs, med, results, "cpu",
                                                      lambda x: "%.3g" % x)
    L += ["", "## The workloads' own figures", "",
          "| workload | unit | " + " | ".join(allocs) + " |",
          "|---|---|" + "---:|" * len(allocs)]
    for w in workloads:
        unit = next((med[(w.name, a)]["unit"] for a in allocs if (w.name, a) in med), "")
        if w.name == "fragment":
            continue
        L.append("| %s | %s | %s |" % (w.name, unit, " | ".join(
            fmt_num(med[(w.name, a)]["value"]) if (w.name, a) in med else "—"
            for a in allocs)))
    if any(("fragment", a) in med for a in allocs):
        L += ["", "## fragment: RSS after freeing ~90 % of the peak (MiB)", "",
              "| allocator | right after the free | after 1 s | after 2 s | peak |",
              "|---|---:|---:|---:|---:|"]
        for a in allocs:
            m = med.get(("fragment", a))
            if m:
                f = m["fields"]
                L.append("| %s | %s | %s | %s | %.1f |" % (a, *(
                    "%.1f" % (f[k] / 1024) if k in f else "—"
                    for k in ("rss_after_free_kb", "rss_1s_kb", "rss_2s_kb")), m["rss"] / 1024))
    fails = [(k, r) for k, rs in results.items() for r in rs if r.exit != 0 or r.note]
    if fails:
        L += ["", "## Failed or odd runs", ""]
        L += ["- %s under %s: %s" % (k[0], k[1], r.note or "exit %d" % r.exit)
              for k, r in fails]
    L += ["", "Charts: [time](%s-time.png), [peak RSS](%s-rss.png); raw runs: [%s.csv](%s.csv)."
          % (title, title, title, title), ""]
    with open(base + ".md", "w") as f:
        f.write("\n".join(L))
    return med, gm, best


CSV_HEAD = ("date,host,workload,allocator,run,size,threads,wall_s,user_s,sys_s,cpu_s,"
            "maxrss_kb,exit,result,unit,fields,loadavg1,note")


def csv_row(date, host, w, size, threads, alloc, i, r, load):
    cells = [date, host, w.name, alloc, str(i), str(size), str(threads if w.threaded else 1),
             "%.4f" % r.wall, "%.4f" % r.user, "%.4f" % r.sys, "%.4f" % (r.user + r.sys),
             str(r.maxrss), str(r.exit), "" if r.value is None else "%.6g" % r.value,
             r.unit, r.extra, "%.2f" % load, r.note.replace(",", ";")]
    return ",".join(cells)
