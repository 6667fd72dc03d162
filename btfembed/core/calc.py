"""Relocation values and the candidate loop (libbpf ``bpf_core_calc_relo_insn``).

``resolve(local_spec, cands)`` tries each candidate in order.  The first
match gives the result and the *target spec*; every later match must agree
on the bit offset ("field offset ambiguity") and on the value and poison
decision ("relocation decision ambiguity").  The candidate list is then
pruned to the matching candidates, when there are any: it is shared by all
relocations with the same local root type, so order matters.
"""

from __future__ import annotations

import enum
from typing import Iterator, Sequence

from btfembed.btf.reader import BTF
from btfembed.btf.types import Int
from btfembed.core.kinds import RelocKind, is_enumval_based, is_field_based, is_type_based
from btfembed.core.match import MatchError, spec_match
from btfembed.core.shapes import shape_of
from btfembed.core.spec import Spec
from btfembed.core.status import Status
from btfembed.errors import BTFFormatError, CalcError, TypeIdError
from btfembed.btf.wire import ENUM, ENUM64, INT, PTR

__all__ = ["Values", "Outcome", "Candidate", "Matched", "calc_values", "resolve", "POISON_HELPER_ID", "GROUP_MIN"]

POISON_HELPER_ID = 195896080  # 0xbad2310, "bad relo"


class Candidate:
    """A candidate target type: a BTF and an id in it."""

    __slots__ = ("btf", "id")

    def __init__(self, btf: BTF, tid: int):
        self.btf = btf
        self.id = tid

    def __repr__(self) -> str:
        return f"Candidate({self.id})"


class Values:
    """``struct bpf_core_relo_res``: what gets patched into the instruction."""

    __slots__ = ("orig_val", "new_val", "poison", "validate", "fail_memsz_adjust",
                 "orig_sz", "new_sz", "orig_type_id", "new_type_id")

    def __init__(self) -> None:
        self.orig_val = self.new_val = 0
        self.poison = False
        self.validate = True
        self.fail_memsz_adjust = False
        self.orig_sz = self.new_sz = 0
        self.orig_type_id = self.new_type_id = 0

    def key(self) -> tuple[int, int, bool, bool, bool, int, int]:
        return (self.orig_val, self.new_val, self.poison, self.validate, self.fail_memsz_adjust,
                self.orig_sz, self.new_sz)

    def __repr__(self) -> str:
        state = "poison" if self.poison else f"{self.orig_val} -> {self.new_val}"
        return f"Values({state})"


class _Poison(enum.Enum):
    """A value that poisons the instruction instead of patching it."""
    POISON = 0


_POISON = _Poison.POISON


def _field_values(kind: int, spec: Spec | None, big_endian: bool,
                  validate_out: list[bool] | None) -> tuple[int | _Poison, int, int]:
    """(value, field size, field type id) for a field relocation on ``spec``
    (None: no target).  Returns _POISON when the instruction must be poisoned."""
    if kind == RelocKind.FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, 0
    if spec is None:
        return _POISON, 0, 0
    btf = spec.btf
    acc = spec.accessors[-1]
    try:
        if acc.name is None:  # array element access
            if kind == RelocKind.FIELD_BYTE_OFFSET:
                value, field_sz, type_id = spec.bit_offset // 8, btf.resolve_size(acc.type_id), acc.type_id
            elif kind == RelocKind.FIELD_BYTE_SIZE:
                value, field_sz, type_id = btf.resolve_size(acc.type_id), 0, 0
            else:
                raise CalcError(f"relocation kind {kind} cannot be applied to an array access")
            if validate_out is not None:
                validate_out[0] = True
            return value, field_sz, type_id
        t = btf.type(acc.type_id)
        m = t.members[acc.idx]  # type: ignore[attr-defined]
        field_type_id = btf.skip_mods_and_typedefs(m.type)
        mt = btf.type(field_type_id)
        bit_off = spec.bit_offset
        bit_sz = m.bitfield_size if t.kflag else 0
        bitfield = bit_sz > 0
        if bitfield:
            byte_sz = mt.size
            if byte_sz <= 0:
                raise CalcError(f"bitfield of [{acc.type_id}] has an underlying type of size {byte_sz}")
            byte_off = bit_off // 8 // byte_sz * byte_sz
            while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
                if byte_sz >= 8:
                    raise CalcError("bitfield cannot be read with a single load of at most 8 bytes", "E2BIG")
                byte_sz *= 2
                byte_off = bit_off // 8 // byte_sz * byte_sz
        else:
            byte_sz = btf.resolve_size(field_type_id)
            byte_off = bit_off // 8
            bit_sz = byte_sz * 8
    except TypeIdError:
        raise  # corrupt BTF: an input error, not a relocation outcome
    except BTFFormatError as exc:
        raise CalcError(exc.message) from None
    if validate_out is not None:
        validate_out[0] = not bitfield
    field_sz = type_id = 0
    if kind == RelocKind.FIELD_BYTE_OFFSET:
        value = byte_off
        if not bitfield:
            field_sz, type_id = byte_sz, field_type_id
    elif kind == RelocKind.FIELD_BYTE_SIZE:
        value = byte_sz
    elif kind == RelocKind.FIELD_SIGNED:
        value = int((mt.kind in (ENUM, ENUM64) and bool(mt.kflag))
                    or (mt.kind == INT and bool(mt.encoding & 1)))  # type: ignore[attr-defined]
        if validate_out is not None:
            validate_out[0] = True
    elif kind == RelocKind.FIELD_LSHIFT_U64:
        if big_endian:
            value = (8 - byte_sz) * 8 + (bit_off - byte_off * 8)
        else:
            value = 64 - (bit_off + bit_sz - byte_off * 8)
    elif kind == RelocKind.FIELD_RSHIFT_U64:
        value = 64 - bit_sz
        if validate_out is not None:
            validate_out[0] = True
    else:  # pragma: no cover
        raise CalcError(f"unsupported field relocation kind {kind}")
    return value & 0xFFFFFFFFFFFFFFFF, field_sz, type_id


