"""``.BTF.ext``: func_info, line_info and CO-RE relocation records.

Layout (all offsets relative to the end of the header)::

    u16 magic 0xEB9F  u8 version 1  u8 flags 0  u32 hdr_len
    u32 func_info_off  u32 func_info_len  u32 line_info_off  u32 line_info_len
    u32 core_relo_off  u32 core_relo_len          (present when hdr_len >= 32)

Each subsection is ``u32 record_size`` followed by blocks of
``{u32 sec_name_off; u32 num_info; num_info * record_size bytes}``.  Record
sizes larger than the known ones are accepted (the known prefix is read).
Section names are offsets into the object's ``.BTF`` string table.  The
checks are libbpf's (``btf_ext_parse_hdr``/``btf_ext_setup_info``); either
byte order is accepted.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import Any, Iterator, NamedTuple

from btfembed.errors import BTFFormatError, ExtFormatError
from btfembed.btf.strings import StringTable
from btfembed.core.records import CoreRecord, RecordTable

__all__ = ["ExtInfo", "FuncInfo", "LineInfo", "CoreRecord", "parse_ext"]

_MIN_FUNC, _MIN_LINE, _MIN_CORE = 8, 16, 16


class FuncInfo(NamedTuple):
    section: str
    insn_off: int      # bytes from the start of the ELF section
    type_id: int


class LineInfo(NamedTuple):
    section: str
    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int      # line << 10 | column


class ExtInfo:
    """A parsed ``.BTF.ext``.  Its structure is checked when parsed; the
    func_info and line_info records (which minimizing does not need) are
    decoded on first access."""

    def __init__(self, byte_order: str, func_blocks: list[tuple[str, int, int, int]],
                 line_blocks: list[tuple[str, int, int, int]], core_relos: RecordTable,
                 has_core_section: bool, data: bytes = b""):
        self.byte_order = byte_order
        self.core_relos = core_relos
        self.has_core_section = has_core_section
        self._data = data
        self._func_blocks = func_blocks    # (section, first record offset, count, record size)
        self._line_blocks = line_blocks
        self._func: tuple[FuncInfo, ...] | None = None
        self._line: tuple[LineInfo, ...] | None = None

    def _decode(self, blocks: list[tuple[str, int, int, int]], fmt: str, make: Any) -> tuple[Any, ...]:
        out: list[Any] = []
        data = self._data
        for sec, first, num, rec_size in blocks:
            out.extend(make(sec, *struct.unpack_from(fmt, data, p))
                       for p in range(first, first + num * rec_size, rec_size))
        return tuple(out)

    @property
    def func_info(self) -> tuple[FuncInfo, ...]:
        if self._func is None:
            fmt = ("<" if self.byte_order == "little" else ">") + "II"
            self._func = self._decode(self._func_blocks, fmt, FuncInfo)
        return self._func

    @property
    def line_info(self) -> tuple[LineInfo, ...]:
        if self._line is None:
            fmt = ("<" if self.byte_order == "little" else ">") + "IIII"
            self._line = self._decode(self._line_blocks, fmt, LineInfo)
        return self._line

    def __repr__(self) -> str:
        return f"<ExtInfo {self.byte_order} {len(self.core_relos)} CO-RE records>"


def _block_spans(data: bytes, fmt: str, hdr_len: int, off: int, length: int, min_rec: int,
                 what: str) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (block offset, sec_name_off, first record offset, record count,
    record size) for one subsection."""
    if not length:
        return
    if off % 4:
        raise ExtFormatError(f"{what} subsection is not aligned to 4 bytes", offset=hdr_len + off)
    start = hdr_len + off
    end = start + length
    if end > len(data):
        raise ExtFormatError(f"{what} subsection (offset {off}, length {length}) runs past the end of .BTF.ext",
                             offset=start)
    if length < 4:
        raise ExtFormatError(f"{what} subsection has no record size", offset=start)
    (rec_size,) = struct.unpack_from(fmt + "I", data, start)
    if rec_size < min_rec or rec_size % 4:
        raise ExtFormatError(f"{what} subsection has invalid record size {rec_size}", offset=start)
    pos = start + 4
    if pos == end:
        raise ExtFormatError(f"{what} subsection has no records", offset=start)
    while pos < end:
        if end - pos < 8:
            raise ExtFormatError(f"{what} subsection: truncated section header", offset=pos)
        name_off, num = struct.unpack_from(fmt + "II", data, pos)
        if num == 0:
            raise ExtFormatError(f"{what} subsection has a block with no records", offset=pos)
        total = 8 + num * rec_size
        if total > end - pos:
            raise ExtFormatError(f"{what} subsection: block of {num} records runs past its end", offset=pos)
        yield pos, name_off, pos + 8, num, rec_size
        pos += total


