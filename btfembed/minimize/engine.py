"""Minimizing kernel BTF for a set of BPF objects.

``minimize(objects, target)`` resolves every CO-RE relocation of every
object against the full target (kernel, plus modules), marks what the
results need, and emits a standalone BTF.  It is built from two steps that
the pipeline also uses separately (so it can cache per kernel and object):

* ``analyze(obj, target)``: one object against one target: the relocation
  summaries, the marks, and the original kernel types the marks refer to;
* ``assemble(objects, analyses, start_ids)``: the union of the marks
  emitted and checked, needing no kernel BTF.

Two modes:

* ``compat=True``: bpftool 7.1's algorithm exactly: the first matching
  candidate of each relocation is marked, and whatever bpftool refuses
  (ambiguity, unsupported kinds, objects without .BTF.ext) is refused.
* default: the same marks first, so the output is byte-identical to bpftool's
  whenever that output is right.  The result is then checked: each
  relocation is resolved again against the minimized BTF and must give what
  the full BTF gives.  If not, marking is widened step by step:

  1. bpftool's marks (ambiguous relocations: every candidate involved);
  2. + every candidate that matches a relocation on its own, ignoring the
     pruning of earlier relocations (duplicate same-named kernel types);
  3. + the whole type graph of every candidate of the relocations that still
     differ (needs the kernel BTF).

  If the output still differs, ``MinimizeError`` lists the relocations.
"""

from __future__ import annotations

from typing import AbstractSet, Callable, Mapping, NamedTuple, Protocol, Sequence

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.core.calc import Candidate
from btfembed.core.candidates import find_candidates
from btfembed.core.kinds import RelocKind
from btfembed.core.match import MatchError, spec_match
from btfembed.core.resolve import (
    Resolution, Target, prefetch, resolve_relocations, root_names,
)
from btfembed.minimize.blob import Emitted, Key, emit
from btfembed.minimize.levels import Level
from btfembed.minimize.owners import locator
from btfembed.errors import MinimizeError
from btfembed.minimize.marks import Marks, UnsupportedMarkError
from btfembed.core.objects import CoreObject
from btfembed.btf.types import Type
from btfembed.core.results import Difference, Summary, compare, summarize_all

__all__ = ["minimize", "Minimized", "MinimizeError", "resolve_object", "summarize_object",
           "ObjectAnalysis", "analyze", "assemble", "NeedsKernel", "check_compat_input", "CheckMemo", "EmitMemo"]


class NeedsKernel(MinimizeError):
    """``assemble`` could not make an equivalent BTF from the marks alone."""

    def __init__(self, diffs: list[tuple[int, Difference]]):
        super().__init__(f"{len(diffs)} relocation(s) differ")
        self.diffs = diffs


class ObjectAnalysis(NamedTuple):
    """What one object needs from one target; plain data (cacheable)."""

    summaries: Sequence[Summary]                   # per record (a SummaryTable when computed here)
    marks: dict[Key, frozenset[int]]               # bpftool's marks
    wide_marks: dict[Key, frozenset[int]] | None   # every candidate that matches on its own
                                                   # (None: not computed, see analyze(wide=))
    types: Mapping[Key, Type]                      # original types of every marked key


class Minimized(NamedTuple):
    data: bytes
    emitted: Emitted
    summaries: list[Sequence[Summary]]      # per object, against the full target
    level: Level                            # widening level used (COMPAT in compat mode)


def resolve_object(obj: CoreObject, target: Target) -> Resolution:
    # Objects that keep their specs deduplicated (BpfObject.spec_table) give
    # them as they are; others give one spec per record.
    table = getattr(obj, "spec_table", None)
    return resolve_relocations(obj.btf, obj.relocations, target, big_endian=obj.byte_order == "big",
                               program_of=lambda rec: obj.program_at(rec.section, rec.insn_off),
                               specs=None if table is not None else obj.specs, spec_table=table)


def _locator(target: Target) -> Callable[[object], int]:
    return locator(list(target.btfs))


def summarize_object(obj: CoreObject, target: Target) -> Sequence[Summary]:
    return summarize_all(resolve_object(obj, target), _locator(target))


def check_compat_input(obj: CoreObject) -> None:
    if not obj.has_ext:
        raise MinimizeError(f"{obj.source}: section .BTF.ext not found (bpftool refuses such objects)")


