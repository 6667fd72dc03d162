"""``generate``: a pack -> C, Python, Go or Rust sources (and a depfile)."""

from __future__ import annotations

from typing import Sequence, Union

from btfembed.embed.pack import Pack, read_pack

__all__ = ["generate", "default_lang"]

LANGS = ("c", "python", "go", "rust")


def default_lang(output: str) -> str:
    """``python`` for an output ending in ``.py``, ``rust`` for ``.rs``, else ``c``."""
    return "python" if output.endswith(".py") else "rust" if output.endswith(".rs") else "c"


def generate(pack: Union[Pack, str], output: str, *, lang: str | None = None, prefix: str | None = None,
             compress: bool = False, codec: str | None = None, block_size: int | None = None,
             depfile: str | None = None,
             deps: Sequence[str] | None = None, go_package: str | None = None,
             go_import_path: str | None = None, app_ids: Sequence[str] = ()) -> list[str]:
    """Write sources embedding ``pack`` (a ``Pack``, or the path of a pack
    file) and return their paths, primary output first.

    ``lang`` is ``"c"`` (``NAME.c`` and ``NAME.h``; ``prefix`` starts every
    global symbol, default: from ``output``'s file name) or ``"python"``
    (``NAME.py`` and ``NAME.btfpack``), ``"go"`` (a package in the directory
    ``output``; ``go_package``, ``go_import_path``; zlib) or ``"rust"``
    (``NAME.rs`` and ``NAME.btfpack``); by default it follows
    ``output``'s suffix.  ``codec``: the pack's compression (none, zlib, xz,
    zstd; default zlib; Go and Rust read zlib and none only; ``compress`` is the older spelling of
    zlib); ``block_size``: raw bytes per compressed block.  ``depfile``
    also writes a Makefile-syntax depfile naming ``deps`` (default: the pack
    file) as what the primary output depends on; it is not in the returned
    list unless written.  ``app_ids``: the applications (build ids or
    versions) the pack was built for, recorded in C and Python output
    (``btfembed.embed.appid``); Go and Rust output does not record them.
    """
    from btfembed.embed.codegen import write_c, write_depfile, write_generated, write_python
    from btfembed.errors import ConfigError

    lang = lang or default_lang(output)
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if isinstance(pack, str):
        pack_path: str | None = pack
        pack = read_pack(pack)
    else:
        pack_path = None
    if codec is None and compress:
        codec = "zlib"
    if lang in ("go", "rust"):
        outputs = write_generated(pack, lang, output, package=go_package, import_path=go_import_path,
                                  codec=codec, block_size=block_size)
    elif go_package is not None or go_import_path is not None:
        raise ConfigError("the Go package name and import path apply to Go output only")
    elif lang == "c":
        outputs = write_c(pack, output, prefix=prefix, codec=codec or "zlib", block_size=block_size,
                          app_ids=app_ids)
    else:
        outputs = write_python(pack, output, codec=codec or "zlib", block_size=block_size, app_ids=app_ids)
    if depfile:
        if deps is None:
            deps = [pack_path] if pack_path else []
        write_depfile(depfile, outputs[0], list(deps))
        outputs = [*outputs, depfile]
    return outputs
