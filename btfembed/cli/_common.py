"""Helpers shared by the sub-commands: loading targets and objects, warnings."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy modules are imported when a command runs
    from btfembed.core.resolve import Target
    from btfembed.inputs.objects import BpfObject

__all__ = ["add_target_args", "load_target", "load_objects", "warn", "check_collisions"]


def warn(message: str) -> None:
    from btfembed.errors import one_line

    print(f"btfembed: warning: {one_line(message)}", file=sys.stderr)


def add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--module", "-m", metavar="MOD", action="append", default=[],
                   help="kernel module BTF (split BTF on top of KERNEL: /sys/kernel/btf/<mod>, a .ko, "
                        "or a raw file); repeatable.  Module types are searched only for types the kernel "
                        "itself lacks, as libbpf does")
    p.add_argument("--userspace", "-u", metavar="APP", action="append", default=[],
                   help="an application whose own types relocations target (uprobe programs): an ELF "
                        "with .BTF, an ELF with DWARF (converted with pahole, package dwarves), or raw "
                        "BTF; repeatable.  Its types are searched together with the kernel's, as libbpf "
                        "searches one BTF merging both; the output holds the types used from both")
    p.add_argument("--userspace-collisions", choices=["warn", "error", "ignore"], default="warn",
                   help="relocations whose candidates come both from the kernel and from an application "
                        "(a type named like a kernel type): one warning line each (default), an error "
                        "(exit 1, nothing written), or nothing")


def load_target(kernel: str, modules: Sequence[str] = (), objects: "Sequence[BpfObject]" = (),
                userspace: Sequence[str] = ()) -> "Target":
    """The kernel (and modules, and applications') BTF; the root type names
    of ``objects`` are looked up while indexing."""
    from btfembed.inputs.kernel import open_kernel
    from btfembed.inputs.userspace import split_app

    return open_kernel(kernel, modules, objects=objects, userspace=[split_app(u)[0] for u in userspace])


def check_collisions(objects: "Sequence[BpfObject]", target: "Target", mode: str) -> None:
    """Report kernel/application name collisions (``--userspace-collisions``):
    a warning line each, or ``CheckFailed`` after listing them."""
    if mode == "ignore" or not target.userspace:
        return
    from btfembed.errors import CheckFailed
    from btfembed.minimize.api import collisions

    found = collisions(objects, target)
    for obj, c in found:
        line = f"collision: {obj.source}: {c.line()}"
        if mode == "error":
            print(f"btfembed: error: {line}", file=sys.stderr)
        else:
            warn(line)
    if found and mode == "error":
        raise CheckFailed(f"{len(found)} relocation(s) with candidates in both the kernel and an application "
                          "(--userspace-collisions error)")


def load_objects(paths: Sequence[str], *, warn_no_ext: bool = True) -> "list[BpfObject]":
    from btfembed.inputs.objects import load_object

    objs = [load_object(p) for p in paths]
    if warn_no_ext:
        for o in objs:
            if not o.has_ext:
                warn(f"{o.source}: no .BTF.ext section, so no CO-RE relocations")
    return objs
