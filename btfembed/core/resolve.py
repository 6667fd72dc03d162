"""Resolving all CO-RE relocations of one object against one target.

Relocations are processed in ``.BTF.ext`` order with one candidate list per
local root type, shared and pruned across the object as libbpf does.

Each distinct relocation is resolved once.  A record's outcome depends only
on its local spec (its root type id, access string and kind) and on the
candidate list of its root type at that point (which earlier records may
have pruned); records that repeat both share one outcome.  Lists are never
modified in place (pruning makes a new one), so a list's identity stands for
its contents.  The result, ``Resolution``, is a sequence of ``RelocResult``
made on demand from the distinct outcomes and one small integer per record.
"""

from __future__ import annotations

from array import array
from typing import Callable, Iterator, NamedTuple, Sequence, TypeVar, overload

from btfembed.btf.reader import BTF
from btfembed.core.calc import Candidate, Outcome, Values, resolve
from btfembed.core.candidates import find_candidates
from btfembed.core.kinds import RelocKind
from btfembed.core.spec import Spec, parse_spec
from btfembed.errors import CoreSpecError
from btfembed.btf.strings import essential_name
from btfembed.core.records import CoreRecord, RecordTable, local_keys

__all__ = ["Target", "RelocResult", "Resolution", "SpecTable", "resolve_relocations", "parse_local_specs",
           "local_spec_table", "root_names", "prefetch", "walk_specs"]

_TYPE_ID_LOCAL = int(RelocKind.TYPE_ID_LOCAL)


class Target(NamedTuple):
    """What relocations resolve against: a kernel BTF, optional module BTFs
    (split on top of it, searched only when the kernel has no candidate)
    and optional user-space BTFs (standalone BTF of applications, searched
    together with the kernel's types as in one merged BTF file)."""

    kernel: BTF
    modules: tuple[BTF, ...] = ()
    userspace: tuple[BTF, ...] = ()

    @property
    def btfs(self) -> tuple[BTF, ...]:
        """Every BTF in index order (the index in marks and type keys): the
        kernel (0), the modules, then the user-space BTFs."""
        return (self.kernel, *self.modules, *self.userspace)


class RelocResult(NamedTuple):
    record: CoreRecord
    program: str
    local: Spec
    outcome: Outcome


class SpecTable(NamedTuple):
    """An object's local specs, deduplicated: ``specs[which[i]]`` is record
    ``i``'s spec; ``keys[g]`` is (root type id, access, kind) of ``specs[g]``."""

    keys: list[tuple[int, str, int]]
    specs: list[Spec]
    which: "array[int]"


def _root_ids(records: Sequence[CoreRecord]) -> set[int]:
    if isinstance(records, RecordTable):
        return records.root_ids(_TYPE_ID_LOCAL)
    return {rec.type_id for rec in records if rec.kind != _TYPE_ID_LOCAL}


def root_names(local: BTF, records: Sequence[CoreRecord]) -> set[str]:
    """Essential names of the local root types the records look up."""
    return {essential_name(local.type(tid).name) for tid in _root_ids(records) if 0 < tid < local.type_cnt}


def prefetch(target: Target, names: set[str]) -> None:
    """Look all candidate names up in one pass per BTF (see
    ``BTF.prefetch_essential_names``); a speed-up only."""
    for btf in target.btfs:
        btf.prefetch_essential_names(sorted(names))


