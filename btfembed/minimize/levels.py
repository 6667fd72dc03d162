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

    __str__ = int.__repr__
    __format__ = int.__format__
