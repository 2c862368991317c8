#!/usr/bin/env python3
"""The symbols libwarden.so exports are exactly the public API and the
standard names.

    exports.py LIBRARY INCLUDE_DIR OVERRIDE

The public API is every function declared WD_API in INCLUDE_DIR (warden.h,
warden/*.h); the standard names are listed below, independently of the
version script (src/api/exports.map).  OVERRIDE is 1 when the library
defines the standard names (0 in the sanitizer builds).  Read with
`nm -D --defined-only`; prints what is missing and what is extra."""
import glob
import os
import re
import subprocess
import sys

STANDARD = """
malloc free calloc realloc reallocarray aligned_alloc posix_memalign memalign
valloc pvalloc malloc_usable_size free_sized free_aligned_sized cfree
__libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign
__libc_valloc __libc_pvalloc
mallinfo mallinfo2 malloc_trim malloc_stats mallopt malloc_info
_exit _Exit
_Znwm _Znam _ZnwmSt11align_val_t _ZnamSt11align_val_t
_ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t
_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
_ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t
_ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t
""".split()

# WD_API, then anything but a ';' or a body, then the name before '('.
DECL = re.compile(r"\bWD_API\b[^;{]*?\b(wd_\w+)\s*\(", re.S)


def public_api(include):
    names = set()
    headers = [os.path.join(include, "warden.h")]
    headers += glob.glob(os.path.join(include, "warden", "*.h"))
    for path in headers:
        with open(path, encoding="utf-8") as fh:
            text = re.sub(r"/\*.*?\*/", " ", fh.read(), flags=re.S)
        names.update(DECL.findall(text))
    return names


def exported(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def main():
    library, include, override = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    api = public_api(include)
    if len(api) < 40:
        print(f"FAIL: only {len(api)} WD_API functions found in {include}")
        return 1
    allowed = api | (set(STANDARD) if override else set())
    have = exported(library)
    missing, extra = sorted(allowed - have), sorted(have - allowed)
    for name in missing:
        print(f"missing: {name}")
    for name in extra:
        print(f"extra: {name}")
    if missing or extra:
        print(f"FAIL: {len(missing)} missing, {len(extra)} extra")
        return 1
    print(f"ok: {len(have)} symbols: {len(api)} of the public API"
          f"{f' and {len(STANDARD)} standard names' if override else ''}, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
