"""Helpers shared by the build-system integration tests (no tests here).

The integration tests build the example projects in examples/ with the real
tools (CMake, Meson + Ninja, pip with build isolation, scikit-build-core)
and run what they built.  Examples are copied ("staged") into a temporary
tree that mirrors the repository layout (``<tmp>/repo/examples/<name>`` and
``<tmp>/repo/tests/data/kernels``, a copy), so the examples' repo-relative
kernel paths work, builds never write into the checkout, and tests may
touch inputs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
KERNELS = REPO / "tests" / "data" / "kernels"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
IS_ROOT = os.geteuid() == 0

# Runtime overrides that must not leak into the tests from the caller.
RUNTIME_ENV = ("BTFEMBED_FORCE", "BTFEMBED_NO_MEMFD", "BTFEMBED_OS_RELEASE", "BTFEMBED_RELEASE",
               "BTFEMBED_MACHINE", "BTFEMBED_SYSFS_BTF", "BTFEMBED_EXECUTABLE", "BTFEMBED_CACHE_DIR")

STATUS_C = re.compile(r"^btfembed: status=(-?\d+) \(.*\) key=(\S+) entry=(-?\d+) exact=(\d) path=(\S+)$", re.M)
CANDIDATE = re.compile(r"found target candidate \[(\d+)\] struct task_struct")


def env(**extra: str) -> dict[str, str]:
    """os.environ without btfembed's runtime overrides, the test's Python
    first on PATH (so ``python3`` and ``btfembed`` are this checkout's)."""
    e = {k: v for k, v in os.environ.items() if k not in RUNTIME_ENV}
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    e.update(extra)
    return e


def run(cmd: list, *, cwd: "Path | str | None" = None, env_: "dict | None" = None, check: bool = True,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``cmd`` (by default in the temporary directory, never in the
    checkout: Python would import btfembed from the current directory);
    on failure (with check) fail the test showing its output."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd or tempfile.gettempdir(), env=env_ if env_ is not None else env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n{proc.stdout[-6000:]}", pytrace=False)
    return proc


def need_tools(*names: str) -> dict[str, str]:
    found = {}
    for name in names:
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} not installed")
        found[name] = path
    return found


def need_libbpf() -> None:
    if not Path("/usr/include/bpf/libbpf.h").exists():
        pytest.skip("libbpf headers not installed (libbpf-dev)")
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config not installed")


def need_sysfs_btf() -> None:
    # The examples embed the build machine's kernel (sysfs) too.
    if not VMLINUX.exists():
        pytest.skip("the examples embed the running kernel's BTF: /sys/kernel/btf/vmlinux is missing")


def need_root() -> None:
    if not IS_ROOT:
        pytest.skip("loading BPF programs needs root")


def stage(tmp: Path, name: str, *, ignore: tuple = ()) -> Path:
    """Copy examples/<name> (and the kernel sample) into ``tmp/repo``;
    returns the copied example directory."""
    root = tmp / "repo"
    kernels = root / "tests" / "data" / "kernels"
    if not kernels.exists():
        shutil.copytree(KERNELS, kernels)
    dest = root / "examples" / name
    shutil.copytree(EXAMPLES / name, dest,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info", *ignore))
    return dest


def bump_mtime(path: Path) -> None:
    """'touch': now (never in the future, which would keep Make rebuilding),
    and at least 1 ns newer than before."""
    import time

    t = max(time.time_ns(), path.stat().st_mtime_ns + 1)
    os.utime(path, ns=(t, t))


def cmakedir() -> str:
    return run([sys.executable, "-m", "btfembed", "--cmakedir"]).stdout.strip()


def running_blob_path(out_dir: Path) -> Path:
    """The per-kernel BTF btfembed build wrote for this machine's kernel."""
    from btfembed.embed.keys import running_key

    path = out_dir / running_key().path()
    assert path.exists(), f"no BTF for the running kernel in {out_dir}"
    return path


def task_struct_id(blob_path: Path) -> int:
    from btfembed.btf.reader import BTF

    ids = BTF(blob_path.read_bytes()).find_by_name("task_struct")
    assert len(ids) == 1
    return ids[0]


def check_forced_c_loader(stdout: str, stderr: str, blob: Path) -> None:
    """The loader printed BTFEMBED_OK for the exact key with a memfd path,
    and libbpf's CO-RE log names task_struct by its id in the embedded
    (minimized) BTF, not in the kernel's: the embedded blob was used."""
    m = STATUS_C.search(stdout)
    assert m, stdout + stderr
    assert m.group(1) == "0" and m.group(4) == "1", stdout
    assert re.fullmatch(r"/proc/self/fd/\d+", m.group(5)), stdout
    ids = {int(i) for i in CANDIDATE.findall(stderr)}
    assert ids == {task_struct_id(blob)}, stderr[-3000:]



def run_loader(cmd: list, **extra_env: str) -> tuple[int, int, str, str]:
    """Run a loader; returns (exit status, its pid, stdout, stderr)."""
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(**extra_env), cwd=tempfile.gettempdir())
    out, err = proc.communicate(timeout=120)
    return proc.returncode, proc.pid, out, err


def pip_install_target(spec: str, target: Path) -> "Path | None":
    """``pip install --target`` a binary wheel (e.g. cmake from PyPI); None
    if pip cannot (no network)."""
    proc = run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--only-binary=:all:", "--target", target, spec], check=False)
    return target if proc.returncode == 0 else None
