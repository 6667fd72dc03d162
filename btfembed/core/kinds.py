"""CO-RE relocation kinds (uapi ``enum bpf_core_relo_kind``) and their families."""

from __future__ import annotations

import enum

__all__ = ["RelocKind", "is_field_based", "is_type_based", "is_enumval_based", "KIND_LABELS"]


class RelocKind(enum.IntEnum):
    """A CO-RE relocation kind (uapi ``enum bpf_core_relo_kind``)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


MAX_KIND = max(RelocKind)

# libbpf's short names (core_relo_kind_str), used in messages and reports.
KIND_LABELS = {
    0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64", 5: "rshift_u64",
    6: "local_type_id", 7: "target_type_id", 8: "type_exists", 9: "type_size",
    10: "enumval_exists", 11: "enumval_value", 12: "type_matches",
}

_FIELD = frozenset(range(0, 6))
_TYPE = frozenset({6, 7, 8, 9, 12})
_ENUMVAL = frozenset({10, 11})
# Kinds whose result is 0 (not a poisoned instruction) when nothing matches.
EXISTENCE_KINDS = frozenset({2, 7, 8, 9, 10, 12})


def is_field_based(kind: int) -> bool:
    return kind in _FIELD


def is_type_based(kind: int) -> bool:
    return kind in _TYPE


def is_enumval_based(kind: int) -> bool:
    return kind in _ENUMVAL
