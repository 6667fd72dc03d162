"""The raw BTF reader and writer on synthetic BTF: every kind, both byte
orders, the 2026 header with a layout section, 24-bit vlen, split BTF, and
malformed input."""

from __future__ import annotations

import struct

import pytest

from btfembed.btf import wire
from btfembed.btf.reader import BTF, parse_header
from btfembed.errors import BTFFormatError, TypeIdError, UnsupportedKindError
from btfembed.btf.strings import essential_name
from btfembed.btf.types import Composite, DeclTag, Enum, EnumValue, Type, Var, VarSecinfo, make_info
from btfembed.btf.types import Datasec as DatasecT
from btfembed.btf.writer import Builder, roundtrip
from btfembed.btf.wire import (
    CONST, DATASEC, DECL_TAG, ENUM64, FUNC, FWD, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE,
)


def every_kind() -> Builder:
    """A BTF holding each of the 19 kinds at least once."""
    b = Builder()
    i32 = b.add_int("int", 4, wire.INT_SIGNED)                                  # 1
    u8 = b.add_int("unsigned char", 1)                                          # 2
    ptr = b.add_ref(PTR, i32)                                                   # 3
    arr = b.add_array(u8, i32, 16)                                              # 4
    s = b.add_struct("s", 24, [("a", i32, 0), ("b", u8, 32, 3), ("c", arr, 64), ("", 0, 192)])  # 5 (kflag)
    b.add_union("u", 4, [("x", i32, 0), ("y", u8, 0)])                          # 6
    b.add_enum("e", 4, [("E_A", 0), ("E_B", -1)], signed=True)                 # 7
    b.add_ref(FWD, 0, "fwd_union", kflag=1)                                     # 8
    b.add_ref(TYPEDEF, s, "s_t")                                                # 9
    b.add_ref(VOLATILE, i32)                                                    # 10
    b.add_ref(CONST, i32)                                                       # 11
    b.add_ref(RESTRICT, ptr)                                                    # 12
    proto = b.add_func_proto(i32, [("ctx", ptr), ("", i32)])                    # 13
    b.add_ref(FUNC, proto, "f", vlen=1)                                         # 14
    var = b.add(Var(VAR, "v", make_info(VAR), i32, linkage=1))                  # 15
    b.add(DatasecT(DATASEC, ".data", make_info(DATASEC, 1), 4, secinfos=[VarSecinfo(var, 0, 4)]))  # 16
    b.add_float("double", 8)                                                    # 17
    b.add(DeclTag(DECL_TAG, "tag", make_info(DECL_TAG), s, component_idx=-1))   # 18
    b.add_ref(TYPE_TAG, i32, "user")                                            # 19
    b.add_enum("e64", 8, [("BIG", 1 << 40), ("NEG", -2)], signed=True, enum64=True)  # 20
    return b


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("hdr_len", [24, 32])
def test_every_kind_decodes_and_roundtrips(order: str, hdr_len: int) -> None:
    raw = every_kind().to_bytes(byte_order=order, hdr_len=hdr_len)
    btf = BTF(raw)
    assert btf.byte_order == order and btf.header.hdr_len == hdr_len
    assert btf.type_cnt == 21
    kinds = {btf.type(i).kind for i in btf.ids()}
    assert kinds == set(range(1, 20))
    s = btf.type(5)
    assert isinstance(s, Composite) and s.kflag == 1
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in s.members] == [
        ("a", 0, 0), ("b", 32, 3), ("c", 64, 0), ("", 192, 0)]
    e = btf.type(7)
    assert isinstance(e, Enum) and [e.value(0), e.value(1)] == [0, -1]
    e64 = btf.type(20)
    assert e64.kind == ENUM64 and [e64.value(0), e64.value(1)] == [1 << 40, -2]
    assert btf.type(8).kflag == 1 and btf.type(8).name == "fwd_union"
    assert btf.type(18).component_idx == -1
    assert btf.type(14).vlen == 1  # FUNC linkage lives in vlen
    assert roundtrip(btf) == raw
    btf.validate()


def test_byte_orders_decode_to_the_same_types() -> None:
    b = every_kind()
    le, be = BTF(b.to_bytes(byte_order="little")), BTF(b.to_bytes(byte_order="big"))
    for tid in le.ids():
        assert le.type(tid) == be.type(tid)


