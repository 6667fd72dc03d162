#!/usr/bin/env python3
"""Benchmark: opening and indexing kernel BTF, next to bpftool parsing it.

For each shared kernel, in a fresh interpreter: the time to open the raw
file, which builds the offset index and runs the sanity check
(``BTF(data)``); to open it while looking up the 27 root type names of a
large object (``BTF(data, prefetch=...)``, what ``minimize`` and ``build``
do); and to build the full name index on demand (a first lookup by name
after a plain open); plus the peak RSS; next to the wall time of
``bpftool btf dump file K > /dev/null``.

With ``--baseline DIR`` (a checkout of another commit, e.g. made with
``git worktree add /tmp/open-base 3e696f5~1``), the same probe also runs
against that tree in a second interpreter, the two taking turns open by
open (``--runs`` opens of each kind, the best kept), and the table puts
both side by side with their ratio:

    python3 scripts/bench_open.py
    python3 scripts/bench_open.py --baseline /tmp/open-base
    python3 scripts/bench_open.py --baseline /tmp/open-base --cpu    # on a busy machine
    python3 scripts/bench_open.py --baseline /tmp/open-base -k cilium-ci_6.11 -k archlinux
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from _bench import GNU_TIME, PYTHON, REPO, bpftool, raw_kernels, run_measured, table, workdir

OBJECT = REPO / "tests/data/objs/tracer.el.o"
GOAL = 1.15  # new open time / baseline open time

PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from btfembed.btf.reader import BTF
data = open(sys.argv[2], "rb").read()
names = json.loads(sys.argv[3])
clock = time.thread_time if sys.argv[4] == "cpu" else time.perf_counter
def plain():
    t = clock(); BTF(data); return clock() - t
def prefetch():
    t = clock(); BTF(data, prefetch=names); return clock() - t
def full():
    t = clock(); b = BTF(data); b.find_by_name("task_struct"); return clock() - t
b = BTF(data)
print(json.dumps(b.type_cnt - 1), flush=True)
for line in sys.stdin:  # one timed open per request
    print(repr({"open": plain, "prefetch": prefetch, "full": full}[line.strip()]()), flush=True)
"""
KINDS = ("open", "prefetch", "full")


def root_names() -> list[str]:
    sys.path.insert(0, str(REPO))
    from btfembed.core.resolve import root_names as names_of
    from btfembed.inputs.objects import load_object
    obj = load_object(str(OBJECT))
    return sorted(names_of(obj.btf, obj.relocations))


class Probe:
    """An interpreter with ``tree``'s btfembed that opens ``raw`` on request."""

    def __init__(self, tree: Path, raw: Path, names: list[str], cpu: bool):
        self.proc = subprocess.Popen([GNU_TIME, "-f", "%M", PYTHON, "-c", PROBE, str(tree), str(raw),
                                      json.dumps(names), "cpu" if cpu else "wall"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.types = int(json.loads(self.proc.stdout.readline()))
        self.best = {kind: float("inf") for kind in KINDS}

    def time(self, kind: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(kind + "\n")
        self.proc.stdin.flush()
        self.best[kind] = min(self.best[kind], float(self.proc.stdout.readline()))

    def close(self) -> int:
        """Peak RSS in KB."""
        _out, err = self.proc.communicate()
        if self.proc.returncode:
            sys.exit(f"probe failed:\n{err}")
        return int(err.strip().splitlines()[-1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="a checkout of the commit to compare with (its btfembed/ is imported from DIR)")
    ap.add_argument("--runs", type=int, default=11, metavar="N",
                    help="opens of each kind per kernel and tree, the trees taking turns; the best is kept (default 11)")
    ap.add_argument("-k", "--kernel", action="append", default=[], metavar="TEXT",
                    help="only kernels whose name contains TEXT (repeatable)")
    ap.add_argument("--cpu", action="store_true",
                    help="time the opens in CPU time of the probe's thread instead of wall time (steadier on a "
                         "loaded machine; bpftool stays wall time)")
    ap.add_argument("--no-bpftool", action="store_true", help="skip the bpftool columns")
    args = ap.parse_args()
    if args.baseline is not None and not (args.baseline / "btfembed" / "btf" / "reader.py").is_file():
        ap.error(f"{args.baseline} is not a btfembed checkout (no btfembed/btf/reader.py)")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    tool = None if args.no_bpftool else bpftool()
    names = root_names()
    kernels = [(n, raw) for n, raw in raw_kernels(workdir()) if not args.kernel or any(k in n for k in args.kernel)]
    if not kernels:
        ap.error("no kernel matches")
    rows = []
    ratios: dict[str, list[tuple[float, str]]] = {"open": [], "prefetch": []}
    for name, raw in kernels:
        new = Probe(REPO, raw, names, args.cpu)
        base = Probe(args.baseline, raw, names, args.cpu) if args.baseline is not None else None
        for _ in range(args.runs):  # this tree and the baseline take turns, open by open
            for kind in KINDS:
                new.time(kind)
                if base is not None:
                    base.time(kind)
        new_rss = new.close()
        row = [name[:44], f"{raw.stat().st_size / 1e6:.1f}", str(new.types)]
        if base is not None:
            base_rss = base.close()
            for key in ("open", "prefetch"):
                ratio = new.best[key] / base.best[key]
                ratios[key].append((ratio, name))
                row += [f"{ms(base.best[key])} -> {ms(new.best[key])}", f"{ratio:.2f}"]
            row += [ms(new.best["full"]), f"{base_rss / 1024:.0f} -> {new_rss / 1024:.0f}"]
        else:
            row += [ms(new.best["open"]), ms(new.best["prefetch"]), ms(new.best["full"]), f"{new_rss / 1024:.0f}"]
        if tool is not None:
            wall, rss, _rc = run_measured([tool, "btf", "dump", "file", str(raw)], repeat=3)
            row += [f"{wall * 1000:.0f}", f"{rss / 1024:.0f}"]
        rows.append(row)
        print(f"  {name}", file=sys.stderr, flush=True)
    n = len(names)
    if args.baseline is not None:
        head = ["kernel", "MB", "types", "open ms (base -> this)", "x", f"open+{n} names ms (base -> this)", "x",
                "full index ms", "peak MB (base -> this)"]
    else:
        head = ["kernel", "MB", "types", "open ms", f"open+{n} names ms", "full index ms", "peak MB"]
    if tool is not None:
        head += ["bpftool dump ms", "bpftool MB"]
    print(table(rows, head))
    turns = " (this tree and the baseline in two processes, taking turns open by open)" if args.baseline else ""
    print(f"\nPython {sys.version.split()[0]}; {'CPU' if args.cpu else 'wall'} time, best of {args.runs} opens of each "
          f"kind in one process{turns}; peak MB is the whole interpreter's (all three kinds).")
    if args.baseline is not None:
        print(f"baseline: {args.baseline} ({_describe(args.baseline)}); this tree: {REPO} ({_describe(REPO)})")
        for key, label in (("open", "open"), ("prefetch", f"open+{n} names")):
            values = ratios[key]
            geo = math.exp(sum(math.log(r) for r, _ in values) / len(values))
            worst, worst_name = max(values)
            met = sum(r <= GOAL for r, _ in values)
            print(f"{label}: this/base geometric mean {geo:.2f}, worst {worst:.2f} ({worst_name}); "
                  f"<= {GOAL:.2f} on {met} of {len(values)} kernels")
    return 0


def _describe(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    if not out.stdout.strip():
        return "not a git checkout"
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip()[:60] + (", with uncommitted changes" if dirty else "")


if __name__ == "__main__":
    raise SystemExit(main())