def parse_ext(data: bytes, strings: StringTable) -> ExtInfo:
    """Parse a ``.BTF.ext`` section; ``strings`` is the object's ``.BTF``
    string table."""
    if len(data) < 8:
        raise ExtFormatError(f"truncated .BTF.ext header ({len(data)} bytes)", offset=0)
    if data[:2] == b"\x9f\xeb":
        order, fmt = "little", "<"
    elif data[:2] == b"\xeb\x9f":
        order, fmt = "big", ">"
    else:
        raise ExtFormatError(f"bad .BTF.ext magic 0x{data[0]:02x}{data[1]:02x}", offset=0)
    version, flags, hdr_len = struct.unpack_from(fmt + "BBI", data, 2)
    if version != 1:
        raise ExtFormatError(f"unsupported .BTF.ext version {version}", offset=2)
    if flags:
        raise ExtFormatError(f"unsupported .BTF.ext flags {flags:#x}", offset=3)
    if hdr_len < 24 or hdr_len > len(data):
        raise ExtFormatError(f".BTF.ext header length {hdr_len} is invalid for a {len(data)}-byte section", offset=4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(fmt + "IIII", data, 8)
    core_off = core_len = 0
    has_core = hdr_len >= 32
    if has_core:
        core_off, core_len = struct.unpack_from(fmt + "II", data, 24)

    def name(off: int, where: int) -> str:
        try:
            return strings.get(off)
        except BTFFormatError as exc:
            raise ExtFormatError(f"section name: {exc.message}", offset=where) from None

    funcs = [(name(name_off, pos), first, num, size)
             for pos, name_off, first, num, size in _block_spans(data, fmt, hdr_len, fi_off, fi_len, _MIN_FUNC,
                                                                 "func_info")]
    lines = [(name(name_off, pos), first, num, size)
             for pos, name_off, first, num, size in _block_spans(data, fmt, hdr_len, li_off, li_len, _MIN_LINE,
                                                                 "line_info")]
    relos = RecordTable()
    swap = (order != sys.byteorder)
    for pos, name_off, first, num, rec_size in _block_spans(data, fmt, hdr_len, core_off, core_len, _MIN_CORE,
                                                             "core_relo"):
        sec = name(name_off, pos)
        step = rec_size // 4
        raw = memoryview(data)[first:first + num * rec_size].cast("B")
        columns = []
        for k in range(4):  # insn_off, type_id, access_str_off, kind: copied column by column
            col = array("I")
            col.frombytes(raw.cast("I")[k::step].tobytes() if len(raw) else b"")
            if swap:
                col.byteswap()
            columns.append(col)
        words_insn, words_type, offs, words_kind = columns
        ids: dict[int, int] = {}
        for access_off in dict.fromkeys(offs):
            try:
                access = strings.get(access_off)
            except BTFFormatError as exc:
                i = offs.index(access_off)
                raise ExtFormatError(f"CO-RE record #{i} in {sec!r}: access string: {exc.message}",
                                     offset=first + i * rec_size) from None
            ids[access_off] = relos.access_index(access)
        relos.add_block(sec, words_insn, words_type, array("I", map(ids.__getitem__, offs)), words_kind)
    return ExtInfo(order, funcs, lines, relos, has_core, data if funcs or lines else b"")
