"""Meson integration: examples/meson-libbpf configured and built with the
real Meson and Ninja, both with the documented custom_target recipe and
with the subproject helper (copied in by ``python -m btfembed.meson``).

A second build does nothing (ninja -n: no work), touching the BPF object
or a kernel file reruns the generator and what depends on it, then nothing
again.  As root the loader runs with BTFEMBED_FORCE=1 and must read its own
pid, comm and the RLIMIT_NOFILE it set through CO-RE relocations resolved
against the embedded BTF.
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

import pytest

from test_integration_support import (
    IS_ROOT, bump_mtime, check_forced_c_loader, need_libbpf, need_sysfs_btf, need_tools, run, run_loader,
    running_blob_path, stage,
)

pytestmark = pytest.mark.integration

KERNEL = "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
RLIMIT_REPORT = re.compile(r"^report: pid=(\d+) comm=(\S*) nofile_cur=(\d+) nofile_max=(\d+) hits=(\d+)$", re.M)
# What Ninja prints for the generation step: the recipe's custom_target, or
# the subproject's generator.
GENERATED = {False: "Generating rlimit_btf with a custom command", True: "Generating from 'rlimit_report.bpf.o'"}


@pytest.mark.parametrize("helper", [False, True], ids=["custom_target", "subproject"])
def test_meson_example(helper: bool, tmp_path: Path) -> None:
    tools = need_tools("meson", "ninja", "cc", "clang")
    need_libbpf()
    need_sysfs_btf()
    src = stage(tmp_path, "meson-libbpf", ignore=("subprojects",))
    kernel = src.parent.parent / "tests" / "data" / "kernels" / KERNEL
    if helper:
        copied = run([sys.executable, "-m", "btfembed.meson", src / "subprojects" / "btfembed"]).stdout.split()
        assert sorted(Path(p).name for p in copied) == ["README.md", "meson.build"]
    bdir = tmp_path / "build"
    # The test's interpreter (the one that imports this btfembed and its
    # dependencies), not whichever Python Meson runs on.
    native = tmp_path / "native.ini"
    native.write_text(f"[binaries]\npython = '{sys.executable}'\n")
    cfg = run([tools["meson"], "setup", bdir, src, f"-Dhelper={str(helper).lower()}", f"--native-file={native}"])
    assert "modules: btfembed" in cfg.stdout, cfg.stdout
    step = GENERATED[helper]
    exe = bdir / "rlimit-loader"

    def compile_() -> str:
        return run([tools["ninja"], "-C", bdir]).stdout

    def idle() -> None:
        assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout
        out = compile_()
        assert step not in out and "no work to do" in out, out

    def regenerates() -> None:
        before = exe.stat().st_mtime_ns
        out = compile_()
        assert out.count(step) == 1, out
        assert "Regenerating build files" not in out, out
        assert exe.stat().st_mtime_ns > before, out

    first = compile_()
    assert first.count(step) == 1, first
    idle()                                 # 2nd build: nothing
    obj = bdir / "rlimit_report.bpf.o"     # compiled by the example's recipe
    obj_stamp = obj.stat().st_mtime_ns
    bump_mtime(src / "rlimit_report.bpf.c")  # the BPF source: object, then BTF
    regenerates()
    assert obj.stat().st_mtime_ns > obj_stamp
    idle()
    bump_mtime(kernel)                     # known only from the depfile
    regenerates()
    idle()

    if IS_ROOT:
        rc, pid, out, err = run_loader([exe, "-v", "--nofile", "555"], BTFEMBED_FORCE="1")
        assert rc == 0, out + err
        m = RLIMIT_REPORT.search(out)
        assert m, out + err
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        want_max = hard if hard != resource.RLIM_INFINITY else 2**64 - 1
        assert (int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))) == (
            pid, "rlimit-loader", min(555, want_max), want_max), out
        blobs = [p for p in bdir.rglob("*.btf") if p.is_file()]
        out_dir = {p.parents[3] for p in blobs}
        assert len(out_dir) == 1, blobs
        check_forced_c_loader(out, err, running_blob_path(out_dir.pop()))
