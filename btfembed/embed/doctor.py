"""``doctor``: what the runtime decides on this host, and whether the chosen
blob relocates the objects as the host's own BTF does.

Run on a target host (or a build machine standing in for one)::

    report = diagnose("out/btfembed.pack", ["prog.bpf.o"])
    print(report.text())          # key, decision, object checks, differences
    report.ok                     # False: a difference (or nothing to use)

The decision is the Python runtime's (the same rules and environment
variables as every runtime: ``BTFEMBED_KEY``, ``BTFEMBED_HOST_ROOT`` ...),
reported twice: as a program would see it here (``kernel-btf`` when
``/sys/kernel/btf/vmlinux`` exists) and as it would be on a kernel without
BTF (forced), which picks the blob the rest checks.  Where the host has
``/sys/kernel/btf/vmlinux``, every CO-RE relocation of the objects is
resolved against the chosen blob and against the host BTF
(``btfembed.minimize.api.verify``): any difference means the pack would
make the program misbehave on this kernel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from btfembed.embed import runtime as rt
from btfembed.errors import PackError
from btfembed.inputs.files import read_bytes

__all__ = ["Report", "diagnose", "SYSFS_BTF"]

SYSFS_BTF = "/sys/kernel/btf/vmlinux"


@dataclass
class Report:
    pack: str
    runtime: "rt.Lookup"                 # the decision as a program sees it here
    embedded: "rt.Lookup"                # forced: the blob a kernel without BTF would get
    objects: list[tuple[str, str]] = field(default_factory=list)   # (path, guard verdict)
    compared: bool = False               # relocations resolved against the host BTF
    relocations: int = 0
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.embedded.blob is not None and not self.differences
                and not any(v.startswith("STALE") for _, v in self.objects))

    def text(self) -> str:
        lines = [f"pack: {self.pack}",
                 f"key: {rt._btfhub(self.embedded.key)} (from {self.embedded.source})",
                 f"runtime decision here: {self.runtime.status} ({rt.describe(self.runtime.status)})",
                 f"without kernel BTF: {rt.explain(self.embedded)}"]
        for path, verdict in self.objects:
            lines.append(f"object {path}: {verdict}")
        if self.compared:
            lines.append(f"relocations: {self.relocations} resolved against the chosen blob and {SYSFS_BTF}: "
                         f"{len(self.differences)} different")
            lines += [f"  DIFFERENT: {d}" for d in self.differences]
        lines += self.notes
        return "\n".join(lines)


def diagnose(pack: str, objects: Sequence[str] = (), *, key: str | None = None, host_root: str | None = None,
             sysfs_btf: str = SYSFS_BTF) -> Report:
    """Diagnose ``pack`` (a pack file) on this host for ``objects`` (paths of
    BPF objects).  ``key`` and ``host_root`` as for the runtimes."""
    data = read_bytes(pack)
    try:
        table = rt._pack_table(data, pack)
        here = rt.lookup(table, sysfs_btf=sysfs_btf, host_root=host_root, key=key)
        forced = rt.lookup(table, force=True, host_root=host_root, key=key)
    except rt.InvalidPackError as exc:
        raise PackError(str(exc)) from None
    report = Report(pack, here, forced)
    blobs = {path: read_bytes(path) for path in objects}
    for path, obj in blobs.items():
        try:
            verdict = rt.check_object(obj, table)
        except rt.StaleObjectError:
            report.objects.append((path, "STALE: the pack was not built for this object (rebuild the pack)"))
            continue
        except rt.InvalidPackError as exc:
            raise PackError(f"{path}: {exc}") from None
        report.objects.append((path, "built for this object" if verdict else "not checked (the pack records no objects)"))
    if forced.blob is None:
        report.notes.append("no embedded BTF for this host: nothing to compare")
        return report
    if not objects:
        return report
    if not os.access(sysfs_btf, os.R_OK):
        report.notes.append(f"{sysfs_btf} is not readable: relocations not compared (run doctor on a host with BTF)")
        return report
    from btfembed.inputs.containers import load_btf
    from btfembed.inputs.objects import load_object
    from btfembed.minimize.api import verify

    objs = [load_object(path, data) for path, data in blobs.items()]
    result = verify(objs, load_btf(sysfs_btf), forced.blob)
    report.compared = True
    report.relocations = result.total
    report.differences = [f"{obj.source}: {d.line()}" for obj, d in result.differences if not d.type_id_only]
    return report