def _type_value(kind: int, spec: Spec | None) -> int:
    if spec is None:
        return 0
    if kind == RelocKind.TYPE_ID_TARGET:
        return spec.root_type_id
    if kind in (RelocKind.TYPE_EXISTS, RelocKind.TYPE_MATCHES):
        return 1
    if kind == RelocKind.TYPE_SIZE:
        try:
            return spec.btf.resolve_size(spec.root_type_id)
        except TypeIdError:
            raise
        except BTFFormatError as exc:
            raise CalcError(exc.message) from None
    raise CalcError(f"unsupported type relocation kind {kind}")  # pragma: no cover


def _enumval_value(kind: int, spec: Spec | None) -> int | _Poison:
    if kind == RelocKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        return _POISON
    acc = spec.accessors[0]
    t = spec.btf.type(acc.type_id)
    raw: int = t.values[acc.idx].raw  # type: ignore[attr-defined]
    if t.kind == ENUM:
        # btf_enum.val is __s32: sign-extended into the u64 result.
        raw = raw - (1 << 32) if raw >> 31 else raw
    return raw & 0xFFFFFFFFFFFFFFFF


def calc_values(local: Spec, target: Spec | None, big_endian: bool = False) -> Values:
    """libbpf ``bpf_core_calc_relo``: original (local) and new (target) values."""
    kind = local.kind
    res = Values()
    if is_field_based(kind):
        validate = [True]
        orig, res.orig_sz, res.orig_type_id = _field_values(kind, local, big_endian, validate)
        res.validate = validate[0]
        new, res.new_sz, res.new_type_id = _field_values(kind, target, big_endian, None)
        if orig is _POISON or new is _POISON:
            res.poison = True
            return res
        res.orig_val, res.new_val = orig, new
        if res.orig_sz != res.new_sz:
            ot = local.btf.type(res.orig_type_id)
            nt = target.btf.type(res.new_type_id)  # type: ignore[union-attr]
            if ot.kind == PTR and nt.kind == PTR:
                return res
            if isinstance(ot, Int) and isinstance(nt, Int) and ot.encoding != 1 and nt.encoding != 1:
                return res
            res.fail_memsz_adjust = True
        return res
    if is_type_based(kind):
        res.orig_val = _type_value(kind, local)
        res.validate = kind != RelocKind.TYPE_ID_TARGET
        res.new_val = _type_value(kind, target)
        return res
    if is_enumval_based(kind):
        orig = _enumval_value(kind, local)
        new = _enumval_value(kind, target)
        if orig is _POISON or new is _POISON:
            res.poison = True
            return res
        res.orig_val, res.new_val = orig, new
        return res
    raise CalcError(f"unsupported relocation kind {kind}")  # pragma: no cover


class Outcome:
    """The result of one relocation against one target.

    ``status`` is one of:

    * ``"resolved"``: a candidate matched; ``values`` hold the patch;
    * ``"missing"``: nothing matched and the kind yields 0 (exists/type kinds);
    * ``"poisoned"``: nothing matched and the instruction is poisoned;
    * ``"ambiguous"``: candidates disagree; libbpf refuses the object;
    * ``"error"``: libbpf cannot compute it (e.g. an unreadable bitfield).

    ``target`` is the first matching candidate's spec (what bpftool marks);
    ``matched`` lists (candidate, target spec) for every candidate that
    matched before the loop ended (including one whose values could not be
    computed); ``considered`` is the candidate list the relocation saw.
    """

    __slots__ = ("status", "values", "target", "matched", "considered", "message", "code")

    def __init__(self, status: str, values: Values | None, target: Spec | None,
                 matched: "Sequence[tuple[Candidate, Spec]]", considered: list[Candidate], message: str = "",
                 code: str = ""):
        self.status = Status(status)
        self.values = values
        self.target = target
        self.matched = matched
        self.considered = considered
        self.message = message
        # For "ambiguous" and "error": what libbpf fails with, without ids
        # ("offset", "decision", "EINVAL", "E2BIG").
        self.code = code

    @property
    def failed(self) -> bool:
        return self.status.failed

    def __repr__(self) -> str:
        return f"Outcome({self.status}, {self.values!r}{', ' + self.message if self.message else ''})"


