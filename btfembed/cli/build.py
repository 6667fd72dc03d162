"""``btfembed build``: minimize BTF for many kernels at once."""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from typing import TYPE_CHECKING

from btfembed.cli._common import warn
from btfembed.errors import CheckFailed

if TYPE_CHECKING:  # heavy modules are imported when the command runs
    from btfembed.build.pipeline import BuildResult, KernelResult
    from btfembed.build.settings import Settings

HELP = """\
Minimize kernel BTF for BPF objects across a whole list of kernels: one
tailored BTF per kernel, deduplicated, cached and computed in parallel,
with a report of how every relocation fares on every kernel.

Kernel sources (--kernels, repeatable):
  DIR            a BTFHub archive tree (<distro>/<version>/<arch>/<release>.btf.tar.xz,
                 keys from the path), or any directory of BTF files (raw, ELF,
                 .xz, .gz, .tar.xz), using DIR/MANIFEST.tsv for keys if present
  FILE.tsv       a manifest: columns path, release, arch, distro, distro_version
  FILE.toml      a manifest: [[kernel]] tables with the same keys
  FILE=D/V/A/R   one BTF file with an explicit key (distro/version/arch/release)
  sysfs          the running kernel (/sys/kernel/btf/vmlinux, key from uname
                 and /etc/os-release)

Outputs in --out-dir: <distro>/<version>/<arch>/<release>.btf for every kernel
(a drop-in for tools that read the BTFHub layout) and btfembed.pack (every
key mapped to a deduplicated blob), which 'btfembed generate' embeds in C or
Python sources (or use --emit here).  Nothing is written unless every kernel
succeeds (see --keep-going).

Settings may also come from btfembed.toml or [tool.btfembed] in
pyproject.toml in the current directory (or --config), then from
BTFEMBED_<SETTING> environment variables (e.g. BTFEMBED_JOBS=4,
BTFEMBED_OUT_DIR=out; lists comma-separated); options given here win.
'btfembed build --help-settings' lists them.

Sharding (a CI matrix): 'build --shard K/N' on N machines writes one partial
file each; 'btfembed merge' combines them into the outputs above.

examples:
  btfembed build prog.bpf.o --kernels btfhub-archive --out-dir out --report report.json
  btfembed build *.bpf.o --kernels btfhub-archive --arch x86_64 --release '5.4.*'
  btfembed build prog.bpf.o --kernels sysfs --emit c --output gen/min_btf
  btfembed build            # everything from ./btfembed.toml
  btfembed build prog.bpf.o --kernels btfhub-archive --shard 2/4 --out-dir part
  btfembed build prog.bpf.o --kernels btfhub-archive --executor dask://scheduler:8786
"""


