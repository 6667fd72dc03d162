"""btfembed's Meson helper: a subproject (``meson.build`` in this directory).

Meson has no user-defined functions, so the documented way to run btfembed
is one ``custom_target`` (README.md here).  This subproject shortens it:
copy it into your project with::

    python -m btfembed.meson subprojects/btfembed

and use ``subproject('btfembed')``: it provides ``btfembed_dep`` (the C
runtime's include directory; also ``dependency('btfembed')``),
``btfembed_command`` (``[python, '-m', 'btfembed']``), ``btfembed_version``
and ``btfembed_c``, a generator that turns one BPF object into
``<object>.btf.c``/``.h`` in a single ``process()`` call.
"""

from __future__ import annotations

import os
import shutil

__all__ = ["directory", "vendor", "FILES"]

# What a copy of the subproject consists of.
FILES = ("meson.build", "README.md")


def directory() -> str:
    """The directory of the subproject (this package's directory)."""
    from importlib import resources

    return os.fspath(resources.files(__name__))  # type: ignore[arg-type]


def vendor(dest: str) -> list[str]:
    """Copy the subproject to ``dest`` (created; existing files replaced).
    Returns the written paths."""
    os.makedirs(dest, exist_ok=True)
    out = []
    for name in FILES:
        target = os.path.join(dest, name)
        shutil.copyfile(os.path.join(directory(), name), target)
        out.append(target)
    return out
