#!/usr/bin/env python3
"""Benchmark: large real objects, ``btfembed minimize`` next to bpftool.

Per pair (object, kernel), in one run: the wall and CPU time and peak RSS
of ``bpftool gen min_core_btf`` and of ``btfembed minimize`` (both modes,
interpreter start included), best of N, and the per-kernel cost inside a
build (a warm process that has the object loaded: open the kernel,
minimize; best of N).  Outputs are checked: ``--compat bpftool`` must give
bpftool's bytes.

Pairs: Tracee x86 on a deduplicated kernel (Debian 12), Tracee arm64 on
CentOS 8 (not deduplicated, 562k types), Falco's modern_bpf object, and a
generated object with 100,000+ relocations (built here with clang, see
``_bigobj.py``).  Tracee and Falco objects are built by the user (the
commands are in the closing note of the engine work and in docs); pass
their paths:

    python3 scripts/bench_large.py --tracee-x86 tracee.x86.o \\
        --tracee-arm64 tracee.arm64.o --falco bpf_probe.o [--repeat 3]

Missing objects or kernels are reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _bench import PYTHON, REPO, SHARED, bpftool, table, workdir

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bigobj  # noqa: E402

GNU_TIME = "/usr/bin/time"
DEBIAN = "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
CENTOS = "centos_8_arm64_4.18.0-147.5.1.el8_1.aarch64.btf.xz"

_IN_BUILD = r"""
import json, sys, time
from btfembed.inputs.objects import load_object
from btfembed.inputs.containers import load_btf
from btfembed.core.resolve import Target, root_names
from btfembed.minimize.engine import minimize
kernel, obj_path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
obj = load_object(obj_path)
names = root_names(obj.btf, obj.relocations)
best = float("inf")
for _ in range(repeat):
    t0 = time.perf_counter(); c0 = time.process_time()
    target = Target(load_btf(kernel, prefetch=names))
    minimize([obj], target)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    best = min(best, wall)
    del target
print(json.dumps({"wall": best, "cpu": cpu}))
"""


def measured(cmd: list[str], repeat: int) -> tuple[float, float, int, int]:
    """(best wall s, CPU s of that run, peak RSS KB, return code)."""
    best = (float("inf"), 0.0, 0, 0)
    for _ in range(repeat):
        proc = subprocess.run([GNU_TIME, "-f", "%e %U %S %M", *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        last = proc.stderr.strip().splitlines()[-1].split() if proc.stderr.strip() else []
        try:
            wall, user, system, rss = float(last[0]), float(last[1]), float(last[2]), int(last[3])
        except (IndexError, ValueError):
            wall, user, system, rss = float("inf"), 0.0, 0.0, 0
        if wall < best[0]:
            best = (wall, user + system, max(rss, best[2]), proc.returncode)
        else:
            best = (best[0], best[1], max(rss, best[2]), best[3] or proc.returncode)
    return best


def raw_kernel(name: str, wd: Path) -> Path | None:
    for d in (SHARED, REPO / "tests" / "data" / "kernels"):
        xz = d / name
        if xz.exists():
            raw = wd / name[:-3]
            if not raw.exists():
                with open(raw, "wb") as f:
                    subprocess.run(["xz", "-dc", str(xz)], stdout=f, check=True)
            return raw
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracee-x86", type=Path)
    ap.add_argument("--tracee-arm64", type=Path)
    ap.add_argument("--falco", type=Path)
    ap.add_argument("--generated", type=Path, help="an already built 100k object (default: build it)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("GNU time (/usr/bin/time) is needed")
    tool = bpftool()
    wd = workdir()
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "btfembed")], check=True)
    gen = args.generated
    if gen is None:
        gen = wd / "generated_100k.o"
        if not gen.exists():
            print("building the generated 100k-relocation object (clang) ...", file=sys.stderr)
            _bigobj.compile_object(100_000, gen)
    debian, centos = raw_kernel(DEBIAN, wd), raw_kernel(CENTOS, wd)
    pairs = [("Tracee x86", args.tracee_x86, debian, "Debian 12 6.1"),
             ("Tracee arm64", args.tracee_arm64, centos, "CentOS 8 4.18 (non-dedup)"),
             ("Falco modern_bpf", args.falco, debian, "Debian 12 6.1"),
             ("generated 100k", gen, debian, "Debian 12 6.1")]
    start = measured([PYTHON, "-c", "pass"], args.repeat)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rows, notes = [], []
    for label, obj, kernel, kname in pairs:
        if obj is None or not obj.exists() or kernel is None:
            notes.append(f"{label}: skipped ({'object not given' if obj is None else 'missing input'})")
            continue
        ref = measured([tool, "gen", "min_core_btf", str(kernel), str(wd / "ref.btf"), str(obj)], args.repeat)
        ours_c = measured([PYTHON, "-m", "btfembed", "minimize", "--compat", "bpftool", str(kernel),
                           str(wd / "compat.btf"), str(obj)], args.repeat)
        ours_d = measured([PYTHON, "-m", "btfembed", "minimize", str(kernel), str(wd / "default.btf"), str(obj)],
                          args.repeat)
        same = (wd / "ref.btf").read_bytes() == (wd / "compat.btf").read_bytes() if ref[3] == 0 else None
        default_same = (wd / "ref.btf").read_bytes() == (wd / "default.btf").read_bytes() if ref[3] == 0 else None
        proc = subprocess.run([PYTHON, "-c", _IN_BUILD, str(kernel), str(obj), str(args.repeat)], env=env,
                              capture_output=True, text=True)
        inb = json.loads(proc.stdout) if proc.returncode == 0 else {"wall": float("nan"), "cpu": float("nan")}
        n = subprocess.run([PYTHON, "-c", "import sys; from btfembed.inputs.objects import load_object; "
                            "print(len(load_object(sys.argv[1]).relocations))", str(obj)], env=env,
                           capture_output=True, text=True).stdout.strip()
        rows.append([label, n, kname,
                     f"{ref[0]:.2f}/{ref[1]:.2f}", f"{ref[2] / 1024:.0f}",
                     f"{ours_c[0]:.2f}/{ours_c[1]:.2f}", f"{ours_c[2] / 1024:.0f}",
                     f"{ours_d[0]:.2f}/{ours_d[1]:.2f}", f"{ours_d[2] / 1024:.0f}",
                     f"{ours_d[0] / ref[0]:.1f}x/{ours_d[1] / max(ref[1], 0.01):.1f}x",
                     f"{ours_d[2] / max(ref[2], 1):.1f}x",
                     f"{inb['wall']:.2f}/{inb['cpu']:.2f}", f"{inb['wall'] / ref[0]:.1f}x",
                     {True: "yes", False: "NO", None: "-"}[same] + ("/yes" if default_same else "/no")])
    header = ["object", "relocs", "kernel", "bpftool s wall/cpu", "MB", "compat s", "MB", "default s", "MB",
              "time vs bpftool (wall/cpu)", "mem vs bpftool", "in build s", "vs bpftool", "bytes = bpftool (compat/default)"]
    print(table(rows, header))
    print(f"\nPython {sys.version.split()[0]}: interpreter start alone {start[0]:.2f} s wall, {start[1]:.2f} s CPU, "
          f"{start[2] / 1024:.0f} MB.  Times: best of {args.repeat} (wall), with that run's CPU (user+sys).")
    print("Goals: minimize <= 2x bpftool (interpreter start included), per kernel in a build <= 1x, "
          "peak memory <= 2x (CentOS 8: <= 175 MB).")
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
