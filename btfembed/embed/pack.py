"""Packs: every kernel key mapped to a deduplicated minimized BTF blob.

A pack is what ``btfembed build`` produces and what the generators embed.
File layout (all integers little-endian)::

    b"BTFEMBED-PACK\\n"                 14-byte magic
    u32 index length, then the index: UTF-8 JSON, keys sorted, no spaces
    the blobs, concatenated, in index order

Index::

    {"format": 1,
     "compression": "none" | "zlib",
     "blobs": [{"offset": o, "size": stored bytes, "raw_size": n,
                "sha256": hex of the raw blob}, ...],
     "kernels": [{"arch": .., "distro": .., "distro_version": ..,
                  "release": .., "blob": index}, ...]}

Kernels are sorted by key, blobs by first use in that order, so the bytes
depend only on the content.  ``read_pack`` checks sizes and digests.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import NamedTuple, Sequence

from btfembed.errors import BTFEmbedError
from btfembed.inputs.files import atomic_write, read_bytes
from btfembed.embed import runtime as _rt
from btfembed.embed.keys import KernelKey

__all__ = ["Pack", "PackError", "build_pack", "write_pack", "read_pack", "encode_pack", "decode_pack", "MAGIC"]

MAGIC = b"BTFEMBED-PACK\n"
FORMAT = 1


class PackError(BTFEmbedError):
    """A pack file that cannot be read."""


class Pack(NamedTuple):
    """``kernels``: (key, blob index) sorted by key; ``blobs``: unique raw BTF."""

    kernels: tuple[tuple[KernelKey, int], ...]
    blobs: tuple[bytes, ...]

    def blob_for(self, key: KernelKey) -> bytes | None:
        for k, i in self.kernels:
            if k == key:
                return self.blobs[i]
        return None

    def mapping(self) -> dict[KernelKey, bytes]:
        return {k: self.blobs[i] for k, i in self.kernels}


def build_pack(items: Sequence[tuple[KernelKey, bytes]]) -> Pack:
    """Deduplicate: identical blobs are stored once.  Keys must be unique."""
    seen: dict[KernelKey, bytes] = {}
    for key, blob in items:
        if key in seen and seen[key] != blob:
            raise PackError(f"two different blobs for kernel {key}")
        seen[key] = blob
    index: dict[bytes, int] = {}
    blobs: list[bytes] = []
    kernels = []
    for key in sorted(seen):
        blob = seen[key]
        i = index.get(blob)
        if i is None:
            i = index[blob] = len(blobs)
            blobs.append(blob)
        kernels.append((key, i))
    return Pack(tuple(kernels), tuple(blobs))


def encode_pack(pack: Pack, *, compress: bool = False) -> bytes:
    stored = [zlib.compress(b, 9) if compress else b for b in pack.blobs]
    offsets, pos = [], 0
    for s in stored:
        offsets.append(pos)
        pos += len(s)
    index = {
        "format": FORMAT,
        "compression": "zlib" if compress else "none",
        "blobs": [{"offset": o, "size": len(s), "raw_size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                  for o, s, b in zip(offsets, stored, pack.blobs)],
        "kernels": [{"arch": k.arch, "distro": k.distro, "distro_version": k.distro_version,
                     "release": k.release, "blob": i} for k, i in pack.kernels],
    }
    text = json.dumps(index, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return MAGIC + struct.pack("<I", len(text)) + text + b"".join(stored)


def write_pack(path: str, pack: Pack, *, compress: bool = False) -> None:
    atomic_write(path, encode_pack(pack, compress=compress))


def decode_pack(data: bytes, source: str = "pack") -> Pack:
    """Parse and check a pack (every blob's size and digest).  The reading
    rules are the runtime's (``btfembed.embed.runtime``), which consumers of
    generated Python modules run too."""
    try:
        table = _rt._pack_table(data, source)
        items = [(KernelKey(*key), table.get_blob(i)) for key, i in table.entries]
    except _rt.InvalidPackError as exc:
        raise PackError(str(exc)) from None
    return build_pack(items)


def read_pack(path: str) -> Pack:
    return decode_pack(read_bytes(path), source=path)
