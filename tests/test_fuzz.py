"""Robustness properties: every input is either accepted or refused with
btfembed's own error (``BTFEmbedError``), within a time limit.

* Hypothesis drives the generators of ``scripts/fuzz.py`` (mutated real
  BTF, .BTF.ext, objects, containers, packs, os-release text, access
  strings, the CO-RE engine end to end) and a few plain byte and text
  strategies.  Runs are derandomized (deterministic in CI) and short; the
  long run is ``python scripts/fuzz.py`` (100,000 inputs).
* Every input saved under ``tests/data/fuzz/<target>/`` (failures the fuzz
  script found, since fixed) is replayed.
* Unit tests pin down each bug the fuzzing found.
* Concurrent writers of one output (and of one cache) never leave a corrupt
  file.
"""

from __future__ import annotations

import os
import hashlib
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.core.match import MatchError, fields_are_compat, spec_match, types_are_compat, types_match
from btfembed.core.resolve import Target, resolve_relocations
from btfembed.core.spec import SPEC_MAX_LEN, parse_access, parse_spec
from btfembed.inputs.elf import ElfFile
from btfembed.errors import BTFEmbedError, CoreSpecError, ELFFormatError, TypeIdError
from btfembed.inputs.ext import CoreRecord
from btfembed.embed.keys import parse_os_release
from btfembed.embed.pack import MAGIC, PackError, decode_pack
from btfembed.btf.writer import Builder, roundtrip
from btfembed.btf.wire import TYPEDEF

from conftest import load_script

REPO = Path(__file__).resolve().parent.parent


fuzz = load_script("fuzz")

TIMEOUT = 10.0  # seconds per input; a hang fails the test

FAST = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


# Failures already reported in modules outside this test's remit: (exception
# class, file) -> issue.  Generated inputs hitting them are let through here;
# saved inputs listed in KNOWN_ISSUES (strict xfail) keep track of them.
KNOWN_SIGNATURES: dict[tuple[str, str], str] = {}


def assert_robust(target: str, data: bytes, *, allow_known: bool = False) -> None:
    fail = fuzz.check(fuzz.TARGETS[target].run, data, TIMEOUT)
    if fail is not None and allow_known:
        if (fail.kind, fail.where.split(":")[0]) in KNOWN_SIGNATURES:
            return
    assert fail is None, f"{target}: {fail.signature}: {fail.message}\n{fail.trace}"


# ---------------------------------------------------------------------------
# The fuzz script's generators under hypothesis


@pytest.mark.parametrize("target", sorted(fuzz.TARGETS))
@FAST
@given(rng=st.randoms(use_true_random=False))
def test_generated_inputs(target: str, rng) -> None:
    assert_robust(target, fuzz.TARGETS[target].make(rng), allow_known=True)


# ---------------------------------------------------------------------------
# Plain strategies


@FAST
@given(st.binary(max_size=300), st.sampled_from([b"", b"\x9f\xeb\x01\x00", b"\xeb\x9f\x01\x00"]))
def test_btf_arbitrary_bytes(data: bytes, prefix: bytes) -> None:
    assert_robust("btf", prefix + data)


HEADER_WORDS = st.sampled_from([4, 8, 12, 16, 20])


@FAST
@given(st.lists(st.tuples(HEADER_WORDS, st.integers(0, 2**32 - 1) | st.integers(0, 3000)), min_size=1, max_size=3),
       st.sampled_from(["base.btf", "fwd_tag.btf", "enum64_changed_c19.btf"]))
def test_btf_header_fields(fields, seed: str) -> None:
    data = bytearray((fuzz.SYNTH / seed).read_bytes())
    for off, value in fields:
        struct.pack_into("<I", data, off, value)
    assert_robust("btf", bytes(data))


@FAST
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
                min_size=1, max_size=6),
       st.lists(st.integers(0, 2**32 - 1), max_size=12),
       st.binary(max_size=40).map(lambda b: b"\0" + b + b"\0"),
       st.sampled_from(["little", "big"]))
def test_btf_raw_records(heads, tail, strings: bytes, order: str) -> None:
    """Records of arbitrary words: kinds, vlens, ids and string offsets."""
    fmt = "<" if order == "little" else ">"
    words = [w for h in heads for w in h] + tail
    types = struct.pack(f"{fmt}{len(words)}I", *words)
    head = struct.pack(fmt + "HBBIIIII", wire.MAGIC, 1, 0, 24, 0, len(types), len(types), len(strings))
    assert_robust("btf", head + types + strings)


