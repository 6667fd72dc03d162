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

from typing import Callable, Mapping, NamedTuple, Sequence

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
from btfembed.errors import BTFEmbedError, MinimizeError
from btfembed.minimize.marks import Marks, UnsupportedMarkError
from btfembed.core.objects import CoreObject
from btfembed.btf.types import Type
from btfembed.core.results import Difference, Summary, compare, summarize_all

__all__ = ["minimize", "Minimized", "MinimizeError", "resolve_object", "summarize_object",
           "ObjectAnalysis", "analyze", "assemble", "NeedsKernel", "check_compat_input"]


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
    types: dict[Key, Type]                         # original types of every marked key


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


def _check(objects: Sequence[CoreObject], summaries: Sequence[Sequence[Summary]],
           emitted: Emitted) -> list[tuple[int, Difference]]:
    mini = Target(BTF(emitted.data, source="<minimized>"))
    diffs = []
    for i, (obj, full) in enumerate(zip(objects, summaries)):
        again = summarize_object(obj, mini)
        diffs += [(i, d) for d in compare(full, again, id_map=emitted.old_ids)]
    return diffs


def assemble(objects: Sequence[CoreObject], analyses: Sequence[ObjectAnalysis], start_ids: Sequence[int], *,
             compat: bool = False, byte_order: str = "little", hdr_len: int = wire.HEADER_LEN) -> tuple[Emitted, Level]:
    """Emit the union of the analyses' marks and check it (default mode).

    Returns (emitted, level).  Raises ``NeedsKernel`` when the marks alone
    cannot give an equivalent BTF.
    """
    types: dict[Key, Type] = {}
    for a in analyses:
        types.update(a.types)
    kept = _union(*(a.marks for a in analyses))
    emitted = emit(kept, types.__getitem__, start_ids, byte_order=byte_order, hdr_len=hdr_len)
    if compat:
        return emitted, Level.COMPAT
    summaries = [a.summaries for a in analyses]
    diffs = _check(objects, summaries, emitted)
    if not diffs:
        return emitted, Level.BPFTOOL
    if any(a.wide_marks is None for a in analyses):
        raise NeedsKernel(diffs)
    kept = _union(kept, *(a.wide_marks for a in analyses if a.wide_marks is not None))  # none is None (above)
    emitted = emit(kept, types.__getitem__, start_ids, byte_order=byte_order, hdr_len=hdr_len)
    diffs = _check(objects, summaries, emitted)
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
