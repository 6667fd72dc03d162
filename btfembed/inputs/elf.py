"""Narrow ELF access: sections by name, symbols, machine.

Only the ELF header, the section header table, the section names and the
few sections asked for are read (with ``struct``, no third-party parser:
objects such as Tracee's have hundreds of sections and tens of thousands
of symbols, and a general parser spends more time on them than the whole
minimization).  Both classes (32/64-bit) and byte orders are read;
``SHF_COMPRESSED`` sections (zlib, and zstd when ``zstandard`` is
installed) are decompressed.  Every inconsistency (truncated tables,
offsets past the end, names outside the string table) is an
``ELFFormatError``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from btfembed.errors import ELFFormatError

__all__ = ["ElfFile", "Symbol", "is_elf", "EM_BPF"]

ELF_MAGIC = b"\x7fELF"
EM_BPF = 247

_SHT_NOBITS = 8
_SHF_COMPRESSED = 0x800
_SHN_LORESERVE = 0xFF00
_SHN_XINDEX = 0xFFFF
_ELFCOMPRESS_ZLIB, _ELFCOMPRESS_ZSTD = 1, 2
_STT = {0: "STT_NOTYPE", 1: "STT_OBJECT", 2: "STT_FUNC", 3: "STT_SECTION", 4: "STT_FILE", 5: "STT_COMMON",
        6: "STT_TLS"}
_STB = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK"}


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


class Symbol(NamedTuple):
    name: str
    section: int       # section index (0 if undefined/special)
    value: int
    size: int
    kind: str          # STT_FUNC, STT_OBJECT, ...
    bind: str          # STB_GLOBAL, STB_LOCAL, STB_WEAK


class _Section(NamedTuple):
    name_off: int
    type: int
    flags: int
    offset: int
    size: int
    link: int


class ElfFile:
    """An ELF file held in memory.

    Accessible attributes: ``machine`` (e_machine number), ``little_endian``,
    ``is_bpf``, ``source``.
    """

    def __init__(self, data: bytes, source: str | None = None):
        self.source = source
        if not is_elf(data):
            raise ELFFormatError("not an ELF file", offset=0, source=source)
        self._data = data
        if len(data) < 16:
            self._bad("truncated ELF identification", 0)
        elfclass, encoding = data[4], data[5]
        if elfclass not in (1, 2):
            self._bad(f"unknown ELF class {elfclass}", 4)
        if encoding not in (1, 2):
            self._bad(f"unknown ELF data encoding {encoding}", 5)
        self.little_endian = encoding == 1
        e = "<" if self.little_endian else ">"
        self._e = e
        self._is64 = elfclass == 2
        if self._is64:
            fmt, shdr_fmt = e + "HHIQQQIHHHHHH", e + "IIQQQQIIQQ"
        else:
            fmt, shdr_fmt = e + "HHIIIIIHHHHHH", e + "IIIIIIIIII"
        if len(data) < 16 + struct.calcsize(fmt):
            self._bad("truncated ELF header", 16)
        (_type, machine, _version, _entry, _phoff, shoff, _flags, _ehsize, _phentsize, _phnum,
         shentsize, shnum, shstrndx) = struct.unpack_from(fmt, data, 16)
        self.machine: int = machine
        self._sections: list[_Section] = []
        self._names: dict[str, int] = {}
        self._index_names: list[str] = []
        if shoff == 0:
            return
        entry = struct.calcsize(shdr_fmt)
        if shentsize < entry:
            self._bad(f"section header size {shentsize} is below {entry}", 16)
        first = self._header(shoff, 0, shentsize, shdr_fmt)
        if shnum == 0:
            shnum = first[5]  # extended numbering: the count is in section 0's sh_size
        if shstrndx == _SHN_XINDEX:
            shstrndx = first[6]
        if shoff > len(data) or shnum > (len(data) - shoff) // shentsize:
            self._bad(f"section header table ({shnum} entries at offset {shoff}) runs past the end of the file",
                      shoff)
        for i in range(shnum):
            h = self._header(shoff, i, shentsize, shdr_fmt)
            # name, type, flags, addr, offset, size, link, info, addralign, entsize
            self._sections.append(_Section(h[0], h[1], h[2], h[4], h[5], h[6]))
        if not shnum:
            return
        if shstrndx >= shnum:
            self._bad(f"section name table index {shstrndx} is out of range ({shnum} sections)", 16)
        names = self._raw(shstrndx, ".shstrtab")
        for i, sec in enumerate(self._sections):
            if sec.name_off >= len(names) and (sec.name_off or names):
                self._bad(f"section [{i}] name offset {sec.name_off} is past the end of the section name table",
                          shoff + i * shentsize)
            end = names.find(b"\0", sec.name_off)
            name = names[sec.name_off:end if end >= 0 else len(names)].decode("utf-8", "replace")
            self._index_names.append(name)
            self._names.setdefault(name, i)

    # -- low level -------------------------------------------------------------

    def _bad(self, what: str, offset: int | None = None) -> None:
        raise ELFFormatError(f"malformed ELF file: {what}", offset=offset, source=self.source)

    def _header(self, shoff: int, i: int, shentsize: int, fmt: str) -> tuple[int, ...]:
        pos = shoff + i * shentsize
        if pos + struct.calcsize(fmt) > len(self._data):
            self._bad(f"section header [{i}] runs past the end of the file", pos)
        return struct.unpack_from(fmt, self._data, pos)

    def _raw(self, index: int, name: str) -> bytes:
        """The bytes of section ``index`` as stored (not decompressed)."""
        sec = self._sections[index]
        if sec.type == _SHT_NOBITS:
            return b""
        if sec.offset > len(self._data) or sec.size > len(self._data) - sec.offset:
            raise ELFFormatError(f"cannot read section {name}: offset {sec.offset} size {sec.size} is past the end "
                                 f"of the file ({len(self._data)} bytes)", source=self.source)
        return self._data[sec.offset:sec.offset + sec.size]

    # -- sections ----------------------------------------------------------------

    @property
    def is_bpf(self) -> bool:
        return self.machine == EM_BPF

    def section_names(self) -> list[str]:
        return list(self._names)

    def section_name(self, index: int) -> str:
        if not 0 <= index < len(self._index_names):
            raise ELFFormatError(f"bad section index {index}: the file has {len(self._index_names)} sections",
                                 source=self.source)
        return self._index_names[index]

    def section_data(self, name: str, limit: int | None = None) -> bytes | None:
        """Contents of the first section called ``name`` (decompressed if
        SHF_COMPRESSED), or None if there is none.  A section larger than
        ``limit`` bytes (default: ``sources.MAX_INPUT_BYTES``) once
        decompressed is refused before it is decompressed."""
        index = self._names.get(name)
        if index is None:
            return None
        if limit is None:
            from btfembed.inputs.containers import MAX_INPUT_BYTES
            limit = MAX_INPUT_BYTES
        sec = self._sections[index]
        if sec.type == _SHT_NOBITS:
            return b""
        if not sec.flags & _SHF_COMPRESSED:
            if sec.size > limit:
                raise ELFFormatError(f"section {name} is larger than the {limit}-byte limit ({sec.size} bytes)",
                                     source=self.source)
            return bytes(self._raw(index, name))
        raw = self._raw(index, name)
        chdr = self._e + ("IIQQ" if self._is64 else "III")
        if len(raw) < struct.calcsize(chdr):
            raise ELFFormatError(f"cannot read section {name}: truncated compression header", source=self.source)
        ch_type, *rest = struct.unpack_from(chdr, raw, 0)
        size = rest[1] if self._is64 else rest[0]
        if size > limit:
            raise ELFFormatError(f"section {name} is larger than the {limit}-byte limit ({size} bytes)",
                                 source=self.source)
        body = raw[struct.calcsize(chdr):]
        try:
            if ch_type == _ELFCOMPRESS_ZLIB:
                import zlib
                d = zlib.decompressobj()
                out = d.decompress(body, size + 1)
            elif ch_type == _ELFCOMPRESS_ZSTD:
                try:
                    import zstandard
                except ImportError:
                    raise ELFFormatError(f"cannot read section {name}: zstd-compressed, and the zstandard module "
                                         "is not installed", source=self.source) from None
                out = zstandard.ZstdDecompressor().decompress(body, max_output_size=size + 1)
            else:
                raise ELFFormatError(f"cannot read section {name}: unknown compression type {ch_type}",
                                     source=self.source)
        except ELFFormatError:
            raise
        except Exception as exc:
            raise ELFFormatError(f"cannot read section {name}: {_describe(exc)}", source=self.source) from None
        if len(out) != size:
            raise ELFFormatError(f"cannot read section {name}: decompressed to {len(out)} bytes, its header says "
                                 f"{size}", source=self.source)
        return out

    # -- symbols -----------------------------------------------------------------

    def _symbol_table(self) -> tuple[bytes, bytes] | None:
        index = self._names.get(".symtab")
        if index is None:
            return None
        data = self._raw(index, ".symtab")
        link = self._sections[index].link
        if link >= len(self._sections):
            raise ELFFormatError(f"cannot read the symbol table: string table index {link} is out of range",
                                 source=self.source)
        strtab = self._raw(link, ".strtab") if link else b""
        return data, strtab

    def symbols(self) -> list[Symbol]:
        """Entries of ``.symtab`` (empty if there is none)."""
        return self._symbols(None)

    def functions(self) -> list[Symbol]:
        """The STT_FUNC entries of ``.symtab`` defined in a section."""
        return self._symbols(2)

    def _symbols(self, only_kind: int | None) -> list[Symbol]:
        table = self._symbol_table()
        if table is None:
            return []
        data, strtab = table
        if self._is64:
            fmt, size = self._e + "IBBHQQ", 24
        else:
            fmt, size = self._e + "IIIBBH", 16
        if len(data) % size:
            raise ELFFormatError(f"cannot read the symbol table: size {len(data)} is not a multiple of {size}",
                                 source=self.source)
        out = []
        for fields in struct.iter_unpack(fmt, data):
            if self._is64:
                name_off, info, _other, shndx, value, sym_size = fields
            else:
                name_off, value, sym_size, info, _other, shndx = fields
            kind = info & 0xF
            if only_kind is not None and (kind != only_kind or not 0 < shndx < _SHN_LORESERVE):
                continue
            if name_off >= len(strtab) and name_off:
                raise ELFFormatError(f"cannot read the symbol table: name offset {name_off} is past the end of "
                                     "the string table", source=self.source)
            end = strtab.find(b"\0", name_off)
            name = strtab[name_off:end if end >= 0 else len(strtab)].decode("utf-8", "replace")
            out.append(Symbol(name, shndx if shndx < _SHN_LORESERVE else 0, value, sym_size,
                              _STT.get(kind, f"STT_{kind}"), _STB.get(info >> 4, f"STB_{info >> 4}")))
        return out


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and text[0] else exc.__class__.__name__