@FAST
@given(st.binary(max_size=200), st.sampled_from([b"", b"\x9f\xeb\x01\x00\x20\x00\x00\x00"]))
def test_ext_arbitrary_bytes(data: bytes, prefix: bytes) -> None:
    strings = b"\x00sec\x000:1\x00"
    assert_robust("ext", struct.pack("<I", len(strings)) + strings + prefix + data)


@FAST
@given(st.binary(max_size=300), st.sampled_from([b"", b"\xfd7zXZ\x00", b"\x1f\x8b\x08\x00", b"BZh9", b"\x7fELF"]))
def test_unwrap_arbitrary_bytes(data: bytes, prefix: bytes) -> None:
    assert_robust("unwrap", prefix + data)


@FAST
@given(st.binary(max_size=200))
def test_pack_arbitrary_bytes(data: bytes) -> None:
    assert_robust("pack", MAGIC + data)


@FAST
@given(st.lists(st.integers(0, 0xFFFFFFFF), min_size=9, max_size=9), st.binary(max_size=300),
       st.booleans())
def test_pack_arbitrary_header(fields, rest: bytes, seal: bool) -> None:
    """Format 2 headers with arbitrary counts and sizes (index digest valid
    or not), followed by arbitrary bytes."""
    head = bytearray(MAGIC + struct.pack("<HIIIIIIIII12s32s", 2, *fields, bytes(12), bytes(32)) + rest)
    if seal:
        n_entries, n_blobs, n_blocks, n_objects, strings_size = fields[1:6]
        end = 96 + 12 * n_blocks + 44 * n_blobs + 20 * n_entries + 36 * n_objects + strings_size
        head[64:96] = hashlib.sha256(bytes(head[:64]) + bytes(head[96:end])).digest()
    assert_robust("pack", bytes(head))


@FAST
@given(st.text(max_size=200))
def test_os_release_arbitrary_text(text: str) -> None:
    osr = parse_os_release(text)
    assert all(isinstance(k, str) and isinstance(v, str) and k for k, v in osr.items())


@FAST
@given(st.text(alphabet=st.sampled_from("0123456789:+- \t\n\u0663x"), max_size=40) | st.text(max_size=20))
def test_access_arbitrary_text(access: str) -> None:
    try:
        out = parse_access(access)
    except CoreSpecError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    assert 1 <= len(out) <= SPEC_MAX_LEN and all(0 <= i <= 0x7FFFFFFF for i in out)


# ---------------------------------------------------------------------------
# Saved regression inputs


# Saved inputs that still fail, in modules outside this test's remit (reported;
# strict: fixing the bug turns the entry into a failure, so it gets removed).
KNOWN_ISSUES: dict[str, str] = {}


def _regressions():
    files = fuzz.regression_files()
    params = []
    for t, f in files:
        reason = KNOWN_ISSUES.get(f"{t}/{f.name}")
        marks = (pytest.mark.xfail(reason=reason, strict=True),) if reason else ()
        params.append(pytest.param(t, f, id=f"{t}/{f.name}", marks=marks))
    return params or [pytest.param(None, None, marks=pytest.mark.skip(reason="no saved fuzz inputs"))]


@pytest.mark.parametrize("target,path", _regressions())
def test_regression_input(target: str, path: Path) -> None:
    assert_robust(target, path.read_bytes())


def test_manifest_with_a_huge_field() -> None:
    """Was csv.Error (a field over csv's 131072-byte limit)."""
    text = "path\trelease\n" + "p\t" + "x" * 140_000 + "\n"
    assert_robust("manifest", b"v" + text.encode())


def test_known_issues_exist() -> None:
    for rel in KNOWN_ISSUES:
        assert (fuzz.FUZZ_DIR / rel).is_file(), rel


# ---------------------------------------------------------------------------
# The harness itself


def test_a_hang_is_a_failure() -> None:
    fail = fuzz.check(lambda data: time.sleep(5), b"", timeout=0.2)
    assert fail is not None and fail.kind == "hang"


