"""Raw BTF parsing: the ``BTF`` class.

Opening a BTF does the minimum: it checks the header and section bounds,
views the type section as an array of u32 words (byte-swapped once if the
data is not in host order), walks the records once to build the
id -> word-offset index, and runs libbpf's sanity check over the whole type
section (name offsets and referenced type ids, compared a group of records
at a time by C-level integer operations).  Everything else is lazy: a name
index is built on the first lookup by name, and types are decoded one at a
time on ``type(id)`` and memoised.  ``validate()`` decodes every record
eagerly.

Split BTF (kernel modules) is opened with ``base=``: ids continue after the
base's last id and string offsets after the base's string section, and
lookups of lower ids and offsets go to the base.
"""

from __future__ import annotations

import bisect
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
_CHECK_WORDS = 1 << 15  # type-section words compared at a time by the sanity check

_BTF_VERSION = 1

# -- the sanity check's word roles ----------------------------------------
# Each word of a type record is a name offset (checked against the string
# sections), a type id (checked against type_cnt) or anything else.
_OTHER, _NAME, _TYPE = 0, 1, 2
_REF_KINDS = frozenset({PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, DECL_TAG, TYPE_TAG, FUNC_PROTO})
_EXTRA_ROLES = {ARRAY: (_TYPE, _TYPE, _OTHER)}   # the words after the 3-word header
_ITEM_ROLES = {STRUCT: (_NAME, _TYPE, _OTHER), UNION: (_NAME, _TYPE, _OTHER), ENUM: (_NAME, _OTHER),
               ENUM64: (_NAME, _OTHER, _OTHER), FUNC_PROTO: (_NAME, _TYPE), DATASEC: (_TYPE, _OTHER, _OTHER)}


class _UnknownKind(Exception):
    pass


_Shape = tuple[int, bytes, bytes, int]  # record words; roles of the words before the items, of an item; items
_SHAPES: dict[int, _Shape] = {}  # info -> shape, for BTF without a layout section (a memo of wire rules)


class _Records:
    """What the walk needs per distinct ``info`` word, computed once each:
    ``table`` maps it to (record length in words, the record's lanes).

    The lanes are the sanity check's addends, one 32-bit lane per word of
    the record (``2**32 - limit`` for a name offset or a type id, 0 for
    any other word), in a bytearray shared by every record with that info.
    The walk collects one reference per record; ``fill`` writes the lanes
    once the limits are known (the type count is known only after the
    walk)."""

    def __init__(self, fixed: list[Any], per: list[Any], shared: bool):
        self.fixed, self.per = fixed, per
        self.table: dict[int, tuple[int, bytearray]] = {}
        self.shapes: dict[int, _Shape] = {}
        self._memo = _SHAPES if shared else {}

    def add(self, info: int) -> None:
        shape = self._memo.get(info)
        if shape is None:
            shape = self._shape(info)
            if len(self._memo) >= 1 << 16:
                self._memo.clear()
            self._memo[info] = shape
        self.shapes[info] = shape
        self.table[info] = (shape[0], bytearray(4 * shape[0]))

    def _shape(self, info: int) -> _Shape:
        top = info >> 24
        f = self.fixed[top]
        if f is None:
            raise _UnknownKind
        vlen = info & wire.VLEN_MASK
        length: int = f + self.per[top] * vlen
        kind = top & wire.KIND_MASK
        head = bytes((_NAME, _OTHER, _TYPE if kind in _REF_KINDS else _OTHER)) + bytes(_EXTRA_ROLES.get(kind, ()))
        item = bytes(_ITEM_ROLES.get(kind, ()))
        if len(head) + len(item) * vlen != length:  # e.g. INT's word, layout-described kinds: nothing checked
            head, item, vlen = head[:3] + bytes(length - 3), b"", 0
        return length, head, item, vlen

    def roles(self, info: int) -> bytes:
        """The role of each word of a record with this info."""
        _length, head, item, count = self.shapes[info]
        return head + item * count

    def fill(self, str_end: int, type_cnt: int) -> None:
        by_role = (bytes(4), _addend(str_end), _addend(type_cnt))
        memo: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}
        shapes = self.shapes
        for info, (_length, lanes) in self.table.items():
            _length, head, item, count = shapes[info]
            got = memo.get((head, item))
            if got is None:
                got = memo[head, item] = (b"".join([by_role[r] for r in head]), b"".join([by_role[r] for r in item]))
            lanes[:] = got[0] + got[1] * count if count else got[0]


