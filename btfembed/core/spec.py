"""Access specs: a CO-RE record's access string resolved against a BTF.

A spec has two views (libbpf's ``bpf_core_spec``):

* ``raw``: one index per element of the access string ("0:1:2:3" ->
  [0, 1, 2, 3]), including anonymous struct/union members;
* ``accessors``: the high-level path, only the semantically meaningful
  steps: the root, named members and array indices.

``bit_offset`` is the absolute bit offset of the accessed field from the
start of the root.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from btfembed.btf.reader import BTF
from btfembed.core.kinds import KIND_LABELS, is_enumval_based, is_field_based, is_type_based
from btfembed.errors import BTFFormatError, CoreSpecError
from btfembed.btf.wire import ARRAY, ENUM, ENUM64, STRUCT, UNION

__all__ = ["Accessor", "Spec", "parse_access", "parse_spec", "format_spec", "describe_access", "is_flex_array",
           "SPEC_MAX_LEN"]

SPEC_MAX_LEN = 64  # libbpf's BPF_CORE_SPEC_MAX_LEN
_INT_MAX = 0x7FFFFFFF
# sscanf("%d") syntax: C whitespace, an optional sign, ASCII digits.
_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")


class Accessor(NamedTuple):
    type_id: int      # the composite (member accessor), element type (array) or root
    idx: int
    name: str | None  # member or enumerator name; None for the root and array indices


class Spec:
    """A parsed (local) or matched (target) access spec."""

    __slots__ = ("btf", "root_type_id", "kind", "raw", "accessors", "bit_offset")

    def __init__(self, btf: BTF, root_type_id: int, kind: int):
        self.btf = btf
        self.root_type_id = root_type_id
        self.kind = kind
        self.raw: list[int] = []
        self.accessors: list[Accessor] = []
        self.bit_offset = 0

    def copy(self) -> "Spec":
        s = Spec(self.btf, self.root_type_id, self.kind)
        s.raw = list(self.raw)
        s.accessors = list(self.accessors)
        s.bit_offset = self.bit_offset
        return s

    def __repr__(self) -> str:
        return f"<Spec {format_spec(self)}>"


def _shown(access: str) -> str:
    """``repr`` of an access string for messages, shortened if huge."""
    return repr(access) if len(access) <= 80 else repr(access[:77]) + "..."


def parse_access(access: str) -> list[int]:
    """Split an access string into indices, with libbpf's rules (each index
    is a non-negative decimal int, ':' separated, at most 64 of them)."""
    if not access or access[0] == ":":
        raise CoreSpecError(f"malformed access string {_shown(access)}")
    out: list[int] = []
    pos, n = 0, len(access)
    while pos < n:
        if access[pos] == ":":
            pos += 1
        m = _NUMBER.match(access, pos)
        if m is None:
            raise CoreSpecError(f"malformed access string {_shown(access)}")
        sign, digits = m.groups()
        digits = digits.lstrip("0") or "0"
        # Length first: int() of thousands of digits is slow or refused.
        if len(digits) > 10 or int(digits) > _INT_MAX or (sign == "-" and digits != "0"):
            raise CoreSpecError(f"access string {_shown(access)} has an out-of-range index "
                                f"{sign}{digits if len(digits) <= 20 else digits[:17] + '...'}")
        if len(out) == SPEC_MAX_LEN:
            raise CoreSpecError(f"access string {_shown(access)} is longer than {SPEC_MAX_LEN} elements")
        out.append(int(digits))
        pos = m.end()
    return out


def is_flex_array(btf: BTF, prev: Accessor, nelems: int) -> bool:
    """An array with no elements that is the last member of its struct."""
    if prev.name is None or nelems > 0:
        return False
    return prev.idx == btf.type(prev.type_id).vlen - 1


def parse_spec(btf: BTF, root_type_id: int, access: str, kind: int) -> Spec:
    """Resolve a local CO-RE record into a ``Spec`` (libbpf ``bpf_core_parse_spec``).

    Raises ``CoreSpecError`` for anything libbpf would refuse.
    """
    try:
        return _parse_spec(btf, root_type_id, access, kind)
    except CoreSpecError:
        raise
    except BTFFormatError as exc:
        raise CoreSpecError(f"access {_shown(access)} on type [{root_type_id}]: {exc.message}") from None


def _parse_spec(btf: BTF, root_type_id: int, access: str, kind: int) -> Spec:
    if kind not in KIND_LABELS:
        raise CoreSpecError(f"unknown CO-RE relocation kind {kind}")
    if not 0 < root_type_id < btf.type_cnt:
        raise CoreSpecError(f"CO-RE record refers to type id {root_type_id}, which the object's BTF lacks")
    spec = Spec(btf, root_type_id, kind)
    if is_type_based(kind):
        if access != "0":
            raise CoreSpecError(f"type-based relocation needs access string '0', not {_shown(access)}")
        return spec
    spec.raw = parse_access(access)
    tid = btf.skip_mods_and_typedefs(root_type_id)
    t = btf.type(tid)
    idx = spec.raw[0]
    if is_enumval_based(kind):
        if t.kind not in (ENUM, ENUM64) or len(spec.raw) > 1 or idx >= t.vlen:
            raise CoreSpecError(f"enum value relocation {_shown(access)} does not name an enumerator of type [{root_type_id}]")
        spec.accessors.append(Accessor(tid, idx, t.values[idx].name))  # type: ignore[attr-defined]
        return spec
    if not is_field_based(kind):  # pragma: no cover - all kinds are classified
        raise CoreSpecError(f"unknown CO-RE relocation kind {kind}")
    spec.accessors.append(Accessor(tid, idx, None))
    spec.bit_offset = idx * btf.resolve_size(tid) * 8
    for i in range(1, len(spec.raw)):
        tid = btf.skip_mods_and_typedefs(tid)
        t = btf.type(tid)
        idx = spec.raw[i]
        if t.kind == STRUCT or t.kind == UNION:
            if idx >= t.vlen:
                raise CoreSpecError(f"access {_shown(access)}: member index {idx} is out of range for [{tid}] {t.name or '<anon>'!r}")
            m = t.members[idx]  # type: ignore[attr-defined]
            spec.bit_offset += m.bit_offset
            if m.name_off:
                if not m.name:
                    raise CoreSpecError(f"access {_shown(access)}: member {idx} of [{tid}] has an empty name")
                spec.accessors.append(Accessor(tid, idx, m.name))
            tid = m.type
        elif t.kind == ARRAY:
            elem = btf.skip_mods_and_typedefs(t.elem_type)  # type: ignore[attr-defined]
            flex = is_flex_array(btf, spec.accessors[-1], t.nelems)  # type: ignore[attr-defined]
            if not flex and idx >= t.nelems:  # type: ignore[attr-defined]
                raise CoreSpecError(f"access {_shown(access)}: array index {idx} is out of bounds")
            spec.accessors.append(Accessor(elem, idx, None))
            spec.bit_offset += idx * btf.resolve_size(elem) * 8
            tid = elem
        else:
            raise CoreSpecError(f"access {_shown(access)} (at element {i}) reaches type [{tid}] of kind {t.kind_name}, "
                                "which has no members")
    return spec


def format_spec(spec: Spec) -> str:
    """``describe_access`` with the root type id and, for field accesses, the
    raw path and byte offset: ``[5] struct task_struct.pid (0:85 @ offset 2440)``."""
    text = f"[{spec.root_type_id}] {describe_access(spec)}"
    if is_type_based(spec.kind) or is_enumval_based(spec.kind):
        return text
    raw = ":".join(str(r) for r in spec.raw)
    off = f"{spec.bit_offset // 8}" + (f".{spec.bit_offset % 8}" if spec.bit_offset % 8 else "")
    return f"{text} ({raw} @ offset {off})"


def describe_access(spec: Spec) -> str:
    """The access as names: ``struct task_struct.real_parent``,
    ``enum pid_type::PIDTYPE_TGID``, ``struct pid.numbers[0].nr``."""
    btf = spec.btf
    root = btf.type(spec.root_type_id)
    head = f"{root.kind_name.lower()} {root.name or '<anon>'}"
    if is_type_based(spec.kind):
        return head
    if is_enumval_based(spec.kind):
        return f"{head}::{spec.accessors[0].name}" if spec.accessors else head
    path = ""
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            path += f".{acc.name}"
        elif i > 0 or acc.idx > 0:
            path += f"[{acc.idx}]"
    return head + path
