"""Generators: turn a pack into C sources or a Python module.

API (used by ``btfembed generate`` and ``btfembed build --emit``)::

    from btfembed.embed.codegen import generate_c, generate_python, write_c, write_python, write_depfile

    c_text, h_text = generate_c(pack, prefix="mytool", compress=False)
    py_text, data = generate_python(pack, data_file="_btf.btfpack", compress=False)

    outputs = write_c(pack, "build/mytool_btf", prefix="mytool")     # writes .c and .h
    outputs = write_python(pack, "src/mypkg/_btf.py")                 # writes .py and .btfpack
    write_depfile("build/mytool_btf.d", outputs[0], [pack_path])

``pack`` is a ``btfembed.embed.pack.Pack``.  Every output is written atomically
(temporary file + rename), so its mtime always moves forward, as Make
needs, even when the content did not change.  Outputs are deterministic:
the same pack content (in any order) and options give the same bytes; no
timestamps or paths are embedded.

C output: see ``btfembed.embed.codegen.c`` and ``btfembed/include/btfembed.h``.
Python output: see ``btfembed.embed.codegen.python`` and ``btfembed.embed.runtime``.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from btfembed.embed.codegen._table import PackLike
from btfembed.embed.codegen.c import check_prefix, generate_c
from btfembed.embed.codegen.python import DATA_SUFFIX, generate_python
from btfembed.embed.codegen.go import default_package as default_go_package, generate_go
from btfembed.embed.codegen.rust import generate_rust, rust_output_paths
from btfembed.embed.pack import Pack
from btfembed.errors import ConfigError
from btfembed.inputs.files import atomic_write, ensure_dir

__all__ = [
    "generate_c", "generate_python", "write_c", "write_python", "write_depfile",
    "c_output_paths", "python_output_paths", "default_prefix", "check_prefix",
    "generate_go", "write_go", "default_go_package", "generate_rust", "write_rust", "rust_output_paths",
    "write_generated",
]


def c_output_paths(output: str) -> tuple[str, str]:
    """``NAME`` (or ``NAME.c`` / ``NAME.h``) -> (``NAME.c``, ``NAME.h``)."""
    base = output[:-2] if output.endswith((".c", ".h")) else output
    if not os.path.basename(base):
        raise ConfigError(f"--output {output!r}: needs a file name")
    return base + ".c", base + ".h"


def python_output_paths(output: str) -> tuple[str, str]:
    """``pkg/_btf`` or ``pkg/_btf.py`` -> (``pkg/_btf.py``, ``pkg/_btf.btfpack``)."""
    base = output[:-3] if output.endswith(".py") else output
    stem = os.path.basename(base)
    if not stem.isidentifier():
        raise ConfigError(f"--output {output!r}: {stem!r} is not a valid Python module name")
    return base + ".py", base + DATA_SUFFIX


def default_prefix(output: str) -> str:
    """A C prefix from an output name, without a trailing ``_btf`` (the
    functions add it): ``gen/my-tool_btf.c`` -> ``my_tool`` (so
    ``my_tool_btf_path()``), ``gen/probe`` -> ``probe``.  CMake's
    ``btfembed_add_library`` derives its default the same way."""
    stem = os.path.basename(c_output_paths(output)[0])[:-2]
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "btf"
    if prefix.endswith("_btf") and len(prefix) > 4:
        prefix = prefix[:-4]
    if prefix[0].isdigit():
        prefix = "_" + prefix
    if prefix == "btfembed" or prefix.startswith("btfembed__"):
        prefix = "gen_" + prefix
    return prefix


def _prepare(path: str) -> None:
    d = os.path.dirname(path)
    if d:
        ensure_dir(d)


def write_c(pack: PackLike, output: str, *, prefix: str | None = None, compress: bool | None = None,
            codec: str | None = None, block_size: int | None = None, app_ids: Sequence[str] = ()) -> list[str]:
    """Write ``NAME.c`` and ``NAME.h``; returns their paths (.c first).
    ``prefix`` defaults to ``default_prefix(output)``."""
    c_path, h_path = c_output_paths(output)
    c_text, h_text = generate_c(pack, prefix=prefix if prefix is not None else default_prefix(output),
                                compress=compress, codec=codec, block_size=block_size, app_ids=app_ids)
    _prepare(c_path)
    atomic_write(h_path, h_text)
    atomic_write(c_path, c_text)
    return [c_path, h_path]


def write_python(pack: Pack, output: str, *, compress: bool | None = None, codec: str | None = None,
                 block_size: int | None = None, app_ids: Sequence[str] = ()) -> list[str]:
    """Write the module and its data file; returns their paths (.py first)."""
    py_path, data_path = python_output_paths(output)
    text, data = generate_python(pack, data_file=os.path.basename(data_path), compress=compress, codec=codec,
                                 block_size=block_size, app_ids=app_ids)
    _prepare(py_path)
    atomic_write(data_path, data)
    atomic_write(py_path, text)
    return [py_path, data_path]


def write_go(pack: Pack, output: str, *, package: str | None = None, import_path: str | None = None,
             codec: str = "zlib", block_size: int | None = None) -> list[str]:
    """Write the Go package into the directory ``output`` (see
    ``btfembed.embed.codegen.go``); returns the paths, the pack first.
    ``package`` defaults to the directory's name made an identifier."""
    if not os.path.basename(output.rstrip("/")):
        raise ConfigError(f"--output {output!r}: needs a directory name")
    files = generate_go(pack, package=package or default_go_package(output), import_path=import_path,
                        codec=codec, block_size=block_size)
    ensure_dir(output)
    paths = []
    for name, data in files.items():
        path = os.path.join(output, name)
        atomic_write(path, data)
        paths.append(path)
    return paths