def local_spec_table(local: BTF, records: Sequence[CoreRecord]) -> SpecTable:
    """Parse each distinct local spec once.  Raises ``CoreSpecError``
    (naming the first record, in file order, that libbpf would refuse
    regardless of the kernel)."""
    keys, which = local_keys(records)
    offs = records.insn_off if isinstance(records, RecordTable) else [rec.insn_off for rec in records]
    bad_insn = next((i for i, off in enumerate(offs) if off % 8), len(offs))
    specs: list[Spec] = []
    for g, (tid, access, kind) in enumerate(keys):
        try:
            spec = parse_spec(local, tid, access, kind)
            if kind != _TYPE_ID_LOCAL and not local.type(tid).name:
                raise CoreSpecError("relocations against anonymous types are not supported")
        except CoreSpecError as exc:
            first = which.index(g)
            if bad_insn <= first:
                break
            rec = records[first]
            raise CoreSpecError(f"CO-RE relocation #{rec.index} in section {rec.section!r}: {exc.message}",
                                source=local.source) from None
        specs.append(spec)
    if bad_insn < len(offs):
        rec = records[bad_insn]
        raise CoreSpecError(f"CO-RE relocation #{rec.index} in section {rec.section!r}: instruction offset "
                            f"{rec.insn_off} is not a multiple of 8", source=local.source)
    return SpecTable(keys, specs, which)


def parse_local_specs(local: BTF, records: Sequence[CoreRecord]) -> list[Spec]:
    """Every record's local spec (records repeating one share it); raises
    ``CoreSpecError`` as ``local_spec_table`` does."""
    table = local_spec_table(local, records)
    return [table.specs[g] for g in table.which]


class Resolution(Sequence[RelocResult]):
    """The results of one object's records, in record order.

    ``distinct`` holds each distinct (local spec, outcome) once, in order of
    first use; ``which[i]`` is the index of record ``i``'s pair."""

    def __init__(self, records: Sequence[CoreRecord], program_of: Callable[[CoreRecord], str] | None,
                 distinct: list[tuple[Spec, Outcome]], which: "array[int]"):
        self.records = records
        self.program_of = program_of
        self.distinct = distinct
        self.which = which

    def __len__(self) -> int:
        return len(self.which)

    def program(self, rec: CoreRecord) -> str:
        return self.program_of(rec) if self.program_of else rec.section

    def first_record(self, p: int) -> int:
        """Index of the first record whose pair is ``distinct[p]``."""
        return self.which.index(p)

    @overload
    def __getitem__(self, i: int) -> RelocResult: ...
    @overload
    def __getitem__(self, i: slice) -> list[RelocResult]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        rec = self.records[i]
        spec, outcome = self.distinct[self.which[i]]
        return RelocResult(rec, self.program(rec), spec, outcome)

    def __iter__(self) -> Iterator[RelocResult]:
        distinct = self.distinct
        for rec, p in zip(self.records, self.which):
            spec, outcome = distinct[p]
            yield RelocResult(rec, self.program(rec), spec, outcome)


def _local_outcome(rec_type_id: int) -> Outcome:
    res = Values()
    res.validate = False
    res.orig_val = res.new_val = rec_type_id
    return Outcome("resolved", res, None, [], [])


def _specs_by_root(keys: Sequence[tuple[int, str, int]]) -> dict[int, list[int]]:
    """Local root type id -> indexes of the distinct specs on it (keys as
    ``(root id, access, kind)``; TYPE_ID_LOCAL specs need no candidates
    and are left out): the specs whose memo a pruned list invalidates."""
    out: dict[int, list[int]] = {}
    for g, (tid, _access, kind) in enumerate(keys):
        if kind != _TYPE_ID_LOCAL:
            out.setdefault(tid, []).append(g)
    return out


