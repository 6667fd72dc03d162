"""Kernel modules in ``btfembed build``: module BTF found per kernel, module
types merged into each kernel's one flat blob when relocations reach them
(vmlinux candidates first), proven with libbpf like ``minimize --module``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import oracle
from btfembed.btf.reader import BTF
from btfembed.build.kernels import discover, sysfs_modules
from btfembed.build.settings import KernelSpec, load_settings
from btfembed.core.resolve import Target
from btfembed.core.results import compare
from btfembed.inputs.containers import load_btf
from btfembed.inputs.elf import ElfFile
from btfembed.inputs.objects import load_object
from btfembed.minimize.blob import emit
from btfembed.minimize.engine import minimize, resolve_object, summarize_object

from conftest import OBJS, REPO, REPO_KERNELS, SHARED_KERNELS

STEM = "debian_12_x86_64_6.1.0-50-amd64"
KERNEL = REPO_KERNELS / f"{STEM}.btf.xz"
MODULE = REPO_KERNELS / f"{STEM}__nf_conntrack.btf.xz"
CT = OBJS / "conntrack_mod.el.o"
SMALL = OBJS / "task_small.el.o"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, env=env, cwd=cwd)


def module_target() -> Target:
    base = load_btf(str(KERNEL))
    return Target(base, (load_btf(str(MODULE), base=base),))


def link(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dest)
    return dest


# --- finding module files ---------------------------------------------------

def test_module_layouts(tmp_path: Path) -> None:
    # DIR/STEM__MODULE beside the kernel (the bundled layout), with a manifest.
    found = {k.key.release: k.modules for k in discover([KernelSpec(str(REPO_KERNELS))])}
    assert found["6.1.0-50-amd64"] == (str(MODULE),)
    assert found["5.3-approx"] == ()
    # DIR/modules/STEM__MODULE (the shared corpus layout), no manifest: the
    # module files are not kernels.
    flat = tmp_path / "flat"
    link(KERNEL, flat / f"{STEM}.btf.xz")
    link(MODULE, flat / "modules" / f"{STEM}__nf_conntrack.btf.xz")
    link(MODULE, flat / f"{STEM}__nf_conntrack.btf.xz")
    (kernel,) = discover([KernelSpec(str(flat))])
    assert [os.path.basename(m) for m in kernel.modules] == [f"{STEM}__nf_conntrack.btf.xz"] * 2
    # A BTFHub tree: <arch>/<release>.btf.xz and <arch>/<release>/<module>.btf.xz.
    tree = tmp_path / "tree"
    arch = tree / "debian/12/x86_64"
    link(KERNEL, arch / "6.1.0-50-amd64.btf.xz")
    link(MODULE, arch / "6.1.0-50-amd64" / "nf_conntrack.btf.xz")
    (kernel,) = discover([KernelSpec(str(tree))])
    assert str(kernel.key) and kernel.key.distro == "debian" and kernel.key.release == "6.1.0-50-amd64"
    assert kernel.modules == (str(arch / "6.1.0-50-amd64" / "nf_conntrack.btf.xz"),)
    # A single file finds its neighbours too.
    (kernel,) = discover([KernelSpec(str(arch / "6.1.0-50-amd64.btf.xz"))])
    assert len(kernel.modules) == 1


def test_module_manifests_and_settings(tmp_path: Path) -> None:
    link(KERNEL, tmp_path / "k.btf.xz")
    link(MODULE, tmp_path / "m" / "ct.btf.xz")
    (tmp_path / "kernels.tsv").write_text("path\trelease\tarch\tmodules\nk.btf.xz\t6.1\tx86_64\tm/ct.btf.xz\n")
    (kernel,) = discover([KernelSpec(str(tmp_path / "kernels.tsv"))])
    assert kernel.modules == (str(tmp_path / "m/ct.btf.xz"),)
    (tmp_path / "kernels.toml").write_text('[[kernel]]\npath = "k.btf.xz"\nrelease = "6.1"\nmodules = ["m/ct.btf.xz"]\n')
    (kernel,) = discover([KernelSpec(str(tmp_path / "kernels.toml"))])
    assert kernel.modules == (str(tmp_path / "m/ct.btf.xz"),)
    (tmp_path / "btfembed.toml").write_text(
        '[[kernels]]\npath = "k.btf.xz"\nrelease = "6.1"\nmodules = ["m/ct.btf.xz"]\n')
    s = load_settings(str(tmp_path / "btfembed.toml"))
    (kernel,) = discover(s.kernels)
    assert kernel.modules == (str(tmp_path / "m/ct.btf.xz"),)
    (tmp_path / "bad.toml").write_text('[[kernels]]\npath = "k.btf.xz"\nmodules = "m/ct.btf.xz"\n')
    r = run_cli("build", str(SMALL), "--config", str(tmp_path / "bad.toml"))
    assert r.returncode == 2 and "kernels.modules" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_sysfs_modules(tmp_path: Path) -> None:
    for name in ("vmlinux", "nf_conntrack", "ext4"):
        (tmp_path / name).write_bytes(b"")
    assert sysfs_modules(str(tmp_path)) == (str(tmp_path / "ext4"), str(tmp_path / "nf_conntrack"))
    real = sysfs_modules()
    assert all(os.path.dirname(m) == "/sys/kernel/btf" and not m.endswith("/vmlinux") for m in real)


# --- building -----------------------------------------------------------------

def _build(tmp_path: Path, kernels: Path, *objs: Path, name: str = "out", extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / name
    r = run_cli("build", *map(str, objs), "--kernels", str(kernels), "--release", "6.1.0-50-amd64", "-o", str(out),
                *extra)
    assert r.returncode == 0, r.stderr
    return out / "debian/12/x86_64/6.1.0-50-amd64.btf"


def test_build_merges_the_module_types_reached(tmp_path: Path) -> None:
    blob = _build(tmp_path, REPO_KERNELS, CT, SMALL, extra=("--no-cache",))
    # The same bytes as minimize --module gives...
    target = module_target()
    objs = [load_object(str(CT)), load_object(str(SMALL))]
    assert blob.read_bytes() == minimize(objs, target).data
    # ... the module types are in it, and every relocation resolves against
    # the flat blob as against kernel + module.
    flat = BTF(blob.read_bytes())
    assert flat.find_by_name("nf_conn_acct") and flat.find_by_name("nf_conn")
    for obj in objs:
        full = summarize_object(obj, target)
        assert not [d for d in compare(full, summarize_object(obj, Target(flat))) if not d.type_id_only]
    # Relocations that reach no module type: the module changes nothing.
    small = _build(tmp_path, REPO_KERNELS, SMALL, name="small", extra=("--no-cache",))
    assert small.read_bytes() == minimize([objs[1]], Target(target.kernel)).data


def test_unreached_modules_are_left_out(tmp_path: Path) -> None:
    """With ext4 and xfs as well, only nf_conntrack's types are used."""
    mods = sorted((SHARED_KERNELS / "modules").glob(f"{STEM}__*.btf.xz")) if SHARED_KERNELS.is_dir() else []
    if len(mods) < 2:
        pytest.skip("shared module corpus not found")
    d = tmp_path / "k"
    link(KERNEL, d / f"{STEM}.btf.xz")
    for m in mods:
        link(m, d / "modules" / m.name)
    (kernel,) = discover([KernelSpec(str(d))])
    assert len(kernel.modules) == len(mods)
    out = tmp_path / "out"
    r = run_cli("build", str(CT), "--kernels", str(d), "-o", str(out), "--no-cache")
    assert r.returncode == 0, r.stderr
    (blob,) = out.rglob("*.btf")
    assert blob.read_bytes() == minimize([load_object(str(CT))], module_target()).data


