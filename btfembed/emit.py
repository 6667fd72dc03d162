"""Writing a minimized BTF from ``Marks``.

Types are emitted in ascending original id order (kernel first, then each
module), so the output keeps the kernel's relative order and does not depend
on the order objects were given in.  STRUCT/UNION records are rebuilt with
only their kept members (original offsets, kind_flag set only if a kept
member is a bitfield); every other record is copied as is.  References to
types that were not kept become 0 (void): in practice, pointees of pointers
that field relocations do not follow.  Strings are interned in first-use
order.  This is exactly how ``bpftool gen min_core_btf`` builds its output.
"""

from __future__ import annotations

from typing import NamedTuple

from btfembed import wire
from btfembed.marks import Marks
from btfembed.types import Composite, make_info
from btfembed.writer import Builder
from btfembed.wire import STRUCT, UNION

__all__ = ["emit", "Emitted"]


class Emitted(NamedTuple):
    data: bytes
    # (BTF index in Marks.btfs, original id) -> new id, and the reverse.
    new_ids: dict[tuple[int, int], int]
    old_ids: dict[int, tuple[int, int]]


def emit(marks: Marks, *, byte_order: str = "little", hdr_len: int = wire.HEADER_LEN) -> Emitted:
    order = [(where, tid) for where, kept in enumerate(marks.kept) for tid in sorted(kept)]
    new_ids = {key: new for new, key in enumerate(order, 1)}
    builder = Builder()
    for where, tid in order:
        btf = marks.btfs[where]
        t = btf.type(tid)

        def remap(old: int, _where: int = where) -> int:
            if old == 0:
                return 0
            return new_ids.get((marks._owner(_where, old), old), 0)

        if t.kind == STRUCT or t.kind == UNION:
            keep = marks.kept[where][tid]
            members = [m for i, m in enumerate(t.members) if i in keep]  # type: ignore[attr-defined]
            kflag = int(any(m.bitfield_size or m.bit_offset % 8 for m in members))
            t = Composite(t.kind, t.name, make_info(t.kind, len(members), kflag), t.size_type, t.name_off, members)
        builder.add(t, remap)
    data = builder.to_bytes(byte_order=byte_order, hdr_len=hdr_len)
    return Emitted(data, new_ids, {new: key for key, new in new_ids.items()})