class Matched(Sequence[tuple[Candidate, Spec]]):
    """``Outcome.matched``: (candidate, target spec) for each matching
    candidate.  A candidate grouped with an earlier one of the same shape
    (see ``core.shapes``) gets its spec made when asked for (the same as
    matching it directly would give), so an outcome on a kernel with
    hundreds of identical candidates stays small."""

    __slots__ = ("local", "_items")

    def __init__(self, local: Spec):
        self.local = local
        self._items: list[tuple[Candidate, Spec | None]] = []

    def append(self, item: tuple[Candidate, Spec | None]) -> None:
        self._items.append(item)

    def candidates(self) -> list[Candidate]:
        return [c for c, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def _full(self, item: tuple[Candidate, Spec | None]) -> tuple[Candidate, Spec]:
        cand, spec = item
        if spec is None:
            spec = spec_match(self.local, cand.btf, cand.id)
            assert spec is not None  # same shape as a candidate that matched
        return cand, spec

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self._full(x) for x in self._items[i]]
        return self._full(self._items[i])

    def __iter__(self) -> Iterator[tuple[Candidate, Spec]]:
        for item in self._items:
            yield self._full(item)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, Matched)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Matched({[c for c, _ in self._items]!r})"


# Candidate lists at least this long are grouped by shape (shorter ones are
# matched directly: computing shapes would cost more than it saves).
GROUP_MIN = 4
_UNSEEN = object()


def resolve(local: Spec, cands: list[Candidate], *, big_endian: bool = False) -> tuple[Outcome, list[Candidate]]:
    """Run the candidate loop.  Returns the outcome and the candidate list to
    use for the next relocation with the same root (pruned when something
    matched; the same list when every candidate matched).

    Long lists are grouped: a candidate of the same shape as an earlier one
    gives the same match, spec offsets and values (except TYPE_ID_TARGET,
    whose value is the candidate's id), so it matches, and passes the
    ambiguity checks, exactly when the earlier one did."""
    considered = cands  # never modified: pruning makes a new list
    matched = Matched(local)
    first: tuple[Spec, Values] | None = None
    group = len(cands) >= GROUP_MIN and local.kind != RelocKind.TYPE_ID_TARGET
    seen: dict[tuple[int, int], bool] = {}   # (BTF identity, shape) -> matched
    try:
        for cand in cands:
            if group:
                sk = (id(cand.btf), shape_of(cand.btf, cand.id))
                before = seen.get(sk, _UNSEEN)
                if before is not _UNSEEN:
                    if before:
                        matched.append((cand, None))
                    continue
            spec = spec_match(local, cand.btf, cand.id)
            if group:
                seen[sk] = spec is not None
            if spec is None:
                continue
            matched.append((cand, spec))
            res = calc_values(local, spec, big_endian)
            if first is None:
                first = (spec, res)
                continue
            tspec, tres = first
            if spec.bit_offset != tspec.bit_offset:
                return Outcome("ambiguous", tres, tspec, matched, considered,
                               f"field offset ambiguity: {spec.bit_offset} != {tspec.bit_offset}", "offset"), cands
            if res.poison != tres.poison or res.new_val != tres.new_val:
                return Outcome("ambiguous", tres, tspec, matched, considered,
                               "relocation decision ambiguity: "
                               f"{'failure' if res.poison else 'success'} {res.new_val} != "
                               f"{'failure' if tres.poison else 'success'} {tres.new_val}", "decision"), cands
        if first is not None:
            tspec, tres = first
            # Every candidate matched: the same list (callers may take its
            # identity for its contents).
            pruned = cands if len(matched) == len(cands) else matched.candidates()
            return Outcome("resolved", tres, tspec, matched, considered), pruned
        res = calc_values(local, None, big_endian)
    except (MatchError, CalcError) as exc:
        return Outcome("error", None, first[0] if first else None, matched, considered, str(exc), exc.errno), cands
    except TypeIdError:
        raise  # a missing type id or a reference cycle: the BTF is corrupt
    except BTFFormatError as exc:
        return Outcome("error", None, first[0] if first else None, matched, considered, exc.message, "EINVAL"), cands
    return Outcome("poisoned" if res.poison else "missing", res, None, Matched(local), considered), cands
