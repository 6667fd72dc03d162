"""One flat BTF from a kernel BTF and application BTFs.

This is what a uprobe user passes to libbpf as ``btf_custom_path`` so that
CO-RE relocations find the traced application's types: the kernel's type
records and strings first, byte for byte (ids unchanged), then each
application's types, their references shifted past the types before them
and their names appended to the string table.  Candidates for a relocation
then come from every part at once, as libbpf sees them in the merged file.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import Sequence

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.btf.types import encode_words

__all__ = ["merge_flat"]


def merge_flat(kernel: BTF, apps: Sequence[BTF], *, hdr_len: int = wire.HEADER_LEN) -> tuple[bytes, list[int]]:
    """(merged BTF bytes, first id of each application's types in it).
    ``kernel`` and ``apps`` must be standalone (not split) BTFs."""
    for b in (kernel, *apps):
        if b.base is not None:
            raise ValueError("split BTF cannot be merged")
    h = kernel.header
    raw = kernel.raw
    types = bytes(raw[h.hdr_len + h.type_off:h.hdr_len + h.type_off + h.type_len])
    strings = bytearray(raw[h.hdr_len + h.str_off:h.hdr_len + h.str_off + h.str_len])
    interned: dict[str, int] = {}

    def name_off(name: str, _old: int) -> int:
        if not name:
            return 0
        off = interned.get(name)
        if off is None:
            off = interned[name] = len(strings)
            strings.extend(name.encode("utf-8", "surrogateescape") + b"\0")
        return off

    words = array("I")
    next_id = kernel.type_cnt
    starts = []
    for app in apps:
        shift = next_id - 1
        starts.append(next_id)
        def shifted(old: int, _s: int = shift) -> int:
            return old + _s if old else 0

        for _tid, t in app.types():
            words.extend(encode_words(t, name_off, shifted))
        next_id += app.type_cnt - 1
    if (kernel.byte_order == "big") != (sys.byteorder == "big"):
        words.byteswap()
    body = types + words.tobytes()
    end = "<" if kernel.byte_order == "little" else ">"
    header = struct.pack(end + "HBBIIIII", wire.MAGIC, wire.VERSION, 0, hdr_len, 0, len(body), len(body),
                         len(strings))
    header += b"\0" * (hdr_len - len(header))
    return header + body + bytes(strings), starts
