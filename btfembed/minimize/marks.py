"""Marking: which kernel types (and which of their members) a minimized BTF keeps.

The rules are bpftool's (``gen min_core_btf``):

* a **field** relocation marks its target root, then walks the target's raw
  path marking each member on it and that member's type, without following
  pointers (field compatibility never looks behind a pointer);
* a **type** relocation marks the target type graph following pointers,
  arrays and function prototypes, but never members (composites are kept
  empty, with their size);
* a **type match** relocation marks every member of composites reached
  other than through a pointer, recursively;
* an **enum value** relocation marks the enum whole.

``Marks`` holds the result explicitly: for each (BTF, type id) the set of
kept member indices.  In ``compat`` mode the kinds bpftool 7.1 refuses to
mark (FWD, TYPE_TAG, ...) raise ``UnsupportedMarkError`` as bpftool does;
otherwise they are handled.
"""

from __future__ import annotations

from typing import Sequence

from btfembed.btf.reader import BTF
from btfembed.core.kinds import RelocKind, is_enumval_based, is_field_based
from btfembed.core.spec import Spec
from btfembed.errors import BTFEmbedError
from btfembed.btf.wire import (
    ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO, FWD, INT,
    KIND_NAMES, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE,
)

from btfembed.btf import wire
from btfembed.minimize.owners import index_of, owner

__all__ = ["Marks", "UnsupportedMarkError"]

_LEAF = frozenset({0, INT, FLOAT, ENUM, ENUM64, STRUCT, UNION})
# bpftool follows typedefs and the modifiers other than TYPE_TAG here.
_REF = (wire.MODIFIER_KINDS - {TYPE_TAG}) | {TYPEDEF}
_MODS = wire.MODIFIER_KINDS


class UnsupportedMarkError(BTFEmbedError):
    """bpftool 7.1 cannot mark this kind (raised in compat mode only)."""