def test_a_foreign_exception_is_a_failure() -> None:
    fail = fuzz.check(lambda data: [][1], b"")
    assert fail is not None and fail.kind == "IndexError"
    assert fuzz.check(lambda data: BTF(b"junk"), b"") is None


# ---------------------------------------------------------------------------
# The bugs the fuzzing found


def test_name_lookup_skips_name_offsets_past_the_strings() -> None:
    """Was IndexError in BTF._midstring_names (a type whose name offset is
    past the string section, then any lookup by name)."""
    b = Builder()
    b.add_int("int", 4)
    b.add_words([5000, wire.INT << 24, 4, 32])
    # Now refused at open (libbpf's sanity check), before any lookup.
    with pytest.raises(BTFEmbedError, match="name offset 5000"):
        BTF(b.to_bytes())


@pytest.mark.parametrize("hdr_len", [25, 26, 27, 29, 36])
def test_roundtrip_keeps_any_header_length(hdr_len: int) -> None:
    """Was ValueError from Builder.to_bytes: the reader accepts a header
    length that is not a multiple of 4 (libbpf does), roundtrip refused it."""
    b = Builder()
    b.add_struct("s", 4, [("x", b.add_int("int", 4, 1), 0)])
    raw = b.to_bytes()
    extra = hdr_len - 24 - (8 if hdr_len >= 32 else 0)
    head = bytearray(raw[:24])
    struct.pack_into("<I", head, 4, hdr_len)
    data = bytes(head) + (bytes(8) if hdr_len >= 32 else b"") + bytes(extra) + raw[24:]
    btf = BTF(data)
    btf.validate()
    assert roundtrip(btf) == data


@pytest.mark.parametrize("access", ["0:" + "1" * 5000, "0:" + "0" * 5000 + "1", "1" * 4400, "0:99999999999"])
def test_access_strings_with_huge_numbers(access: str) -> None:
    """Was ValueError ("Exceeds the limit (4300 digits)") from int()."""
    if access.startswith("0:000"):
        assert parse_access(access) == [0, 1]
        return
    with pytest.raises(CoreSpecError, match="out-of-range") as info:
        parse_access(access)
    assert len(str(info.value)) < 300


def test_access_strings_are_ascii_decimal() -> None:
    assert parse_access("0: 1:+2") == [0, 1, 2]
    for bad in ("0:\u0663", "0:\uff11", "\u20030"):
        with pytest.raises(CoreSpecError):
            parse_access(bad)


@pytest.mark.parametrize("fields", [
    (0, 1, 0, 0, 0, 0, 0, 0, 96),                            # an entry, no index bytes
    (0, 0, 0, 0xFFFFFFFF, 0, 0, 0, 0, 96),                   # absurd block count
    (0, 0, 0, 0, 0, 0xFFFFFFFF, 0, 0, 96),                   # absurd string table
    (0, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0, 96),                   # absurd block_max
    (0, 0, 0, 0, 0, 0, 0, 0, 97),                            # size differs from the header's
    (7, 0, 0, 0, 0, 0, 0, 0, 96),                            # unknown codec
])
def test_pack_header_values(fields) -> None:
    head = bytearray(MAGIC + struct.pack("<HIIIIIIIII12s32s", 2, *fields, bytes(12), bytes(32)))
    head[64:96] = hashlib.sha256(bytes(head[:64])).digest()
    with pytest.raises(PackError):
        decode_pack(bytes(head))


def _dag_struct_btf(depth: int) -> tuple[BTF, int]:
    """struct s { anon A1; anon A1; }, A_i { anon A_i+1; anon A_i+1; }: a
    member search visits 2**depth paths."""
    b = Builder()
    b.add_int("int", 4, 1)                                            # 1
    b.add_struct("s", 8, [("", 3, 0), ("", 3, 0)])                    # 2
    for k in range(3, 3 + depth):
        b.add_struct("", 8, [("", k + 1, 0), ("", k + 1, 0)] if k < 2 + depth else [])
    return BTF(b.to_bytes()), 2


