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

    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def failed(self) -> bool:
        """libbpf refuses the object (ambiguous or error)."""
        return self in (Status.AMBIGUOUS, Status.ERROR)
