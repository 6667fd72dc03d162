"""Matching a local spec against a candidate target type (libbpf rules).

Three relations, as libbpf defines them:

* *field compatibility* (``fields_are_compat``): may a field of one type be
  read as the other?  Composites always, pointers always, ints unless legacy
  bitfield ints, enums/FWDs by essential name, arrays by element.
* *type compatibility* (``types_are_compat``, for TYPE_EXISTS/SIZE/ID_TARGET):
  same kind after skipping modifiers and typedefs; pointers, arrays and
  function prototypes are followed; composites and enums are never looked
  into.
* *type match* (``types_match``, for TYPE_MATCHES): stricter; names must
  match at every level and composite members must match recursively unless
  behind a pointer.

``MatchError`` reports the conditions where libbpf returns an error (not
just "no match"): depth limits and unresolvable sizes.  A ``TypeIdError``
(a missing type id or a reference cycle: BTF that libbpf refuses to load or
loops on) is not a relocation outcome and propagates.

libbpf's depth limits do not bound the work on a shared type graph (a DAG
of 30 levels with two edges each is walked 2**30 times), nor does anything
bound its field-compatibility walk through arrays.  Each walk here has a step
budget instead (``MAX_STEPS``, far beyond what real BTF needs); exceeding it
is a ``MatchError``.
"""

from __future__ import annotations

from typing import cast

from btfembed.btf.reader import BTF
from btfembed.btf.types import Array, Composite, Enum, FuncProto, Int, Type
from btfembed.core.kinds import RelocKind, is_enumval_based, is_field_based, is_type_based
from btfembed.core.spec import SPEC_MAX_LEN, Accessor, Spec, is_flex_array
from btfembed.errors import BTFFormatError, MatchError, TypeIdError
from btfembed.btf.strings import essential_len
from btfembed.btf.wire import (
    ARRAY, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, STRUCT, UNION,
)

__all__ = ["MatchError", "kind_core_compat", "fields_are_compat", "types_are_compat", "types_match", "spec_match"]

_MAX_DEPTH = 32   # libbpf's depth limit inside one compat/match walk
_MAX_LEVEL = 32   # libbpf's recursion level limit
# Steps (types or members visited) allowed for one match of a spec against
# one candidate.  Relocations of real programs on real kernels need a few
# hundred; this stops a hostile type graph within about a tenth of a second.
MAX_STEPS = 50_000


