"""Which BTF owns a type id, in a kernel BTF and the module BTFs split on
top of it (index 0 is the kernel, 1.. the modules): the one rule that
marking, emission and result summaries share."""

from __future__ import annotations

from typing import Callable, Sequence

__all__ = ["owner", "index_of", "locator"]


def owner(start_ids: Sequence[int], where: int, tid: int) -> int:
    """Index of the BTF defining ``tid`` when ``btfs[where]`` refers to it:
    a module's ids below its ``start_id`` are the kernel's."""
    return 0 if where and tid < start_ids[where] else where


def index_of(btfs: Sequence[object], btf: object) -> int:
    """Position of ``btf`` (by identity) in ``btfs``; ValueError if absent."""
    for i, b in enumerate(btfs):
        if b is btf:
            return i
    raise ValueError("BTF is not part of this target")


def locator(btfs: Sequence[object]) -> Callable[[object], int]:
    """``index_of`` as a function, 0 (the kernel) for an unknown BTF."""
    btfs = list(btfs)

    def locate(btf: object) -> int:
        for i, b in enumerate(btfs):
            if b is btf:
                return i
        return 0
    return locate
