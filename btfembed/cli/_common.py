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
    p.add_argument("--userspace", "-u", metavar="APP", action="append", default=[],
                   help="application BTF for uprobe programs (an ELF with .BTF or DWARF, via pahole, or raw "
                        "BTF); repeatable.  Its types are merged with KERNEL's into one flat BTF, as libbpf "
                        "sees the merged file given as btf_custom_path")
    p.add_argument("--userspace-collisions", choices=["warn", "error"], default="warn",
                   help="a relocation with candidates in both the kernel and an application: warn (default) "
                        "or fail (exit 1)")


def load_target(kernel: str, modules: Sequence[str] = (), objects: "Sequence[BpfObject]" = (),
                userspace: Sequence[str] = (), collisions: str = "warn") -> "Target":
    """The kernel (and modules) BTF; the root type names of ``objects`` are
    looked up while indexing.  With ``userspace`` applications, the kernel
    and their types merged into one flat BTF (collisions reported)."""
    from btfembed.inputs.kernel import open_kernel

    target = open_kernel(kernel, modules, objects=objects)
    if not userspace:
        return target
    from btfembed.errors import CheckFailed, ConfigError
    from btfembed.inputs.userspace import open_with_apps
    from btfembed.minimize.collisions import find_collisions

    if modules:
        raise ConfigError("--userspace cannot be combined with --module (a merged BTF has no module part)")
    merged = open_with_apps(target.kernel, userspace)
    found = find_collisions(objects, merged.target, merged.kernel_types)
    for c in found:
        warn(f"collision: {c.line()}")
    if found and collisions == "error":
        raise CheckFailed(f"{len(found)} relocation(s) have candidates in both the kernel and an application")
    return merged.target


def load_objects(paths: Sequence[str], *, warn_no_ext: bool = True) -> "list[BpfObject]":
    from btfembed.inputs.objects import load_object

    objs = [load_object(p) for p in paths]
    if warn_no_ext:
        for o in objs:
            if not o.has_ext:
                warn(f"{o.source}: no .BTF.ext section, so no CO-RE relocations")
    return objs
