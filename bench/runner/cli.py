"""bench/run's command line and its main: the options, which workloads and
allocators they select, and the order of a whole run (install, choose the
allocators, build, run, report, charts, the closing summary on stderr)."""
import argparse
import datetime
import os
import shutil
import socket
import sys
import tempfile
import time

from .allocators import ALLOCATORS, choose_allocators, parse_extra, parse_variant, sha256_of
from .build import build
from .common import CHECK_VARIANT, MEMCHECK, RESULTS, ROOT, log, warn
from .measure import Runner, run_all
from .packages import install_packages
from .plots import charts
from .report import CSV_HEAD, check_means, fmt_ratio, machine_info, write_report
from .workloads import HEAVY, WORKLOADS


def parse_args(doc):
    # doc: bench/run's docstring, whose first paragraph is --help's description
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="workloads:\n" + "\n".join(
                                     "  %-14s %s" % (w.name, w.what) for w in WORKLOADS))
    ap.add_argument("--only", help="workloads to run, comma-separated")
    ap.add_argument("--alloc", default=",".join(a[0] for a in ALLOCATORS),
                    help="allocators, comma-separated (default: all five, every extra, "
                    "every variant, and with --check warden-check and memcheck; extras, "
                    "variants or memcheck named here: only those)")
    ap.add_argument("--runs", type=int, help="runs of each (workload, allocator); default 5, "
                    "1 with --quick")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="threads of the threaded workloads (default: nproc)")
    ap.add_argument("--quick", action="store_true", help="1 run of reduced sizes")
    ap.add_argument("--warden", default=os.path.join(ROOT, "build", "libwarden.so"),
                    help="warden library (default: build/libwarden.so)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tag", help="appended to the result file names")
    ap.add_argument("--no-install", action="store_true", help="never call apt-get")
    ap.add_argument("--extra", action="append", default=[], type=parse_extra,
                    metavar="NAME=/path/to/lib.so",
                    help="one more column NAME: this library preloaded, e.g. "
                    "mimalloc-2.4=/opt/allocators/libmimalloc-2.4.1.so (repeatable)")
    ap.add_argument("--best", action="store_true",
                    help="also print the table of warden against the best peer at the end "
                    "(the report always has it)")
    ap.add_argument("--variant", action="append", default=[], type=parse_variant,
                    metavar="NAME=KEY=VALUE[,KEY=VALUE...]",
                    help="one more column NAME: warden's library run with these environment "
                    "variables, e.g. warden-h2=WARDEN_OPTIONS=harden=2 (repeatable)")
    ap.add_argument("--check", action="store_true",
                    help="two more columns: warden-check (warden with WARDEN_OPTIONS=check=1) and "
                    "memcheck (the workload under valgrind --tool=memcheck -q, no preload), "
                    "and the report's table of both against warden; best with --quick "
                    "(memcheck is 15 to 100 times slower than warden)")
    ap.add_argument("--memcheck-only", metavar="NAME[,NAME]",
                    help="with --check: the workloads memcheck runs (default: the "
                    "allocation-heavy ones, %s; redis never)" % ", ".join(HEAVY))
    args = ap.parse_args()
    if args.check and not any(name == CHECK_VARIANT[0] for name, _ in args.variant):
        args.variant.append(CHECK_VARIANT)
    names = [w.name for w in WORKLOADS]
    if args.memcheck_only is not None and not args.check:
        ap.error("--memcheck-only needs --check")
    want = HEAVY if args.memcheck_only is None else \
        [x.strip() for x in args.memcheck_only.split(",") if x.strip()]
    bad = [x for x in want if x not in names]
    if bad:
        ap.error("--memcheck-only: unknown workload %s" % ",".join(bad))
    args.memcheck_on = set(want) if args.check else set()
    seen = [a[0] for a in ALLOCATORS] + ([MEMCHECK] if args.check else [])
    for opt, items in (("--extra", args.extra), ("--variant", args.variant)):
        for name, _ in items:
            if name in seen:
                ap.error("%s %s: the name is taken" % (opt, name))
            seen.append(name)
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1 or args.threads < 1:
        ap.error("--runs and --threads must be positive")
    return ap, args


