"""Object analyses assembled from per-relocation pieces.

``engine.analyze`` resolves an object's records in file order with one
candidate list per local root type (pruned as libbpf prunes it), marks what
each distinct outcome needs and keeps the kernel types the marks refer to.
Every step of that is a function of a small, plain input:

* a root's first candidate list: of the root's essential name and kind,
  and the target (``root_key``);
* a distinct relocation's *piece* (its summary fields, the candidate list
  left for the next relocation of the same root, its marks, and the error
  an analysis fails with there): of its local spec and the candidate list
  it meets, and the target.

``replay`` runs the record loop of ``core.resolve.resolve_relocations``
step for step over those functions, taken from a ``PieceSource``: pieces a
cache keeps per kernel (no kernel BTF needed), or pieces computed against
the target (``KernelPieces``).  ``compose`` then makes the analysis exactly
as ``analyze`` does: summaries once per distinct outcome, marks the union of
the pieces' marks (marking is a closure: marking outcomes one by one or
together keeps the same types and members, and bpftool-mode errors come
from the first outcome, in order of first use, that has one), types those
of the marked keys.

A piece is keyed by a *local fingerprint* of its spec (``fingerprints``):
the relocation kind, the access string, the object's byte order and pointer
size, and the canonical form of the local type graph reachable from the
root (ids renumbered in breadth-first order, names as strings), with a
STRUCT, UNION or FWD behind a pointer reduced to its kind, kind flag and
name: no matching rule and no value calculation reads more there (the same
reduction ``core.shapes`` makes on the target side).  TYPE_ID_TARGET keys
hold the local root id too (its original value is that id).  TYPE_ID_LOCAL
relocations need no target and are made locally.  A spec whose graph cannot
be described (unusual kinds, damaged records, huge graphs) gets no
fingerprint: it is computed against the kernel every time.
"""

from __future__ import annotations

import hashlib
from array import array
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Protocol, Sequence

from btfembed.btf.reader import BTF
from btfembed.btf.strings import essential_name
from btfembed.btf.types import Array, Composite, Enum, FuncProto, Int, Type
from btfembed.btf.wire import (
    CONST, ENUM, ENUM64, FLOAT, FUNC, FWD, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VOLATILE,
)
from btfembed.core.calc import Candidate, Outcome, resolve
from btfembed.core.candidates import find_candidates
from btfembed.core.kinds import RelocKind
from btfembed.core.objects import CoreObject
from btfembed.core.resolve import SpecTable, Target, _local_outcome, local_spec_table, walk_specs
from btfembed.core.results import SummaryTable, _result_fields
from btfembed.core.spec import Spec
from btfembed.errors import MinimizeError
from btfembed.minimize.blob import Key
from btfembed.minimize.marks import Marks, UnsupportedMarkError
from btfembed.minimize.owners import locator

__all__ = ["Piece", "PieceSource", "KernelPieces", "LocalPlan", "plan", "replay", "compose", "piece_key",
           "fingerprints", "summaries_of", "PieceSink"]

_TYPE_ID_LOCAL = int(RelocKind.TYPE_ID_LOCAL)
_TYPE_ID_TARGET = int(RelocKind.TYPE_ID_TARGET)
MAX_NODES = 20_000   # larger local graphs get no fingerprint

Cands = tuple[Key, ...]


class Piece(NamedTuple):
    """What one distinct relocation, meeting one candidate list, gives."""

    parts: tuple[Any, ...]          # Summary fields from ``kind`` on (core.results)
    pruned: Cands | None            # the root's candidate list after it (None: unchanged)
    marks: dict[Key, frozenset[int]]
    error: str | None = None        # the analysis fails here: "<source>: <program>: relo #N: <error>"


class PieceSource(Protocol):
    def candidates(self, root_key: str, tid: int) -> Cands | None:
        """The first candidate list of root ``tid``, whose ``root_key`` it is
        (None: not known)."""

    def piece(self, fingerprint: str | None, g: int, spec: Spec, cands: Cands) -> Piece | None:
        """The piece of spec ``g`` meeting ``cands`` (None: not known)."""


# -- local fingerprints -------------------------------------------------------

class _Opaque(Exception):
    pass


_REF_KINDS = frozenset({PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})