class Budget:
    """Steps left for one matching walk; shared by its recursive calls."""

    __slots__ = ("left",)

    def __init__(self, steps: int | None = None):
        self.left = MAX_STEPS if steps is None else steps

    def spend(self, what: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise MatchError(f"{what}: gave up after {MAX_STEPS} steps (pathological type graph)")


def kind_core_compat(k1: int, k2: int) -> bool:
    return k1 == k2 or (k1 in (ENUM, ENUM64) and k2 in (ENUM, ENUM64))


def _names_equal_essential(a: str, b: str) -> bool:
    la, lb = essential_len(a), essential_len(b)
    return la == lb and a[:la] == b[:lb]


def _skip(btf: BTF, tid: int) -> int:
    try:
        return btf.skip_mods_and_typedefs(tid)
    except TypeIdError:
        raise  # corrupt BTF (missing id, cycle): not a relocation outcome
    except BTFFormatError as exc:
        raise MatchError(exc.message) from None


def _size(btf: BTF, tid: int) -> int:
    try:
        return btf.resolve_size(tid)
    except TypeIdError:
        raise
    except BTFFormatError as exc:
        raise MatchError(f"cannot resolve size of [{tid}]: {exc.message}") from None


def _pair(local: BTF, local_id: int, targ: BTF, targ_id: int) -> tuple[int, int, Type, Type]:
    """Both ids past modifiers and typedefs, and their types: the first step
    of every walk below."""
    local_id = _skip(local, local_id)
    targ_id = _skip(targ, targ_id)
    return local_id, targ_id, local.type(local_id), targ.type(targ_id)


def _descend(depth: int, what: str) -> int:
    """One level deeper into a walk; MatchError past libbpf's limit."""
    depth -= 1
    if depth < 0:
        raise MatchError(f"{what} deeper than 32 levels")
    return depth


def fields_are_compat(local: BTF, local_id: int, targ: BTF, targ_id: int, budget: Budget | None = None) -> bool:
    budget = budget or Budget()
    while True:
        budget.spend("field compatibility check")
        local_id, targ_id, lt, tt = _pair(local, local_id, targ, targ_id)
        if lt.kind in (STRUCT, UNION) and tt.kind in (STRUCT, UNION):
            return True
        if not kind_core_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k == PTR or k == FLOAT:
            return True
        if k in (FWD, ENUM, ENUM64):
            ll, tl = essential_len(lt.name), essential_len(tt.name)
            return ll == 0 or tl == 0 or (ll == tl and lt.name[:ll] == tt.name[:tl])
        if isinstance(lt, Int) and isinstance(tt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if isinstance(lt, Array) and isinstance(tt, Array):
            local_id, targ_id = lt.elem_type, tt.elem_type
            continue
        return False


def types_are_compat(local: BTF, local_id: int, targ: BTF, targ_id: int, level: int = _MAX_LEVEL,
                     budget: Budget | None = None) -> bool:
    """libbpf ``__bpf_core_types_are_compat`` (names already matched by the caller)."""
    if not kind_core_compat(local.kind(local_id), targ.kind(targ_id)):
        return False
    budget = budget or Budget()
    depth = _MAX_DEPTH
    while True:
        budget.spend("type compatibility check")
        depth = _descend(depth, "type compatibility check")
        local_id, targ_id, lt, tt = _pair(local, local_id, targ, targ_id)
        if not kind_core_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k in (0, STRUCT, UNION, ENUM, FWD, ENUM64):
            return True
        if isinstance(lt, Int) and isinstance(tt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if k == PTR:
            local_id, targ_id = lt.type, tt.type
            continue
        if isinstance(lt, Array) and isinstance(tt, Array):
            local_id, targ_id = lt.elem_type, tt.elem_type
            continue
        if isinstance(lt, FuncProto) and isinstance(tt, FuncProto):
            if lt.vlen != tt.vlen:
                return False
            for lp, tp in zip(lt.params, tt.params):
                if level <= 0:
                    raise MatchError("type compatibility check recursed more than 32 levels")
                if not types_are_compat(local, _skip(local, lp.type), targ, _skip(targ, tp.type), level - 1,
                                        budget):
                    return False
            local_id, targ_id = _skip(local, lt.type), _skip(targ, tt.type)
            continue
        return False


def _names_match(local_name: str, targ_name: str) -> bool:
    if not targ_name:
        return not local_name
    return _names_equal_essential(local_name, targ_name)


def _enums_match(lt: Enum, tt: Enum) -> bool:
    if lt.size != tt.size or lt.vlen > tt.vlen:
        return False
    for lv in lt.values:
        if not any(_names_match(lv.name, tv.name) for tv in tt.values):
            return False
    return True


def types_match(local: BTF, local_id: int, targ: BTF, targ_id: int, behind_ptr: bool = False,
                level: int = _MAX_LEVEL, budget: Budget | None = None) -> bool:
    """libbpf ``__bpf_core_types_match`` (TYPE_MATCHES)."""
    if level <= 0:
        raise MatchError("type match recursed more than 32 levels")
    budget = budget or Budget()
    depth = _MAX_DEPTH
    while True:
        budget.spend("type match")
        depth = _descend(depth, "type match")
        local_id, targ_id, lt, tt = _pair(local, local_id, targ, targ_id)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == 0:
            return tk == 0
        if lk == FWD:
            if behind_ptr:
                if lk == tk:
                    return lt.kflag == tt.kflag
                return (tk == STRUCT and not lt.kflag) or (tk == UNION and bool(lt.kflag))
            return lk == tk and lt.kflag == tt.kflag
        if lk in (ENUM, ENUM64):
            return tk in (ENUM, ENUM64) and _enums_match(cast(Enum, lt), cast(Enum, tt))
        if lk in (STRUCT, UNION):
            if behind_ptr:
                if lk == tk:
                    return True
                if tk != FWD:
                    return False
                return (lk == UNION) == bool(tt.kflag)
            if lk != tk:
                return False
            return _composites_match(local, cast(Composite, lt), targ, cast(Composite, tt), behind_ptr, level, budget)
        if lk == INT:
            return (lk == tk and lt.size == tt.size
                    and (lt.encoding & 1) == (tt.encoding & 1))  # type: ignore[attr-defined]
        if lk == PTR:
            if lk != tk:
                return False
            behind_ptr = True
            local_id, targ_id = lt.type, tt.type
            continue
        if lk == ARRAY:
            if lk != tk or lt.nelems != tt.nelems:  # type: ignore[attr-defined]
                return False
            local_id, targ_id = lt.elem_type, tt.elem_type  # type: ignore[attr-defined]
            continue
        if lk == FUNC_PROTO:
            if lk != tk or lt.vlen != tt.vlen:
                return False
            for lp, tp in zip(lt.params, tt.params):  # type: ignore[attr-defined]
                if not types_match(local, lp.type, targ, tp.type, behind_ptr, level - 1, budget):
                    return False
            local_id, targ_id = lt.type, tt.type
            continue
        return False


def _composites_match(local: BTF, lt: Composite, targ: BTF, tt: Composite, behind_ptr: bool, level: int, budget: Budget) -> bool:
    if lt.vlen > tt.vlen:
        return False
    for lm in lt.members:
        for tm in tt.members:
            if not _names_match(lm.name, tm.name):
                continue
            if types_match(local, lm.type, targ, tm.type, behind_ptr, level - 1, budget):
                break
        else:
            return False
    return True


def _match_member(local: BTF, local_acc: Accessor, targ: BTF, targ_id: int, spec: Spec,
                  budget: Budget) -> tuple[int, int]:
    """Find ``local_acc``'s member in target composite ``targ_id``, descending
    into anonymous members.  Returns (1, next type id) on a compatible match,
    (0, 0) otherwise; ``spec`` gets the raw path and bit offset."""
    targ_id = _skip(targ, targ_id)
    tt = targ.type(targ_id)
    if tt.kind not in (STRUCT, UNION):
        return 0, 0
    lt = local.type(local_acc.type_id)
    local_member = lt.members[local_acc.idx]  # type: ignore[attr-defined]
    local_name = local_member.name
    members = tt.members  # type: ignore[attr-defined]
    if not members:
        return 0, 0
    # libbpf scans the members in order: an anonymous member is searched
    # recursively, the first member with the wanted name decides.  So only
    # the anonymous members before that one (if any) need visiting.
    by_name, anonymous = tt.member_index()  # type: ignore[attr-defined]
    if len(spec.raw) == SPEC_MAX_LEN:
        raise MatchError("target spec longer than 64 elements", "E2BIG")
    named = by_name.get(local_name, len(members))
    for i in anonymous:
        if i > named:
            break
        budget.spend("member search")
        m = members[i]
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        found, nxt = _match_member(local, local_acc, targ, m.type, spec, budget)
        if found:
            return found, nxt
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    if named == len(members):
        return 0, 0
    budget.spend("member search")
    m = members[named]
    spec.bit_offset += m.bit_offset
    spec.raw.append(named)
    spec.accessors.append(Accessor(targ_id, named, m.name))
    if fields_are_compat(local, local_member.type, targ, m.type, budget):
        return 1, m.type
    spec.accessors.pop()
    # libbpf leaves this member in the raw path and bit offset here.  That
    # only matters when the search goes on and finds a second member of the
    # same name (invalid BTF), and then gives a raw path that does not lead
    # to the member: undo it.
    spec.bit_offset -= m.bit_offset
    spec.raw.pop()
    return 0, 0


def spec_match(local_spec: Spec, targ: BTF, targ_id: int) -> Spec | None:
    """Match ``local_spec`` against candidate ``targ_id``: the target spec, or
    None when the candidate does not match.  Raises ``MatchError``."""
    local = local_spec.btf
    kind = local_spec.kind
    spec = Spec(targ, targ_id, kind)
    budget = Budget()
    if is_type_based(kind):
        if kind == RelocKind.TYPE_MATCHES:
            ok = types_match(local, local_spec.root_type_id, targ, targ_id, budget=budget)
        else:
            ok = types_are_compat(local, local_spec.root_type_id, targ, targ_id, budget=budget)
        return spec if ok else None
    local_acc = local_spec.accessors[0]
    if is_enumval_based(kind):
        tid = _skip(targ, targ_id)
        tt = targ.type(tid)
        if tt.kind not in (ENUM, ENUM64):
            return None
        want = local_acc.name or ""
        wl = essential_len(want)
        for i, v in enumerate(tt.values):  # type: ignore[attr-defined]
            tl = essential_len(v.name)
            if tl == wl and v.name[:tl] == want[:wl]:
                spec.accessors.append(Accessor(tid, i, v.name))
                spec.raw.append(i)
                return spec
        return None
    if not is_field_based(kind):  # pragma: no cover
        raise MatchError(f"unknown relocation kind {kind}")
    for i, local_acc in enumerate(local_spec.accessors):
        targ_id = _skip(targ, targ_id)
        tt = targ.type(targ_id)
        if local_acc.name is not None:
            found, targ_id = _match_member(local, local_acc, targ, targ_id, spec, budget)
            if not found:
                return None
            continue
        if i > 0:
            if tt.kind != ARRAY:
                return None
            flex = is_flex_array(targ, spec.accessors[-1], tt.nelems)  # type: ignore[attr-defined]
            if not flex and local_acc.idx >= tt.nelems:  # type: ignore[attr-defined]
                return None
            targ_id = _skip(targ, tt.elem_type)  # type: ignore[attr-defined]
        if len(spec.raw) == SPEC_MAX_LEN:
            raise MatchError("target spec longer than 64 elements", "E2BIG")
        spec.accessors.append(Accessor(targ_id, local_acc.idx, None))
        spec.raw.append(local_acc.idx)
        spec.bit_offset += local_acc.idx * _size(targ, targ_id) * 8
    return spec
