"""The two gnuplot charts of a run (time and peak RSS, as ratios to a
reference allocator)."""
import math
import os
import shutil
import subprocess

from .common import warn
from .report import ratio


def charts(base, workloads, allocs, med):
    """Bar charts of the ratio to mimalloc (else to glibc, else to the first
    allocator), one cluster per workload, one bar per allocator."""
    ref = next((a for a in ("mimalloc", "glibc") if a in allocs), allocs[0])
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        warn("no charts: gnuplot is not installed")
        return
    term = subprocess.run([gnuplot, "-e", "set terminal"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout
    terminal = "pngcairo size 1400,600 font ',10'" if "pngcairo" in term else "png size 1400,600"
    for key, what in (("time", "time"), ("rss", "peak RSS")):
        data = base + "-%s.dat.tmp" % key
        seen = [1.0]
        with open(data, "w") as f:
            f.write("workload " + " ".join(allocs) + "\n")
            for w in workloads:
                rs = [ratio(med, w.name, a, ref, key) for a in allocs]
                seen += [r for r in rs if r]
                f.write(w.name + " " + " ".join("%.4f" % r if r else "NaN" for r in rs) + "\n")
        lo = 2.0 ** math.floor(math.log2(min(seen) / 1.25))
        hi = 2.0 ** math.ceil(math.log2(max(seen) * 1.25))
        tics = ", ".join("'%s' %g" % (("%g" % t) if t >= 1 else "1/%g" % (1 / t), t)
                         for t in (2.0 ** e for e in range(int(math.log2(lo)),
                                                            int(math.log2(hi)) + 1)))
        png = base + ("-time.png" if key == "time" else "-rss.png")
        script = "\n".join([
            "set terminal %s noenhanced" % terminal,
            "set output '%s'" % png,
            "set title '%s: %s, ratio to %s (lower is better; log scale)'"
            % (os.path.basename(base), what, ref),
            "set style data histogram", "set style histogram clustered gap 1",
            "set style fill solid 0.85 border -1", "set boxwidth 0.9",
            "set logscale y 2", "set yrange [%g:%g]" % (lo, hi), "set grid ytics",
            "set ytics (%s)" % tics,
            "set xtics rotate by -30", "set key top left horizontal reverse Left",
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2",
            "plot for [i=2:%d] '%s' using (column(i) > 0 ? column(i) : 1/0):xtic(1) "
            "title columnheader(i)" % (len(allocs) + 1, data),
        ])
        r = subprocess.run([gnuplot], input=script, text=True, stderr=subprocess.PIPE)
        os.remove(data)
        if r.returncode != 0:
            warn("gnuplot failed: " + r.stderr.strip()[-500:])
