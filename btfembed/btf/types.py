"""The BTF type model: one small class per family of kinds.

Types refer to each other by **type id** (plain ints), never by object, so a
kernel's 100k+ types need not all exist as Python objects: ``BTF.type(id)``
decodes one record on demand.  A type does not know its own id.

Every field of the wire record is kept (``name_off`` and the whole ``info``
word included), so encoding a decoded type gives back the same bytes.

Vocabulary: a *member* belongs to a STRUCT/UNION, a *value* (enumerator) to an
ENUM/ENUM64, a *param* to a FUNC_PROTO, a *secinfo* to a DATASEC; none of
these is a type.  Bit offsets are always in bits, sizes in bytes.

When a kind is added, update: ``wire.KIND_WORDS``, the decoder in
``btf._decode``, ``encode_words`` and ``type_refs`` below, and
``dump.format_type``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, NamedTuple

from btfembed.btf import wire
from btfembed.btf.wire import (
    ARRAY, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC_PROTO, INT, STRUCT, UNION, VAR,
)

__all__ = [
    "Type", "Int", "Array", "Composite", "Enum", "FuncProto", "Var", "Datasec",
    "DeclTag", "Unknown", "Member", "EnumValue", "Param", "VarSecinfo",
    "VOID", "make_info", "encode_words", "type_refs", "to_plain", "from_plain",
]


def make_info(kind: int, vlen: int = 0, kflag: int = 0) -> int:
    return (kflag << wire.KFLAG_SHIFT) | (kind << wire.KIND_SHIFT) | vlen


class Member(NamedTuple):
    """A STRUCT/UNION member.  ``bitfield_size`` is 0 for regular members."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0
    name_off: int = 0


class EnumValue(NamedTuple):
    """An enumerator; ``raw`` is the unsigned stored value (u32 or u64)."""

    name: str
    raw: int
    name_off: int = 0


class Param(NamedTuple):
    name: str
    type: int
    name_off: int = 0


class VarSecinfo(NamedTuple):
    type: int
    offset: int
    size: int


class Type:
    """A kind without kind-specific data: PTR, FWD, TYPEDEF, VOLATILE, CONST,
    RESTRICT, FUNC, FLOAT, TYPE_TAG (and the VOID pseudo-type, id 0)."""

    __slots__ = ("kind", "name", "name_off", "info", "size_type")

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0):
        self.kind = kind
        self.name = name
        self.name_off = name_off
        self.info = info
        self.size_type = size_type

    @property
    def vlen(self) -> int:
        return self.info & wire.VLEN_MASK

    @property
    def kflag(self) -> int:
        return self.info >> wire.KFLAG_SHIFT

    @property
    def size(self) -> int:
        """Byte size (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT)."""
        return self.size_type

    @property
    def type(self) -> int:
        """Referenced type id (PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO's
        return type, VAR, DECL_TAG, TYPE_TAG)."""
        return self.size_type

    @property
    def kind_name(self) -> str:
        return wire.KIND_NAMES.get(self.kind, "UNKNOWN")

    def _fields(self) -> tuple[object, ...]:
        return ()

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Type)
            and self.kind == other.kind
            and self.name == other.name
            and self.info == other.info
            and self.size_type == other.size_type
            and self._fields() == other._fields()
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.info, self.size_type))

    def __repr__(self) -> str:
        extra = "".join(f", {f!r}" for f in self._fields())
        return f"{type(self).__name__}({self.kind_name}, {self.name!r}, info={self.info:#x}, {self.size_type}{extra})"


class Int(Type):
    __slots__ = ("data",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 data: int = 0) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.data = data

    @property
    def encoding(self) -> int:
        return (self.data >> wire.INT_ENCODING_SHIFT) & 0x0F

    @property
    def bit_offset(self) -> int:
        """Legacy in-int bit offset (always 0 in modern BTF)."""
        return (self.data >> wire.INT_OFFSET_SHIFT) & 0xFF

    @property
    def bits(self) -> int:
        return self.data & 0xFF

    @property
    def signed(self) -> bool:
        return bool(self.encoding & wire.INT_SIGNED)

    def _fields(self) -> tuple[object, ...]:
        return (self.data,)


