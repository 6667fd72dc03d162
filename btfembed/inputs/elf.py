"""Narrow ELF access through pyelftools: sections by name, symbols, machine.

pyelftools is imported on first use (it is the slowest import of the
package) and every exception it raises on damaged input becomes an
``ELFFormatError``.
"""

from __future__ import annotations

import io
import struct
from typing import NamedTuple

from btfembed.errors import ELFFormatError

__all__ = ["ElfFile", "Symbol", "is_elf", "EM_BPF"]

ELF_MAGIC = b"\x7fELF"
EM_BPF = 247


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


class Symbol(NamedTuple):
    name: str
    section: int       # section index (0 if undefined/special)
    value: int
    size: int
    kind: str          # STT_FUNC, STT_OBJECT, ...
    bind: str          # STB_GLOBAL, STB_LOCAL, STB_WEAK


class ElfFile:
    """An ELF file held in memory.

    Accessible attributes: ``machine`` (e_machine number), ``little_endian``,
    ``is_bpf``, ``source``.
    """

    def __init__(self, data: bytes, source: str | None = None):
        self.source = source
        if not is_elf(data):
            raise ELFFormatError("not an ELF file", offset=0, source=source)
        try:
            from elftools.elf.elffile import ELFFile
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ELFFormatError(f"pyelftools is required to read ELF files ({exc})", source=source) from None
        try:
            self._elf = ELFFile(io.BytesIO(data))
            header = self._elf.header
            machine = header["e_machine"]
            self.machine = machine if isinstance(machine, int) else _MACHINES.get(machine, -1)
            self.little_endian = bool(self._elf.little_endian)
            self._names = {}
            for index in range(self._elf.num_sections()):
                sec = self._elf.get_section(index)
                self._names.setdefault(sec.name, index)
        except ELFFormatError:
            raise
        except Exception as exc:  # pyelftools raises many types on bad input
            raise ELFFormatError(f"malformed ELF file: {_describe(exc)}", source=source) from None

    @property
    def is_bpf(self) -> bool:
        return self.machine == EM_BPF

    def section_names(self) -> list[str]:
        return list(self._names)

    def section_name(self, index: int) -> str:
        try:
            return self._elf.get_section(index).name
        except Exception as exc:
            raise ELFFormatError(f"bad section index {index}: {_describe(exc)}", source=self.source) from None

    def section_data(self, name: str, limit: int | None = None) -> bytes | None:
        """Contents of the first section called ``name`` (decompressed if
        SHF_COMPRESSED), or None if there is none.  A section larger than
        ``limit`` bytes (default: ``sources.MAX_INPUT_BYTES``) once
        decompressed is refused before it is decompressed."""
        index = self._names.get(name)
        if index is None:
            return None
        if limit is None:
            from btfembed.inputs.containers import MAX_INPUT_BYTES as limit
        try:
            sec = self._elf.get_section(index)
            if sec["sh_type"] == "SHT_NOBITS":
                return b""
            size = getattr(sec, "data_size", sec["sh_size"])
        except Exception as exc:
            raise ELFFormatError(f"cannot read section {name}: {_describe(exc)}", source=self.source) from None
        if size > limit:
            raise ELFFormatError(f"section {name} is larger than the {limit}-byte limit ({size} bytes)",
                                 source=self.source)
        try:
            return bytes(sec.data())
        except Exception as exc:
            raise ELFFormatError(f"cannot read section {name}: {_describe(exc)}", source=self.source) from None

    def symbols(self) -> list[Symbol]:
        """Entries of ``.symtab`` (empty if there is none), read straight
        from the section (pyelftools' per-symbol parsing costs seconds on
        objects with tens of thousands of symbols)."""
        index = self._names.get(".symtab")
        if index is None:
            return []
        try:
            symtab = self._elf.get_section(index)
            data = bytes(symtab.data())
            link = symtab["sh_link"]
            strtab = bytes(self._elf.get_section(link).data()) if link else b""
        except Exception as exc:
            raise ELFFormatError(f"cannot read the symbol table: {_describe(exc)}", source=self.source) from None
        order = "<" if self.little_endian else ">"
        if self._elf.elfclass == 64:
            fmt, size = order + "IBBHQQ", 24
        else:
            fmt, size = order + "IIIBBH", 16
        if len(data) % size:
            raise ELFFormatError(f"cannot read the symbol table: size {len(data)} is not a multiple of {size}",
                                 source=self.source)
        out = []
        names: dict[int, str] = {}
        for fields in struct.iter_unpack(fmt, data):
            if size == 24:
                name_off, info, _other, shndx, value, sym_size = fields
            else:
                name_off, value, sym_size, info, _other, shndx = fields
            name = names.get(name_off)
            if name is None:
                if name_off >= len(strtab) and name_off:
                    raise ELFFormatError(f"cannot read the symbol table: name offset {name_off} is past the end "
                                         "of the string table", source=self.source)
                end = strtab.find(b"\0", name_off)
                name = names[name_off] = strtab[name_off:end if end >= 0 else len(strtab)].decode(
                    "utf-8", "replace")
            out.append(Symbol(name, shndx if shndx < _SHN_LORESERVE else 0, value, sym_size,
                              _STT.get(info & 0xF, f"STT_{info & 0xF}"), _STB.get(info >> 4, f"STB_{info >> 4}")))
        return out


_SHN_LORESERVE = 0xFF00
_STT = {0: "STT_NOTYPE", 1: "STT_OBJECT", 2: "STT_FUNC", 3: "STT_SECTION", 4: "STT_FILE", 5: "STT_COMMON",
        6: "STT_TLS"}
_STB = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK"}


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and text[0] else exc.__class__.__name__


_MACHINES = {"EM_BPF": EM_BPF, "EM_X86_64": 62, "EM_AARCH64": 183, "EM_386": 3, "EM_ARM": 40,
             "EM_S390": 22, "EM_PPC64": 21, "EM_RISCV": 243}
