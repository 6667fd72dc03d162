"""Writing raw BTF: the ``Builder``.

Types are appended in order and get consecutive ids from 1; names are
interned into a deduplicating string table in first-use order (as libbpf's
``btf__add_*`` functions do).  ``to_bytes()`` is deterministic: the same
calls give the same bytes.

``Builder.from_btf(btf)`` re-encodes an existing BTF, keeping its string
table byte for byte: reading then writing gives back the input.
"""

from __future__ import annotations

import struct
from array import array
from typing import Any, Callable, Iterable, Sequence

from btfembed.btf import wire
from btfembed.btf.reader import BTF, HOST_ORDER
from btfembed.btf.strings import StringTableBuilder
from btfembed.btf.types import (
    Array, Composite, Enum, EnumValue, FuncProto, Int, Member, Param, Type,
    encode_words, make_info,
)
from btfembed.btf.wire import ARRAY, ENUM, ENUM64, FUNC_PROTO, INT, STRUCT, UNION

__all__ = ["Builder", "encode_header", "roundtrip"]


def encode_header(order: str, hdr_len: int, type_len: int, str_len: int, *,
                  version: int = wire.VERSION, flags: int = 0, layout_len: int = 0,
                  extra: bytes = b"") -> bytes:
    """A BTF header for [header][types][layout][strings], the order libbpf
    writes (seen in a 7.1 kernel's BTF)."""
    fmt = "<" if order == "little" else ">"
    str_off = type_len + layout_len
    head = struct.pack(fmt + "HBBIIIII", wire.MAGIC, version, flags, hdr_len, 0, type_len, str_off, str_len)
    if hdr_len >= wire.HEADER_LEN_LAYOUT:
        head += struct.pack(fmt + "II", type_len if layout_len else 0, layout_len)
    head += extra
    if len(head) != hdr_len:
        raise ValueError(f"header length {hdr_len} does not fit its fields ({len(head)} bytes)")
    return head


