#!/usr/bin/env python3
"""Benchmark pack format 3 against what it replaces, in one run.

For each object set x kernel list (the test corpus's real-kernel objects x
the shared kernels; with --bcc-objects DIR also bcc libbpf-tools' objects x
the shared x86_64 kernels), one minimized blob per kernel (as 'btfembed
build' makes), and side by side:

* tar.gz     the BTFHub-layout tree of the blobs as one tar.gz (what bcc
             links with ld -b binary);
* per-blob   the unique blobs each zlib-compressed (format 1's --compress);
* pack3 X    pack format 3 with codec X (none, zlib, xz, zstd), whole file;
* as is      the same without the BTF recoding and split blocks (how
             format 2 stored blobs), for comparison;
* +linked    the bytes a linked, stripped program grows by: the tar.gz as a
             plain array (bcc's way, no code) versus generated C with each
             codec (pack + the btfembed runtime + the codec glue; the codec
             library itself is shared); "runtime, empty X" is the growth
             with an empty pack of codec X: the runtime's own code, codec
             glue included.  Goals: pack3 <= 0.5x tar.gz; linked with codec
             X <= 0.6x the tar.gz's growth + runtime X.

Then the C runtime on a pack of >= 4,000 entries (synthetic keys over the
real blobs): time to select and decode one blob (btfembed_btf_path():
lookup, one block decompressed, BTF recoding undone, blob digest, memfd; the
first call of a process also checks the index digest and structure), wall
and CPU time, the first call and the mean of later ones, the index checks
alone, and the peak extra heap during one selection (a malloc counter
linked into the benchmark): goals <= 2 ms and <= 2x the block size.

usage: scripts/bench_pack.py [--bcc-objects DIR] [--jobs N] [--entries N]

The bcc objects: build libbpf-tools' *.bpf.c of a checkout of iovisor/bcc
(clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I. -Ix86 -c T.bpf.c) and
pass the directory of the .bpf.o files.  Needs the shared kernel corpus
($BTFEMBED_SHARED/kernels or ../shared/kernels); exits with a message when
it is absent.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from btfembed.core import Target  # noqa: E402
from btfembed.embed.codegen import generate_c  # noqa: E402
from btfembed.embed.codegen.c import c_bytes_literals  # noqa: E402
from btfembed.embed.keys import KernelKey  # noqa: E402
from btfembed.embed.pack import Pack, build_pack, encode_pack, object_digest  # noqa: E402
from btfembed.inputs.containers import load_btf  # noqa: E402
from btfembed.inputs.objects import load_object  # noqa: E402
from btfembed.minimize.engine import minimize  # noqa: E402

INCLUDE = REPO / "btfembed" / "embed" / "include"
OBJS = REPO / "tests" / "data" / "objs"
CORPUS = ("tracer", "task_small", "no_core", "key_ref_fwd", "kernel_c19", "conntrack_mod")
CODECS = ("none", "zlib", "xz", "zstd")
LIBS = {"none": [], "zlib": ["-lz"], "xz": ["-llzma"], "zstd": ["-lzstd"]}

MAIN_C = """#include "gen.h"
int main(void)
{
\tstruct btfembed_btf b;
\tint rc = bench_btf_path(&b);
\tbtfembed_release(&b);
\treturn rc < 0;
}
"""
BASE_C = "int main(void)\n{\n\treturn 0;\n}\n"
TGZ_C = """static const char tgz[%d] __attribute__((used)) =
%s;
int main(void)
{
\treturn tgz[0] == 1;
}
"""

TIMING_C = r"""
#define _GNU_SOURCE
#include "gen.h"
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static size_t cur, peak;