def layout_btf(unknown_kind: int = 25, info_words: int = 2, elem_words: int = 1, vlen: int = 3) -> bytes:
    """A 32-byte-header BTF with a layout section that sizes ``unknown_kind``,
    followed by one type of that kind between two known ones."""
    b = Builder()
    b.add_int("int", 4, wire.INT_SIGNED)
    name = b.strings.add("future")
    b.add_words([name, make_info(unknown_kind, vlen), 1] + [7] * info_words + [9] * (elem_words * vlen))
    b.add_ref(PTR, 1)
    lay = bytearray(struct.pack("<BBH", 0, 0, 0) * (unknown_kind + 1))
    for k in range(wire.KNOWN_KINDS):
        if k in wire.KIND_WORDS:
            struct.pack_into("<BBH", lay, 4 * k, *wire.layout_entry_bytes(k), 0)
    struct.pack_into("<BBH", lay, 4 * unknown_kind, 4 * info_words, 4 * elem_words, 0)
    return b.to_bytes(hdr_len=32, layout=bytes(lay))


def test_layout_section_sizes_an_unknown_kind() -> None:
    raw = layout_btf()
    btf = BTF(raw)
    assert btf.header.layout_len == 4 * 26
    assert btf.type_cnt == 4
    t = btf.type(2)
    assert t.kind == 25 and t.name == "future" and t.vlen == 3
    assert t.extra == (7, 7, 9, 9, 9)
    assert btf.type(3).kind == PTR and btf.type(3).type == 1
    assert roundtrip(btf) == raw


def test_unknown_kind_without_layout_is_an_error() -> None:
    b = Builder()
    b.add_int("int", 4)
    b.add_words([0, make_info(25, 0), 0])
    with pytest.raises(UnsupportedKindError, match="unknown kind 25"):
        BTF(b.to_bytes())


def test_layout_with_wrong_size_for_known_kind_is_an_error() -> None:
    raw = bytearray(layout_btf())
    hdr = parse_header(bytes(raw))
    struct.pack_into("<BBH", raw, hdr.hdr_len + hdr.layout_off + 4 * wire.INT, 8, 0, 0)
    with pytest.raises(BTFFormatError, match="layout section gives kind INT"):
        BTF(bytes(raw))


def test_24_bit_vlen() -> None:
    n = 70000  # > 0xffff: needs the 2026 vlen bits
    b = Builder()
    i32 = b.add_int("int", 4)
    b.add_enum("big", 4, [(f"V{k}", k) for k in range(n)])
    btf = BTF(b.to_bytes())
    e = btf.type(2)
    assert e.vlen == n and len(e.values) == n and e.values[-1].name == f"V{n - 1}"
    assert i32 == 1


def test_kflag_and_old_encoding_compat() -> None:
    # The old encoding: kind in bits 24-28, vlen in bits 0-15, kflag bit 31.
    b = Builder()
    b.add_int("int", 4)
    b.add_words([b.strings.add("s"), (1 << 31) | (STRUCT << 24) | 1, 4, b.strings.add("x"), 1, (5 << 24) | 3])
    t = BTF(b.to_bytes()).type(2)
    assert t.kflag == 1 and t.members[0].bitfield_size == 5 and t.members[0].bit_offset == 3


def test_split_btf_ids_and_strings_continue_after_base() -> None:
    base = Builder()
    i32 = base.add_int("int", 4, wire.INT_SIGNED)
    base.add_struct("task_struct", 8, [("pid", i32, 0)])
    base_btf = BTF(base.to_bytes())
    split = Builder()
    split.strings = type(split.strings)()  # fresh table; offsets shifted below
    # Split string offsets start at the base table's length.
    shift = len(base_btf.strings)
    name = split.strings.add("mod_struct") + shift
    field = split.strings.add("owner") + shift
    split.add_words([name, make_info(STRUCT, 1), 8, field, 3, 0])
    split.add_words([0, make_info(PTR), 2])  # id 4 points at the base's task_struct
    raw = split.to_bytes()
    # A split string section does not have to start with "".
    mod = BTF(raw, base=base_btf)
    assert mod.start_id == 3 and mod.type_cnt == 5
    assert mod.type(3).name == "mod_struct" and mod.type(3).members[0].name == "owner"
    assert mod.type(2).name == "task_struct"  # resolved through the base
    assert mod.find_by_name("mod_struct") == [3]
    assert mod.find_by_name("task_struct", include_base=True) == [2]


