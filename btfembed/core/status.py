"""Relocation outcomes (``Status``): str-valued, so they print, compare and
serialize (JSON, the cache) exactly as the plain strings did."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(str, enum.Enum):
    """What a relocation resolves to on a kernel, from best to worst.

    ``RESOLVED``: a candidate matched, the instruction is patched;
    ``MISSING``: an existence check answered 0 (normal for guarded code);
    ``POISONED``: the instruction is replaced by an invalid call (fine in
    dead code, a verifier error otherwise); ``AMBIGUOUS`` and ``ERROR``:
    libbpf refuses to load the object.
    """

    RESOLVED = "resolved"
    MISSING = "missing"
    POISONED = "poisoned"
    AMBIGUOUS = "ambiguous"
    ERROR = "error"

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)

    @property
    def failed(self) -> bool:
        """libbpf refuses the object (ambiguous or error)."""
        return self in (Status.AMBIGUOUS, Status.ERROR)
