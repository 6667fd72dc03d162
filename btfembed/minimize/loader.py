"""Output for older BPF loaders: BTF kinds they cannot parse rewritten into
kinds they can.

libbpf parses BTF with a size table per kind (``btf_type_size``) and
refuses the whole BTF on a kind it does not know ("Unsupported
BTF_KIND:19"), so a minimized BTF holding one ENUM64 is useless to a tool
built on libbpf 0.x.  The kinds each release parses (from its ``btf.c``):

===============  ==========================================================
level            parses
===============  ==========================================================
``libbpf``       everything btfembed writes (the default; libbpf >= 1.0)
``libbpf-0.6``   libbpf 0.6-0.8: no ENUM64, no signedness flag on enums
``libbpf-0.4``   libbpf 0.4-0.5: also no DECL_TAG, TYPE_TAG
``libbpf-0.3``   libbpf 0.0.3-0.3 (VAR/DATASEC era): also no FLOAT;
                 ``libbpf-0.x`` is the same level
===============  ==========================================================

Rewrites (type ids and names are kept, so nothing else moves):

* ENUM64 -> ENUM of the same size and name with 32-bit values; libbpf reads
  ENUM values as s32 sign-extended to 64 bits, so a value fits when it is
  the sign extension of its low 32 bits (``(u64)-512`` does, ``1 << 32`` and
  ``0x80000000`` do not); one that does not keeps its low 32 bits and is
  reported;
* the kind_flag (signedness) of ENUM is cleared, as libbpf itself does for
  kernels without ENUM64;
* TYPE_TAG -> CONST (anonymous), DECL_TAG -> 1-byte INT, FLOAT -> an
  anonymous empty STRUCT of the same size: libbpf's own sanitization for
  kernels that lack those kinds (CO-RE skips CONST like TYPE_TAG).

Afterwards every relocation of every object is resolved again against the
rewritten BTF, under the rules btfembed's engine implements (libbpf >= 1.0),
and each one whose result differs from the full kernel's is returned as
*lost*: the output serves the others exactly.  Loaders older than 1.0 also
apply older value rules that btfembed does not model (they read every enum
value as signed 32-bit and report every enum as signed for FIELD_SIGNED).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.btf.types import Composite, Enum, EnumValue, Int, Type, make_info
from btfembed.btf.writer import Builder
from btfembed.core.objects import CoreObject
from btfembed.core.resolve import Target
from btfembed.core.results import Difference, Summary, compare
from btfembed.errors import ConfigError

__all__ = ["LOADERS", "Loader", "LoaderOutput", "rewrite", "for_loader", "loader_names", "get_loader",
           "loader_notes"]


class Loader(NamedTuple):
    name: str
    kinds: frozenset[int]      # kinds the loader parses
    enum_kflag: bool           # understands signed enums (kind_flag on ENUM)
    about: str


_ALL = frozenset(range(1, wire.KNOWN_KINDS))
_V06 = _ALL - {wire.ENUM64}
_V04 = _V06 - {wire.DECL_TAG, wire.TYPE_TAG}
_V03 = _V04 - {wire.FLOAT}

LOADERS: dict[str, Loader] = {
    "libbpf": Loader("libbpf", _ALL, True, "libbpf >= 1.0: no rewriting"),
    "libbpf-0.6": Loader("libbpf-0.6", _V06, False, "libbpf 0.6-0.8: ENUM64 and signed enums rewritten"),
    "libbpf-0.4": Loader("libbpf-0.4", _V04, False, "libbpf 0.4-0.5: also DECL_TAG and TYPE_TAG"),
    "libbpf-0.3": Loader("libbpf-0.3", _V03, False, "libbpf 0.0.3-0.3: also FLOAT"),
}
_ALIASES = {"libbpf-1.0": "libbpf", "libbpf-0.x": "libbpf-0.3", "libbpf-0.7": "libbpf-0.6",
            "libbpf-0.8": "libbpf-0.6", "libbpf-0.5": "libbpf-0.4"}


def loader_names() -> list[str]:
    return [*LOADERS, *_ALIASES]


def get_loader(name: str) -> Loader:
    canonical = _ALIASES.get(name, name)
    if canonical not in LOADERS:
        raise ConfigError(f"unknown loader {name!r} (one of: {', '.join(loader_names())})")
    return LOADERS[canonical]


class LoaderOutput(NamedTuple):
    data: bytes
    rewritten: dict[str, int]               # "ENUM64 -> ENUM": count
    truncated: tuple[str, ...]              # enumerators whose value did not fit 32 bits
    lost: tuple[tuple[int, Difference], ...]   # (object index, relocation that changed)


def _fits(t: Enum) -> list[str]:
    """Enumerators whose 64-bit value an ENUM cannot carry: libbpf reads
    ENUM values as s32, sign-extended, so a value fits when it is the sign
    extension of its low 32 bits."""
    bad = []
    for i, v in enumerate(t.values):
        low = v.raw & 0xFFFFFFFF
        if ((low - (1 << 32) if low >> 31 else low) & 0xFFFFFFFFFFFFFFFF) != v.raw & 0xFFFFFFFFFFFFFFFF:
            bad.append(f"enum {t.name or '(anon)'}: {v.name} = {t.value(i)}")
    return bad


def _downgrade(t: Type, loader: Loader, counts: dict[str, int], truncated: list[str]) -> Type:
    kind = t.kind
    if kind in loader.kinds and not (kind == wire.ENUM and t.kflag and not loader.enum_kflag):
        return t

    def note(what: str) -> None:
        counts[what] = counts.get(what, 0) + 1

    if kind == wire.ENUM64 and isinstance(t, Enum):
        truncated += _fits(t)
        note("ENUM64 -> ENUM")
        kflag = t.kflag if loader.enum_kflag else 0
        values = [EnumValue(v.name, v.raw & 0xFFFFFFFF, v.name_off) for v in t.values]
        return Enum(wire.ENUM, t.name, make_info(wire.ENUM, len(values), kflag), t.size_type, t.name_off, values)
    if kind == wire.ENUM and isinstance(t, Enum):
        note("signed ENUM -> ENUM")
        return Enum(wire.ENUM, t.name, make_info(wire.ENUM, t.vlen, 0), t.size_type, t.name_off, t.values)
    if kind == wire.TYPE_TAG:
        note("TYPE_TAG -> CONST")
        return Type(wire.CONST, "", make_info(wire.CONST), t.size_type)
    if kind == wire.DECL_TAG:
        note("DECL_TAG -> INT")
        return Int(wire.INT, t.name, make_info(wire.INT), 1, t.name_off, data=8)
    if kind == wire.FLOAT:
        note("FLOAT -> STRUCT")
        return Composite(wire.STRUCT, "", make_info(wire.STRUCT), t.size_type, 0, ())
    raise ConfigError(f"BTF kind {wire.KIND_NAMES.get(kind, kind)} cannot be rewritten for {loader.name}")


def rewrite(data: bytes, loader: Loader, *, hdr_len: int = wire.HEADER_LEN) -> LoaderOutput:
    """``data`` (a standalone BTF) with the kinds ``loader`` cannot parse
    rewritten; ids unchanged.  ``lost`` is left empty (see ``for_loader``)."""
    btf = BTF(data, source="<minimized>")
    counts: dict[str, int] = {}
    truncated: list[str] = []
    types = [_downgrade(t, loader, counts, truncated) for _tid, t in btf.types()]
    if not counts:
        return LoaderOutput(data, {}, (), ())
    builder = Builder()
    for t in types:
        builder.add(t)
    out = builder.to_bytes(byte_order=btf.byte_order, hdr_len=hdr_len)
    return LoaderOutput(out, dict(sorted(counts.items())), tuple(truncated), ())


def for_loader(objects: Sequence[CoreObject], summaries: Sequence[Sequence[Summary]], data: bytes,
               old_ids: dict[int, tuple[int, int]], loader: Loader, *, hdr_len: int = wire.HEADER_LEN) -> LoaderOutput:
    """Rewrite a minimized BTF for ``loader`` and list the relocations
    (against the full target: ``summaries``) whose result it changes.
    ``old_ids`` maps the minimized ids to the full target's (for
    TYPE_ID_TARGET)."""
    out = rewrite(data, loader, hdr_len=hdr_len)
    if not out.rewritten:
        return out
    # Late import: the engine imports this module's layer peers.
    from btfembed.minimize.engine import summarize_object

    target = Target(BTF(out.data, source=f"<minimized for {loader.name}>"))
    lost: list[tuple[int, Difference]] = []
    for i, (obj, full) in enumerate(zip(objects, summaries)):
        lost += [(i, d) for d in compare(full, summarize_object(obj, target), id_map=old_ids)]
    return out._replace(lost=tuple(lost))


def loader_notes(out: LoaderOutput, loader: Loader, sources: Sequence[str]) -> tuple[str, ...]:
    """One line per fact worth telling: what was rewritten, values that did
    not fit, each relocation lost (``sources`` names the objects)."""
    if not out.rewritten:
        return ()
    done = ", ".join(f"{n} {what}" for what, n in out.rewritten.items())
    notes = [f"for {loader.name}: rewrote {done}"]
    notes += [f"for {loader.name}: value does not fit 32 bits: {t}" for t in out.truncated]
    notes += [f"for {loader.name}: relocation not kept: {sources[i]}: {d.line()}" for i, d in out.lost]
    return tuple(notes)
