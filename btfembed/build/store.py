"""The kernel store: decoded kernel BTF kept in the cache, cheap to reopen.

Decoding a BTFHub archive (``.btf.tar.xz``) and indexing its types is most
of the cost of a kernel in ``btfembed build``.  The first time a kernel is
decoded, its raw BTF and its type index (the word offset of every type
record, what ``BTF`` computes by walking the type section) are stored here,
with its name index (the name offset of every type, and which names start
mid-string: lookups by name are then C-speed passes), keyed by the SHA-256
of the kernel *file* and the btfembed version (an entry holds only data
this version has checked).  A later build that must analyse
an object against that kernel (an object changed or was added) opens the
stored entry instead: no archive is read and no type section is walked.

Entry layout (``<root>/v1/kernels/<xx>/<file digest>``), little-endian::

    magic    8 bytes   b"BTFEKS2\\0"
    codec    1 byte    0: payload stored as is, 1: zstd
    pad      3 bytes
    raw_len  u32       bytes of raw BTF
    n_offs   u32       entries of the type index (= types)
    n_odd    u32       types whose name starts mid-string
    sha256   32 bytes  of the uncompressed payload
    payload            raw BTF, n_offs u32 word offsets, n_offs u32 name
                       offsets, n_odd u32 type positions

Measured on a 4.3 MB kernel (6.1): xz + tar decode 62 ms, walking the type
section 17 ms; reopening a zstd entry (level 1, 1.5 MB on disk) 8 ms plus
2.5 ms to verify its SHA-256.  zstd (``zstandard``) is used when it is
installed, otherwise entries are stored uncompressed (about 3x larger).

Every read verifies the digest: a damaged, truncated or foreign entry is a
miss (and is removed), never trusted.  Entries are written atomically.  The
store is bounded: a hit refreshes the entry's mtime, and ``evict`` removes
the least recently used entries until the total is under the limit
(``kernel_store_max``; 0 disables the store).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import struct
import sys
from array import array
from typing import Any, NamedTuple

from btfembed.errors import ConfigError
from btfembed.inputs.files import atomic_write, files_by_age, remove_oldest

__all__ = ["KernelStore", "StoredKernel", "parse_size", "DEFAULT_MAX", "format_size"]


@functools.lru_cache(maxsize=None)
def _zstd() -> Any:
    """The ``zstandard`` module, or None (entries are then stored
    uncompressed); imported when the store is first read or written."""
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        return None
    return zstandard


MAGIC = b"BTFEKS2\0"
_HEADER = struct.Struct("<8sB3xIII32s")
CODEC_NONE, CODEC_ZSTD = 0, 1
ZSTD_LEVEL = 1
# BTFHub holds about 4,000 kernels; at about 1.5 MB per zstd entry they take
# about 6 GB.  The default keeps a whole BTFHub-scale run.
DEFAULT_MAX = 8 << 30

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """``8G``, ``500M``, ``2GiB``, ``1048576`` or ``0`` -> bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"a size must be >= 0, not {text}")
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"invalid size {text!r} (expected a number with an optional K, M, G or T suffix)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(n: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit.lower()] and n % _UNITS[unit.lower()] == 0:
            return f"{n // _UNITS[unit.lower()]}{unit}"
    return str(n)


class StoredKernel(NamedTuple):
    raw: bytes          # raw BTF
    offsets: array[int]    # word offset of every type record (array('I'))
    name_offs: array[int]  # name offset of every type (array('I'))
    odd: array[int]        # positions of the types whose name starts mid-string


class KernelStore:
    """``KernelStore(None)`` (or a zero limit) is disabled: every lookup
    misses and nothing is written.  Counters: ``hits``, ``misses``,
    ``damaged`` (entries that failed verification), ``written``."""

    def __init__(self, root: str | None, max_bytes: int = DEFAULT_MAX):
        self.root = os.path.join(root, "v1", "kernels") if root is not None and max_bytes > 0 else None
        self.max_bytes = max_bytes
        self.hits = self.misses = self.damaged = self.written = 0

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, key[:2], key)

    def get(self, key: str) -> StoredKernel | None:
        if self.root is None:
            return None
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            self.misses += 1
            return None
        entry = self._decode(data)
        if entry is None:
            self.damaged += 1
            self.misses += 1
            try:
                os.unlink(path)
            except OSError:
                pass
            return None
        try:
            os.utime(path)  # recency for the LRU eviction
        except OSError:
            pass
        self.hits += 1
        return entry

    @staticmethod
    def _decode(data: bytes) -> StoredKernel | None:
        if len(data) < _HEADER.size:
            return None
        magic, codec, raw_len, n_offs, n_odd, want = _HEADER.unpack_from(data)
        if magic != MAGIC:
            return None
        size = raw_len + 4 * (2 * n_offs + n_odd)
        body = memoryview(data)[_HEADER.size:]
        payload: bytes | memoryview
        if codec == CODEC_ZSTD:
            zstd = _zstd()
            if zstd is None:
                return None
            try:
                payload = zstd.ZstdDecompressor().decompress(body, max_output_size=size)
            except zstd.ZstdError:
                return None
        elif codec == CODEC_NONE:
            payload = body
        else:
            return None
        if len(payload) != size or hashlib.sha256(payload).digest() != want:
            return None
        view = memoryview(payload)
        arrays = []
        pos = raw_len
        for n in (n_offs, n_offs, n_odd):
            a = array("I")
            a.frombytes(view[pos:pos + 4 * n])
            if sys.byteorder != "little":  # pragma: no cover
                a.byteswap()
            arrays.append(a)
            pos += 4 * n
        return StoredKernel(bytes(view[:raw_len]), *arrays)

    def put(self, key: str, raw: bytes, offsets: array[int], name_offs: array[int], odd: array[int]) -> None:
        if self.root is None:
            return
        if len(name_offs) != len(offsets):
            raise ValueError("one name offset per type")
        parts = [bytes(raw)]
        for a in (offsets, name_offs, odd):
            a = array("I", a)
            if sys.byteorder != "little":  # pragma: no cover
                a.byteswap()
            parts.append(a.tobytes())
        payload = b"".join(parts)
        digest = hashlib.sha256(payload).digest()
        zstd = _zstd()
        if zstd is not None:
            codec, body = CODEC_ZSTD, zstd.ZstdCompressor(level=ZSTD_LEVEL).compress(payload)
        else:  # pragma: no cover
            codec, body = CODEC_NONE, payload
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, _HEADER.pack(MAGIC, codec, len(raw), len(offsets), len(odd), digest) + body)
            self.written += 1
        except Exception:  # a store that cannot be written is not an error
            pass

    def entries(self) -> list[tuple[float, int, str]]:
        """(mtime, size, path) of every entry, oldest first."""
        return files_by_age(self.root, 1) if self.root is not None else []

    def size(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> int:
        """Remove least recently used entries until the store fits its
        limit; the number removed."""
        return remove_oldest(self.entries(), self.max_bytes)
