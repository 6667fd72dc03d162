"""Application BTF for uprobe programs whose CO-RE relocations target the
traced program's own types.

``app_btf(path)``: the application's BTF from raw BTF, an ELF with
``.BTF``, or an ELF with DWARF (made by pahole, as for debug kernels; see
``btfembed.inputs.dwarf``).  ``build_id(path)``: the GNU build id of an ELF
(``.note.gnu.build-id``), hex, or None.  ``open_with_apps(kernel, apps)``:
the kernel and application types merged into one flat BTF
(``btfembed.btf.merge``), the target relocations resolve against exactly
as libbpf does against the merged file given as ``btf_custom_path``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Sequence

from btfembed.btf.merge import merge_flat
from btfembed.btf.reader import BTF
from btfembed.core.resolve import Target
from btfembed.errors import ELFFormatError
from btfembed.inputs import dwarf
from btfembed.inputs.containers import load_btf

__all__ = ["app_btf", "build_id", "open_with_apps", "WithApps"]


def app_btf(path: str) -> BTF:
    info = dwarf.probe(path)
    if info is not None and info.dwarf:
        return BTF(dwarf.encode(path), source=path)
    return load_btf(path)


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


class WithApps(NamedTuple):
    target: Target
    kernel_types: int          # ids below this are the kernel's
    app_starts: list[int]      # first id of each application's types
    apps: list[str]            # their paths


def open_with_apps(kernel: BTF, apps: Sequence[str]) -> WithApps:
    btfs = [app_btf(a) for a in apps]
    data, starts = merge_flat(kernel, btfs)
    merged = BTF(data, source=f"{kernel.source or 'kernel'} + {len(apps)} application(s)")
    return WithApps(Target(merged), kernel.type_cnt, starts, list(apps))
