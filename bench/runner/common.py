"""Where things are (the source tree, the suite, the results, the system's C
library and allocators) and the two ways bench/run talks on stderr: log and
warn.  Imports nothing of the package."""
import os
import sys

# this file is bench/runner/common.py: the tree is three levels up
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(ROOT, "bench", "suite")
RESULTS = os.path.join(ROOT, "bench", "results")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"

# --check's two columns: warden's check mode (a variant: warden's library
# with these variables), and valgrind's memcheck (no preload: the workload
# runs under valgrind, whose memcheck replaces glibc's malloc with its own).
CHECK_VARIANT = ("warden-check", {"WARDEN_OPTIONS": "check=1"})
MEMCHECK = "memcheck"
MEMCHECK_ARGV = ["valgrind", "--tool=memcheck", "-q"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def warn(msg):
    log("bench/run: warning: " + msg)