def test_cached_analyses_keep_module_ids(tmp_path: Path) -> None:
    """A rebuild from cached analyses (no kernel opened) gives the same blob,
    and changing a module file changes the kernel's identity."""
    cache = ("--cache-dir", str(tmp_path / "cache"))
    first = _build(tmp_path, REPO_KERNELS, CT, SMALL, name="a", extra=cache).read_bytes()
    # Only the result of the two-object set is cached: CT alone is assembled
    # from its cached analysis.
    alone = _build(tmp_path, REPO_KERNELS, CT, name="b", extra=cache).read_bytes()
    r = run_cli("build", str(CT), "--kernels", str(REPO_KERNELS), "--release", "6.1.0-50-amd64",
                "-o", str(tmp_path / "b2"), *cache)
    assert "0 kernel(s) parsed, 0 object analyses computed" in r.stdout + r.stderr
    assert alone == minimize([load_object(str(CT))], module_target()).data
    assert first == _build(tmp_path, REPO_KERNELS, CT, SMALL, name="c", extra=cache).read_bytes()
    # Without the module (a copy of the tree without it) the module types are missing.
    bare = tmp_path / "bare"
    bare.mkdir()
    link(KERNEL, bare / "debian/12/x86_64/6.1.0-50-amd64.btf.xz")
    without = _build(tmp_path, bare, CT, name="d", extra=cache).read_bytes()
    assert without != alone
    assert not BTF(without).find_by_name("nf_conn_acct")


# --- libbpf -------------------------------------------------------------------

def _flat_full(target: Target) -> bytes:
    """Kernel + module as one flat BTF, type ids unchanged (libbpf cannot
    take split BTF as btf_custom_path)."""
    btfs = [target.kernel, *target.modules]
    kept = {}
    for i, b in enumerate(btfs):
        for tid in range(b.start_id, b.type_cnt):
            t = b.type(tid)
            kept[(i, tid)] = frozenset(range(len(getattr(t, "members", ()))))
    emitted = emit(kept, lambda k: btfs[k[0]].type(k[1]), [b.start_id for b in btfs])
    assert all(new == key[1] for key, new in emitted.new_ids.items())
    return emitted.data


@pytest.mark.oracle
def test_libbpf_relocates_the_build_blob_as_kernel_plus_module(tmp_path: Path) -> None:
    reason = oracle.oracle_available()
    if reason:
        pytest.skip(reason)
    from test_core_oracle import expected_patches, logged_patches

    blob = _build(tmp_path, REPO_KERNELS, CT, SMALL, extra=("--no-cache",))
    target = module_target()
    full = tmp_path / "full.btf"
    full.write_bytes(_flat_full(target))
    for path in (CT, SMALL):
        with_blob = oracle.relocate(path, blob)
        with_full = oracle.relocate(path, full)
        assert with_blob.ok, with_blob.error
        assert with_full.ok, with_full.error
        # Relocated instructions: equal with the whole kernel + module and
        # with the flat blob.
        assert oracle.diff_programs(with_full, with_blob) == []
        # And what libbpf patched is what the engine computes on the split
        # kernel + module (libbpf's module rules).
        obj = load_object(str(path))
        patches = logged_patches(with_blob.log)
        elf = ElfFile(path.read_bytes())
        records = resolve_object(obj, target)
        assert records
        for r in records:
            data = elf.section_data(r.record.section) or b""
            insn = data[r.record.insn_off:r.record.insn_off + 16]
            assert patches[(r.program, r.record.index)] == expected_patches(r.outcome.values, insn, obj.byte_order)
