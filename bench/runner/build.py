"""Building targets of the tree (the workloads, measure, warden's shared
library) with cmake."""
import os
import subprocess

from .common import ROOT, log


def build(build_dir, targets):
    """Configures (so that new targets are known) and builds the targets."""
    r = subprocess.run(["cmake", "-S", ROOT, "-B", build_dir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        log(r.stdout[-4000:])
        return False
    cmd = ["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2), "--target"] + targets
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        log(r.stdout[-4000:])
    return r.returncode == 0
