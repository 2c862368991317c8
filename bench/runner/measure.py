"""Running the workloads and measuring them: a Run's record, starting a
program through bench/suite/measure under an allocator's LD_PRELOAD and
reading back its rusage and `result:` line, the Runner (the command of each
workload; redis-server under redis-benchmark), and the run loop that
alternates the allocators and writes each run to the csv as it ends."""
import os
import signal
import socket
import subprocess
import sys
import time

from .common import LIBC, MEMCHECK, MEMCHECK_ARGV, SUITE, log, warn
from .report import csv_row, fmt_num
from .workloads import REDIS_TESTS


class Run:
    def __init__(self):
        self.load = 0.0     # 1-minute load average when the run started
        self.wall = self.user = self.sys = 0.0
        self.maxrss = 0
        self.exit = 0
        self.value = None
        self.unit = ""
        self.extra = ""
        self.note = ""
        self.failure = ""   # what went wrong, with the tail of its stderr


def parse_result(text, name, run):
    """Takes the last `result: <name> ...` line: a figure and its unit, or
    key=value fields (fragment), plus trailing key=value fields."""
    for line in text.splitlines():
        f = line.split()
        if len(f) < 3 or f[0] != "result:" or f[1] != name:
            continue
        rest = f[2:]
        run.value, run.unit = None, ""
        if "=" not in rest[0]:
            try:
                run.value = float(rest[0])
            except ValueError:
                continue
            run.unit = rest[1] if len(rest) > 1 and "=" not in rest[1] else ""
            rest = rest[2:] if run.unit else rest[1:]
        run.extra = " ".join(rest)


def measured(measure, argv, lib, rfile):
    """argv run through bench/suite/measure (see measure.c for why), which
    writes the wall time, rusage and status of the run to rfile."""
    return [measure] + (["-p", lib] if lib else []) + [rfile] + argv


def read_measure(run, rfile):
    """Fills run from measure's line; False when there is none (killed)."""
    try:
        with open(rfile) as f:
            wall, user, sys_, rss, status = f.read().split()
    except (OSError, ValueError):
        return False
    run.wall, run.user, run.sys = float(wall), float(user), float(sys_)
    run.maxrss, run.exit = int(rss), int(status)
    if run.exit > 128:
        run.note = "killed by signal %d" % (run.exit - 128)
    return True


def spawn_measured(measure, argv, lib, stdin_path, timeout, out_path, err_path, extra_env=None):
    """Runs argv under the allocator lib (None: no preload), with the
    variables of extra_env added to its environment; returns (Run, stdout
    text)."""
    run = Run()
    rfile = out_path + ".rusage"
    timed_out = False
    with open(out_path, "w") as out, open(err_path, "w") as err, \
            open(stdin_path or os.devnull) as inp:
        p = subprocess.Popen(measured(measure, argv, lib, rfile), env=clean_env(extra_env),
                             stdin=inp, stdout=out, stderr=err, start_new_session=True)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(p.pid)
            p.wait()
            timed_out = True
    if not read_measure(run, rfile):
        run.exit = -9 if timed_out else (p.returncode or 1)
        run.note = "timed out after %.0f s" % timeout if timed_out else "measure failed"
    with open(out_path) as f:
        return run, f.read()