def analyze(obj: CoreObject, target: Target, *, compat: bool = False, wide: bool = False) -> ObjectAnalysis:
    """Resolve ``obj`` against ``target`` and record what it needs.  With
    ``wide``, also the marks of every matching candidate (widening level 2,
    needed only when bpftool's marks are not enough)."""
    btfs = list(target.btfs)
    if compat:
        check_compat_input(obj)
    results = resolve_object(obj, target)
    summaries = summarize_all(results, _locator(target))
    marks = Marks(btfs, compat=compat)
    # Each distinct outcome is marked once, in order of first use (repeats
    # would mark nothing new); errors name its first record.
    for p, (_local, o) in enumerate(results.distinct):
        try:
            if o.failed:
                if compat:
                    r = results[results.first_record(p)]
                    raise MinimizeError(f"{obj.source}: {r.program}: relo #{r.record.index}: {o.message or o.status}")
                for _cand, spec in o.matched:
                    marks.record(spec)
            elif o.target is not None:
                marks.record(o.target)
        except UnsupportedMarkError as exc:
            r = results[results.first_record(p)]
            raise MinimizeError(f"{obj.source}: {r.program}: relo #{r.record.index}: {exc}") from None
    wide_marks = Marks(btfs)
    if wide and not compat:
        cache: dict[int, list[Candidate]] = {}
        for local, o in results.distinct:
            if local.kind == RelocKind.TYPE_ID_LOCAL:
                continue
            root = local.root_type_id
            cands = cache.get(root)
            if cands is None:
                cands = cache[root] = find_candidates(obj.btf, root, target.kernel, target.modules, target.userspace)
            if not o.failed and len(o.considered) == len(cands):
                # The relocation saw every candidate (nothing pruned yet):
                # its matches are already all the matches.
                for _cand, matched_spec in o.matched:
                    wide_marks.record(matched_spec)
                continue
            for cand in cands:
                try:
                    wide_spec = spec_match(local, cand.btf, cand.id)
                except MatchError:
                    continue
                if wide_spec is not None:
                    wide_marks.record(wide_spec)
    m1 = marks.as_dict()
    m2 = wide_marks.as_dict() if wide and not compat else None
    types = {key: btfs[key[0]].type(key[1]) for key in set(m1) | set(m2 or ())}
    return ObjectAnalysis(summaries, m1, m2, types)


def _union(*mark_dicts: Mapping[Key, frozenset[int]]) -> dict[Key, frozenset[int]]:
    out: dict[Key, set[int]] = {}
    for d in mark_dicts:
        for key, members in d.items():
            out.setdefault(key, set()).update(members)
    return {k: frozenset(v) for k, v in out.items()}


class CheckMemo(Protocol):
    """What ``assemble`` asks while checking an emitted BTF.  ``clean(emitted)``
    gives the indices of objects known to resolve against ``emitted`` exactly
    as against the full target; ``add(emitted, indices)`` records newly
    checked ones; ``summarize(emitted, i, obj, mini)`` gives object ``i``'s
    summaries against ``emitted`` (``mini()`` makes the emitted BTF's
    target; ``summarize_object(obj, mini())`` is the plain answer).  Whatever
    a memo answers must depend on everything a check reads: the object, its
    summaries on the full target (the kernel and the options) and
    ``emitted`` (its bytes and ``old_ids``)."""

    def clean(self, emitted: Emitted) -> AbstractSet[int]: ...

    def add(self, emitted: Emitted, indices: AbstractSet[int]) -> None: ...

    def summarize(self, emitted: Emitted, i: int, obj: CoreObject,
                  mini: Callable[[], Target]) -> Sequence[Summary]: ...


def _check(objects: Sequence[CoreObject], summaries: Sequence[Sequence[Summary]],
           emitted: Emitted, memo: CheckMemo | None = None) -> list[tuple[int, Difference]]:
    known = memo.clean(emitted) if memo is not None else frozenset()
    todo = [i for i in range(len(objects)) if i not in known]
    if not todo:
        return []
    made: list[Target] = []

    def mini() -> Target:
        if not made:
            made.append(Target(BTF(emitted.data, source="<minimized>")))
        return made[0]

    diffs = []
    clean = set()
    for i in todo:
        if memo is not None:
            again = memo.summarize(emitted, i, objects[i], mini)
        else:
            again = summarize_object(objects[i], mini())
        found = compare(summaries[i], again, id_map=emitted.old_ids)
        diffs += [(i, d) for d in found]
        if not found:
            clean.add(i)
    if memo is not None and clean:
        memo.add(emitted, clean)
    return diffs


class EmitMemo(Protocol):
    """Emitted BTFs remembered by what ``emit`` makes them from (the marks,
    the start ids, byte order and header length); see ``assemble``."""

    def emitted(self, kept: Mapping[Key, AbstractSet[int]], start_ids: Sequence[int], byte_order: str,
                hdr_len: int) -> Emitted | None: ...

    def add(self, kept: Mapping[Key, AbstractSet[int]], start_ids: Sequence[int], byte_order: str, hdr_len: int,
            emitted: Emitted) -> None: ...