def _dag_btf(depth: int, proto: bool) -> tuple[BTF, int]:
    """Named structs (or function prototypes) with two edges to the next
    level: a full match walks 2**depth paths."""
    b = Builder()
    i = b.add_int("int", 4, 1)
    if proto:
        prev = b.add_func_proto(i, [])
        for _ in range(depth):
            prev = b.add_func_proto(i, [("", prev), ("", prev)])
        fn_t = b.add_ref(TYPEDEF, prev, "fn_t")
        return BTF(b.to_bytes()), fn_t
    b.add_struct("s", 8, [("a", 3, 0), ("b", 3, 0)])
    for k in range(3, 3 + depth):
        b.add_struct(f"n{k}", 8, [("a", k + 1, 0), ("b", k + 1, 0)] if k < 2 + depth else [("a", i, 0)])
    return BTF(b.to_bytes()), 2


def test_member_search_on_a_shared_type_graph_is_bounded() -> None:
    """Was a hang (2**40 steps): kernel BTF whose anonymous members share types."""
    b = Builder()
    s = b.add_struct("s", 4, [("x", b.add_int("int", 4, 1), 0)])
    local = parse_spec(BTF(b.to_bytes()), s, "0:0", 0)
    targ, tid = _dag_struct_btf(40)
    start = time.monotonic()
    with pytest.raises(MatchError, match="gave up"):
        spec_match(local, targ, tid)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("proto", [False, True], ids=["types_match", "types_are_compat"])
def test_type_walks_on_shared_type_graphs_are_bounded(proto: bool) -> None:
    """Were hangs: TYPE_MATCHES / TYPE_EXISTS on 24-level DAGs on both sides."""
    (local, lid), (targ, tid) = _dag_btf(24, proto), _dag_btf(24, proto)
    walk = types_are_compat if proto else types_match
    start = time.monotonic()
    with pytest.raises(MatchError, match="gave up"):
        walk(local, lid, targ, tid)
    assert time.monotonic() - start < 5
    # Small graphs are still walked completely.
    (local, lid), (targ, tid) = _dag_btf(6, proto), _dag_btf(6, proto)
    assert walk(local, lid, targ, tid)


def test_array_cycles_on_both_sides_are_bounded() -> None:
    """libbpf's field compatibility walk follows array elements without limit."""
    b = Builder()
    i = b.add_int("int", 4, 1)
    b.add_array(3, i, 2)                                   # 2: array of [3]
    b.add_array(2, i, 2)                                   # 3: array of [2]: a cycle
    btf = BTF(b.to_bytes())
    with pytest.raises(MatchError, match="gave up"):
        fields_are_compat(btf, 2, btf, 2)


def test_raw_path_of_a_target_spec_leads_to_its_member() -> None:
    """Was IndexError in marks (minimize): a same-named but incompatible
    member inside an anonymous struct stayed in the target's raw path."""
    b = Builder()
    i = b.add_int("int", 4, 1)
    s = b.add_struct("s", 4, [("x", i, 0)])
    local = parse_spec(BTF(b.to_bytes()), s, "0:0", 0)
    t = Builder()
    ti = t.add_int("int", 4, 1)                                          # 1
    inner = t.add_struct("inner", 4, [("y", ti, 0)])                     # 2
    anon = t.add_struct("", 4, [("x", inner, 0)])                        # 3: x is a struct: incompatible
    ts = t.add_struct("s", 8, [("", anon, 0), ("x", ti, 32)])            # 4: duplicate x (invalid C)
    targ = BTF(t.to_bytes())
    spec = spec_match(local, targ, ts)
    assert spec is not None
    assert spec.raw == [0, 1] and spec.bit_offset == 32
    # Walking the raw path reaches the member.
    tt = targ.type(ts)
    assert tt.members[spec.raw[1]].name == "x"


def test_typedef_cycle_reached_by_a_relocation_is_an_input_error() -> None:
    """Was reported as a relocation result ("error") and minimize wrote the
    cycle into its output; now the corrupt BTF is refused (exit 3)."""
    b = Builder()
    b.add_ref(TYPEDEF, b.add_int("int", 4, 1), "loop_t")
    local = BTF(b.to_bytes())
    t = Builder()
    t.add_ref(TYPEDEF, 1, "loop_t")
    kernel = BTF(t.to_bytes(), source="kernel.btf")
    rec = CoreRecord("sec", 0, 0, 2, "0", 8)  # TYPE_EXISTS loop_t
    with pytest.raises(TypeIdError, match="kernel.btf: .*cycle"):
        resolve_relocations(local, [rec], Target(kernel))


