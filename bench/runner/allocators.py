"""The allocators: the built-in table, the --extra and --variant columns
(parsing them), checking that a library exports malloc and that its preload
takes, warden's library (copied at the start), and choosing which of the
asked-for allocators can run."""
import argparse
import hashlib
import os
import re
import shutil
import subprocess

from .build import build
from .common import LIBDIR, MEMCHECK, MEMCHECK_ARGV, ROOT, warn
from .measure import clean_env
from .packages import dpkg_version


# name, library (None: glibc, no preload), Debian package
ALLOCATORS = [
    ("glibc", None, None),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2", "libjemalloc2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0"),
    ("warden", None, None),   # library from --warden
]


def exports_malloc(lib):
    """True when the shared library defines a dynamic symbol `malloc`."""
    if not os.path.isfile(lib):
        return False
    r = subprocess.run(["nm", "-D", "--defined-only", lib], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    names = (line.split()[-1].split("@")[0] for line in r.stdout.splitlines() if line.split())
    return "malloc" in names


def preload_takes(lib, extra_env=None):
    """True when a program started with LD_PRELOAD=lib (and extra_env) really
    maps lib."""
    r = subprocess.run(["cat", "/proc/self/maps"],
                       env=dict(clean_env(extra_env), LD_PRELOAD=lib),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return os.path.realpath(lib) in r.stdout or os.path.basename(lib) in r.stdout


VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_variant(text):
    """NAME=KEY=VALUE[,KEY=VALUE...] -> (NAME, {KEY: VALUE}).  A comma splits
    only where KEY= follows it, so values may contain commas.  NAME goes into
    file names, the csv and gnuplot's column headers: letters, digits, _.+-."""
    name, eq, rest = text.partition("=")
    if not VARIANT_NAME.match(name):
        raise argparse.ArgumentTypeError(
            "%r: NAME must be letters, digits and _.+- (in NAME=KEY=VALUE[,KEY=VALUE...])" % text)
    if not eq or not rest:
        raise argparse.ArgumentTypeError(
            "%r: no KEY=VALUE (expected NAME=KEY=VALUE[,KEY=VALUE...])" % text)
    env = {}
    for item in re.split(r",(?=[A-Za-z_][A-Za-z0-9_]*=)", rest):
        key, eq, value = item.partition("=")
        if not eq or not ENV_KEY.match(key):
            raise argparse.ArgumentTypeError("%r: %r is not KEY=VALUE" % (text, item))
        if key == "LD_PRELOAD":
            raise argparse.ArgumentTypeError(
                "%r: LD_PRELOAD is set by bench/run itself (to warden's library)" % text)
        env[key] = value
    return name, env


def parse_extra(text):
    """NAME=PATH -> (NAME, absolute PATH).  NAME as a variant's."""
    name, eq, path = text.partition("=")
    if not VARIANT_NAME.match(name):
        raise argparse.ArgumentTypeError(
            "%r: NAME must be letters, digits and _.+- (in NAME=/path/to/lib.so)" % text)
    if not eq or not path:
        raise argparse.ArgumentTypeError("%r: no library (expected NAME=/path/to/lib.so)" % text)
    return name, os.path.abspath(os.path.expanduser(path))


def env_text(env):
    return " ".join("%s=%s" % kv for kv in env.items())


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def warden_library(ap, args, build_dir, tmp):
    """(copy of warden's library in tmp, how the report names it), or None
    when it does not export malloc (warned).  Copied, so that a rebuild during
    the run cannot change or break it."""
    lib = os.path.abspath(args.warden)
    if args.warden == ap.get_default("warden") and not exports_malloc(lib):
        build(build_dir, ["warden_shared"])
    if not exports_malloc(lib):
        warn("skipping warden: %s does not export malloc%s" % (
            lib, "" if os.path.exists(lib) else " (no such file)"))
        return None
    copy = os.path.join(tmp, "libwarden.so")
    shutil.copyfile(lib, copy)
    return copy, "%s, sha256 %s, copied at start" % (os.path.relpath(lib, ROOT),
                                                     sha256_of(copy))


def choose_allocators(ap, args, allocs, build_dir, tmp):
    """{name: library to preload (None for glibc)} of the allocators that can
    run, {name: how the report names it} and {name: extra environment} (the
    variants').  An allocator whose library does not export malloc, or whose
    preload does not take, is skipped with a warning; so are the variants
    when warden's library is.  An extra's library is used where it is (not
    copied: it may load others beside it); its sha256 goes into the report."""
    libs, shown, envs = {}, {}, {}
    variants, extras = dict(args.variant), dict(args.extra)
    warden = None
    if "warden" in allocs or any(a in variants for a in allocs):
        warden = warden_library(ap, args, build_dir, tmp)
    entries = ALLOCATORS + [(x, path, None) for x, path in args.extra] + \
        [(v, None, None) for v in variants]
    if MEMCHECK in allocs:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            warn("skipping %s: valgrind is not installed" % MEMCHECK)
        else:
            libs[MEMCHECK] = None
            shown[MEMCHECK] = "%s, no preload, valgrind %s" % (
                " ".join(MEMCHECK_ARGV), dpkg_version("valgrind"))
    for name, lib, pkg in entries:
        if name not in allocs:
            continue
        env = variants.get(name)
        if name == "warden" or env is not None:
            if warden is None:
                if env is not None:
                    warn("skipping %s: it needs warden's library" % name)
                continue
            lib, shown[name] = warden
            if env is not None:
                shown[name] = "%s; with `%s`" % (warden[1], env_text(env))
                envs[name] = env
        elif lib is not None and not exports_malloc(lib):
            warn("skipping %s: %s does not export malloc%s" % (
                name, lib, "" if os.path.exists(lib) else " (no such file)"))
            continue
        elif name in extras:
            shown[name] = "%s, sha256 %s" % (lib, sha256_of(lib))
        else:
            shown[name] = ("%s, %s %s" % (lib, pkg, dpkg_version(pkg)) if pkg else
                           "no preload, libc6 %s" % dpkg_version("libc6"))
        if lib is not None and not preload_takes(lib, env):
            warn("skipping %s: LD_PRELOAD=%s is not honoured" % (name, lib))
            continue
        libs[name] = lib
    return libs, shown, envs
