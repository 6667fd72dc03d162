"""The engine at scale: each distinct relocation resolved once (a million
identical records), candidates grouped by shape on kernels that were not
deduplicated, with results identical to matching every candidate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.btf.reader import BTF
from btfembed.core import Target, calc
from btfembed.core import resolve as resolve_mod
from btfembed.core.spec import format_spec
from btfembed.inputs.containers import load_btf
from btfembed.inputs.objects import load_object
from btfembed.minimize.engine import analyze, minimize, resolve_object, summarize_object
from btfembed.core.results import compare

from conftest import OBJS, REPO, REPO_KERNELS, SHARED_KERNELS, RawCache, load_script
from corpus import objects_for, synth_kernels

bigobj = load_script("_bigobj")

DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
CENTOS = SHARED_KERNELS / "centos_8_arm64_4.18.0-147.5.1.el8_1.aarch64.btf.xz"
GNU_TIME = "/usr/bin/time"


def _spec(s):
    return None if s is None else (id(s.btf), s.root_type_id, tuple(s.raw), s.bit_offset, tuple(s.accessors))


def detailed(obj, target: Target) -> list:
    """Everything an outcome holds, per record, with specs by value."""
    out = []
    for r in resolve_object(obj, target):
        o = r.outcome
        out.append((r.record, r.program, o.status, o.values.key() if o.values else None, o.message, o.code,
                    _spec(o.target), [(c.id, _spec(s)) for c, s in o.matched], [c.id for c in o.considered]))
    return out


def ungrouped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calc, "GROUP_MIN", 1 << 60)


def test_resolution_is_per_distinct_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 copies of one record: the candidate loop runs at most twice
    (before and after its list is pruned), and every record still gets its
    own, correct result."""
    data = bigobj.repeat_records((OBJS / "tracer.el.o").read_bytes(), 20_000)
    (tmp_path / "rep.o").write_bytes(data)
    obj = load_object(str(tmp_path / "rep.o"))
    single = load_object(str(tmp_path / "rep.o"), bigobj.repeat_records((OBJS / "tracer.el.o").read_bytes(), 1))
    target = Target(load_btf(str(DEBIAN)))
    calls = []
    real = resolve_mod.resolve

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(resolve_mod, "resolve", counting)
    res = resolve_object(obj, target)
    assert len(res) == 20_000 and len(calls) <= 2 and len(res.distinct) <= 2
    assert len(obj.spec_table.specs) == 1
    one = summarize_object(single, target)[0]
    sums = summarize_object(obj, target)
    assert [s.index for s in sums] == list(range(20_000))
    assert all(s._replace(index=0) == one for s in sums)
    assert minimize([obj], target).data == minimize([single], target).data


def _measured(cmd: list[str]) -> tuple[float, int]:
    """(CPU seconds, peak RSS in KB) of ``cmd`` (GNU time from a small parent)."""
    proc = subprocess.run([GNU_TIME, "-f", "%U %S %M", *cmd], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    user, system, rss = proc.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system), int(rss)


@pytest.mark.skipif(not os.access(GNU_TIME, os.X_OK), reason="GNU time not installed")
def test_million_identical_records(tmp_path: Path, raw_cache: RawCache) -> None:
    """One million identical records minimize in at most 5 s of CPU time
    (interpreter start included), with memory flat: the peak grows by less
    than 64 bytes per record over the same object with a thousand (the
    records themselves take 16 bytes each in the file), and the output is
    the one-record object's (and bpftool's, when installed)."""
    raw = bigobj.repeat_records((OBJS / "tracer.el.o").read_bytes(), 1)
    small = tmp_path / "r1k.o"
    big = tmp_path / "r1m.o"
    small.write_bytes(bigobj.repeat_records(raw, 1000))
    big.write_bytes(bigobj.repeat_records(raw, 1_000_000))
    kernel = raw_cache.raw(DEBIAN)
    env_cmd = [sys.executable, "-m", "btfembed", "minimize", str(kernel)]
    cpu_small, rss_small = _measured(env_cmd + [str(tmp_path / "s.btf"), str(small)])
    cpu_big, rss_big = _measured(env_cmd + [str(tmp_path / "b.btf"), str(big)])
    assert cpu_big <= 5.0, f"1M records took {cpu_big:.2f} s of CPU"
    assert (rss_big - rss_small) * 1024 < 64 * 1_000_000, f"peak RSS {rss_small} KB -> {rss_big} KB"
    assert (tmp_path / "b.btf").read_bytes() == (tmp_path / "s.btf").read_bytes()
    tool = shutil.which("bpftool")
    if tool:
        subprocess.run([tool, "gen", "min_core_btf", str(kernel), str(tmp_path / "ref.btf"), str(big)], check=True,
                       capture_output=True)
        subprocess.run([*env_cmd[:4], "--compat", "bpftool", str(kernel), str(tmp_path / "c.btf"), str(big)],
                       check=True)
        assert (tmp_path / "c.btf").read_bytes() == (tmp_path / "ref.btf").read_bytes()


