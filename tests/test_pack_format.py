"""Pack format 3 (docs/pack-format.md): one owner of the constants
(btfembed.embed.format) and copies that must not drift; the writer's layout,
determinism and blob order; the BTF recoding; corrupt packs refused by
the Python reader."""

from __future__ import annotations

import hashlib
import random
import re
import struct
from pathlib import Path

import pytest

from btfembed.embed import format as F
from btfembed.embed import runtime
from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import PackError, build_pack, decode_pack, encode_pack, object_digest

from conftest import OBJS

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "btfembed" / "embed" / "include"


# ---------------------------------------------------------------------------
# The copies of the constants


def test_python_runtime_copy_matches_the_owner() -> None:
    assert runtime.PACK_MAGIC == F.MAGIC
    assert runtime.PACK_FORMAT == F.FORMAT
    assert runtime.PACK_HEADER_SIZE == F.HEADER_SIZE == struct.calcsize(F.HEADER_STRUCT)
    assert runtime.PACK_HEADER_STRUCT == F.HEADER_STRUCT
    assert (runtime.PACK_BLOCK_RECORD, runtime.PACK_BLOB_RECORD, runtime.PACK_ENTRY_RECORD,
            runtime.PACK_OBJECT_RECORD) == (F.BLOCK_RECORD, F.BLOB_RECORD, F.ENTRY_RECORD, F.OBJECT_RECORD)
    assert runtime.PACK_CODECS == F.CODECS
    assert runtime.PACK_BLOCK_SIZE_MAX == F.BLOCK_SIZE_MAX
    assert runtime.PACK_COUNT_MAX == F.COUNT_MAX
    assert (runtime.PACK_FLAG_BTF_RECODE, runtime.PACK_FLAG_SPLIT, runtime.PACK_FLAGS_KNOWN) == (
        F.FLAG_BTF_RECODE, F.FLAG_SPLIT, F.FLAGS_KNOWN)
    assert runtime.PACK_BTF_KINDS == F.BTF_KINDS
    assert runtime.FIELD_MAX == F.FIELD_MAX and runtime.BLOB_MAX == F.BLOB_MAX
    for name, code, offset in F.HEADER_FIELDS:
        assert offset + struct.calcsize("<" + code) <= F.HEADER_SIZE, name
    offsets = [o for _, _, o in F.HEADER_FIELDS]
    assert offsets == sorted(offsets) and offsets[-1] + 32 == F.HEADER_SIZE


def _c_defines() -> dict[str, str]:
    text = (INCLUDE / "btfembed.h").read_text()
    return dict(re.findall(r"^#define (BTFEMBED_PACK_\w+)\s+(.+?)\s*(?:/\*.*)?$", text, re.M))


def test_c_header_copy_matches_the_owner() -> None:
    d = _c_defines()
    if not d:
        pytest.skip("the C runtime does not read pack format 3 yet")
    assert d["BTFEMBED_PACK_MAGIC"] == '"BTFEMBED-PACK\\n"'
    assert int(d["BTFEMBED_PACK_FORMAT"]) == F.FORMAT
    assert int(d["BTFEMBED_PACK_HEADER_SIZE"]) == F.HEADER_SIZE
    assert int(d["BTFEMBED_PACK_BLOCK_RECORD"]) == F.BLOCK_RECORD
    assert int(d["BTFEMBED_PACK_BLOB_RECORD"]) == F.BLOB_RECORD
    assert int(d["BTFEMBED_PACK_ENTRY_RECORD"]) == F.ENTRY_RECORD
    assert int(d["BTFEMBED_PACK_OBJECT_RECORD"]) == F.OBJECT_RECORD
    assert d["BTFEMBED_PACK_FLAG_BTF_RECODE"] == f"{F.FLAG_BTF_RECODE}u"
    assert d["BTFEMBED_PACK_FLAG_SPLIT"] == f"{F.FLAG_SPLIT}u"
    assert d["BTFEMBED_PACK_FLAGS_KNOWN"] == f"{F.FLAGS_KNOWN}u"
    c = (INCLUDE / "btfembed.c").read_text()
    body = c[c.index("kinds[20][4] = {"):]
    rows = re.findall(r"\{ (\d+), (\d+), (\d+), (\d+) \}", body[:body.index("};")])
    assert {k: (int(a), int(b), bool(int(n)), int(d)) for k, (a, b, n, d) in enumerate(rows) if k} == F.BTF_KINDS
    for ident, name in F.CODECS.items():
        assert int(d[f"BTFEMBED_PACK_CODEC_{name.upper()}"]) == ident
    fields = {n: o for n, _, o in F.HEADER_FIELDS}
    for name, offset in fields.items():
        key = f"BTFEMBED_PACK_OFF_{name.upper()}"
        if key in d:
            assert int(d[key]) == offset, name


