"""``btfembed minimize`` against bpftool (byte for byte) and against the full
kernel BTF (relocation equivalence), on the whole test corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.btf.reader import BTF
from btfembed.core import Target
from btfembed.minimize.engine import MinimizeError, minimize, summarize_object
from btfembed.inputs.objects import load_object
from btfembed.inputs.containers import load_btf
from btfembed.core.results import compare

from conftest import SYNTH, RawCache, shared_kernel_files
from corpus import objects, objects_for, real_kernels, synth_kernels

ALL_KERNELS = synth_kernels() + real_kernels(shared=True)


def bpftool_min(bpftool: str, kernel: Path, objs: list[Path], out: Path) -> bytes | None:
    proc = subprocess.run([bpftool, "gen", "min_core_btf", str(kernel), str(out), *map(str, objs)],
                          capture_output=True, text=True)
    return out.read_bytes() if proc.returncode == 0 else None


def equivalence_differences(objs, target: Target, data: bytes) -> list[str]:
    mini = BTF(data)
    out = []
    for obj in objs:
        for d in compare(summarize_object(obj, target), summarize_object(obj, Target(mini))):
            if not d.type_id_only:
                out.append(f"{obj.source}: {d.line()}")
    return out


@pytest.mark.differential
@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=lambda p: p.name)
def test_against_bpftool(kernel: Path, bpftool: str, raw_cache: RawCache, tmp_path: Path) -> None:
    """For every object: compat mode equals bpftool's bytes whenever bpftool
    succeeds; default mode always succeeds, is equivalent to the full BTF, and
    equals bpftool's bytes whenever bpftool's output is itself equivalent."""
    raw = raw_cache.raw(kernel)
    target = Target(load_btf(str(kernel)))
    handled = identical = 0
    for obj_path in objects_for(kernel):
        obj = load_object(str(obj_path))
        ref = bpftool_min(bpftool, raw, [obj_path], tmp_path / "ref.btf")
        default = minimize([obj], target)
        assert equivalence_differences([obj], target, default.data) == [], obj_path.name
        if ref is None:
            continue
        handled += 1
        assert minimize([obj], target, compat=True).data == ref, f"compat output differs for {obj_path.name}"
        identical += 1
        if not equivalence_differences([obj], target, ref):
            assert default.data == ref, f"default output differs from a correct bpftool output ({obj_path.name})"
    if kernel.parent != SYNTH:
        assert handled > 0


def test_bpftool_first_candidate_bug_is_fixed(bpftool: str, tmp_path: Path) -> None:
    """Two same-named candidates: bpftool keeps only the first one's members
    for relocation 1, so libbpf on its output poisons relocation 2."""
    kernel = SYNTH / "dup_bpftool_bug.btf"
    obj = load_object(str(Path(__file__).parent / "data/objs/synth_dup.el.o"))
    target = Target(load_btf(str(kernel)))
    ref = bpftool_min(bpftool, kernel, [Path(obj.source)], tmp_path / "ref.btf")
    assert ref is not None
    assert equivalence_differences([obj], target, ref), "bpftool's output was expected to be wrong here"
    ours = minimize([obj], target)
    assert ours.level == 2
    assert equivalence_differences([obj], target, ours.data) == []


@pytest.mark.parametrize("kernel", real_kernels(shared=False), ids=lambda p: p.name)
def test_type_relocation_reaching_fwd(kernel: Path) -> None:
    obj = load_object(str(Path(__file__).parent / "data/objs/key_ref_fwd.el.o"))
    target = Target(load_btf(str(kernel)))
    with pytest.raises(MinimizeError, match="unsupported kind: fwd"):
        minimize([obj], target, compat=True)
    data = minimize([obj], target).data
    assert equivalence_differences([obj], target, data) == []
    kinds = {BTF(data).type(i).kind_name for i in BTF(data).ids()}
    assert "FWD" in kinds


def test_type_tag_and_fwd_on_synthetic_kernel() -> None:
    target = Target(load_btf(str(SYNTH / "fwd_tag.btf")))
    for name in ("synth_fwd", "synth_type_tag"):
        obj = load_object(str(Path(__file__).parent / f"data/objs/{name}.el.o"))
        with pytest.raises(MinimizeError, match="unsupported kind"):
            minimize([obj], target, compat=True)
        data = minimize([obj], target).data
        assert equivalence_differences([obj], target, data) == []
    kinds = {BTF(data).type(i).kind_name for i in BTF(data).ids()}
    assert "TYPE_TAG" in kinds


@pytest.mark.parametrize("kernel", real_kernels(shared=False) + synth_kernels()[:4], ids=lambda p: p.name)
def test_big_endian_objects_minimize_like_little_endian(kernel: Path) -> None:
    """bpfeb objects carry the same relocations (plus byte-size records for
    bitfields), so they need exactly the same kernel types."""
    target = Target(load_btf(str(kernel)))
    for el in objects_for(kernel, little_endian_only=True):
        eb = el.with_name(el.name.replace(".el.o", ".eb.o"))
        if not eb.exists():
            continue
        a = minimize([load_object(str(el))], target)
        b = minimize([load_object(str(eb))], target)
        assert a.data == b.data, el.name


def test_object_without_btf_ext_gives_empty_valid_btf(tmp_path: Path) -> None:
    kernel = real_kernels(shared=False)[0]
    obj = load_object(str(Path(__file__).parent / "data/objs/task_small.nobtfext.el.o"))
    assert not obj.has_ext and obj.relocations == ()
    data = minimize([obj], Target(load_btf(str(kernel)))).data
    btf = BTF(data)
    assert btf.type_cnt == 1 and len(data) == 25
    with pytest.raises(MinimizeError, match=r"\.BTF\.ext not found"):
        minimize([obj], Target(load_btf(str(kernel))), compat=True)


@pytest.mark.differential
@pytest.mark.parametrize("kernel", real_kernels(shared=False), ids=lambda p: p.name)
def test_several_objects_give_the_union(kernel: Path, bpftool: str, raw_cache: RawCache, tmp_path: Path) -> None:
    paths = [p for p in objects_for(kernel, little_endian_only=True)
             if p.name.startswith(("tracer.el", "task_small.el", "no_core.el"))]
    objs = [load_object(str(p)) for p in paths]
    target = Target(load_btf(str(kernel)))
    ref = bpftool_min(bpftool, raw_cache.raw(kernel), paths, tmp_path / "ref.btf")
    assert ref is not None
    assert minimize(objs, target, compat=True).data == ref
    assert minimize(list(reversed(objs)), target).data == minimize(objs, target).data
    union = BTF(minimize(objs, target).data)
    for obj in objs:
        single = BTF(minimize([obj], target).data)
        names = {single.type(i).name for i in single.ids()}
        assert names <= {union.type(i).name for i in union.ids()}


def test_output_header_and_byte_order_options() -> None:
    kernel = real_kernels(shared=False)[0]
    obj = load_object(str(Path(__file__).parent / "data/objs/task_small.el.o"))
    target = Target(load_btf(str(kernel)))
    le = minimize([obj], target).data
    be = minimize([obj], target, byte_order="big").data
    h32 = minimize([obj], target, hdr_len=32).data
    assert BTF(be).byte_order == "big" and BTF(h32).header.hdr_len == 32
    assert len(h32) == len(le) + 8
    for other in (be, h32):
        b = BTF(other)
        assert [b.type(i) for i in b.ids()] == [BTF(le).type(i) for i in BTF(le).ids()]


def test_elf_and_raw_synthetic_kernels_are_the_same_input() -> None:
    obj = load_object(str(Path(__file__).parent / "data/objs/synth_fields.el.o"))
    a = minimize([obj], Target(load_btf(str(SYNTH / "base.btf")))).data
    b = minimize([obj], Target(load_btf(str(SYNTH / "base.o")))).data
    assert a == b


def test_shared_corpus_is_covered_when_present() -> None:
    if not shared_kernel_files():
        pytest.skip("shared kernel corpus absent")
    assert any(k.name.startswith("centos_8") for k in ALL_KERNELS)
    assert len(objects()) >= 30


MODULE = Path(__file__).parent / "data/kernels/debian_12_x86_64_6.1.0-50-amd64__nf_conntrack.btf.xz"
MODULE_BASE = Path(__file__).parent / "data/kernels/debian_12_x86_64_6.1.0-50-amd64.btf.xz"


def module_target() -> Target:
    base = load_btf(str(MODULE_BASE))
    return Target(base, (load_btf(str(MODULE), base=base),))


def test_module_types_are_merged_into_one_flat_btf() -> None:
    target = module_target()
    obj = load_object(str(Path(__file__).parent / "data/objs/conntrack_mod.el.o"))
    full = summarize_object(obj, target)
    assert {s.access.split(".")[0] for s in full if s.status == "resolved"} >= {
        "struct nf_conn", "struct nf_conn_acct", "struct bpf_ct_opts"}
    m = minimize([obj], target)
    flat = BTF(m.data)
    assert flat.base is None and flat.start_id == 1
    names = {flat.type(i).name for i in flat.ids()}
    assert {"nf_conn", "nf_conn_acct", "nf_conn_counter", "bpf_ct_opts", "nf_conntrack_l4proto"} <= names
    # Standalone: libbpf resolves everything against the flat BTF as the
    # kernel plus module would.
    assert compare(full, summarize_object(obj, Target(flat))) == []
    # Without the module, the module types are missing.
    alone = summarize_object(obj, Target(target.kernel))
    assert [s.status for s in alone] != [s.status for s in full]


def test_vmlinux_candidates_win_over_module_ones() -> None:
    """A root type present in vmlinux is never looked up in modules."""
    target = module_target()
    obj = load_object(str(Path(__file__).parent / "data/objs/conntrack_mod.el.o"))
    m = minimize([obj], target)
    kept_modules = {key for key in m.emitted.new_ids if key[0] == 1}
    kept_kernel = {key for key in m.emitted.new_ids if key[0] == 0}
    assert kept_modules and kept_kernel
    nf_conn = target.kernel.find_by_name("nf_conn")
    assert (0, nf_conn[0]) in kept_kernel


def test_cli_minimize_and_verify_with_module(tmp_path: Path) -> None:
    out = tmp_path / "ct.btf"
    obj = str(Path(__file__).parent / "data/objs/conntrack_mod.el.o")
    args = [str(MODULE_BASE), str(out), obj, "--module", str(MODULE)]
    assert subprocess.run([sys.executable, "-m", "btfembed", "minimize", *args]).returncode == 0
    proc = subprocess.run([sys.executable, "-m", "btfembed", "verify", str(MODULE_BASE), str(out), obj,
                           "--module", str(MODULE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 different" in proc.stdout
    # Verifying against the kernel alone (no module) must find differences.
    proc = subprocess.run([sys.executable, "-m", "btfembed", "verify", str(MODULE_BASE), str(out), obj],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "DIFFERENT" in proc.stdout