@pytest.mark.parametrize("kernel", synth_kernels(), ids=lambda p: p.name)
def test_grouping_changes_nothing_on_synthetic_kernels(kernel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grouping even two-candidate lists (duplicate same-named types, equal
    and differing) gives exactly the results of matching every candidate."""
    target = Target(BTF(kernel.read_bytes(), source=str(kernel)))
    objs = [load_object(str(p)) for p in objects_for(kernel)]
    monkeypatch.setattr(calc, "GROUP_MIN", 1)
    grouped = [detailed(o, target) for o in objs]
    marks = [analyze(o, target, wide=True)[1:3] for o in objs]
    ungrouped(monkeypatch)
    assert grouped == [detailed(o, target) for o in objs]
    assert marks == [analyze(o, target, wide=True)[1:3] for o in objs]


def test_shapes_tell_copies_apart() -> None:
    """Copies of a struct share a shape; a copy with one member moved, or
    renamed, does not; pointers lead to each copy's own pointee types."""
    from btfembed.btf.wire import PTR, STRUCT
    from btfembed.btf.writer import Builder
    from btfembed.core.shapes import shape_of

    b = Builder()
    i32 = b.add_int("int", 4, 1)
    ids = []
    for variant in ("same", "same", "moved", "renamed"):
        inner = b.add_composite(STRUCT, "inner", 4, [("x", i32, 0)])
        ptr = b.add_ref(PTR, inner)
        second = "b" if variant != "renamed" else "c"
        offset = 32 if variant != "moved" else 64
        ids.append(b.add_composite(STRUCT, "outer", 16, [("a", ptr, 0), (second, i32, offset)]))
    btf = BTF(b.to_bytes())
    same1, same2, moved, renamed = (shape_of(btf, t) for t in ids)
    assert same1 == same2 and len({same1, moved, renamed}) == 3


def test_non_deduplicated_kernel(raw_cache: RawCache, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CentOS 8's arm64 BTF (27 MB, not deduplicated: hundreds of copies of
    each struct): grouped resolution gives every record exactly the result
    of matching every candidate, with a small fraction of the matching
    work; the output is bpftool's."""
    if not CENTOS.exists():
        pytest.skip(f"{CENTOS} not found (shared kernel corpus)")
    obj = load_object(str(OBJS / "tracer.arm64.el.o"))
    target = Target(load_btf(str(CENTOS)))
    calls = []
    real = calc.spec_match

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(calc, "spec_match", counting)
    res = resolve_object(obj, target)
    grouped_calls = len(calls)
    grouped = detailed(obj, target)   # materializes every grouped spec
    assert max(len(o.considered) for _, o in res.distinct) > 100  # really not deduplicated
    ungrouped(monkeypatch)
    calls.clear()
    resolve_object(obj, target)
    assert grouped_calls * 10 < len(calls), (grouped_calls, len(calls))
    assert grouped == detailed(obj, target)
    monkeypatch.undo()
    tool = shutil.which("bpftool")
    result = minimize([obj], target, compat=True)
    if tool:
        subprocess.run([tool, "gen", "min_core_btf", str(raw_cache.raw(CENTOS)), str(tmp_path / "ref.btf"),
                        str(OBJS / "tracer.arm64.el.o")], check=True, capture_output=True)
        assert result.data == (tmp_path / "ref.btf").read_bytes()
    default = minimize([obj], target)
    again = summarize_object(obj, Target(BTF(default.data)))
    assert [d for d in compare(default.summaries[0], again) if not d.type_id_only] == []
    assert all(format_spec(s) for s, _ in res.distinct)


@pytest.mark.slow
def test_generated_object_with_100k_relocations(tmp_path: Path, raw_cache: RawCache) -> None:
    """The benchmarks' generated object (>= 100,000 records, clang-built):
    bpftool's bytes in compat mode, an equivalent BTF by default."""
    if shutil.which("clang") is None or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("clang or libbpf headers not installed")
    path = bigobj.compile_object(100_000, tmp_path / "g100k.o")
    obj = load_object(str(path))
    assert len(obj.relocations) >= 100_000
    target = Target(load_btf(str(DEBIAN)))
    tool = shutil.which("bpftool")
    if tool:
        subprocess.run([tool, "gen", "min_core_btf", str(raw_cache.raw(DEBIAN)), str(tmp_path / "ref.btf"),
                        str(path)], check=True, capture_output=True)
        assert minimize([obj], target, compat=True).data == (tmp_path / "ref.btf").read_bytes()
    default = minimize([obj], target)
    again = summarize_object(obj, Target(BTF(default.data)))
    assert [d for d in compare(default.summaries[0], again) if not d.type_id_only] == []