def test_spec_document_names_the_constants() -> None:
    doc = (ROOT / "docs" / "pack-format.md").read_text()
    assert "`BTFEMBED-PACK\\n`" in doc
    for name, _, offset in F.HEADER_FIELDS:
        assert re.search(rf"^\| {offset} \| \d+ \| `{name}` \|", doc, re.M), name
    for ident, name in F.CODECS.items():
        assert f"{ident} {name}" in doc
    for size in (F.BLOCK_RECORD, F.BLOB_RECORD, F.ENTRY_RECORD, F.OBJECT_RECORD, F.HEADER_SIZE):
        assert f"{size}" in doc


# ---------------------------------------------------------------------------
# Writer


def _items(n: int = 12) -> list[tuple[KernelKey, bytes]]:
    rng = random.Random(7)
    base = bytes(rng.randrange(256) for _ in range(3000))
    out = []
    for i in range(n):
        distro = ("ubuntu", "centos", "debian")[i % 3]
        blob = base[: 2000 + (i % 4) * 100] + bytes([i % 5]) * 50
        out.append((KernelKey("x86_64", distro, str(i % 2), f"5.{i}.0-{i * 7}"), blob))
    return out


def test_layout_and_index_digest() -> None:
    data = encode_pack(build_pack(_items()), codec="none", block_size=5000)
    h = struct.unpack_from(F.HEADER_STRUCT, data)
    fields = dict(zip([n for n, _, _ in F.HEADER_FIELDS], h))
    assert fields["magic"] == F.MAGIC and fields["format"] == F.FORMAT and fields["codec"] == F.CODEC_NONE
    assert fields["pack_size"] == len(data) and fields["flags"] == 0 and fields["reserved"] == bytes(12)
    assert fields["n_entries"] == 12 and fields["n_blobs"] == len({b for _, b in _items()})
    data_offset = (F.HEADER_SIZE + fields["n_blocks"] * F.BLOCK_RECORD + fields["n_blobs"] * F.BLOB_RECORD
                   + fields["n_entries"] * F.ENTRY_RECORD + fields["n_objects"] * F.OBJECT_RECORD
                   + fields["strings_size"])
    assert hashlib.sha256(data[:64] + data[96:data_offset]).digest() == fields["meta_sha256"]
    # blocks bounded by the block size, blobs never split
    pos = F.HEADER_SIZE
    raws = []
    for _ in range(fields["n_blocks"]):
        raws.append(struct.unpack_from("<III", data, pos)[2])
        pos += F.BLOCK_RECORD
    assert max(raws) == fields["block_max"] <= 5000 and len(raws) > 1


def test_deterministic_whatever_the_order() -> None:
    items = _items()
    objs = [("a.o", bytes(32)), ("b.o", bytes([1]) * 32)]
    ref = encode_pack(build_pack(items, objs), codec="xz")
    for seed in range(3):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        assert encode_pack(build_pack(shuffled, objs[::-1]), codec="xz") == ref
    assert decode_pack(ref).objects == tuple(sorted(objs, key=lambda o: o[1]))


