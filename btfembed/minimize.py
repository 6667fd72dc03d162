"""Minimizing kernel BTF for a set of BPF objects.

``minimize(objects, target)`` resolves every CO-RE relocation of every
object against the full target (kernel, plus modules), marks what the
results need, and emits a standalone BTF.

Two modes:

* ``compat=True``: bpftool 7.1's algorithm exactly: the first matching
  candidate of each relocation is marked, and whatever bpftool refuses
  (ambiguity, unsupported kinds, objects without .BTF.ext) is refused.
* default: the same marks first, so the output is byte-identical to bpftool's
  whenever that output is right.  The result is then checked in process: each
  relocation is resolved again against the minimized BTF and must give what
  the full BTF gives.  If not, marking is widened step by step:

  1. bpftool's marks (ambiguous relocations: every candidate involved);
  2. + every candidate that matches a relocation on its own, ignoring the
     pruning of earlier relocations (duplicate same-named kernel types);
  3. + the whole type graph of every candidate of the relocations that still
     differ.

  If the output still differs, ``MinimizeError`` lists the relocations.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from btfembed import wire
from btfembed.btf import BTF
from btfembed.core.candidates import find_candidates
from btfembed.core.kinds import RelocKind
from btfembed.core.match import MatchError, spec_match
from btfembed.core.resolve import RelocResult, Target, parse_local_specs, resolve_relocations
from btfembed.emit import Emitted, emit
from btfembed.errors import BTFEmbedError
from btfembed.marks import Marks, UnsupportedMarkError
from btfembed.objects import BpfObject
from btfembed.verify import Difference, compare_results

__all__ = ["minimize", "Minimized", "ObjectResults", "MinimizeError", "resolve_object"]


class MinimizeError(BTFEmbedError):
    """Minimization refused (compat mode) or impossible to make equivalent."""


class ObjectResults(NamedTuple):
    obj: BpfObject
    results: list[RelocResult]


class Minimized(NamedTuple):
    data: bytes
    emitted: Emitted
    results: list[ObjectResults]   # resolution against the full target
    level: int                     # widening level used (0 in compat mode)


def resolve_object(obj: BpfObject, target: Target) -> list[RelocResult]:
    specs = parse_local_specs(obj.btf, obj.relocations)
    return resolve_relocations(obj.btf, obj.relocations, target, big_endian=obj.byte_order == "big",
                               program_of=lambda rec: obj.program_at(rec.section, rec.insn_off), specs=specs)


def _bpftool_marks(marks: Marks, results: Sequence[ObjectResults], compat: bool) -> None:
    for objres in results:
        for r in objres.results:
            o = r.outcome
            if o.failed:
                if compat:
                    what = o.message or o.status
                    raise MinimizeError(f"{objres.obj.source}: {r.program}: relo #{r.record.index}: {what}")
                for _cand, spec in o.matched:
                    marks.record(spec)
            elif o.target is not None:
                try:
                    marks.record(o.target)
                except UnsupportedMarkError as exc:
                    raise MinimizeError(f"{objres.obj.source}: {r.program}: relo #{r.record.index}: {exc}") from None


def _all_matching_marks(marks: Marks, results: Sequence[ObjectResults], target: Target) -> None:
    for objres in results:
        cache: dict[int, list] = {}
        local = objres.obj.btf
        for r in objres.results:
            rec = r.record
            if rec.kind == RelocKind.TYPE_ID_LOCAL:
                continue
            cands = cache.get(rec.type_id)
            if cands is None:
                cands = cache[rec.type_id] = find_candidates(local, rec.type_id, target.kernel, target.modules)
            for cand in cands:
                try:
                    spec = spec_match(r.local, cand.btf, cand.id)
                except MatchError:
                    continue
                if spec is not None:
                    marks.record(spec)


def _whole_candidate_marks(marks: Marks, diffs: Sequence[tuple[BpfObject, Difference]],
                           results: Sequence[ObjectResults], target: Target) -> None:
    wanted = {(id(obj), d.section, d.index) for obj, d in diffs}
    for objres in results:
        for r in objres.results:
            if (id(objres.obj), r.record.section, r.record.index) not in wanted:
                continue
            for cand in find_candidates(objres.obj.btf, r.record.type_id, target.kernel, target.modules):
                marks.mark_root(cand.btf, cand.id, True)
                marks.mark_type_match(marks.index_of(cand.btf), cand.id, False)


def _check(emitted: Emitted, results: Sequence[ObjectResults], target: Target) -> list[tuple[BpfObject, Difference]]:
    mini = BTF(emitted.data, source="<minimized>")
    mini_target = Target(mini)
    # Minimized ids map back to full ids; only kernel ids can be compared
    # directly (module ids of a flat output map through the same table).
    id_map = {new: old for new, (where, old) in emitted.old_ids.items()}
    diffs = []
    for objres in results:
        again = resolve_object(objres.obj, mini_target)
        for d in compare_results(objres.results, again, full_btf=target.kernel, mini_btf=mini, id_map=id_map):
            diffs.append((objres.obj, d))
    return diffs


def minimize(objects: Sequence[BpfObject], target: Target, *, compat: bool = False,
             byte_order: str | None = None, hdr_len: int = wire.HEADER_LEN) -> Minimized:
    """Minimize ``target`` for ``objects``; see the module documentation."""
    results = [ObjectResults(obj, resolve_object(obj, target)) for obj in objects]
    if compat:
        for obj in objects:
            if not obj.has_ext:
                raise MinimizeError(f"{obj.source}: section .BTF.ext not found (bpftool refuses such objects)")
    order = byte_order or ("little" if compat else target.kernel.byte_order)
    btfs = [target.kernel, *target.modules]
    marks = Marks(btfs, compat=compat)
    _bpftool_marks(marks, results, compat)
    emitted = emit(marks, byte_order=order, hdr_len=hdr_len)
    if compat:
        return Minimized(emitted.data, emitted, results, 0)
    diffs = _check(emitted, results, target)
    level = 1
    while diffs and level < 3:
        level += 1
        if level == 2:
            _all_matching_marks(marks, results, target)
        else:
            _whole_candidate_marks(marks, diffs, results, target)
        emitted = emit(marks, byte_order=order, hdr_len=hdr_len)
        diffs = _check(emitted, results, target)
    if diffs:
        lines = "; ".join(f"{obj.source}: {d.line()}" for obj, d in diffs[:5])
        raise MinimizeError(f"cannot produce a minimized BTF equivalent to the full one: {lines}")
    return Minimized(emitted.data, emitted, results, level)