def _emit(analyses: Sequence[ObjectAnalysis], kept: dict[Key, frozenset[int]], start_ids: Sequence[int],
          byte_order: str, hdr_len: int, memo: EmitMemo | None) -> Emitted:
    if memo is not None:
        hit = memo.emitted(kept, start_ids, byte_order, hdr_len)
        if hit is not None:
            return hit
    types: dict[Key, Type] = {}
    for a in analyses:
        types.update(a.types)
    emitted = emit(kept, types.__getitem__, start_ids, byte_order=byte_order, hdr_len=hdr_len)
    if memo is not None:
        memo.add(kept, start_ids, byte_order, hdr_len, emitted)
    return emitted


def assemble(objects: Sequence[CoreObject], analyses: Sequence[ObjectAnalysis], start_ids: Sequence[int], *,
             compat: bool = False, byte_order: str = "little", hdr_len: int = wire.HEADER_LEN,
             check_memo: CheckMemo | None = None, emit_memo: EmitMemo | None = None) -> tuple[Emitted, Level]:
    """Emit the union of the analyses' marks and check it (default mode).

    Returns (emitted, level).  Raises ``NeedsKernel`` when the marks alone
    cannot give an equivalent BTF.  ``check_memo``: objects it knows to be
    clean against the emitted BTF are not checked again (see ``CheckMemo``);
    ``emit_memo``: emissions it knows are not made again (and the analyses'
    types then not read).
    """
    kept = _union(*(a.marks for a in analyses))
    emitted = _emit(analyses, kept, start_ids, byte_order, hdr_len, emit_memo)
    if compat:
        return emitted, Level.COMPAT
    summaries = [a.summaries for a in analyses]
    diffs = _check(objects, summaries, emitted, check_memo)
    if not diffs:
        return emitted, Level.BPFTOOL
    if any(a.wide_marks is None for a in analyses):
        raise NeedsKernel(diffs)
    kept = _union(kept, *(a.wide_marks for a in analyses if a.wide_marks is not None))  # none is None (above)
    emitted = _emit(analyses, kept, start_ids, byte_order, hdr_len, emit_memo)
    diffs = _check(objects, summaries, emitted, check_memo)
    if not diffs:
        return emitted, Level.MATCHES
    raise NeedsKernel(diffs)


def minimize(objects: Sequence[CoreObject], target: Target, *, compat: bool = False,
             byte_order: str | None = None, hdr_len: int = wire.HEADER_LEN,
             analyses: Sequence[ObjectAnalysis] | None = None) -> Minimized:
    """Minimize ``target`` for ``objects``; see the module documentation.

    ``analyses`` may hold precomputed ``analyze`` results (one per object).
    """
    if analyses is None:
        prefetch(target, set().union(*(root_names(o.btf, o.relocations) for o in objects)))
        analyses = [analyze(obj, target, compat=compat) for obj in objects]
    order = byte_order or ("little" if compat else target.kernel.byte_order)
    btfs = list(target.btfs)
    start_ids = [b.start_id for b in btfs]
    summaries = [a.summaries for a in analyses]
    try:
        emitted, level = assemble(objects, analyses, start_ids, compat=compat, byte_order=order, hdr_len=hdr_len)
        return Minimized(emitted.data, emitted, summaries, level)
    except NeedsKernel:
        pass
    # bpftool's marks were not enough: widen (this needs the kernel BTF).
    analyses = [a if a.wide_marks is not None else analyze(obj, target, wide=True)
                for obj, a in zip(objects, analyses)]
    try:
        emitted, level = assemble(objects, analyses, start_ids, byte_order=order, hdr_len=hdr_len)
        return Minimized(emitted.data, emitted, summaries, level)
    except NeedsKernel as exc:
        diffs = exc.diffs
    marks = Marks(btfs)
    for a in analyses:
        marks.add(a.marks)
        assert a.wide_marks is not None  # analyzed wide above
        marks.add(a.wide_marks)
    for i, d in diffs:
        for cand in find_candidates(objects[i].btf, _root_of(objects[i], d), target.kernel, target.modules, target.userspace):
            marks.mark_root(cand.btf, cand.id, True)
            marks.mark_type_match(marks.index_of(cand.btf), cand.id, False)
    emitted = emit(marks.as_dict(), lambda k: btfs[k[0]].type(k[1]), start_ids, byte_order=order, hdr_len=hdr_len)
    remaining = _check(objects, summaries, emitted)
    if remaining:
        lines = "; ".join(f"{objects[i].source}: {d.line()}" for i, d in remaining[:5])
        raise MinimizeError(f"cannot produce a minimized BTF equivalent to the full one: {lines}")
    return Minimized(emitted.data, emitted, summaries, Level.GRAPH)


def _root_of(obj: CoreObject, d: Difference) -> int:
    for rec in obj.relocations:
        if rec.section == d.section and rec.index == d.index:
            return rec.type_id
    raise KeyError(d)  # pragma: no cover - differences come from these records
