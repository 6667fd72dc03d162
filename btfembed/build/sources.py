"""Opening the kernels of a build: digests and BTF, with debug kernels
converted once and cached.

* ``kernel_digest(path, file_digest)``: what the build caches are keyed by.
  For BTF files it is the file digest; for a debug kernel (DWARF vmlinux,
  ``.deb``/``.ddeb``/``.rpm`` debug package) it also covers the pahole
  version, so another pahole never reuses results made with the BTF of an
  earlier one.
* ``load_kernel(path, digest, cache)``: the kernel ``BTF``.  A debug
  kernel's pahole output is stored in the cache (kind ``dwarf``) under that
  digest, so pahole runs once per input and pahole version.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Callable, Iterable

from btfembed.btf.reader import BTF
from btfembed.build.cache import Cache, digest
from btfembed.errors import FileAccessError
from btfembed.inputs import debuginfo
from btfembed.inputs.containers import load_btf
from btfembed.inputs.debpkg import MAX_DEBUG_BYTES

__all__ = ["kernel_digest", "load_kernel", "debug_btf"]


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