def test_name_lookups_duplicates_and_flavors() -> None:
    b = Builder()
    i32 = b.add_int("int", 4)
    b.add_ref(FWD, 0, "task_struct")                        # 2
    b.add_struct("task_struct", 4, [("pid", i32, 0)])       # 3 (same name_off as 2)
    b.add_struct("task_struct___old", 4, [("pid", i32, 0)])  # 4 (flavor)
    b.add_struct("x____y", 4, [])                           # 5: four underscores: no flavor
    b.add_struct("a___b___c", 4, [])                        # 6: essential "a___b"
    btf = BTF(b.to_bytes())
    assert btf.find_by_name("task_struct") == [2, 3]
    assert btf.find_by_essential_name("task_struct") == [2, 3, 4]
    assert btf.find_by_essential_name("x____y") == [5]
    assert btf.find_by_essential_name("a___b") == [6]
    assert btf.find_by_essential_name("missing") == []
    assert essential_name("task_struct___old") == "task_struct"
    assert essential_name("___x") == "___x" and essential_name("a___") == "a___"


def test_midstring_name_offsets_are_found() -> None:
    b = Builder()
    long_off = b.strings.add("big_task_struct")
    b.add_words([long_off + 4, make_info(STRUCT, 0), 4])  # name "task_struct", mid-string
    btf = BTF(b.to_bytes())
    assert btf.type(1).name == "task_struct"
    assert btf.find_by_essential_name("task_struct") == [1]


def test_name_index_marks_exactly_the_midstring_names() -> None:
    """What a kernel store keeps beside the types: every type's name offset,
    and which of them start inside another string (offset 0, the empty
    name, is a start)."""
    b = Builder()
    long_off = b.strings.add("big_task_struct")
    task_off = b.strings.add("task")
    offs = [long_off + 4, long_off, 0, long_off + 1, task_off]   # 0 and 3 start mid-string
    for off in offs:
        b.add_words([off, make_info(STRUCT, 0), 4])
    index = BTF(b.to_bytes()).name_index()
    assert index is not None
    assert list(index[0]) == offs and list(index[1]) == [0, 3]
    one = Builder()
    one.add_words([one.strings.add("big_task_struct") + 4, make_info(STRUCT, 0), 4])
    single = BTF(one.to_bytes()).name_index()
    assert single is not None and list(single[0]) == [5] and list(single[1]) == [0]


def header_bytes(**fields: int) -> bytes:
    b = Builder()
    b.add_int("int", 4)  # 16 bytes of types, 5 bytes of strings
    raw = bytearray(b.to_bytes())
    names = ["magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off", "str_len"]
    values = dict(zip(names, struct.unpack_from("<HBBIIIII", raw)))
    values.update(fields)
    struct.pack_into("<HBBIIIII", raw, 0, *(values[n] for n in names))
    return bytes(raw)


@pytest.mark.parametrize("raw, message", [
    (b"\x9f\xeb\x01", "truncated BTF header"),
    (b"\x00" * 24, "bad BTF magic"),
    (header_bytes(hdr_len=16), "below the minimum"),
    (header_bytes(hdr_len=4096), "past the end of the data"),
    (header_bytes(str_len=500), "string section"),
    (header_bytes(type_len=16, str_off=8), "overlaps the string section"),
    (header_bytes(type_off=2, type_len=12, str_off=16), "not 4-byte aligned"),
    (header_bytes(type_len=14, str_off=16), "not a multiple of 4"),
])
def test_malformed_headers(raw: bytes, message: str) -> None:
    with pytest.raises(BTFFormatError, match=message):
        BTF(raw)


def test_truncated_type_record() -> None:
    b = Builder()
    b.add_struct("s", 8, [("a", 0, 0), ("b", 0, 32)])
    raw = bytearray(b.to_bytes())
    struct.pack_into("<I", raw, 24 + 4, make_info(STRUCT, 40))  # claims 40 members
    with pytest.raises(BTFFormatError, match=r"type \[1\] runs past the end"):
        BTF(bytes(raw))


def test_bad_string_offset_and_missing_type() -> None:
    b = Builder()
    b.add_words([9999, make_info(PTR), 0])
    # Refused at open, as libbpf's sanity check does (not only on decoding).
    with pytest.raises(BTFFormatError, match="type \\[1\\]: name offset 9999"):
        BTF(b.to_bytes())
    b = Builder()
    b.add_ref(PTR, 42)
    with pytest.raises(TypeIdError, match="missing type id 42"):
        BTF(b.to_bytes())