def _graph(btf: BTF, root: int) -> list[tuple[Any, ...]]:
    """Canonical records of the types reachable from ``root`` (see the module
    documentation), in breadth-first order; refs are positions (-1: void)."""
    ids: dict[tuple[int, bool], int] = {}
    queue: list[tuple[int, bool]] = []

    def ref(tid: int, behind: bool) -> int:
        if tid == 0:
            return -1
        node = (tid, behind)
        n = ids.get(node)
        if n is None:
            if len(queue) >= MAX_NODES:
                raise _Opaque()
            n = ids[node] = len(queue)
            queue.append(node)
        return n

    ref(root, False)
    out: list[tuple[Any, ...]] = []
    pos = 0
    while pos < len(queue):
        tid, behind = queue[pos]
        pos += 1
        t: Type = btf.type(tid)
        k = t.kind
        if k in (STRUCT, UNION, FWD) and (behind or k == FWD):
            out.append((k, t.kflag, t.name))
        elif isinstance(t, Composite):
            out.append((k, t.name, t.info, t.size_type,
                        tuple((m.name, ref(m.type, False), m.bit_offset, m.bitfield_size) for m in t.members)))
        elif isinstance(t, Int):
            out.append((k, t.name, t.info, t.size_type, t.data))
        elif k == FLOAT:
            out.append((k, t.name, t.info, t.size_type))
        elif k in _REF_KINDS:
            out.append((k, t.name, t.info, ref(t.type, behind or k == PTR)))
        elif isinstance(t, Array):
            out.append((k, t.name, t.info, ref(t.elem_type, behind), ref(t.index_type, behind), t.nelems))
        elif isinstance(t, Enum) and k in (ENUM, ENUM64):
            out.append((k, t.name, t.info, t.size_type, tuple((v.name, v.raw) for v in t.values)))
        elif isinstance(t, FuncProto):
            out.append((k, t.name, t.info, ref(t.type, behind), tuple((p.name, ref(p.type, behind)) for p in t.params)))
        elif k == FUNC:
            out.append((k, t.name, t.info, ref(t.type, behind)))
        else:
            raise _Opaque()
    return out


def fingerprints(obj: CoreObject, table: SpecTable) -> list[str | None]:
    """Per distinct spec of ``table``: its local fingerprint (None: none,
    and for TYPE_ID_LOCAL specs, which need no target)."""
    local = obj.btf
    try:
        ptr = local.pointer_size()
    except Exception:  # noqa: BLE001 - damaged local BTF: nothing is cached for it
        return [None] * len(table.keys)
    if local.base is not None:
        return [None] * len(table.keys)
    graphs: dict[int, str | None] = {}
    out: list[str | None] = []
    for tid, access, kind in table.keys:
        if kind == _TYPE_ID_LOCAL:
            out.append(None)
            continue
        g = graphs.get(tid, "")
        if g == "":
            try:
                g = hashlib.sha256(repr(_graph(local, tid)).encode()).hexdigest()
            except Exception:  # noqa: BLE001 - not describable: never cached
                g = None
            graphs[tid] = g
        if g is None:
            out.append(None)
            continue
        head = [kind, access, obj.byte_order, ptr, tid if kind == _TYPE_ID_TARGET else 0, g]
        out.append(hashlib.sha256(repr(head).encode()).hexdigest())
    return out


def piece_key(fingerprint: str, cands: Cands) -> str:
    return hashlib.sha256(f"{fingerprint}|{cands!r}".encode()).hexdigest()[:32]


# -- the record loop ----------------------------------------------------------

class LocalPlan(NamedTuple):
    """What replaying an object needs from the object alone."""

    obj: CoreObject
    table: SpecTable
    fingerprints: list[str | None]
    root_keys: dict[int, str]      # root type id -> "kind:essential name"
    programs: dict[tuple[str, int], str]   # memo of obj.program_at

    def program_of(self, rec: Any) -> str:
        where = (rec.section, rec.insn_off)
        name = self.programs.get(where)
        if name is None:
            name = self.programs[where] = self.obj.program_at(rec.section, rec.insn_off)
        return name


def _table(obj: CoreObject) -> SpecTable:
    table = getattr(obj, "spec_table", None)
    if table is None:
        table = local_spec_table(obj.btf, obj.relocations)
    return table


def plan(obj: CoreObject, fps: list[str | None] | None = None) -> LocalPlan:
    """Raises what ``analyze`` raises before resolving (``CoreSpecError``,
    compat input errors are the caller's)."""
    table = _table(obj)
    roots: dict[int, str] = {}
    for tid, _access, kind in table.keys:
        if kind != _TYPE_ID_LOCAL and tid not in roots:
            lt = obj.btf.type(tid)
            roots[tid] = f"{lt.kind}:{essential_name(lt.name)}"
    return LocalPlan(obj, table, fps if fps is not None else fingerprints(obj, table), roots, {})


class Replayed(NamedTuple):
    pieces: list[Piece]
    which: "array[int]"


def _local_piece(spec: Spec, tid: int) -> Piece:
    return Piece(_result_fields(_TYPE_ID_LOCAL, spec, _local_outcome(tid), None), None, {})


def replay(p: LocalPlan, source: PieceSource, missing: set[int] | None = None) -> Replayed | None:
    """``resolve_relocations``' walk (``core.resolve.walk_specs``) over
    pieces.  With ``missing``: roots (local type ids) whose pieces ``source``
    does not know are added to it, the walk goes on with the others, and
    None is returned if any was."""
    keys, specs, spec_which = p.table
    fps = p.fingerprints

    def resolve_one(g: int, cands: Cands) -> tuple[Piece, Cands | None] | None:
        piece = source.piece(fps[g], g, specs[g], cands)
        return None if piece is None else (piece, piece.pruned)

    walked = walk_specs(keys, spec_which, lambda g, tid: _local_piece(specs[g], tid),
                        lambda tid: source.candidates(p.root_keys[tid], tid), resolve_one, missing)
    return None if walked is None else Replayed(*walked)


