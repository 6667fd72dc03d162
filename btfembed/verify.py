"""Comparing relocation results: full kernel BTF versus a minimized BTF.

Two results are equivalent when libbpf would do the same thing with the
instruction: same status (resolved / missing / poisoned / ambiguous /
error), same patched value, same poison and memory-size decisions, same
error text.  TYPE_ID_TARGET values are type ids of the BTF used, so they
legitimately differ; they are compared through the id mapping when one is
known, or by the kind and name of the type they designate.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from btfembed.btf import BTF
from btfembed.core.calc import Outcome
from btfembed.core.kinds import KIND_LABELS, RelocKind
from btfembed.core.resolve import RelocResult
from btfembed.core.spec import format_spec

__all__ = ["Difference", "describe", "compare_results"]


class Difference(NamedTuple):
    program: str
    section: str
    index: int          # relocation number within its section (libbpf's "relo #N")
    insn: int           # instruction index within the section
    kind: int
    spec: str
    full: str
    minimized: str
    type_id_only: bool  # a TYPE_ID_TARGET difference whose target is otherwise the same

    def line(self) -> str:
        return (f"{self.program} relo #{self.index} insn #{self.insn} {KIND_LABELS.get(self.kind, self.kind)} "
                f"{self.spec}: full BTF {self.full}, minimized {self.minimized}")


def describe(outcome: Outcome) -> str:
    """Short text for a result: ``1268``, ``poisoned``, ``missing (0)``, ``ambiguous: ...``."""
    v = outcome.values
    if outcome.status == "resolved":
        text = str(v.new_val) if v is not None else "?"
        if v is not None and v.fail_memsz_adjust:
            text += " (size mismatch: loads poisoned)"
        elif v is not None and v.new_sz != v.orig_sz:
            text += f" (load size {v.orig_sz} -> {v.new_sz})"
        return text
    if outcome.status == "missing":
        return "missing (0)"
    if outcome.status == "poisoned":
        return "poisoned"
    return f"{outcome.status}: {outcome.message}"


def _target_identity(btf: BTF, tid: int) -> tuple:
    t = btf.type(tid)
    return (t.kind, t.name, t.size_type if t.kind in (1, 4, 5, 6, 16, 19) else None)


def _same(kind: int, a: Outcome, b: Outcome, a_btf: BTF | None, b_btf: BTF | None,
          id_map: dict[int, int] | None) -> tuple[bool, bool]:
    """(equivalent, differs only by TYPE_ID_TARGET id)."""
    if a.status != b.status:
        return False, False
    if a.status == "error":
        return a.code == b.code, False
    if a.status == "ambiguous":
        if kind == RelocKind.TYPE_ID_TARGET:
            return a.code == b.code, False
        return a.message == b.message, False
    va, vb = a.values, b.values
    if va is None or vb is None:
        return va is vb, False
    if (va.poison, va.fail_memsz_adjust, va.new_sz, va.orig_val) != (vb.poison, vb.fail_memsz_adjust, vb.new_sz, vb.orig_val):
        return False, False
    if kind == RelocKind.TYPE_ID_TARGET and a.status == "resolved":
        if id_map is not None:
            return id_map.get(vb.new_val) == va.new_val, False
        if va.new_val == vb.new_val:
            return True, False
        same_type = (a_btf is not None and b_btf is not None
                     and _target_identity(a_btf, va.new_val) == _target_identity(b_btf, vb.new_val))
        return same_type, same_type
    return va.new_val == vb.new_val, False


def compare_results(full: Sequence[RelocResult], mini: Sequence[RelocResult], *,
                    full_btf: BTF | None = None, mini_btf: BTF | None = None,
                    id_map: dict[int, int] | None = None) -> list[Difference]:
    """Differences between two resolutions of the same relocations.

    ``id_map`` maps minimized type ids back to full ids (known right after
    minimizing).  Without it, TYPE_ID_TARGET results that designate types of
    the same kind and name are returned with ``type_id_only`` set.
    """
    out = []
    for f, m in zip(full, mini):
        rec = f.record
        ok, id_only = _same(rec.kind, f.outcome, m.outcome, full_btf, mini_btf, id_map)
        if ok and not id_only:
            continue
        out.append(Difference(f.program, rec.section, rec.index, rec.insn_off // 8, rec.kind,
                              format_spec(f.local), describe(f.outcome), describe(m.outcome), id_only))
    return out
