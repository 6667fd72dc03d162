"""``btfembed explain``: what each relocation resolves to on a kernel."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence, TextIO

from typing import TYPE_CHECKING

from btfembed.cli._common import add_target_args, check_collisions, load_objects, load_target

if TYPE_CHECKING:
    from btfembed.inputs.objects import BpfObject
    from btfembed.core.results import Summary

HELP = """\
Print one line per CO-RE relocation of OBJECT(s): the program, the
relocation kind, what it accesses (as type and member names) and its result
on KERNEL: the value libbpf patches in, 'missing (0)' for existence checks
that fail, 'poisoned' for accesses that do not exist on this kernel,
'ambiguous' or 'error' when libbpf would refuse to load the object.

examples:
  btfembed explain /sys/kernel/btf/vmlinux prog.bpf.o
  btfembed explain centos/8/x86_64/4.18.0-80.el8.x86_64.btf.tar.xz prog.bpf.o --json
"""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("explain", help="show how each relocation resolves on a kernel",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kernel", metavar="KERNEL", help="kernel BTF")
    p.add_argument("objects", metavar="OBJECT", nargs="+", help="compiled BPF object(s)")
    add_target_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    p.set_defaults(func=run)


def print_report(objects: "Sequence[BpfObject]", summaries: "Sequence[Sequence[Summary]]", out: TextIO, *,
                 as_json: bool = False) -> None:
    from btfembed.core.kinds import KIND_LABELS
    from btfembed.core.results import describe

    for obj, sums in zip(objects, summaries):
        for s in sums:
            if as_json:
                rec = {"object": obj.source, **s._asdict(), "result": describe(s)}
                out.write(json.dumps(rec, sort_keys=True) + "\n")
            else:
                out.write(f"{obj.source}: {s.program} {KIND_LABELS.get(s.kind, s.kind)} {s.access}: {describe(s)}\n")


def run(args: argparse.Namespace) -> int:
    from btfembed.minimize.api import explain

    objects = load_objects(args.objects)
    target = load_target(args.kernel, args.module, objects, args.userspace)
    check_collisions(objects, target, args.userspace_collisions)
    print_report(objects, explain(objects, target), sys.stdout, as_json=args.json)
    return 0
