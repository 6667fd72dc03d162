"""The CO-RE engine and the minimizer against the real libbpf (root only).

Two properties, on every (kernel, little-endian object) pair of the corpus:

1. the engine computes what libbpf patches: for every relocation libbpf
   applies, the patch it logs (value, memory size change, poisoning) equals
   the one computed from the engine's result and the original instruction;
2. libbpf relocates identically with the full kernel BTF and with
   btfembed's minimized BTF as ``btf_custom_path`` (same patches, same
   instructions, same failure), TYPE_ID_TARGET ids aside.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import oracle
from btfembed.core import Target
from btfembed.core.calc import Values
from btfembed.core.kinds import RelocKind
from btfembed.core.patch import PatchError, patch_insn
from btfembed.inputs.elf import ElfFile
from btfembed.minimize.engine import minimize, resolve_object
from btfembed.inputs.objects import load_object
from btfembed.inputs.containers import load_btf

from conftest import RawCache
from corpus import arch_of, objects_for, real_kernels, synth_kernels

pytestmark = pytest.mark.oracle

_PATCH = re.compile(r"prog '([^']*)': relo #(\d+): (?:patched insn #\d+ \(([^)]*)\) (\S+) (\d+) -> (\d+)"
                    r"|substituting insn #\d+ w/ invalid insn)")


@pytest.fixture(scope="module", autouse=True)
def _need_oracle() -> None:
    reason = oracle.oracle_available()
    if reason:
        pytest.skip(reason)


def logged_patches(log: str) -> dict[tuple[str, int], list[tuple]]:
    """(program, relo #) -> libbpf's patch events, in order."""
    out: dict[tuple[str, int], list[tuple]] = {}
    for m in _PATCH.finditer(log):
        key = (m.group(1), int(m.group(2)))
        event = ("poison",) if m.group(3) is None else (m.group(3), m.group(4), int(m.group(6)))
        out.setdefault(key, []).append(event)
    return out


def expected_patches(values: Values, insn: bytes, order: str) -> list[tuple]:
    """The events libbpf logs for this patch (same order as libbpf)."""
    if values.poison:
        return [("poison",)] * (2 if insn[0] == 0x18 else 1)
    cls = insn[0] & 7
    if cls in (4, 7):
        return [("ALU/ALU64", "imm", values.new_val & 0xFFFFFFFF)]
    if cls == 0:
        return [("LDIMM64", "imm64", values.new_val)]
    if values.fail_memsz_adjust:
        return [("poison",)]
    events = [("LDX/ST/STX", "off", values.new_val)]
    if values.new_sz != values.orig_sz:
        events.append(("LDX/ST/STX", "mem_sz", values.new_sz))
    return events


def pairs() -> list[tuple[Path, Path]]:
    out = []
    for kernel in synth_kernels() + real_kernels(shared=True):
        for obj in objects_for(kernel, little_endian_only=True):
            if kernel.suffix == ".xz" and arch_of(obj) != arch_of(kernel) and obj.name.startswith("tracer"):
                continue
            out.append((kernel, obj))
    return out


def kernel_groups() -> list[Path]:
    return synth_kernels() + real_kernels(shared=True)


@pytest.mark.parametrize("kernel", kernel_groups(), ids=lambda p: p.name)
def test_engine_and_minimized_btf_match_libbpf(kernel: Path, raw_cache: RawCache) -> None:
    raw = raw_cache.raw(kernel)
    target = Target(load_btf(str(kernel)))
    checked = 0
    for k, obj_path in pairs():
        if k != kernel:
            continue
        obj = load_object(str(obj_path))
        full = oracle.relocate(obj_path, raw)
        results = resolve_object(obj, target)

        # 1. engine == libbpf, relocation by relocation.
        engine_fails = [r for r in results if r.outcome.failed]
        if full.ok:
            assert not engine_fails, f"{obj_path.name}: engine reports {engine_fails[0].outcome} but libbpf loads"
            elf = ElfFile(obj_path.read_bytes())
            sections: dict[str, bytes] = {}
            patches = logged_patches(full.log)
            for r in results:
                rec = r.record
                if r.program in full.not_loaded:
                    continue
                data = sections.setdefault(rec.section, elf.section_data(rec.section) or b"")
                insn = data[rec.insn_off:rec.insn_off + 16]
                try:
                    patch_insn(insn, r.outcome.values, obj.byte_order)
                except PatchError:
                    pytest.fail(f"{obj_path.name}: {r.program} relo #{rec.index}: engine cannot patch "
                                f"but libbpf did")
                want = expected_patches(r.outcome.values, insn, obj.byte_order)
                got = patches.get((r.program, rec.index), [])
                assert got == want, f"{obj_path.name} on {kernel.name}: {r.program} relo #{rec.index} ({r.outcome})"
                checked += 1
        else:
            # libbpf refused the object: the engine must see a failing
            # relocation or a patch libbpf cannot apply.
            unpatchable = False
            if not engine_fails:
                elf = ElfFile(obj_path.read_bytes())
                for r in results:
                    data = elf.section_data(r.record.section) or b""
                    try:
                        patch_insn(data[r.record.insn_off:r.record.insn_off + 16], r.outcome.values, obj.byte_order)
                    except PatchError:
                        unpatchable = True
            assert engine_fails or unpatchable, f"{obj_path.name}: libbpf failed: {full.error}"

        # 2. libbpf with the minimized BTF == libbpf with the full BTF.
        mini_bytes = minimize([obj], target).data
        mini = oracle.relocate(obj_path, mini_bytes)
        assert mini.ok == full.ok, f"{obj_path.name}: full {full.error!r} minimized {mini.error!r}"
        type_id_target = {(r.program, r.record.index) for r in results
                          if r.record.kind == RelocKind.TYPE_ID_TARGET}
        if not full.ok:
            assert _failure_lines(mini.error, type_id_target) == _failure_lines(full.error, type_id_target)
            continue
        a, b = logged_patches(full.log), logged_patches(mini.log)
        for key in set(a) | set(b):
            if key not in type_id_target:
                assert a.get(key) == b.get(key), f"{obj_path.name}: {key}"
        if not type_id_target:
            assert oracle.diff_programs(full.normalized_programs(), mini.normalized_programs()) == []
    if kernel.suffix == ".xz" or kernel.name.startswith("base"):
        assert checked > 0


def _failure_lines(error: str | None, type_id_target: set[tuple[str, int]]) -> list[str]:
    """libbpf's failure lines; the numbers of TYPE_ID_TARGET ambiguities are
    type ids of the BTF used, so they are masked."""
    out = []
    for line in (error or "").splitlines():
        if "ambiguity" not in line and "can't be" not in line:
            continue
        m = re.search(r"prog '([^']*)': relo #(\d+):", line)
        if m and (m.group(1), int(m.group(2))) in type_id_target:
            line = re.sub(r"\d+", "N", line)
        out.append(line)
    return out


def test_libbpf_on_flat_module_output_matches_engine_on_kernel_plus_module() -> None:
    """libbpf cannot take split BTF as btf_custom_path; the flat output it
    can take must make it patch what libbpf's module rules give."""
    from test_minimize import MODULE, MODULE_BASE  # noqa: E402

    base = load_btf(str(MODULE_BASE))
    target = Target(base, (load_btf(str(MODULE), base=base),))
    obj_path = Path(__file__).parent / "data/objs/conntrack_mod.el.o"
    obj = load_object(str(obj_path))
    flat = minimize([obj], target).data
    run = oracle.relocate(obj_path, flat)
    assert run.ok, run.error
    patches = logged_patches(run.log)
    elf = ElfFile(obj_path.read_bytes())
    for r in resolve_object(obj, target):
        data = elf.section_data(r.record.section) or b""
        insn = data[r.record.insn_off:r.record.insn_off + 16]
        assert patches[(r.program, r.record.index)] == expected_patches(r.outcome.values, insn, obj.byte_order)
