"""Raw BTF parsing: the ``BTF`` class.

Opening a BTF does the minimum: it checks the header and section bounds,
views the type section as an array of u32 words (byte-swapped once if the
data is not in host order), and walks the records once to build the
id -> word-offset index.  Everything else is lazy: a name index is built on
the first lookup by name, and types are decoded one at a time on
``type(id)`` and memoised.  ``validate()`` checks every record eagerly.

Split BTF (kernel modules) is opened with ``base=``: ids continue after the
base's last id and string offsets after the base's string section, and
lookups of lower ids and offsets go to the base.
"""

from __future__ import annotations

import itertools
import operator
import struct
import sys
from array import array
from typing import Any, Iterator, Literal, NamedTuple, Sequence

from btfembed.btf import wire
from btfembed.errors import BTFFormatError, TypeIdError, UnsupportedKindError
from btfembed.btf.strings import StringTable, essential_len
from btfembed.btf.types import (
    VOID, Array, Composite, Datasec, DeclTag, Enum, EnumValue, FuncProto, Int,
    Member, Param, Type, Unknown, Var, VarSecinfo, type_refs,
)
from btfembed.btf.wire import (
    ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO,
    INT, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE,
)

__all__ = ["BTF", "Header", "parse_header", "declared_size", "HOST_ORDER"]

HOST_ORDER = sys.byteorder  # "little" or "big"
ByteOrder = Literal["little", "big"]
_MAX_CHAIN = 4096  # longest modifier/typedef chain followed before calling it a cycle
_MAX_RESOLVE_DEPTH = 32  # libbpf's MAX_RESOLVE_DEPTH for size resolution
_CHECK_RECORDS = 8192  # records compared at a time by the sanity check

_BTF_VERSION = 1

# -- the sanity check's word roles ----------------------------------------
# Each word of a type record is a name offset (checked against the string
# sections), a type id (checked against type_cnt) or anything else.
_OTHER, _NAME, _TYPE = 0, 1, 2
_REF_KINDS = frozenset({PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, DECL_TAG, TYPE_TAG, FUNC_PROTO})
_EXTRA_ROLES = {ARRAY: (_TYPE, _TYPE, _OTHER)}   # the words after the 3-word header
_ITEM_ROLES = {STRUCT: (_NAME, _TYPE, _OTHER), UNION: (_NAME, _TYPE, _OTHER), ENUM: (_NAME, _OTHER),
               ENUM64: (_NAME, _OTHER, _OTHER), FUNC_PROTO: (_NAME, _TYPE), DATASEC: (_TYPE, _OTHER, _OTHER)}
_LANE_BIT30, _LANE_LOW31 = 1 << 30, (1 << 31) - 1


class _UnknownKind(Exception):
    pass


class _Steps(dict[int, int]):
    """info word -> record length in words (computed once per distinct
    info); ``patterns`` gives the record's word roles."""

    def __init__(self, fixed: list[int | None], per: list[int]):
        super().__init__()
        self.fixed, self.per = fixed, per
        self.patterns = _Patterns(self)

    def lanes(self, str_end: int, type_cnt: int, order: ByteOrder) -> "_Lanes":
        return _Lanes(self.patterns, str_end, type_cnt, order)

    def __missing__(self, info: int) -> int:
        top = info >> 24
        f = self.fixed[top]
        if f is None:
            raise _UnknownKind
        n = self[info] = f + self.per[top] * (info & wire.VLEN_MASK)
        return n


class _Patterns(dict[int, bytes]):
    def __init__(self, steps: _Steps):
        super().__init__()
        self.steps = steps

    def __missing__(self, info: int) -> bytes:
        kind = (info >> wire.KIND_SHIFT) & wire.KIND_MASK
        length = self.steps[info]
        head = bytes((_NAME, _OTHER, _TYPE if kind in _REF_KINDS else _OTHER))
        extra = bytes(_EXTRA_ROLES.get(kind, ()))
        item = bytes(_ITEM_ROLES.get(kind, ()))
        if item:
            pat = head + extra + item * (info & wire.VLEN_MASK)
        else:
            pat = head + extra
        if len(pat) != length:  # layout-described kinds: words of unknown meaning
            pat = (head + bytes(length))[:length]
        self[info] = pat
        return pat


class _Lanes(dict[int, bytes]):
    """info word -> the record's sanity-check lanes (4 bytes per word)."""

    def __init__(self, patterns: "_Patterns", str_end: int, type_cnt: int, order: ByteOrder):
        super().__init__()
        self.patterns = patterns
        self.by_role = (bytes(4), ((1 << 31) - str_end).to_bytes(4, order), ((1 << 31) - type_cnt).to_bytes(4, order))

    def __missing__(self, info: int) -> bytes:
        by_role = self.by_role
        lanes = self[info] = b"".join([by_role[r] for r in self.patterns[info]])
        return lanes


