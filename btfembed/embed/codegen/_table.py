"""The canonical kernel table both generators emit.

Whatever order a ``Pack`` lists its kernels and blobs in, the generators see
the same table: arch names normalized (``aarch64`` -> ``arm64``, as the
runtimes do to ``uname -m``), entries sorted by the UTF-8 bytes of
(arch, distro, distro_version, release) -- the order the C runtime's binary
search and ``strcmp`` use -- and blobs numbered by first use in that order,
identical blobs stored once.  Keys are checked here so that every runtime can
represent them: no NUL, at most 255 UTF-8 bytes per field, non-empty arch and
release, non-empty blobs.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from btfembed.errors import ConfigError
from btfembed.embed.keys import KernelKey, normalize_arch

FIELD_MAX = 255  # BTFEMBED_FIELD_MAX, runtime.FIELD_MAX
BLOB_MAX = 256 * 1024 * 1024  # BTFEMBED_BLOB_MAX, runtime.BLOB_MAX
_FIELDS = ("arch", "distro", "distro_version", "release")


class Table(NamedTuple):
    """``kernels``: sorted (key, blob index); ``blobs``: raw BTF, by first use."""

    kernels: tuple[tuple[KernelKey, int], ...]
    blobs: tuple[bytes, ...]

    def digest(self) -> str:
        """sha256 over the keys and blobs: names the content in banners."""
        h = hashlib.sha256()
        for key, i in self.kernels:
            for field in key:
                h.update(field.encode() + b"\0")
            h.update(hashlib.sha256(self.blobs[i]).digest())
        return h.hexdigest()

    def raw_size(self) -> int:
        return sum(len(b) for b in self.blobs)


def _check_key(key: KernelKey) -> None:
    for name, value in zip(_FIELDS, key):
        if not isinstance(value, str):
            raise ConfigError(f"kernel key {key!r}: {name} is not a string")
        if "\0" in value:
            raise ConfigError(f"kernel key {key!r}: {name} contains a NUL character")
        try:
            n = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ConfigError(f"kernel key {key!r}: {name} is not valid Unicode") from None
        if n > FIELD_MAX:
            raise ConfigError(f"kernel key {key!r}: {name} is longer than {FIELD_MAX} bytes")
    if not key.arch or not key.release:
        raise ConfigError(f"kernel key {key!r}: arch and release must not be empty")


def canonical_table(pack, *, dedup: bool = True) -> Table:
    """The table for ``pack`` (a ``btfembed.embed.pack.Pack``, or anything with
    ``kernels`` = (key, blob index) pairs and ``blobs``).

    ``dedup=False`` gives every kernel its own blob; it exists to measure
    what deduplication saves (scripts/bench_codegen.py).
    """
    chosen: dict[KernelKey, bytes] = {}
    for key, index in pack.kernels:
        key = KernelKey(*key)
        _check_key(key)
        if not 0 <= index < len(pack.blobs):
            raise ConfigError(f"kernel {key}: blob index {index} out of range")
        blob = bytes(pack.blobs[index])
        if not blob:
            raise ConfigError(f"kernel {key}: empty BTF blob")
        if len(blob) > BLOB_MAX:
            raise ConfigError(f"kernel {key}: blob of {len(blob)} bytes is larger than {BLOB_MAX}")
        norm = key._replace(arch=normalize_arch(key.arch))
        if norm in chosen and chosen[norm] != blob:
            raise ConfigError(f"two different blobs for kernel {norm} (after normalizing the arch name)")
        chosen[norm] = blob
    order = sorted(chosen, key=lambda k: tuple(f.encode("utf-8") for f in k))
    ids: dict[bytes, int] = {}
    blobs: list[bytes] = []
    kernels = []
    for key in order:
        blob = chosen[key]
        i = ids.get(blob) if dedup else None
        if i is None:
            i = len(blobs)
            blobs.append(blob)
            if dedup:
                ids[blob] = i
        kernels.append((key, i))
    return Table(tuple(kernels), tuple(blobs))
