"""Text dump of BTF in the format of ``bpftool btf dump file F`` (raw).

Each type is ``[id] KIND 'name' <fields>``; members, enumerators, params and
datasec entries follow on lines starting with a tab.  For split BTF only the
split part is printed, as bpftool does.
"""

from __future__ import annotations

from typing import Iterator, TextIO

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.errors import BTFFormatError
from btfembed.btf.types import Array, Composite, Datasec, DeclTag, Enum, FuncProto, Int, Type, Var
from btfembed.btf.wire import (
    CONST, ENUM64, FLOAT, FUNC, FWD, PTR, RESTRICT, TYPE_TAG, TYPEDEF, VOLATILE,
)

__all__ = ["format_type", "dump_lines", "dump"]

_INT_ENCODINGS = {0: "(none)", wire.INT_SIGNED: "SIGNED", wire.INT_CHAR: "CHAR", wire.INT_BOOL: "BOOL"}
_REF_KINDS = frozenset({PTR, CONST, VOLATILE, RESTRICT, TYPEDEF, TYPE_TAG})


def _kind_str(kind: int) -> str:
    return wire.KIND_NAMES.get(kind, "UNKNOWN") if kind < wire.KNOWN_KINDS else "UNKNOWN"


def _name(btf: BTF, name_off: int) -> str:
    if not name_off:
        return "(anon)"
    try:
        return btf.strings.get(name_off)
    except BTFFormatError:
        return "(invalid)"


def format_type(btf: BTF, tid: int, t: Type) -> str:
    """The dump text of one type (without the trailing newline)."""
    kind = t.kind
    out = [f"[{tid}] {_kind_str(kind)} '{_name(btf, t.name_off)}'"]
    if isinstance(t, Int):
        enc = _INT_ENCODINGS.get(t.encoding, "UNKN")
        out.append(f" size={t.size_type} bits_offset={t.bit_offset} nr_bits={t.bits} encoding={enc}")
    elif kind in _REF_KINDS:
        out.append(f" type_id={t.size_type}")
    elif isinstance(t, Array):
        out.append(f" type_id={t.elem_type} index_type_id={t.index_type} nr_elems={t.nelems}")
    elif isinstance(t, Composite):
        out.append(f" size={t.size_type} vlen={t.vlen}")
        for m in t.members:
            line = f"\n\t'{_name(btf, m.name_off)}' type_id={m.type} bits_offset={m.bit_offset}"
            if m.bitfield_size:
                line += f" bitfield_size={m.bitfield_size}"
            out.append(line)
    elif isinstance(t, Enum):
        signed = t.kflag
        out.append(f" encoding={'SIGNED' if signed else 'UNSIGNED'} size={t.size_type} vlen={t.vlen}")
        suffix = ("LL" if signed else "ULL") if kind == ENUM64 else ""
        for i, v in enumerate(t.values):
            out.append(f"\n\t'{_name(btf, v.name_off)}' val={t.value(i)}{suffix}")
    elif kind == FWD:
        out.append(f" fwd_kind={'union' if t.kflag else 'struct'}")
    elif kind == FUNC:
        out.append(f" type_id={t.size_type} linkage={wire.FUNC_LINKAGE.get(t.vlen, '(unknown)')}")
    elif isinstance(t, FuncProto):
        out.append(f" ret_type_id={t.size_type} vlen={t.vlen}")
        for p in t.params:
            out.append(f"\n\t'{_name(btf, p.name_off)}' type_id={p.type}")
    elif isinstance(t, Var):
        out.append(f" type_id={t.size_type}, linkage={wire.VAR_LINKAGE.get(t.linkage, '(unknown)')}")
    elif isinstance(t, Datasec):
        out.append(f" size={t.size_type} vlen={t.vlen}")
        for s in t.secinfos:
            line = f"\n\ttype_id={s.type} offset={s.offset} size={s.size}"
            if s.type < btf.type_cnt:
                line += f" ({_kind_str(btf.kind(s.type))} '{_name(btf, btf.name_off(s.type))}')"
            out.append(line)
    elif kind == FLOAT:
        out.append(f" size={t.size_type}")
    elif isinstance(t, DeclTag):
        out.append(f" type_id={t.size_type} component_idx={t.component_idx}")
    return "".join(out)


def dump_lines(btf: BTF) -> Iterator[str]:
    """Dump text, one type (possibly several lines) per item, each ending in
    a newline."""
    for tid in btf.ids():
        yield format_type(btf, tid, btf.type(tid)) + "\n"


def dump(btf: BTF, out: TextIO) -> None:
    write = out.write
    batch: list[str] = []
    for text in dump_lines(btf):
        batch.append(text)
        if len(batch) >= 4096:
            write("".join(batch))
            batch.clear()
    write("".join(batch))
