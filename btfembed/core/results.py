"""Relocation summaries and their comparison (full BTF versus minimized BTF).

A ``Summary`` is the plain, serializable record of how one relocation
resolved: what ``explain`` prints, what reports and caches store, and what
equivalence is judged on.  Two summaries are equivalent when libbpf would do
the same thing with the instruction: same status (resolved / missing /
poisoned / ambiguous / error), same patched value, same poison and
memory-size decisions, same failure.  TYPE_ID_TARGET values are type ids of
the BTF used, so they legitimately differ; they are compared through the id
mapping when one is known, or by the kind and name of the type they
designate.
"""

from __future__ import annotations

from array import array
from typing import Any, Callable, Iterator, NamedTuple, Sequence, overload

from btfembed.core.kinds import KIND_LABELS, RelocKind
from btfembed.core.records import CoreRecord
from btfembed.core.resolve import RelocResult, Resolution
from btfembed.core.spec import Spec, describe_access
from btfembed.core.status import Status

__all__ = ["Summary", "Difference", "SummaryTable", "summarize", "summarize_all", "describe", "compare"]


class Summary(NamedTuple):
    program: str
    section: str
    index: int  # type: ignore[assignment]  # relocation number within its section (libbpf's "relo #N"); a field named like tuple.index
    insn: int             # instruction index within the section
    kind: RelocKind
    access: str           # the local access as names, e.g. "struct task_struct.pid"
    status: Status        # resolved, missing, poisoned, ambiguous, error (str-valued)
    code: str = ""        # ambiguous/error: offset, decision, EINVAL, E2BIG
    message: str = ""
    poison: bool = False
    orig_val: int = 0
    new_val: int = 0
    orig_sz: int = 0
    new_sz: int = 0
    fail_memsz_adjust: bool = False
    # TYPE_ID_TARGET only: (BTF index, original id) and (kind, name, size)
    # of the type the value designates.
    target: tuple[int, int] | None = None
    target_ident: tuple[int, str, int] | None = None


class Difference(NamedTuple):
    program: str
    section: str
    index: int  # type: ignore[assignment]  # a field named like tuple.index (kept: JSON keys, libbpf's "relo #N")
    insn: int
    kind: RelocKind
    access: str
    full: str
    minimized: str
    type_id_only: bool  # TYPE_ID_TARGET ids differ but designate the same type

    def line(self) -> str:
        return (f"{self.program} relo #{self.index} insn #{self.insn} {KIND_LABELS.get(self.kind, self.kind)} "
                f"{self.access}: full BTF {self.full}, minimized {self.minimized}")


# Summary's fields from ``kind`` on.
_Outcome = tuple[RelocKind, str, Status, str, str, bool, int, int, int, int, bool,
                 tuple[int, int] | None, tuple[int, str, int] | None]


def _result_fields(kind: int, local: Spec, o: "object", locate: Callable[[object], int] | None) -> _Outcome:
    """Summary fields from ``kind`` on: what depends on the outcome only."""
    v = o.values  # type: ignore[attr-defined]
    target = ident = None
    if kind == RelocKind.TYPE_ID_TARGET and o.status == "resolved" and o.target is not None:  # type: ignore[attr-defined]
        btf = o.target.btf  # type: ignore[attr-defined]
        tid = o.target.root_type_id  # type: ignore[attr-defined]
        t = btf.type(tid)
        target = (locate(btf) if locate else 0, tid)
        ident = (t.kind, t.name, t.size_type if t.kind in (1, 4, 5, 6, 16, 19) else 0)
    head = (RelocKind(kind), describe_access(local), o.status, o.code, o.message)  # type: ignore[attr-defined]
    if v is None:
        return head + (False, 0, 0, 0, 0, False, target, ident)
    return head + (v.poison, v.orig_val, v.new_val, v.orig_sz, v.new_sz, v.fail_memsz_adjust, target, ident)


def summarize(r: RelocResult, locate: Callable[[object], int] | None = None) -> Summary:
    """``locate(btf)`` gives the index of a target BTF (kernel 0, modules 1..)."""
    rec = r.record
    return Summary(r.program, rec.section, rec.index, rec.insn_off // 8,
                   *_result_fields(rec.kind, r.local, r.outcome, locate))


