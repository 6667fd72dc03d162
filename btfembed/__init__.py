"""btfembed: tailored kernel BTF for CO-RE eBPF programs, embedded at build time.

The public API (see docs/api.md)::

    import btfembed

    kernel = btfembed.open_kernel("/sys/kernel/btf/vmlinux")
    obj = btfembed.open_object("prog.bpf.o")
    result = btfembed.minimize([obj], kernel)        # .data: BTF bytes, .summaries
    for sums in btfembed.explain([obj], kernel):
        for s in sums:
            print(s.program, s.access, btfembed.describe(s))
    assert btfembed.verify([obj], kernel, result.data).ok

    settings = btfembed.load_settings("btfembed.toml")
    built = btfembed.build(settings)                 # a BuildResult; writes nothing
    btfembed.write_outputs(built, settings)          # BTF files, pack, reports, sources
    btfembed.generate("out/btfembed.pack", "gen/min_btf.c")

Names are loaded on first use, so ``import btfembed`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> (module, attribute).  ``minimize`` and ``build`` are also
# the names of sub-packages, which are callable (see ``btfembed._entry``).
_EXPORTS: dict[str, tuple[str, str]] = {
    "open_btf": ("btfembed.inputs.containers", "load_btf"),
    "open_kernel": ("btfembed.inputs.kernel", "open_kernel"),
    "open_object": ("btfembed.inputs.objects", "load_object"),
    "minimize": ("btfembed", "minimize"),
    "explain": ("btfembed.minimize.api", "explain"),
    "verify": ("btfembed.minimize.api", "verify"),
    "build": ("btfembed", "build"),
    "write_outputs": ("btfembed.build.outputs", "write_outputs"),
    "load_settings": ("btfembed.build.settings", "load_settings"),
    "find_settings_file": ("btfembed.build.settings", "find_settings_file"),
    "generate": ("btfembed.embed.generate", "generate"),
    "describe": ("btfembed.core.results", "describe"),
    "BTF": ("btfembed.btf.reader", "BTF"),
    "Target": ("btfembed.core.resolve", "Target"),
    "BpfObject": ("btfembed.inputs.objects", "BpfObject"),
    "CoreObject": ("btfembed.core.objects", "CoreObject"),
    "ObjectData": ("btfembed.core.objects", "ObjectData"),
    "Summary": ("btfembed.core.results", "Summary"),
    "Status": ("btfembed.core.status", "Status"),
    "RelocKind": ("btfembed.core.kinds", "RelocKind"),
    "Level": ("btfembed.minimize.levels", "Level"),
    "Difference": ("btfembed.core.results", "Difference"),
    "Minimized": ("btfembed.minimize.engine", "Minimized"),
    "Verification": ("btfembed.minimize.api", "Verification"),
    "Settings": ("btfembed.build.settings", "Settings"),
    "KernelSpec": ("btfembed.build.settings", "KernelSpec"),
    "BuildResult": ("btfembed.build.pipeline", "BuildResult"),
    "KernelResult": ("btfembed.build.pipeline", "KernelResult"),
    "BTFEmbedError": ("btfembed.errors", "BTFEmbedError"),
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from btfembed.btf.reader import BTF as BTF
    from btfembed.build.outputs import write_outputs as write_outputs
    from btfembed.build.pipeline import BuildResult as BuildResult, KernelResult as KernelResult
    from btfembed.build.run import build as build
    from btfembed.build.settings import (
        KernelSpec as KernelSpec, Settings as Settings, find_settings_file as find_settings_file,
        load_settings as load_settings,
    )
    from btfembed.core.objects import CoreObject as CoreObject, ObjectData as ObjectData
    from btfembed.core.kinds import RelocKind as RelocKind
    from btfembed.core.resolve import Target as Target
    from btfembed.core.status import Status as Status
    from btfembed.minimize.levels import Level as Level
    from btfembed.core.results import Difference as Difference, Summary as Summary, describe as describe
    from btfembed.embed.generate import generate as generate
    from btfembed.errors import BTFEmbedError as BTFEmbedError
    from btfembed.inputs.containers import load_btf as open_btf
    from btfembed.inputs.kernel import open_kernel as open_kernel
    from btfembed.inputs.objects import BpfObject as BpfObject, load_object as open_object
    from btfembed.minimize.api import (
        Verification as Verification, explain as explain, minimize as minimize, verify as verify,
    )
    from btfembed.minimize.engine import Minimized as Minimized


def __getattr__(name: str) -> Any:
    entry = _EXPORTS.get(name)
    if entry is None:
        raise AttributeError(f"module 'btfembed' has no attribute {name!r}")
    module, attr = entry
    if module == "btfembed":  # a callable sub-package
        value = importlib.import_module(f"btfembed.{attr}")
    else:
        value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
