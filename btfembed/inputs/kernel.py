"""``open_kernel``: a kernel BTF (and module BTFs on top of it) from any
supported source, ready for relocations to resolve against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from btfembed.core.resolve import Target, root_names
from btfembed.inputs.containers import load_btf
from btfembed.inputs.userspace import app_btf

if TYPE_CHECKING:
    from btfembed.inputs.objects import BpfObject

__all__ = ["open_kernel"]


def open_kernel(source: str, modules: Sequence[str] = (), *,
                objects: "Sequence[BpfObject]" = (), userspace: Sequence[str] = ()) -> Target:
    """Open the kernel BTF at ``source`` and the module BTFs ``modules``.

    ``source`` may be raw BTF, an ELF file with a ``.BTF`` section
    (vmlinux), an xz/gzip/bzip2-compressed file, a BTFHub ``.btf.tar.xz``
    archive, or ``/sys/kernel/btf/vmlinux``; each module is split BTF on top
    of it (``/sys/kernel/btf/<mod>``, a ``.ko``, or a raw file).  The root
    type names of ``objects`` (when given) are looked up while indexing,
    which makes opening a large kernel for those objects faster.

    ``userspace`` names applications whose own types relocations may target
    (uprobe programs): an ELF with ``.BTF``, an ELF with DWARF (converted by
    pahole), or raw BTF.  Their types are searched together with the
    kernel's, as libbpf searches one BTF file merging both.
    """
    names: set[str] = set().union(*(root_names(o.btf, o.relocations) for o in objects))
    base = load_btf(source, prefetch=names)
    return Target(base, tuple(load_btf(m, base=base, prefetch=names) for m in modules),
                  tuple(app_btf(app, prefetch=names) for app in userspace))
