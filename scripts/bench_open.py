#!/usr/bin/env python3
"""Benchmark: opening and indexing kernel BTF, next to bpftool parsing it.

For each shared kernel, in a fresh interpreter: the time to open the raw
file and build the offset index (``BTF(data)``), then the name index (the
first candidate lookup), and the process's peak RSS; next to the wall time
of ``bpftool btf dump file K > /dev/null`` (parses and prints every type).

    python3 scripts/bench_open.py
"""

from __future__ import annotations

import json
import subprocess
import sys

from _bench import GNU_TIME, PYTHON, REPO, bpftool, raw_kernels, run_measured, table, workdir

PROBE = r"""
import json, sys, time
sys.path.insert(0, %r)
from btfembed.btf import BTF
data = open(sys.argv[1], "rb").read()
best = None
for _ in range(3):
    t0 = time.perf_counter(); b = BTF(data); t1 = time.perf_counter()
    b.find_by_essential_name("task_struct"); t2 = time.perf_counter()
    run = (t1 - t0, t2 - t1, b.type_cnt - 1)
    best = run if best is None or run[0] + run[1] < best[0] + best[1] else best
print(json.dumps({"open": best[0], "names": best[1], "types": best[2]}))
"""


def main() -> int:
    tool = bpftool()
    rows = []
    for name, raw in raw_kernels(workdir()):
        out = subprocess.run([GNU_TIME, "-f", "%M", PYTHON, "-c", PROBE % str(REPO), str(raw)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        r["rss_kb"] = int(out.stderr.strip().splitlines()[-1])
        wall, rss, rc = run_measured([tool, "btf", "dump", "file", str(raw)], repeat=3)
        rows.append([name[:44], f"{raw.stat().st_size / 1e6:.1f}", r["types"], f"{r['open'] * 1000:.0f}",
                     f"{r['names'] * 1000:.0f}", f"{(r['open'] + r['names']) * 1000:.0f}",
                     f"{r['rss_kb'] / 1024:.0f}", f"{wall * 1000:.0f}", f"{rss / 1024:.0f}"])
    print(table(rows, ["kernel", "MB", "types", "open ms", "names ms", "index ms", "peak MB",
                       "bpftool dump ms", "bpftool MB"]))
    print(f"\nPython {sys.version.split()[0]}; 'index ms' = open (offset index) + name index (first lookup);"
          " best of 3 in one process; peak MB is the whole interpreter's.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
