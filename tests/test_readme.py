"""The README's first commands, as a newcomer runs them.

* In a fresh clone (the files git tracks, copied to a temporary
  directory), ``btfembed build`` without arguments uses the clone's
  btfembed.toml and prints exactly the table the README shows.
* Outside a clone (no btfembed.toml), the README's line for one's own
  objects works with an object and a kernel directory substituted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def fresh_clone(dest: Path) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))
    return dest


def btfembed(cwd: Path, *args: str, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFEMBED_")}
    env.update(PYTHONPATH=str(pythonpath), XDG_CACHE_HOME=str(cwd / ".cache-home"))
    return subprocess.run([sys.executable, "-m", "btfembed", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_first_command_in_a_fresh_clone(tmp_path: Path) -> None:
    first = README.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert first[0].startswith("pip install -e . && btfembed build ")
    assert first[1].startswith("pip install -e '.[test]' && python3 -m pytest ")
    clone = fresh_clone(tmp_path / "clone")
    proc = btfembed(clone, "build", pythonpath=clone)
    assert proc.returncode == 0, proc.stderr
    shown = re.search(r"and prints:\n\n```\n(.*?)```", README, re.S)
    assert shown, "the README no longer shows the main job's output"
    assert proc.stdout == shown.group(1)
    assert (clone / "out" / "report.html").is_file() and (clone / "out" / "btfembed.pack").is_file()


def test_own_objects_line(tmp_path: Path) -> None:
    line = next(ln for ln in README.splitlines() if ln.startswith("btfembed build my.bpf.o "))
    args = line.split()[1:]
    obj = REPO / "examples" / "c-loader" / "task_report.bpf.o"
    kernels = REPO / "tests" / "data" / "kernels"
    args = [str(obj) if a == "my.bpf.o" else str(kernels) if a == "~/btfhub-archive" else a for a in args]
    if not Path("/sys/kernel/btf/vmlinux").exists():
        i = args.index("sysfs")
        del args[i - 1:i + 1]
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = btfembed(work, *args, pythonpath=REPO)
    assert proc.returncode == 0, proc.stderr
    assert (work / "out" / "btfembed.pack").is_file() and (work / "out" / "report.html").is_file()
    assert "kernel(s), 0 failed" in proc.stdout.splitlines()[-1]
    # Without objects or settings, the error says what to run.
    empty = btfembed(work, "build", pythonpath=REPO)
    assert empty.returncode == 2 and "btfembed build prog.bpf.o --kernels sysfs" in empty.stderr
