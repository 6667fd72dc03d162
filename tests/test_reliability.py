"""Reliability: damaged caches, special files, archives with tricks, key
lengths, BTF that libbpf refuses, killed and concurrent builds, and an
out-dir that always holds one complete build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import OBJS, REPO_KERNELS

OBJ_A = str(OBJS / "task_small.el.o")
OBJ_B = str(OBJS / "tracer.el.o")
SMALL = REPO_KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz"
DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"


def cli(*args: str, cwd: Path | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, **kw)


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


# -- special files as kernels ---------------------------------------------

def test_fifo_kernel_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "k.btf"
    os.mkfifo(fifo)
    proc = cli("build", OBJ_A, "--kernels", f"{fifo}=d/1/x86_64/5.0", "--out-dir", str(tmp_path / "o"),
               "--no-cache", "-q", timeout=30)
    assert "not a regular file" in one_line_error(proc, 4)
    # Inside a kernel directory, next to a good kernel.
    d = tmp_path / "dir"
    d.mkdir()
    os.symlink(SMALL, d / "5.3.btf.xz")
    os.mkfifo(d / "6.0.btf")
    proc = cli("build", OBJ_A, "--kernels", str(d), "--out-dir", str(tmp_path / "o"), "--no-cache", "-q",
               timeout=30)
    assert "6.0.btf" in one_line_error(proc, 4)
    assert not (tmp_path / "o").exists()


def test_device_kernel_is_refused_before_hashing(tmp_path: Path) -> None:
    proc = cli("build", OBJ_A, "--kernels", "/dev/zero=d/1/x86_64/5.0", "--out-dir", str(tmp_path / "o"),
               "--no-cache", "-q", timeout=20)
    assert "not a regular file" in one_line_error(proc, 4)


# -- key lengths -----------------------------------------------------------

def test_release_lengths_follow_what_the_outputs_need(tmp_path: Path) -> None:
    from btfembed.build.kernels import MAX_RELEASE_BYTES

    # The longest release whose <release>.btf and its temporary name fit in
    # a file name builds; one byte more is refused before any work.
    ok = "r" * MAX_RELEASE_BYTES
    proc = cli("build", OBJ_A, "--kernels", f"{SMALL}=d/1/x86_64/{ok}", "--out-dir", str(tmp_path / "o"),
               "--no-cache", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "d/1/x86_64" / f"{ok}.btf").is_file()
    for n in (MAX_RELEASE_BYTES + 1, 255):
        proc = cli("build", OBJ_A, "--kernels", f"{SMALL}=d/1/x86_64/{'r' * n}", "--out-dir",
                   str(tmp_path / "o2"), "--no-cache", "-q")
        assert "too long" in one_line_error(proc, 2)
    assert not (tmp_path / "o2").exists()
    # Multi-byte characters count as their UTF-8 bytes.
    proc = cli("build", OBJ_A, "--kernels", f"{SMALL}=d/1/x86_64/{'é' * (MAX_RELEASE_BYTES // 2 + 1)}",
               "--out-dir", str(tmp_path / "o2"), "--no-cache", "-q")
    assert "too long" in one_line_error(proc, 2)
