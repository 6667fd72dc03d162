"""Relocation outcomes kept per kernel (``build.outcomes``, ``minimize.pieces``):
analyses assembled from per-relocation pieces equal ``analyze``; a recompiled
object with the same relocations opens no kernel; an object with one new
relocation resolves only it; checks are remembered per emitted BTF; damaged
entries are misses.  Real kernels (tests/data), objects compiled by clang
here, bpftool as the byte oracle in compat mode."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from btfembed.build.cache import Cache, seal, unseal
from btfembed.build.kernels import discover
from btfembed.build.pipeline import Options, load_object_inputs, run_build
from btfembed.build.settings import KernelSpec
from btfembed.core.resolve import Target
from btfembed.errors import BTFEmbedError
from btfembed.inputs.containers import load_btf
from btfembed.inputs.objects import load_object
from btfembed.minimize.engine import analyze, check_compat_input, minimize
from btfembed.minimize.pieces import KernelPieces, compose, plan, replay
from btfembed.build.outcomes import OutcomeBook

from conftest import DATA, OBJS, REPO, REPO_KERNELS, CountingLoad, RawCache

OBJ_A = str(OBJS / "task_small.el.o")
TRACER = OBJS / "tracer.el.o"
PROGS = DATA / "progs"
KERNEL_FILES = sorted(p for p in REPO_KERNELS.glob("*.btf.xz") if "__" not in p.name)


def clang() -> str:
    path = shutil.which("clang")
    if path is None:
        pytest.skip("clang not installed")
    return path


def compile_bpf(src: Path, out: Path, *flags: str) -> Path:
    subprocess.run([clang(), "-target", "bpfel", "-g", *flags, "-I", str(PROGS), "-c", str(src), "-o", str(out)],
                   check=True, capture_output=True)
    return out


def tracer_variants(tmp_path: Path) -> list[Path]:
    """tracer.bpf.c rebuilt at other optimization levels: other bytes, the
    same relocations."""
    out = []
    for i, flags in enumerate((["-O1"], ["-Os"], ["-O2", "-mcpu=v3"])):
        obj = compile_bpf(PROGS / "tracer.bpf.c", tmp_path / f"tracer_v{i}.o", *flags, "-D__TARGET_ARCH_x86")
        assert obj.read_bytes() != TRACER.read_bytes()
        out.append(obj)
    return out


def build(objs: list[str], cache: Cache, **kw):  # type: ignore[no-untyped-def]
    options = kw.pop("options", Options())
    return run_build(load_object_inputs(objs), discover([KernelSpec(str(REPO_KERNELS))]), options=options,
                     cache=cache, jobs=1, **kw)


def same_results(a, b) -> None:  # type: ignore[no-untyped-def]
    assert [k.kernel.key for k in a.kernels] == [k.kernel.key for k in b.kernels]
    assert [k.blob for k in a.kernels] == [k.blob for k in b.kernels]
    assert [k.level for k in a.kernels] == [k.level for k in b.kernels]
    assert [k.error for k in a.kernels] == [k.error for k in b.kernels]
    assert [[list(s) for s in k.summaries] for k in a.kernels] == [[list(s) for s in k.summaries] for k in b.kernels]


def test_pieces_compose_to_analyze_on_every_object_and_kernel(tmp_path: Path) -> None:
    """compose(replay(...)) == analyze, also through a book written and read
    back, for every test object (both byte orders, failures and bpftool-mode
    refusals included) on every in-repo kernel, in both modes."""
    objs = []
    for path in sorted(OBJS.glob("*.o")):
        try:
            objs.append(load_object(str(path)))
        except BTFEmbedError:
            continue
    assert len(objs) > 20
    compared = refused = 0
    for kpath in KERNEL_FILES:
        target = Target(load_btf(str(kpath)))
        btfs = list(target.btfs)
        for compat in (False, True):
            cache = Cache(str(tmp_path / f"c-{kpath.name}-{compat}"))
            for obj in objs:
                try:
                    want = analyze(obj, target, compat=compat)
                    want_error = None
                except BTFEmbedError as exc:
                    want, want_error = None, str(exc)
                for round_trip in (False, True):
                    try:
                        if compat:
                            check_compat_input(obj)
                        p = plan(obj)
                        if round_trip:
                            book = OutcomeBook(cache, ["t", compat], kpath.name)
                            source = KernelPieces(target, obj, compat=compat, known=book)
                            r = replay(p, source)
                            book.save()
                            again = OutcomeBook(cache, ["t", compat], kpath.name)
                            r2 = replay(p, again, set())
                            # Everything was learned (or is TYPE_ID_LOCAL / has no fingerprint).
                            if r2 is not None:
                                r = r2
                                got = compose(p, r, again.type_of)
                            else:
                                got = compose(p, r, lambda k: btfs[k[0]].type(k[1]))
                        else:
                            r = replay(p, KernelPieces(target, obj, compat=compat))
                            got = compose(p, r, lambda k: btfs[k[0]].type(k[1]))
                        got_error = None
                    except BTFEmbedError as exc:
                        got, got_error = None, str(exc)
                    assert got_error == want_error, (obj.source, kpath.name, compat)
                    if want is None:
                        refused += 1
                        continue
                    assert got is not None
                    assert list(got.summaries) == list(want.summaries), (obj.source, kpath.name, compat)
                    assert got.marks == want.marks
                    assert dict(got.types) == want.types
                    compared += 1
    assert compared > 100 and refused > 0


def test_recompiled_object_opens_no_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variants = tracer_variants(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    first = build([OBJ_A, str(TRACER)], cache)
    assert first.resolved > 0 and all(k.error is None for k in first.kernels)
    loads = CountingLoad(monkeypatch)
    obj = tmp_path / "objs" / "tracer.o"
    obj.parent.mkdir()
    for v in variants:
        shutil.copy(v, obj)
        changed = build([OBJ_A, str(obj)], cache)
        st = changed.stats()
        assert loads.calls == []
        assert st["kernels_decoded"] == 0 and st["kernels_loaded"] == 0 and st["cached"] == 0
        assert changed.resolved == 0 and changed.damaged == () and st["analyses_computed"] == 0
        # The emitted BTF did not change: only the new object is checked.
        assert changed.checked == len(changed.kernels)
        same_results(changed, build([OBJ_A, str(obj)], Cache(None)))
        loads.calls.clear()   # the reference build decoded them


def test_reports_and_outputs_equal_a_cold_build(tmp_path: Path) -> None:
    """Through the CLI: the output tree and the JSON report of a build that
    assembles everything from the outcome books equal a cold build's."""
    import sys

    v = tracer_variants(tmp_path)[0]
    objdir = tmp_path / "objs"
    objdir.mkdir()
    shutil.copy(OBJ_A, objdir / "a.o")
    shutil.copy(TRACER, objdir / "t.o")

    def cli(out: str, cache: str | None) -> dict:
        args = [sys.executable, "-m", "btfembed", "build", str(objdir / "a.o"), str(objdir / "t.o"), "--kernels",
                str(REPO_KERNELS), "--out-dir", str(tmp_path / out), "--report", str(tmp_path / f"{out}.json"), "-q"]
        args += ["--cache-dir", cache] if cache else ["--no-cache"]
        proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO,
                              env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr
        report = json.loads((tmp_path / f"{out}.json").read_text())
        report.pop("stats")
        return report

    cli("warm", str(tmp_path / "cache"))
    shutil.copy(v, objdir / "t.o")
    warm = cli("warm", str(tmp_path / "cache"))
    cold = cli("cold", None)
    assert warm == cold

    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert tree(tmp_path / "warm") == tree(tmp_path / "cold")


