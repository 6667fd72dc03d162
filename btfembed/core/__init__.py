"""The CO-RE engine: libbpf's relocation rules as pure functions over BTF.

Nothing here reads files or prints: callers pass parsed BTF and records and
get plain results back.  Modules: ``kinds`` (relocation kinds), ``spec``
(access strings), ``match`` (compatibility relations), ``calc`` (values and
the candidate loop), ``candidates`` (candidate search), ``resolve``
(per-object driver), ``patch`` (instruction patching), ``objects`` (the
``CoreObject`` protocol that minimization takes, and ``ObjectData``),
``status`` (``Status`` of a relocation), ``records`` (``CoreRecord``),
``results`` (``Summary``, ``compare``, ``describe``).

May import: ``btfembed.errors`` and ``btfembed.btf`` only; no I/O modules
(files, processes, ``os``, ``sys``), no ELF (tests/test_layers.py).
"""

from btfembed.core.calc import Candidate, Outcome, Values
from btfembed.core.kinds import RelocKind
from btfembed.core.objects import CoreObject, ObjectData
from btfembed.core.resolve import RelocResult, Target, resolve_relocations
from btfembed.core.spec import Spec, format_spec, parse_spec

__all__ = ["CoreObject", "ObjectData", "RelocKind", "Spec", "parse_spec", "format_spec", "Candidate", "Outcome", "Values",
           "Target", "RelocResult", "resolve_relocations"]