def _addend(limit: int) -> bytes:
    """The lane added to a checked word: it carries out of its 32 bits
    exactly when the word is >= ``limit`` (a limit past the u32 range
    checks nothing)."""
    return ((1 << 32) - limit).to_bytes(4, HOST_ORDER) if 0 < limit < 1 << 32 else bytes(4)


_LANE_STARTS: list[int] = []  # the int with bit 32*j set for each j <= 2 * _CHECK_WORDS, once built


def _lane_starts(lanes: int) -> int:
    """An int with bit 32*j set for each j < ``lanes`` (or more)."""
    if lanes <= 2 * _CHECK_WORDS + 1:
        if not _LANE_STARTS:
            _LANE_STARTS.append(int.from_bytes(b"\1\0\0\0" * (2 * _CHECK_WORDS + 1), "little"))
        return _LANE_STARTS[0]
    return int.from_bytes(b"\1\0\0\0" * lanes, "little")  # a group ending in a record longer than a group


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
                self._check_index()
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
        cannot be sized (``_Records`` raises ``_UnknownKind`` for them)."""
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

    def _records(self) -> _Records:
        return _Records(*self._size_tables(), shared=not self.layout)

    def _scan(self, by_offset: dict[int, str] | None = None) -> tuple[array[int], list[int], list[int]]:
        """Walk the records: their word offsets; with ``by_offset`` (name
        offset -> essential name), also the positions of types with those
        names, and of types whose name starts mid-string.  Then the sanity
        check (``_check_records``) over the lanes the walk collected."""
        words = self._words
        n = len(words)
        records = self._records()
        table = records.table
        infos = words[1:]  # infos[i] is the info word of a record starting at word i
        offs = array("I")  # 4 bytes per type instead of a Python int object
        append = offs.append
        lanes: list[bytearray] = []
        hits: list[int] = []
        odd: list[int] = []
        i = 0
        strs = self.strings
        data, lo = strs.data, strs.start
        hi = lo + len(data)
        guarded = lo > 0  # split BTF: name offsets below lo are the base's
        flags: bytearray | None = None
        # Each loop ends on an IndexError (the record header past the end of
        # the section; or, in the unguarded loop, a name offset past the
        # strings) or a KeyError (an info not seen yet: its entry is made
        # and the walk goes on).
        while True:
            try:
                if by_offset:
                    if guarded:
                        while True:
                            append(i)
                            step, record_lanes = table[infos[i]]
                            lanes.append(record_lanes)
                            x = words[i]
                            if x and (x in by_offset or (lo < x < hi and data[x - lo - 1])):
                                (hits if x in by_offset else odd).append(len(offs) - 1)
                            i += step
                    # The same with lo == 0, one subscript per record: flags[x] is
                    # data[x - 1] (nonzero when x starts mid-string, 0 for x == 0),
                    # or 1 when x is an offset looked for.
                    if flags is None:
                        flags = bytearray(1)
                        flags += data
                        for x in by_offset:
                            flags[x] = 1
                    while True:
                        append(i)
                        step, record_lanes = table[infos[i]]
                        lanes.append(record_lanes)
                        if flags[words[i]]:
                            x = words[i]
                            (hits if x in by_offset else odd).append(len(offs) - 1)
                        i += step
                while True:
                    append(i)
                    step, record_lanes = table[infos[i]]
                    lanes.append(record_lanes)
                    i += step
            except KeyError:
                try:
                    records.add(infos[i])
                except _UnknownKind:
                    kind = (infos[i] >> wire.KIND_SHIFT) & wire.KIND_MASK
                    raise UnsupportedKindError(
                        f"type [{self.start_id + len(offs) - 1}] has unknown kind {kind} and no layout section "
                        f"describes it", offset=self._type_start + 4 * i) from None
                offs.pop()
            except IndexError:
                if i >= n - 1:
                    break
                # A name offset past the strings (the sanity check names it):
                # this record again, in the guarded loop.
                guarded = True
                offs.pop()
                lanes.pop()
        if i != n - 1:  # not a record whose header runs past the end
            offs.pop()  # i == n: the end; i > n: the last record runs past it
        if i != n:
            raise BTFFormatError(
                f"type [{self.start_id + len(offs) - 1}] runs past the end of the type section",
                offset=self._type_start + 4 * offs[-1])
        self._check_records(offs, lanes, records)
        return offs, hits, odd

    def _check_index(self) -> None:
        """The ``offsets`` given to the constructor: the index of this type
        section, record by record; then the sanity check."""
        words, offs = self._words, self._offs
        records = self._records()
        table = records.table
        unfit = BTFFormatError("type index does not fit the type section")
        try:
            infos = list(map(words.__getitem__, map((1).__add__, offs)))
            for info in set(infos):
                records.add(info)
        except (IndexError, _UnknownKind):
            raise unfit from None
        entries = list(map(table.__getitem__, infos))
        starts = list(itertools.accumulate(map(operator.itemgetter(0), entries), initial=0))
        if starts.pop() != len(words) or starts != offs.tolist():
            raise unfit
        self._check_records(offs, list(map(operator.itemgetter(1), entries)), records)

    def _check_records(self, offs: array[int], lanes: list[bytearray], records: _Records) -> None:
        """libbpf's sanity check (``btf_sanity_check``) over the whole type
        section: every name offset (of types, members, enum values,
        parameters) inside the string sections, every referenced type id
        (and array index type, member, parameter, DATASEC variable) below
        ``type_cnt``.  (That a FUNC points to a FUNC_PROTO is checked when
        the FUNC is decoded, and by ``validate``.)

        ``lanes`` holds each record's addends (``_Records``).  A group of
        records at a time, the words and the addends are read as two
        integers of 32-bit lanes and added: a lane carries into the next
        exactly when its word is at or past its limit, and no lane carries
        otherwise (an unchecked lane adds 0 and gets no carry), so the
        check is one test of the lane-start bits of ``(w + a) ^ w ^ a``:
        a few C-level passes, not a Python loop.  On a failure,
        ``_first_bad_record`` finds the type to name."""
        words = self._words
        n = len(words)
        if not n:
            return
        str_end = self.strings.start + len(self.strings.data)
        type_cnt = self.start_id + len(offs)
        records.fill(str_end, type_cnt)
        raw: "bytes | memoryview"
        if isinstance(words, memoryview):  # a view of the data, in host order
            raw, base = self.raw, self._type_start
        else:
            raw, base = memoryview(words).cast("B"), 0
        order: ByteOrder = "little" if HOST_ORDER == "little" else "big"
        join = b"".join
        count = len(offs)
        k = 0
        while k < count:
            first = offs[k]
            end_k = bisect.bisect_left(offs, first + _CHECK_WORDS, k + 1)
            last = offs[end_k] if end_k < count else n
            addend = int.from_bytes(join(lanes[k:end_k]), order)
            value = int.from_bytes(raw[base + 4 * first:base + 4 * last], order)
            if ((value + addend) ^ value ^ addend) & _lane_starts(last - first + 1):
                self._first_bad_record(offs, k, records, str_end, type_cnt)
            k = end_k

    def _first_bad_record(self, offs: array[int], k: int, records: _Records, str_end: int, type_cnt: int) -> None:
        words, first = self._words, self.start_id
        for k in range(k, len(offs)):
            i = offs[k]
            for j, role in enumerate(records.roles(words[i + 1])):
                x = words[i + j]
                if role == _NAME and x >= str_end:
                    what = "name" if j == 0 else "member, value or parameter name"
                    raise BTFFormatError(f"type [{first + k}]: {what} offset {x} is past the string section "
                                         f"({str_end} bytes)", offset=self._type_start + 4 * (i + j))
                if role == _TYPE and x >= type_cnt:
                    raise TypeIdError(f"type [{first + k}] refers to missing type id {x} "
                                      f"(the last type id is {type_cnt - 1})", offset=self._type_start + 4 * (i + j))
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
        # A name starts mid-string when the byte before it is not a NUL (the
        # table ends with one, so offset 0 reads that last byte: a start).
        before = list(map(operator.sub, name_offs, itertools.repeat(1)))
        data = self.strings.data
        prev = operator.itemgetter(*before)(data) if len(before) > 1 else tuple(data[i] for i in before)
        return name_offs, array("I", itertools.compress(itertools.count(), prev))

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
