"""``btfembed explain``: what each relocation resolves to on a kernel."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence, TextIO

from btfembed.cli._common import add_target_args, load_objects, load_target
from btfembed.core.kinds import KIND_LABELS, is_enumval_based, is_type_based
from btfembed.core.resolve import RelocResult
from btfembed.core.spec import Spec
from btfembed.minimize import ObjectResults, resolve_object
from btfembed.verify import describe

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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="show how each relocation resolves on a kernel",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kernel", metavar="KERNEL", help="kernel BTF")
    p.add_argument("objects", metavar="OBJECT", nargs="+", help="compiled BPF object(s)")
    add_target_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    p.set_defaults(func=run)


def access_names(spec: Spec) -> str:
    """The local access as names: ``struct task_struct.real_parent``,
    ``enum pid_type::PIDTYPE_TGID``, ``struct pid.numbers[0].nr``."""
    btf = spec.btf
    root = btf.type(spec.root_type_id)
    head = f"{root.kind_name.lower()} {root.name or '<anon>'}"
    if is_type_based(spec.kind):
        return head
    if is_enumval_based(spec.kind):
        return f"{head}::{spec.accessors[0].name}"
    path = ""
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            path += f".{acc.name}"
        elif i > 0 or acc.idx > 0:
            path += f"[{acc.idx}]"
    return head + path


def result_record(source: str, r: RelocResult) -> dict:
    o = r.outcome
    rec = {
        "object": source, "program": r.program, "section": r.record.section, "relo": r.record.index,
        "insn": r.record.insn_off // 8, "kind": KIND_LABELS.get(r.record.kind, str(r.record.kind)),
        "access": access_names(r.local), "status": o.status, "result": describe(o),
    }
    if o.values is not None and o.status == "resolved":
        rec["value"] = o.values.new_val
    if o.message:
        rec["message"] = o.message
    return rec


def print_report(results: Sequence[ObjectResults], out: TextIO, *, as_json: bool = False) -> None:
    for objres in results:
        for r in objres.results:
            rec = result_record(objres.obj.source or "", r)
            if as_json:
                out.write(json.dumps(rec, sort_keys=True) + "\n")
            else:
                out.write(f"{rec['object']}: {rec['program']} {rec['kind']} {rec['access']}: {rec['result']}\n")


def run(args: argparse.Namespace) -> int:
    target = load_target(args.kernel, args.module)
    objects = load_objects(args.objects)
    results = [ObjectResults(o, resolve_object(o, target)) for o in objects]
    print_report(results, sys.stdout, as_json=args.json)
    return 0
