"""Pack format 3: the constants every reader and writer shares.

This module is their one owner (the specification is docs/pack-format.md).
The copies kept by the standalone runtimes -- ``btfembed.embed.runtime``
(copied into generated Python), ``include/btfembed.h`` (generated C) -- and
by the Go and Rust runtimes are compared with these values by
tests/test_pack_format.py, which fails when any of them drifts.
"""

from __future__ import annotations

from btfembed.btf import wire

__all__ = [
    "MAGIC", "FORMAT", "HEADER_SIZE", "DIGEST_SIZE", "BLOCK_RECORD", "BLOB_RECORD", "ENTRY_RECORD",
    "OBJECT_RECORD", "CODECS", "CODEC_IDS", "CODEC_NONE", "CODEC_ZLIB", "CODEC_XZ", "CODEC_ZSTD",
    "DEFAULT_CODEC", "DEFAULT_BLOCK_SIZE", "BLOCK_SIZE_MAX", "FIELD_MAX", "BLOB_MAX", "PACK_MAX",
    "COUNT_MAX", "HEADER_FIELDS", "FLAG_BTF_RECODE", "FLAG_SPLIT", "FLAGS_KNOWN", "BTF_KINDS",
]

MAGIC = b"BTFEMBED-PACK\n"       # 14 bytes, as in format 1
FORMAT = 3                        # 3: blobs may be stored with their BTF name references recoded
HEADER_SIZE = 96                  # fixed fields (64 bytes) + metadata SHA-256
DIGEST_SIZE = 32                  # SHA-256
BLOCK_RECORD = 12                 # u32 data offset, u32 stored size, u32 raw size
BLOB_RECORD = 12 + DIGEST_SIZE    # u32 block, u32 offset, u32 length, sha256
ENTRY_RECORD = 20                 # u32 arch, distro, distro_version, release (string offsets), u32 blob
OBJECT_RECORD = 4 + DIGEST_SIZE   # u32 name (string offset), sha256 of .BTF/.BTF.ext

CODEC_NONE = 0
CODEC_ZLIB = 1
CODEC_XZ = 2
CODEC_ZSTD = 3
CODECS = {CODEC_NONE: "none", CODEC_ZLIB: "zlib", CODEC_XZ: "xz", CODEC_ZSTD: "zstd"}
CODEC_IDS = {name: ident for ident, name in CODECS.items()}
DEFAULT_CODEC = "zlib"

DEFAULT_BLOCK_SIZE = 256 * 1024   # raw bytes per block (a larger blob gets a block of its own)
BLOCK_SIZE_MAX = 256 * 1024 * 1024
FIELD_MAX = 255                   # bytes per key field (and per string)
BLOB_MAX = 256 * 1024 * 1024      # largest raw blob
PACK_MAX = 0xFFFFFFFF             # offsets are u32
COUNT_MAX = 1 << 24               # entries, blobs, blocks, objects

# Header flags (docs/pack-format.md); the writer sets both for every codec
# but none.  FLAG_BTF_RECODE: every blob is stored transformed by the BTF
# recoding.  FLAG_SPLIT: a block holds the first parts of its blobs (BTF
# header and types), then their second parts (strings).
FLAG_BTF_RECODE = 1
FLAG_SPLIT = 2
FLAGS_KNOWN = FLAG_BTF_RECODE | FLAG_SPLIT

# The BTF recoding's view of a type record, by kind (BTF_KIND_*): (bytes
# after the 12-byte common part, bytes per member, whether each member
# starts with a name offset, the position in each member of a value stored
# as the difference from the previous member's, 0 for none).  The sizes are
# the BTF format's (``btf.wire.KIND_WORDS``); what the recoding adds is which
# members start with a name and which hold a delta-coded value (STRUCT and
# UNION member offsets, ENUM values).  Kinds not listed end the walk.
_RECODED_MEMBERS = {
    wire.STRUCT: (True, 8), wire.UNION: (True, 8), wire.ENUM: (True, 4),
    wire.FUNC_PROTO: (True, 0), wire.ENUM64: (True, 0),
}
BTF_KINDS = {int(kind): (4 * fixed, 4 * per, *_RECODED_MEMBERS.get(kind, (False, 0)))
             for kind, (fixed, per) in wire.KIND_WORDS.items()}

# Header layout: (name, struct code, offset); all little-endian.
HEADER_FIELDS = (
    ("magic", "14s", 0),
    ("format", "H", 14),
    ("codec", "I", 16),
    ("n_entries", "I", 20),
    ("n_blobs", "I", 24),
    ("n_blocks", "I", 28),
    ("n_objects", "I", 32),
    ("strings_size", "I", 36),
    ("block_max", "I", 40),
    ("flags", "I", 44),
    ("pack_size", "I", 48),
    ("reserved", "12s", 52),
    ("meta_sha256", "32s", 64),
)
HEADER_STRUCT = "<14sHIIIIIIIII12s32s"
