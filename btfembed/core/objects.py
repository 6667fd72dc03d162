"""What the engine needs from a BPF object: the ``CoreObject`` protocol,
and ``ObjectData``, a plain implementation from bytes and records.

Minimization and resolution take any ``CoreObject``, so they run on a
local BTF and its CO-RE records however they were obtained: from an ELF
file (``btfembed.inputs.objects.BpfObject``), from a cache, or built in
memory, without any ELF code.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

from btfembed.btf.reader import BTF
from btfembed.core.records import CoreRecord

if TYPE_CHECKING:
    from btfembed.core.spec import Spec

__all__ = ["CoreObject", "ObjectData"]


class CoreObject(Protocol):
    """A BPF object as the CO-RE engine sees it."""

    @property
    def source(self) -> str | None:
        """A name for messages (the file path, or None)."""

    @property
    def btf(self) -> BTF:
        """The object's own (local) BTF."""

    @property
    def relocations(self) -> Sequence[CoreRecord]:
        """Its CO-RE relocation records, in file order."""

    @property
    def byte_order(self) -> str:
        """``"little"`` or ``"big"``: the byte order of its instructions."""

    @property
    def has_ext(self) -> bool:
        """Whether it has a ``.BTF.ext`` section (bpftool refuses objects without)."""

    @property
    def specs(self) -> "list[Spec]":
        """The relocations' local specs (``core.resolve.parse_local_specs``), parsed once."""

    def program_at(self, section: str, insn_off: int) -> str:
        """The program (function) holding the instruction ``insn_off`` bytes
        into ``section``; the section name if none does."""


class ObjectData:
    """A ``CoreObject`` from plain data: a local BTF, its records, the byte
    order and where the programs are (``(section, offset, size, name)``,
    offsets in bytes)."""

    def __init__(self, btf: BTF, relocations: Sequence[CoreRecord], *, byte_order: str = "little",
                 programs: Iterable[tuple[str, int, int, str]] = (), source: str | None = None,
                 has_ext: bool = True):
        if byte_order not in ("little", "big"):
            raise ValueError(f"byte_order must be 'little' or 'big', not {byte_order!r}")
        self.source = source
        self.btf = btf
        self.relocations = tuple(relocations)
        self.byte_order = byte_order
        self.has_ext = has_ext
        by_section: dict[str, list[tuple[int, int, str]]] = {}
        for section, offset, size, name in programs:
            by_section.setdefault(section, []).append((offset, size, name))
        self._programs = {s: sorted(p) for s, p in by_section.items()}
        self._specs: list[Spec] | None = None

    @property
    def specs(self) -> "list[Spec]":
        if self._specs is None:
            from btfembed.core.resolve import parse_local_specs
            self._specs = parse_local_specs(self.btf, self.relocations)
        return self._specs

    def program_at(self, section: str, insn_off: int) -> str:
        progs = self._programs.get(section, [])
        k = bisect.bisect_right([p[0] for p in progs], insn_off) - 1
        if k >= 0 and insn_off < progs[k][0] + max(progs[k][1], 1):
            return progs[k][2]
        return section
