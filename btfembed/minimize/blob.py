"""Writing a minimized BTF from marks.

Types are emitted in ascending original id order (kernel first, then each
module), so the output keeps the kernel's relative order and does not depend
on the order objects were given in.  STRUCT/UNION records are rebuilt with
only their kept members (original offsets, kind_flag set only if a kept
member is a bitfield); every other record is copied as is.  References to
types that were not kept become 0 (void): in practice, pointees of pointers
that field relocations do not follow.  Strings are interned in first-use
order.  This is exactly how ``bpftool gen min_core_btf`` builds its output.

Marks are plain data here: a mapping from (BTF index, type id) to kept
member indices, and a function giving the original type for a key, so the
output can be assembled from cached pieces without the kernel BTF.
"""

from __future__ import annotations

from typing import AbstractSet, Callable, Mapping, NamedTuple, Sequence

from btfembed.btf import wire
from btfembed.btf.types import Composite, Type, make_info
from btfembed.btf.writer import Builder
from btfembed.btf.wire import STRUCT, UNION

from btfembed.minimize.owners import owner

__all__ = ["emit", "Emitted", "Key"]

Key = tuple[int, int]  # (BTF index: 0 kernel, 1.. modules; type id)


class Emitted(NamedTuple):
    data: bytes
    new_ids: dict[Key, int]    # (BTF index, original id) -> new id
    old_ids: dict[int, Key]    # new id -> (BTF index, original id)


def emit(kept: Mapping[Key, AbstractSet[int]], type_of: Callable[[Key], Type], start_ids: Sequence[int], *,
         byte_order: str = "little", hdr_len: int = wire.HEADER_LEN) -> Emitted:
    """``start_ids[i]``: first id defined by BTF ``i`` (module ids below it
    refer to the kernel)."""
    order = sorted(kept)
    new_ids = {key: new for new, key in enumerate(order, 1)}
    builder = Builder()
    for key in order:
        where = key[0]
        t = type_of(key)

        def remap(old: int, _where: int = where) -> int:
            if old == 0:
                return 0
            return new_ids.get((owner(start_ids, _where, old), old), 0)

        if t.kind == STRUCT or t.kind == UNION:
            keep = kept[key]
            members = [m for i, m in enumerate(t.members) if i in keep]  # type: ignore[attr-defined]
            kflag = int(any(m.bitfield_size or m.bit_offset % 8 for m in members))
            t = Composite(t.kind, t.name, make_info(t.kind, len(members), kflag), t.size_type, t.name_off, members)
        builder.add(t, remap)
    data = builder.to_bytes(byte_order=byte_order, hdr_len=hdr_len)
    return Emitted(data, new_ids, {new: key for key, new in new_ids.items()})