def clean_env(extra=None):
    """Our environment without LD_PRELOAD, plus extra (a variant's variables;
    None for every other allocator and for processes that are not under test)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(extra or {})
    return env


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Runner:
    def __init__(self, args, build_dir, tmp):
        self.args, self.build_dir, self.tmp = args, build_dir, tmp
        self.python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
        self.timeout = 600.0
        self.measure = os.path.join(build_dir, "bench", "suite", "measure")

    def size(self, w):
        return w.quick if self.args.quick else w.size

    def prepare(self, w):
        """Inputs a workload needs once (the generated C file for gcc)."""
        if w.name == "gcc":
            path = os.path.join(self.tmp, "gen_%d.c" % self.size(w))
            if not os.path.exists(path):
                subprocess.run([self.python, os.path.join(SUITE, "real", "gen_c.py"),
                                str(self.size(w)), path], check=True)

    def command(self, w):
        """argv and stdin file of a workload."""
        n = str(self.size(w))
        if w.kind == "bin":
            argv = [os.path.join(self.build_dir, "bench", "suite", w.name), n]
            return (argv + [str(self.args.threads)] if w.threaded else argv), None
        if w.name == "python":
            return [self.python, os.path.join(SUITE, "real", "alloc_heavy.py"), n], None
        if w.name == "sqlite":
            return (["sqlite3", "-batch", "-cmd", ".parameter set @n " + n, ":memory:"],
                    os.path.join(SUITE, "real", "sqlite_bench.sql"))
        if w.name == "gcc":
            return ["gcc", "-O2", "-c", os.path.join(self.tmp, "gen_%s.c" % n),
                    "-o", os.devnull], None
        raise ValueError(w.name)

    def run(self, w, alloc, lib, index, extra_env=None):
        """One run of w under lib; extra_env: a variant's variables, given to
        the preloaded process only."""
        out = os.path.join(self.tmp, "%s-%s-%d.out" % (w.name, alloc, index))
        err = os.path.join(self.tmp, "%s-%s-%d.err" % (w.name, alloc, index))
        if w.kind == "redis":
            run = self.run_redis(w, alloc, lib, out, err, extra_env)
        else:
            argv, stdin = self.command(w)
            if alloc == MEMCHECK:
                argv = MEMCHECK_ARGV + argv
            run, text = spawn_measured(self.measure, argv, lib, stdin, self.timeout, out, err,
                                       extra_env)
            parse_result(text, w.name, run)
            if w.name == "gcc" and run.exit == 0:
                run.value, run.unit = run.wall, "s"
        if run.exit != 0 or run.value is None and not run.extra:
            run.note = run.note or ("exit %d" % run.exit if run.exit else "no result line")
            with open(err, errors="replace") as f:
                tail = f.read()[-600:].strip()
            run.failure = "%s under %s failed (%s)%s" % (w.name, alloc, run.note,
                                                         ":\n" + tail if tail else "")
        return run

    # redis: a server per run, under the allocator (and a variant's variables);
    # the client is not preloaded and gets the same environment in every column.
    def run_redis(self, w, alloc, lib, out_path, err_path, extra_env=None):
        run = Run()
        port = free_port()
        rfile = out_path + ".rusage"
        # Debian's redis-server links libjemalloc: with no preload its malloc
        # IS jemalloc, so "glibc" preloads libc itself to bind glibc's malloc.
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", self.tmp, "--logfile", ""]
        srv_log = open(err_path, "w")
        server = subprocess.Popen(measured(self.measure, argv, lib or LIBC, rfile),
                                  env=clean_env(extra_env), stdout=srv_log, stderr=srv_log,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            if not redis_wait_ready(port, server, 15.0):
                run.exit, run.note = 1, "redis-server did not start"
                return run
            n = str(self.size(w))
            t0 = time.monotonic()
            try:
                bench = subprocess.run(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", n,
                     "-r", "200000", "-d", "256", "-P", "16", "-c", "50", "-t", REDIS_TESTS,
                     "--csv"], env=clean_env(), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                run.exit, run.note = 1, "redis-benchmark timed out"
                return run
            run.wall = time.monotonic() - t0
            with open(out_path, "w") as f:
                f.write(bench.stdout)
            if bench.returncode != 0:
                run.exit, run.note = bench.returncode, "redis-benchmark failed"
            else:
                rps = redis_total_rps(bench.stdout, int(n))
                run.value, run.unit = rps, "req/s"
            redis_command(port, b"SHUTDOWN NOSAVE\r\n")
            try:
                server.wait(20.0)
            except subprocess.TimeoutExpired:
                run.exit, run.note = 1, "redis-server did not stop; killed"
                return run
            wall, value, code = run.wall, run.value, run.exit
            if not read_measure(run, rfile):
                run.exit, run.note = 1, "no rusage from measure"
            # the time and figure are the client's; CPU and RSS the server's
            run.wall, run.value = wall, value
            if code != 0:
                run.exit = code
            elif run.exit != 0:
                run.note = "redis-server exit %d" % run.exit
            return run
        finally:
            if server.poll() is None:
                kill_group(server.pid)
                server.wait()
            srv_log.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_command(port, cmd):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
            s.sendall(cmd)
            return s.recv(64)
    except OSError:
        return b""


def redis_wait_ready(port, server, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if server.poll() is not None:
            return False
        if redis_command(port, b"PING\r\n").startswith(b"+PONG"):
            return True
        time.sleep(0.05)
    return False


def redis_total_rps(csv_text, n):
    """Requests over the summed time of every test of redis-benchmark --csv."""
    secs, count = 0.0, 0
    for line in csv_text.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if len(f) >= 2 and f[0] != "test":
            try:
                rps = float(f[1])
            except ValueError:
                continue
            if rps > 0:
                secs += n / rps
                count += n
    return count / secs if secs > 0 else None


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def takes_part(args, w, a):
    """Whether allocator a runs workload w: memcheck runs only the workloads
    of args.memcheck_on (a set of names), and never redis."""
    return a != MEMCHECK or (w.name in args.memcheck_on and w.kind != "redis")


def run_all(args, workloads, allocs, libs, envs, runner, csv, date, host):
    """Every run, allocators alternating: for each workload, run 1 of every
    allocator, then run 2 of every allocator, ...  Returns {(w, a): [Run]}."""
    results = {}
    total = sum(args.runs for w in workloads for a in allocs if takes_part(args, w, a))
    k = 0
    try:
        for w in workloads:
            runner.prepare(w)
            for i in range(1, args.runs + 1):
                for a in allocs:
                    if not takes_part(args, w, a):
                        continue
                    k += 1
                    print("[%d/%d] %s %s run %d ..." % (k, total, w.name, a, i),
                          end="", file=sys.stderr, flush=True)
                    load = loadavg()
                    r = runner.run(w, a, libs[a], i, envs.get(a))
                    r.load = load
                    results.setdefault((w.name, a), []).append(r)
                    csv.write(csv_row(date, host, w, runner.size(w), args.threads,
                                      a, i, r, load) + "\n")
                    csv.flush()
                    fig = ("%s %s" % (fmt_num(r.value), r.unit)) if r.value is not None \
                        else r.extra
                    log(" %.2f s, %.1f MiB, %s" % (r.wall, r.maxrss / 1024,
                                                    fig if not r.failure else "FAILED"))
                    if r.failure:
                        warn(r.failure)
    except KeyboardInterrupt:
        warn("interrupted: reporting the runs done so far")
    return results, k
