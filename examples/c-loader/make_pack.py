#!/usr/bin/env python3
"""Build a btfembed pack for the examples: BTF minimized for OBJECT(s).

usage: make_pack.py OUT.pack OBJECT... [--kernel ARCH/DISTRO/VERSION/RELEASE=BTF]...

Without --kernel the pack holds one kernel: the running one (key from
/etc/os-release and uname, BTF from /sys/kernel/btf/vmlinux).  Each
--kernel adds one (BTF: any file 'btfembed minimize' reads, e.g. a BTFHub
.btf.tar.xz).  'btfembed build' does this for real projects, with kernel
lists, parallelism and caching.
"""

import argparse
import os
import sys

from btfembed.core import Target
from btfembed.embed.keys import KernelKey, running_key
from btfembed.minimize.engine import minimize
from btfembed.inputs.objects import load_object
from btfembed.embed.pack import build_pack, object_digest, write_pack
from btfembed.inputs.containers import load_btf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output")
    ap.add_argument("objects", nargs="+")
    ap.add_argument("--kernel", action="append", default=[], metavar="ARCH/DISTRO/VERSION/RELEASE=BTF")
    args = ap.parse_args(argv)
    kernels = []
    for spec in args.kernel:
        key, sep, path = spec.partition("=")
        parts = key.split("/")
        if not sep or len(parts) != 4:
            ap.error(f"--kernel {spec!r}: expected ARCH/DISTRO/VERSION/RELEASE=BTF")
        kernels.append((KernelKey(*parts), path))
    if not kernels:
        kernels.append((running_key(), "/sys/kernel/btf/vmlinux"))
    objects = [load_object(p) for p in args.objects]
    items = [(key, minimize(objects, Target(load_btf(path))).data) for key, path in kernels]
    # The objects' digests let loaders check they load what the BTF was made for.
    digests = []
    for p in args.objects:
        with open(p, "rb") as f:
            digests.append((os.path.basename(p), object_digest(f.read())))
    write_pack(args.output, build_pack(items, digests))
    for key, blob in items:
        print(f"{key}: {len(blob)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