def _loader_names() -> list[str]:
    from btfembed.minimize.loader import loader_names
    return loader_names()


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("build", help="minimize BTF for objects across a list of kernels (with cache and report)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("objects", metavar="OBJECT", nargs="*", help="BPF objects (or glob patterns)")
    p.add_argument("--kernels", "-k", metavar="SRC", action="append", default=None, help="kernel source (repeatable)")
    p.add_argument("--out-dir", "-o", metavar="DIR", help="output directory")
    p.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: one per CPU)")
    p.add_argument("--report", metavar="FILE", help="write a JSON report")
    p.add_argument("--html", metavar="FILE", help="write an HTML report (summary per object, relocations per kernel)")
    p.add_argument("--config", metavar="FILE", help="settings file (default: ./btfembed.toml or ./pyproject.toml)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: $XDG_CACHE_HOME/btfembed)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--kernel-store-max", metavar="SIZE",
                   help="size limit of the kernel store in the cache, e.g. 8G, 500M; 0 disables it "
                        "(default: 8G, a BTFHub-scale run)")
    p.add_argument("--cache-max", metavar="SIZE",
                   help="size limit of the rest of the cache (results, outcomes, checks, packs; least recently "
                        "used removed first; 0: no limit; default: 2G)")
    p.add_argument("--executor", metavar="WHERE",
                   help="'local' (worker processes, the default) or 'dask://HOST:PORT' (a running "
                        "dask.distributed scheduler; needs pip install 'btfembed[dask]')")
    p.add_argument("--fail-on", choices=["never", "ambiguous", "poisoned"],
                   help="exit 1 if a relocation is ambiguous (libbpf refuses the object) or poisoned")
    p.add_argument("--keep-going", action="store_true", default=None,
                   help="write the kernels that worked even if others failed, and exit 0")
    p.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    p.add_argument("--distro", action="append", help="only these distributions (repeatable)")
    p.add_argument("--release", action="append", metavar="GLOB", help="only matching releases (repeatable)")
    p.add_argument("--userspace", "-u", metavar="APP[=VERSION]", action="append",
                   help="an application whose own types the objects' relocations target (uprobe programs): "
                        "ELF with .BTF, ELF with DWARF (pahole) or raw BTF; repeatable.  With --emit c or "
                        "python the sources record its id (VERSION, else its GNU build id) and offer "
                        "PREFIX_matches_app(path) / matches_app(path) to pick the table built for a binary")
    p.add_argument("--userspace-collisions", choices=["warn", "error", "ignore"],
                   help="relocations with candidates in both a kernel and an application: warn (default), "
                        "error (the kernel fails) or ignore")
    p.add_argument("--compat", choices=["bpftool"], help="minimize exactly as bpftool 7.1 does")
    p.add_argument("--header-size", type=int, choices=[24, 32], help="BTF header length of the outputs")
    p.add_argument("--loader", choices=_loader_names(),
                   help="write only BTF kinds this loader parses (default: libbpf, i.e. >= 1.0); "
                        "see 'btfembed minimize --help'")
    p.add_argument("--codec", choices=["zlib", "xz", "zstd", "none"], default=None,
                   help="compression of the pack (docs/pack-format.md) and of --emit sources: zlib (default; C links -lz), "
                        "xz (smallest; C links -llzma), zstd (C links -lzstd), none")
    p.add_argument("--compress", action="store_true", default=None, help="older spelling of --codec zlib")
    p.add_argument("--emit", choices=["c", "python", "go", "rust"], help="also generate sources embedding the pack")
    p.add_argument("--output", metavar="NAME",
                   help="with --emit: NAME.c/NAME.h, the .py module path, the Go package directory, "
                        "or the .rs module path (default: in --out-dir, kernel_btf.c/.h, kernel_btf.py, "
                        "kbtf/, kernel_btf.rs)")
    p.add_argument("--go-package", metavar="NAME", help="with --emit go: package name")
    p.add_argument("--go-import-path", metavar="PATH", help="with --emit go: import path (import comment)")
    p.add_argument("--prefix", metavar="P",
                   help="with --emit c: symbol prefix (default: NAME's file name without a trailing _btf: "
                        "--output gen/probe_btf gives probe_btf_path())")
    p.add_argument("--depfile", metavar="FILE", help="with --emit: write a Makefile-syntax depfile")
    p.add_argument("--shard", metavar="K/N",
                   help="build only shard K of N of the kernel list (each kernel in one shard, by a hash of its "
                        "key) and write just OUT_DIR/shard-K-of-N.btfembed-partial; 'btfembed merge' combines "
                        "the N partials into the outputs of one unsharded build")
    p.add_argument("--verbose", "-v", action="store_true", help="one line per kernel")
    p.add_argument("--quiet", "-q", action="store_true", help="no table and no progress")
    p.add_argument("--help-settings", action="store_true", help="list the settings file keys and exit")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> "Settings":
    """The settings: file < environment (BTFEMBED_*) < these options."""
    import os

    from btfembed.build.kernels import parse_source_arg
    from btfembed.build.settings import find_settings_file, merge_settings

    path = args.config or find_settings_file(".")
    cli: dict[str, object] = {}
    if args.objects:
        cli["objects"] = list(args.objects)
    if args.kernels:
        cli["kernels"] = [parse_source_arg(k) for k in args.kernels]
    for name in ("out_dir", "jobs", "report", "html", "cache_dir", "fail_on", "keep_going", "header_size", "loader",
                 "compress", "codec", "emit", "output", "prefix", "depfile", "kernel_store_max", "cache_max", "executor",
                 "go_package", "go_import_path", "userspace_collisions"):
        value = getattr(args, name)
        if value is not None:
            cli[name] = value
    for name in ("arch", "distro", "release", "userspace"):
        if getattr(args, name):
            cli[name] = getattr(args, name)
    if args.compat:
        cli["compat"] = True
    if args.no_cache:
        cli["cache"] = False
    return merge_settings(path, os.environ, cli)


