"""Candidate search (libbpf ``bpf_core_find_cands``).

Candidates for a local root type are the target types with a core-compatible
kind (same kind, or ENUM/ENUM64 mixed) and the same *essential* name (the
name without a ``___flavor`` suffix), in id order.  The kernel's own BTF is
searched first; module BTFs are searched only when it has no candidate.

User-space BTFs (an application's types, ``--userspace``) are searched
together with the kernel's: libbpf is handed one BTF file holding both
(``btf_custom_path``), so it sees the kernel's types and the application's
as one list, kernel first.  Module BTFs are searched only when neither has
a candidate.
"""

from __future__ import annotations

from typing import Sequence

from btfembed.btf.reader import BTF
from btfembed.core.calc import Candidate
from btfembed.core.match import kind_core_compat
from btfembed.btf.strings import essential_name

__all__ = ["find_candidates"]


def _from(btf: BTF, essential: str, local_kind: int) -> list[Candidate]:
    return [Candidate(btf, tid) for tid in btf.find_by_essential_name(essential)
            if kind_core_compat(btf.kind(tid), local_kind)]


def find_candidates(local: BTF, local_id: int, kernel: BTF, modules: Sequence[BTF] = (),
                    userspace: Sequence[BTF] = ()) -> list[Candidate]:
    lt = local.type(local_id)
    essential = essential_name(lt.name)
    if not essential:
        return []
    cands = _from(kernel, essential, lt.kind)
    for app in userspace:
        cands.extend(_from(app, essential, lt.kind))
    if cands:
        return cands
    for mod in modules:
        cands.extend(_from(mod, essential, lt.kind))
    return cands
