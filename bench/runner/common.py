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


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def warn(msg):
    log("bench/run: warning: " + msg)
