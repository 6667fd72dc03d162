"""The output directory as a unit: a build's files appear all at once.

``OutDir(path)`` (a context manager) takes an exclusive lock beside the
directory (``.<name>.btfembed-lock``; concurrent builds writing the same
directory take turns), removes what interrupted runs left beside it, and
opens a fresh directory ``.<name>.btfembed-new-<random>`` next to it.
Files are written there; ``commit()`` then puts the new tree in place with
one atomic exchange of the two directories (``renameat2(RENAME_EXCHANGE)``;
a plain rename when there was no directory yet) and removes the old tree.

``keep_if_same(tree)`` instead leaves the directory as it is when it
already holds exactly those files with those bytes (a build that changed
nothing rewrites nothing; the files' times are refreshed, so build tools
that compare times see the outputs as new).

So a reader of ``<path>`` sees either the previous complete build or the
new one, never a mix: a kill, a full disk or an error before ``commit``
leaves the previous build in place (the next run removes the unfinished
directory), and stale files of kernels no longer built disappear with the
old tree.  On file systems without ``RENAME_EXCHANGE`` the old directory is
first renamed aside, which leaves a moment with no directory at ``<path>``.

If ``<path>`` is a symbolic link, the directory it points to is the one
replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from typing import IO

from btfembed.errors import FileAccessError

__all__ = ["OutDir"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _exchange(a: str, b: str) -> bool:
    """Swap the directories at ``a`` and ``b`` atomically; False when the
    system or file system cannot."""
    import ctypes  # imported when a build writes: a no-op build does not

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - old libc
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


class OutDir:
    """See the module documentation.  ``path(rel)`` is where to write the
    file that will be ``<out>/<rel>``."""

    def __init__(self, path: str):
        self.given = path                      # as the caller spelled it (for the paths returned)
        self.target = os.path.realpath(path)
        self.parent, self.name = os.path.split(self.target)
        self.new: str | None = None
        self._lock: IO[bytes] | None = None
        self.committed = False

    def _prefix(self, what: str) -> str:
        return os.path.join(self.parent, f".{self.name}.btfembed-{what}")

    def __enter__(self) -> "OutDir":
        try:
            os.makedirs(self.parent, exist_ok=True)
            if os.path.lexists(self.target) and not os.path.isdir(self.target):
                raise FileAccessError(f"cannot write {self.target}: not a directory")
            self._lock = open(self._prefix("lock"), "ab")
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX)
            self._remove_leftovers()
            self.new = self._prefix(f"new-{os.urandom(6).hex()}")
            os.mkdir(self.new)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.new, 0o777 & ~umask)
        except OSError as exc:
            self._unlock()
            raise FileAccessError(f"cannot write {self.target}: {_reason(exc)}") from None
        except BaseException:
            self._unlock()
            raise
        return self

    def _remove_leftovers(self) -> None:
        """Directories of interrupted runs (unfinished new trees, old trees
        not yet removed)."""
        start = f".{self.name}.btfembed-"
        for entry in os.listdir(self.parent):
            if entry.startswith(start) and entry[len(start):].startswith(("new-", "old-")):
                shutil.rmtree(os.path.join(self.parent, entry), ignore_errors=True)

    def path(self, rel: str) -> str:
        assert self.new is not None
        full = os.path.normpath(os.path.join(self.new, rel))
        if not full.startswith(self.new + os.sep):
            raise FileAccessError(f"cannot write {rel!r} outside {self.target}")
        return full

    def contains(self, path: str) -> str | None:
        """``path`` relative to the out-dir when it lies inside it."""
        full = os.path.realpath(path)
        if full.startswith(self.target + os.sep):
            return os.path.relpath(full, self.target)
        return None

    def write(self, rel: str, data: bytes) -> str:
        full = self.path(rel)
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise FileAccessError(f"cannot write {os.path.join(self.target, rel)}: {_reason(exc)}") from None
        return os.path.join(self.given, rel)

    def keep_if_same(self, tree: "list[tuple[str, bytes]]") -> bool:
        """True (and the build is done: nothing to commit) when ``<path>``
        holds exactly the files of ``tree`` (relative path, bytes), and no
        other entries."""
        want = {os.path.normpath(rel): data for rel, data in tree}
        seen = 0

        def unreadable(exc: OSError) -> None:
            raise exc

        try:
            for top, dirs, names in os.walk(self.target, onerror=unreadable):
                if not names and not dirs and top != self.target:
                    return False  # an empty directory a fresh build would not have
                if any(os.path.islink(os.path.join(top, d)) for d in dirs):
                    return False  # a link a fresh build would not have (and os.walk does not enter)
                for name in names:
                    full = os.path.join(top, name)
                    data = want.get(os.path.relpath(full, self.target))
                    if data is None or os.path.islink(full) or not os.path.isfile(full):
                        return False
                    if os.path.getsize(full) != len(data):
                        return False
                    with open(full, "rb") as f:
                        if f.read() != data:
                            return False
                    seen += 1
            if seen != len(want) or not seen:
                return False
            for rel in want:
                os.utime(os.path.join(self.target, rel))
        except OSError:
            return False
        self.committed = True
        return True

    def commit(self) -> None:
        """Put the new tree in place (one atomic step) and remove the old one."""
        assert self.new is not None
        try:
            if not os.path.lexists(self.target):
                try:
                    os.rename(self.new, self.target)
                    self.new = None
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
            if self.new is not None:
                if not _exchange(self.new, self.target):
                    old = self._prefix(f"old-{os.urandom(6).hex()}")
                    os.rename(self.target, old)
                    os.rename(self.new, self.target)
                    self.new = old
                # self.new now holds the previous tree.
                shutil.rmtree(self.new, ignore_errors=True)
                self.new = None
        except OSError as exc:
            raise FileAccessError(f"cannot write {self.target}: {_reason(exc)}") from None
        self.committed = True

    def __exit__(self, *exc: object) -> None:
        try:
            if self.new is not None:  # not committed: drop the unfinished tree
                shutil.rmtree(self.new, ignore_errors=True)
                self.new = None
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()  # closing releases the lock
            self._lock = None
