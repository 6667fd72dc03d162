#!/usr/bin/env python3
"""Scale benchmark: ``btfembed build`` over thousands of distinct kernels.

Kernels: derived from the shared x86_64 kernels.  Kernel ``i`` is shared
kernel ``i mod 13`` with one member of ``task_struct`` moved (member
``v mod M`` of its M members, by ``8 * (1 + v div M)`` bits, where ``v =
i div 13``): every derived kernel is a distinct, valid BTF whose
task_struct layout differs, as BTFHub's kernels of one distribution do.
Each is written as a BTFHub-style ``.btf.tar.xz`` (xz preset 0, to keep the
set-up short).

For each executor (1 job, 2 jobs, Dask with 2 local worker processes),
with its own empty cache: a cold build, a build after one object changed,
and a no-op build.  Printed per run: wall time, per-kernel cost, peak RSS
of the build process (for Dask: of the client; the workers are separate
processes, their peak is printed too) and kernel store size.

    python3 scripts/bench_scale.py [--kernels 2000] [--modes 1,2,dask] [--work DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _bench import GNU_TIME, PYTHON, REPO, SHARED, table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import BASE_OBJECTS, measured, variants, x86_kernels  # noqa: E402

sys.path.insert(0, str(REPO))
from btfembed.btf.reader import BTF  # noqa: E402


def _bases() -> list[tuple]:
    bases = []
    for (distro, version, arch, release), xz in x86_kernels():
        raw = lzma.decompress(xz.read_bytes())
        btf = BTF(raw)
        tid = btf.find_by_name("task_struct")
        tid = [t for t in tid if btf.kind(t) == 4][0]
        first, words = btf.record_words(tid)
        vlen = len(btf.type(tid).members)
        size = btf.type(tid).size_type
        base_off = btf.header.hdr_len + btf.header.type_off
        fmt = "<I" if btf.byte_order == "little" else ">I"
        bases.append((distro, version, arch, release, raw, base_off + 4 * first, vlen, size, fmt))
    return bases


_BASES: list[tuple] = []


def _derive_one(args: tuple[int, str]) -> str:
    i, root = args
    distro, version, arch, release, raw, rec, vlen, size, fmt = _BASES[i % len(_BASES)]
    v = i // len(_BASES)
    data = bytearray(raw)
    if v:
        m = (v - 1) % vlen
        pos = rec + 12 + 12 * m + 8  # the member's offset word
        (word,) = struct.unpack_from(fmt, data, pos)
        bits = ((word & 0xFFFFFF) + 8 * (1 + (v - 1) // vlen)) % (8 * size)
        struct.pack_into(fmt, data, pos, (word & 0xFF000000) | bits)
    rel = f"{release}+scale{v}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(f"{rel}.btf")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(bytes(data)))
    d = Path(root) / distro / version / arch
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{rel}.btf.tar.xz"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(lzma.compress(buf.getvalue(), preset=0))
    os.replace(tmp, path)
    past = time.time() - 60
    os.utime(path, (past, past))
    return str(path)


def derive(count: int, root: Path) -> list[Path]:
    """The ``count`` derived archives under ``root`` (made with every CPU;
    a set already there from an earlier run with --work is reused)."""
    import concurrent.futures as cf

    done = root / f".complete-{count}"
    if done.is_file():
        return [Path(p) for p in done.read_text().splitlines()]
    _BASES[:] = _bases()
    with cf.ProcessPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        out = list(pool.map(_derive_one, [(i, str(root)) for i in range(count)], chunksize=8))
    done.write_text("\n".join(out))
    return [Path(p) for p in out]


def _peak_mb() -> int:
    """Peak RSS of this process so far (run on the Dask workers)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def store_size(cache: Path) -> int:
    d = cache / "v1" / "kernels"
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.is_dir() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", type=int, default=2000)
    ap.add_argument("--modes", default="1,2,dask", help="comma-separated: 1, 2 (jobs), dask")
    ap.add_argument("--work", type=Path, help="keep the derived archives in this directory and reuse them "
                    "(default: a temporary directory, removed at the end)")
    ap.add_argument("--extrapolate", type=int, default=4000, help="also print the figures scaled to this many "
                    "kernels (default 4000, about BTFHub's count)")
    opts = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"shared kernel corpus not found at {SHARED}")
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("GNU time (/usr/bin/time) is needed for peak memory")
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "btfembed")], check=True)
    keep = opts.work is not None
    work = opts.work if keep else Path(tempfile.mkdtemp(prefix="btfembed-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # no btfembed.toml / pyproject.toml of the caller's directory applies to the builds
    for old in ("objs", *(f"cache-{m}" for m in ("1", "2", "dask")), *(f"out-{m}" for m in ("1", "2", "dask"))):
        shutil.rmtree(work / old, ignore_errors=True)
    cluster = None
    try:
        start = time.perf_counter()
        archives = derive(opts.kernels, work / "archive")
        setup = time.perf_counter() - start
        objdir = work / "objs"
        objdir.mkdir()
        objects = []
        for o in BASE_OBJECTS:
            shutil.copy(o, objdir / o.name)
            objects.append(objdir / o.name)
        change = variants(work, 1)[0]
        original = objects[0].read_bytes()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        rows = []
        results = {}
        for mode in opts.modes.split(","):
            extra = ["-j", mode]
            worker_peak = ""
            if mode == "dask":
                os.environ["PYTHONPATH"] = str(REPO)  # for the workers
                from distributed import LocalCluster
                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
                extra = ["--executor", "dask://" + cluster.scheduler_address.split("://", 1)[1]]
            cache = work / f"cache-{mode}"
            objects[0].write_bytes(original)

            def run() -> tuple[float, int, float]:
                return measured([PYTHON, "-m", "btfembed", "build", *map(str, objects), "--kernels",
                                 str(work / "archive"), "--out-dir", str(work / f"out-{mode}"), "--cache-dir",
                                 str(cache), "-q", *extra], env)

            for name in ("cold", "object changed", "no-op"):
                if name == "object changed":
                    shutil.copy(change, objects[0])
                wall, rss, cpu = run()
                if cluster is not None:
                    from distributed import Client
                    with Client(cluster) as client:
                        peaks = client.run(_peak_mb)
                    worker_peak = f" (workers {max(peaks.values())})"
                size = store_size(cache)
                results[f"{mode}/{name}"] = [round(wall, 2), round(cpu, 2), rss, size]
                rows.append([f"{'dask, 2 workers' if mode == 'dask' else mode + ' job(s)'}", name, f"{wall:.1f}",
                             f"{1000 * wall / len(archives):.1f}", "-" if mode == "dask" else f"{cpu:.1f}",
                             "-" if mode == "dask" else f"{1000 * cpu / len(archives):.1f}",
                             f"{rss}{worker_peak}", f"{size / 1e9:.2f}"])
            if cluster is not None:
                cluster.close()
                cluster = None
        print(f"{len(archives)} distinct kernels (derived from {len(x86_kernels())} shared x86_64 kernels, "
              f"set up in {setup:.0f} s), {len(objects)} objects\n")
        print(table(rows, ["executor", "run", "wall s", "ms/kernel", "CPU s", "CPU ms/kernel", "peak MB",
                           "store GB"]))
        print("CPU: user + system of the build and its worker processes (not measured for Dask workers)")
        n, x = len(archives), opts.extrapolate
        print(f"\nscaled to {x} kernels (per-kernel cost x {x}; store size likewise):")
        ext = []
        for key, (wall, cpu, _rss, size) in results.items():
            mode, name = key.split("/", 1)
            ext.append([f"{'dask, 2 workers' if mode == 'dask' else mode + ' job(s)'}", name,
                        f"{wall * x / n / 60:.1f}", "-" if mode == "dask" else f"{cpu * x / n / 60:.1f}",
                        f"{size * x / n / 1e9:.1f}"])
        print(table(ext, ["executor", "run", "wall min", "CPU min", "store GB"]))
        print(json.dumps({"kernels": len(archives), **results}))
    finally:
        if cluster is not None:
            cluster.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