def select(ap, args):
    names = [w.name for w in WORKLOADS]
    workloads = WORKLOADS
    if args.only:
        want = [x.strip() for x in args.only.split(",") if x.strip()]
        bad = [x for x in want if x not in names]
        if bad:
            ap.error("unknown workload %s (known: %s)" % (",".join(bad), ", ".join(names)))
        workloads = [w for w in WORKLOADS if w.name in want]
    variants = [v[0] for v in args.variant]
    extras = [x[0] for x in args.extra]
    builtin = [a[0] for a in ALLOCATORS]
    # the peers first, then warden and its variants
    checks = [MEMCHECK] if args.check else []
    known = builtin[:builtin.index("warden")] + extras + ["warden"] + variants + checks
    allocs = [x.strip() for x in args.alloc.split(",") if x.strip()]
    bad = [x for x in allocs if x not in known]
    if bad or not allocs:
        ap.error("unknown allocator %s (known: %s)" % (",".join(bad), ", ".join(known)))
    for group in (extras, variants, checks):
        if not any(x in allocs for x in group):
            allocs += group      # --alloc names none of them: all of them run
    if args.check and "warden" not in allocs:
        allocs.append("warden")  # --check's ratios are to warden
    return workloads, [a for a in known if a in allocs]   # canonical order


def main(doc):
    """doc: bench/run's docstring (see parse_args)."""
    ap, args = parse_args(doc)
    workloads, allocs = select(ap, args)
    t_start = time.monotonic()
    started = datetime.datetime.now(datetime.timezone.utc)
    build_dir = os.path.abspath(args.build_dir)

    if not args.no_install:
        pkgs = [a[2] for a in ALLOCATORS if a[0] in allocs and a[2]]
        if MEMCHECK in allocs:
            pkgs.append("valgrind")
        for w in workloads:
            pkgs += list(w.packages)
        if shutil.which("gnuplot") is None:
            pkgs.append("gnuplot-nox")
        install_packages(pkgs)

    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        libs, shown, envs = choose_allocators(ap, args, allocs, build_dir, tmp)
        allocs = [a for a in allocs if a in libs]
        if not allocs:
            sys.exit("bench/run: no allocator left to run")
        digests = {x: sha256_of(path) for x, path in args.extra if x in libs}
        bins = [w.name for w in workloads if w.kind == "bin"]
        if not build(build_dir, bins + ["measure"]):
            sys.exit("bench/run: building the workloads failed")

        host = socket.gethostname().split(".")[0]
        date = started.strftime("%Y-%m-%d")
        name = "%s-%s" % (date, host) + ("-quick" if args.quick else "") + \
            ("-" + args.tag if args.tag else "")
        os.makedirs(RESULTS, exist_ok=True)
        base = os.path.join(RESULTS, name)
        info = machine_info()
        with open(base + ".csv.tmp", "w") as csv:
            csv.write(CSV_HEAD + "\n")
            runner = Runner(args, build_dir, tmp)
            results, k = run_all(args, workloads, allocs, libs, envs, runner, csv, date,
                                 host)
    os.replace(base + ".csv.tmp", base + ".csv")
    for x, digest in digests.items():
        if sha256_of(libs[x]) != digest:
            warn("%s: %s changed during the run (sha256 %s at the start)" % (x, libs[x], digest))
    elapsed = time.monotonic() - t_start
    loads = [r.load for rs in results.values() for r in rs]
    variants = dict(args.variant)
    ours = [a for a in allocs if a == "warden" or a in variants]
    med, gm, best = write_report(base, args, workloads, allocs, shown, results, info, started,
                                 elapsed, loads, ours)
    charts(base, workloads, [a for a in allocs if a != MEMCHECK], med)
    for ref in ("mimalloc", "glibc"):
        if ref in allocs:
            log("geometric means, ratio to %s: " % ref + "; ".join(
                "%s time %s rss %s" % (a, fmt_ratio(gm[("time", ref)][a][0]),
                                       fmt_ratio(gm[("rss", ref)][a][0])) for a in allocs))
    if best:
        if args.best:
            log("\n".join(best[0]))
        log("against the best peer, geometric means: " + "; ".join(
            "%s time %s (%d) rss %s (%d)" % (o, fmt_ratio(best[1][o][0]), best[1][o][1],
                                             fmt_ratio(best[2][o][0]), best[2][o][1])
            for o in ours))
    if args.check:
        cm = check_means(workloads, allocs, med)
        if cm:
            log("against warden, geometric means over the allocation-heavy workloads: " +
                "; ".join("%s time %s cpu %s rss %s (%d)" % (
                    a, fmt_ratio(m["time"][0]), fmt_ratio(m["cpu"][0]), fmt_ratio(m["rss"][0]),
                    m["time"][1]) for a, m in cm.items()))
    log("bench/run: %d runs in %.1f min; wrote %s.{csv,md}" % (k, elapsed / 60, base))