def _write_partial(s: "Settings", result: "BuildResult", quiet: bool) -> int:
    from btfembed.build.shards import write_partial

    path = write_partial(result, s)
    info = result.shard
    assert info is not None
    if not quiet:
        print(f"shard {info.index}/{info.count}: {len(result.kernels)} of {info.total} kernel(s), "
              f"{len(result.failed)} failed; wrote {path} (combine the shards with 'btfembed merge')")
    return 0


class _Progress:
    def __init__(self, enabled: bool, verbose: bool):
        self.enabled = enabled
        self.verbose = verbose
        self.start = time.monotonic()

    def __call__(self, r: "KernelResult", done: int, total: int) -> None:
        if self.verbose:
            how = "cached" if r.cached else f"{r.analyzed} analysed, {r.seconds:.2f}s"
            state = f"FAILED: {r.error}" if r.error else f"{len(r.blob or b'')} bytes, level {r.level}, {how}"
            self._clear()
            print(f"[{done}/{total}] {r.kernel.key}: {state}", file=sys.stderr)
        if self.enabled:
            elapsed = max(time.monotonic() - self.start, 1e-6)
            rate = done / elapsed
            eta = (total - done) / rate if rate else 0
            line = f"[{done}/{total}] {rate:.1f} kernels/s, ETA {eta:.0f}s"
            if done < total:  # the kernel just finished: where the build is
                line += f", done {r.kernel.key}"
            width = shutil.get_terminal_size(fallback=(100, 24)).columns - 1
            sys.stderr.write(f"\r\033[K{line[:max(width, 20)]}")
            sys.stderr.flush()

    def _clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")

    def close(self) -> None:
        if self.enabled:
            self._clear()
            sys.stderr.flush()


def write_and_report(result: "BuildResult", s: "Settings", quiet: bool) -> int:
    """Write the outputs of a complete build (or merge), warn about objects
    built for another architecture, print the table; ``CheckFailed`` for
    ``fail_on``.  Shared by ``build`` and ``merge``."""
    from btfembed.build.findings import arch_mismatches
    from btfembed.build.outputs import write_outputs
    from btfembed.build.report import fails, write_table

    write_outputs(result, s, warn=warn)
    for m in arch_mismatches(result):
        warn(m.message())
    if not quiet:
        write_table(result, sys.stdout, see=s.html or s.report or "--html/--report")
    bad = fails(result, s.fail_on)
    if bad:
        raise CheckFailed(f"{len(bad)} kernel(s) have {s.fail_on} (or worse) relocations, e.g. {bad[0].kernel.key}")
    return 0


def run(args: argparse.Namespace) -> int:
    from btfembed.build.outputs import check_complete
    from btfembed.build.run import build
    from btfembed.build.settings import settings_help

    if args.help_settings:
        print(settings_help())
        return 0
    s = _settings(args)
    shard = None
    if args.shard is not None:
        from btfembed.build.shards import parse_shard
        shard = parse_shard(args.shard)
    progress = _Progress(sys.stderr.isatty() and not args.quiet, args.verbose)
    try:
        result = build(s, progress=progress, warn=warn, shard=shard)
    finally:
        progress.close()
    check_complete(result, s)
    for k in result.failed:
        warn(f"{k.kernel.key}: {k.error}")
    if result.shard is not None:
        return _write_partial(s, result, args.quiet)
    return write_and_report(result, s, args.quiet)