def test_similar_blobs_sit_together() -> None:
    """Blob storage order: (arch, natural release order, distro)."""
    items = [(KernelKey("x86_64", "ubuntu", "20.04", r), r.encode() * 10)
             for r in ("5.4.0-100", "5.4.0-99", "5.4.0-9")]
    items.append((KernelKey("x86_64", "amzn", "2", "4.14.0-1"), b"amzn" * 10))
    items.append((KernelKey("arm64", "zzz", "2", "6.1"), b"arm" * 10))
    table = runtime._pack_table(encode_pack(build_pack(items), codec="none"))
    by_key = {k[3]: i for k, i in table.entries}
    assert [by_key[r] for r in ("6.1", "4.14.0-1", "5.4.0-9", "5.4.0-99", "5.4.0-100")] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("codec", ["none", "zlib", "xz", "zstd"])
def test_round_trip_every_codec(codec: str) -> None:
    pack = build_pack(_items(), [("x.o", object_digest((OBJS / "synth_fields.el.o").read_bytes()))])
    data = encode_pack(pack, codec=codec, block_size=4000)
    assert decode_pack(data) == pack
    assert runtime._pack_table(data).info["codec"] == codec


class _DictBlocks:
    """A block memo in a dict, counting what it is asked."""

    def __init__(self) -> None:
        self.blocks: dict[str, tuple[bytes, int]] = {}
        self.hits = self.puts = 0

    def get(self, key: str) -> tuple[bytes, int] | None:
        hit = self.blocks.get(key)
        self.hits += hit is not None
        return hit

    def put(self, key: str, data: bytes, raw_len: int) -> None:
        self.puts += 1
        self.blocks[key] = (data, raw_len)