def write_rust(pack: Pack, output: str, *, codec: str = "zlib", block_size: int | None = None) -> list[str]:
    """Write ``NAME.rs`` and its pack ``NAME.btfpack``; returns their paths
    (.rs first)."""
    rs_path, data_path = rust_output_paths(output)
    text, data = generate_rust(pack, data_file=os.path.basename(data_path), codec=codec, block_size=block_size)
    _prepare(rs_path)
    atomic_write(data_path, data)
    atomic_write(rs_path, text)
    return [rs_path, data_path]


def write_generated(pack: Pack, lang: str, output: str, *, package: str | None = None, import_path: str | None = None,
                    codec: str | None = None, block_size: int | None = None) -> list[str]:
    """``--lang go`` / ``--lang rust`` (the CLI's and ``build --emit``'s one
    entry point): each language's default codec unless ``codec`` is given."""
    if lang == "go":
        return write_go(pack, output, package=package, import_path=import_path, codec=codec or "zlib",
                        block_size=block_size)
    if package is not None or import_path is not None:
        raise ConfigError("the Go package name and import path apply to Go output only")
    if lang == "rust":
        return write_rust(pack, output, codec=codec or "zlib", block_size=block_size)
    raise ConfigError(f"unknown output language {lang!r}")


def _make_escape(path: str) -> str:
    if "\n" in path or "\r" in path:
        raise ConfigError(f"path {path!r} contains a newline and cannot be written to a depfile")
    path = path.replace("$", "$$")
    return re.sub(r"([ #])", r"\\\1", path)


def write_depfile(depfile: str, target: str, deps: Sequence[str]) -> None:
    """Write a Makefile-syntax depfile (gcc -MD style: one target, spaces as
    ``\\ ``, ``#`` as ``\\#``, ``$`` as ``$$``) naming ``target`` and the
    absolute paths of ``deps``.  Write it after the outputs."""
    if not deps:
        raise ConfigError("a depfile needs at least one dependency")
    parts = [_make_escape(os.path.abspath(d)) for d in deps]
    text = _make_escape(target) + ": " + " \\\n  ".join(parts) + "\n"
    _prepare(depfile)
    atomic_write(depfile, text)
