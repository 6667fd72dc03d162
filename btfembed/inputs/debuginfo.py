"""Debug kernels as BTF sources: a DWARF vmlinux, or a package holding one.

``sniff(path)`` tells, from the first bytes (and for ELF the section
headers), whether a file is such a source; ``describe(path)`` gives the
release and architecture it is for (package metadata, else the vmlinux's
``linux_banner``); ``to_btf(path)`` turns it into raw BTF with pahole
(``btfembed.inputs.dwarf``), extracting a package's vmlinux
(``btfembed.inputs.debpkg``) into a private temporary directory first.
``converter_id()`` names the pahole that would run, for cache keys.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from btfembed.errors import ArchiveError, BTFEmbedError
from btfembed.inputs import debpkg, dwarf

__all__ = ["sniff", "describe", "to_btf", "converter_id", "DebugSource", "is_package_name"]

_PACKAGE_SUFFIXES = (".deb", ".ddeb", ".rpm")


class DebugSource(NamedTuple):
    kind: str       # "deb", "rpm" or "elf"
    release: str    # "" when neither the metadata nor the banner tells
    arch: str       # "" when unknown


def is_package_name(name: str) -> bool:
    return name.endswith(_PACKAGE_SUFFIXES)


def sniff(path: str) -> str | None:
    """"deb", "rpm" or "elf" (a DWARF vmlinux without .BTF), else None.
    Never raises for unreadable files (the normal reader reports those)."""
    try:
        # Non-blocking: a FIFO or device must not hang (nor be read here).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.read(fd, 8)
    except OSError:
        return None
    finally:
        os.close(fd)
    fmt = debpkg.package_format(head)
    if fmt:
        return fmt
    if head[:4] == b"\x7fELF":
        try:
            info = dwarf.probe(path)
        except BTFEmbedError:   # damaged ELF: left to the normal reader's message
            return None
        if info is not None and info.dwarf:
            return "elf"
    return None


def describe(path: str) -> DebugSource | None:
    """Kind, release and arch of a debug source, or None if ``path`` is not one."""
    kind = sniff(path)
    if kind is None:
        return None
    if kind == "elf":
        info = dwarf.probe(path)
        return DebugSource("elf", dwarf.kernel_release(path) or "", info.arch if info else "")
    meta = debpkg.inspect(path)
    return DebugSource(kind, meta.release, meta.arch)


def converter_id() -> str:
    """Which converter ``to_btf`` uses ("pahole 1.24"); raises
    ``ToolMissingError`` without pahole."""
    major, minor = dwarf.pahole_version()
    return f"pahole {major}.{minor}"


def to_btf(path: str) -> bytes:
    """Raw BTF made by pahole from the debug source ``path``."""
    kind = sniff(path)
    if kind == "elf":
        return dwarf.encode(path)
    if kind in ("deb", "rpm"):
        exe = dwarf.find_pahole()           # before a long extraction
        version = dwarf.pahole_version(exe)
        import tempfile
        with tempfile.TemporaryDirectory(prefix="btfembed-pkg-") as tmp:
            vmlinux, _release = debpkg.extract_vmlinux(path, tmp)
            try:
                return dwarf.encode(vmlinux, pahole=exe, version=version)
            except dwarf.DwarfError as exc:
                exc.source = None
                raise exc.with_source(f"{path} ({_release} vmlinux)")
    raise ArchiveError("neither a debug vmlinux nor a debug package", source=path)
