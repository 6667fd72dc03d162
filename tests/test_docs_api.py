"""docs/api.md: every Python example runs, in order, in one directory set up
as the page describes."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from pathlib import Path

from conftest import OBJS, REPO, REPO_KERNELS

PAGE = REPO / "docs" / "api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_every_api_example_runs(tmp_path: Path) -> None:
    shutil.copy(REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz", tmp_path / "vmlinux.btf.xz")
    shutil.copy(OBJS / "task_small.el.o", tmp_path / "prog.bpf.o")
    shutil.copy(OBJS / "tracer.el.o", tmp_path / "other.bpf.o")
    (tmp_path / "kernels").mkdir()
    manifest = (REPO_KERNELS / "MANIFEST.tsv").read_text().splitlines()
    keep = [manifest[0]] + [line for line in manifest[1:] if line.startswith(("debian", "cilium"))]
    (tmp_path / "kernels" / "MANIFEST.tsv").write_text("\n".join(keep) + "\n")
    for line in keep[1:]:
        name = line.split("\t")[0]
        shutil.copy(REPO_KERNELS / name, tmp_path / "kernels" / name)
    blocks = BLOCK.findall(PAGE.read_text())
    assert len(blocks) >= 8
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for i, code in enumerate(blocks):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, f"{PAGE.name} example {i + 1}", "exec"), {"__name__": "__docs__"})
    finally:
        os.chdir(old)
    assert (tmp_path / "min.btf").stat().st_size > 0
    assert (tmp_path / "gen" / "min_btf.c").exists() and (tmp_path / "gen" / "_btf.py").exists()
