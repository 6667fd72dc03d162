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
from btfembed.fsutil import atomic_write, read_bytes
from btfembed.keys import KernelKey

__all__ = ["Pack", "PackError", "build_pack", "write_pack", "read_pack", "encode_pack", "decode_pack", "MAGIC"]

MAGIC = b"BTFEMBED-PACK\n"
FORMAT = 1
_MAX_INDEX = 256 * 1024 * 1024


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
    def bad(why: str) -> PackError:
        return PackError(f"{source}: not a valid btfembed pack: {why}")

    def count(value: object, what: str) -> int:
        # JSON numbers may be floats, infinities or huge: only plain
        # non-negative ints are sizes and indices.
        if type(value) is not int or value < 0:
            raise bad(f"{what} is not a non-negative integer")
        return value

    if not data.startswith(MAGIC):
        raise bad("wrong magic")
    pos = len(MAGIC)
    if len(data) < pos + 4:
        raise bad("truncated")
    (n,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if n > _MAX_INDEX or pos + n > len(data):
        raise bad("index runs past the end")
    try:
        index = json.loads(data[pos:pos + n].decode())
        if index["format"] != FORMAT:
            raise bad(f"unsupported format {index['format']!r:.40}")
        compression = index["compression"]
        if compression not in ("none", "zlib"):
            raise bad(f"unknown compression {compression!r:.40}")
        base = pos + n
        blobs = []
        for b in index["blobs"]:
            start, size = count(b["offset"], "blob offset"), count(b["size"], "blob size")
            raw_size = count(b["raw_size"], "blob raw_size")
            if base + start + size > len(data):
                raise bad("blob runs past the end")
            raw = data[base + start:base + start + size]
            if compression == "zlib":
                d = zlib.decompressobj()
                raw = d.decompress(raw, raw_size + 1)
                if not d.eof:
                    raise bad("compressed blob is truncated or larger than stated")
            if len(raw) != raw_size or hashlib.sha256(raw).hexdigest() != b["sha256"]:
                raise bad("blob size or digest mismatch")
            blobs.append(raw)
        kernels = []
        for k in index["kernels"]:
            i = count(k["blob"], "kernel blob index")
            if not 0 <= i < len(blobs):
                raise bad(f"kernel entry refers to blob {i}")
            key = KernelKey(str(k["arch"]), str(k["distro"]), str(k["distro_version"]), str(k["release"]))
            kernels.append((key, i))
    except PackError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, zlib.error, OverflowError) as exc:
        raise bad(f"malformed index ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:
        raise bad("malformed index (nested too deeply)") from None
    return Pack(tuple(sorted(kernels)), tuple(blobs))


def read_pack(path: str) -> Pack:
    return decode_pack(read_bytes(path), source=path)
