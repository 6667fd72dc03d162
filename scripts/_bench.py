"""Shared helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BTFEMBED_SHARED", REPO.parent / "shared")) / "kernels"
PYTHON = sys.executable


GNU_TIME = "/usr/bin/time"


def run_measured(cmd: list[str], repeat: int = 3) -> tuple[float, int, int]:
    """(best wall seconds, largest peak RSS in KB, last return code) of ``cmd``.

    Peak RSS comes from GNU time wrapping the command: a child's
    ru_maxrss includes its parent's at the time of the fork, so it must be
    measured from a small parent.
    """
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("GNU time (/usr/bin/time, Debian package 'time') is needed for peak memory")
    best, rss, rc = float("inf"), 0, 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        wall = time.perf_counter() - start
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "0"
        peak = int(last) if last.isdigit() else 0
        best, rss, rc = min(best, wall), max(rss, peak), proc.returncode
    return best, rss, rc


def raw_kernels(workdir: Path) -> list[tuple[str, Path]]:
    """The shared kernels, decompressed (bpftool reads raw files only)."""
    if not SHARED.is_dir():
        sys.exit(f"shared kernel corpus not found at {SHARED} (set BTFEMBED_SHARED)")
    out = []
    for xz in sorted(SHARED.glob("*.btf.xz")):
        raw = workdir / xz.name[:-3]
        if not raw.exists():  # decompress in a child: keep this process small
            with open(raw, "wb") as f:
                subprocess.run(["xz", "-dc", str(xz)], stdout=f, check=True)
        out.append((xz.name[:-7], raw))
    if os.path.exists("/sys/kernel/btf/vmlinux"):
        out.append((f"running kernel {os.uname().release}", Path("/sys/kernel/btf/vmlinux")))
    return out


def bpftool() -> str:
    path = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.access(path, os.X_OK):
        sys.exit("bpftool not found")
    return path


def workdir() -> Path:
    d = Path(tempfile.gettempdir()) / "btfembed-bench"
    d.mkdir(exist_ok=True)
    return d


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(h).rjust(w) if i else str(h).ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    for r in rows:
        lines.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)
