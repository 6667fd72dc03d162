"""Per-kernel memos that let ``btfembed build`` skip work on a changed object.

* ``OutcomeBook``: one kernel's relocation outcomes, as the pieces
  ``minimize.pieces`` assembles analyses from: the first candidate list of
  each local root (by kind and essential name) and the piece of each
  distinct relocation (by local fingerprint and the candidate list it met),
  with the kernel types their marks refer to (in a second entry, read only
  when an emission is not remembered).  An object whose relocations
  are all in the book is analysed without opening the kernel; otherwise
  only its unknown relocations are resolved against it, and the book
  learns them.  One entry per kernel and option set, read in one file
  read, rewritten when it learned something.
* ``CheckMemo``: which objects were already checked clean against an emitted
  BTF (``minimize.assemble`` re-resolves every object against what it emits;
  an object whose check is remembered is not resolved again), and a book of
  the relocation outcomes on that BTF, so an object that must be checked
  is replayed over them (only relocations not in it are resolved).  An
  entry is keyed by the options, the kernel's digest, the emitted bytes and
  their id mapping (``Emitted.old_ids``), and lists the digests of the
  objects that resolve against those bytes exactly as against the full
  kernel.  A check reads nothing else: the object, its summaries on the full
  kernel (a function of kernel, object and options) and the emitted BTF.

Entries are ``Cache`` entries (digest-verified; a damaged one is a miss,
counted in ``Cache.damaged``, and is rewritten).
"""

from __future__ import annotations

import hashlib
from typing import AbstractSet, Any, Callable, Mapping, Sequence

from btfembed.btf.reader import BTF
from btfembed.btf.types import Type, from_plain, to_plain
from btfembed.build.cache import Cache, blob_from_plain, blob_to_plain, digest
from btfembed.core.kinds import RelocKind
from btfembed.core.spec import Spec
from btfembed.core.status import Status
from btfembed.core.objects import CoreObject
from btfembed.core.resolve import Target
from btfembed.core.results import Summary
from btfembed.errors import BTFEmbedError
from btfembed.minimize.blob import Emitted, Key
from btfembed.minimize.engine import summarize_object
from btfembed.minimize.pieces import Cands, KernelPieces, LocalPlan, Piece, piece_key, replay, summaries_of

__all__ = ["CheckMemo", "OutcomeBook", "MissingTypes"]


def _book(value: Any) -> dict[str, Any]:
    if not (isinstance(value, dict) and isinstance(value.get("cands"), dict) and isinstance(value.get("pieces"), dict)
            and isinstance(value.get("types"), list) and value.get("byte_order") in ("little", "big", None)
            and isinstance(value.get("clean"), list) and all(isinstance(d, str) for d in value["clean"])):
        raise ValueError("not an outcome book")
    return value


class MissingTypes(KeyError):
    """A book's piece marks a type its types entry does not hold."""


