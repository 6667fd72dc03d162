"""Application BTF for uprobe programs whose CO-RE relocations target the
traced program's own types.

``app_btf(path)``: the application's BTF from raw BTF, an ELF with
``.BTF``, or an ELF with DWARF (made by pahole, as for debug kernels; see
``btfembed.inputs.dwarf``).  ``build_id(path)``: the GNU build id of an ELF
(``.note.gnu.build-id``), hex, or None.  ``split_app(spec)``: ``APP`` or
``APP=VERSION`` (as ``--userspace`` takes it) -> (path, version or None);
``app_id(spec)``: the id a pack built with the application records (the
version when given, else the build id; see ``btfembed.embed.appid``).

Relocations resolve against the kernel's types and the applications'
together (``core.resolve.Target.userspace``), exactly as libbpf does
against one merged file given as ``btf_custom_path``
(``btfembed.btf.merge`` writes such a file).
"""

from __future__ import annotations

import os
import struct
from typing import Iterable

from btfembed.btf.reader import BTF
from btfembed.errors import ConfigError, ELFFormatError
from btfembed.inputs import dwarf
from btfembed.inputs.containers import load_btf

__all__ = ["app_btf", "build_id", "split_app", "app_id"]


def split_app(spec: str) -> tuple[str, str | None]:
    """``APP`` or ``APP=VERSION`` -> (path, version or None).  A path that
    exists is taken whole, even with a ``=`` in it."""
    if "=" not in spec or os.path.exists(spec):
        return spec, None
    path, version = spec.rsplit("=", 1)
    if not path or not version or len(version) > 255 or not all(" " <= c <= "~" for c in version):
        raise ConfigError(f"--userspace {spec!r}: expected APP or APP=VERSION (a version of 1 to 255 "
                          "printable ASCII characters)")
    return path, version


def app_id(spec: str) -> str:
    """The application id of ``APP`` / ``APP=VERSION``: the version, else the
    ELF's GNU build id; an application without either is an error (a table
    built for it could not be selected)."""
    path, version = split_app(spec)
    if version is not None:
        return version
    ident = build_id(path)
    if ident is None:
        raise ConfigError(f"{path}: no GNU build id (.note.gnu.build-id) to key the generated table by; "
                          f"give a version instead: --userspace {path}=VERSION")
    return ident


def app_btf(path: str, *, prefetch: Iterable[str] = ()) -> BTF:
    """An application's BTF: raw BTF, an ELF's ``.BTF``, or made by pahole
    from the ELF's DWARF (``load_btf`` tells them apart)."""
    return load_btf(path, prefetch=prefetch)


def build_id(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            secs, _machine, end = dwarf._sections(f)
            for s in secs:
                if s.name != ".note.gnu.build-id" or s.size < 16 or s.size > 4096:
                    continue
                f.seek(s.offset)
                note = f.read(s.size)
                namesz, descsz, kind = struct.unpack(end + "III", note[:12])
                desc_at = 12 + ((namesz + 3) & ~3)
                if kind == 3 and note[12:12 + namesz].rstrip(b"\0") == b"GNU":
                    return note[desc_at:desc_at + descsz].hex()
    except ELFFormatError as exc:
        raise exc.with_source(path)
    except OSError as exc:
        raise ELFFormatError(f"cannot read: {exc.strerror or exc}", source=path) from None
    return None
