"""``btfembed build``: minimize BTF for many kernels at once."""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

from typing import TYPE_CHECKING

from btfembed.cli._common import warn
from btfembed.errors import BTFEmbedError, CheckFailed, ConfigError
from btfembed.inputs.files import atomic_write, ensure_dir

if TYPE_CHECKING:  # heavy modules are imported when the command runs
    from btfembed.build.pipeline import KernelResult
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
pyproject.toml in the current directory (or --config); options given here
win.  'btfembed build --help-settings' lists them.

examples:
  btfembed build prog.bpf.o --kernels btfhub-archive --out-dir out --report report.json
  btfembed build *.bpf.o --kernels btfhub-archive --arch x86_64 --release '5.4.*'
  btfembed build prog.bpf.o --kernels sysfs --emit c --output gen/min_btf
  btfembed build            # everything from ./btfembed.toml
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="minimize BTF for objects across a list of kernels (with cache and report)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("objects", metavar="OBJECT", nargs="*", help="BPF objects (or glob patterns)")
    p.add_argument("--kernels", "-k", metavar="SRC", action="append", default=None, help="kernel source (repeatable)")
    p.add_argument("--out-dir", "-o", metavar="DIR", help="output directory")
    p.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: one per CPU)")
    p.add_argument("--report", metavar="FILE", help="write a JSON report")
    p.add_argument("--html", metavar="FILE", help="write an HTML kernel x program matrix")
    p.add_argument("--config", metavar="FILE", help="settings file (default: ./btfembed.toml or ./pyproject.toml)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: $XDG_CACHE_HOME/btfembed)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--kernel-store-max", metavar="SIZE",
                   help="size limit of the kernel store in the cache, e.g. 8G, 500M; 0 disables it "
                        "(default: 8G, a BTFHub-scale run)")
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
    p.add_argument("--compat", choices=["bpftool"], help="minimize exactly as bpftool 7.1 does")
    p.add_argument("--header-size", type=int, choices=[24, 32], help="BTF header length of the outputs")
    p.add_argument("--compress", action="store_true", default=None, help="zlib-compress blobs in pack and sources")
    p.add_argument("--emit", choices=["c", "python"], help="also generate sources embedding the pack")
    p.add_argument("--output", metavar="NAME", help="with --emit: NAME.c/NAME.h, or the .py module path")
    p.add_argument("--prefix", metavar="P", help="with --emit c: symbol prefix")
    p.add_argument("--depfile", metavar="FILE", help="with --emit: write a Makefile-syntax depfile")
    p.add_argument("--verbose", "-v", action="store_true", help="one line per kernel")
    p.add_argument("--quiet", "-q", action="store_true", help="no table and no progress")
    p.add_argument("--help-settings", action="store_true", help="list the settings file keys and exit")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> "Settings":
    from btfembed.build.kernels import parse_source_arg
    from btfembed.build.settings import Settings, find_settings_file, load_settings

    path = args.config or find_settings_file(".")
    s = load_settings(path) if path else Settings()
    s.source = path
    if args.objects:
        s.objects = list(args.objects)
    if args.kernels:
        s.kernels = [parse_source_arg(k) for k in args.kernels]
    for name in ("out_dir", "jobs", "report", "html", "cache_dir", "fail_on", "keep_going", "header_size",
                 "compress", "emit", "output", "prefix", "depfile", "kernel_store_max", "executor"):
        value = getattr(args, name)
        if value is not None:
            setattr(s, name, value)
    for name in ("arch", "distro", "release"):
        if getattr(args, name):
            setattr(s, name, getattr(args, name))
    if args.compat:
        s.compat = True
    if args.no_cache:
        s.cache = False
    s.validate()
    return s


