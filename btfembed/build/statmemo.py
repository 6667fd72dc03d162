"""The stat memo: file digests remembered by (device, inode, size, mtime,
ctime), so an unchanged kernel tree is not read again.

``btfembed build`` keys every cached result by the SHA-256 of the kernel
file.  Hashing thousands of archives costs seconds; a file whose stat
identity is unchanged has the digest it had, as in ccache's direct mode.
The memo is one JSON file in the cache (``<root>/v1/stat-memo.json``),
absolute path -> ``[dev, ino, size, mtime_ns, ctime_ns, sha256]``, sealed
with its own digest like every cache entry: a damaged memo would give a
kernel another file's digest (and so another kernel's cached result), so
one whose seal does not match is not used (``damaged``; every file is
hashed again and the memo rewritten).

A digest is only remembered when it is certain: the file's stat is the
same before and after reading it, and its mtime and ctime are older than
``RACY_NS`` (a change within the file system's timestamp granularity
after the read would otherwise go unseen).  Files under ``/sys`` and
``/proc`` (the running kernel's BTF) are always hashed.  A memo that cannot
be read is empty; one that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

from btfembed.build.cache import DamagedEntry, seal, unseal
from btfembed.errors import FileAccessError
from btfembed.inputs.containers import MAX_INPUT_BYTES
from btfembed.inputs.files import atomic_write

__all__ = ["StatMemo", "file_digest"]

RACY_NS = 100_000_000
_VERSION = 2
_NO_MEMO = ("/sys/", "/proc/")


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def file_digest(path: str) -> tuple[str, os.stat_result]:
    """SHA-256 of a whole file (size-capped), and its stat before reading."""
    h = hashlib.sha256()
    total = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise FileAccessError(f"{path}: is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise FileAccessError(f"{path}: not a regular file")
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > MAX_INPUT_BYTES:
                    raise FileAccessError(f"{path}: larger than the {MAX_INPUT_BYTES}-byte limit")
                h.update(chunk)
    except IsADirectoryError:
        raise FileAccessError(f"{path}: is a directory") from None
    except OSError as exc:
        raise FileAccessError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the path
        raise FileAccessError(f"cannot read {path!r}: invalid path") from None
    return h.hexdigest(), st


class StatMemo:
    """``StatMemo(None)`` memoizes nothing (every file is hashed).
    Counters: ``hashed`` (files read in full), ``remembered`` (digests
    taken from the memo); ``damaged``: the memo file failed its check."""

    def __init__(self, root: str | None):
        self.path = os.path.join(root, "v1", "stat-memo.json") if root is not None else None
        self.entries: dict[str, object] = {}   # path -> [identity..., digest] (as read: checked on use)
        self.hashed = self.remembered = 0
        self._dirty = False
        self.damaged = False
        if self.path is not None:
            try:
                with open(self.path, "rb") as f:
                    raw = f.read()
            except OSError:
                return
            if raw.startswith(b"{"):  # an unsealed memo of an earlier version: not used
                self._dirty = True
                return
            try:
                data = json.loads(unseal(raw))
            except (DamagedEntry, ValueError):
                self.damaged = self._dirty = True
                return
            if isinstance(data, dict) and data.get("version") == _VERSION and isinstance(data.get("files"), dict):
                self.entries = data["files"]
            else:
                self._dirty = True

    def digest(self, path: str) -> str:
        full = os.path.abspath(path)
        memo = self.path is not None and not full.startswith(_NO_MEMO)
        if memo:
            entry = self.entries.get(full)
            if isinstance(entry, list) and len(entry) == 6:
                try:
                    st = os.stat(full)
                except (OSError, ValueError):
                    st = None
                if st is not None and stat.S_ISREG(st.st_mode) and _identity(st) == entry[:5]:
                    self.remembered += 1
                    return str(entry[5])
        digest, before = file_digest(path)
        self.hashed += 1
        if memo:
            try:
                after = os.stat(full)
            except (OSError, ValueError):
                after = None
            now = time.time_ns()
            if (after is not None and _identity(after) == _identity(before)
                    and max(after.st_mtime_ns, after.st_ctime_ns) < now - RACY_NS):
                self.entries[full] = _identity(after) + [digest]
                self._dirty = True
            elif full in self.entries:
                del self.entries[full]
                self._dirty = True
        return digest

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write(self.path, seal(json.dumps({"version": _VERSION, "files": self.entries},
                                                     separators=(",", ":"), sort_keys=True).encode()))
            self._dirty = False
        except Exception:  # a memo that cannot be written is not an error
            pass
