"""Relocation summaries and their comparison (full BTF versus minimized BTF).

A ``Summary`` is the plain, serializable record of how one relocation
resolved: what ``explain`` prints, what reports and caches store, and what
equivalence is judged on.  Two summaries are equivalent when libbpf would do
the same thing with the instruction: same status (resolved / missing /
poisoned / ambiguous / error), same patched value, same poison and
memory-size decisions, same failure.  TYPE_ID_TARGET values are type ids of
the BTF used, so they legitimately differ; they are compared through the id
mapping when one is known, or by the kind and name of the type they
designate.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from btfembed.core.kinds import KIND_LABELS, RelocKind
from btfembed.core.resolve import RelocResult
from btfembed.core.spec import describe_access
from btfembed.core.status import Status

__all__ = ["Summary", "Difference", "summarize", "describe", "compare"]


class Summary(NamedTuple):
    program: str
    section: str
    index: int            # relocation number within its section (libbpf's "relo #N")
    insn: int             # instruction index within the section
    kind: RelocKind
    access: str           # the local access as names, e.g. "struct task_struct.pid"
    status: Status        # resolved, missing, poisoned, ambiguous, error (str-valued)
    code: str = ""        # ambiguous/error: offset, decision, EINVAL, E2BIG
    message: str = ""
    poison: bool = False
    orig_val: int = 0
    new_val: int = 0
    orig_sz: int = 0
    new_sz: int = 0
    fail_memsz_adjust: bool = False
    # TYPE_ID_TARGET only: (BTF index, original id) and (kind, name, size)
    # of the type the value designates.
    target: tuple | None = None
    target_ident: tuple | None = None


class Difference(NamedTuple):
    program: str
    section: str
    index: int
    insn: int
    kind: RelocKind
    access: str
    full: str
    minimized: str
    type_id_only: bool  # TYPE_ID_TARGET ids differ but designate the same type

    def line(self) -> str:
        return (f"{self.program} relo #{self.index} insn #{self.insn} {KIND_LABELS.get(self.kind, self.kind)} "
                f"{self.access}: full BTF {self.full}, minimized {self.minimized}")


def summarize(r: RelocResult, locate: Callable[[object], int] | None = None) -> Summary:
    """``locate(btf)`` gives the index of a target BTF (kernel 0, modules 1..)."""
    o, rec = r.outcome, r.record
    v = o.values
    target = ident = None
    if rec.kind == RelocKind.TYPE_ID_TARGET and o.status == "resolved" and o.target is not None:
        btf = o.target.btf
        tid = o.target.root_type_id
        t = btf.type(tid)
        target = (locate(btf) if locate else 0, tid)
        ident = (t.kind, t.name, t.size_type if t.kind in (1, 4, 5, 6, 16, 19) else 0)
    common = dict(program=r.program, section=rec.section, index=rec.index, insn=rec.insn_off // 8,
                  kind=RelocKind(rec.kind), access=describe_access(r.local), status=o.status, code=o.code,
                  message=o.message, target=target, target_ident=ident)
    if v is None:
        return Summary(**common)
    return Summary(**common, poison=v.poison, orig_val=v.orig_val, new_val=v.new_val, orig_sz=v.orig_sz,
                   new_sz=v.new_sz, fail_memsz_adjust=v.fail_memsz_adjust)


def describe(s: Summary) -> str:
    """Short text for a result: ``1268``, ``poisoned``, ``missing (0)``, ``ambiguous: ...``."""
    if s.status == "resolved":
        text = str(s.new_val)
        if s.fail_memsz_adjust:
            text += " (field size changed: loads of it are poisoned)"
        elif s.new_sz != s.orig_sz:
            text += f" (load size {s.orig_sz} -> {s.new_sz})"
        return text
    if s.status == "missing":
        return "missing (0)"
    if s.status == "poisoned":
        return "poisoned"
    return f"{s.status}: {s.message}"


def _same(a: Summary, b: Summary, id_map: dict[int, tuple] | None) -> tuple[bool, bool]:
    """(equivalent, differs only by a TYPE_ID_TARGET id)."""
    if a.status != b.status:
        return False, False
    if a.status == "error":
        return a.code == b.code, False
    if a.status == "ambiguous":
        if a.kind == RelocKind.TYPE_ID_TARGET:
            return a.code == b.code, False
        return a.message == b.message, False
    if (a.poison, a.fail_memsz_adjust, a.new_sz, a.orig_val) != (b.poison, b.fail_memsz_adjust, b.new_sz, b.orig_val):
        return False, False
    if a.kind == RelocKind.TYPE_ID_TARGET and a.status == "resolved":
        if id_map is not None:
            return id_map.get(b.new_val) == a.target, False
        if a.new_val == b.new_val:
            return True, False
        return a.target_ident == b.target_ident, a.target_ident == b.target_ident
    return a.new_val == b.new_val, False


def compare(full: Sequence[Summary], mini: Sequence[Summary], *,
            id_map: dict[int, tuple] | None = None) -> list[Difference]:
    """Differences between two resolutions of the same relocations.

    ``id_map`` maps minimized type ids to (BTF index, full id) (known right
    after minimizing).  Without it, TYPE_ID_TARGET results designating types
    of the same kind and name are returned with ``type_id_only`` set.
    """
    out = []
    for a, b in zip(full, mini):
        ok, id_only = _same(a, b, id_map)
        if ok and not id_only:
            continue
        out.append(Difference(a.program, a.section, a.index, a.insn, a.kind, a.access,
                              describe(a), describe(b), id_only))
    return out
