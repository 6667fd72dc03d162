"""Opening the kernels of a build: digests and BTF, with debug kernels
converted once and cached.

* ``kernel_digest(path, file_digest)``: what the build caches are keyed by.
  For BTF files it is the file digest; for a debug kernel (DWARF vmlinux,
  ``.deb``/``.ddeb``/``.rpm`` debug package) it also covers the pahole
  version, so another pahole never reuses results made with the BTF of an
  earlier one.
* ``input_digest(path, modules, file_digest)``: the same for a kernel with
  its module files;
* ``with_modules(btf, modules)``: the ``Target`` of a kernel and its modules;
* ``load_kernel(path, digest, cache)``: the kernel ``BTF``.  A debug
  kernel's pahole output is stored in the cache (kind ``dwarf``) under that
  digest, so pahole runs once per input and pahole version.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Callable, Iterable, Sequence

from btfembed.btf.reader import BTF
from btfembed.build.cache import Cache, digest
from btfembed.core.resolve import Target
from btfembed.errors import FileAccessError
from btfembed.inputs import debuginfo
from btfembed.inputs.containers import load_btf
from btfembed.inputs.debpkg import MAX_DEBUG_BYTES

__all__ = ["kernel_digest", "input_digest", "load_kernel", "debug_btf", "with_modules"]


def _large_digest(path: str) -> str:
    h = hashlib.sha256()
    total = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > MAX_DEBUG_BYTES:
                    raise FileAccessError(f"{path}: larger than the {MAX_DEBUG_BYTES}-byte limit "
                                          "(BTFEMBED_MAX_DEBUG_BYTES)")
                h.update(chunk)
    except OSError as exc:
        raise FileAccessError(f"cannot read {path}: {exc.strerror or exc}") from None
    return h.hexdigest()


def kernel_digest(path: str, file_digest: Callable[[str], str]) -> str:
    """The cache identity of a kernel source (see the module documentation)."""
    if debuginfo.sniff(path) is None:
        return file_digest(path)
    return digest("debug-kernel", _large_digest(path), debuginfo.converter_id())


def input_digest(path: str, modules: Sequence[str], file_digest: Callable[[str], str]) -> str:
    """The cache identity of a kernel and its module files."""
    d = kernel_digest(path, file_digest)
    if not modules:
        return d
    return digest("kernel-with-modules", d, [file_digest(m) for m in modules])


def with_modules(kernel: BTF, modules: Sequence[str], prefetch: Iterable[str] = ()) -> Target:
    """A target of ``kernel`` and its module BTF files (split on top of it).
    Relocations look in the modules only for types the kernel lacks."""
    names = set(prefetch)
    return Target(kernel, tuple(load_btf(m, base=kernel, prefetch=names) for m in modules))


def debug_btf(path: str, kernel_digest: str, cache: Cache) -> bytes:
    """pahole's BTF for a debug kernel, from the cache when it was made before."""
    entry = cache.get("dwarf", kernel_digest)
    if isinstance(entry, dict) and isinstance(entry.get("btf"), str):
        try:
            data = base64.b64decode(entry["btf"].encode(), validate=True)
            if hashlib.sha256(data).hexdigest() == entry.get("sha256"):
                return data
        except ValueError:
            pass
    data = debuginfo.to_btf(path)
    cache.put("dwarf", kernel_digest, {"btf": base64.b64encode(data).decode(),
                                       "sha256": hashlib.sha256(data).hexdigest()})
    return data


def load_kernel(path: str, kernel_digest: str, cache: Cache, *, prefetch: Iterable[str] = ()) -> BTF:
    data = debug_btf(path, kernel_digest, cache) if debuginfo.sniff(path) else None
    return load_btf(path, data=data, prefetch=set(prefetch))