class Builder:
    """Accumulates types and produces raw BTF bytes.

    ``add(t, type_id=...)`` appends a decoded ``Type`` (its referenced ids are
    passed through ``type_id``), returning the new id.  The ``add_*``
    helpers build types from plain values, mirroring libbpf's API; they are
    handy for tests and synthetic BTF.
    """

    def __init__(self, *, strings: StringTableBuilder | None = None):
        self.strings = strings if strings is not None else StringTableBuilder()
        self._words = array("I")
        self._count = 0
        self._keep_offsets = False

    @classmethod
    def from_btf(cls, btf: BTF) -> "Builder":
        """A builder holding every type of ``btf`` (not of its base), with
        the original string table and name offsets."""
        if btf.base is not None:
            raise ValueError("re-encoding split BTF is not supported")
        b = cls(strings=StringTableBuilder(btf.strings.data))
        b._keep_offsets = True
        for _tid, t in btf.types():
            b.add(t)
        return b

    @property
    def type_cnt(self) -> int:
        """Next id to be assigned (libbpf's btf__type_cnt)."""
        return self._count + 1

    def _name_off(self, name: str, old_off: int) -> int:
        if self._keep_offsets:
            return old_off
        return self.strings.add(name) if name else 0

    def add(self, t: Type, type_id: Callable[[int], int] = int) -> int:
        self._words.extend(encode_words(t, self._name_off, type_id))
        self._count += 1
        return self._count

    def add_words(self, words: Iterable[int]) -> int:
        """Append one already-encoded record."""
        self._words.extend(words)
        self._count += 1
        return self._count

    # -- libbpf-style helpers ----------------------------------------------

    def add_int(self, name: str, size: int, encoding: int = 0, bits: int | None = None, offset: int = 0) -> int:
        bits = size * 8 if bits is None else bits
        data = (encoding << wire.INT_ENCODING_SHIFT) | (offset << wire.INT_OFFSET_SHIFT) | bits
        return self.add(Int(INT, name, make_info(INT), size, data=data))

    def add_ref(self, kind: int, target: int, name: str = "", kflag: int = 0, vlen: int = 0) -> int:
        """PTR, TYPEDEF, CONST, VOLATILE, RESTRICT, TYPE_TAG, FUNC (vlen =
        linkage), FWD (target 0, kflag = union)."""
        return self.add(Type(kind, name, make_info(kind, vlen, kflag), target))

    def add_float(self, name: str, size: int) -> int:
        return self.add(Type(wire.FLOAT, name, make_info(wire.FLOAT), size))

    def add_array(self, elem: int, index: int, nelems: int) -> int:
        return self.add(Array(ARRAY, "", make_info(ARRAY), 0, elem_type=elem, index_type=index, nelems=nelems))

    def add_composite(self, kind: int, name: str, size: int, members: Sequence[tuple[Any, ...]], kflag: int | None = None) -> int:
        """``members``: (name, type, bit_offset[, bitfield_size]) tuples.
        kind_flag is set when a member is a bitfield (or forced)."""
        ms = [Member(m[0], m[1], m[2], m[3] if len(m) > 3 else 0) for m in members]
        if kflag is None:
            kflag = int(any(m.bitfield_size for m in ms))
        return self.add(Composite(kind, name, make_info(kind, len(ms), kflag), size, members=ms))

    def add_struct(self, name: str, size: int, members: Sequence[tuple[Any, ...]], kflag: int | None = None) -> int:
        return self.add_composite(STRUCT, name, size, members, kflag)

    def add_union(self, name: str, size: int, members: Sequence[tuple[Any, ...]], kflag: int | None = None) -> int:
        return self.add_composite(UNION, name, size, members, kflag)

    def add_enum(self, name: str, size: int, values: Sequence[tuple[str, int]], signed: bool = False,
                 enum64: bool = False) -> int:
        kind = ENUM64 if enum64 else ENUM
        mask = (1 << (64 if enum64 else 32)) - 1
        vs = [EnumValue(n, v & mask) for n, v in values]
        return self.add(Enum(kind, name, make_info(kind, len(vs), int(signed)), size, values=vs))

    def add_func_proto(self, ret: int, params: Sequence[tuple[str, int]]) -> int:
        ps = [Param(n, t) for n, t in params]
        return self.add(FuncProto(FUNC_PROTO, "", make_info(FUNC_PROTO, len(ps)), ret, params=ps))

    # -- output --------------------------------------------------------------

    def to_bytes(self, *, byte_order: str = "little", hdr_len: int = wire.HEADER_LEN,
                 layout: bool | bytes = False, version: int = wire.VERSION, flags: int = 0,
                 header_extra: bytes = b"") -> bytes:
        """Raw BTF: header, types, the layout section when ``layout`` is
        given (True: describe the 20 known kinds; bytes: write
        these entries; it needs ``hdr_len`` >= 32), then strings."""
        if byte_order not in ("little", "big"):
            raise ValueError(f"byte order must be 'little' or 'big', not {byte_order!r}")
        # Any length the reader accepts: libbpf does not require a multiple
        # of 4, and ``roundtrip`` must reproduce such input.
        if hdr_len < wire.HEADER_LEN:
            raise ValueError(f"header length must be at least {wire.HEADER_LEN}")
        if layout and hdr_len < wire.HEADER_LEN_LAYOUT:
            raise ValueError("a layout section needs a header of at least 32 bytes")
        words = array("I", self._words)
        if byte_order != HOST_ORDER:
            words.byteswap()
        types = words.tobytes()
        strs = self.strings.to_bytes()
        lay = layout if isinstance(layout, bytes) else b""
        if layout is True:
            fmt = "<" if byte_order == "little" else ">"
            lay = b"".join(struct.pack(fmt + "BBH", *wire.layout_entry_bytes(k), 0) if k in wire.KIND_WORDS
                           else struct.pack(fmt + "BBH", 0, 0, 0) for k in range(wire.KNOWN_KINDS))
        known = wire.HEADER_LEN_LAYOUT if hdr_len >= wire.HEADER_LEN_LAYOUT else wire.HEADER_LEN
        extra = header_extra or bytes(hdr_len - known)
        head = encode_header(byte_order, hdr_len, len(types), len(strs), version=version, flags=flags,
                             layout_len=len(lay), extra=extra)
        return head + types + lay + strs


def roundtrip(btf: BTF) -> bytes:
    """Re-encode ``btf`` from its decoded types, keeping its header fields,
    string table and layout section.  For well-formed input in canonical
    section order this equals ``btf.raw``."""
    h = btf.header
    lay = b""
    if h.layout_len:
        start = h.hdr_len + h.layout_off
        lay = btf.raw[start:start + h.layout_len]
    return Builder.from_btf(btf).to_bytes(byte_order=h.byte_order, hdr_len=h.hdr_len, layout=lay,
                                          version=h.version, flags=h.flags, header_extra=h.extra)
