"""Helpers shared by the sub-commands: loading targets and objects, warnings."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy modules are imported when a command runs
    from btfembed.core.resolve import Target
    from btfembed.inputs.objects import BpfObject

__all__ = ["add_target_args", "load_target", "load_objects", "warn"]


def warn(message: str) -> None:
    from btfembed.errors import one_line

    print(f"btfembed: warning: {one_line(message)}", file=sys.stderr)


def add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--module", "-m", metavar="MOD", action="append", default=[],
                   help="kernel module BTF (split BTF on top of KERNEL: /sys/kernel/btf/<mod>, a .ko, "
                        "or a raw file); repeatable.  Module types are searched only for types the kernel "
                        "itself lacks, as libbpf does")


def load_target(kernel: str, modules: Sequence[str] = (), objects: "Sequence[BpfObject]" = ()) -> "Target":
    """The kernel (and modules) BTF; the root type names of ``objects`` are
    looked up while indexing."""
    from btfembed.inputs.kernel import open_kernel

    return open_kernel(kernel, modules, objects=objects)


def load_objects(paths: Sequence[str], *, warn_no_ext: bool = True) -> "list[BpfObject]":
    from btfembed.inputs.objects import load_object

    objs = [load_object(p) for p in paths]
    if warn_no_ext:
        for o in objs:
            if not o.has_ext:
                warn(f"{o.source}: no .BTF.ext section, so no CO-RE relocations")
    return objs
