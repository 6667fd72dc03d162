"""CO-RE relocation records as the engine takes them (plain data; parsed
from ``.BTF.ext`` by ``btfembed.inputs.ext``).

``RecordTable`` holds a whole object's records compactly (a few arrays of
integers, access strings shared), as a sequence of ``CoreRecord``: an object
with a million records costs megabytes, not hundreds of them.  Records are
made on demand.
"""

from __future__ import annotations

import bisect
from array import array
from typing import Iterator, NamedTuple, Sequence, overload

__all__ = ["CoreRecord", "RecordTable", "local_keys"]


class CoreRecord(NamedTuple):
    """One ``struct bpf_core_relo``, with its section name and access string
    resolved.  ``index`` counts records within their section (libbpf's
    "relo #N")."""

    section: str
    index: int  # type: ignore[assignment]  # a field named like tuple.index (kept: JSON keys, libbpf's "relo #N")
    insn_off: int      # bytes from the start of the ELF section
    type_id: int       # local root type id
    access: str        # e.g. "0:1:2"
    kind: int          # enum bpf_core_relo_kind


class RecordTable(Sequence[CoreRecord]):
    """Records in file order, grouped in blocks (one per section block of
    ``.BTF.ext``).  Compares equal to any sequence of the same records."""

    def __init__(self) -> None:
        self.sections: list[str] = []        # per block
        self.starts: list[int] = []          # per block: position of its first record
        self.insn_off = array("I")
        self.type_id = array("I")
        self.access_id = array("I")          # index into ``accesses``
        self.kind = array("I")
        self.accesses: list[str] = []
        self._access_ids: dict[str, int] = {}

    def root_ids(self, skip_kind: int) -> set[int]:
        """The distinct root type ids of records of other kinds than
        ``skip_kind`` (computed once per kind)."""
        memo = self.__dict__.setdefault("_roots", {})
        roots = memo.get(skip_kind)
        if roots is None:
            roots = memo[skip_kind] = {tid for tid, kind in set(zip(self.type_id, self.kind)) if kind != skip_kind}
        return set(roots)

    def access_index(self, access: str) -> int:
        i = self._access_ids.get(access)
        if i is None:
            i = self._access_ids[access] = len(self.accesses)
            self.accesses.append(access)
        return i

    def add_block(self, section: str, insn_off: Sequence[int], type_id: Sequence[int],
                  access_id: Sequence[int], kind: Sequence[int]) -> None:
        self.__dict__.pop("_roots", None)
        self.sections.append(section)
        self.starts.append(len(self.insn_off))
        if not self.insn_off and all(isinstance(a, array) and a.typecode == "I"
                                     for a in (insn_off, type_id, access_id, kind)):
            # The first block: take the arrays as they are (no copy).
            self.insn_off, self.type_id = insn_off, type_id  # type: ignore[assignment]
            self.access_id, self.kind = access_id, kind  # type: ignore[assignment]
            return
        self.insn_off.extend(insn_off)
        self.type_id.extend(type_id)
        self.access_id.extend(access_id)
        self.kind.extend(kind)

    def __len__(self) -> int:
        return len(self.insn_off)

    def _block(self, i: int) -> int:
        return bisect.bisect_right(self.starts, i) - 1

    @overload
    def __getitem__(self, i: int) -> CoreRecord: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[CoreRecord, ...]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        n = len(self.insn_off)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("record index out of range")
        b = self._block(i)
        return CoreRecord(self.sections[b], i - self.starts[b], self.insn_off[i], self.type_id[i],
                          self.accesses[self.access_id[i]], self.kind[i])

    def __iter__(self) -> Iterator[CoreRecord]:
        ends = self.starts[1:] + [len(self.insn_off)]
        accesses = self.accesses
        for sec, start, end in zip(self.sections, self.starts, ends):
            for j in range(start, end):
                yield CoreRecord(sec, j - start, self.insn_off[j], self.type_id[j],
                                 accesses[self.access_id[j]], self.kind[j])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __hash__(self) -> int:  # pragma: no cover - mutable-looking, never hashed
        raise TypeError("unhashable type: 'RecordTable'")

    def __repr__(self) -> str:
        return f"<RecordTable {len(self)} records, {len(self.sections)} blocks>"


def local_keys(records: Sequence[CoreRecord]) -> tuple[list[tuple[int, str, int]], "array[int]"]:
    """What a record's local spec depends on, deduplicated: the distinct
    (type id, access string, kind) triples in order of first occurrence,
    and for each record the index of its triple."""
    keys: list[tuple[int, str, int]] = []
    which: "array[int]" = array("I")
    seen: dict[tuple[int, int, int] | tuple[int, str, int], int] = {}
    if isinstance(records, RecordTable):
        accesses = records.accesses
        for raw in zip(records.type_id, records.access_id, records.kind):
            g = seen.get(raw)
            if g is None:
                g = seen[raw] = len(keys)
                keys.append((raw[0], accesses[raw[1]], raw[2]))
            which.append(g)
        return keys, which
    for rec in records:
        key = (rec.type_id, rec.access, rec.kind)
        g = seen.get(key)
        if g is None:
            g = seen[key] = len(keys)
            keys.append(key)
        which.append(g)
    return keys, which