def _plain_types(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("not a type table")
    return value


def _cands(value: Any) -> Cands:
    return tuple((int(w), int(t)) for w, t in value)


def _optional_tuple(value: Any) -> Any:
    return None if value is None else tuple(value)


def _parts_to_plain(parts: tuple[Any, ...]) -> list[Any]:
    return [int(parts[0]), *parts[1:11], None if parts[11] is None else list(parts[11]),
            None if parts[12] is None else list(parts[12])]


_KINDS = {int(k): k for k in RelocKind}
_STATUSES = {str(st): st for st in Status}


def _parts_from_plain(v: list[Any]) -> tuple[Any, ...]:
    """Summary fields as ``_parts_to_plain`` wrote them (the entry's digest
    was checked: this only restores the types JSON does not keep)."""
    if len(v) != 13:
        raise ValueError("summary fields")
    target, ident = v[11], v[12]
    return (_KINDS[v[0]], v[1], _STATUSES[v[2]], *v[3:11], None if target is None else tuple(target),
            None if ident is None else tuple(ident))


MAX_EMITTED = 8   # emissions an outcome book remembers (the most recent)


def _type_key(name: str) -> Key:
    w, _, t = name.partition(":")
    return int(w), int(t)


class OutcomeBook:
    """``minimize.pieces.PieceSink`` over the build cache, for one kernel
    (or, with ``emitted``, for the BTF emitted for it: see ``CheckMemo``)."""

    def __init__(self, cache: Cache, options_key: Sequence[object], kernel_digest: str,
                 emitted: list[object] | None = None, kind: str = "outcomes"):
        self.cache = cache
        self.kind = kind
        self.deps: dict[str, object] = {"options": list(options_key), "kernel": kernel_digest}
        if emitted is not None:
            self.deps["emitted"] = emitted
        self.key = digest(kind, self.deps)
        self._data: dict[str, Any] | None = None
        self._cands: dict[str, Cands] = {}
        self._types: dict[Key, Type] = {}
        self._typekeys: set[Key] = set()
        self._plain_types: dict[str, Any] | None = None   # the types entry, read when a type is asked for
        self._types_dirty = False
        self.fallback: Callable[[Key], Type] | None = None   # the kernel's types, once it is open
        self.dirty = False
        self.persisted = False      # the book was read from the cache
        self._fresh: set[str] = set()   # entries learned by this process (not read from the cache)
        self.used_fresh = False     # a lookup answered from a fresh entry (reset by the caller)

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            hit = self.cache.get(self.kind, self.key, self.deps, _book)
            self.persisted = hit is not None
            self._data = hit if hit is not None else {"cands": {}, "pieces": {}, "types": [], "byte_order": None,
                                                      "clean": []}
            self._typekeys = {_type_key(name) for name in self._data["types"]}
        return self._data

    @property
    def byte_order(self) -> str | None:
        """The kernel's byte order (None: not known yet, see ``set_byte_order``)."""
        order = self._load()["byte_order"]
        return None if order is None else str(order)

    def set_byte_order(self, order: str) -> None:
        data = self._load()
        if data["byte_order"] != order:
            data["byte_order"] = order
            self.dirty = True

    def use_kernel(self, target: Target) -> Callable[[Key], Type]:
        """The kernel is open: the book learns its byte order, and types its
        types entry lacks are read from it (``type_of``).  Returns the
        kernel's type lookup by key."""
        btfs = list(target.btfs)

        def kernel_type(key: Key) -> Type:
            return btfs[key[0]].type(key[1])

        self.set_byte_order(target.kernel.byte_order)
        self.fallback = kernel_type
        return kernel_type

    def candidates(self, root_key: str, tid: int) -> Cands | None:
        if root_key in self._fresh:
            self.used_fresh = True
        got = self._cands.get(root_key)
        if got is None:
            raw = self._load()["cands"].get(root_key)
            if raw is None:
                return None
            try:
                got = self._cands[root_key] = _cands(raw)
            except (TypeError, ValueError):
                return None
        return got

    def piece(self, fingerprint: str | None, g: int, spec: Spec, cands: Cands) -> Piece | None:
        if fingerprint is None:
            return None
        data = self._load()
        key = piece_key(fingerprint, cands)
        raw = data["pieces"].get(key)
        if raw is None:
            return None
        if key in self._fresh:
            self.used_fresh = True
        try:
            parts, pruned, marks, error = raw
            m = {(w, t): frozenset(members) for w, t, members in marks}
            if not self._typekeys.issuperset(m):
                return None
            return Piece(_parts_from_plain(parts), None if pruned is None else _cands(pruned), m, error)
        except (TypeError, ValueError, KeyError):
            return None   # recomputed (and rewritten) by the caller

    def _types_entry(self) -> dict[str, Any]:
        if self._plain_types is None:
            hit = self.cache.get(self.kind + "-types", self.key, self.deps, _plain_types)
            self._plain_types = hit if hit is not None else {}
        return self._plain_types

    def type_of(self, key: Key) -> Type:
        """The kernel type of a marked key: from the book's types entry, else
        from the kernel (``fallback``); ``MissingTypes`` when neither has it
        (the types entry was damaged: open the kernel, set ``fallback``,
        try again)."""
        t = self._types.get(key)
        if t is None:
            plain = self._types_entry().get(f"{key[0]}:{key[1]}")
            if plain is not None:
                try:
                    t = from_plain(plain)
                except (TypeError, ValueError, IndexError):
                    t = None
            if t is None:
                if self.fallback is None:
                    raise MissingTypes(key)
                t = self.fallback(key)
                self._types_entry()[f"{key[0]}:{key[1]}"] = to_plain(t)
                self._types_dirty = True
            self._types[key] = t
        return t

    def add_candidates(self, root_key: str, cands: Cands) -> None:
        self._load()["cands"][root_key] = [list(c) for c in cands]
        self._cands[root_key] = cands
        self._fresh.add(root_key)
        self.dirty = True

    def add_piece(self, fingerprint: str, cands: Cands, piece: Piece, btfs: Sequence[BTF]) -> None:
        data = self._load()
        for w, t in piece.marks:
            if (w, t) not in self._typekeys:
                data["types"].append(f"{w}:{t}")
                self._typekeys.add((w, t))
                self._types_entry()[f"{w}:{t}"] = to_plain(btfs[w].type(t))
                self._types_dirty = True
        key = piece_key(fingerprint, cands)
        self._fresh.add(key)
        data["pieces"][key] = [
            _parts_to_plain(piece.parts), None if piece.pruned is None else [list(c) for c in piece.pruned],
            [[w, t, sorted(m)] for (w, t), m in sorted(piece.marks.items())], piece.error]
        self.dirty = True

    def save(self) -> None:
        # Types first: a reader that sees the book's keys should find them.
        if self._types_dirty and self._plain_types is not None:
            self.cache.put(self.kind + "-types", self.key, self._plain_types, self.deps)
            self._types_dirty = False
        if self.dirty and self._data is not None:
            self.cache.put(self.kind, self.key, self._data, self.deps)
            self.dirty = False

    # -- emissions (minimize.engine.EmitMemo) -------------------------------

    @staticmethod
    def _emit_key(kept: Mapping[Key, AbstractSet[int]], start_ids: Sequence[int], byte_order: str,
                  hdr_len: int) -> str:
        return digest([[w, t, sorted(m)] for (w, t), m in sorted(kept.items())], list(start_ids), byte_order, hdr_len)

    def emitted(self, kept: Mapping[Key, AbstractSet[int]], start_ids: Sequence[int], byte_order: str,
                hdr_len: int) -> Emitted | None:
        raw = self._load().setdefault("emitted", {}).get(self._emit_key(kept, start_ids, byte_order, hdr_len))
        if not isinstance(raw, str):
            return None
        try:
            data = blob_from_plain(raw)
        except ValueError:
            return None
        order = sorted(kept)
        return Emitted(data, {key: n for n, key in enumerate(order, 1)}, {n: key for n, key in enumerate(order, 1)})

    def add(self, kept: Mapping[Key, AbstractSet[int]], start_ids: Sequence[int], byte_order: str, hdr_len: int,
            emitted: Emitted) -> None:
        memo = self._load().setdefault("emitted", {})
        memo[self._emit_key(kept, start_ids, byte_order, hdr_len)] = blob_to_plain(emitted.data)
        while len(memo) > MAX_EMITTED:
            del memo[next(iter(memo))]
        self.dirty = True


def _emitted_id(emitted: Emitted) -> list[object]:
    ids = [list(emitted.old_ids[n]) for n in range(1, len(emitted.old_ids) + 1)]
    return [hashlib.sha256(emitted.data).hexdigest(), digest(ids)]


def _digests(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise ValueError("not a list of digests")
    return value


class CheckMemo:
    """``minimize.engine.CheckMemo`` over the build cache, for one kernel and
    a list of objects (by digest, in the order ``assemble`` gets them).

    Per emitted BTF (its bytes and id mapping): a small entry with the
    digests of the objects checked clean against it, and an ``OutcomeBook``
    of the relocations resolved against it (summaries only), so that an
    object that is not known clean is checked by replaying its relocations
    over them, resolving only those the book does not know."""

    def __init__(self, cache: Cache, options_key: Sequence[object], kernel_digest: str,
                 objects: Sequence[CoreObject], object_digests: Sequence[str],
                 plan_of: Callable[[int], LocalPlan]):
        self.cache = cache
        self.options_key = list(options_key)
        self.kernel_digest = kernel_digest
        self.objects = list(object_digests)
        self.plan_of = plan_of
        self.checked = 0                 # objects checked (not known clean)
        self.resolved = 0                # relocations resolved against emitted BTFs
        self._books: dict[str, OutcomeBook] = {}
        self._clean: dict[str, tuple[str, dict[str, object], set[str], bool]] = {}

    def _ident(self, emitted: Emitted) -> tuple[str, list[object]]:
        ident = _emitted_id(emitted)
        return f"{ident[0]}:{ident[1]}", ident

    def _book(self, emitted: Emitted) -> OutcomeBook:
        name, ident = self._ident(emitted)
        book = self._books.get(name)
        if book is None:
            book = self._books[name] = OutcomeBook(self.cache, self.options_key, self.kernel_digest, ident,
                                                   kind="check-outcomes")
        return book

    def _known(self, emitted: Emitted) -> tuple[str, dict[str, object], set[str], bool]:
        name, ident = self._ident(emitted)
        got = self._clean.get(name)
        if got is None:
            deps: dict[str, object] = {"options": self.options_key, "kernel": self.kernel_digest, "emitted": ident}
            key = digest("checked", deps)
            got = self._clean[name] = (key, deps, set(self.cache.get("checked", key, deps, _digests) or ()), False)
        return got

    def clean(self, emitted: Emitted) -> AbstractSet[int]:
        known = self._known(emitted)[2]
        out = {i for i, d in enumerate(self.objects) if d in known}
        self.checked += len(self.objects) - len(out)
        return out

    def summarize(self, emitted: Emitted, i: int, obj: CoreObject, mini: Callable[[], Target]) -> Sequence[Summary]:
        book = self._book(emitted)
        try:
            p = self.plan_of(i)
        except BTFEmbedError:
            return summarize_object(obj, mini())
        r = replay(p, book, set())
        if r is None:
            source = KernelPieces(mini(), obj, compat=False, known=book, marks=False)
            r = replay(p, source)
            self.resolved += source.resolved
            assert r is not None
        return summaries_of(p, r)

    def add(self, emitted: Emitted, indices: AbstractSet[int]) -> None:
        name, _ident = self._ident(emitted)
        key, deps, known, _dirty = self._known(emitted)
        new = {self.objects[i] for i in indices} - known
        if new:
            known |= new
            self._clean[name] = (key, deps, known, True)

    def save(self) -> None:
        for book in self._books.values():
            book.save()
        for key, deps, known, dirty in self._clean.values():
            if dirty:
                self.cache.put("checked", key, sorted(known), deps)
