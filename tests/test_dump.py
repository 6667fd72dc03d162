"""``btfembed dump`` against ``bpftool btf dump file``, and byte-exact round trips."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from btfembed.btf.dump import dump
from btfembed.inputs.containers import load_btf
from btfembed.btf.writer import roundtrip

from conftest import (
    OBJS, RawCache, module_base, repo_kernel_files, repo_vmlinux_files, shared_kernel_files,
    shared_module_files, skip_without_shared,
)


def ours(path: Path, base: Path | None = None) -> str:
    b = load_btf(str(base)) if base else None
    out = io.StringIO()
    dump(load_btf(str(path), base=b), out)
    return out.getvalue()


def reference(bpftool: str, path: Path, base: Path | None = None) -> str:
    cmd = [bpftool, "btf", "dump"] + (["-B", str(base)] if base else []) + ["file", str(path)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, errors="surrogateescape").stdout


def assert_same_text(a: str, b: str) -> None:
    if a != b:
        la, lb = a.splitlines(), b.splitlines()
        first = next((i for i in range(min(len(la), len(lb))) if la[i] != lb[i]), min(len(la), len(lb)))
        pytest.fail(f"dump differs at line {first + 1}: ours {la[first:first + 1]} bpftool {lb[first:first + 1]} "
                    f"({len(la)} vs {len(lb)} lines)")


@pytest.mark.differential
@pytest.mark.parametrize("path", repo_vmlinux_files(), ids=lambda p: p.name)
def test_dump_matches_bpftool_repo_kernels(path: Path, bpftool: str, raw_cache: RawCache) -> None:
    assert_same_text(ours(path), reference(bpftool, raw_cache.raw(path)))


@pytest.mark.differential
def test_dump_matches_bpftool_repo_module(bpftool: str, raw_cache: RawCache) -> None:
    mods = [p for p in repo_kernel_files() if "__" in p.name]
    assert mods
    for mod in mods:
        base = module_base(mod)
        assert_same_text(ours(mod, base), reference(bpftool, raw_cache.raw(mod), raw_cache.raw(base)))


@pytest.mark.differential
@pytest.mark.parametrize("path", sorted(OBJS.glob("*.o")), ids=lambda p: p.name)
def test_dump_matches_bpftool_objects(path: Path, bpftool: str) -> None:
    # bpftool 7.1 cannot read big-endian objects on a little-endian host;
    # those are covered by the round trip and reader tests.
    if path.name.endswith(".eb.o"):
        pytest.skip("bpftool 7.1 cannot parse big-endian BTF")
    assert_same_text(ours(path), reference(bpftool, path))


@pytest.mark.differential
@pytest.mark.parametrize("path", shared_kernel_files(), ids=lambda p: p.name)
def test_dump_matches_bpftool_shared_kernels(path: Path, bpftool: str, raw_cache: RawCache) -> None:
    skip_without_shared()
    assert_same_text(ours(path), reference(bpftool, raw_cache.raw(path)))


@pytest.mark.differential
@pytest.mark.parametrize("path", shared_module_files(), ids=lambda p: p.name)
def test_dump_matches_bpftool_shared_modules(path: Path, bpftool: str, raw_cache: RawCache) -> None:
    skip_without_shared()
    base = module_base(path)
    assert_same_text(ours(path, base), reference(bpftool, raw_cache.raw(path), raw_cache.raw(base)))


def test_shared_corpus_skips_cleanly_when_absent() -> None:
    # The parametrized tests above collect nothing without ../shared; make
    # sure the in-repo equivalents always exist so something is checked.
    assert len(repo_vmlinux_files()) >= 3
    assert any("arm64" in p.name for p in repo_vmlinux_files())


@pytest.mark.parametrize("path", repo_vmlinux_files() + shared_kernel_files(), ids=lambda p: p.name)
def test_roundtrip_is_byte_identical(path: Path) -> None:
    import lzma
    raw = lzma.decompress(path.read_bytes())
    btf = load_btf(str(path))
    assert roundtrip(btf) == raw


@pytest.mark.parametrize("path", sorted(OBJS.glob("*.o")), ids=lambda p: p.name)
def test_roundtrip_objects_both_byte_orders(path: Path) -> None:
    from btfembed.inputs.elf import ElfFile
    raw = ElfFile(path.read_bytes()).section_data(".BTF")
    assert raw is not None
    btf = load_btf(str(path))
    assert btf.byte_order == ("big" if path.name.endswith(".eb.o") else "little")
    assert roundtrip(btf) == raw
