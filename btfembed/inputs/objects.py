"""BPF objects: the ELF file, its local ``.BTF`` and its CO-RE records.

``load_object(path)`` checks that the file is an ELF object for the BPF
machine with a ``.BTF`` section.  A missing ``.BTF.ext`` is not an error:
such an object has no CO-RE relocations (``has_ext`` is False).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, NamedTuple, Sequence

from btfembed.btf.reader import BTF
from btfembed.inputs.elf import ElfFile
from btfembed.errors import BTFError, ELFFormatError
from btfembed.inputs.ext import CoreRecord, ExtInfo, parse_ext
from btfembed.inputs.files import read_bytes

if TYPE_CHECKING:
    from btfembed.core.resolve import SpecTable
    from btfembed.core.spec import Spec

__all__ = ["BpfObject", "load_object", "Program"]


class Program(NamedTuple):
    name: str
    section: str
    offset: int   # byte offset of the function in its section
    size: int


class BpfObject:
    """A compiled BPF object.

    Accessible attributes: ``source``, ``btf`` (the local BTF), ``ext``
    (``ExtInfo`` or None), ``byte_order``, ``relocations`` (CO-RE records
    in file order), ``has_ext``.
    """

    def __init__(self, data: bytes, source: str | None = None):
        self.source = source
        elf = ElfFile(data, source)
        if not elf.is_bpf:
            raise ELFFormatError(f"not a BPF object (ELF machine {elf.machine}, expected {247} for BPF)",
                                 source=source)
        raw = elf.section_data(".BTF")
        if raw is None:
            raise ELFFormatError("BPF object has no .BTF section (compile with -g)", source=source)
        try:
            self.btf = BTF(raw, source=f"{source}:.BTF" if source else ".BTF")
        except BTFError as exc:
            raise exc
        self.byte_order = "little" if elf.little_endian else "big"
        ext_raw = elf.section_data(".BTF.ext")
        self.has_ext = ext_raw is not None
        self.ext: ExtInfo | None = None
        if ext_raw is not None:
            try:
                self.ext = parse_ext(ext_raw, self.btf.strings)
            except BTFError as exc:
                raise exc.with_source(f"{source}:.BTF.ext" if source else ".BTF.ext")
        self.relocations: "Sequence[CoreRecord]" = self.ext.core_relos if self.ext else ()
        self._programs = self._find_programs(elf)
        self._spec_table: "SpecTable | None" = None
        self._starts: dict[str, list[int]] = {}

    @staticmethod
    def _find_programs(elf: ElfFile) -> dict[str, list[Program]]:
        by_section: dict[str, list[Program]] = {}
        names: dict[int, str] = {}
        for sym in elf.functions():
            sec = names.get(sym.section)
            if sec is None:
                sec = names[sym.section] = elf.section_name(sym.section)
            by_section.setdefault(sec, []).append(Program(sym.name, sec, sym.value, sym.size))
        for progs in by_section.values():
            progs.sort(key=lambda p: p.offset)
        return by_section

    @property
    def spec_table(self) -> "SpecTable":
        """The relocations' distinct local specs (``core.resolve.local_spec_table``),
        parsed once: they do not depend on the kernel.  Raises
        ``CoreSpecError`` for records libbpf would refuse."""
        if self._spec_table is None:
            from btfembed.core.resolve import local_spec_table
            self._spec_table = local_spec_table(self.btf, self.relocations)
        return self._spec_table

    @property
    def specs(self) -> "list[Spec]":
        """Every relocation's local spec (records repeating one share it)."""
        table = self.spec_table
        return [table.specs[g] for g in table.which]

    def program_at(self, section: str, insn_off: int) -> str:
        """Name of the function holding the instruction at ``insn_off`` bytes
        into ``section`` (the section name if no symbol covers it)."""
        progs = self._programs.get(section, [])
        starts = self._starts.get(section)
        if starts is None:
            starts = self._starts[section] = [p.offset for p in progs]
        k = bisect.bisect_right(starts, insn_off) - 1
        if k >= 0 and insn_off < progs[k].offset + max(progs[k].size, 1):
            return progs[k].name
        return section

    def programs(self) -> list[Program]:
        return [p for progs in self._programs.values() for p in progs]


def load_object(path: str, data: bytes | None = None) -> BpfObject:
    """Open the BPF object (ELF, either byte order) at ``path``, or parse
    ``data`` naming it ``path``: its BTF, CO-RE relocation records
    (``.BTF.ext``) and programs."""
    if data is None:
        data = read_bytes(path)
    return BpfObject(data, source=path)
