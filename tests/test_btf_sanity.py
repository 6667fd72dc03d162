"""The sanity check that runs when a BTF is opened (libbpf's
``btf_sanity_check``: name offsets inside the string sections, referenced
type ids below the type count) against a reference written here from the
BTF format alone: random and boundary words of a real kernel and of a
synthetic BTF spanning several comparison groups, in both byte orders, on
the three ways of opening (plain, prefetching, with a stored index), and
split BTF."""

from __future__ import annotations

import bisect
import lzma
import random
import struct

import pytest

from btfembed.btf import reader, wire
from btfembed.btf.reader import BTF, parse_header
from btfembed.btf.types import Datasec, DeclTag, Var, VarSecinfo, make_info
from btfembed.btf.writer import Builder
from btfembed.errors import BTFFormatError

N, T, O = "name", "type", "other"
GROUP = 1 << 12  # words per comparison group in the tests that use small_groups


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare GROUP words at a time (instead of the reader's default), so
    that small BTF spans many groups and records longer than a group are
    cheap to build."""
    monkeypatch.setattr(reader, "_CHECK_WORDS", GROUP)
    monkeypatch.setattr(reader, "_LANE_STARTS", [])


# Each word of a record, by kind: (words before the items, words per item).
_HEAD = {
    wire.INT: (N, O, O, O), wire.PTR: (N, O, T), wire.ARRAY: (N, O, O, T, T, O), wire.STRUCT: (N, O, O),
    wire.UNION: (N, O, O), wire.ENUM: (N, O, O), wire.FWD: (N, O, O), wire.TYPEDEF: (N, O, T),
    wire.VOLATILE: (N, O, T), wire.CONST: (N, O, T), wire.RESTRICT: (N, O, T), wire.FUNC: (N, O, T),
    wire.FUNC_PROTO: (N, O, T), wire.VAR: (N, O, T, O), wire.DATASEC: (N, O, O), wire.FLOAT: (N, O, O),
    wire.DECL_TAG: (N, O, T, O), wire.TYPE_TAG: (N, O, T), wire.ENUM64: (N, O, O),
}
_ITEM = {wire.STRUCT: (N, T, O), wire.UNION: (N, T, O), wire.ENUM: (N, O), wire.ENUM64: (N, O, O),
         wire.FUNC_PROTO: (N, T), wire.DATASEC: (T, O, O)}


class Section:
    """The type section of ``raw`` as words, with each record's roles."""

    def __init__(self, raw: bytes, btf: BTF):
        h = parse_header(raw)
        self.fmt = "<" if h.byte_order == "little" else ">"
        self.start = h.hdr_len + h.type_off
        self.words = list(struct.unpack_from(f"{self.fmt}{h.type_len // 4}I", raw, self.start))
        self.first_id = btf.start_id
        self.records: list[tuple[int, tuple[str, ...]]] = []  # (first word, role of each word)
        i = 0
        while i < len(self.words):
            info = self.words[i + 1]
            kind, vlen = (info >> 24) & 0x7F, info & 0xFFFFFF
            roles = _HEAD[kind] + _ITEM.get(kind, ()) * vlen
            self.records.append((i, roles))
            i += len(roles)
        assert i == len(self.words)
        assert [first for first, _ in self.records] == list(btf.type_offsets())
        self.starts = [first for first, _ in self.records]
        self.str_end = btf.strings.start + len(btf.strings.data)
        self.type_cnt = btf.type_cnt
        assert self.first_bad(self.words) is None

    def limit(self, role: str) -> int:
        return self.str_end if role == N else self.type_cnt

    def first_bad(self, words: list[int]) -> int | None:
        """The lowest type id with a word at or past its limit."""
        for k, (first, roles) in enumerate(self.records):
            for j, role in enumerate(roles):
                if role != O and words[first + j] >= self.limit(role):
                    return self.first_id + k
        return None

    def first_bad_changed(self, changes: dict[int, int]) -> int | None:
        """``first_bad`` when only ``changes`` differ from this (good) section."""
        bad = []
        for word, value in changes.items():
            k = bisect.bisect_right(self.starts, word) - 1
            first, roles = self.records[k]
            role = roles[word - first]
            if role != O and value >= self.limit(role):
                bad.append(self.first_id + k)
        return min(bad, default=None)

    def patched(self, raw: bytes, changes: dict[int, int]) -> bytes:
        out = bytearray(raw)
        for word, value in changes.items():
            struct.pack_into(self.fmt + "I", out, self.start + 4 * word, value)
        return bytes(out)


def _opens(raw: bytes, good: BTF, base: BTF | None = None) -> list[dict[str, object]]:
    return [{"base": base}, {"base": base, "prefetch": ["task_struct", "s", "f"]},
            {"base": base, "offsets": good.type_offsets()}]


def _expect(sec: Section, raw: bytes, good: BTF, changes: dict[int, int], all_paths: bool,
            base: BTF | None = None) -> None:
    bad = sec.first_bad_changed(changes)
    patched = sec.patched(raw, changes)
    for kw in _opens(raw, good, base)[:None if all_paths else 1]:
        if bad is None:
            BTF(patched, **kw)  # type: ignore[arg-type]
        else:
            with pytest.raises(BTFFormatError, match=rf"^type \[{bad}\]"):
                BTF(patched, **kw)  # type: ignore[arg-type]


def _past(limit: int, rng: random.Random) -> int:
    """A value at or past ``limit``: just past it, around a bit that the
    comparison could mishandle, or anywhere."""
    return rng.choice([limit + 1, 1 << 24, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, rng.randrange(limit, 1 << 32)])


def _mutations(sec: Section, raw: bytes, good: BTF, rng: random.Random, records: list[int],
               base: BTF | None = None) -> int:
    """Every word of the given records set, one at a time, to its limit and
    to a value past it (or, for unchecked words, to a random value); the
    last valid values are tried all at once by the callers.  Returns the
    cases tried."""
    tried = 0
    for k in records:
        first, roles = sec.records[k]
        for j, role in enumerate(roles):
            if j == 1:
                continue  # the info word decides the layout, not the check
            if role == O:
                values = [rng.choice([rng.randrange(1 << 32), 0xFFFFFFFF])]
            else:
                limit = sec.limit(role)
                values = [limit, _past(limit, rng)]
            for v in values:
                # Every path now and then (they share the comparison).
                _expect(sec, raw, good, {first + j: v}, all_paths=rng.random() < 0.2, base=base)
                tried += 1
    return tried


def _synthetic() -> bytes:
    """A BTF of every checked kind, repeated (about 35,000 words)."""
    b = Builder()
    i = b.add_int("int", 4)
    p = b.add_ref(wire.PTR, i)
    for n in range(300):
        s = b.add_struct(f"s{n}", 16, [(f"m{k}", (i, p)[k % 2], 32 * k) for k in range(n % 23)])
        b.add_union(f"u{n}", 4, [("x", i, 0), ("y", s, 0)])
        b.add_enum(f"e{n}", 4, [(f"E{n}_{k}", k) for k in range(n % 7)])
        b.add_enum(f"e64_{n}", 8, [(f"F{n}_{k}", k << 33) for k in range(n % 5)], enum64=True)
        a = b.add_array(s, i, n)
        t = b.add_ref(wire.TYPEDEF, a, f"t{n}")
        proto = b.add_func_proto(t, [(f"a{k}", (i, p, s)[k % 3]) for k in range(n % 9)])
        b.add_ref(wire.FUNC, proto, f"f{n}", vlen=1)
        b.add_ref(wire.CONST, b.add_ref(wire.VOLATILE, b.add_ref(wire.RESTRICT, p)))
        v = b.add(Var(wire.VAR, f"v{n}", make_info(wire.VAR), i, linkage=1))
        b.add(DeclTag(wire.DECL_TAG, "tag", make_info(wire.DECL_TAG), s, component_idx=-1))
        b.add(Datasec(wire.DATASEC, f".d{n}", make_info(wire.DATASEC, 1), 4, secinfos=[VarSecinfo(v, 0, 4)]))
        b.add_ref(wire.TYPE_TAG, i, "user")
        b.add_float("double", 8)
        b.add_ref(wire.FWD, 0, f"fw{n}")
    return b.to_bytes()


@pytest.mark.parametrize("order", ["little", "big"])
def test_check_equals_the_reference_across_comparison_groups(order: str, small_groups: None) -> None:
    raw = _synthetic()
    if order == "big":
        raw = Builder.from_btf(BTF(raw)).to_bytes(byte_order="big")
    good = BTF(raw)
    sec = Section(raw, good)
    assert len(sec.words) > 6 * GROUP
    rng = random.Random(13)
    # Records at the start, the end and around every multiple of GROUP words
    # (where comparison groups end), plus random ones.
    starts = [first for first, _ in sec.records]
    picks = {0, 1, len(starts) - 1, len(starts) - 2}
    for edge in range(GROUP, len(sec.words), GROUP):
        k = next(k for k, first in enumerate(starts) if first + len(sec.records[k][1]) > edge)
        picks.update({k - 1, k, k + 1})
    picks.update(rng.sample(range(len(starts)), 4))
    assert _mutations(sec, raw, good, rng, sorted(picks)) > 150
    # Several bad words at once: the lowest type id is named.
    checked = [first + j for first, roles in sec.records for j, role in enumerate(roles) if role != O]
    for _ in range(25):
        changes = {w: _past(sec.limit(N), rng) for w in rng.sample(checked, 3)}
        _expect(sec, raw, good, changes, all_paths=True)
    # Every checked word at its last valid value at once: accepted.
    at_limit = {}
    for first, roles in sec.records:
        for j, role in enumerate(roles):
            if role != O:
                at_limit[first + j] = sec.limit(role) - 1
    words = list(sec.words)
    for word, value in at_limit.items():
        words[word] = value
    assert sec.first_bad(words) is None
    _expect(sec, raw, good, at_limit, all_paths=True)


def test_check_equals_the_reference_on_a_real_kernel() -> None:
    from conftest import repo_vmlinux_files
    raw = lzma.decompress(repo_vmlinux_files()[0].read_bytes())
    good = BTF(raw)
    sec = Section(raw, good)
    rng = random.Random(2026)
    picks = {0, len(sec.records) - 1, *rng.sample(range(len(sec.records)), 3)}
    assert _mutations(sec, raw, good, rng, sorted(picks)) > 10


def test_check_on_split_btf() -> None:
    """A module's names may point into its base's strings and its types at
    the base's types; anything past the module's own ends is refused."""
    base_b = Builder()
    i = base_b.add_int("int", 4)
    base_b.add_struct("base_s", 4, [("a", i, 0)])
    base = BTF(base_b.to_bytes())
    mod_b = Builder()
    mod_b.strings = type(mod_b.strings)()  # the module's own strings, after the base's
    shift = len(base.strings)
    name, member = mod_b.strings.add("mod_s") + shift, mod_b.strings.add("m") + shift
    mod_b.add_words([name, make_info(wire.STRUCT, 2), 8, member, i, 0, 0, 4, 32])  # id 3
    mod_b.add_words([0, make_info(wire.FUNC_PROTO, 1), 3, member, 2])              # id 4
    mod_b.add_words([0, make_info(wire.PTR), 4])                                   # id 5
    raw = mod_b.to_bytes()
    good = BTF(raw, base=base)
    sec = Section(raw, good)
    assert sec.first_id == base.type_cnt == 3 and sec.type_cnt == 6 and sec.str_end > shift
    _mutations(sec, raw, good, random.Random(5), list(range(len(sec.records))), base=base)
    # A name in the base's strings, a type of the base: accepted.
    first = sec.records[0][0]
    _expect(sec, raw, good, {first: 1, first + 4: 1}, all_paths=True, base=base)


@pytest.mark.parametrize("order", ["little", "big"])
def test_check_of_records_longer_than_a_comparison_group(order: str, small_groups: None) -> None:
    """Records of more words than a comparison group takes: their first and
    last words, and the words of the small records around them."""
    b = Builder()
    i = b.add_int("int", 4)
    # 2 * GROUP + 9 words, so that with the int before it the first group is a
    # little longer than twice a group; it ends on a type id.
    b.add_func_proto(i, [(f"p{k % 50}", i) for k in range(GROUP + 3)])
    b.add_ref(wire.PTR, 2)
    b.add_enum("big", 4, [(f"V{k}", k) for k in range(2 * GROUP)])  # ends on an unchecked word
    b.add_struct("s", 4, [("m", 4, 0)])
    raw = b.to_bytes(byte_order=order)
    good = BTF(raw)
    sec = Section(raw, good)
    rng = random.Random(7)
    for k, (first, roles) in enumerate(sec.records):
        last = len(roles) - 1
        for j in sorted({0, 2, 3, 4, last - 2, last - 1, last} & set(range(len(roles))) - {1}):  # not the info
            role = roles[j]
            values = [rng.randrange(1 << 32)] if role == O else [sec.limit(role), _past(sec.limit(role), rng)]
            for v in values:
                _expect(sec, raw, good, {first + j: v}, all_paths=True)


def test_a_stored_index_that_does_not_fit_is_refused() -> None:
    """``offsets=`` with entries past the section, out of order, or not at
    record starts: one error, never an IndexError."""
    from array import array
    raw = _synthetic()
    good = BTF(raw)
    offs = good.type_offsets()
    n = good.record_words(good.type_cnt - 1)[0] + good.record_words(good.type_cnt - 1)[1]
    for bad in ([*offs[:-1], n - 1], [0, n + 5, *offs[2:]], [*offs[:5], offs[6], offs[5], *offs[7:]],
                [*offs[:9], offs[9] + 1, *offs[10:]], list(offs[:-1])):
        with pytest.raises(BTFFormatError, match="type index does not fit"):
            BTF(raw, offsets=array("I", bad))
