"""Application BTF for uprobe programs whose CO-RE relocations target the
traced program's own types.

``app_btf(path)``: the application's BTF from raw BTF, an ELF with
``.BTF``, or an ELF with DWARF (made by pahole, as for debug kernels; see
``btfembed.inputs.dwarf``).  ``build_id(path)``: the GNU build id of an ELF
(``.note.gnu.build-id``), hex, or None.

Relocations resolve against the kernel's types and the applications'
together (``core.resolve.Target.userspace``), exactly as libbpf does
against one merged file given as ``btf_custom_path``
(``btfembed.btf.merge`` writes such a file).
"""

from __future__ import annotations

import struct
from typing import Iterable

from btfembed.btf.reader import BTF
from btfembed.errors import ELFFormatError
from btfembed.inputs import dwarf
from btfembed.inputs.containers import load_btf

__all__ = ["app_btf", "build_id"]


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
