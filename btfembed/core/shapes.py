"""Structural identity of target types, for grouping candidates.

A kernel BTF that was not deduplicated (CentOS 8, older distributions)
holds one copy of a struct per compilation unit: hundreds of candidates for
one relocation, almost all identical.  Matching a local spec against two
candidates of the same *shape* reads the same things and gives the same
answer, so the candidate loop needs to match each shape once.

A shape stands for everything matching and value calculation can read from a
type: kinds, names (by string offset), sizes, encodings, offsets, array
lengths, enumerators, and the shapes of referenced types.  Behind a pointer
a STRUCT, UNION or FWD is reduced to its kind, kind flag and name: no
matching rule looks further there (field compatibility stops at the pointer;
type compatibility and type matching compare only those).  Not-deduplicated
copies of the same C type therefore share a shape even though each
copy's pointers lead into its own compilation unit.

Shapes are hash-consed into small integers per BTF (``shape_of``): equal
integers mean equal shapes, exactly; nothing is compared by hash value.  A
type that cannot be described (unknown or unusual kinds, damaged or cyclic
records, nesting deeper than 64) gets a shape of its own, so it is only ever
matched by itself.
"""

from __future__ import annotations

import weakref

from typing import Any

from btfembed.btf.reader import BTF
from btfembed.btf.wire import (
    ARRAY, CONST, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION,
    VOLATILE,
)

__all__ = ["shape_of", "Shapes"]

_MAX_NESTING = 64
_REFS = frozenset({TYPEDEF, CONST, VOLATILE, RESTRICT, TYPE_TAG})
_FLAT = frozenset({INT, FLOAT, ENUM, ENUM64, FWD})


class _Opaque(Exception):
    """The type gets a shape of its own."""


class Shapes:
    """Shape numbers of one BTF's types (ids below ``start_id`` are the
    base's, numbered by the base's ``Shapes``)."""

    def __init__(self, btf: BTF):
        self.btf = btf
        self._ids: dict[tuple[Any, ...], int] = {}
        self._memo: dict[int, int] = {}        # 2 * type id + behind_ptr -> shape

    def of(self, tid: int) -> int:
        """Shape of type ``tid`` as a relocation's candidate root."""
        try:
            return self._shape(tid, False, 0)
        except Exception:
            # Its own shape: distinct from every hash-consed one (those are >= 1).
            return -1 - tid

    def _intern(self, key: tuple[Any, ...]) -> int:
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = len(self._ids) + 1
        return sid

    def _shape(self, tid: int, behind: bool, depth: int) -> int:
        if tid == 0:
            return 0
        memo_key = 2 * tid + behind
        sid = self._memo.get(memo_key)
        if sid is not None:
            return sid
        btf = self.btf
        if tid < btf.start_id:
            if btf.base is None:
                raise _Opaque
            key: tuple[Any, ...] = ("base", shapes(btf.base)._shape(tid, behind, depth))
        else:
            if depth > _MAX_NESTING or tid >= btf.type_cnt:
                raise _Opaque
            w = btf._words
            first, n = btf.record_words(tid)
            name_off, info, size_type = w[first], w[first + 1], w[first + 2]
            kind = (info >> 24) & 0x1F
            nxt = depth + 1
            if kind == STRUCT or kind == UNION:
                if behind:
                    key = (kind, True, info >> 31, name_off)
                else:
                    members: list[int] = []
                    for k in range(first + 3, first + n, 3):
                        members += (w[k], self._shape(w[k + 1], False, nxt), w[k + 2])
                    key = (kind, False, info, size_type, tuple(members))
            elif kind == PTR:
                key = (kind, info, name_off, self._shape(size_type, True, nxt))
            elif kind in _REFS:
                key = (kind, behind, info, name_off, self._shape(size_type, behind, nxt))
            elif kind == ARRAY:
                key = (kind, behind, info, self._shape(w[first + 3], behind, nxt),
                       self._shape(w[first + 4], behind, nxt), w[first + 5])
            elif kind == FUNC_PROTO:
                params: list[int] = []
                for k in range(first + 3, first + n, 2):
                    params += (w[k], self._shape(w[k + 1], behind, nxt))
                key = (kind, behind, info, name_off, self._shape(size_type, behind, nxt), tuple(params))
            elif kind in _FLAT:
                key = (kind, tuple(w[first:first + n]))
            else:
                raise _Opaque
        sid = self._intern(key)
        self._memo[memo_key] = sid
        return sid


_INDEX: "weakref.WeakKeyDictionary[BTF, Shapes]" = weakref.WeakKeyDictionary()


def shapes(btf: BTF) -> Shapes:
    s = _INDEX.get(btf)
    if s is None:
        s = _INDEX[btf] = Shapes(btf)
    return s


def shape_of(btf: BTF, tid: int) -> int:
    """Shape number of candidate root ``tid`` of ``btf``: candidates of one
    BTF with equal numbers match every local spec alike."""
    return shapes(btf).of(tid)
