"""Command line: ``btfembed <command> ...``.

Each sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with
the parsed namespace, returning an exit code).  This module only assembles
them and turns ``BTFEmbedError`` into one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from typing import Sequence

from btfembed import __version__
from btfembed.errors import BTFEmbedError

__all__ = ["main", "build_parser"]

# Sub-command modules, in the order ``--help`` lists them.
COMMANDS = (
    "build",
    "merge",
    "minimize",
    "explain",
    "verify",
    "dump",
    "generate",
    "doctor",
)

EPILOG = """\
exit status:
  0  success
  1  a check failed (verify or doctor found differences, build --fail-on)
  2  usage or configuration error
  3  invalid input (corrupt BTF, not a BPF object, bad access string, ...)
  4  file system error (missing, unreadable or unwritable path)

Run 'btfembed COMMAND --help' for each command's options and examples.
"""


def _resource_dir(package: str, sub: str = "") -> str:
    """The directory of an installed resource (importlib.resources, so that
    regular, editable and source-tree runs all give the real location)."""
    from importlib import resources

    path = resources.files(package)
    if sub:
        path = path.joinpath(sub)
    return str(path)  # a pathlib.Path for packages on disk


def _cmake_dir() -> str:
    """Where BTFEmbedConfig.cmake is: the ``btfembed.cmake`` package (the
    repository's top-level ``cmake/``, mapped into the package by
    pyproject.toml).  Run from a source checkout without installing, the
    package is not importable, or is another checkout's (an editable
    install elsewhere): use ``<checkout>/cmake``, next to this btfembed."""
    checkout = os.path.join(os.path.dirname(_resource_dir("btfembed")), "cmake")
    if os.path.isfile(os.path.join(checkout, "BTFEmbedConfig.cmake")):
        return checkout
    return _resource_dir("btfembed.cmake")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` (a command name), just that
    command's parser (what a run of that command needs: the other commands'
    modules are not imported)."""
    parser = argparse.ArgumentParser(
        prog="btfembed",
        description=(
            "Tailor kernel BTF to the CO-RE relocations of eBPF objects and embed "
            "the result in C programs and Python packages, so they run on kernels "
            "without /sys/kernel/btf/vmlinux."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        fromfile_prefix_chars="@",
    )
    parser.add_argument("--version", action="version", version=f"btfembed {__version__}")
    parser.add_argument(
        "--cmakedir",
        action="store_true",
        help="print the directory holding BTFEmbedConfig.cmake (for -DBTFEmbed_ROOT=...) and exit",
    )
    parser.add_argument(
        "--includedir",
        action="store_true",
        help="print the directory holding the C runtime header btfembed.h and exit "
        "(with --cmakedir: both, one per line, cmake first)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only in COMMANDS else COMMANDS:
        module = importlib.import_module(f"btfembed.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=given[0] if given else None)
    args = parser.parse_args(given)
    if args.cmakedir or args.includedir:
        if args.cmakedir:
            print(_cmake_dir())
        if args.includedir:
            print(_resource_dir("btfembed.embed", "include"))
        return 0
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _terminated) if _main_thread() else None
    try:
        return int(args.func(args) or 0)
    except _Terminated:
        print("btfembed: terminated", file=sys.stderr)
        return 143
    except BTFEmbedError as exc:
        print(f"btfembed: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("btfembed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into something that stopped reading (``| head``).
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so it stops as on Ctrl-C:
    workers stopped, temporaries removed, nothing half-written."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()