def test_one_new_relocation_is_the_only_one_resolved(tmp_path: Path) -> None:
    src = (PROGS / "task_small.bpf.c").read_text()
    extra = src.replace("\treturn 0;\n}", "\tsmall_out.ppid += bpf_core_field_size(t->comm);\n\treturn 0;\n}")
    assert extra != src
    (tmp_path / "base.bpf.c").write_text(src)
    (tmp_path / "extra.bpf.c").write_text(extra)
    base = compile_bpf(tmp_path / "base.bpf.c", tmp_path / "base.o", "-O2")
    more = compile_bpf(tmp_path / "extra.bpf.c", tmp_path / "extra.o", "-O2")
    assert len(load_object(str(more)).relocations) == len(load_object(str(base)).relocations) + 1
    cache = Cache(str(tmp_path / "cache"))
    build([str(base), str(TRACER)], cache)
    again = build([str(more), str(TRACER)], cache)
    kernels = len(again.kernels)
    assert again.stats()["kernels_loaded"] == kernels and again.stats()["kernels_decoded"] == 0
    assert [k.resolved for k in again.kernels] == [1] * kernels
    same_results(again, build([str(more), str(TRACER)], Cache(None)))


def _rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    entry = json.loads(unseal(path.read_bytes()))
    change(entry["value"])
    path.write_bytes(seal(json.dumps(entry).encode()))


