"""BTF wire format: constants, bit layout and per-kind record sizes.

Everything that depends on how BTF is laid out in bytes lives here, so a
change of the format touches one module.  Reference: the kernel's UAPI header
``include/uapi/linux/btf.h`` as of 2026-04 (libbpf commits ``462733ec``
"Add BTF kind layout encoding to UAPI" and ``9801e029`` "Extend BTF UAPI vlen,
kinds to use unused bits").

Header (``struct btf_header``), all offsets relative to the end of the header::

    u16 magic (0xEB9F)  u8 version (1)  u8 flags  u32 hdr_len
    u32 type_off  u32 type_len  u32 str_off  u32 str_len      -- 24 bytes
    u32 layout_off  u32 layout_len                           -- 32 bytes (2026)

Type record: ``u32 name_off; u32 info; u32 size_or_type`` followed by
kind-specific data.  ``info``: bits 0-23 vlen, bits 24-30 kind, bit 31
kind_flag.  The old encoding (16-bit vlen, 5-bit kind, other bits zero) reads
the same way.

The optional layout section is an array of ``{u8 info_sz; u8 elem_sz;
u16 flags}`` indexed by kind: a record of that kind is ``12 + info_sz +
elem_sz * vlen`` bytes.  It lets a reader skip kinds it does not know.
"""

from __future__ import annotations

import enum

MAGIC = 0xEB9F
VERSION = 1
HEADER_LEN = 24          # hdr_len written by libbpf <= 1.7 and bpftool 7.1
HEADER_LEN_LAYOUT = 32   # hdr_len with layout_off/layout_len (2026 UAPI)

VLEN_MASK = 0xFFFFFF
KIND_SHIFT = 24
KIND_MASK = 0x7F
KFLAG_SHIFT = 31
MAX_KIND = KIND_MASK

# Member ``offset`` when the parent has kind_flag set.
MEMBER_BITFIELD_SHIFT = 24

# INT data word.
INT_ENCODING_SHIFT = 24
INT_OFFSET_SHIFT = 16
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4


class Kind(enum.IntEnum):
    """BTF type kinds (with the Linux release that introduced each)."""

    UNKN = 0
    INT = 1          # 4.18
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12        # 5.0
    FUNC_PROTO = 13  # 5.0
    VAR = 14         # 5.2
    DATASEC = 15     # 5.2
    FLOAT = 16       # 5.13
    DECL_TAG = 17    # 5.16
    TYPE_TAG = 18    # 5.17
    ENUM64 = 19      # 6.0


# Plain ints for the hot paths (IntEnum comparisons are slower).
UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, \
    FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(20)
KNOWN_KINDS = 20

KIND_NAMES = {k.value: k.name for k in Kind}

# Trailing data per kind, in 4-byte words: (fixed words, words per vlen item).
# Every BTF record is made of u32 words, which is what makes a word-array
# view of the type section possible.
KIND_WORDS: dict[int, tuple[int, int]] = {
    INT: (1, 0),
    PTR: (0, 0),
    ARRAY: (3, 0),        # elem type, index type, nelems
    STRUCT: (0, 3),       # name_off, type, offset
    UNION: (0, 3),
    ENUM: (0, 2),         # name_off, val
    FWD: (0, 0),
    TYPEDEF: (0, 0),
    VOLATILE: (0, 0),
    CONST: (0, 0),
    RESTRICT: (0, 0),
    FUNC: (0, 0),
    FUNC_PROTO: (0, 2),   # name_off, type
    VAR: (1, 0),          # linkage
    DATASEC: (0, 3),      # type, offset, size
    FLOAT: (0, 0),
    DECL_TAG: (1, 0),     # component_idx (s32)
    TYPE_TAG: (0, 0),
    ENUM64: (0, 3),       # name_off, val_lo32, val_hi32
}

# Kinds whose third header word is a size; the others hold a type id.
SIZED_KINDS = frozenset({INT, STRUCT, UNION, ENUM, DATASEC, FLOAT, ENUM64})

# Modifiers skipped (with typedefs) when resolving a type.
MODIFIER_KINDS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
# What ``BTF.skip_mods_and_typedefs`` follows.
MODIFIER_OR_TYPEDEF_KINDS = MODIFIER_KINDS | {TYPEDEF}

FUNC_LINKAGE = {0: "static", 1: "global", 2: "extern"}
VAR_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def layout_entry_bytes(kind: int) -> tuple[int, int]:
    """(info_sz, elem_sz) in bytes for a known kind, as a layout section states it."""
    fixed, per = KIND_WORDS[kind]
    return fixed * 4, per * 4
