"""A content-addressed cache for ``btfembed build``.

Entries are files named by the SHA-256 of what produced them (input bytes,
btfembed version, options), under ``<root>/v2/<kind>/<xx>/<digest>``.  They
are written atomically (temporary file + rename), so builds sharing a cache
directory, even concurrently, never see a partial entry.

Nothing read back is trusted.  An entry file is::

    BTFEMBED-CACHE 2 <sha256 of the body, hex>\n
    <body: JSON {"kind", "key", "deps", "value"}>

``deps`` names the data the value was computed from (kernel and object
digests, options).  A read checks the digest, the kind, the key and the
dependencies the caller expects; an entry that fails any check (or whose
value then does not decode) is *damaged*: removed, counted in
``Cache.damaged`` and treated as a miss, so the value is computed again
and written over it.  A missing entry is a plain miss.

Kinds of entries:

* ``result`` (``btfembed.build.pipeline``): one kernel's minimized BTF and
  summaries for a whole set of objects;
* ``outcomes``, ``outcomes-types``, ``check-outcomes`` and ``checked``
  (``btfembed.build.outcomes``): per kernel, the outcomes of the distinct
  relocations met so far and the kernel types they need; per emitted BTF,
  the objects already checked against it;
* ``start-ids``: the first type id of a kernel and each of its modules;
* ``pack`` and ``pack-block`` (``btfembed.build.outputs``): an encoded
  pack, and compressed pack blocks, by what they are made of.

The entries are bounded (``cache_max``): after a build that computed
something, the least recently used ones (a read refreshes an entry's
mtime) are removed until the rest fit.  Decoded kernels are kept apart,
under ``<root>/v1/kernels`` with their own limit (``btfembed.build.store``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any, Callable, Iterable, Sequence, TypeVar

from btfembed.errors import BTFEmbedError
from btfembed.inputs.files import atomic_write, files_by_age, read_bytes, remove_oldest
from btfembed.core.results import Summary

__all__ = ["Cache", "digest", "default_cache_dir", "seal", "unseal",
           "DamagedEntry"]

LAYOUT = "v2"
_MAGIC = b"BTFEMBED-CACHE 2 "
_MAX_ENTRY = 1 << 30  # larger files are not entries this cache wrote
T = TypeVar("T")


class DamagedEntry(BTFEmbedError):
    """A cache file whose digest, identity or content does not check out."""


def seal(body: bytes) -> bytes:
    """``body`` with the digest line that ``unseal`` checks."""
    return _MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def unseal(data: bytes) -> bytes:
    """The body of sealed ``data``; ``DamagedEntry`` unless its digest matches."""
    head, sep, body = data.partition(b"\n")
    if not sep or not head.startswith(_MAGIC):
        raise DamagedEntry("no digest line")
    if head[len(_MAGIC):] != hashlib.sha256(body).hexdigest().encode():
        raise DamagedEntry("digest mismatch")
    return body


def digest(*parts: Any) -> str:
    """SHA-256 over a JSON rendering of ``parts`` (bytes are hashed first)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, (bytes, bytearray, memoryview)):
            h.update(b"b" + hashlib.sha256(p).digest())
        else:
            h.update(b"j" + json.dumps(p, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "btfembed")


class Cache:
    """``Cache(None)`` is a disabled cache: every lookup misses, puts are dropped.

    ``damaged`` lists the entry files found damaged (and removed) by this
    object's reads."""

    def __init__(self, root: str | None):
        self.root = root
        self.damaged: list[str] = []

    def _path(self, kind: str, key: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, LAYOUT, kind, key[:2], key)

    def get(self, kind: str, key: str, deps: Any = None, decode: Callable[[Any], T] | None = None) -> Any | None:
        """The value stored under (``kind``, ``key``), checked against
        ``deps`` and passed through ``decode`` (whose failure also marks
        the entry damaged); None on a miss."""
        if self.root is None:
            return None
        path = self._path(kind, key)
        try:
            data = read_bytes(path, limit=_MAX_ENTRY)
        except BTFEmbedError:
            if os.path.lexists(path):
                self._damaged(path)
            return None
        try:
            entry = json.loads(unseal(data))
            if not isinstance(entry, dict) or entry.get("kind") != kind or entry.get("key") != key:
                raise DamagedEntry("entry for another key")
            if entry.get("deps") != _plain(deps):
                raise DamagedEntry("entry computed from other inputs")
            value = entry["value"]
            if decode is not None:
                value = decode(value)
        except Exception:  # noqa: BLE001 - whatever is wrong with it, it is not used
            self._damaged(path)
            return None
        try:
            os.utime(path)  # recency, for evict
        except OSError:
            pass
        return value

    def evict(self, limit: int) -> int:
        """Remove the least recently used entries (written or read) until
        the entries take at most ``limit`` bytes (0: no limit); the number
        removed.  The kernel store has its own limit (``build.store``)."""
        if self.root is None or limit <= 0:
            return 0
        return remove_oldest(files_by_age(os.path.join(self.root, LAYOUT), 2), limit)

    def _damaged(self, path: str) -> None:
        self.damaged.append(path)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass

    def put(self, kind: str, key: str, value: Any, deps: Any = None) -> None:
        if self.root is None:
            return
        path = self._path(kind, key)
        try:
            body = json.dumps({"kind": kind, "key": key, "deps": deps, "value": value},
                              separators=(",", ":")).encode()
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, seal(body))
        except Exception:  # a cache that cannot be written is not an error
            pass


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


_SUMMARY_FIELDS = len(Summary._fields)


def _summary_from(obj: Sequence[Any]) -> Summary:
    if len(obj) != _SUMMARY_FIELDS:
        s = Summary(*obj)
    else:
        s = Summary._make(obj)  # tuple.__new__: no per-field keyword handling
    target: Sequence[Any] | None = s.target        # lists, as read back from JSON
    ident: Sequence[Any] | None = s.target_ident
    if target is None and ident is None:
        return s
    return s._replace(target=tuple(target) if target is not None else None,
                      target_ident=tuple(ident) if ident is not None else None)


def summaries_to_plain(summaries: "Sequence[Summary]") -> list[list[object]]:
    return [list(s) for s in summaries]


_new = tuple.__new__


def summaries_from_plain(obj: Iterable[Sequence[Any]],
                         seen: dict[Summary, Summary] | None = None) -> tuple[Summary, ...]:
    """Summaries from their JSON lists.  ``seen``: summaries made before
    (by value); an equal one is used instead of the new one, so that the
    results of many similar kernels share their summaries (most of a
    kernel's relocations resolve exactly as on the others) instead of each
    holding its own copies of the same strings and tuples."""
    # Most summaries have no target (the last two fields): those are made
    # straight from the JSON list.
    made = (_new(Summary, s) if len(s) == _SUMMARY_FIELDS and s[-1] is None and s[-2] is None
            else _summary_from(s) for s in obj)
    if seen is None:
        return tuple(made)
    one = seen.setdefault
    return tuple(one(s, s) for s in made)


def blob_to_plain(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def blob_from_plain(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)
