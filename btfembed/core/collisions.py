"""Name collisions between kernel and application types.

With user-space BTF (``Target.userspace``), libbpf sees the kernel's types
and the application's in one BTF file, so a relocation on ``struct data``
gets every type whose essential name is ``data`` (and whose kind is
compatible) as a candidate, from both sides.  Candidates whose layout does
not fit the access are skipped; when candidates from both sides fit and
give different results, libbpf refuses the object as ambiguous, and when
they agree the program works only by luck.  ``find_collisions`` lists every
relocation whose candidates come from both sides, with the side(s) that
matched.

A ``___flavor`` suffix does not separate the two: libbpf compares essential
names (everything before the last ``___``) on both sides.  What does is a
type name the kernel does not use, in the application and in the BPF
program's local definition; flavors then let the program carry several
layouts of that one application type (``struct myapp_req___v1``,
``struct myapp_req___v2``).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from btfembed.btf.reader import BTF
from btfembed.core.calc import Candidate
from btfembed.core.candidates import find_candidates
from btfembed.core.kinds import KIND_LABELS, RelocKind
from btfembed.core.resolve import RelocResult, Target
from btfembed.core.spec import describe_access

__all__ = ["Collision", "find_collisions"]


class Collision(NamedTuple):
    """One relocation whose candidates come from the kernel and from an
    application."""

    program: str
    section: str
    relo: int                # relocation number within its section (libbpf's "relo #N")
    kind: int
    access: str              # the local access, e.g. "struct data.a"
    kernel_types: tuple[str, ...]     # e.g. ("struct data (id 1234)",)
    user_types: tuple[str, ...]       # e.g. ("struct data (id 5, ./app)",)
    matched: str             # which candidates fit: "kernel", "user space", "both" or "none"

    def line(self) -> str:
        kind = KIND_LABELS.get(RelocKind(self.kind), str(self.kind))
        return (f"{self.program} relo #{self.relo} {kind} {self.access}: candidates in the kernel "
                f"({', '.join(self.kernel_types)}) and in user space ({', '.join(self.user_types)}); "
                f"matched: {self.matched}")


def _label(cand: Candidate, where: str = "") -> str:
    t = cand.btf.type(cand.id)
    extra = f", {where}" if where else ""
    return f"{t.kind_name.lower()} {t.name} (id {cand.id}{extra})"


def find_collisions(local: BTF, results: Iterable[RelocResult], target: Target) -> list[Collision]:
    """The relocations of ``results`` (one object's, resolved against
    ``target``) whose candidate list holds both kernel (or module) types and
    user-space types.  Empty when ``target`` has no user-space BTF."""
    if not target.userspace:
        return []
    apps = {id(b): b for b in target.userspace}
    by_root: dict[int, tuple[tuple[str, ...], tuple[str, ...]] | None] = {}
    out = []
    for r in results:
        rec = r.record
        if rec.kind == RelocKind.TYPE_ID_LOCAL:
            continue
        if rec.type_id not in by_root:
            cands = find_candidates(local, rec.type_id, target.kernel, target.modules, target.userspace)
            kern = tuple(_label(c) for c in cands if id(c.btf) not in apps)
            user = tuple(_label(c, apps[id(c.btf)].source or "") for c in cands if id(c.btf) in apps)
            by_root[rec.type_id] = (kern, user) if kern and user else None
        found = by_root[rec.type_id]
        if found is not None:
            sides = {id(c.btf) in apps for c, _spec in r.outcome.matched}
            matched = {frozenset(): "none", frozenset({False}): "kernel", frozenset({True}): "user space"}.get(
                frozenset(sides), "both")
            out.append(Collision(r.program, rec.section, rec.index, rec.kind, describe_access(r.local),
                                 *found, matched))
    return out