class Array(Type):
    __slots__ = ("elem_type", "index_type", "nelems")

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 elem_type: int = 0, index_type: int = 0, nelems: int = 0) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.elem_type = elem_type
        self.index_type = index_type
        self.nelems = nelems

    def _fields(self) -> tuple[object, ...]:
        return (self.elem_type, self.index_type, self.nelems)


class Composite(Type):
    """STRUCT or UNION."""

    __slots__ = ("members", "_index")

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 members: Iterable[Member] = ()) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.members: tuple[Member, ...] = tuple(members)
        self._index: tuple[dict[str, int], tuple[int, ...]] | None = None

    def member_index(self) -> tuple[dict[str, int], tuple[int, ...]]:
        """(name -> index of the first member with that name, indices of the
        anonymous members), computed once."""
        if self._index is None:
            by_name: dict[str, int] = {}
            anonymous = []
            for i, m in enumerate(self.members):
                if m.name:
                    by_name.setdefault(m.name, i)
                else:
                    anonymous.append(i)
            self._index = (by_name, tuple(anonymous))
        return self._index

    def _fields(self) -> tuple[object, ...]:
        return (tuple(m[:4] for m in self.members),)


class Enum(Type):
    """ENUM or ENUM64.  kind_flag set means the values are signed."""

    __slots__ = ("values",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 values: Iterable[EnumValue] = ()) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.values: tuple[EnumValue, ...] = tuple(values)

    @property
    def signed(self) -> bool:
        return bool(self.kflag)

    def value(self, i: int) -> int:
        """Value of enumerator ``i`` as C sees it (signed if kind_flag)."""
        raw = self.values[i].raw
        bits = 32 if self.kind == ENUM else 64
        if self.kflag and raw >> (bits - 1):
            return raw - (1 << bits)
        return raw

    def _fields(self) -> tuple[object, ...]:
        return (tuple(v[:2] for v in self.values),)


class FuncProto(Type):
    """FUNC_PROTO: ``type`` is the return type."""

    __slots__ = ("params",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 params: Iterable[Param] = ()) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.params: tuple[Param, ...] = tuple(params)

    def _fields(self) -> tuple[object, ...]:
        return (tuple(p[:2] for p in self.params),)


class Var(Type):
    __slots__ = ("linkage",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 linkage: int = 0) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.linkage = linkage

    def _fields(self) -> tuple[object, ...]:
        return (self.linkage,)


class Datasec(Type):
    __slots__ = ("secinfos",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 secinfos: Iterable[VarSecinfo] = ()) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.secinfos: tuple[VarSecinfo, ...] = tuple(secinfos)

    def _fields(self) -> tuple[object, ...]:
        return (self.secinfos,)


class DeclTag(Type):
    __slots__ = ("component_idx",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 component_idx: int = -1) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.component_idx = component_idx

    def _fields(self) -> tuple[object, ...]:
        return (self.component_idx,)


class Unknown(Type):
    """A kind this version does not know, sized by the BTF's layout section;
    its trailing words are kept opaque."""

    __slots__ = ("extra",)

    def __init__(self, kind: int, name: str, info: int, size_type: int, name_off: int = 0,
                 extra: Iterable[int] = ()) -> None:
        super().__init__(kind, name, info, size_type, name_off)
        self.extra: tuple[int, ...] = tuple(extra)

    def _fields(self) -> tuple[object, ...]:
        return (self.extra,)


VOID = Type(0, "", 0, 0)


