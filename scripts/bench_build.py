#!/usr/bin/env python3
"""Benchmark: ``btfembed build`` over all shared kernels next to bpftool.

The reference is what projects do today (bcc's Makefile.btfgen, btfhub's
btfgen.sh): one ``bpftool gen min_core_btf`` per kernel, with the kernel
decompressed first (``xz -dc``), run serially and, like ``make -jN``, N at
a time.  btfembed gets the same .xz files: a cold build (empty cache), a
rebuild (cache warm, nothing changed) and a rebuild after adding an object.

    python3 scripts/bench_build.py [--jobs N]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import PYTHON, REPO, SHARED, bpftool, table

OBJECTS = [REPO / "tests/data/objs/tracer.el.o", REPO / "tests/data/objs/task_small.el.o"]
EXTRA = REPO / "tests/data/objs/kernel_c19.el.o"


def bpftool_one(tool: str, xz: Path, work: Path, objects: list[Path]) -> None:
    raw = work / (xz.name[:-3] + f".{os.getpid()}")
    with open(raw, "wb") as f:
        subprocess.run(["xz", "-dc", str(xz)], stdout=f, check=True)
    subprocess.run([tool, "gen", "min_core_btf", str(raw), str(work / (xz.name + ".min")), *map(str, objects)],
                   check=True, capture_output=True)
    raw.unlink()


def bpftool_all(tool: str, kernels: list[Path], work: Path, jobs: int, objects: list[Path]) -> float:
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda k: bpftool_one(tool, k, work, objects), kernels))
    return time.perf_counter() - start


def build(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-m", "btfembed", "build", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    opts = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"shared kernel corpus not found at {SHARED}")
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "btfembed")], check=True)
    tool = bpftool()
    kernels = sorted(SHARED.glob("*.btf.xz"))
    work = Path(tempfile.mkdtemp(prefix="btfembed-bench-"))
    try:
        rows = []
        for jobs in sorted({1, opts.jobs}):
            ref = bpftool_all(tool, kernels, work, jobs, OBJECTS)
            cache = work / f"cache{jobs}"
            common = [*map(str, OBJECTS), "--kernels", str(SHARED), "--out-dir", str(work / f"out{jobs}"),
                      "--cache-dir", str(cache), "-j", str(jobs), "-q"]
            cold = build(common)
            warm = build(common)
            added = build(common[:2] + [str(EXTRA)] + common[2:])
            rows.append([str(jobs), f"{ref:.2f}", f"{cold:.2f}", f"{ref / cold:.2f}x", f"{warm:.2f}",
                         f"{ref / warm:.1f}x", f"{added:.2f}"])
        print(f"{len(kernels)} kernels (.btf.xz), objects: {', '.join(o.name for o in OBJECTS)}\n")
        print(table(rows, ["jobs", "bpftool s", "build cold s", "speed-up", "rebuild s", "speed-up",
                           "+1 object s"]))
        print("\nbpftool: xz -dc + gen min_core_btf per kernel, N at a time.  build: btfembed build from the .xz "
              "files; cold = empty cache; rebuild = nothing changed; +1 object = rebuild with kernel_c19.el.o added.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
