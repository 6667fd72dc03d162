"""``btfembed merge``: combine the partial files of a sharded build."""

from __future__ import annotations

import argparse

from btfembed.cli._common import warn

HELP = """\
Combine the N partial files written by 'btfembed build --shard K/N' (one per
CI job, say) into the outputs of one unsharded build: the BTFHub tree and
btfembed.pack in --out-dir, --report, --html and generated sources
(--emit), byte-identical to what 'btfembed build' without --shard writes.

Every shard 1..N must be given exactly once, and all must come from the
same btfembed version, objects, options and kernel list; damaged partials
are refused.  The partials carry everything needed (objects included), so
no kernel or object file is read.

Settings (out_dir, report, html, compress, emit, output, prefix, fail_on,
keep_going) may come from btfembed.toml or [tool.btfembed] in
pyproject.toml in the current directory (or --config); options win.

examples:
  btfembed merge parts/shard-*-of-4.btfembed-partial --out-dir out --report report.json
  btfembed merge parts/*.btfembed-partial --out-dir out --emit c --output gen/min_btf
"""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("merge", help="combine the partials of 'build --shard K/N' into the build's outputs",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("partials", metavar="PARTIAL", nargs="+", help="partial files (shard-K-of-N.btfembed-partial)")
    p.add_argument("--out-dir", "-o", metavar="DIR", help="output directory")
    p.add_argument("--report", metavar="FILE", help="write a JSON report")
    p.add_argument("--html", metavar="FILE", help="write an HTML kernel x program matrix")
    p.add_argument("--config", metavar="FILE", help="settings file (default: ./btfembed.toml or ./pyproject.toml)")
    p.add_argument("--fail-on", choices=["never", "ambiguous", "poisoned"],
                   help="exit 1 if a relocation is ambiguous (libbpf refuses the object) or poisoned")
    p.add_argument("--keep-going", action="store_true", default=None,
                   help="write the kernels that worked even if others failed, and exit 0")
    p.add_argument("--compress", action="store_true", default=None, help="zlib-compress blobs in pack and sources")
    p.add_argument("--emit", choices=["c", "python"], help="also generate sources embedding the pack")
    p.add_argument("--output", metavar="NAME", help="with --emit: NAME.c/NAME.h, or the .py module path")
    p.add_argument("--prefix", metavar="P", help="with --emit c: symbol prefix")
    p.add_argument("--quiet", "-q", action="store_true", help="no table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from btfembed.build.outputs import check_complete
    import dataclasses
    import os

    from btfembed.build.settings import find_settings_file, merge_settings
    from btfembed.build.shards import merge_partials

    path = args.config or find_settings_file(".")
    cli: dict[str, object] = {}
    for name in ("out_dir", "report", "html", "fail_on", "keep_going", "compress", "emit", "output", "prefix"):
        value = getattr(args, name)
        if value is not None:
            cli[name] = value
    # The kernels are the partials'; a depfile names the build's inputs:
    # write it from 'build'.
    s = dataclasses.replace(merge_settings(path, os.environ, cli), kernels=[], depfile=None)
    result, options = merge_partials(args.partials)
    s = dataclasses.replace(s, compat=options.compat, header_size=options.header_size)
    check_complete(result, s)
    for k in result.failed:
        warn(f"{k.kernel.key}: {k.error}")
    from btfembed.cli.build import write_and_report

    return write_and_report(result, s, args.quiet)
