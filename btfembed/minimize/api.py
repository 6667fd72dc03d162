"""The library face of the minimize layer: ``minimize``, ``explain`` and
``verify`` over opened objects and kernels (see ``btfembed`` for the whole
public API).  Objects are any ``core.objects.CoreObject`` (an ELF-backed
``BpfObject``, or ``ObjectData`` built from bytes)."""

from __future__ import annotations

from collections.abc import Sequence as _Seq
from typing import NamedTuple, Sequence, Union

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.core.collisions import Collision, find_collisions
from btfembed.core.objects import CoreObject
from btfembed.core.resolve import Target
from btfembed.core.results import Difference, Summary, compare
from btfembed.minimize.engine import Minimized, resolve_object, summarize_object
from btfembed.minimize.engine import minimize as _minimize

__all__ = ["minimize", "explain", "verify", "Verification", "collisions"]

Objects = Union[CoreObject, Sequence[CoreObject]]
Kernel = Union[Target, BTF]


def _objects(objects: Objects) -> list[CoreObject]:
    return list(objects) if isinstance(objects, _Seq) else [objects]


def _target(kernel: Kernel) -> Target:
    return kernel if isinstance(kernel, Target) else Target(kernel)


def minimize(objects: Objects, kernel: Kernel, *, compat: bool = False, byte_order: str | None = None,
             header_size: int = wire.HEADER_LEN) -> Minimized:
    """A BTF holding only what the CO-RE relocations of ``objects`` need
    from ``kernel`` (a ``BTF`` or a ``Target`` with modules).

    Returns a ``Minimized``: ``data`` (the BTF bytes), ``summaries`` (per
    object, the result of every relocation against the full kernel) and
    ``level`` (how far marking had to widen).  ``compat=True`` gives exactly
    bpftool's bytes (and refuses what bpftool refuses); ``byte_order``
    (``"little"``/``"big"``; default the kernel's) and ``header_size`` (24
    or 32) shape the output.  Raises ``MinimizeError`` when no equivalent
    BTF can be made.
    """
    return _minimize(_objects(objects), _target(kernel), compat=compat, byte_order=byte_order,
                     hdr_len=header_size)


def explain(objects: Objects, kernel: Kernel) -> list[Sequence[Summary]]:
    """How every relocation of ``objects`` resolves on ``kernel``: per
    object, one ``Summary`` per relocation (``btfembed.describe`` renders
    its result as the command line prints it)."""
    target = _target(kernel)
    return [summarize_object(o, target) for o in _objects(objects)]


class Verification(NamedTuple):
    """What ``verify`` found."""

    total: int                                  # relocations checked
    differences: list[tuple[CoreObject, Difference]]  # in object and relocation order

    @property
    def different(self) -> list[tuple[CoreObject, Difference]]:
        """Relocations that resolve differently (not only by type id)."""
        return [(o, d) for o, d in self.differences if not d.type_id_only]

    @property
    def ok(self) -> bool:
        return not self.different


def verify(objects: Objects, kernel: Kernel, minimized: Union[BTF, bytes]) -> Verification:
    """Resolve the relocations of ``objects`` against the full ``kernel``
    and against ``minimized`` (a ``BTF`` or its bytes) and list each whose
    result differs.  TYPE_ID_TARGET results that differ only by type id
    (designating the same type) are listed with ``type_id_only`` set."""
    full = _target(kernel)
    mini = Target(minimized if isinstance(minimized, BTF) else BTF(minimized, source="<minimized>"))
    objs = _objects(objects)
    total = 0
    diffs: list[tuple[CoreObject, Difference]] = []
    for obj in objs:
        a = summarize_object(obj, full)
        b = summarize_object(obj, mini)
        total += len(a)
        diffs += [(obj, d) for d in compare(a, b)]
    return Verification(total, diffs)


def collisions(objects: Objects, kernel: Kernel) -> list[tuple[CoreObject, Collision]]:
    """Relocations of ``objects`` whose candidates on ``kernel`` (a
    ``Target`` with user-space BTF) come both from the kernel and from an
    application (see ``btfembed.core.collisions``); empty without
    user-space BTF."""
    target = _target(kernel)
    if not target.userspace:
        return []
    return [(o, c) for o in _objects(objects) for c in find_collisions(o.btf, resolve_object(o, target), target)]
