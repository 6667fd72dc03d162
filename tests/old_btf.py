"""A BTF parser that knows only the kinds an old loader knows (tests only).

It walks the type section the way libbpf's ``btf_parse_type_sec`` does:
each record's size comes from a per-kind table (``btf_type_size``), and a
kind missing from the table fails the whole BTF with libbpf's message
("Unsupported BTF_KIND:19").  The tables are those of libbpf's releases
(``src/btf.c`` at v0.3, v0.4.0, v0.6.0, v1.0.0).  It is stricter than
libbpf in one way, as a kernel older than 6.0 is: ``kind_flag`` on an ENUM
(signedness, new in 1.0) is refused below 1.0.  It also checks that every
type reference and string offset is in range.
"""

from __future__ import annotations

import struct

__all__ = ["OldBTFError", "parse", "LEVELS"]

# kind -> (fixed extra bytes, bytes per vlen item)
_V03 = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0), 8: (0, 0), 9: (0, 0),
        10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0), 15: (0, 12)}
_V04 = {**_V03, 16: (0, 0)}
_V06 = {**_V04, 17: (4, 0), 18: (0, 0)}
_V10 = {**_V06, 19: (0, 12)}
LEVELS = {"libbpf-0.3": _V03, "libbpf-0.4": _V04, "libbpf-0.6": _V06, "libbpf": _V10}
_REF_KINDS = {2, 8, 9, 10, 11, 12, 13, 14, 17, 18}   # third word is a type id


class OldBTFError(Exception):
    pass


def parse(data: bytes, level: str) -> list[tuple[int, str, int]]:
    """(kind, name, vlen) of every type, or OldBTFError."""
    table = LEVELS[level]
    if len(data) < 24:
        raise OldBTFError("short header")
    magic = struct.unpack_from("<H", data)[0]
    end = "<" if magic == 0xEB9F else ">"
    if struct.unpack_from(end + "H", data)[0] != 0xEB9F:
        raise OldBTFError("bad magic")
    _m, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(end + "HBBIIIII", data)
    if version != 1:
        raise OldBTFError(f"unsupported version {version}")
    base = hdr_len
    types = data[base + type_off:base + type_off + type_len]
    strings = data[base + str_off:base + str_off + str_len]
    if len(types) != type_len or len(strings) != str_len or (str_len and strings[-1:] != b"\0"):
        raise OldBTFError("sections out of bounds")

    def name(off: int) -> str:
        if off >= str_len:
            raise OldBTFError(f"string offset {off} out of range")
        return strings[off:strings.index(b"\0", off)].decode()

    out: list[tuple[int, str, int]] = []
    refs: list[int] = []
    pos = 0
    while pos < type_len:
        if pos + 12 > type_len:
            raise OldBTFError("truncated type")
        name_off, info, size_type = struct.unpack_from(end + "III", types, pos)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        if kind not in table:
            raise OldBTFError(f"Unsupported BTF_KIND:{kind}")
        if kind == 6 and kflag and level != "libbpf":
            raise OldBTFError("kind_flag on an ENUM (signed enums are libbpf >= 1.0)")
        fixed, per = table[kind]
        rec = 12 + fixed + per * vlen
        if pos + rec > type_len:
            raise OldBTFError("truncated type")
        if kind in _REF_KINDS:
            refs.append(size_type)
        if kind in (4, 5):
            for i in range(vlen):
                m_name, m_type, _off = struct.unpack_from(end + "III", types, pos + 12 + 12 * i)
                name(m_name)
                refs.append(m_type)
        elif kind == 13:
            for i in range(vlen):
                p_name, p_type = struct.unpack_from(end + "II", types, pos + 12 + 8 * i)
                name(p_name)
                refs.append(p_type)
        elif kind == 3:
            refs += struct.unpack_from(end + "II", types, pos + 12)
        elif kind in (6, 19):
            for i in range(vlen):
                name(struct.unpack_from(end + "I", types, pos + 12 + per * i)[0])
        out.append((kind, name(name_off), vlen))
        pos += rec
    if any(r > len(out) for r in refs):
        raise OldBTFError("type reference out of range")
    return out