def _addend_bytes(str_end: int, type_cnt: int, order: ByteOrder) -> list[tuple[int, int]]:
    """Per byte of a 32-bit lane (in memory order): that byte of
    ``2**31 - limit`` for name lanes and for type lanes."""
    k_name = ((1 << 31) - min(str_end, 1 << 31)).to_bytes(4, order)
    k_type = ((1 << 31) - min(type_cnt, 1 << 31)).to_bytes(4, order)
    return list(zip(k_name, k_type))


def _role_table(k_name: int, k_type: int) -> bytes:
    table = bytearray(256)
    table[_NAME], table[_TYPE] = k_name, k_type
    return bytes(table)


class Header(NamedTuple):
    byte_order: str        # "little" or "big"
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    layout_off: int = 0
    layout_len: int = 0
    extra: bytes = b""     # header bytes past the fields this version knows


def parse_header(data: bytes | memoryview) -> Header:
    """Decode and bounds-check a raw BTF header (libbpf's rules, plus the
    2026 layout fields)."""
    n = len(data)
    if n < wire.HEADER_LEN:
        raise BTFFormatError(f"truncated BTF header: {n} bytes, need at least {wire.HEADER_LEN}", offset=0)
    b0, b1 = data[0], data[1]
    if (b0, b1) == (0x9F, 0xEB):
        order = "little"
        fmt = "<"
    elif (b0, b1) == (0xEB, 0x9F):
        order = "big"
        fmt = ">"
    else:
        raise BTFFormatError(f"bad BTF magic 0x{b0:02x}{b1:02x} (expected 0xeb9f in either byte order)", offset=0)
    version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(fmt + "BBIIIII", data, 2)
    if version != _BTF_VERSION:
        raise BTFFormatError(f"unsupported BTF version {version} (expected {_BTF_VERSION})", offset=2)
    if flags:
        raise BTFFormatError(f"unsupported BTF header flags 0x{flags:02x}", offset=3)
    if hdr_len < wire.HEADER_LEN:
        raise BTFFormatError(f"BTF header length {hdr_len} is below the minimum {wire.HEADER_LEN}", offset=4)
    if hdr_len > n:
        raise BTFFormatError(f"BTF header length {hdr_len} is past the end of the data ({n} bytes)", offset=4)
    layout_off = layout_len = 0
    extra = b""
    if hdr_len >= wire.HEADER_LEN_LAYOUT:
        layout_off, layout_len = struct.unpack_from(fmt + "II", data, 24)
        extra = bytes(data[wire.HEADER_LEN_LAYOUT:hdr_len])
    else:
        extra = bytes(data[wire.HEADER_LEN:hdr_len])
    meta = n - hdr_len
    if str_off + str_len > meta:
        raise BTFFormatError(
            f"string section ({str_off}+{str_len}) is past the end of the data ({meta} bytes after the header)", offset=16)
    if type_off + type_len > str_off:
        raise BTFFormatError(
            f"type section ({type_off}+{type_len}) overlaps the string section at {str_off}", offset=8)
    if type_off % 4:
        raise BTFFormatError(f"type section offset {type_off} is not 4-byte aligned", offset=8)
    if type_len % 4:
        raise BTFFormatError(f"type section length {type_len} is not a multiple of 4", offset=12)
    if layout_len:
        if layout_off + layout_len > meta:
            raise BTFFormatError(
                f"layout section ({layout_off}+{layout_len}) is past the end of the data", offset=24)
        if layout_len % 4:
            raise BTFFormatError(f"layout section length {layout_len} is not a multiple of 4", offset=28)
        for start, length, what in ((type_off, type_len, "type"), (str_off, str_len, "string")):
            if length and layout_off < start + length and start < layout_off + layout_len:
                raise BTFFormatError(f"layout section overlaps the {what} section", offset=24)
    return Header(order, version, flags, hdr_len, type_off, type_len, str_off, str_len, layout_off, layout_len, extra)