def test_damaged_outcome_entries_are_misses(tmp_path: Path) -> None:
    variant = tracer_variants(tmp_path)[0]
    cache_dir = tmp_path / "cache"
    build([OBJ_A, str(TRACER)], Cache(str(cache_dir)))
    books = sorted((cache_dir / "v2" / "outcomes").rglob("*"))
    books = [p for p in books if p.is_file()]
    checks = [p for p in sorted((cache_dir / "v2").rglob("*")) if p.is_file() and p.parent.parent.name in
              ("checked", "check-outcomes")]
    assert len(books) == len(KERNEL_FILES) and checks
    # A flipped byte, a truncated entry, and an entry whose digest is right
    # but that does not hold together (its pieces' types are gone).
    data = bytearray(books[0].read_bytes())
    data[len(data) // 2] ^= 0x20
    books[0].write_bytes(bytes(data))
    books[1].write_bytes(books[1].read_bytes()[:-50])
    _rewrite(books[2], lambda v: v["types"].clear())
    for p in checks:
        p.write_bytes(p.read_bytes()[:-3])
    cache = Cache(str(cache_dir))
    again = build([OBJ_A, str(variant)], cache)
    assert {str(books[0]), str(books[1])} <= set(again.damaged)
    assert set(map(str, checks)) <= set(again.damaged)
    # The undamaged-looking third book: its pieces are misses, resolved again.
    assert [k.loaded for k in again.kernels] == [True, True, True]
    same_results(again, build([OBJ_A, str(variant)], Cache(None)))
    # Rewritten: the next changed build needs no kernel.
    shutil.copy(TRACER, tmp_path / "t.o")
    third = build([OBJ_A, str(tmp_path / "t.o")], Cache(str(cache_dir)))
    assert third.stats()["kernels_loaded"] == 0 and third.resolved == 0 and third.damaged == ()


def test_compat_mode_from_the_books_is_bpftool_identical(tmp_path: Path, bpftool: str, raw_cache: RawCache) -> None:
    variant = tracer_variants(tmp_path)[1]
    cache = Cache(str(tmp_path / "cache"))
    options = Options(compat=True)
    build([OBJ_A, str(TRACER)], cache, options=options)
    again = build([OBJ_A, str(variant)], cache, options=options)
    assert again.stats()["kernels_loaded"] == 0 and again.resolved == 0
    same_results(again, build([OBJ_A, str(variant)], Cache(None), options=options))
    for k in again.kernels:
        out = tmp_path / f"{k.kernel.key.release}.btf"
        proc = subprocess.run([bpftool, "gen", "min_core_btf", str(raw_cache.raw(Path(k.kernel.path))), str(out),
                               OBJ_A, str(variant)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == k.blob
        direct = minimize([load_object(OBJ_A), load_object(str(variant))],
                          Target(load_btf(k.kernel.path)), compat=True)
        assert direct.data == k.blob


def test_damaged_types_entries_take_the_types_from_the_kernel(tmp_path: Path) -> None:
    """The books' type tables are read only when an emission is not
    remembered; damaged ones are misses and the kernel supplies the types."""
    variant = tracer_variants(tmp_path)[2]
    cache_dir = tmp_path / "cache"
    build([OBJ_A, str(TRACER)], Cache(str(cache_dir)))
    entries = [p for p in sorted((cache_dir / "v2" / "outcomes-types").rglob("*")) if p.is_file()]
    assert len(entries) == len(KERNEL_FILES)
    for p in entries:
        p.write_bytes(p.read_bytes()[:-10])
    for p in (cache_dir / "v2" / "outcomes").rglob("*"):
        if p.is_file():
            _rewrite(p, lambda v: v.pop("emitted"))   # forget the emissions: the types are needed
    again = build([OBJ_A, str(variant)], Cache(str(cache_dir)))
    assert set(map(str, entries)) <= set(again.damaged)
    assert again.resolved == 0 and again.stats()["kernels_loaded"] == len(KERNEL_FILES)
    same_results(again, build([OBJ_A, str(variant)], Cache(None)))