def test_reference_cycles_are_reported() -> None:
    b = Builder()
    b.add_ref(TYPEDEF, 1, "loop")  # typedef -> itself
    btf = BTF(b.to_bytes())
    with pytest.raises(TypeIdError, match="cycle"):
        btf.skip_mods_and_typedefs(1)
    with pytest.raises(TypeIdError):
        btf.resolve_size(1)


def test_string_section_rules() -> None:
    b = Builder()
    b.add_int("int", 4)
    raw = bytearray(b.to_bytes())
    raw[-1] = ord("x")  # last string not terminated
    with pytest.raises(BTFFormatError, match="NUL-terminated"):
        BTF(bytes(raw))
    b = Builder()
    b.add_int("int", 4)
    raw = bytearray(b.to_bytes())
    hdr = parse_header(bytes(raw))
    raw[hdr.hdr_len + hdr.str_off] = ord("x")  # base table must start with ""
    with pytest.raises(BTFFormatError, match="start with an empty string"):
        BTF(bytes(raw))


def test_resolve_size_and_pointer_size() -> None:
    b = Builder()
    long_ = b.add_int("long int", 8, wire.INT_SIGNED)
    i32 = b.add_int("int", 4, wire.INT_SIGNED)
    arr = b.add_array(i32, i32, 10)
    arr2 = b.add_array(arr, i32, 3)
    ptr = b.add_ref(PTR, i32)
    td = b.add_ref(TYPEDEF, arr2, "grid")
    btf = BTF(b.to_bytes())
    assert btf.pointer_size() == 8 and long_ == 1
    assert btf.resolve_size(td) == 120 and btf.resolve_size(ptr) == 8


def test_builder_is_deterministic() -> None:
    assert every_kind().to_bytes() == every_kind().to_bytes()
    assert Type(PTR, "", make_info(PTR), 0) == Type(PTR, "", make_info(PTR), 0)
    assert EnumValue("A", 1) == EnumValue("A", 1)
    assert UNION == 5


def brute_essential_lookup(btf: BTF, essential: str) -> list[int]:
    """The lookup by definition: decode every name, compare essential names."""
    return [t for t in range(btf.start_id, btf.type_cnt) if btf.name(t) and essential_name(btf.name(t)) == essential]


def test_prefetched_lookups_equal_on_demand_lookups() -> None:
    b = Builder()
    i32 = b.add_int("int", 4)
    b.add_ref(FWD, 0, "task_struct")
    b.add_struct("task_struct", 4, [("pid", i32, 0)])
    b.add_struct("task_struct___old", 4, [("pid", i32, 0)])
    long_off = b.strings.add("big_mm_struct")
    b.add_words([long_off + 4, make_info(STRUCT, 0), 4])  # "mm_struct", mid-string
    b.add_struct("a___b___c", 4, [])
    raw = b.to_bytes()
    names = ["task_struct", "mm_struct", "a___b", "a", "missing", "int"]
    lazy = BTF(raw)
    eager = BTF(raw, prefetch=names)
    late = BTF(raw)
    late.prefetch_essential_names(names)
    for n in names:
        want = brute_essential_lookup(lazy, n)
        assert eager.find_by_essential_name(n) == lazy.find_by_essential_name(n) == late.find_by_essential_name(n) == want, n
    assert eager.find_by_essential_name("mm_struct") == [5]


def test_prefetch_on_a_real_kernel() -> None:
    from conftest import repo_vmlinux_files
    import lzma
    raw = lzma.decompress(repo_vmlinux_files()[1].read_bytes())
    names = ["task_struct", "sk_buff", "file", "pid_type", "bpf_func_id", "nope", "atomic_t"]
    lazy, eager = BTF(raw), BTF(raw, prefetch=names)
    ess = {t: essential_name(lazy.name(t)) for t in range(1, lazy.type_cnt) if lazy.name(t)}
    for n in names:
        want = [t for t, e in ess.items() if e == n]
        assert eager.find_by_essential_name(n) == lazy.find_by_essential_name(n) == want, n
        assert set(lazy.find_by_name(n)) <= set(want)
    assert eager.find_by_essential_name("task_struct")  # the sample defines it
