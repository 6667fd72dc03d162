#!/usr/bin/env python3
"""Benchmark the C generator: compile cost and binary size of embedded BTF.

Builds packs of 100 kernel keys with real minimized BTF (the shared kernel
corpus x several subsets of the test objects, so blobs genuinely differ),
generates C with each codec (none, zlib, xz), with and without
deduplication, compiles each with gcc and clang (-O2 -c), links each into
a small program, and prints a table:

* gen s        time to generate the C text (Python)
* .c KiB       size of the generated source
* <cc> s / MiB compile wall time and peak RSS of the compiler (wait4)
* .o KiB       size(1) total of the object (text + data)
* +bin/kernel  bytes the table adds to a stripped executable, per kernel
               (executable minus the same program linked with an empty table
               of the same kind, divided by the number of kernels)

Two packs: "distinct" (100 keys, each its own (kernel, objects) pair:
mostly different blobs) and "series" (100 keys over 20 blobs, as when point
releases of a distro kernel share a layout).

usage: scripts/bench_codegen.py [--kernels DIR] [--jobs N] [--keep DIR]

Needs the shared kernel corpus (default: $BTFEMBED_SHARED/kernels or
../shared/kernels next to the repository); exits 0 with a message when it is
absent.  gcc and clang are used when installed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from btfembed.embed.codegen import generate_c  # noqa: E402
from btfembed.embed.codegen._table import canonical_table  # noqa: E402
from btfembed.core import Target  # noqa: E402
from btfembed.embed.keys import KernelKey  # noqa: E402
from btfembed.minimize.engine import minimize  # noqa: E402
from btfembed.inputs.objects import load_object  # noqa: E402
from btfembed.embed.pack import Pack, build_pack, encode_pack  # noqa: E402
from btfembed.inputs.containers import load_btf  # noqa: E402

OBJS = REPO / "tests" / "data" / "objs"
INCLUDE = REPO / "btfembed" / "embed" / "include"
LIBS = {"none": [], "zlib": ["-lz"], "xz": ["-llzma"], "zstd": ["-lzstd"]}
CODECS = ("none", "zlib", "xz")
SUBSETS = [
    ("tracer",),
    ("task_small",),
    ("kernel_c19",),
    ("tracer", "task_small"),
    ("tracer", "kernel_c19", "key_ref_fwd"),
    ("task_small", "key_ref_fwd"),
]
MAIN_C = """#include "gen.h"
int main(void)
{
	struct btfembed_btf b;
	int rc = bench_btf_path(&b);
	btfembed_release(&b);
	return rc < 0;
}
"""


def default_kernels() -> Path:
    shared = Path(os.environ.get("BTFEMBED_SHARED", REPO.parent / "shared"))
    return shared / "kernels"


def object_path(name: str, arch: str) -> str:
    if name == "tracer" and arch == "arm64":
        return str(OBJS / "tracer.arm64.el.o")
    return str(OBJS / f"{name}.el.o")


def arch_of(kernel: Path) -> str:
    return "arm64" if "_arm64_" in kernel.name else "x86_64"


def minimize_kernel(kernel: str) -> list[tuple[tuple, bytes]]:
    """All subsets for one kernel (one process: the kernel is loaded once)."""
    path = Path(kernel)
    target = Target(load_btf(kernel))
    out = []
    for subset in SUBSETS:
        objs = [load_object(object_path(n, arch_of(path))) for n in subset]
        out.append((subset, minimize(objs, target).data))
    return out


def collect(kernels: list[Path], jobs: int) -> dict[tuple[str, tuple], bytes]:
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(minimize_kernel, [str(k) for k in kernels])
        return {(k.name, subset): blob for k, res in zip(kernels, results) for subset, blob in res}


def key_for(kernel: Path, n: int) -> KernelKey:
    stem = kernel.name[:-len(".btf.xz")]
    return KernelKey(arch_of(kernel), stem.split("_")[0], "bench", f"{stem}-{n}")


def packs(kernels: list[Path], blobs: dict) -> dict[str, Pack]:
    combos = [(k, s) for s in SUBSETS for k in kernels]  # subset-major: spread over kernels
    distinct = [(key_for(k, i), blobs[(k.name, s)]) for i, (k, s) in enumerate(combos[:100])]
    series = []
    for i in range(100):
        k, s = combos[i // 5]
        series.append((key_for(k, i), blobs[(k.name, s)]))
    return {"distinct": build_pack(distinct), "series": build_pack(series)}


def run_measured(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command."""
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ))
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(argv)}")
    return elapsed, usage.ru_maxrss / 1024


