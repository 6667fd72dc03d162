#!/usr/bin/env python3
"""Benchmark: ``btfembed minimize`` next to ``bpftool gen min_core_btf``.

For every shared kernel, one small object (task_small, 4 relocations) and
one large one (tracer, 119 relocations): the wall time of each command as a
user runs it (interpreter start included), best of 3, its peak RSS, and the
ratio.  Both tools get the same raw kernel file.

    python3 scripts/bench_minimize.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from _bench import PYTHON, REPO, bpftool, raw_kernels, run_measured, table, workdir

OBJECTS = {"small": REPO / "tests/data/objs/task_small.el.o", "large": REPO / "tests/data/objs/tracer.el.o"}


def main() -> int:
    tool = bpftool()
    wd = workdir()
    # Byte-compile as an installation does (PYTHONDONTWRITEBYTECODE would
    # otherwise make every run compile the package again).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "btfembed")], check=True)
    start_only, _, _ = run_measured([PYTHON, "-c", "pass"], repeat=5)
    rows, ratios = [], {k: [] for k in OBJECTS}
    for name, raw in raw_kernels(wd):
        row = [name[:40]]
        for label, obj in OBJECTS.items():
            ours, ours_rss, rc1 = run_measured([PYTHON, "-m", "btfembed", "minimize", str(raw), str(wd / "o.btf"),
                                                str(obj)])
            ref, ref_rss, rc2 = run_measured([tool, "gen", "min_core_btf", str(raw), str(wd / "r.btf"), str(obj)])
            if rc1:
                row += ["FAIL"] * 5
                continue
            ratio = ours / ref
            ratios[label].append(ratio)
            row += [f"{ours * 1000:.0f}", f"{ref * 1000:.0f}" if rc2 == 0 else "fail", f"{ratio:.1f}x",
                    f"{ours_rss / 1024:.0f}", f"{ref_rss / 1024:.0f}"]
        rows.append(row)
    header = ["kernel"]
    for label in OBJECTS:
        header += [f"{label} ms", "bpftool ms", "ratio", "MB", "bpftool MB"]
    print(table(rows, header))
    print(f"\nPython {sys.version.split()[0]} ({PYTHON}); interpreter start alone: {start_only * 1000:.0f} ms.")
    for label, rs in ratios.items():
        if rs:
            print(f"{label} object: median ratio {statistics.median(rs):.1f}x (min {min(rs):.1f}x, max {max(rs):.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
