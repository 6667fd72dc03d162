"""BTF string tables: a read-only view with lookups, and a deduplicating builder.

Offsets are *logical*: in split BTF the split table's offsets continue after
the base table's length, as libbpf numbers them.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re

from typing import Any

from btfembed.errors import BTFFormatError

__all__ = ["StringTable", "StringTableBuilder", "essential_len", "essential_name"]


def essential_len(name: str) -> int:
    """Length of ``name`` without its CO-RE flavor suffix.

    A flavor separator is ``___`` with a non-underscore character on each
    side; the last one wins (``a___b___c`` -> ``a___b``).  Names without one
    are their own essential name.
    """
    n = len(name)
    i = n - 5
    while i >= 0:
        if name[i + 1:i + 4] == "___" and name[i] != "_" and name[i + 4] != "_":
            return i + 1
        i -= 1
    return n


def essential_name(name: str) -> str:
    return name[:essential_len(name)]


def _trie_pattern(keys: "list[bytes]") -> bytes:
    """A regex matching exactly the byte strings ``keys``, factored as a
    trie (``task_struct|task_group`` -> ``task_(?:group|struct)``)."""
    trie: dict[int, Any] = {}
    for key in keys:
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = {}

    def emit(node: dict[int, Any]) -> bytes:
        alts = [re.escape(bytes([b])) + emit(node[b]) for b in sorted(k for k in node if k != -1)]
        if not alts:
            return b""
        body = alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"
        if -1 in node:
            body = (b"(?:" + body + b")?") if len(alts) == 1 else body + b"?"
        return body

    return emit(trie)


@functools.lru_cache(maxsize=4096)
def _name_regexes(keys: tuple[bytes, ...]) -> tuple["re.Pattern[bytes]", "re.Pattern[bytes]"]:
    """Compiled searches for strings that start with one of ``keys``
    followed by NUL or ``___`` (after a NUL, and at the table's start).
    Cached: a build looks the same names up in every kernel, and the check
    of each emitted BTF looks up its names one at a time (a few dozen per
    build; a smaller cache than that would miss on every lookup)."""
    trie = _trie_pattern(list(keys))
    return (re.compile(b"\\x00(" + trie + b")(?=\\x00|___)"), re.compile(b"(" + trie + b")(?=\\x00|___)"))


class StringTable:
    """The string section of one BTF (plus, for split BTF, its base's)."""

    __slots__ = ("data", "start", "base", "_cache", "_index", "_lookups")

    # Lookups by string scan the table (about 1 ms per 2 MB) until this many
    # have been made; then a dictionary of every string is built (about 30 ms
    # and 15 MB for a kernel), which answers the rest at once.
    INDEX_AFTER = 32

    def __init__(self, data: bytes, base: "StringTable | None" = None):
        self.data = data
        self.base = base
        # Logical offset of this table's first byte.
        self.start: int = base.start + len(base.data) if base is not None else 0
        self._cache: dict[int, str] = {}
        self._index: dict[bytes, object] | None = None
        self._lookups = 0

    def __len__(self) -> int:
        return self.start + len(self.data)

    def get(self, off: int) -> str:
        """The NUL-terminated string at logical offset ``off``."""
        s = self._cache.get(off)
        if s is not None:
            return s
        rel = off - self.start
        if rel < 0:
            if self.base is None:
                raise BTFFormatError(f"string offset {off} is negative")
            return self.base.get(off)
        data = self.data
        if rel >= len(data):
            raise BTFFormatError(f"string offset {off} is past the end of the string section ({len(self)} bytes)")
        end = data.find(b"\0", rel)
        if end < 0:
            raise BTFFormatError(f"string at offset {off} is not NUL-terminated")
        s = data[rel:end].decode("utf-8", "surrogateescape")
        self._cache[off] = s
        return s

    def valid(self, off: int) -> bool:
        rel = off - self.start
        if rel < 0:
            return self.base is not None and self.base.valid(off)
        return rel < len(self.data)

    def _build_index(self) -> dict[bytes, object]:
        # C-speed passes only: split on NUL, then accumulate offsets.  A
        # string's entry is its offset, or a list of offsets when it occurs
        # more than once (tables that were not deduplicated).
        parts = self.data.split(b"\0")
        parts.pop()  # the table ends with NUL: drop the empty tail
        offsets = list(itertools.accumulate(
            map(operator.add, map(len, parts), itertools.repeat(1)), initial=self.start))
        index: dict[bytes, object] = dict(zip(parts, offsets))
        if len(index) != len(parts):
            index = {}
            for part, off in zip(parts, offsets):
                prev = index.get(part)
                if prev is None:
                    index[part] = off
                elif isinstance(prev, list):
                    prev.append(off)
                else:
                    index[part] = [prev, off]
        return index

    def offsets_of(self, s: str) -> list[int]:
        """Every logical offset (this table and its bases) where exactly ``s``
        starts.  Offsets that point into the middle of a longer string are not
        found here; ``BTF`` handles those separately."""
        key = s.encode("utf-8", "surrogateescape")
        out = self.base.offsets_of(s) if self.base is not None else []
        if self._index is None:
            self._lookups += 1
            if self._lookups <= self.INDEX_AFTER:
                return out + self._scan_for(key)
            self._index = self._build_index()
        hit = self._index.get(key)
        if hit is not None:
            if isinstance(hit, list):
                out.extend(hit)
            else:
                out.append(hit)  # type: ignore[arg-type]
        return out

    def _scan_for(self, key: bytes) -> list[int]:
        data = self.data
        found = []
        if data.startswith(key + b"\0"):
            found.append(self.start)
        pattern = b"\0" + key + b"\0"
        pos = data.find(pattern)
        while pos >= 0:
            found.append(self.start + pos + 1)
            pos = data.find(pattern, pos + 1)
        return found

    def essential_offsets_many(self, names: "list[str]") -> dict[str, list[int]]:
        """``essential_offsets`` for many names in one pass over the table
        (a regex shaped like a trie of the names, so the cost barely grows
        with their number)."""
        out = self.base.essential_offsets_many(names) if self.base is not None else {}
        for n in names:
            out.setdefault(n, [])
        keys = [n.encode("utf-8", "surrogateescape") for n in names if n]
        if not keys:
            return out
        data = self.data
        inner, anchored = _name_regexes(tuple(sorted(keys)))
        starts = [m.start() + 1 for m in inner.finditer(data)]
        if data and anchored.match(data):
            starts.insert(0, 0)
        for start in starts:
            end = data.index(b"\0", start)
            ess = essential_name(data[start:end].decode("utf-8", "surrogateescape"))
            if ess in out:
                out[ess].append(self.start + start)
        return out


class StringTableBuilder:
    """Accumulates strings with deduplication, in first-use order.

    ``StringTableBuilder(initial=bytes)`` starts from an existing table
    (kept byte for byte) and reuses its strings.
    """

    __slots__ = ("_parts", "_size", "_offsets")

    def __init__(self, initial: bytes | None = None):
        self._offsets: dict[str, int] = {}
        if initial is None:
            self._parts = [b"\0"]
            self._size = 1
            self._offsets[""] = 0
        else:
            self._parts = [initial]
            self._size = len(initial)
            off = 0
            for part in initial.split(b"\0")[:-1]:
                self._offsets.setdefault(part.decode("utf-8", "surrogateescape"), off)
                off += len(part) + 1

    def add(self, s: str) -> int:
        off = self._offsets.get(s)
        if off is None:
            data = s.encode("utf-8", "surrogateescape")
            if b"\0" in data:
                raise ValueError(f"string contains NUL: {s!r}")
            off = self._size
            self._parts.append(data + b"\0")
            self._size += len(data) + 1
            self._offsets[s] = off
        return off

    def __len__(self) -> int:
        return self._size

    def to_bytes(self) -> bytes:
        return b"".join(self._parts)
