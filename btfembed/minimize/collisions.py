"""Relocations whose candidates come from both the kernel and an
application (uprobe CO-RE against a merged BTF, see
``btfembed.inputs.userspace``).

libbpf treats every same-named type of the merged BTF as a candidate, so an
application ``struct list_head`` competes with the kernel's: the
relocation may resolve against the wrong one, or become ambiguous.  A
``___flavor`` suffix on the local type does not help (matching ignores it:
``list_head___app`` still looks for ``list_head``): rename the type in the
application (``struct app_list_head``) and in the program, so only one side
has the name.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from btfembed.core.objects import CoreObject
from btfembed.core.resolve import Target
from btfembed.minimize.engine import resolve_object

__all__ = ["Collision", "find_collisions"]


class Collision(NamedTuple):
    source: str
    program: str
    relo: int
    access: str
    kernel_ids: tuple[int, ...]
    app_ids: tuple[int, ...]

    def line(self) -> str:
        return (f"{self.source}: {self.program} relo #{self.relo} {self.access}: candidates in both the kernel "
                f"(ids {', '.join(map(str, self.kernel_ids))}) and the application "
                f"(ids {', '.join(map(str, self.app_ids))}); rename the application's type so only one side has the name")


def find_collisions(objects: Sequence[CoreObject], target: Target, kernel_types: int) -> list[Collision]:
    from btfembed.core.spec import describe_access

    out = []
    for obj in objects:
        for r in resolve_object(obj, target):
            ids = sorted({c.id for c in r.outcome.considered})
            k = tuple(i for i in ids if i < kernel_types)
            a = tuple(i for i in ids if i >= kernel_types)
            if k and a:
                out.append(Collision(obj.source or "?", r.program, r.record.index, describe_access(r.local), k, a))
    return out
