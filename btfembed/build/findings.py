"""What a build's relocation results say beyond pass/fail: which kernels
have missing, poisoned or ambiguous relocations (for the summary line), and
objects minimized against kernels of another architecture.

Architecture mismatch: programs that read registers (kprobes, uprobes,
``PT_REGS_PARM1()`` ...) are compiled for one architecture
(``-D__TARGET_ARCH_x86`` makes the macros access ``struct pt_regs`` fields
``di``, ``si`` ...; arm64 uses ``struct user_pt_regs.regs[N]``).  Against a
kernel of another architecture those relocations do not resolve: libbpf
poisons them and the program fails to load.  A relocation on such a type
that does not resolve is reported, with the architectures on which the
same relocations do resolve (where the object was evidently built for).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from btfembed.build.pipeline import BuildResult

__all__ = ["PROBLEMS", "ARCH_TYPES", "problem_kernels", "problem_summary", "ArchMismatch", "arch_mismatches"]

# Relocation outcomes worth a mention in the summary, worst first.
PROBLEMS = ("ambiguous", "poisoned", "missing")

# Kernel types whose layout is defined per architecture (essential names).
ARCH_TYPES = frozenset({"pt_regs", "user_pt_regs", "user_regs_struct", "pt_regs_offset", "thread_struct",
                        "thread_info", "user_fpsimd_state", "fpu", "sigcontext", "mm_context_t"})

_ROOT = re.compile(r"^(?:struct|union|typedef|enum) ([A-Za-z_]\w*?)(?:___\w*)?(?=[.\[:]|$)")


def _problem(status: str) -> str | None:
    if status == "error":
        return "ambiguous"  # libbpf refuses the object either way
    return status if status in PROBLEMS else None


def problem_kernels(build: BuildResult) -> dict[str, int]:
    """Number of (successfully minimized) kernels with at least one
    relocation of each problem status; a kernel counts under every status
    it has."""
    out = {p: 0 for p in PROBLEMS}
    for k in build.ok:
        seen = {_problem(s.status) for sums in k.summaries for s in sums}
        for p in PROBLEMS:
            out[p] += p in seen
    return out


def problem_summary(build: BuildResult, see: str = "report") -> str:
    """'2 kernels with poisoned relocations, see report' (empty when every
    relocation resolves on every kernel)."""
    parts = []
    for status, n in problem_kernels(build).items():
        if n:
            parts.append(f"{n} kernel{'s' if n != 1 else ''} with {status} relocations")
    return ", ".join(parts) + f", see {see}" if parts else ""


def arch_type(access: str) -> str | None:
    """The architecture-specific root type of an access ('struct
    pt_regs___arm64.orig_x0' -> 'pt_regs'), or None."""
    m = _ROOT.match(access)
    return m.group(1) if m and m.group(1) in ARCH_TYPES else None


class ArchMismatch(NamedTuple):
    object: str
    kernel_arch: str
    kernels: int                  # kernels of that architecture with the problem
    relocations: int              # distinct relocations that do not resolve there
    types: tuple[str, ...]        # the architecture-specific types involved
    resolved_on: tuple[str, ...]  # architectures where all of them resolve

    def message(self) -> str:
        where = (f"they resolve on {', '.join(self.resolved_on)} kernels, so it was built for "
                 f"{'/'.join(self.resolved_on)}" if self.resolved_on else "it was built for another architecture")
        return (f"{self.object}: {self.relocations} relocation(s) on {', '.join('struct ' + t for t in self.types)} "
                f"do not resolve on {self.kernels} {self.kernel_arch} kernel(s) ({where}); build the object "
                f"for {self.kernel_arch} (clang -D__TARGET_ARCH_<arch>) or select kernels with --arch")


def arch_mismatches(build: BuildResult) -> list[ArchMismatch]:
    """Per object and kernel architecture: relocations on arch-specific
    types that do not resolve there."""
    out = []
    roots: dict[str, str | None] = {}           # access -> arch_type(access): most accesses repeat
    for oi, o in enumerate(build.objects):
        bad: dict[str, dict[int, set[tuple[str, int]]]] = {}     # arch -> kernel index -> relocation ids
        types: dict[str, set[str]] = {}
        clean: set[str] = set()                 # arches with kernels where all of them resolve
        for ki, k in enumerate(build.ok):
            arch = k.kernel.key.arch
            had = False
            for s in k.summaries[oi]:
                t = roots.get(s.access, "")
                if t == "":
                    t = roots[s.access] = arch_type(s.access)
                if t is None:
                    continue
                had = True
                if s.status != "resolved":
                    bad.setdefault(arch, {}).setdefault(ki, set()).add((s.section, s.index))
                    types.setdefault(arch, set()).add(t)
            if had and ki not in bad.get(arch, {}):
                clean.add(arch)
        for arch in sorted(bad):
            if arch in clean:  # other kernels of the same architecture are fine: not a mismatch
                continue
            relos = set().union(*bad[arch].values())
            out.append(ArchMismatch(o.path, arch, len(bad[arch]), len(relos), tuple(sorted(types[arch])),
                                    tuple(sorted(clean - {arch}))))
    return out
