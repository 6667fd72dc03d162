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
against that tree, interleaved with this one's (``--repeat`` rounds, each
the best of ``--runs`` opens in one process; the best over all rounds is
shown), and the table puts both side by side with their ratio:

    python3 scripts/bench_open.py
    python3 scripts/bench_open.py --baseline /tmp/open-base --repeat 3
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
runs = int(sys.argv[4])
def best(f):
    return min(f() for _ in range(runs))
def plain():
    t = time.perf_counter(); BTF(data); return time.perf_counter() - t
def prefetch():
    t = time.perf_counter(); BTF(data, prefetch=names); return time.perf_counter() - t
def full():
    t = time.perf_counter(); b = BTF(data); b.find_by_name("task_struct"); return time.perf_counter() - t
b = BTF(data)
print(json.dumps({"open": best(plain), "prefetch": best(prefetch), "full": best(full), "types": b.type_cnt - 1}))
"""


def root_names() -> list[str]:
    sys.path.insert(0, str(REPO))
    from btfembed.core.resolve import root_names as names_of
    from btfembed.inputs.objects import load_object
    obj = load_object(str(OBJECT))
    return sorted(names_of(obj.btf, obj.relocations))


def probe(tree: Path, raw: Path, names: list[str], runs: int) -> dict[str, float]:
    out = subprocess.run([GNU_TIME, "-f", "%M", PYTHON, "-c", PROBE, str(tree), str(raw), json.dumps(names),
                          str(runs)], capture_output=True, text=True, check=True)
    r: dict[str, float] = json.loads(out.stdout)
    r["rss_kb"] = int(out.stderr.strip().splitlines()[-1])
    return r


def best_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    best = dict(rounds[0])
    for r in rounds[1:]:
        for key in ("open", "prefetch", "full"):
            best[key] = min(best[key], r[key])
        best["rss_kb"] = max(best["rss_kb"], r["rss_kb"])
    return best


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="a checkout of the commit to compare with (its btfembed/ is imported from DIR)")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help="rounds per kernel, this tree and the baseline interleaved (default 3)")
    ap.add_argument("--runs", type=int, default=7, metavar="N", help="opens per round, best taken (default 7)")
    ap.add_argument("-k", "--kernel", action="append", default=[], metavar="TEXT",
                    help="only kernels whose name contains TEXT (repeatable)")
    ap.add_argument("--no-bpftool", action="store_true", help="skip the bpftool columns")
    args = ap.parse_args()
    if args.baseline is not None and not (args.baseline / "btfembed" / "btf" / "reader.py").is_file():
        ap.error(f"{args.baseline} is not a btfembed checkout (no btfembed/btf/reader.py)")
    if args.repeat < 1 or args.runs < 1:
        ap.error("--repeat and --runs must be at least 1")
    tool = None if args.no_bpftool else bpftool()
    names = root_names()
    kernels = [(n, raw) for n, raw in raw_kernels(workdir()) if not args.kernel or any(k in n for k in args.kernel)]
    if not kernels:
        ap.error("no kernel matches")
    rows = []
    ratios: dict[str, list[tuple[float, str]]] = {"open": [], "prefetch": []}
    for name, raw in kernels:
        new_rounds, base_rounds = [], []
        for _ in range(args.repeat):
            new_rounds.append(probe(REPO, raw, names, args.runs))
            if args.baseline is not None:
                base_rounds.append(probe(args.baseline, raw, names, args.runs))
        new = best_of(new_rounds)
        row = [name[:44], f"{raw.stat().st_size / 1e6:.1f}", str(int(new["types"]))]
        if args.baseline is not None:
            base = best_of(base_rounds)
            for key in ("open", "prefetch"):
                ratio = new[key] / base[key]
                ratios[key].append((ratio, name))
                row += [f"{ms(base[key])} -> {ms(new[key])}", f"{ratio:.2f}"]
            row += [ms(new["full"]), f"{base['rss_kb'] / 1024:.0f} -> {new['rss_kb'] / 1024:.0f}"]
        else:
            row += [ms(new["open"]), ms(new["prefetch"]), ms(new["full"]), f"{new['rss_kb'] / 1024:.0f}"]
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
    print(f"\nPython {sys.version.split()[0]}; best of {args.runs} opens in one process, best of {args.repeat} "
          f"rounds{' (interleaved with the baseline)' if args.baseline is not None else ''}; peak MB is the whole "
          "interpreter's (all three variants).")
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
    return out.stdout.strip()[:60] or "not a git checkout"


if __name__ == "__main__":
    raise SystemExit(main())
