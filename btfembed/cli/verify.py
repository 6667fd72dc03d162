"""``btfembed verify``: check a minimized BTF against the full one."""

from __future__ import annotations

import argparse

from btfembed.cli._common import add_target_args
import sys


HELP = """\
Resolve every CO-RE relocation of OBJECT(s) against the full KERNEL BTF and
against MINIMIZED, and report each relocation whose result differs (value,
poisoning, ambiguity or error).  TYPE_ID_TARGET results are type ids of the
BTF used, so they differ legitimately: they are listed separately, and only
count as a difference if they designate a different type.

Exits 1 if any relocation differs.

examples:
  btfembed verify /sys/kernel/btf/vmlinux min.btf prog.bpf.o
  btfembed verify vmlinux.btf.tar.xz out/ubuntu/20.04/x86_64/5.4.0-91-generic.btf a.o b.o
"""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("verify", help="check that a minimized BTF relocates like the full one",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kernel", metavar="KERNEL", help="full kernel BTF")
    p.add_argument("minimized", metavar="MINIMIZED", help="minimized BTF")
    p.add_argument("objects", metavar="OBJECT", nargs="+", help="compiled BPF object(s)")
    add_target_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from btfembed.cli._common import check_collisions, load_objects, load_target
    from btfembed.errors import CheckFailed
    from btfembed.inputs.containers import load_btf
    from btfembed.minimize.api import verify

    objects = load_objects(args.objects)
    full = load_target(args.kernel, args.module, objects, args.userspace)
    check_collisions(objects, full, args.userspace_collisions)
    mini = load_btf(args.minimized)
    result = verify(objects, full, mini)
    for obj, d in result.differences:
        if d.type_id_only:
            print(f"{obj.source}: type id only: {d.line()}")
        else:
            print(f"{obj.source}: DIFFERENT: {d.line()}")
    failures = len(result.different)
    id_only = len(result.differences) - failures
    summary = (f"{result.total} relocations in {len(objects)} object(s): {failures} different, "
               f"{id_only} with different type ids of the same type")
    if failures:
        print(summary, file=sys.stderr)
        raise CheckFailed(f"{failures} relocation(s) resolve differently against {args.minimized}")
    print(summary)
    return 0
