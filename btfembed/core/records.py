"""CO-RE relocation records as the engine takes them (plain data; parsed
from ``.BTF.ext`` by ``btfembed.inputs.ext``)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CoreRecord"]


class CoreRecord(NamedTuple):
    """One ``struct bpf_core_relo``, with its section name and access string
    resolved.  ``index`` counts records within their section (libbpf's
    "relo #N")."""

    section: str
    index: int
    insn_off: int      # bytes from the start of the ELF section
    type_id: int       # local root type id
    access: str        # e.g. "0:1:2"
    kind: int          # enum bpf_core_relo_kind
