"""``--loader``: output for libbpf releases that parse fewer BTF kinds.

Every (kernel, object) pair of the corpus is minimized, rewritten for each
level, parsed with a parser that knows only that level's kinds
(tests/old_btf.py), and resolved again: every relocation not reported as
lost resolves as on the full kernel.  Real libbpf relocates the rewritten
output as it does the full kernel BTF.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import old_btf
import oracle
from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.btf.writer import Builder
from btfembed.core.resolve import Target
from btfembed.core.results import compare
from btfembed.errors import ConfigError
from btfembed.inputs.containers import load_btf
from btfembed.inputs.objects import load_object
from btfembed.minimize.engine import minimize, summarize_object
from btfembed.minimize.loader import LOADERS, for_loader, get_loader, rewrite

from conftest import OBJS, REPO, REPO_KERNELS, SYNTH
from corpus import objects_for, real_kernels, synth_kernels

OLD = ("libbpf-0.6", "libbpf-0.4", "libbpf-0.3")
DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, env=env)


def pairs() -> list[tuple[Path, list[Path]]]:
    out = []
    for kernel in synth_kernels() + real_kernels(shared=False):
        objs = [o for o in objects_for(kernel, little_endian_only=True) if "nobtfext" not in o.name
                and not o.name.startswith("conntrack")]
        if kernel.name.startswith("kylin"):
            objs = [o for o in objs if not o.name.startswith("tracer.el")]
        else:
            objs = [o for o in objs if "arm64" not in o.name]
        out.append((kernel, objs))
    return out


def test_corpus_for_every_level() -> None:
    seen: dict[str, int] = {}
    lost_total = 0
    kept_total = 0
    for kernel, paths in pairs():
        objs = [load_object(str(p)) for p in paths]
        target = Target(load_btf(str(kernel)))
        try:
            m = minimize(objs, target)
        except Exception:   # kernels meant to fail some objects (e.g. bitfields_err)
            m = None
        if m is None:
            continue
        # The default level writes what minimize writes.
        assert for_loader(objs, m.summaries, m.data, m.emitted.old_ids, LOADERS["libbpf"]).data == m.data
        for level in OLD:
            loader = get_loader(level)
            out = for_loader(objs, m.summaries, m.data, m.emitted.old_ids, loader)
            old_btf.parse(out.data, level)             # parses with only the old kinds
            for what, n in out.rewritten.items():
                seen[what] = seen.get(what, 0) + n
            rewritten = Target(BTF(out.data))
            lost = {(i, d.section, d.index) for i, d in out.lost}
            lost_total += len(lost)
            for i, obj in enumerate(objs):
                diffs = compare(m.summaries[i], summarize_object(obj, rewritten), id_map=m.emitted.old_ids)
                assert {(i, d.section, d.index) for d in diffs} <= lost
                kept_total += len(m.summaries[i]) - len([x for x in lost if x[0] == i])
            # A lost relocation always comes with something rewritten that explains it.
            if out.lost:
                assert out.truncated or "signed ENUM -> ENUM" in out.rewritten or "ENUM64 -> ENUM" in out.rewritten
    # Not vacuous: the corpus exercises ENUM64 (debian 6.1, *_c19 kernels),
    # and TYPE_TAG (fwd_tag); some relocations are lost (signed enums: see the
    # synthetic test).
    assert seen.get("ENUM64 -> ENUM") and seen.get("TYPE_TAG -> CONST")
    assert lost_total and kept_total > 1000


def test_the_old_parser_refuses_new_kinds() -> None:
    objs = [load_object(str(OBJS / "kernel_c19.el.o"))]
    m = minimize(objs, Target(load_btf(str(DEBIAN))))
    old_btf.parse(m.data, "libbpf")
    with pytest.raises(old_btf.OldBTFError, match="Unsupported BTF_KIND:19"):
        old_btf.parse(m.data, "libbpf-0.6")
    out = for_loader(objs, m.summaries, m.data, m.emitted.old_ids, get_loader("libbpf-0.6"))
    assert out.rewritten == {"ENUM64 -> ENUM": 1} and not out.lost
    assert [k for k, _n, _v in old_btf.parse(out.data, "libbpf-0.6")].count(wire.ENUM64) == 0


def _synthetic() -> bytes:
    b = Builder()
    i32 = b.add_int("int", 4, encoding=wire.INT_SIGNED)
    f64 = b.add_float("double", 8)
    e64 = b.add_enum("e64", 8, [("SMALL", -512 & (2**64 - 1)), ("BIG", 1 << 40)], enum64=True)
    es = b.add_enum("es", 4, [("NEG", -1)], signed=True)
    tag = b.add_ref(wire.TYPE_TAG, i32, name="user")
    ptr = b.add_ref(wire.PTR, tag)
    s = b.add_struct("s", 32, [("x", f64, 0), ("e", e64, 64), ("p", ptr, 128), ("n", es, 192)])
    b.add(__import__("btfembed.btf.types", fromlist=["DeclTag"]).DeclTag(
        wire.DECL_TAG, "tagged", (wire.DECL_TAG << 24), s, component_idx=-1))
    return b.to_bytes()


@pytest.mark.parametrize("level", OLD)
def test_rewrites_by_level(level: str) -> None:
    data = _synthetic()
    out = rewrite(data, get_loader(level))
    kinds = old_btf.parse(out.data, level)
    orig = BTF(data)
    new = BTF(out.data)
    assert new.type_cnt == orig.type_cnt
    expect = {"ENUM64 -> ENUM": 1, "signed ENUM -> ENUM": 1}
    if level != "libbpf-0.6":
        expect.update({"TYPE_TAG -> CONST": 1, "DECL_TAG -> INT": 1})
    if level == "libbpf-0.3":
        expect["FLOAT -> STRUCT"] = 1
    assert out.rewritten == expect
    assert out.truncated == ("enum e64: BIG = 1099511627776",)
    e = new.type(3)
    assert (e.kind, e.name, e.size, e.kflag) == (wire.ENUM, "e64", 8, 0)
    assert [k for k, _n, _v in kinds][:6] == [wire.INT, wire.FLOAT if level != "libbpf-0.3" else wire.STRUCT,
                                              wire.ENUM, wire.ENUM,
                                              wire.TYPE_TAG if level == "libbpf-0.6" else wire.CONST, wire.PTR]
    with pytest.raises(old_btf.OldBTFError):
        old_btf.parse(data, level)


def test_unknown_loader() -> None:
    with pytest.raises(ConfigError, match="unknown loader"):
        get_loader("libbpf-9")
    assert get_loader("libbpf-0.x") is LOADERS["libbpf-0.3"]


def test_cli_minimize_and_build(tmp_path: Path) -> None:
    kernel = SYNTH / "base_c19.btf"
    obj = OBJS / "synth_enum64_c19.el.o"
    r = run_cli("minimize", "--loader", "libbpf-0.x", str(kernel), str(tmp_path / "m.btf"), str(obj))
    assert r.returncode == 0, r.stderr
    assert "relocation not kept" in r.stderr and "CORE_E64_BIG" in r.stderr
    old_btf.parse((tmp_path / "m.btf").read_bytes(), "libbpf-0.3")
    cache = str(tmp_path / "cache")
    r = run_cli("build", str(obj), "-k", f"{kernel}=x/1/x86_64/r", "--loader", "libbpf-0.6", "-o",
                str(tmp_path / "o"), "--cache-dir", cache)
    assert r.returncode == 0, r.stderr
    assert "x/1/x86_64/r: for libbpf-0.6: relocation not kept" in r.stderr
    blob = (tmp_path / "o/x/1/x86_64/r.btf").read_bytes()
    old_btf.parse(blob, "libbpf-0.6")
    # Cached: the same bytes and the same warnings.
    r2 = run_cli("build", str(obj), "-k", f"{kernel}=x/1/x86_64/r", "--loader", "libbpf-0.6", "-o",
                 str(tmp_path / "o2"), "--cache-dir", cache)
    assert (tmp_path / "o2/x/1/x86_64/r.btf").read_bytes() == blob
    assert [ln for ln in r2.stderr.splitlines() if "libbpf-0.6" in ln] == \
        [ln for ln in r.stderr.splitlines() if "libbpf-0.6" in ln]
    # The setting, and the default level sharing the cache: the modern output.
    (tmp_path / "btfembed.toml").write_text(f'objects = ["{obj}"]\nloader = "libbpf-0.6"\n'
                                            f'kernels = [{{path = "{kernel}", release = "r", arch = "x86_64"}}]\n'
                                            f'out_dir = "{tmp_path / "o3"}"\ncache_dir = "{cache}"\n')
    r3 = run_cli("build", "--config", str(tmp_path / "btfembed.toml"))
    assert r3.returncode == 0, r3.stderr
    assert (tmp_path / "o3/_/_/x86_64/r.btf").read_bytes() == blob
    r4 = run_cli("build", str(obj), "-k", f"{kernel}=x/1/x86_64/r", "-o", str(tmp_path / "o4"), "--cache-dir", cache)
    assert r4.returncode == 0 and "libbpf-0.6" not in r4.stderr
    with pytest.raises(old_btf.OldBTFError):
        old_btf.parse((tmp_path / "o4/x/1/x86_64/r.btf").read_bytes(), "libbpf-0.6")
    (tmp_path / "bad.toml").write_text('loader = "libbpf-0.1"\n')
    r5 = run_cli("build", "--config", str(tmp_path / "bad.toml"))
    assert r5.returncode == 2 and "unknown loader" in r5.stderr and "Traceback" not in r5.stderr


@pytest.mark.oracle
def test_libbpf_relocates_the_rewritten_output_like_the_full_btf(tmp_path: Path) -> None:
    reason = oracle.oracle_available()
    if reason:
        pytest.skip(reason)
    import lzma
    full = tmp_path / "full.btf"
    full.write_bytes(lzma.decompress(DEBIAN.read_bytes()))
    # Objects without TYPE_ID_TARGET relocations (their values are type ids
    # of the BTF used, which legitimately differ).
    for name in ("kernel_c19.el.o", "task_small.el.o", "key_ref_fwd.el.o"):
        path = OBJS / name
        objs = [load_object(str(path))]
        m = minimize(objs, Target(load_btf(str(DEBIAN))))
        out = for_loader(objs, m.summaries, m.data, m.emitted.old_ids, get_loader("libbpf-0.x"))
        assert not out.lost
        small = tmp_path / f"{name}.btf"
        small.write_bytes(out.data)
        a, b = oracle.relocate(path, full), oracle.relocate(path, small)
        assert a.ok and b.ok, (a.error, b.error)
        assert a.programs and oracle.diff_programs(a, b) == []