def _expand_objects(patterns: list[str]) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        matches = sorted(glob.glob(pat, recursive=True)) if glob.has_magic(pat) else [pat]
        if not matches:
            raise ConfigError(f"no object matches {pat!r}")
        out += matches
    return out


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
            sys.stderr.write(f"\r\033[K[{done}/{total}] {rate:.1f} kernels/s, ETA {eta:.0f}s")
            sys.stderr.flush()

    def _clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")

    def close(self) -> None:
        if self.enabled:
            self._clear()
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from btfembed.build.cache import Cache, default_cache_dir
    from btfembed.build.kernels import apply_filters, discover
    from btfembed.build.pipeline import Options, load_object_inputs, run_build
    from btfembed.build.report import fails, write_table
    from btfembed.build.settings import settings_help
    from btfembed.build.store import parse_size

    if args.help_settings:
        print(settings_help())
        return 0
    s = _settings(args)
    if not s.objects:
        raise ConfigError("no BPF objects: give them as arguments or set 'objects' in btfembed.toml")
    if not s.kernels:
        raise ConfigError("no kernels: give --kernels SRC or set 'kernels' in btfembed.toml")
    objects = load_object_inputs(_expand_objects(s.objects))
    for o in objects:
        if not o.obj.has_ext:
            warn(f"{o.path}: no .BTF.ext section, so no CO-RE relocations")
    kernels = apply_filters(discover(s.kernels), arch=s.arch, distro=s.distro, release=s.release)
    if not kernels:
        raise ConfigError("the kernel list is empty (after filters)")
    cache = Cache((s.cache_dir or default_cache_dir()) if s.cache else None)
    progress = _Progress(sys.stderr.isatty() and not args.quiet, args.verbose)
    try:
        build = run_build(objects, kernels, options=Options(s.compat, s.header_size), cache=cache,
                          jobs=s.jobs, progress=progress, store_max=parse_size(s.kernel_store_max),
                          executor=s.executor)
    finally:
        progress.close()

    failed = build.failed
    if failed and not s.keep_going:
        first = failed[0]
        raise _BuildFailed(f"{len(failed)} of {len(build.kernels)} kernel(s) failed, nothing written; "
                           f"first: {first.kernel.key} ({first.kernel.path}): {first.error}")
    for k in failed:
        warn(f"{k.kernel.key}: {k.error}")

    _write_outputs(s, build)
    if not args.quiet:
        write_table(build, sys.stdout)
    bad = fails(build, s.fail_on)
    if bad:
        raise CheckFailed(f"{len(bad)} kernel(s) have {s.fail_on} (or worse) relocations, e.g. {bad[0].kernel.key}")
    return 0


class _BuildFailed(BTFEmbedError):
    exit_code = 3


def _write_outputs(s: "Settings", build) -> None:
    from btfembed.embed.pack import build_pack, encode_pack
    from btfembed.build.report import dump_json, to_html, to_json

    ensure_dir(s.out_dir)
    paths = {}
    files: list[tuple[str, bytes]] = []
    for k in build.ok:
        rel = k.kernel.key.path()
        paths[k.kernel.key] = rel
        files.append((os.path.join(s.out_dir, rel), k.blob))
    pack = build_pack([(k.kernel.key, k.blob) for k in build.ok])
    files.append((os.path.join(s.out_dir, "btfembed.pack"), encode_pack(pack, compress=s.compress)))
    if s.report:
        files.append((s.report, dump_json(to_json(build, paths)).encode()))
    if s.html:
        files.append((s.html, to_html(build).encode()))
    for path, data in files:
        ensure_dir(os.path.dirname(os.path.abspath(path)))
        atomic_write(path, data)
    if s.emit:
        _emit(s, pack, build)


def _emit(s: "Settings", pack, build) -> None:
    from btfembed.embed.codegen import write_c, write_depfile, write_python

    if s.emit == "c":
        outputs = write_c(pack, s.output, prefix=s.prefix, compress=s.compress)
    else:
        outputs = write_python(pack, s.output, compress=s.compress)
    if s.depfile:
        # Everything that can change the output: objects, kernel files, the
        # source directories (new kernels change their mtime), settings.
        deps = [o.path for o in build.objects] + [k.kernel.path for k in build.kernels]
        deps += [k.path for k in s.kernels if os.path.isdir(k.path)]
        if s.source:
            deps.append(s.source)
        write_depfile(s.depfile, outputs[0], sorted(set(deps)))
