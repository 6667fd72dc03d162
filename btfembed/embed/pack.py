"""Packs: every kernel key mapped to a deduplicated minimized BTF blob.

A pack is what ``btfembed build`` produces and what the generators embed.
The file is pack format 3, specified in docs/pack-format.md (constants in
``btfembed.embed.format``): a fixed header with a SHA-256 over the index,
block / blob / entry / object tables, a string table, then the blobs in
solid-compressed blocks of bounded raw size (when compressed, each blob
transformed by the BTF recoding, ``runtime.btf_recode``, and each block
split: headers and types first, strings after, ``runtime.split_point``).

``encode_pack`` is the writer.  Reading is the runtime's job
(``btfembed.embed.runtime``, the code generated Python modules run too);
``decode_pack`` uses it and checks every blob.  Run
``python3 -m btfembed.embed.pack PACK`` to print a pack's header and index.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import struct
import sys
import zlib
from typing import Callable, NamedTuple, Protocol, Sequence

from btfembed.embed import format as F
from btfembed.embed import runtime as _rt
from btfembed.embed.keys import KernelKey, normalize_arch
from btfembed.errors import BTFEmbedError, ConfigError, PackError
from btfembed.inputs.files import atomic_write, read_bytes

__all__ = [
    "Pack", "PackError", "build_pack", "write_pack", "read_pack", "encode_pack", "decode_pack",
    "object_digest", "check_key", "canonical", "codec_available", "MAGIC", "FORMAT", "CODECS",
    "BlockMemo", "block_key",
]

MAGIC = F.MAGIC
FORMAT = F.FORMAT
CODECS = tuple(F.CODEC_IDS)
_FIELDS = ("arch", "distro", "distro_version", "release")


class Pack(NamedTuple):
    """``kernels``: (key, blob index) sorted by key; ``blobs``: unique raw
    BTF; ``objects``: (file name, stale-object digest) of the BPF objects the
    pack was built for (see ``object_digest``)."""

    kernels: tuple[tuple[KernelKey, int], ...]
    blobs: tuple[bytes, ...]
    objects: tuple[tuple[str, bytes], ...] = ()

    def blob_for(self, key: KernelKey) -> bytes | None:
        for k, i in self.kernels:
            if k == key:
                return self.blobs[i]
        return None

    def mapping(self) -> dict[KernelKey, bytes]:
        return {k: self.blobs[i] for k, i in self.kernels}


def object_digest(data: bytes) -> bytes:
    """The stale-object digest of a BPF object's bytes: SHA-256 over its
    ``.BTF`` and ``.BTF.ext`` sections (docs/pack-format.md)."""
    try:
        return _rt.object_digest(data)
    except _rt.InvalidPackError as exc:
        raise ConfigError(str(exc)) from None


def _objects(objects: Sequence[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    out = set()
    for name, digest in objects:
        if not isinstance(digest, bytes) or len(digest) != F.DIGEST_SIZE:
            raise ConfigError(f"object {name!r}: the digest must be {F.DIGEST_SIZE} bytes")
        _check_string(name, f"object name {name!r}")
        out.add((name, digest))
    return tuple(sorted(out, key=lambda o: (o[1], o[0].encode())))


def build_pack(items: Sequence[tuple[KernelKey, bytes]], objects: Sequence[tuple[str, bytes]] = ()) -> Pack:
    """Deduplicate: identical blobs are stored once.  Keys must be unique.
    ``objects``: (name, ``object_digest``) of the BPF objects."""
    seen: dict[KernelKey, bytes] = {}
    for key, blob in items:
        key = KernelKey(*key)
        if key in seen and seen[key] != blob:
            raise PackError(f"two different blobs for kernel {key}")
        seen[key] = bytes(blob)
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
    return Pack(tuple(kernels), tuple(blobs), _objects(objects))


def _check_string(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{what} is not a string")
    if "\0" in value:
        raise ConfigError(f"{what} contains a NUL character")
    try:
        n = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError(f"{what} is not valid Unicode") from None
    if n > F.FIELD_MAX:
        raise ConfigError(f"{what} is longer than {F.FIELD_MAX} bytes")


def check_key(key: KernelKey) -> None:
    """Keys every runtime can represent: no NUL, at most 255 UTF-8 bytes per
    field, non-empty arch and release."""
    for name, value in zip(_FIELDS, key):
        _check_string(value, f"kernel key {key!r}: {name}")
    if not key.arch or not key.release:
        raise ConfigError(f"kernel key {key!r}: arch and release must not be empty")


def _byte_key(key: KernelKey) -> tuple[bytes, ...]:
    return tuple(f.encode("utf-8") for f in key)


def canonical(pack: Pack, *, dedup: bool = True) -> Pack:
    """The pack every writer and generator emits: keys checked, arch names
    normalized, entries sorted by the UTF-8 bytes of (arch, distro,
    distro_version, release) -- the runtimes' order --, blobs numbered by
    first use, identical blobs stored once (``dedup=False`` keeps one blob
    per kernel, to measure what deduplication saves)."""
    chosen: dict[KernelKey, bytes] = {}
    for key, index in pack.kernels:
        key = KernelKey(*key)
        check_key(key)
        if not 0 <= index < len(pack.blobs):
            raise ConfigError(f"kernel {key}: blob index {index} out of range")
        blob = bytes(pack.blobs[index])
        if not blob:
            raise ConfigError(f"kernel {key}: empty BTF blob")
        if len(blob) > F.BLOB_MAX:
            raise ConfigError(f"kernel {key}: blob of {len(blob)} bytes is larger than {F.BLOB_MAX}")
        norm = key._replace(arch=normalize_arch(key.arch))
        if norm in chosen and chosen[norm] != blob:
            raise ConfigError(f"two different blobs for kernel {norm} (after normalizing the arch name)")
        chosen[norm] = blob
    ids: dict[bytes, int] = {}
    blobs: list[bytes] = []
    kernels = []
    for key in sorted(chosen, key=_byte_key):
        blob = chosen[key]
        i = ids.get(blob) if dedup else None
        if i is None:
            i = len(blobs)
            blobs.append(blob)
            if dedup:
                ids[blob] = i
        kernels.append((key, i))
    return Pack(tuple(kernels), tuple(blobs), _objects(pack.objects))


# --------------------------------------------------------------------------
# Writer


_Natural = tuple[tuple[int, int, str], ...]          # a release split into numbers and text
_Similarity = tuple[str, _Natural, str, str, tuple[bytes, ...]]  # see _similarity


def _natural(text: str) -> _Natural:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)


def _similarity(key: KernelKey) -> _Similarity:
    """Kernels of close releases share most of their layouts, whatever the
    distribution: by arch, then release in natural order (5.4.0-9 before
    5.4.0-10), then distribution.  (Distribution first compresses 2-8% worse
    on the shared corpus: scripts/bench_pack.py.)"""
    return (key.arch, _natural(key.release), key.distro, key.distro_version, _byte_key(key))


def _xz(raw: bytes) -> bytes:
    # A dictionary of half the block (a power of two, at least 4 KiB) keeps
    # the decoder within 2x the block size; similar blobs sit next to each
    # other, so a larger one gains nothing measurable.
    dict_size = 4096
    while dict_size * 2 <= len(raw) // 2:
        dict_size *= 2
    # pb=0 lp=0 lc=2: recoded BTF is mostly u32 fields, but the fields of a
    # record are not all alike, so position bits do not pay (2-3 % smaller
    # than the default lc=3 lp=0 pb=2 on the shared corpus).
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": dict_size,
                "lc": 2, "lp": 0, "pb": 0}]
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=filters)


def _zstd(raw: bytes) -> bytes:
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigError("codec zstd needs the 'zstandard' Python module (pip install zstandard)") from None
    return bytes(zstandard.ZstdCompressor(level=19, write_content_size=True, write_checksum=False,
                                          threads=0).compress(raw))


_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "none": bytes, "zlib": lambda raw: zlib.compress(raw, 9), "xz": _xz, "zstd": _zstd,
}


def codec_available(codec: str) -> bool:
    """Whether this Python can write (and read) ``codec``."""
    if codec == "zstd":
        try:
            import zstandard  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            return False
    return codec in _COMPRESSORS


def _strings(values: Sequence[str]) -> tuple[bytes, dict[str, int]]:
    offsets: dict[str, int] = {"": 0}
    out = bytearray(b"\0")
    for v in values:
        if v not in offsets:
            offsets[v] = len(out)
            out += v.encode("utf-8") + b"\0"
    return bytes(out), offsets


class BlockMemo(Protocol):
    """Compressed blocks remembered by ``block_key`` (what a block is made
    of: codec, flags and its blobs' digests, in order): ``get`` gives
    (stored bytes, raw length) or None."""

    def get(self, key: str) -> tuple[bytes, int] | None: ...

    def put(self, key: str, data: bytes, raw_len: int) -> None: ...


def block_key(codec: str, flags: int, blob_digests: Sequence[bytes]) -> str:
    h = hashlib.sha256(f"pack-block {F.FORMAT} {codec} {flags} {len(blob_digests)}".encode())
    for d in blob_digests:
        h.update(d)
    return h.hexdigest()


def encode_pack(pack: Pack, *, codec: str | None = None, block_size: int | None = None,
                compress: bool | None = None, btf_recode: bool | None = None, split: bool | None = None,
                blocks_memo: BlockMemo | None = None) -> bytes:
    """Pack format 3 bytes for ``pack``.  ``codec``: none, zlib (default), xz
    or zstd (``compress=True`` is the older spelling of zlib, ``False`` of
    none); ``block_size``: raw bytes per block (default 256 KiB);
    ``btf_recode``: store the blobs transformed by the BTF recoding (default:
    for every codec but none, where it saves nothing); ``split``: store each
    block's BTF strings after all its headers and types (same default).
    ``blocks_memo``: blocks compressed before are taken from it (a rebuild
    whose blobs did not change compresses nothing; a remembered block whose
    raw length does not add up is made again)."""
    if codec is None:
        codec = "none" if compress is False else F.DEFAULT_CODEC
    if codec not in _COMPRESSORS:
        raise ConfigError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")
    block_size = F.DEFAULT_BLOCK_SIZE if block_size is None else block_size
    if not isinstance(block_size, int) or not 1 <= block_size <= F.BLOCK_SIZE_MAX:
        raise ConfigError(f"block size {block_size!r}: expected 1 .. {F.BLOCK_SIZE_MAX} bytes")
    pack = canonical(pack)
    if max(len(pack.kernels), len(pack.blobs), len(pack.objects)) >= F.COUNT_MAX:
        raise ConfigError(f"a pack holds fewer than {F.COUNT_MAX} kernels, blobs and objects")

    # Blob order: similar kernels next to each other.
    rep: dict[int, _Similarity] = {}
    for key, i in pack.kernels:
        s = _similarity(key)
        if i not in rep or s < rep[i]:
            rep[i] = s
    order = sorted(range(len(pack.blobs)), key=lambda i: rep[i])
    new_id = {old: new for new, old in enumerate(order)}

    blocks: list[list[int]] = []
    cur: list[int] = []
    cur_size = 0
    for old in order:
        n = len(pack.blobs[old])
        if cur and cur_size + n > block_size:
            blocks.append(cur)
            cur, cur_size = [], 0
        cur.append(old)
        cur_size += n
    if cur:
        blocks.append(cur)

    compressor = _COMPRESSORS[codec]
    if btf_recode is None:
        btf_recode = codec != "none"
    if split is None:
        split = codec != "none"
    flags = (F.FLAG_BTF_RECODE if btf_recode else 0) | (F.FLAG_SPLIT if split else 0)
    block_recs, blob_recs, stored = [], [], []
    pos = block_max = 0
    for b, members in enumerate(blocks):
        digests = [hashlib.sha256(pack.blobs[i]).digest() for i in members]
        raw_len = sum(len(pack.blobs[i]) for i in members)   # recoding and splitting keep the length
        bkey = block_key(codec, flags, digests) if blocks_memo is not None else ""
        hit = blocks_memo.get(bkey) if blocks_memo is not None else None
        if hit is not None and hit[1] == raw_len:
            data = hit[0]
        else:
            parts = [_rt.btf_recode(pack.blobs[i], encode=True) if btf_recode else pack.blobs[i] for i in members]
            if split:
                cuts = [_rt.split_point(p[:24], len(p)) for p in parts]
                raw = b"".join(p[:c] for p, c in zip(parts, cuts)) + b"".join(p[c:] for p, c in zip(parts, cuts))
            else:
                raw = b"".join(parts)
            assert len(raw) == raw_len
            data = compressor(raw)
            if blocks_memo is not None:
                blocks_memo.put(bkey, data, raw_len)
        off = 0
        for i, d in zip(members, digests):
            blob = pack.blobs[i]
            blob_recs.append(struct.pack("<III", b, off, len(blob)) + d)
            off += len(blob)
        block_recs.append(struct.pack("<III", pos, len(data), raw_len))
        stored.append(data)
        pos += len(data)
        block_max = max(block_max, raw_len)

    strings, soff = _strings([f for key, _ in pack.kernels for f in key] + [n for n, _ in pack.objects])
    entries = b"".join(struct.pack("<IIIII", *(soff[f] for f in key), new_id[i]) for key, i in pack.kernels)
    objects = b"".join(struct.pack("<I", soff[name]) + digest for name, digest in pack.objects)
    meta = b"".join(block_recs) + b"".join(blob_recs) + entries + objects + strings
    size = F.HEADER_SIZE + len(meta) + pos
    if size > F.PACK_MAX:
        raise ConfigError(f"the pack would be {size} bytes; at most {F.PACK_MAX} are supported")
    fixed = struct.pack(F.HEADER_STRUCT, F.MAGIC, F.FORMAT, F.CODEC_IDS[codec], len(pack.kernels),
                        len(pack.blobs), len(blocks), len(pack.objects), len(strings), block_max, flags,
                        size, bytes(12), bytes(32))[:64]
    digest = hashlib.sha256(fixed + meta).digest()
    return fixed + digest + meta + b"".join(stored)


def write_pack(path: str, pack: Pack, *, codec: str | None = None, block_size: int | None = None,
               compress: bool | None = None) -> None:
    atomic_write(path, encode_pack(pack, codec=codec, block_size=block_size, compress=compress))


# --------------------------------------------------------------------------
# Reader


def decode_pack(data: bytes, source: str = "pack") -> Pack:
    """Parse and check a pack (the index digest, every block and every
    blob's size and digest)."""
    try:
        table = _rt._pack_table(data, source)
        items = [(KernelKey(*key), table.get_blob(i)) for key, i in table.entries]
        objects = list(table.objects)
    except _rt.InvalidPackError as exc:
        raise PackError(str(exc)) from None
    return build_pack(items, objects)


def read_pack(path: str) -> Pack:
    return decode_pack(read_bytes(path), source=path)


def describe_pack(data: bytes, source: str = "pack") -> str:
    """A human-readable listing of a pack's header and index."""
    try:
        table = _rt._pack_table(data, source)
    except _rt.InvalidPackError as exc:
        raise PackError(str(exc)) from None
    info = table.info
    flags = info["flags"]
    assert isinstance(flags, int)
    recoded = (", BTF recoded" if flags & F.FLAG_BTF_RECODE else "") + (", split blocks" if flags & F.FLAG_SPLIT else "")
    lines = [f"{source}: pack format {F.FORMAT}, codec {info['codec']}{recoded}, {len(table.entries)} kernels, "
             f"{info['n_blobs']} blobs in {info['n_blocks']} blocks (largest {info['block_max']} bytes raw), "
             f"{info['pack_size']} bytes"]
    for key, i in table.entries:
        lines.append(f"  {'/'.join((key[1] or '_', key[2] or '_', key[0], key[3]))}: blob {i} "
                     f"sha256 {table.blob_digest(i).hex()[:16]}")
    for name, digest in table.objects:
        lines.append(f"  object {name}: {digest.hex()}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a debugging aid
    for arg in sys.argv[1:]:
        print(describe_pack(read_bytes(arg), arg))