class Marks:
    """Kept types and members across a kernel BTF and its module BTFs.

    ``btfs[0]`` is the kernel; ``btfs[1:]`` are modules split on top of it.
    ``kept[i]`` maps a type id of ``btfs[i]`` to the set of member indices
    kept (empty for non-composites and for composites kept as shells).
    """

    def __init__(self, btfs: Sequence[BTF], *, compat: bool = False):
        self.btfs = list(btfs)
        self.kept: list[dict[int, set[int]]] = [{} for _ in self.btfs]
        self._start_ids = [b.start_id for b in self.btfs]
        self.compat = compat
        # (btf, id, follow pointers) walked by mark_type; (btf, id, behind a pointer, "match") by the match walk
        self._seen: set[tuple[int, int, bool] | tuple[int, int, bool, str]] = set()

    # -- where a type id lives ---------------------------------------------

    def _owner(self, where: int, tid: int) -> int:
        """Index of the BTF defining ``tid`` when referenced from ``btfs[where]``."""
        return owner(self._start_ids, where, tid)

    def index_of(self, btf: BTF) -> int:
        return index_of(self.btfs, btf)

    # -- primitives -----------------------------------------------------------

    def _mark(self, where: int, tid: int) -> None:
        self.kept[where].setdefault(tid, set())

    def mark_member(self, where: int, tid: int, idx: int) -> None:
        self.kept[where].setdefault(tid, set()).add(idx)

    def _unsupported(self, kind: int, tid: int) -> None:
        name = KIND_NAMES.get(kind, str(kind)).lower()
        raise UnsupportedMarkError(f"unsupported kind: {name} ({tid})")

    def mark_type(self, where: int, tid: int, follow_pointers: bool) -> None:
        stack = [(where, tid)]
        while stack:
            where, tid = stack.pop()
            if tid == 0:
                continue
            where = self._owner(where, tid)
            key = (where, tid, follow_pointers)
            if key in self._seen:
                continue
            self._seen.add(key)
            self._mark(where, tid)
            t = self.btfs[where].type(tid)
            k = t.kind
            refs: list[int] = []
            if k in _LEAF:
                pass
            elif k == PTR:
                if follow_pointers:
                    refs.append(t.type)
            elif k in _REF:
                refs.append(t.type)
            elif k == ARRAY:
                refs += (t.elem_type, t.index_type)  # type: ignore[attr-defined]
            elif k == FUNC_PROTO:
                refs.append(t.type)
                refs += (p.type for p in t.params)  # type: ignore[attr-defined]
            elif self.compat:
                self._unsupported(k, tid)
            elif k == FWD:
                pass
            elif k in (TYPE_TAG, FUNC, VAR, DECL_TAG):
                refs.append(t.type)
            elif k == DATASEC:
                refs += (s.type for s in t.secinfos)  # type: ignore[attr-defined]
            # Depth-first in bpftool's order: push in reverse.
            stack.extend((where, r) for r in reversed(refs))

    def mark_type_match(self, where: int, tid: int, behind_ptr: bool) -> None:
        stack = [(where, tid, behind_ptr)]
        while stack:
            where, tid, behind_ptr = stack.pop()
            if tid == 0:
                continue
            where = self._owner(where, tid)
            key = (where, tid, behind_ptr, "match")
            if key in self._seen:
                continue
            self._seen.add(key)
            self._mark(where, tid)
            t = self.btfs[where].type(tid)
            k = t.kind
            nxt: list[tuple[int, bool]] = []
            if k in (0, INT, FLOAT, ENUM, ENUM64):
                pass
            elif k in (STRUCT, UNION):
                if not behind_ptr:
                    for i, m in enumerate(t.members):  # type: ignore[attr-defined]
                        self.mark_member(where, tid, i)
                        nxt.append((m.type, False))
            elif k in (CONST, FWD, RESTRICT, TYPEDEF, VOLATILE):
                nxt.append((t.type, behind_ptr))
            elif k == PTR:
                nxt.append((t.type, True))
            elif k == ARRAY:
                nxt += ((t.elem_type, False), (t.index_type, False))  # type: ignore[attr-defined]
            elif k == FUNC_PROTO:
                nxt.append((t.type, False))
                nxt += ((p.type, False) for p in t.params)  # type: ignore[attr-defined]
            elif self.compat:
                self._unsupported(k, tid)
            elif k == TYPE_TAG:
                nxt.append((t.type, behind_ptr))
            stack.extend((where, r, b) for r, b in reversed(nxt))

    # -- per relocation family ------------------------------------------------

    def record(self, spec: Spec) -> None:
        """Mark what the target spec ``spec`` needs (bpftool's record_reloc)."""
        where = self.index_of(spec.btf)
        kind = spec.kind
        if is_field_based(kind):
            self._record_field(where, spec)
        elif kind == RelocKind.TYPE_ID_LOCAL:
            pass
        elif kind == RelocKind.TYPE_MATCHES:
            self.mark_type_match(where, spec.root_type_id, False)
        elif is_enumval_based(kind):
            self.mark_type(where, spec.root_type_id, False)
        else:  # TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE
            self.mark_type(where, spec.root_type_id, True)

    def _record_field(self, where: int, spec: Spec) -> None:
        tid = spec.root_type_id
        self.mark_type(where, tid, False)
        btf = self.btfs[where]
        cur_where = where
        t = btf.type(tid)
        for i in range(1, len(spec.raw)):
            cur_where = self._owner(cur_where, tid)
            btf = self.btfs[cur_where]
            t = btf.type(tid)
            for _ in range(4096):
                if t.kind not in _MODS and t.kind != TYPEDEF:
                    break
                tid = t.type
                cur_where = self._owner(cur_where, tid)
                btf = self.btfs[cur_where]
                t = btf.type(tid)
            if t.kind in (STRUCT, UNION):
                idx = spec.raw[i]
                self.mark_member(cur_where, tid, idx)
                tid = t.members[idx].type  # type: ignore[attr-defined]
                self.mark_type(cur_where, tid, False)
            elif t.kind == ARRAY:
                tid = t.elem_type  # type: ignore[attr-defined]
            else:
                self._unsupported(t.kind, tid)

    def as_dict(self) -> dict[tuple[int, int], frozenset[int]]:
        """(BTF index, type id) -> kept member indices."""
        return {(w, tid): frozenset(members) for w, kept in enumerate(self.kept) for tid, members in kept.items()}

    def add(self, marks: "dict[tuple[int, int], frozenset[int]]") -> None:
        """Merge marks given as ``as_dict()`` returns them."""
        for (w, tid), members in marks.items():
            self.kept[w].setdefault(tid, set()).update(members)

    def mark_root(self, btf: BTF, tid: int, follow_pointers: bool = True) -> None:
        self.mark_type(self.index_of(btf), tid, follow_pointers)