def object_size(path: Path) -> int:
    out = subprocess.run(["size", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[1].split()[3])  # dec = text + data + bss


def binary_size(cc: str, work: Path, obj: Path, codec: str) -> int:
    exe = work / f"{obj.stem}.exe"
    subprocess.run([cc, "-O2", f"-I{INCLUDE}", f"-I{work}", "-o", str(exe), str(work / "main.c"), str(obj)]
                   + LIBS[codec], check=True)
    subprocess.run(["strip", str(exe)], check=True)
    return exe.stat().st_size


def measure(pack: Pack, *, codec: str, dedup: bool, compilers: list[str], work: Path, tag: str) -> dict:
    d = work / tag
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.c").write_text(MAIN_C)
    start = time.perf_counter()
    c_text, h_text = generate_c(pack, prefix="bench", codec=codec, dedup=dedup)
    gen = time.perf_counter() - start
    (d / "gen.c").write_text(c_text)
    (d / "gen.h").write_text(h_text)
    empty_c, _ = generate_c(Pack((), ()), prefix="bench", codec=codec)
    row = {"gen": gen, "src": len(c_text), "blobs": len(canonical_table(pack, dedup=dedup).blobs)}
    for cc in compilers:
        obj = d / f"gen-{cc}.o"
        row[cc] = run_measured([cc, "-O2", "-c", f"-I{INCLUDE}", f"-I{d}", str(d / "gen.c"), "-o", str(obj)])
        row[f"{cc}.o"] = object_size(obj)
        full = binary_size(cc, d, obj, codec)
        (d / "empty.c").write_text(empty_c)
        empty_obj = d / f"empty-{cc}.o"
        subprocess.run([cc, "-O2", "-c", f"-I{INCLUDE}", f"-I{d}", str(d / "empty.c"), "-o", str(empty_obj)],
                       check=True)
        row[f"{cc}.bin"] = (full - binary_size(cc, d, empty_obj, codec)) / max(1, len(pack.kernels))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", type=Path, default=default_kernels(), help="directory of *.btf.xz kernels")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", type=Path, help="keep the generated files here")
    args = ap.parse_args(argv)
    kernels = sorted(args.kernels.glob("*.btf.xz")) if args.kernels.is_dir() else []
    if len(kernels) < 5:
        print(f"bench_codegen: skipped: shared kernel corpus not found at {args.kernels}")
        return 0
    compilers = [cc for cc in ("gcc", "clang") if shutil.which(cc)]
    if not compilers:
        print("bench_codegen: skipped: neither gcc nor clang installed")
        return 0

    start = time.perf_counter()
    blobs = collect(kernels, args.jobs)
    sets = packs(kernels, blobs)
    print(f"minimized {len(blobs)} (kernel, objects) pairs from {len(kernels)} kernels "
          f"in {time.perf_counter() - start:.1f} s")
    for name, pack in sets.items():
        raw = sum(len(b) for b in pack.blobs)
        print(f"  {name}: {len(pack.kernels)} kernels, {len(pack.blobs)} unique blobs, {raw / 1024:.0f} KiB unique raw "
              f"({sum(len(pack.blobs[i]) for _, i in pack.kernels) / 1024:.0f} KiB without dedup), "
              "pack file " + " / ".join(f"{len(encode_pack(pack, codec=c)) / 1024:.0f} KiB {c}" for c in CODECS))

    tmp = tempfile.TemporaryDirectory(prefix="bench-codegen-")
    work = args.keep or Path(tmp.name)
    header = ["pack", "codec", "dedup", "blobs", "gen s", ".c KiB"]
    for cc in compilers:
        header += [f"{cc} s", f"{cc} MiB", f"{cc} .o KiB", f"{cc} +bin/kernel"]
    rows = []
    for name, pack in sets.items():
        for codec in CODECS:
            for dedup in (True, False):
                tag = f"{name}-{codec}-{'dedup' if dedup else 'nodedup'}"
                r = measure(pack, codec=codec, dedup=dedup, compilers=compilers, work=work, tag=tag)
                row = [name, codec, "yes" if dedup else "no", str(r["blobs"]),
                       f"{r['gen']:.2f}", f"{r['src'] / 1024:.0f}"]
                for cc in compilers:
                    secs, mib = r[cc]
                    row += [f"{secs:.2f}", f"{mib:.0f}", f"{r[f'{cc}.o'] / 1024:.0f}", f"{r[f'{cc}.bin']:.0f} B"]
                rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print()
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    empty = measure(Pack((), ()), codec="none", dedup=True, compilers=compilers, work=work, tag="empty")
    print("\nbaseline (empty table, runtime only): " + ", ".join(
        f"{cc} {empty[cc][0]:.2f} s / {empty[cc][1]:.0f} MiB, .o {empty[f'{cc}.o'] / 1024:.1f} KiB"
        for cc in compilers))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
