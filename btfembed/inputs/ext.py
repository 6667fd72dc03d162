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
from typing import NamedTuple

from btfembed.errors import BTFFormatError, ExtFormatError
from btfembed.btf.strings import StringTable
from btfembed.core.records import CoreRecord

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


class ExtInfo(NamedTuple):
    byte_order: str
    func_info: tuple[FuncInfo, ...]
    line_info: tuple[LineInfo, ...]
    core_relos: tuple[CoreRecord, ...]
    has_core_section: bool


def _blocks(data: bytes, fmt: str, hdr_len: int, off: int, length: int, min_rec: int, what: str):
    """Yield (block offset, sec_name_off, [(record offset, known record bytes)])
    for one subsection."""
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
        yield pos, name_off, [(p, data[p:p + min_rec]) for p in range(pos + 8, pos + total, rec_size)]
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

    funcs: list[FuncInfo] = []
    for pos, name_off, recs in _blocks(data, fmt, hdr_len, fi_off, fi_len, _MIN_FUNC, "func_info"):
        sec = name(name_off, pos)
        funcs.extend(FuncInfo(sec, *struct.unpack(fmt + "II", r)) for _, r in recs)
    lines: list[LineInfo] = []
    for pos, name_off, recs in _blocks(data, fmt, hdr_len, li_off, li_len, _MIN_LINE, "line_info"):
        sec = name(name_off, pos)
        lines.extend(LineInfo(sec, *struct.unpack(fmt + "IIII", r)) for _, r in recs)
    relos: list[CoreRecord] = []
    for pos, name_off, recs in _blocks(data, fmt, hdr_len, core_off, core_len, _MIN_CORE, "core_relo"):
        sec = name(name_off, pos)
        for i, (where, r) in enumerate(recs):
            insn_off, type_id, access_off, kind = struct.unpack(fmt + "IIII", r)
            try:
                access = strings.get(access_off)
            except BTFFormatError as exc:
                raise ExtFormatError(f"CO-RE record #{i} in {sec!r}: access string: {exc.message}",
                                     offset=where) from None
            relos.append(CoreRecord(sec, i, insn_off, type_id, access, kind))
    return ExtInfo(order, tuple(funcs), tuple(lines), tuple(relos), has_core)
