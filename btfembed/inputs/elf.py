"""Narrow ELF access through pyelftools: sections by name, symbols, machine.

pyelftools is imported on first use (it is the slowest import of the
package) and every exception it raises on damaged input becomes an
``ELFFormatError``.
"""

from __future__ import annotations

import io
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
        """Entries of ``.symtab`` (empty if there is none)."""
        index = self._names.get(".symtab")
        if index is None:
            return []
        try:
            symtab = self._elf.get_section(index)
            out = []
            for sym in symtab.iter_symbols():
                shndx = sym["st_shndx"]
                out.append(Symbol(sym.name, shndx if isinstance(shndx, int) else 0, sym["st_value"],
                                  sym["st_size"], sym["st_info"]["type"], sym["st_info"]["bind"]))
            return out
        except Exception as exc:
            raise ELFFormatError(f"cannot read the symbol table: {_describe(exc)}", source=self.source) from None


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and text[0] else exc.__class__.__name__


_MACHINES = {"EM_BPF": EM_BPF, "EM_X86_64": 62, "EM_AARCH64": 183, "EM_386": 3, "EM_ARM": 40,
             "EM_S390": 22, "EM_PPC64": 21, "EM_RISCV": 243}