def resolve_relocations(local: BTF, records: Sequence[CoreRecord], target: Target, *,
                        big_endian: bool = False,
                        program_of: Callable[[CoreRecord], str] | None = None,
                        specs: Sequence[Spec] | None = None,
                        spec_table: SpecTable | None = None) -> Resolution:
    """Resolve ``records`` (one object's, in file order) against ``target``."""
    if spec_table is None:
        if specs is not None:
            # Given per record: group them by identity.
            ids: dict[int, int] = {}
            which: "array[int]" = array("I")
            distinct_specs: list[Spec] = []
            keys: list[tuple[int, str, int]] = []
            for rec, spec in zip(records, specs):
                g = ids.get(id(spec))
                if g is None:
                    g = ids[id(spec)] = len(distinct_specs)
                    distinct_specs.append(spec)
                    keys.append((rec.type_id, rec.access, rec.kind))
                which.append(g)
            spec_table = SpecTable(keys, distinct_specs, which)
        else:
            spec_table = local_spec_table(local, records)
    keys, specs_g, spec_which = spec_table
    prefetch(target, root_names(local, records))

    def candidates(tid: int) -> list[Candidate]:
        return find_candidates(local, tid, target.kernel, target.modules, target.userspace)

    def resolve_one(g: int, cands: list[Candidate]) -> tuple[tuple[Spec, Outcome], list[Candidate] | None]:
        outcome, pruned = resolve(specs_g[g], cands, big_endian=big_endian)
        return (specs_g[g], outcome), (pruned if pruned is not cands else None)

    walked = walk_specs(keys, spec_which, lambda g, tid: (specs_g[g], _local_outcome(tid)), candidates, resolve_one)
    assert walked is not None  # nothing is unknown here
    distinct, out = walked
    return Resolution(records, program_of, distinct, out)


_Item = TypeVar("_Item")
_Cands = TypeVar("_Cands")


def walk_specs(keys: Sequence[tuple[int, str, int]], spec_which: Sequence[int],
               local: Callable[[int, int], _Item],
               candidates: Callable[[int], _Cands | None],
               resolve_one: Callable[[int, _Cands], tuple[_Item, _Cands | None] | None],
               missing: set[int] | None = None) -> tuple[list[_Item], "array[int]"] | None:
    """libbpf's walk over an object's relocations, each distinct one met
    once: for every record (``spec_which``: its spec index into ``keys``,
    ``(root id, access, kind)``), in order, the index of its item in the
    returned list, and the list.

    ``local(g, root)`` makes the item of a TYPE_ID_LOCAL spec (no
    candidates).  ``candidates(root)`` gives a root's first candidate list;
    ``resolve_one(g, cands)`` gives spec ``g``'s item under ``cands`` and
    the pruned list that replaces ``cands`` for later records of the root
    (None: not pruned).  A spec's item is reused until its root's list is
    pruned.  Either callback may answer None (not known): with ``missing``
    the root is added to it, its later records are passed over, and None is
    returned at the end; without it that raises ``KeyError``."""
    lists: dict[int, tuple[_Cands, int]] = {}     # root -> (candidate list, its version)
    memo: dict[tuple[int, int], int] = {}         # (spec, list version) -> item index
    items: list[_Item] = []
    out: "array[int]" = array("I")
    version = 0
    # current[g]: the item of spec g under its root's current list (-1: not
    # known); cleared for all specs of a root when its list is pruned.
    current = [-1] * len(keys)
    specs_of_root = _specs_by_root(keys)
    dead: set[int] = set()       # roots met unknown: their later records are passed over

    def unknown(tid: int) -> None:
        if missing is None:
            raise KeyError(tid)
        missing.add(tid)
        dead.add(tid)

    append = out.append
    for g in spec_which:
        p = current[g]
        if p >= 0:
            append(p)
            continue
        tid, _access, kind = keys[g]
        if kind == _TYPE_ID_LOCAL:
            p = current[g] = len(items)
            items.append(local(g, tid))
            append(p)
            continue
        if tid in dead:
            continue
        state = lists.get(tid)
        if state is None:
            cands = candidates(tid)
            if cands is None:
                unknown(tid)
                continue
            version += 1
            state = lists[tid] = (cands, version)
        mk = (g, state[1])
        known = memo.get(mk)
        if known is not None:
            p = known
        else:
            got = resolve_one(g, state[0])
            if got is None:
                unknown(tid)
                continue
            item, pruned = got
            p = memo[mk] = len(items)
            items.append(item)
            if pruned is not None:
                version += 1
                lists[tid] = (pruned, version)
                for other in specs_of_root[tid]:
                    current[other] = -1
                append(p)
                continue
        current[g] = p
        append(p)
    if missing:
        return None
    return items, out
