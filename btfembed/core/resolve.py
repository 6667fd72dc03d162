"""Resolving all CO-RE relocations of one object against one target.

Relocations are processed in ``.BTF.ext`` order with one candidate list per
local root type, shared and pruned across the object as libbpf does.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from btfembed.btf.reader import BTF
from btfembed.core.calc import Candidate, Outcome, Values, resolve
from btfembed.core.candidates import find_candidates
from btfembed.core.kinds import RelocKind
from btfembed.core.spec import Spec, parse_spec
from btfembed.errors import CoreSpecError
from btfembed.btf.strings import essential_name
from btfembed.core.records import CoreRecord

__all__ = ["Target", "RelocResult", "resolve_relocations", "parse_local_specs", "root_names", "prefetch"]


class Target(NamedTuple):
    """What relocations resolve against: a kernel BTF and optional module
    BTFs (split on top of it), searched only when the kernel has no
    candidate."""

    kernel: BTF
    modules: tuple[BTF, ...] = ()


class RelocResult(NamedTuple):
    record: CoreRecord
    program: str
    local: Spec
    outcome: Outcome


def root_names(local: BTF, records: Sequence[CoreRecord]) -> set[str]:
    """Essential names of the local root types the records look up."""
    return {essential_name(local.type(rec.type_id).name) for rec in records
            if rec.kind != RelocKind.TYPE_ID_LOCAL and 0 < rec.type_id < local.type_cnt}


def prefetch(target: Target, names: set[str]) -> None:
    """Look all candidate names up in one pass per BTF (see
    ``BTF.prefetch_essential_names``); a speed-up only."""
    for btf in (target.kernel, *target.modules):
        btf.prefetch_essential_names(sorted(names))


def parse_local_specs(local: BTF, records: Sequence[CoreRecord]) -> list[Spec]:
    """Parse every record's local spec; raises ``CoreSpecError`` (naming the
    record) for what libbpf would refuse regardless of the kernel."""
    specs = []
    source = local.source  # names the object in error messages
    for rec in records:
        where = f"CO-RE relocation #{rec.index} in section {rec.section!r}"
        if rec.insn_off % 8:
            raise CoreSpecError(f"{where}: instruction offset {rec.insn_off} is not a multiple of 8", source=source)
        try:
            spec = parse_spec(local, rec.type_id, rec.access, rec.kind)
        except CoreSpecError as exc:
            raise CoreSpecError(f"{where}: {exc.message}", source=source) from None
        if rec.kind != RelocKind.TYPE_ID_LOCAL and not local.type(rec.type_id).name:
            raise CoreSpecError(f"{where}: relocations against anonymous types are not supported", source=source)
        specs.append(spec)
    return specs


def resolve_relocations(local: BTF, records: Sequence[CoreRecord], target: Target, *,
                        big_endian: bool = False,
                        program_of: Callable[[CoreRecord], str] | None = None,
                        specs: Sequence[Spec] | None = None) -> list[RelocResult]:
    """Resolve ``records`` (one object's, in file order) against ``target``."""
    if specs is None:
        specs = parse_local_specs(local, records)
    prefetch(target, root_names(local, records))
    cache: dict[int, list[Candidate]] = {}
    out: list[RelocResult] = []
    for rec, spec in zip(records, specs):
        program = program_of(rec) if program_of else rec.section
        if rec.kind == RelocKind.TYPE_ID_LOCAL:
            res = Values()
            res.validate = False
            res.orig_val = res.new_val = rec.type_id
            out.append(RelocResult(rec, program, spec, Outcome("resolved", res, None, [], [])))
            continue
        cands = cache.get(rec.type_id)
        if cands is None:
            cands = find_candidates(local, rec.type_id, target.kernel, target.modules)
        outcome, cache[rec.type_id] = resolve(spec, cands, big_endian=big_endian)
        out.append(RelocResult(rec, program, spec, outcome))
    return out
