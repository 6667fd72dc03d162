"""Widening levels of minimization (``Minimized.level``, the build's
per-kernel ``level``): int-valued, so reports print them as before."""

from __future__ import annotations

import enum

__all__ = ["Level"]


class Level(enum.IntEnum):
    """How much marking it took to make the minimized BTF relocate like the
    full one (see ``btfembed.minimize.engine``)."""

    COMPAT = 0      # bpftool's algorithm, unchecked (--compat bpftool)
    BPFTOOL = 1     # bpftool's marks (ambiguous relocations: every candidate)
    MATCHES = 2     # + every candidate that matches a relocation on its own
    GRAPH = 3       # + the whole type graph of the candidates that still differ

    def __str__(self) -> str:
        return int.__repr__(self)

    def __format__(self, spec: str) -> str:
        return int.__format__(self, spec)
