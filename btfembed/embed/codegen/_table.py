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
from typing import NamedTuple, Protocol, Sequence

from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import Pack, canonical, encode_pack

FIELD_MAX = 255  # BTFEMBED_FIELD_MAX, runtime.FIELD_MAX
BLOB_MAX = 256 * 1024 * 1024  # BTFEMBED_BLOB_MAX, runtime.BLOB_MAX


class PackLike(Protocol):
    """What the generators read from a pack: ``kernels`` (key, blob index)
    and ``blobs`` (a ``Pack``, a ``Table``, or another such pair); an
    ``objects`` attribute, when present, is read too."""

    @property
    def kernels(self) -> Sequence[tuple[KernelKey, int]]: ...

    @property
    def blobs(self) -> Sequence[bytes]: ...


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


def canonical_table(pack: PackLike, *, dedup: bool = True) -> Table:
    """The table for ``pack`` (a ``btfembed.embed.pack.Pack``, or anything with
    ``kernels`` = (key, blob index) pairs and ``blobs``): see
    ``btfembed.embed.pack.canonical``.

    ``dedup=False`` gives every kernel its own blob; it exists to measure
    what deduplication saves (scripts/bench_codegen.py).
    """
    objects = tuple(getattr(pack, "objects", ()))
    c = canonical(Pack(tuple(pack.kernels), tuple(pack.blobs), objects), dedup=dedup)
    return Table(c.kernels, c.blobs)


def table_pack_bytes(pack: PackLike, table: Table, *, codec: str, block_size: int | None = None) -> bytes:
    """The pack format 3 bytes a generated source embeds: ``table``'s
    entries and blobs (from ``canonical_table(pack)``), ``pack``'s object
    records."""
    return encode_pack(Pack(table.kernels, table.blobs, tuple(getattr(pack, "objects", ()))), codec=codec,
                       block_size=block_size)
