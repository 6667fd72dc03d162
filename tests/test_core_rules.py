"""libbpf's CO-RE rules on hand-built BTF: the relations, the candidate loop,
value computation and poisoning, case by case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.core.calc import Candidate, calc_values, resolve
from btfembed.core.kinds import RelocKind as K
from btfembed.core.match import fields_are_compat, types_are_compat, types_match
from btfembed.core.patch import PatchError, patch_insn
from btfembed.core.spec import parse_access, parse_spec
from btfembed.errors import CoreSpecError
from btfembed.btf.types import make_info
from btfembed.btf.wire import ENUM, FUNC_PROTO, FWD, PTR, STRUCT, TYPEDEF, UNION
from btfembed.btf.writer import Builder

S = wire.INT_SIGNED


def two(build_local, build_target) -> tuple[BTF, BTF]:
    a, b = Builder(), Builder()
    build_local(a)
    build_target(b)
    return BTF(a.to_bytes()), BTF(b.to_bytes())


@pytest.mark.parametrize("access, ok", [
    ("0", [0]), ("0:1:2", [0, 1, 2]), ("12:0", [12, 0]), (" 1: 2", [1, 2]), ("+3", [3]), ("007", [7]),
    ("", None), (":0", None), ("0:", None), ("0::1", None), ("a", None), ("0:x", None), ("-1", None),
    ("0:-2", None), ("99999999999", None), (":".join(["0"] * 65), None),
])
def test_access_strings(access: str, ok) -> None:
    if ok is None:
        with pytest.raises(CoreSpecError):
            parse_access(access)
    else:
        assert parse_access(access) == ok


def test_field_compat_relation() -> None:
    def local(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)                     # 1
        b.add_struct("a", 4, [("x", i32, 0)])             # 2
        b.add_ref(PTR, i32)                               # 3
        b.add_enum("e", 4, [("A", 0)])                    # 4
        b.add_ref(FWD, 0, "f")                            # 5
        b.add_array(i32, i32, 4)                          # 6
        b.add_int("legacy", 4, 0, bits=3, offset=5)       # 7: old bitfield-in-int
        b.add_enum("", 4, [("A", 0)])                     # 8: anonymous enum
        b.add_float("double", 8)                          # 9

    def target(b: Builder) -> None:
        u64 = b.add_int("long unsigned int", 8)           # 1: size and sign ignored
        b.add_union("b", 8, [("y", u64, 0)])              # 2: struct vs union is fine
        b.add_ref(PTR, 2)                                 # 3: any pointer
        b.add_enum("e___v2", 8, [("B", 1)], enum64=True)  # 4: enum64, flavor ignored
        b.add_ref(FWD, 0, "g")                            # 5: other name
        b.add_array(u64, u64, 9)                          # 6: dimension ignored
        b.add_enum("other", 4, [("A", 0)])                # 7
        b.add_float("float", 4)                           # 8

    lo, ta = two(local, target)
    assert fields_are_compat(lo, 1, ta, 1)
    assert fields_are_compat(lo, 2, ta, 2)
    assert fields_are_compat(lo, 3, ta, 3)
    assert fields_are_compat(lo, 4, ta, 4)
    assert not fields_are_compat(lo, 5, ta, 5)
    assert fields_are_compat(lo, 6, ta, 6)
    assert not fields_are_compat(lo, 7, ta, 1)
    assert fields_are_compat(lo, 8, ta, 7)       # anonymous matches any enum
    assert not fields_are_compat(lo, 4, ta, 7)   # named enums need the same name
    assert fields_are_compat(lo, 9, ta, 8)
    assert not fields_are_compat(lo, 1, ta, 3)   # int vs pointer


def test_type_compat_relation() -> None:
    def local(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)                                 # 1
        b.add_struct("s", 4, [("x", i32, 0)])                         # 2
        p = b.add_ref(PTR, 2)                                         # 3
        b.add_ref(TYPEDEF, p, "sp")                                   # 4
        b.add_func_proto(i32, [("a", i32), ("b", p)])                 # 5
        b.add_ref(TYPEDEF, 5, "fn")                                   # 6
        b.add_array(p, i32, 2)                                        # 7
        b.add_ref(TYPEDEF, 7, "arr")                                  # 8

    def target(b: Builder) -> None:
        i64 = b.add_int("long int", 8, S)                             # 1
        b.add_struct("s", 99, [])                                     # 2: members never looked at
        p = b.add_ref(PTR, 2)                                         # 3
        b.add_ref(TYPEDEF, p, "sp")                                   # 4
        b.add_func_proto(i64, [("x", i64), ("y", p)])                 # 5: param names ignored
        b.add_ref(TYPEDEF, 5, "fn")                                   # 6
        b.add_func_proto(i64, [("x", i64)])                           # 7: one param fewer
        b.add_ref(TYPEDEF, 7, "fn")                                   # 8
        b.add_ref(PTR, 1)                                             # 9
        b.add_ref(TYPEDEF, 9, "sp")                                   # 10: points at an int
        b.add_array(p, i64, 7)                                        # 11
        b.add_ref(TYPEDEF, 11, "arr")                                 # 12
        b.add_union("s", 4, [])                                       # 13
        b.add_ref(PTR, 13)                                            # 14
        b.add_ref(TYPEDEF, 14, "sp")                                  # 15: points at a union

    lo, ta = two(local, target)
    assert types_are_compat(lo, 2, ta, 2)        # size and members are not compared
    assert not types_are_compat(lo, 2, ta, 13)   # struct vs union
    assert not types_are_compat(lo, 4, ta, 15)
    assert types_are_compat(lo, 4, ta, 4)
    assert types_are_compat(lo, 6, ta, 6)
    assert not types_are_compat(lo, 6, ta, 8)
    assert not types_are_compat(lo, 4, ta, 10)
    assert types_are_compat(lo, 8, ta, 12)


def test_type_match_relation() -> None:
    def local(b: Builder) -> None:
        u32 = b.add_int("unsigned int", 4)                            # 1
        b.add_struct("s", 8, [("a", u32, 0)])                         # 2
        b.add_ref(FWD, 0, "node")                                     # 3: fwd struct
        p = b.add_ref(PTR, 3)                                         # 4
        b.add_struct("t", 8, [("next", p, 0)])                        # 5
        b.add_enum("e", 4, [("A", 0), ("B", 1)])                      # 6
        b.add_union("u", 4, [("a", u32, 0)])                          # 7

    def target(b: Builder) -> None:
        u32 = b.add_int("unsigned int", 4)                            # 1
        i32 = b.add_int("int", 4, S)                                  # 2
        b.add_struct("s", 16, [("z", i32, 0), ("a", u32, 32)])        # 3: extra member, any order
        b.add_struct("s", 8, [("a", i32, 0)])                         # 4: signedness differs
        b.add_struct("node", 24, [("v", u32, 0)])                     # 5
        p = b.add_ref(PTR, 5)                                         # 6
        b.add_struct("t", 8, [("next", p, 0)])                        # 7: fwd behind pointer matches struct
        b.add_enum("e", 4, [("B", 7), ("A", 9), ("C", 3)])            # 8: values ignored, superset ok
        b.add_enum("e", 4, [("A", 0)])                                # 9: missing B
        b.add_union("u", 4, [("a", u32, 0)])                          # 10
        b.add_struct("u", 4, [("a", u32, 0)])                         # 11: kind differs

    lo, ta = two(local, target)
    assert types_match(lo, 2, ta, 3)
    assert not types_match(lo, 2, ta, 4)
    assert types_match(lo, 5, ta, 7)
    assert types_match(lo, 6, ta, 8)
    assert not types_match(lo, 6, ta, 9)
    assert types_match(lo, 7, ta, 10)
    assert not types_match(lo, 7, ta, 11)


def struct_pair(local_members, *candidates):
    """A local struct "s" and target candidates "s", "s___2", ..."""
    def local(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)
        b.add_struct("s", 16, [(n, i32, off) for n, off in local_members])

    def target(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)
        for k, members in enumerate(candidates):
            b.add_struct("s" if k == 0 else f"s___{k + 1}", 16, [(n, i32, off) for n, off in members])
    return two(local, target)


def test_candidate_pruning_is_order_dependent_and_shared() -> None:
    # Candidates A (a@0, x@32) and B (a@0, b@64): relocation 1 (a) matches
    # both; relocation 2 (b) then only B.
    lo, ta = struct_pair([("a", 0), ("b", 32)], [("a", 0), ("x", 32)], [("a", 0), ("b", 64)])
    cands = [Candidate(ta, 2), Candidate(ta, 3)]
    first, cands = resolve(parse_spec(lo, 2, "0:0", K.FIELD_BYTE_OFFSET), cands)
    assert first.status == "resolved" and len(first.matched) == 2 and len(cands) == 2
    second, cands = resolve(parse_spec(lo, 2, "0:1", K.FIELD_BYTE_OFFSET), cands)
    assert second.status == "resolved" and second.values.new_val == 8 and [c.id for c in cands] == [3]
    # Now a relocation on "a" sees only B.
    third, _ = resolve(parse_spec(lo, 2, "0:0", K.FIELD_BYTE_OFFSET), cands)
    assert [c.id for c, _ in third.matched] == [3]


def test_both_ambiguity_errors() -> None:
    lo, ta = struct_pair([("a", 0)], [("a", 0)], [("a", 32)])
    out, cands = resolve(parse_spec(lo, 2, "0:0", K.FIELD_BYTE_OFFSET), [Candidate(ta, 2), Candidate(ta, 3)])
    assert out.status == "ambiguous" and out.code == "offset" and "field offset ambiguity: 32 != 0" in out.message
    assert len(cands) == 2  # an error does not prune

    def local(b: Builder) -> None:
        b.add_int("int", 4, S)
        b.add_struct("s", 8, [("a", 1, 0)])

    def target(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)
        i64 = b.add_int("long", 8, S)
        b.add_struct("s", 8, [("a", i32, 0)])
        b.add_struct("s___2", 8, [("a", i64, 0)])     # same offset, other size
    lo, ta = two(local, target)
    out, _ = resolve(parse_spec(lo, 2, "0:0", K.FIELD_BYTE_SIZE), [Candidate(ta, 3), Candidate(ta, 4)])
    assert out.status == "ambiguous" and out.code == "decision"


@pytest.mark.parametrize("kind, status, value", [
    (K.FIELD_BYTE_OFFSET, "poisoned", None), (K.FIELD_BYTE_SIZE, "poisoned", None),
    (K.FIELD_EXISTS, "missing", 0), (K.FIELD_SIGNED, "poisoned", None),
    (K.FIELD_LSHIFT_U64, "poisoned", None), (K.FIELD_RSHIFT_U64, "poisoned", None),
])
def test_missing_fields_poison_except_exists(kind: int, status: str, value) -> None:
    lo, ta = struct_pair([("a", 0), ("gone", 32)], [("a", 0)])
    out, _ = resolve(parse_spec(lo, 2, "0:1", kind), [Candidate(ta, 2)])
    assert out.status == status
    if value is not None:
        assert out.values.new_val == value and not out.values.poison


def test_missing_types_and_enumvals() -> None:
    def local(b: Builder) -> None:
        b.add_int("int", 4, S)
        b.add_struct("s", 4, [])
        b.add_enum("e", 4, [("A", 1), ("GONE", 2)])

    def target(b: Builder) -> None:
        b.add_enum("e", 4, [("A", 5)])
    lo, ta = two(local, target)
    for kind in (K.TYPE_EXISTS, K.TYPE_SIZE, K.TYPE_ID_TARGET, K.TYPE_MATCHES):
        out, _ = resolve(parse_spec(lo, 2, "0", kind), [])
        assert out.status == "missing" and out.values.new_val == 0
    out, _ = resolve(parse_spec(lo, 3, "1", K.ENUMVAL_EXISTS), [Candidate(ta, 1)])
    assert out.status == "missing"
    out, _ = resolve(parse_spec(lo, 3, "1", K.ENUMVAL_VALUE), [Candidate(ta, 1)])
    assert out.status == "poisoned"
    out, _ = resolve(parse_spec(lo, 3, "0", K.ENUMVAL_VALUE), [Candidate(ta, 1)])
    assert out.values.new_val == 5


def test_bitfield_values_both_byte_orders() -> None:
    def local(b: Builder) -> None:
        u32 = b.add_int("unsigned int", 4)
        b.add_struct("s", 8, [("f", u32, 0, 4)])

    def target(b: Builder) -> None:
        u32 = b.add_int("unsigned int", 4)
        i32 = b.add_int("int", 4, S)
        b.add_struct("s", 8, [("x", u32, 0, 30), ("f", i32, 30, 5)])  # straddles a 4-byte word
    lo, ta = two(local, target)
    spec = parse_spec(lo, 2, "0:0", K.FIELD_BYTE_OFFSET)
    tspec = resolve(spec, [Candidate(ta, 3)])[0].target

    def value(kind: int, big: bool) -> int:
        return calc_values(parse_spec(lo, 2, "0:0", kind), tspec, big).new_val

    # Bits 30..34: a 4-byte load cannot hold them, an 8-byte load at 0 can.
    assert value(K.FIELD_BYTE_OFFSET, False) == 0 and value(K.FIELD_BYTE_SIZE, False) == 8
    assert value(K.FIELD_LSHIFT_U64, False) == 64 - 35 and value(K.FIELD_RSHIFT_U64, False) == 59
    assert value(K.FIELD_LSHIFT_U64, True) == 30
    assert value(K.FIELD_SIGNED, False) == 1


def test_bitfield_too_wide_for_one_load_is_an_error() -> None:
    def local(b: Builder) -> None:
        u64 = b.add_int("long long unsigned int", 8)
        b.add_struct("s", 16, [("f", u64, 0, 8)])

    def target(b: Builder) -> None:
        u64 = b.add_int("long long unsigned int", 8)
        b.add_struct("s", 16, [("f", u64, 60, 8)])
    lo, ta = two(local, target)
    out, _ = resolve(parse_spec(lo, 2, "0:0", K.FIELD_BYTE_OFFSET), [Candidate(ta, 2)])
    assert out.status == "error" and out.code == "E2BIG"


def test_flexible_array_index_is_not_bounds_checked() -> None:
    def build(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)
        arr = b.add_array(i32, i32, 0)
        b.add_struct("s", 4, [("n", i32, 0), ("data", arr, 32)])
    lo, ta = two(build, build)
    spec = parse_spec(lo, 3, "0:1:5", K.FIELD_BYTE_OFFSET)
    out, _ = resolve(spec, [Candidate(ta, 3)])
    assert out.values.new_val == 4 + 5 * 4


def test_memory_size_change_poisons_loads_only_when_unsafe() -> None:
    def local(b: Builder) -> None:
        i32 = b.add_int("int", 4, S)
        u32 = b.add_int("unsigned int", 4)
        b.add_struct("s", 8, [("signed_f", i32, 0), ("unsigned_f", u32, 32)])

    def target(b: Builder) -> None:
        i64 = b.add_int("long int", 8, S)
        u64 = b.add_int("long unsigned int", 8)
        b.add_struct("s", 16, [("signed_f", i64, 0), ("unsigned_f", u64, 64)])
    lo, ta = two(local, target)
    unsafe, _ = resolve(parse_spec(lo, 3, "0:0", K.FIELD_BYTE_OFFSET), [Candidate(ta, 3)])
    safe, _ = resolve(parse_spec(lo, 3, "0:1", K.FIELD_BYTE_OFFSET), [Candidate(ta, 3)])
    assert unsafe.values.fail_memsz_adjust and not safe.values.fail_memsz_adjust
    ldx_w = bytes([0x61, 0x21, 0, 0, 0, 0, 0, 0])          # r1 = *(u32 *)(r2 + 0)
    assert patch_insn(ldx_w, unsafe.values)[:1] == b"\x85"  # poisoned: call 0xbad2310
    alu = bytes([0x07, 0x01, 0, 0, 0, 0, 0, 0])             # r1 += 0: offset only, fine
    assert patch_insn(alu, unsafe.values)[4:] == (0).to_bytes(4, "little")
    ldx_w4 = bytes([0x61, 0x21, 4, 0, 0, 0, 0, 0])
    patched = patch_insn(ldx_w4, safe.values)
    assert patched[0] == 0x79 and patched[2] == 8             # load widened to u64 at offset 8
    with pytest.raises(PatchError):
        patch_insn(bytes([0x61, 0x21, 9, 0, 0, 0, 0, 0]), safe.values)  # unexpected original offset


def test_anonymous_root_and_bad_records_are_refused() -> None:
    b = Builder()
    b.add_int("int", 4)
    b.add_struct("", 4, [("a", 1, 0)])
    lo = BTF(b.to_bytes())
    from btfembed.core.resolve import parse_local_specs
    from btfembed.inputs.ext import CoreRecord
    with pytest.raises(CoreSpecError, match="anonymous"):
        parse_local_specs(lo, [CoreRecord("s", 0, 0, 2, "0:0", K.FIELD_BYTE_OFFSET)])
    with pytest.raises(CoreSpecError, match="kind 13"):
        parse_local_specs(lo, [CoreRecord("s", 0, 0, 1, "0", 13)])
    with pytest.raises(CoreSpecError, match="multiple of 8"):
        parse_local_specs(lo, [CoreRecord("s", 0, 4, 1, "0", K.TYPE_EXISTS)])
    with pytest.raises(CoreSpecError, match="type id 99"):
        parse_local_specs(lo, [CoreRecord("s", 0, 0, 99, "0", K.TYPE_EXISTS)])


def test_verify_catches_a_broken_blob(tmp_path: Path) -> None:
    """Minimize, then move one member of the output: verify must report the
    relocation that changed and exit 1."""
    from btfembed.minimize.engine import minimize
    from btfembed.core import Target
    from btfembed.inputs.objects import load_object
    from btfembed.inputs.containers import load_btf
    from btfembed.btf.types import Composite, Member
    from conftest import repo_vmlinux_files

    kernel = repo_vmlinux_files()[1]
    obj_path = Path(__file__).parent / "data/objs/task_small.el.o"
    good = minimize([load_object(str(obj_path))], Target(load_btf(str(kernel)))).data
    btf = BTF(good)
    out = Builder()
    for tid, t in btf.types():
        if t.kind == STRUCT and t.name == "task_struct":
            members = [Member(m.name, m.type, m.bit_offset + (64 if m.name == "tgid" else 0), m.bitfield_size)
                       for m in t.members]
            t = Composite(t.kind, t.name, make_info(STRUCT, len(members)), t.size_type, members=members)
        out.add(t)
    (tmp_path / "good.btf").write_bytes(good)
    (tmp_path / "bad.btf").write_bytes(out.to_bytes())
    run = [sys.executable, "-m", "btfembed", "verify", str(kernel)]
    ok = subprocess.run(run + [str(tmp_path / "good.btf"), str(obj_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(run + [str(tmp_path / "bad.btf"), str(obj_path)], capture_output=True, text=True)
    assert bad.returncode == 1
    lines = [line for line in bad.stdout.splitlines() if "DIFFERENT" in line]
    assert len(lines) == 1 and "task_struct.tgid" in lines[0]
    assert "relocation(s) resolve differently" in bad.stderr and bad.stderr.count("btfembed: error") == 1
    assert ENUM and UNION and FUNC_PROTO  # kinds used above are the wire constants
