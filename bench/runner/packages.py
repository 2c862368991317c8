"""Debian packages: whether one is installed, its version, and installing
the missing ones with apt-get."""
import os
import shutil
import subprocess

from .common import log, warn


def dpkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.returncode == 0 and r.stdout.strip().endswith("installed")


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip() if r.returncode == 0 else "?"


def install_packages(pkgs):
    """apt-get install -y the packages that dpkg says are missing."""
    missing = [p for p in pkgs if not dpkg_installed(p)]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        warn("cannot install %s: no apt-get" % " ".join(missing))
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("bench/run: installing " + " ".join(missing))
    cmd = sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env)
        if subprocess.run(cmd, env=env).returncode != 0:
            warn("apt-get could not install " + " ".join(missing))
