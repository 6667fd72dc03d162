#!/usr/bin/env python3
"""Benchmark: opening and indexing kernel BTF, next to bpftool parsing it.

For each shared kernel, in a fresh interpreter: the time to open the raw
file and build the offset index (``BTF(data)``); to open it while looking up
the 27 root type names of a large object (``BTF(data, prefetch=...)``, what
``minimize`` and ``build`` do); and to build the full name index on demand
(a first lookup by name after a plain open); plus the peak RSS; next to the
wall time of ``bpftool btf dump file K > /dev/null``.

    python3 scripts/bench_open.py
"""

from __future__ import annotations

import json
import subprocess
import sys

from _bench import GNU_TIME, PYTHON, REPO, bpftool, raw_kernels, run_measured, table, workdir

OBJECT = REPO / "tests/data/objs/tracer.el.o"

PROBE = r"""
import json, sys, time
sys.path.insert(0, %r)
from btfembed.btf.reader import BTF
from btfembed.inputs.objects import load_object
from btfembed.core.resolve import root_names
obj = load_object(sys.argv[2])
names = sorted(root_names(obj.btf, obj.relocations))
data = open(sys.argv[1], "rb").read()
def best(f):
    return min(f() for _ in range(3))
def plain():
    t = time.perf_counter(); BTF(data); return time.perf_counter() - t
def prefetch():
    t = time.perf_counter(); BTF(data, prefetch=names); return time.perf_counter() - t
def full():
    t = time.perf_counter(); b = BTF(data); b.find_by_name("task_struct"); return time.perf_counter() - t
b = BTF(data)
print(json.dumps({"open": best(plain), "prefetch": best(prefetch), "full": best(full),
                  "types": b.type_cnt - 1, "names": len(names)}))
"""


def main() -> int:
    tool = bpftool()
    rows = []
    for name, raw in raw_kernels(workdir()):
        out = subprocess.run([GNU_TIME, "-f", "%M", PYTHON, "-c", PROBE % str(REPO), str(raw), str(OBJECT)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        r["rss_kb"] = int(out.stderr.strip().splitlines()[-1])
        wall, rss, rc = run_measured([tool, "btf", "dump", "file", str(raw)], repeat=3)
        rows.append([name[:44], f"{raw.stat().st_size / 1e6:.1f}", r["types"], f"{r['open'] * 1000:.0f}",
                     f"{r['prefetch'] * 1000:.0f}", f"{r['full'] * 1000:.0f}",
                     f"{r['rss_kb'] / 1024:.0f}", f"{wall * 1000:.0f}", f"{rss / 1024:.0f}"])
    print(table(rows, ["kernel", "MB", "types", "open ms", f"open+{r['names']} names ms", "full index ms",
                       "peak MB", "bpftool dump ms", "bpftool MB"]))
    print(f"\nPython {sys.version.split()[0]}; best of 3 in one process; peak MB is the whole interpreter's"
          " (all three variants).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