@pytest.mark.parametrize("codec", ["zlib", "xz", "none"])
def test_remembered_blocks_give_the_same_pack(codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from btfembed.embed import pack as P

    items = _items()
    memo = _DictBlocks()
    first = encode_pack(build_pack(items, [("a.o", bytes(32))]), codec=codec, block_size=4000, blocks_memo=memo)
    assert first == encode_pack(build_pack(items, [("a.o", bytes(32))]), codec=codec, block_size=4000)
    n_blocks = struct.unpack_from(F.HEADER_STRUCT, first)[5]
    assert memo.puts == n_blocks > 2 and memo.hits == 0
    # Other objects, same blobs: every block from the memo, none compressed.
    calls: list[int] = []
    real = P._COMPRESSORS[codec]
    monkeypatch.setitem(P._COMPRESSORS, codec, lambda raw: calls.append(len(raw)) or real(raw))
    objs = [("b.o", bytes([1]) * 32)]
    again = encode_pack(build_pack(items, objs), codec=codec, block_size=4000, blocks_memo=memo)
    assert calls == [] and memo.hits == n_blocks
    assert again == encode_pack(build_pack(items, objs), codec=codec, block_size=4000)
    # One blob changed (its size kept: blocks are cut by size): only its
    # block is compressed again.
    changed = [(k, b[:-1] + b"x" if i == 0 else b) for i, (k, b) in enumerate(items)]
    calls.clear()
    encode_pack(build_pack(changed, objs), codec=codec, block_size=4000, blocks_memo=memo)
    assert len(calls) == 1
    # A remembered block whose raw length does not add up is made again.
    calls.clear()
    for key, (data, raw_len) in list(memo.blocks.items()):
        memo.blocks[key] = (data, raw_len + 1)
    assert encode_pack(build_pack(items, objs), codec=codec, block_size=4000, blocks_memo=memo) == again
    assert len(calls) == n_blocks


def test_object_digest_covers_btf_and_ext_only() -> None:
    el = (OBJS / "synth_fields.el.o").read_bytes()
    eb = (OBJS / "synth_fields.eb.o").read_bytes()
    from btfembed.inputs.elf import ElfFile

    for data in (el, eb):
        elf = ElfFile(data)
        btf, ext = elf.section_data(".BTF") or b"", elf.section_data(".BTF.ext") or b""
        want = hashlib.sha256(struct.pack("<I", len(btf)) + btf + struct.pack("<I", len(ext)) + ext).digest()
        assert object_digest(data) == want
    assert object_digest(el) != object_digest((OBJS / "synth_enums.el.o").read_bytes())


# ---------------------------------------------------------------------------
# The BTF recoding


def _real_blobs() -> list[bytes]:
    from test_runtime_rules import blobs

    return sorted(blobs().values())


def _fields(blob: bytes) -> tuple[list[int], list[list[int]]]:
    """The name offsets the recoding rewrites, in order, and per record the
    values it stores as differences (a reference walk written apart from
    runtime.btf_recode)."""
    hdr, toff, tlen = struct.unpack_from("<III", blob, 4)
    pos, end, names, deltas = hdr + toff, hdr + toff + tlen, [], []
    while pos < end:
        name, info = struct.unpack_from("<II", blob, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        extra, member, named, delta = F.BTF_KINDS[kind]
        at = [pos + 12 + extra + i * member for i in range(vlen)]
        names.append(name)
        if named:
            names += [struct.unpack_from("<I", blob, a)[0] for a in at]
        if delta:
            deltas.append([struct.unpack_from("<I", blob, a + delta)[0] for a in at])
        pos += 12 + extra + vlen * member
    return names, deltas


def test_btf_recode_recodes_names_and_differences_and_round_trips() -> None:
    for blob in _real_blobs():
        enc = runtime.btf_recode(blob, encode=True)
        assert len(enc) == len(blob) and enc != blob
        assert runtime.btf_recode(enc, encode=False) == blob
        (before, old), (after, new) = _fields(blob), _fields(enc)
        # strings are laid out in order of first use: most names become 0
        assert after.count(0) > 0.7 * len(after)
        hdr, _, _, soff, slen = struct.unpack_from("<IIIII", blob, 4)
        strs = blob[hdr + soff:hdr + soff + slen]
        nxt = 1
        for v, w in zip(before, after):
            if v == nxt:
                assert w == 0
                nxt = strs.index(b"\0", nxt) + 1
            else:
                assert w == (v + 1 if v < nxt else v)
        assert any(len(r) > 1 for r in old)
        for values, stored in zip(old, new):
            assert stored == [(v - p) & 0xFFFFFFFF for v, p in zip(values, [0] + values[:-1])]
        # the header and the strings are untouched
        assert blob[:24] == enc[:24] and blob[hdr + soff:] == enc[hdr + soff:]


@pytest.mark.parametrize("seed", range(4))
def test_btf_recode_is_a_bijection_on_any_bytes(seed: int) -> None:
    """Damaged or truncated BTF, and bytes that are not BTF at all: encode
    and decode undo each other both ways (the walk stops where the shape
    ends, or never starts)."""
    rng = random.Random(seed)
    blobs = _real_blobs()
    for _ in range(250):
        b = bytearray(rng.choice(blobs))
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if rng.random() < 0.3:
            b = b[:rng.randrange(len(b) + 1)]
        if len(b) >= 20 and rng.random() < 0.1:  # overlapping sections
            struct.pack_into("<I", b, 16, 0)
        data = bytes(b)
        assert runtime.btf_recode(runtime.btf_recode(data, encode=True), encode=False) == data
        assert runtime.btf_recode(runtime.btf_recode(data, encode=False), encode=True) == data
    junk = bytes(rng.randrange(256) for _ in range(500))
    assert runtime.btf_recode(junk, encode=True) == junk


@pytest.mark.parametrize("codec", ["none", "zlib", "xz"])
def test_packs_of_btf_store_recoded_blobs(codec: str) -> None:
    """Compressed packs set the flag and store recoded blobs; none does not
    (unless asked); every reader gives back the original bytes."""
    blobs = _real_blobs()
    pack = build_pack([(KernelKey("x86_64", "d", str(i), f"5.{i}"), b) for i, b in enumerate(blobs)])
    data = encode_pack(pack, codec=codec)
    assert _fixed(data)["flags"] == (0 if codec == "none" else F.FLAG_BTF_RECODE | F.FLAG_SPLIT)
    assert decode_pack(data) == pack
    forced = encode_pack(pack, codec="none", btf_recode=True)
    assert _fixed(forced)["flags"] == F.FLAG_BTF_RECODE and decode_pack(forced) == pack
    assert all(b not in forced for b in blobs) and all(runtime.btf_recode(b, encode=True) in forced for b in blobs)
    plain = bytearray(forced)
    plain[44:48] = bytes(4)                     # flag cleared: the stored bytes no longer match the digests
    with pytest.raises(PackError, match="digest"):
        decode_pack(_reseal(plain))


@pytest.mark.parametrize("recode", [False, True])
def test_split_blocks_hold_first_parts_then_strings(recode: bool) -> None:
    """A split block: each blob's header and types, in order, then each
    blob's strings; a blob that is not BTF stays whole among the first
    parts.  Readers reassemble every blob."""
    blobs = _real_blobs()
    junk = bytes(range(7)) * 9
    items = [(KernelKey("x86_64", "d", str(i), f"5.{i}"), b) for i, b in enumerate(blobs + [junk])]
    pack = build_pack(items)
    data = encode_pack(pack, codec="none", btf_recode=recode, split=True)
    f = _fixed(data)
    assert f["flags"] == F.FLAG_SPLIT | (F.FLAG_BTF_RECODE if recode else 0) and f["n_blocks"] == 1
    assert decode_pack(data) == pack
    table = runtime._pack_table(data)
    stored = [runtime.btf_recode(b, encode=True) if recode else b for b in
              [table.get_blob(i) for i in range(f["n_blobs"])]]
    cuts = [runtime.split_point(b[:24], len(b)) for b in stored]
    assert cuts.count(len(junk)) >= 1 and all(c < len(b) for b, c in zip(stored, cuts) if b != junk)
    want = b"".join(b[:c] for b, c in zip(stored, cuts)) + b"".join(b[c:] for b, c in zip(stored, cuts))
    assert data.endswith(want)
    # a string section that does not end the blob: no cut
    b = bytearray(blobs[0])
    struct.pack_into("<I", b, 20, struct.unpack_from("<I", b, 20)[0] - 1)
    assert runtime.split_point(bytes(b[:24]), len(b)) == len(b)


# ---------------------------------------------------------------------------
# Reader: damaged packs


def _fixed(data: bytes) -> dict:
    return dict(zip([n for n, _, _ in F.HEADER_FIELDS], struct.unpack_from(F.HEADER_STRUCT, data)))


def _reseal(data: bytearray) -> bytes:
    """Recompute the index digest (to get past it and test later checks)."""
    f = _fixed(bytes(data))
    end = (F.HEADER_SIZE + f["n_blocks"] * F.BLOCK_RECORD + f["n_blobs"] * F.BLOB_RECORD
           + f["n_entries"] * F.ENTRY_RECORD + f["n_objects"] * F.OBJECT_RECORD + f["strings_size"])
    data[64:96] = hashlib.sha256(bytes(data[:64]) + bytes(data[96:end])).digest()
    return bytes(data)


def _section(data: bytes, name: str) -> int:
    f = _fixed(data)
    pos = F.HEADER_SIZE
    for sec, count, size in (("blocks", "n_blocks", F.BLOCK_RECORD), ("blobs", "n_blobs", F.BLOB_RECORD),
                             ("entries", "n_entries", F.ENTRY_RECORD)):
        if sec == name:
            return pos
        pos += f[count] * size
    raise KeyError(name)


def _read_all(data: bytes) -> None:
    table = runtime._pack_table(data)
    for _, i in table.entries:
        table.get_blob(i)


def _flip_blob_byte(d: bytes) -> bytes:
    b = bytearray(d)
    b[-3] ^= 0x40
    return bytes(b)


def _swap_entries(d: bytes, reseal: bool) -> bytes:
    b = bytearray(d)
    p = _section(d, "entries")
    r = F.ENTRY_RECORD
    b[p:p + r], b[p + r:p + 2 * r] = b[p + r:p + 2 * r], b[p:p + r]
    return _reseal(b) if reseal else bytes(b)


def _swap_entry_blobs(d: bytes) -> bytes:
    """Two entries exchange their blob numbers: keys still sorted."""
    b = bytearray(d)
    p = _section(d, "entries")
    r = F.ENTRY_RECORD
    for i in range(_fixed(d)["n_entries"] - 1):
        x, y = p + i * r + 16, p + (i + 1) * r + 16
        if b[x:x + 4] != b[y:y + 4]:
            b[x:x + 4], b[y:y + 4] = b[y:y + 4], b[x:x + 4]
            return bytes(b)
    raise AssertionError("all entries share a blob")


def _swap_blob_digests(d: bytes) -> bytes:
    b = bytearray(d)
    p = _section(d, "blobs") + 12
    r = F.BLOB_RECORD
    b[p:p + 32], b[p + r:p + r + 32] = b[p + r:p + r + 32], b[p:p + 32]
    return _reseal(b)


def _truncate_block(d: bytes, keep_size: bool) -> bytes:
    b = bytearray(d[:-10])
    if keep_size:
        b[48:52] = struct.pack("<I", len(b))
        return _reseal(b)
    return bytes(b)


MANGLES = [
    ("magic", lambda d: b"XX" + d[2:]),
    ("header", lambda d: d[:40]),
    ("index", lambda d: d[:200]),
    ("format", lambda d: d[:14] + b"\x01\x00" + d[16:]),
    ("codec", lambda d: _reseal(bytearray(d[:16] + b"\x09\x00\x00\x00" + d[20:]))),
    ("flags", lambda d: _reseal(bytearray(d[:44] + b"\x04\x00\x00\x00" + d[48:]))),
    ("flip-blob-byte", _flip_blob_byte),
    ("flip-index-byte", lambda d: d[:150] + bytes([d[150] ^ 1]) + d[151:]),
    ("truncate", lambda d: _truncate_block(d, False)),
    ("truncate-resized", lambda d: _truncate_block(d, True)),
    ("swap-entries", lambda d: _swap_entries(d, False)),
    ("swap-entries-resealed", lambda d: _swap_entries(d, True)),
    ("swap-entry-blobs", _swap_entry_blobs),
    ("swap-blob-digests", _swap_blob_digests),
    ("trailing", lambda d: d + b"\0"),
]


@pytest.mark.parametrize("codec", ["none", "zlib", "xz"])
@pytest.mark.parametrize("mangle", [m for _, m in MANGLES], ids=[n for n, _ in MANGLES])
def test_damaged_packs_are_refused(mangle, codec: str) -> None:
    data = encode_pack(build_pack(_items()), codec=codec, block_size=5000)
    _read_all(data)
    bad = mangle(data)
    assert bad != data
    with pytest.raises(runtime.InvalidPackError):
        _read_all(bad)
    with pytest.raises(PackError):
        decode_pack(bad)


def test_format_1_is_refused_with_a_clear_message() -> None:
    index = b'{"format":1}' + b" " * 288
    old = F.MAGIC + struct.pack("<I", len(index)) + index
    with pytest.raises(runtime.InvalidPackError, match="format"):
        runtime._pack_table(old)
