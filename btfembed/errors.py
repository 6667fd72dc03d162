"""Exception types raised by btfembed.

Every failure that is the input's fault (or the environment's) is a
``BTFEmbedError``.  The command line prints ``str(error)`` as one line and
exits with the class's ``exit_code``:

====  ===========================================================
code  meaning
====  ===========================================================
1     a check failed (``verify`` found differences, ``--fail-on``)
2     usage or configuration error
3     invalid input data (BTF, .BTF.ext, ELF, archive, access string)
4     file system error (missing, unreadable or unwritable path)
130   interrupted
====  ===========================================================
"""

from __future__ import annotations

__all__ = [
    "one_line",
    "BTFEmbedError",
    "BTFError",
    "BTFFormatError",
    "UnsupportedKindError",
    "TypeIdError",
    "ExtFormatError",
    "ELFFormatError",
    "ArchiveError",
    "CoreSpecError",
    "ConfigError",
    "FileAccessError",
    "CheckFailed",
    "BuildFailed",
    "CoreError",
    "MatchError",
    "CalcError",
    "PatchError",
    "MinimizeError",
    "PackError",
]


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so a
    message quoting input data (names, paths) stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class BTFEmbedError(Exception):
    """Root of every error btfembed raises on purpose.  Its text is always
    one line (control characters from input data are escaped)."""

    exit_code = 3

    def __str__(self) -> str:
        return one_line(super().__str__())


class BTFError(BTFEmbedError):
    """Input data that is not valid BTF (or its containers).

    ``offset`` is the byte offset in the parsed buffer where the problem was
    found, when there is one; ``source`` names the file or section.
    """

    def __init__(self, message: str, *, offset: int | None = None, source: str | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.source = source

    def with_source(self, source: str) -> "BTFError":
        """Return this error with ``source`` set (if not set already)."""
        if self.source is None:
            self.source = source
        return self

    def __str__(self) -> str:
        text = self.message
        if self.offset is not None:
            text = f"{text} (at byte offset {self.offset})"
        if self.source:
            text = f"{self.source}: {text}"
        return one_line(text)


class BTFFormatError(BTFError):
    """Malformed raw BTF: header, sections, strings or type records."""


class UnsupportedKindError(BTFFormatError):
    """A type kind this reader cannot size or interpret."""


class TypeIdError(BTFFormatError):
    """A reference to a type id that does not exist, or a reference cycle."""


class ExtFormatError(BTFError):
    """Malformed ``.BTF.ext`` section."""


class ELFFormatError(BTFError):
    """Not an ELF file, not a BPF object, or a required section is missing."""


class ArchiveError(BTFError):
    """Compressed or tar input that cannot be used (corrupt, unsafe, too big)."""


class CoreSpecError(BTFError):
    """A CO-RE relocation record that libbpf would refuse (bad access string,
    kind out of range, anonymous root type, ...)."""


class ConfigError(BTFEmbedError):
    """Bad settings file or command-line combination."""

    exit_code = 2


class FileAccessError(BTFEmbedError):
    """A path that cannot be read or written."""

    exit_code = 4


class CheckFailed(BTFEmbedError):
    """A requested check found problems (reported before this is raised)."""

    exit_code = 1


class BuildFailed(BTFEmbedError):
    """A build in which some kernel failed (so nothing was written)."""

    exit_code = 3


class CoreError(BTFEmbedError):
    """libbpf would fail this relocation (and the object load).  ``errno``
    names the error libbpf returns (EINVAL, E2BIG, ...)."""

    def __init__(self, message: str, errno: str = "EINVAL"):
        super().__init__(message)
        self.errno = errno


class MatchError(CoreError):
    """Matching a local spec against a candidate type failed the way libbpf fails."""


class CalcError(CoreError):
    """libbpf cannot compute this relocation (-E2BIG bitfield, unresolvable size)."""


class PatchError(CoreError):
    """libbpf refuses to patch (unexpected instruction or value)."""


class MinimizeError(BTFEmbedError):
    """Minimization refused (compat mode) or impossible to make equivalent."""


class PackError(BTFEmbedError):
    """A pack file that cannot be read."""
