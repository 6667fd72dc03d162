"""``btfembed dump``: print BTF like ``bpftool btf dump file`` (raw format)."""

from __future__ import annotations

import argparse
import sys


HELP = """\
Print every type of a BTF file, in the text format of
'bpftool btf dump file FILE' (raw).  FILE may be raw BTF, an ELF file with a
.BTF section (vmlinux, BPF object, .ko module), /sys/kernel/btf/vmlinux, an
xz/gzip/bzip2-compressed file or a BTFHub .btf.tar.xz archive.

examples:
  btfembed dump /sys/kernel/btf/vmlinux | head
  btfembed dump tests/data/kernels/debian_12_x86_64_6.1.0-50-amd64.btf.xz
  btfembed dump --base vmlinux.btf ext4.btf      # module (split) BTF
"""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("dump", help="print BTF types like 'bpftool btf dump file'",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="BTF source to print")
    p.add_argument("--base", metavar="BASE", help="base BTF when FILE is split BTF (a kernel module's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from btfembed.btf.dump import dump
    from btfembed.inputs.containers import load_btf
    base = load_btf(args.base) if args.base else None
    btf = load_btf(args.file, base=base)
    dump(btf, sys.stdout)
    sys.stdout.flush()
    return 0
