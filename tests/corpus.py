"""The CO-RE test corpus (tests/data): objects, synthetic kernels, real kernels.

See tests/data/README.md for what each file exercises.
"""

from __future__ import annotations

from pathlib import Path

from conftest import OBJS, SYNTH, repo_vmlinux_files, shared_kernel_files

# Objects written for real kernel types; the others target synthetic kernels.
REAL_PROGRAMS = ("tracer", "task_small", "no_core", "key_ref_fwd", "kernel_c19", "conntrack_mod")


def objects(little_endian_only: bool = False) -> list[Path]:
    objs = sorted(OBJS.glob("*.o"))
    if little_endian_only:
        objs = [o for o in objs if not o.name.endswith(".eb.o")]
    return objs


def is_real_program(obj: Path) -> bool:
    return obj.name.split(".")[0] in REAL_PROGRAMS


def synth_kernels() -> list[Path]:
    return sorted(SYNTH.glob("*.btf"))


def synth_elf_kernels() -> list[Path]:
    return sorted(SYNTH.glob("*.o"))


def real_kernels(shared: bool = True) -> list[Path]:
    return repo_vmlinux_files() + (shared_kernel_files() if shared else [])


def objects_for(kernel: Path, little_endian_only: bool = False) -> list[Path]:
    """The objects that make sense against ``kernel`` (real ones on real
    kernels, synthetic ones on synthetic kernels)."""
    synthetic = kernel.parent == SYNTH
    return [o for o in objects(little_endian_only) if is_real_program(o) != synthetic]


def arch_of(path: Path) -> str:
    return "arm64" if ("arm64" in path.name or "aarch64" in path.name) else "x86_64"