static void count(void *p) { if (p) { cur += malloc_usable_size(p); if (cur > peak) peak = cur; } }
void *malloc(size_t n) { void *p = __libc_malloc(n); count(p); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); count(p); return p; }
void free(void *p) { if (p) cur -= malloc_usable_size(p); __libc_free(p); }
void *realloc(void *p, size_t n)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q = __libc_realloc(p, n);
	if (q || !n) { cur -= old; count(q); }
	return q;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time: on a loaded machine wall time mostly measures the queue. */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct btfembed_options o = { 0 };
	struct btfembed_btf b;
	int n = atoi(argv[2]), i;
	size_t before;
	double t0, c0, full, full_cpu, check;

	o.flags = BTFEMBED_FORCE | BTFEMBED_NO_ENV;
	o.key = argv[1];
	t0 = now();
	c0 = cpu();
	if (bench_btf_path_opts(&b, &o) != 0)
		return 1;
	printf("first %.1f\nfirst_cpu %.1f\n", (now() - t0) * 1e6, (cpu() - c0) * 1e6);
	btfembed_release(&b);
	before = cur;
	peak = cur;
	if (bench_btf_path_opts(&b, &o) != 0)
		return 1;
	btfembed_release(&b);
	printf("peak %zu\n", peak - before);
	t0 = now();
	c0 = cpu();
	for (i = 0; i < n; i++) {
		bench_btf_path_opts(&b, &o);
		btfembed_release(&b);
	}
	full = (now() - t0) / n;
	full_cpu = (cpu() - c0) / n;
	c0 = cpu();
	for (i = 0; i < n; i++)
		btfembed_check(&bench_btf_table, 0);
	check = (cpu() - c0) / n;
	printf("full %.1f\ncpu %.1f\ncheck %.1f\n", full * 1e6, full_cpu * 1e6, check * 1e6);
	return 0;
}
"""


def shared_dir() -> Path:
    return Path(os.environ.get("BTFEMBED_SHARED", REPO.parent / "shared")) / "kernels"


def shared_kernels() -> list[tuple[KernelKey, Path]]:
    d = shared_dir()
    manifest = d / "MANIFEST.tsv"
    if not manifest.exists():
        sys.exit(f"shared kernel corpus not found at {d} (set BTFEMBED_SHARED)")
    out = []
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.append((KernelKey(row["arch"], row["distro"], row["distro version"], row["kernel release"]),
                        d / row["file.xz"]))
    return out


def _minimize_one(args: tuple[str, list[str]]) -> bytes:
    kernel, objects = args
    return minimize([load_object(o) for o in objects], Target(load_btf(kernel))).data


def blobs_for(kernels: list[tuple[KernelKey, Path]], objects: list[str], jobs: int) -> list[tuple[KernelKey, bytes]]:
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        blobs = list(pool.map(_minimize_one, [(str(p), objects) for _, p in kernels]))
    return [(k, b) for (k, _), b in zip(kernels, blobs)]


def targz(items: list[tuple[KernelKey, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs: set[str] = set()
        for key, blob in sorted(items):
            path = key.path()
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(blob), 0o644
            tar.addfile(info, io.BytesIO(blob))
    out = io.BytesIO()
    import gzip
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:  # gzip's default level, as tar -z
        gz.write(raw.getvalue())
    return out.getvalue()


def stripped_size(work: Path, name: str, sources: list[Path], libs: list[str]) -> tuple[int, int]:
    """(file size, text + data + bss) of the stripped program: the file
    grows in page steps, the sections by the byte."""
    exe = work / name
    subprocess.run(["cc", "-O2", f"-I{INCLUDE}", f"-I{work}", "-o", str(exe), *map(str, sources), *libs],
                   check=True)
    subprocess.run(["strip", str(exe)], check=True)
    out = subprocess.run(["size", str(exe)], capture_output=True, text=True, check=True).stdout
    return exe.stat().st_size, int(out.splitlines()[1].split()[3])


def linked_growth(work: Path, pack: Pack, tgz: bytes) -> dict[str, tuple[int, int]]:
    base_c = work / "base.c"
    base_c.write_text(BASE_C)
    base = stripped_size(work, "base", [base_c], [])

    def grown(size: tuple[int, int]) -> tuple[int, int]:
        return size[0] - base[0], size[1] - base[1]

    out = {}
    tgz_c = work / "tgz.c"
    tgz_c.write_text(TGZ_C % (len(tgz), c_bytes_literals(tgz)))
    out["tar.gz"] = grown(stripped_size(work, "tgz", [tgz_c], []))
    main_c = work / "main.c"
    main_c.write_text(MAIN_C)
    for name in CODECS + tuple("runtime " + c for c in CODECS):
        codec = name.split()[-1]
        d = work / name.replace(" ", "-")
        d.mkdir(exist_ok=True)
        (d / "main.c").write_text(MAIN_C)
        c_text, h_text = generate_c(Pack((), ()) if name.startswith("runtime") else pack, prefix="bench",
                                    codec=codec)
        (d / "gen.c").write_text(c_text)
        (d / "gen.h").write_text(h_text)
        out[name] = grown(stripped_size(d, "exe", [d / "main.c", d / "gen.c"], LIBS[codec]))
    return out


def size_row(name: str, items: list[tuple[KernelKey, bytes]], objects: list[str], work: Path) -> list[str]:
    pack = build_pack(items, [(Path(o).name, object_digest(Path(o).read_bytes())) for o in objects])
    tgz = targz(items)
    uniq = pack.blobs
    per_blob = sum(len(zlib.compress(b, 9)) for b in uniq)
    sizes = {c: len(encode_pack(pack, codec=c)) for c in CODECS}
    plain = {c: len(encode_pack(pack, codec=c, btf_recode=False, split=False)) for c in ("zlib", "xz")}
    grow = linked_growth(work, pack, tgz)
    best = min(sizes["zlib"], sizes["xz"])
    print(f"\n== {name}: {len(objects)} objects x {len(items)} kernels, {len(uniq)} unique blobs, "
          f"{sum(len(b) for b in uniq)} bytes raw")
    print(f"  {'':22} {'file':>9} {'x tar.gz':>9} {'+linked file':>13} {'+linked sections':>17}")
    print(f"  {'tar.gz (BTFHub tree)':22} {len(tgz):>9} {1.0:>9.2f} {grow['tar.gz'][0]:>13} {grow['tar.gz'][1]:>17}")
    print(f"  {'per-blob zlib (v1)':22} {per_blob:>9} {per_blob / len(tgz):>9.2f}")
    for c in CODECS:
        print(f"  {'pack3 ' + c:22} {sizes[c]:>9} {sizes[c] / len(tgz):>9.2f} {grow[c][0]:>13} {grow[c][1]:>17}")
    for c in ("zlib", "xz"):
        print(f"  {'  ' + c + ', as is':22} {plain[c]:>9} {plain[c] / len(tgz):>9.2f}   (no BTF recoding, no split: format 2's layout)")
    for c in CODECS:
        r = grow["runtime " + c]
        print(f"  {'runtime, empty ' + c:22} {'':>9} {'':>9} {r[0]:>13} {r[1]:>17}")
    print(f"  goal pack3 <= 0.5x tar.gz: zlib {sizes['zlib'] / len(tgz):.2f}, xz {sizes['xz'] / len(tgz):.2f} "
          f"({'met' if best <= 0.5 * len(tgz) else 'NOT met'})")
    for i, what in ((0, "file"), (1, "sections")):
        for c in ("zlib", "xz"):
            limit = 0.6 * grow["tar.gz"][i] + grow["runtime " + c][i]
            print(f"  goal linked ({what}) <= 0.6x tar.gz + runtime {c} = {limit:.0f}: {c} {grow[c][i]} "
                  f"({'met' if grow[c][i] <= limit else 'NOT met'})")
    return []


def timing(items: list[tuple[KernelKey, bytes]], entries: int, work: Path) -> None:
    blobs = sorted({b for _, b in items})
    synth = []
    for i in range(entries):
        blob = blobs[i % len(blobs)]
        synth.append((KernelKey("x86_64", f"distro{i % 40}", str(i % 7), f"5.{i // 40}.0-{i}-generic"), blob))
    pack = build_pack(synth)
    key = synth[entries // 2][0]
    key_text = f"{key.distro}/{key.distro_version}/{key.arch}/{key.release}"
    print(f"\n== C runtime: {entries} entries over {len(blobs)} real blobs, select {key_text}")
    print(f"  {'codec':6} {'pack':>9} {'blocks':>7} {'block max':>10} {'1st wall':>9} {'1st cpu':>8} "
          f"{'wall us':>8} {'cpu us':>8} {'index us':>9} {'peak heap':>10} {'x block':>8}")
    worst = 0.0
    from btfembed.embed import runtime as rt
    for codec in CODECS:
        d = work / f"timing-{codec}"
        d.mkdir(exist_ok=True)
        c_text, h_text = generate_c(pack, prefix="bench", codec=codec)
        (d / "gen.c").write_text(c_text)
        (d / "gen.h").write_text(h_text)
        (d / "t.c").write_text(TIMING_C)
        exe = d / "t"
        subprocess.run(["cc", "-O2", f"-I{INCLUDE}", f"-I{d}", "-o", str(exe), str(d / "t.c"), str(d / "gen.c"),
                        str(INCLUDE / "btfembed.c"), *LIBS[codec]], check=True)
        out = dict(line.split() for line in subprocess.run([str(exe), key_text, "300"], capture_output=True,
                                                            text=True, check=True).stdout.splitlines())
        firsts = []
        for _ in range(15):  # the first call of a fresh process, median of 15 processes
            one = dict(line.split() for line in subprocess.run([str(exe), key_text, "1"], capture_output=True,
                                                                text=True, check=True).stdout.splitlines())
            firsts.append((float(one["first_cpu"]), float(one["first"])))
        firsts.sort()
        out["first_cpu"], out["first"] = (str(v) for v in firsts[len(firsts) // 2])
        data = encode_pack(pack, codec=codec)
        info = rt._pack_table(data).info
        peak = int(out["peak"])
        print(f"  {codec:6} {len(data):>9} {info['n_blocks']:>7} {info['block_max']:>10} "
              f"{float(out['first']):>9.0f} {float(out['first_cpu']):>8.0f} {float(out['full']):>8.0f} "
              f"{float(out['cpu']):>8.0f} {float(out['check']):>9.0f} {peak:>10} {peak / info['block_max']:>8.2f}")
        if codec in ("zlib", "xz"):
            worst = max(worst, float(out["first_cpu"]), float(out["cpu"]))
    load = os.getloadavg()[0]
    print("  btfembed_btf_path() per call: lookup, one block decoded, BTF recoding undone, blob digest, memfd; "
          "the first call of a process also checks the index (digest and structure), later ones do not.  "
          f"1st: that first call (median of 15 processes); wall/cpu us: the mean of 300 later calls; index us: the index "
          f"checks alone (btfembed_check, CPU).  Load average {load:.1f} on {os.cpu_count()} CPUs.")
    print(f"  goals: <= 2000 us per call (zlib and xz, CPU, first or later: worst {worst:.0f} us, "
          f"{'met' if worst <= 2000 else 'NOT met'}); peak heap <= 2x block max")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bcc-objects", metavar="DIR", help="directory of bcc libbpf-tools .bpf.o files")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--entries", type=int, default=4096, help="entries of the timing pack (default 4096)")
    args = ap.parse_args(argv)
    kernels = shared_kernels()
    corpus = [str(OBJS / f"{n}.el.o") for n in CORPUS]
    with tempfile.TemporaryDirectory(prefix="bench-pack-") as tmp:
        work = Path(tmp)
        items = blobs_for(kernels, corpus, args.jobs)
        (work / "corpus").mkdir()
        size_row("test corpus objects x shared kernels", items, corpus, work / "corpus")
        timing(items, args.entries, work)
        if args.bcc_objects:
            bcc = sorted(str(p) for p in Path(args.bcc_objects).glob("*.bpf.o"))
            x86 = [(k, p) for k, p in kernels if k.arch == "x86_64"]
            bitems = blobs_for(x86, bcc, args.jobs)
            (work / "bcc").mkdir()
            size_row("bcc libbpf-tools objects x shared x86_64 kernels", bitems, bcc, work / "bcc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