def declared_size(head: bytes | memoryview) -> int | None:
    """Bytes the BTF starting with ``head`` (at least its header) declares:
    header plus the furthest section end.  None when ``head`` is not a BTF
    header.  Only the header is read, so this sizes data before it is
    loaded."""
    if len(head) < wire.HEADER_LEN or (head[0], head[1]) not in ((0x9F, 0xEB), (0xEB, 0x9F)):
        return None
    fmt = "<" if head[0] == 0x9F else ">"
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(fmt + "IIIII", head, 4)
    end = max(type_off + type_len, str_off + str_len)
    if hdr_len >= wire.HEADER_LEN_LAYOUT and len(head) >= wire.HEADER_LEN_LAYOUT:
        layout_off, layout_len = struct.unpack_from(fmt + "II", head, 24)
        end = max(end, layout_off + layout_len)
    return int(hdr_len + end)


def _words_of(buf: memoryview, order: str) -> "memoryview | array[int]":
    """The buffer as host-order u32 words (zero-copy when possible)."""
    if order == HOST_ORDER:
        try:
            return buf.cast("B").cast("I")
        except TypeError:
            pass
    words = array("I")
    words.frombytes(buf)
    if order != HOST_ORDER:
        words.byteswap()
    return words


class BTF:
    """One raw BTF blob (a kernel's, a module's on top of its base, or an
    object's ``.BTF`` section).

    Accessible attributes: ``header``, ``byte_order``, ``base``, ``start_id``
    (first id defined here), ``type_cnt`` (last id + 1, as libbpf counts),
    ``strings`` (a ``StringTable``), ``layout`` (kind -> (info bytes, elem
    bytes) from the layout section, empty without one), ``source`` (a label
    for messages), ``raw`` (the bytes).
    """

    def __init__(self, data: bytes, *, base: "BTF | None" = None, source: str | None = None,
                 prefetch: Sequence[str] = (), offsets: "array[int] | None" = None, checked: bool = False,
                 name_index: "tuple[array[int], array[int]] | None" = None):
        """``prefetch``: essential names to look up while indexing (see
        ``prefetch_essential_names``), which costs less than a later pass.
        ``offsets``: the type index of this very data as ``type_offsets()``
        returned it (e.g. kept in a verified store), so the type section
        is not walked again.  ``checked`` (with ``offsets``): this data and
        index already passed this version's checks (the kernel store keeps
        only such data, verified by digest and keyed by version), so the
        sanity check is not run again; ``name_index`` (with ``checked``)
        is what ``name_index()`` returned for it, which makes name lookups
        C-speed passes."""
        self.source = source
        self._name_idx = name_index if checked and offsets is not None else None
        self._all_odd: "list[int] | None" = None
        try:
            self._init(data, base, prefetch, offsets, checked)
        except BTFFormatError as exc:
            raise exc.with_source(source) if source else exc

    def _init(self, data: bytes, base: "BTF | None", prefetch: Sequence[str], offsets: "array[int] | None",
              checked: bool = False) -> None:
        if isinstance(data, memoryview):
            data = data.tobytes()
        self.raw = data
        self.base = base
        hdr = self.header = parse_header(data)
        self.byte_order = hdr.byte_order
        view = memoryview(data)
        start = hdr.hdr_len
        strs = bytes(view[start + hdr.str_off:start + hdr.str_off + hdr.str_len])
        if base is None:
            if not strs or strs[0] != 0:
                raise BTFFormatError("string section must start with an empty string", offset=start + hdr.str_off)
        if strs and strs[-1] != 0:
            raise BTFFormatError("string section is not NUL-terminated", offset=start + hdr.str_off + hdr.str_len - 1)
        if base is not None and base.byte_order != hdr.byte_order:
            raise BTFFormatError("split BTF and its base have different byte orders")
        self.strings: StringTable = StringTable(strs, base.strings if base is not None else None)
        self.layout: dict[int, tuple[int, int]] = {}
        if hdr.layout_len:
            lay = view[start + hdr.layout_off:start + hdr.layout_off + hdr.layout_len]
            fmt = "<" if hdr.byte_order == "little" else ">"
            for kind, (info_sz, elem_sz, _flags) in enumerate(struct.iter_unpack(fmt + "BBH", lay)):
                self.layout[kind] = (info_sz, elem_sz)
        self.start_id: int = base.type_cnt if base is not None else 1
        self._type_start = start + hdr.type_off
        self._words = _words_of(view[self._type_start:self._type_start + hdr.type_len], hdr.byte_order)
        self._cache: dict[int, Type] = {}
        self._names: tuple[array[int], dict[int, int], dict[int, int]] | None = None
        self._midstring: dict[str, list[int]] | None = None
        self._essential_memo: dict[str, tuple[int, ...]] = {}  # essential name -> ids defined here
        names = sorted({n for n in prefetch if n})
        if offsets is not None:
            if len(offsets) and offsets[-1] >= len(self._words):
                raise BTFFormatError("type index does not fit the type section")
            self._offs = offsets if isinstance(offsets, array) and offsets.typecode == "I" else array("I", offsets)
            self.type_cnt: int = self.start_id + len(self._offs)
            if not checked:
                steps = self._steps()
                words = self._words
                infos = array("I", map(words.__getitem__, map((1).__add__, self._offs)))
                try:
                    lengths = list(map(steps.__getitem__, infos))
                except _UnknownKind:
                    raise BTFFormatError("type index does not fit the type section") from None
                starts = list(itertools.accumulate(lengths, initial=0))
                if starts.pop() != len(words) or starts != self._offs.tolist():
                    raise BTFFormatError("type index does not fit the type section")
                self._check_records(infos, steps)
            if names:
                self.prefetch_essential_names(names)
        elif names:
            found = self.strings.essential_offsets_many(names)
            by_offset = {off: n for n, offs in found.items() for off in offs}
            self._offs, hits, odd = self._scan(by_offset)
            self.type_cnt = self.start_id + len(self._offs)
            self._all_odd = odd  # the walk found every mid-string name
            self._store_prefetch(names, hits, odd, by_offset)
        else:
            self._offs = self._scan()[0]
            self.type_cnt = self.start_id + len(self._offs)

    # -- indexing --------------------------------------------------------

    def _size_tables(self) -> tuple[list[Any], list[Any]]:
        """Per top byte of ``info`` (kind and kind_flag): record words before
        the vlen items, and words per vlen item.  ``None`` for kinds that
        cannot be sized (that makes the scan loop raise TypeError)."""
        fixed: list[Any] = [None] * 256
        per: list[Any] = [None] * 256
        for kind in range(wire.MAX_KIND + 1):
            if kind in wire.KIND_WORDS:
                f, p = wire.KIND_WORDS[kind]
                lay = self.layout.get(kind)
                if lay is not None and lay != (f * 4, p * 4):
                    raise BTFFormatError(
                        f"layout section gives kind {wire.KIND_NAMES[kind]} sizes {lay}, expected {(f * 4, p * 4)}")
            elif kind in self.layout:
                info_sz, elem_sz = self.layout[kind]
                if info_sz % 4 or elem_sz % 4:
                    raise UnsupportedKindError(
                        f"layout section sizes kind {kind} in bytes not a multiple of 4 ({info_sz}, {elem_sz})")
                f, p = info_sz // 4, elem_sz // 4
            else:
                continue
            fixed[kind] = fixed[kind | 0x80] = 3 + f
            per[kind] = per[kind | 0x80] = p
        return fixed, per

    def _steps(self) -> "_Steps":
        return _Steps(*self._size_tables())

    def _scan(self, by_offset: dict[int, str] | None = None) -> tuple[array[int], list[int], list[int]]:
        """Walk the records: their word offsets; with ``by_offset`` (name
        offset -> essential name), also the positions of types with those
        names, and of types whose name starts mid-string.  Then the sanity
        check (``_check_records``) over what the walk collected."""
        words = self._words
        n = len(words)
        steps = self._steps()
        offs = array("I")  # 4 bytes per type instead of a Python int object
        append = offs.append
        infos = array("I")
        info_append = infos.append
        hits: list[int] = []
        odd: list[int] = []
        i = 0
        try:
            if by_offset:
                get = by_offset.get
                table = self.strings
                data, lo = table.data, table.start
                hi = lo + len(data)
                while i < n:
                    append(i)
                    x = words[i]
                    if x and (get(x) is not None or (lo < x < hi and data[x - lo - 1])):
                        (hits if get(x) is not None else odd).append(len(offs) - 1)
                    info = words[i + 1]
                    info_append(info)
                    i += steps[info]
            while i < n:
                append(i)
                info = words[i + 1]
                info_append(info)
                i += steps[info]
        except _UnknownKind:
            i = offs[-1]
            kind = (words[i + 1] >> wire.KIND_SHIFT) & wire.KIND_MASK
            raise UnsupportedKindError(
                f"type [{self.start_id + len(offs) - 1}] has unknown kind {kind} and no layout section describes it",
                offset=self._type_start + 4 * i) from None
        except IndexError:
            # The last record's header runs past the end of the section.
            pass
        if i != n:
            bad = offs[-1]
            raise BTFFormatError(
                f"type [{self.start_id + len(offs) - 1}] runs past the end of the type section",
                offset=self._type_start + 4 * bad)
        self._check_records(infos, steps)
        return offs, hits, odd

    def _check_records(self, infos: array[int], steps: "_Steps") -> None:
        """libbpf's sanity check (``btf_sanity_check``) over the whole type
        section at once: every name offset (of types, members, enum values,
        parameters) inside the string sections, every referenced type id
        (and array index type, member, parameter, DATASEC variable) below
        ``type_cnt``.  (That a FUNC points to a FUNC_PROTO is checked when
        the FUNC is decoded, and by ``validate``.)

        The per-word roles come from one pattern per distinct ``info``; the
        comparisons run on the whole section as one big integer of 32-bit
        lanes, so the cost is a few C-level passes, not a Python loop.  On a
        failure, ``_first_bad_record`` finds the type to name."""
        words = self._words
        if not len(words):
            return
        str_end = self.strings.start + len(self.strings.data)
        type_cnt = self.start_id + len(infos)
        if max(str_end, type_cnt) > 1 << 30:  # pragma: no cover - beyond the input size cap
            self._first_bad_record(infos, steps, str_end, type_cnt)
            return
        order = HOST_ORDER
        # One 32-bit lane per word: 2**31 - limit for checked words (name
        # offsets, type ids), 0 for others.  Limits are at most 2**30, so
        # bit 30 marks the checked lanes.
        lanes = steps.lanes(str_end, type_cnt, order)
        raw = memoryview(words).cast("B")
        # Lanes never carry into each other (a checked lane's sum stays below
        # 2**32), so the section is compared a group of records at a time:
        # memory stays small instead of several big integers of the
        # section's size.
        bit30, low31 = _LANE_BIT30.to_bytes(4, order), _LANE_LOW31.to_bytes(4, order)
        pos = 0
        for first in range(0, len(infos), _CHECK_RECORDS):
            addends = b"".join(map(lanes.__getitem__, infos[first:first + _CHECK_RECORDS]))
            end = pos + len(addends)
            count = len(addends) // 4
            addend = int.from_bytes(addends, order)
            high = (addend & int.from_bytes(bit30 * count, order)) << 1
            value = int.from_bytes(raw[pos:end], order)
            if value & high or ((value & int.from_bytes(low31 * count, order)) + addend) & high:
                self._first_bad_record(infos, steps, str_end, type_cnt)
            pos = end

    def _first_bad_record(self, infos: array[int], steps: "_Steps", str_end: int, type_cnt: int) -> None:
        words, first = self._words, self.start_id
        i = 0
        for k, info in enumerate(infos):
            for j, role in enumerate(steps.patterns[info]):
                x = words[i + j]
                if role == _NAME and x >= str_end:
                    what = "name" if j == 0 else "member, value or parameter name"
                    raise BTFFormatError(f"type [{first + k}]: {what} offset {x} is past the string section "
                                         f"({str_end} bytes)", offset=self._type_start + 4 * (i + j))
                if role == _TYPE and x >= type_cnt:
                    raise TypeIdError(f"type [{first + k}] refers to missing type id {x} "
                                      f"(the last type id is {type_cnt - 1})", offset=self._type_start + 4 * (i + j))
            i += steps[info]
        raise AssertionError("sanity check failed on no record")  # pragma: no cover

    def __len__(self) -> int:
        return self.type_cnt

    def type_offsets(self) -> array[int]:
        """The type index: word offset of every type record in the type
        section (see ``offsets`` of the constructor)."""
        return self._offs

    def ids(self) -> range:
        """Ids of the types defined in this BTF (not its base)."""
        return range(self.start_id, self.type_cnt)

    def _check_id(self, tid: int) -> None:
        if not 0 <= tid < self.type_cnt:
            raise TypeIdError(f"reference to type id {tid}, but the last type id is {self.type_cnt - 1}",
                              source=self.source)

    def kind(self, tid: int) -> int:
        """Kind of type ``tid`` without decoding it."""
        if tid == 0:
            return 0
        if tid < self.start_id:
            self._check_id(tid)
            return self.base.kind(tid)  # type: ignore[union-attr]
        self._check_id(tid)
        return int(self._words[self._offs[tid - self.start_id] + 1] >> wire.KIND_SHIFT) & wire.KIND_MASK

    def name_off(self, tid: int) -> int:
        if tid == 0:
            return 0
        if tid < self.start_id:
            self._check_id(tid)
            return self.base.name_off(tid)  # type: ignore[union-attr]
        self._check_id(tid)
        return int(self._words[self._offs[tid - self.start_id]])

    def name(self, tid: int) -> str:
        """Name of type ``tid`` ("" if anonymous) without decoding it."""
        off = self.name_off(tid)
        return self.strings.get(off) if off else ""

    def record_words(self, tid: int) -> tuple[int, int]:
        """(first word index, word count) of type ``tid``'s record here."""
        k = tid - self.start_id
        first = self._offs[k]
        last = self._offs[k + 1] if k + 1 < len(self._offs) else len(self._words)
        return first, last - first

    # -- decoding --------------------------------------------------------

    def type(self, tid: int) -> Type:
        """Decoded type ``tid`` (id 0 is VOID)."""
        t = self._cache.get(tid)
        if t is not None:
            return t
        if tid == 0:
            return VOID
        if tid < self.start_id:
            self._check_id(tid)
            return self.base.type(tid)  # type: ignore[union-attr]
        self._check_id(tid)
        try:
            t = self._decode(tid)
        except BTFFormatError as exc:
            if exc.offset is None:
                exc.offset = self._type_start + 4 * self._offs[tid - self.start_id]
            exc.message = f"type [{tid}]: {exc.message}"
            raise exc.with_source(self.source) if self.source else exc
        self._cache[tid] = t
        return t

    def _decode(self, tid: int) -> Type:
        w = self._words
        i = self._offs[tid - self.start_id]
        name_off, info, st = w[i], w[i + 1], w[i + 2]
        kind = (info >> wire.KIND_SHIFT) & wire.KIND_MASK
        vlen = info & wire.VLEN_MASK
        get = self.strings.get
        name = get(name_off) if name_off else ""
        j = i + 3
        if kind == STRUCT or kind == UNION:
            if info >> 31:
                members = [Member(get(w[k]) if w[k] else "", w[k + 1], w[k + 2] & 0xFFFFFF, w[k + 2] >> 24, w[k])
                           for k in range(j, j + 3 * vlen, 3)]
            else:
                members = [Member(get(w[k]) if w[k] else "", w[k + 1], w[k + 2], 0, w[k])
                           for k in range(j, j + 3 * vlen, 3)]
            return Composite(kind, name, info, st, name_off, members)
        if kind == INT:
            return Int(kind, name, info, st, name_off, w[j])
        if kind == ENUM:
            return Enum(kind, name, info, st, name_off,
                        [EnumValue(get(w[k]) if w[k] else "", w[k + 1], w[k]) for k in range(j, j + 2 * vlen, 2)])
        if kind == ENUM64:
            return Enum(kind, name, info, st, name_off,
                        [EnumValue(get(w[k]) if w[k] else "", w[k + 1] | (w[k + 2] << 32), w[k])
                         for k in range(j, j + 3 * vlen, 3)])
        if kind == ARRAY:
            return Array(kind, name, info, st, name_off, w[j], w[j + 1], w[j + 2])
        if kind == FUNC_PROTO:
            return FuncProto(kind, name, info, st, name_off,
                             [Param(get(w[k]) if w[k] else "", w[k + 1], w[k]) for k in range(j, j + 2 * vlen, 2)])
        if kind == VAR:
            return Var(kind, name, info, st, name_off, w[j])
        if kind == DATASEC:
            return Datasec(kind, name, info, st, name_off,
                           [VarSecinfo(w[k], w[k + 1], w[k + 2]) for k in range(j, j + 3 * vlen, 3)])
        if kind == DECL_TAG:
            c = w[j]
            return DeclTag(kind, name, info, st, name_off, c - (1 << 32) if c >> 31 else c)
        if kind in wire.KIND_WORDS:
            return Type(kind, name, info, st, name_off)
        first, count = self.record_words(tid)
        return Unknown(kind, name, info, st, name_off, tuple(w[first + 3:first + count]))

    def types(self) -> Iterator[tuple[int, Type]]:
        """(id, type) for every type defined here, in id order."""
        for tid in self.ids():
            yield tid, self.type(tid)

    # -- name lookups ----------------------------------------------------

    def _name_index(self) -> tuple[array[int], dict[int, int], dict[int, int]]:
        """(name_off of every type here, name_off -> lowest id, name_off ->
        highest id).  Ids sharing a name offset are found between the two
        by a C-speed scan at lookup time, which stays cheap even for BTF
        that was never deduplicated."""
        if self._names is None:
            name_offs = array("I", map(self._words.__getitem__, self._offs))
            first = self.start_id
            ids = range(first, first + len(name_offs))
            highest = dict(zip(name_offs, ids))
            lowest = dict(zip(reversed(name_offs), reversed(ids)))
            highest.pop(0, None)
            self._names = (name_offs, lowest, highest)
        return self._names

    def _midstring_names(self) -> dict[str, list[int]]:
        """Types whose name offset points into the middle of a longer string
        (legal, though no known producer writes it): name -> name offsets."""
        if self._midstring is None:
            table = self.strings
            data, start = table.data, table.start
            odd: dict[str, list[int]] = {}
            # Offsets past the table are invalid names (an error when that
            # type is decoded), not lookup results.
            end = start + len(data)
            for off in [o for o in self._name_index()[2] if start < o < end and data[o - start - 1]]:
                odd.setdefault(table.get(off), []).append(off)
            self._midstring = odd
        return self._midstring

    def _ids_for_offsets(self, offsets: list[int]) -> list[int]:
        name_offs, lowest, highest = self._name_index()
        first = self.start_id
        out: list[int] = []
        for off in offsets:
            high = highest.get(off)
            if high is None:
                continue
            low = lowest[off]
            k = low - first
            end = high - first
            while k < end:
                out.append(first + k)
                k = name_offs.index(off, k + 1, end + 1)
            out.append(high)
        return out

    def find_by_name(self, name: str, *, include_base: bool = False) -> list[int]:
        """Ids of types named exactly ``name``, ascending."""
        if not name:
            return []
        offsets = self.strings.offsets_of(name)
        offsets += self._midstring_names().get(name, ())
        ids = self._ids_for_offsets(offsets)
        if include_base and self.base is not None:
            ids += self.base.find_by_name(name, include_base=True)
        return sorted(set(ids))

    def find_by_essential_name(self, essential: str, *, include_base: bool = False) -> list[int]:
        """Ids of types whose essential name (name without ``___flavor``) is
        ``essential``, ascending: the CO-RE candidate search by name."""
        if not essential:
            return []
        if essential not in self._essential_memo:
            self.prefetch_essential_names([essential])
        ids = list(self._essential_memo[essential])
        if include_base and self.base is not None:
            ids = sorted(set(ids) | set(self.base.find_by_essential_name(essential, include_base=True)))
        return ids

    def prefetch_essential_names(self, names: Sequence[str]) -> None:
        """Answer ``find_by_essential_name`` for all ``names`` at once (one
        pass over the strings, one over the types), for the types defined
        here.  Later lookups of these names are then free."""
        todo = sorted({n for n in names if n and n not in self._essential_memo})
        if not todo:
            return
        found = self.strings.essential_offsets_many(todo)
        by_offset = {off: n for n, offs in found.items() for off in offs}
        if self._name_idx is not None:
            name_offs, odd_positions = self._name_idx
            hits = list(itertools.compress(itertools.count(), map(by_offset.__contains__, name_offs)))
            self._store_prefetch(todo, hits, odd_positions, by_offset)
            return
        table = self.strings
        data, start = table.data, table.start
        end = start + len(data)
        words = self._words
        get = by_offset.get
        hits, odd = [], []
        for k, off in enumerate(self._offs):
            x = words[off]
            if get(x) is not None:
                hits.append(k)
            elif start < x < end and data[x - start - 1]:
                odd.append(k)  # a name starting mid-string
        self._store_prefetch(todo, hits, odd, by_offset)

    def name_index(self) -> "tuple[array[int], array[int]] | None":
        """(name offset of every type here, positions of the types whose name
        starts mid-string), computed by C-speed passes, for a store to keep
        beside the type index; ``None`` for split BTF."""
        if self.strings.start != 0:
            return None
        words = self._words
        name_offs = array("I", map(words.__getitem__, self._offs))
        if self._all_odd is not None:
            return name_offs, array("I", self._all_odd)
        parts = self.strings.data.split(b"\0")
        starts = set(itertools.accumulate(map(operator.add, map(len, parts), itertools.repeat(1)), initial=0))
        odd = array("I", itertools.compress(itertools.count(), map(operator.not_, map(starts.__contains__, name_offs))))
        return name_offs, odd

    def _store_prefetch(self, names: Sequence[str], hits: Sequence[int], odd: Sequence[int],
                        by_offset: dict[int, str]) -> None:
        """Memoize lookups of ``names``: ``hits`` are positions (id - start_id)
        of types whose name offset is in ``by_offset`` (name offset ->
        essential name), ``odd`` of types whose name starts mid-string
        (checked by content)."""
        words, offs, first = self._words, self._offs, self.start_id
        result: dict[str, list[int]] = {n: [] for n in names}
        for k in hits:
            result[by_offset[words[offs[k]]]].append(first + k)
        for k in odd:
            ess = self.strings.get(words[offs[k]])
            ess = ess[:essential_len(ess)]
            if ess in result:
                result[ess].append(first + k)
        for n in names:
            self._essential_memo[n] = tuple(sorted(result[n]))

    # -- type graph helpers ----------------------------------------------

    def skip_mods_and_typedefs(self, tid: int) -> int:
        """Follow CONST/VOLATILE/RESTRICT/TYPE_TAG/TYPEDEF to the first other type."""
        for _ in range(_MAX_CHAIN):
            if self.kind(tid) not in wire.MODIFIER_OR_TYPEDEF_KINDS:
                return tid
            tid = self.type(tid).size_type
        raise TypeIdError(f"type [{tid}]: modifier/typedef chain longer than {_MAX_CHAIN} (reference cycle?)",
                          source=self.source)

    def skip_mods(self, tid: int) -> int:
        """Follow CONST/VOLATILE/RESTRICT/TYPE_TAG only."""
        for _ in range(_MAX_CHAIN):
            if self.kind(tid) not in wire.MODIFIER_KINDS:
                return tid
            tid = self.type(tid).size_type
        raise TypeIdError(f"type [{tid}]: modifier chain longer than {_MAX_CHAIN} (reference cycle?)",
                          source=self.source)

    def pointer_size(self) -> int:
        """Pointer size as libbpf guesses it: the size of the first (lowest
        id) INT of size 4 or 8 named like ``long``; 0 when there is none
        (callers then assume the host's)."""
        ptr = getattr(self, "_ptr_size", None)
        if ptr is None:
            ptr = self.base.pointer_size() if self.base is not None else 0
            if not ptr:
                words, offs = self._words, self._offs
                for k, off in enumerate(offs):
                    info = words[off + 1]
                    if (info >> wire.KIND_SHIFT) & wire.KIND_MASK == INT and words[off + 2] in (4, 8):
                        if words[off] and self.strings.get(words[off]) in _LONG_ALIASES:
                            ptr = words[off + 2]
                            break
            self._ptr_size = ptr
        return ptr

    def resolve_size(self, tid: int) -> int:
        """Byte size of type ``tid`` (libbpf ``btf__resolve_size``).

        A chain deeper than libbpf's limit is a ``BTFFormatError`` (libbpf's
        -E2BIG); a reference cycle is a ``TypeIdError``."""
        nelems = 1
        seen: set[int] = set()
        for _ in range(_MAX_RESOLVE_DEPTH):
            if tid in seen:
                raise TypeIdError(f"type [{tid}]: reference cycle", source=self.source)
            seen.add(tid)
            t = self.type(tid)
            kind = t.kind
            if kind in (INT, ENUM, ENUM64, STRUCT, UNION, DATASEC, FLOAT):
                size = t.size
                break
            if kind == PTR:
                size = self.pointer_size() or 8
                break
            if kind in (TYPEDEF, VOLATILE, CONST, RESTRICT, VAR, DECL_TAG, TYPE_TAG):
                tid = t.size_type
                continue
            if isinstance(t, Array):
                if t.nelems and nelems > 0xFFFFFFFF // t.nelems:
                    raise BTFFormatError(f"type [{tid}]: array size overflows")
                nelems *= t.nelems
                tid = t.elem_type
                continue
            raise BTFFormatError(f"type [{tid}]: cannot compute the size of a {t.kind_name}")
        else:
            raise BTFFormatError(f"type [{tid}]: size resolution deeper than {_MAX_RESOLVE_DEPTH} levels")
        if nelems and size > 0xFFFFFFFF // nelems:
            raise BTFFormatError(f"type [{tid}]: size overflows")
        return nelems * size

    # -- eager validation --------------------------------------------------

    def validate(self) -> None:
        """Decode every type and check every string offset and type reference
        (libbpf's sanity check).  Raises ``BTFFormatError`` on the first problem."""
        cnt = self.type_cnt
        for tid in self.ids():
            t = self.type(tid)
            where = self._type_start + 4 * self._offs[tid - self.start_id]
            for ref in type_refs(t):
                if ref >= cnt:
                    raise TypeIdError(f"type [{tid}] {t.kind_name} refers to missing type id {ref}",
                                      offset=where, source=self.source)
            if t.kind == FUNC and self.kind(t.type) != FUNC_PROTO:
                raise BTFFormatError(f"type [{tid}] FUNC does not point to a FUNC_PROTO",
                                     offset=where, source=self.source)

    def __repr__(self) -> str:
        return f"<BTF {self.source or ''} {self.byte_order}-endian types {self.start_id}..{self.type_cnt - 1}>"


_LONG_ALIASES = frozenset((
    "long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
    "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long", "int long unsigned",
))
