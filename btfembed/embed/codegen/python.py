"""Python output: a module ``NAME.py`` plus its data file ``NAME.btfpack``.

The data file is a btfembed pack (format 3, docs/pack-format.md) holding the
canonical table; the module is ``btfembed/embed/runtime.py`` copied verbatim (so
one implementation serves btfembed and every generated module), preceded by
a banner and docstring and followed by a few lines binding the module to its
data file.  The module imports only the standard library: a wheel that ships
it needs neither btfembed nor pyelftools at run time.

The data is read lazily (first lookup) with ``importlib.resources`` (works
from zip imports), falling back to the file next to ``__file__``, and is
checked against the size and sha256 recorded in the module, so a stale data
file is an error, not a silent mismatch.
"""

from __future__ import annotations

import ast
import hashlib
import re
from importlib import resources
from typing import Sequence

from btfembed import __version__

from btfembed.embed.codegen._table import canonical_table, table_pack_bytes
from btfembed.embed.codegen.c import check_app_ids
from btfembed.errors import ConfigError
from btfembed.embed.pack import Pack

__all__ = ["generate_python", "runtime_source", "DATA_SUFFIX"]

DATA_SUFFIX = ".btfpack"


def runtime_source(name: str = "runtime.py") -> str:
    """btfembed/embed/runtime.py (or another module of btfembed.embed)
    without its module docstring."""
    text = resources.files("btfembed.embed").joinpath(name).read_text("utf-8")
    tree = ast.parse(text)
    first = tree.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines = text.splitlines(keepends=True)
        text = "".join(lines[first.end_lineno:])
    return text.lstrip("\n")


_FOOTER = '''

# ---------------------------------------------------------------------------
# This module's data (written by btfembed generate; do not edit).

_DATA_FILE = {data_file!r}
_DATA_SIZE = {data_size}
_DATA_SHA256 = {data_sha!r}


def _read_data():
    data = None
    package = __spec__.parent if globals().get("__spec__") is not None else __package__
    if package:
        try:
            from importlib.resources import files

            data = files(package).joinpath(_DATA_FILE).read_bytes()
        except (ImportError, OSError, TypeError, ValueError, AttributeError):
            data = None
    if data is None:
        try:
            here = os.path.dirname(os.path.abspath(__file__))
        except NameError:
            raise InvalidPackError(f"{{_DATA_FILE}}: cannot locate the data file of {{__name__}}") from None
        try:
            with open(os.path.join(here, _DATA_FILE), "rb") as f:
                data = f.read()
        except OSError as exc:
            raise InvalidPackError(f"{{_DATA_FILE}}: cannot read the data file of {{__name__}}: {{exc}}") from None
    if len(data) != _DATA_SIZE or hashlib.sha256(data).hexdigest() != _DATA_SHA256:
        raise InvalidPackError(f"{{_DATA_FILE}} does not belong to {{__name__}} (regenerate both with btfembed generate)")
    return data


class _ModuleData:
    """The default source: this module's data file, read once."""

    _table = None

    def __btfembed_source__(self):
        if self._table is None:
            type(self)._table = _pack_table(_read_data(), _DATA_FILE)
        return self._table


_DEFAULT_SOURCE = _ModuleData()
__btfembed_source__ = _DEFAULT_SOURCE.__btfembed_source__
'''


_APP_FOOTER = '''

# ---------------------------------------------------------------------------
# Application keys (btfembed.embed.appid, copied above): the applications
# this module's BTF was built for (btfembed build --userspace APP[=VERSION]).

APP_IDS = {app_ids!r}


def matches_app(path=None, *, app_id=None, use_env=True, debug=False):
    """Whether this module's BTF was built for the application: the ELF file
    ``path`` (its GNU build id) or ``app_id`` (a build id or version string);
    ``BTFEMBED_APP=ID`` replaces both, ``BTFEMBED_DEBUG=1`` prints one line."""
    return app_matches(APP_IDS, path, app_id=app_id, use_env=use_env, debug=debug)
'''


def _app_source() -> str:
    """btfembed/embed/appid.py without its docstring and the imports the
    runtime already made (os, struct, sys)."""
    text = runtime_source("appid.py")
    text = re.sub(r"^from __future__ import annotations\n", "", text, flags=re.M)
    return text.replace("__all__ = [\"AppIdError\", \"build_id\", \"app_matches\"]\n", "")


def generate_python(pack: Pack, *, data_file: str, compress: bool | None = None, codec: str | None = None,
                    block_size: int | None = None, app_ids: Sequence[str] = ()) -> tuple[str, bytes]:
    """Return ``(module_text, data_bytes)`` for ``pack``.

    ``data_file`` is the name of the data file, in the module's directory
    (``write_python`` uses ``<module stem>.btfpack``, a pack in format 3);
    ``codec``: none, zlib (default), xz or zstd (``compress`` True/False is
    the older spelling of zlib/none).  Deterministic: the output depends only on
    the pack's content, the options and btfembed's version.  ``app_ids``:
    the applications the pack was built for; adds ``APP_IDS``,
    ``build_id()`` and ``matches_app()`` (``btfembed.embed.appid``), only
    when given.
    """
    ids = check_app_ids(app_ids)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", data_file or ""):
        raise ConfigError(f"data file name {data_file!r}: use letters, digits, '_', '.', '-' only")
    table = canonical_table(pack)
    if codec is None:
        codec = "none" if compress is False else "zlib"
    data = table_pack_bytes(pack, table, codec=codec, block_size=block_size)
    nk, nb = len(table.kernels), len(table.blobs)
    head = [
        f"# Generated by btfembed {__version__} (btfembed generate --lang python); do not edit.",
        f'"""Minimized kernel BTF for {nk} kernel{"s" if nk != 1 else ""} ({nb} unique '
        f'blob{"s" if nb != 1 else ""}, {table.raw_size()} bytes raw,',
        f"{codec + '-compressed' if codec != 'none' else 'uncompressed'}) and the btfembed runtime that picks the one",
        "for the running kernel.  Needs only the standard library.",
        "",
        f"The BTF is in the data file ``{data_file}`` next to this module; ship both",
        "(package data).  Content sha256: " + table.digest() + ".",
        "",
        "Use::",
        "",
        "    from mypkg import _btf",
        "",
        "    with _btf.btf_path() as path:   # None: the kernel has BTF, or no match",
        "        ...  # open and load the BPF object with btf_custom_path=path",
        "",
        "    _btf.lookup()      # status, running key, matched key, blob",
        "    _btf.find_btf()    # the raw BTF bytes, or None",
        "    _btf.kernels()     # the embedded kernel keys",
        "",
        "Overrides: force=True / BTFEMBED_FORCE=1 (ignore /sys/kernel/btf/vmlinux),",
        "BTFEMBED_OS_RELEASE, BTFEMBED_RELEASE, BTFEMBED_MACHINE, BTFEMBED_SYSFS_BTF,",
        "BTFEMBED_NO_MEMFD (see btfembed's documentation of its runtime).",
        '"""',
        "",
    ]
    text = "\n".join(head) + "\n" + runtime_source().rstrip("\n") + "\n" + _FOOTER.format(
        data_file=data_file, data_size=len(data), data_sha=hashlib.sha256(data).hexdigest())
    if ids:
        text += "\n\n# " + "-" * 75 + "\n# btfembed.embed.appid\n\n" + _app_source().rstrip("\n") + "\n"
        text += _APP_FOOTER.format(app_ids=ids)
    return text, data
