"""A content-addressed cache for ``btfembed build``.

Entries are files named by the SHA-256 of what produced them (input bytes,
btfembed version, options), under ``<root>/v1/<kind>/<xx>/<digest>``.  They
are written atomically (temporary file + rename), so builds sharing a cache
directory, even concurrently, never see a partial entry; an entry that
cannot be read or decoded is a miss.

Two kinds of entries (see ``btfembed.build.pipeline``):

* ``analysis``: one object against one kernel (summaries, marks and the
  kernel types they need);
* ``result``: one kernel's minimized BTF and summaries for a whole set of
  objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from btfembed import __version__
from btfembed.inputs.files import atomic_write
from btfembed.minimize.engine import ObjectAnalysis
from btfembed.btf.types import from_plain, to_plain
from btfembed.core.results import Summary

__all__ = ["Cache", "digest", "default_cache_dir", "analysis_to_plain", "analysis_from_plain"]

LAYOUT = "v1"


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
    """``Cache(None)`` is a disabled cache: every lookup misses, puts are dropped."""

    def __init__(self, root: str | None):
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, LAYOUT, kind, key[:2], key)

    def get(self, kind: str, key: str) -> Any | None:
        if self.root is None:
            return None
        try:
            with open(self._path(kind, key), "rb") as f:
                value = json.loads(f.read())
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.root is None:
            return
        path = self._path(kind, key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, json.dumps(value, separators=(",", ":")).encode())
        except Exception:  # a cache that cannot be written is not an error
            pass


def _summary_from(obj: list) -> Summary:
    s = Summary(*obj)
    return s._replace(target=tuple(s.target) if s.target is not None else None,
                      target_ident=tuple(s.target_ident) if s.target_ident is not None else None)


def summaries_to_plain(summaries: tuple[Summary, ...]) -> list:
    return [list(s) for s in summaries]


def summaries_from_plain(obj: list) -> tuple[Summary, ...]:
    return tuple(_summary_from(s) for s in obj)


def analysis_to_plain(a: ObjectAnalysis, byte_order: str) -> dict:
    return {
        "version": __version__,
        "byte_order": byte_order,
        "summaries": summaries_to_plain(a.summaries),
        "marks": [[w, t, sorted(m)] for (w, t), m in sorted(a.marks.items())],
        "wide": None if a.wide_marks is None else [[w, t, sorted(m)] for (w, t), m in sorted(a.wide_marks.items())],
        "types": [[w, t, to_plain(ty)] for (w, t), ty in sorted(a.types.items())],
    }


def analysis_from_plain(obj: dict) -> tuple[ObjectAnalysis, str]:
    return ObjectAnalysis(
        summaries_from_plain(obj["summaries"]),
        {(w, t): frozenset(m) for w, t, m in obj["marks"]},
        None if obj["wide"] is None else {(w, t): frozenset(m) for w, t, m in obj["wide"]},
        {(w, t): from_plain(p) for w, t, p in obj["types"]},
    ), obj["byte_order"]


def blob_to_plain(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def blob_from_plain(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)