class SummaryTable(Sequence[Summary]):
    """Summaries of a ``Resolution``, made on demand: the result fields once
    per distinct outcome, the record's place (program, section, index,
    instruction) per record."""

    def __init__(self, records: Sequence[CoreRecord], program_of: Callable[[CoreRecord], str],
                 parts: list[tuple[Any, ...]], which: "array[int]"):
        self.records = records
        self.program_of = program_of
        self.parts = parts
        self.which = which
        self._all: tuple[Summary, ...] | None = None   # kept once iterated in full

    def __len__(self) -> int:
        return len(self.which)

    def _make(self, rec: CoreRecord, p: int) -> Summary:
        return Summary(self.program_of(rec), rec.section, rec.index, rec.insn_off // 8, *self.parts[p])

    @overload
    def __getitem__(self, i: int) -> Summary: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Summary, ...]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        if self._all is not None:
            return self._all[i]
        return self._make(self.records[i], self.which[i])

    def __iter__(self) -> Iterator[Summary]:
        if self._all is not None:
            yield from self._all
            return
        made = []
        for rec, p in zip(self.records, self.which):
            s = self._make(rec, p)
            made.append(s)
            yield s
        # Iterated in full (reports, caches, other processes): keep them, so
        # the next pass does not make them again.
        self._all = tuple(made)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        # Sent to other processes (and cached) as the plain tuple of summaries.
        return (tuple, (self._all if self._all is not None else tuple(self),))


def summarize_all(res: Resolution, locate: Callable[[object], int] | None = None) -> SummaryTable:
    """``summarize`` for every result of ``res``, computed once per distinct outcome."""
    parts = [_result_fields(spec.kind, spec, o, locate) for spec, o in res.distinct]
    return SummaryTable(res.records, res.program, parts, res.which)


def describe(s: Summary) -> str:
    """Short text for a result: ``1268``, ``poisoned``, ``missing (0)``, ``ambiguous: ...``."""
    if s.status == "resolved":
        text = str(s.new_val)
        if s.fail_memsz_adjust:
            text += " (field size changed: loads of it are poisoned)"
        elif s.new_sz != s.orig_sz:
            text += f" (load size {s.orig_sz} -> {s.new_sz})"
        return text
    if s.status == "missing":
        return "missing (0)"
    if s.status == "poisoned":
        return "poisoned"
    return f"{s.status}: {s.message}"


def _same(a: Summary, b: Summary, id_map: dict[int, tuple[int, int]] | None) -> tuple[bool, bool]:
    """(equivalent, differs only by a TYPE_ID_TARGET id)."""
    if a.status != b.status:
        return False, False
    if a.status == "error":
        return a.code == b.code, False
    if a.status == "ambiguous":
        if a.kind == RelocKind.TYPE_ID_TARGET:
            return a.code == b.code, False
        return a.message == b.message, False
    if (a.poison, a.fail_memsz_adjust, a.new_sz, a.orig_val) != (b.poison, b.fail_memsz_adjust, b.new_sz, b.orig_val):
        return False, False
    if a.kind == RelocKind.TYPE_ID_TARGET and a.status == "resolved":
        if id_map is not None:
            return id_map.get(b.new_val) == a.target, False
        if a.new_val == b.new_val:
            return True, False
        return a.target_ident == b.target_ident, a.target_ident == b.target_ident
    return a.new_val == b.new_val, False


def compare(full: Sequence[Summary], mini: Sequence[Summary], *,
            id_map: dict[int, tuple[int, int]] | None = None) -> list[Difference]:
    """Differences between two resolutions of the same relocations.

    ``id_map`` maps minimized type ids to (BTF index, full id) (known right
    after minimizing).  Without it, TYPE_ID_TARGET results designating types
    of the same kind and name are returned with ``type_id_only`` set.
    """
    if (isinstance(full, SummaryTable) and isinstance(mini, SummaryTable) and full.records is mini.records
            and len(full) == len(mini)):
        return _compare_tables(full, mini, id_map)
    out = []
    for a, b in zip(full, mini):
        ok, id_only = _same(a, b, id_map)
        if ok and not id_only:
            continue
        out.append(Difference(a.program, a.section, a.index, a.insn, a.kind, a.access,
                              describe(a), describe(b), id_only))
    return out


def _compare_tables(full: SummaryTable, mini: SummaryTable, id_map: dict[int, tuple[int, int]] | None) -> list[Difference]:
    """``compare`` judging each distinct pair of results once."""
    bad = set()
    for pa, pb in dict.fromkeys(zip(full.which, mini.which)):
        a = Summary("", "", 0, 0, *full.parts[pa])
        b = Summary("", "", 0, 0, *mini.parts[pb])
        ok, id_only = _same(a, b, id_map)
        if not ok or id_only:
            bad.add((pa, pb))
    if not bad:
        return []
    out = []
    for i, pair in enumerate(zip(full.which, mini.which)):
        if pair in bad:
            a, b = full[i], mini[i]
            ok, id_only = _same(a, b, id_map)
            out.append(Difference(a.program, a.section, a.index, a.insn, a.kind, a.access,
                                  describe(a), describe(b), id_only))
    return out