def test_long_acyclic_size_chain_is_a_relocation_error_not_a_cycle() -> None:
    """libbpf's size resolution gives up after 32 levels (-E2BIG): a long
    chain is a relocation error, a cycle is corrupt BTF."""
    b = Builder()
    prev = b.add_int("int", 4, 1)
    for _ in range(40):
        prev = b.add_ref(TYPEDEF, prev, "t")
    btf = BTF(b.to_bytes())
    with pytest.raises(BTFEmbedError, match="deeper than 32") as info:
        btf.resolve_size(prev)
    assert not isinstance(info.value, TypeIdError)
    b = Builder()
    b.add_array(1, 1, 2)  # an array of itself
    with pytest.raises(TypeIdError, match="cycle"):
        BTF(b.to_bytes()).resolve_size(1)


def test_compressed_elf_section_over_the_cap_is_refused() -> None:
    """A SHF_COMPRESSED section declaring more than the input cap is refused
    before decompression (a 200 KB object could expand to 200 MB)."""
    import zlib
    size = 1 << 20
    payload = struct.pack("<IIQQ", 1, 0, size, 1) + zlib.compress(bytes(size), 9)
    elf = bytearray(fuzz.make_elf([(".BTF", payload)]))
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    struct.pack_into("<Q", elf, shoff + 64 + 8, 0x800)  # SHF_COMPRESSED on section 1
    with pytest.raises(ELFFormatError, match="larger than"):
        ElfFile(bytes(elf)).section_data(".BTF", limit=size - 1)
    assert len(ElfFile(bytes(elf)).section_data(".BTF", limit=size)) == size


def test_error_messages_are_one_line() -> None:
    """Names from the input are quoted in messages: a section name with a
    newline must not split the command line's one-line error."""
    strings = b"\x00sec\nname\x00"
    ext = fuzz.make_ext([(1, 0, 1, 999, 0)])
    fail = fuzz.check(fuzz.TARGETS["ext"].run, struct.pack("<I", len(strings)) + strings + ext)
    assert fail is None, fail and fail.message


# ---------------------------------------------------------------------------
# Concurrent writers

WRITER = textwrap.dedent("""
    import sys
    from btfembed.inputs.files import atomic_write
    path, fill, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    data = fill * (256 * 1024)
    for i in range(count):
        atomic_write(path, data)
""")


def _spawn(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env)


def test_concurrent_atomic_writes_never_leave_a_corrupt_file(tmp_path: Path) -> None:
    out = tmp_path / "out.btf"
    procs = [_spawn(WRITER, str(out), fill, "60") for fill in ("A", "B")]
    seen = set()
    while any(p.poll() is None for p in procs):
        try:
            data = out.read_bytes()
        except FileNotFoundError:
            continue
        assert len(data) == 256 * 1024 and len(set(data)) == 1, "reader saw a partial or mixed file"
        seen.add(data[:1])
    assert all(p.wait() == 0 for p in procs)
    data = out.read_bytes()
    assert len(data) == 256 * 1024 and data in (b"A" * len(data), b"B" * len(data))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.btf"], "temporary files left behind"


CACHE_WRITER = textwrap.dedent("""
    import sys
    from btfembed.build.cache import Cache
    root, fill, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = Cache(root)
    for i in range(count):
        cache.put("result", "k" * 64, {"fill": fill * 100_000, "i": i})
        value = cache.get("result", "k" * 64)
        assert value is None or (len(value["fill"]) == 100_000 and len(set(value["fill"])) == 1), value
""")


def test_concurrent_builds_sharing_a_cache(tmp_path: Path) -> None:
    cache_mod = pytest.importorskip("btfembed.build.cache")
    if not all(hasattr(cache_mod.Cache, m) for m in ("get", "put")):
        pytest.skip("btfembed.build.cache.Cache has no get/put")
    procs = [_spawn(CACHE_WRITER, str(tmp_path), fill, "40") for fill in ("A", "B")]
    assert all(p.wait() == 0 for p in procs)
    value = cache_mod.Cache(str(tmp_path)).get("result", "k" * 64)
    assert value is not None and value["fill"] in ("A" * 100_000, "B" * 100_000)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert not leftovers