class _Types(Mapping[Key, Type]):
    """The types of the marked keys, made when asked for (an emission found
    in a memo needs none)."""

    def __init__(self, keys: Iterable[Key], type_of: Callable[[Key], Type]):
        self._keys = list(keys)
        self._set = set(self._keys)
        self._type_of = type_of

    def __getitem__(self, key: Key) -> Type:
        if key not in self._set:
            raise KeyError(key)
        return self._type_of(key)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def compose(p: LocalPlan, r: Replayed, type_of: Callable[[Key], Type]) -> Any:
    """The ``ObjectAnalysis`` of a replay (``engine.analyze`` without wide
    marks); its types are made from ``type_of`` when asked for."""
    from btfembed.minimize.engine import ObjectAnalysis

    obj = p.obj
    records = obj.relocations
    marks: dict[Key, set[int]] = {}
    summaries = summaries_of(p, r)
    for i, piece in enumerate(r.pieces):
        if piece.error is not None:
            rec = records[r.which.index(i)]
            raise MinimizeError(f"{obj.source}: {p.program_of(rec)}: relo #{rec.index}: {piece.error}")
        for key, members in piece.marks.items():
            got = marks.get(key)
            if got is None:
                marks[key] = set(members)
            else:
                got.update(members)
    m1 = {k: frozenset(v) for k, v in marks.items()}
    return ObjectAnalysis(summaries, m1, None, _Types(m1, type_of))


def summaries_of(p: LocalPlan, r: Replayed) -> SummaryTable:
    """The summaries of a replay (``summarize_all`` of the resolution)."""
    return SummaryTable(p.obj.relocations, p.program_of, [piece.parts for piece in r.pieces], r.which)


# -- pieces against a target --------------------------------------------------

class KernelPieces:
    """Pieces computed against ``target`` (what ``analyze`` would compute);
    ``known`` (optional) is asked first, and told every computed piece."""

    def __init__(self, target: Target, obj: CoreObject, *, compat: bool, known: "PieceSink | None" = None,
                 marks: bool = True):
        self.target = target
        self.btfs = list(target.btfs)
        self.locate = locator(self.btfs)
        self.obj = obj
        self.compat = compat
        self.big_endian = obj.byte_order == "big"
        self.known = known
        self.marks = marks         # False: summaries only (pieces without marks)
        self.resolved = 0          # pieces computed (distinct relocations resolved against the target)

    def candidates(self, root_key: str, tid: int) -> Cands | None:
        if self.known is not None:
            hit = self.known.candidates(root_key, tid)
            if hit is not None:
                return hit
        t = self.target
        cands = tuple((self.locate(c.btf), c.id)
                      for c in find_candidates(self.obj.btf, tid, t.kernel, t.modules, t.userspace))
        if self.known is not None:
            self.known.add_candidates(root_key, cands)
        return cands

    def piece(self, fingerprint: str | None, g: int, spec: Spec, cands: Cands) -> Piece | None:
        if self.known is not None and fingerprint is not None:
            hit = self.known.piece(fingerprint, g, spec, cands)
            if hit is not None:
                return hit
        btfs = self.btfs
        objs = [Candidate(btfs[w], tid) for w, tid in cands]
        outcome, pruned = resolve(spec, objs, big_endian=self.big_endian)
        self.resolved += 1
        if pruned is objs:
            kept: Cands | None = None
        else:
            at = {id(c): k for c, k in zip(objs, cands)}
            kept = tuple(at[id(c)] for c in pruned)
        piece = self._piece(spec, outcome, kept)
        if self.known is not None and fingerprint is not None:
            self.known.add_piece(fingerprint, cands, piece, btfs)
        return piece

    def _piece(self, spec: Spec, o: Outcome, kept: Cands | None) -> Piece:
        parts = _result_fields(spec.kind, spec, o, self.locate)
        if not self.marks:
            return Piece(parts, kept, {})
        marks = Marks(self.btfs, compat=self.compat)
        error = None
        try:
            if o.failed:
                if self.compat:
                    error = f"{o.message or o.status}"
                else:
                    for _cand, tspec in o.matched:
                        marks.record(tspec)
            elif o.target is not None:
                marks.record(o.target)
        except UnsupportedMarkError as exc:
            error = str(exc)
        return Piece(parts, kept, {} if error is not None else marks.as_dict(), error)


class PieceSink(PieceSource, Protocol):
    def add_candidates(self, root_key: str, cands: Cands) -> None: ...

    def add_piece(self, fingerprint: str, cands: Cands, piece: Piece, btfs: Sequence[BTF]) -> None: ...