def encode_words(t: Type, name_off: Callable[[str, int], int], type_id: Callable[[int], int] = int) -> list[int]:
    """The u32 words of ``t``'s record.

    ``name_off(name, old_off)`` returns the string offset to write for a name;
    ``type_id(old)`` maps every referenced type id (identity by default).
    """
    kind = t.kind
    words = [name_off(t.name, t.name_off), t.info,
             t.size_type if kind in wire.SIZED_KINDS else type_id(t.size_type)]
    if isinstance(t, Int):
        words.append(t.data)
    elif isinstance(t, Composite):
        kflag = t.info >> wire.KFLAG_SHIFT
        for m in t.members:
            off = (m.bitfield_size << wire.MEMBER_BITFIELD_SHIFT) | m.bit_offset if kflag else m.bit_offset
            words += (name_off(m.name, m.name_off), type_id(m.type), off)
    elif isinstance(t, Enum) and kind == ENUM:
        for v in t.values:
            words += (name_off(v.name, v.name_off), v.raw & 0xFFFFFFFF)
    elif isinstance(t, Enum):
        for v in t.values:
            words += (name_off(v.name, v.name_off), v.raw & 0xFFFFFFFF, (v.raw >> 32) & 0xFFFFFFFF)
    elif isinstance(t, Array):
        words += (type_id(t.elem_type), type_id(t.index_type), t.nelems)
    elif isinstance(t, FuncProto):
        for p in t.params:
            words += (name_off(p.name, p.name_off), type_id(p.type))
    elif isinstance(t, Var):
        words.append(t.linkage)
    elif isinstance(t, Datasec):
        for s in t.secinfos:
            words += (type_id(s.type), s.offset, s.size)
    elif isinstance(t, DeclTag):
        words.append(t.component_idx & 0xFFFFFFFF)
    elif isinstance(t, Unknown):
        words += t.extra
    return words


def type_refs(t: Type) -> Iterator[int]:
    """Every type id ``t`` refers to, in record order (may repeat, may be 0)."""
    kind = t.kind
    if kind not in wire.SIZED_KINDS and kind != 0 and not isinstance(t, Unknown):
        yield t.size_type
    if isinstance(t, Composite):
        for m in t.members:
            yield m.type
    elif isinstance(t, Array):
        yield t.elem_type
        yield t.index_type
    elif isinstance(t, FuncProto):
        for p in t.params:
            yield p.type
    elif isinstance(t, Datasec):
        for s in t.secinfos:
            yield s.type


def to_plain(t: Type) -> list[Any]:
    """A JSON-friendly form of ``t`` (for caches); ``from_plain`` inverts it."""
    head = [t.kind, t.name, t.name_off, t.info, t.size_type]
    if isinstance(t, Int):
        return head + [t.data]
    if isinstance(t, Array):
        return head + [t.elem_type, t.index_type, t.nelems]
    if isinstance(t, Composite):
        return head + [[list(m) for m in t.members]]
    if isinstance(t, Enum):
        return head + [[list(v) for v in t.values]]
    if isinstance(t, FuncProto):
        return head + [[list(p) for p in t.params]]
    if isinstance(t, Var):
        return head + [t.linkage]
    if isinstance(t, Datasec):
        return head + [[list(s) for s in t.secinfos]]
    if isinstance(t, DeclTag):
        return head + [t.component_idx]
    if isinstance(t, Unknown):
        return head + [list(t.extra)]
    return head


def from_plain(obj: list[Any]) -> Type:
    kind, name, name_off, info, st = obj[:5]
    rest = obj[5:]
    if kind == INT:
        return Int(kind, name, info, st, name_off, rest[0])
    if kind == ARRAY:
        return Array(kind, name, info, st, name_off, *rest[:3])
    if kind in (STRUCT, UNION):
        return Composite(kind, name, info, st, name_off, [Member(*m) for m in rest[0]])
    if kind in (ENUM, ENUM64):
        return Enum(kind, name, info, st, name_off, [EnumValue(*v) for v in rest[0]])
    if kind == FUNC_PROTO:
        return FuncProto(kind, name, info, st, name_off, [Param(*p) for p in rest[0]])
    if kind == VAR:
        return Var(kind, name, info, st, name_off, rest[0])
    if kind == DATASEC:
        return Datasec(kind, name, info, st, name_off, [VarSecinfo(*s) for s in rest[0]])
    if kind == DECL_TAG:
        return DeclTag(kind, name, info, st, name_off, rest[0])
    if rest:
        return Unknown(kind, name, info, st, name_off, rest[0])
    return Type(kind, name, info, st, name_off)
