"""File system helpers: reading inputs and writing outputs atomically.

Every file btfembed produces is written to a temporary file in the target's
directory and renamed over the target, so an error or Ctrl-C never leaves a
half-written file, and concurrent writers of the same content never corrupt
each other.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import IO, Any, Iterator

from btfembed.errors import FileAccessError

__all__ = ["read_bytes", "atomic_write", "atomic_open", "ensure_dir", "NAME_MAX", "MAX_ATOMIC_NAME",
           "files_by_age", "remove_oldest"]

NAME_MAX = 255  # bytes in one path component (Linux, and most file systems)
# atomic_open's temporary is ".<name>.<8 random characters>.tmp" in the same
# directory, so the names it can write are 14 bytes shorter.
_TMP_PREFIX, _TMP_SUFFIX, _TMP_RANDOM = ".", ".tmp", 8
MAX_ATOMIC_NAME = NAME_MAX - len(_TMP_PREFIX) - 1 - _TMP_RANDOM - len(_TMP_SUFFIX)


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def read_bytes(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """Read a whole file, turning OS errors into ``FileAccessError``.

    ``limit`` caps the number of bytes accepted (the file is refused, not
    truncated, when it is larger).
    """
    try:
        # Non-blocking open: a FIFO or device must not hang the build.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileAccessError(f"{os.fspath(path)}: not a regular file")
        with os.fdopen(fd, "rb") as f:
            if limit is None:
                return f.read()
            # Read in chunks: f.read(limit + 1) would allocate the whole
            # limit up front.
            chunks, total = [], 0
            while total <= limit:
                chunk = f.read(min(1 << 22, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except IsADirectoryError:
        raise FileAccessError(f"{os.fspath(path)}: is a directory") from None
    except OSError as exc:
        raise FileAccessError(f"cannot read {os.fspath(path)}: {_reason(exc)}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise FileAccessError(f"cannot read {os.fspath(path)!r}: invalid path") from None
    if len(data) > limit:
        raise FileAccessError(f"{os.fspath(path)}: larger than the {limit}-byte limit")
    return data


def ensure_dir(path: str | os.PathLike[str]) -> None:
    """Create a directory (and parents), with a clear error on failure."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise FileAccessError(f"cannot create directory {os.fspath(path)}: {_reason(exc)}") from None


def _temporary(directory: str, name: str) -> tuple[int, str]:
    """A new file ``.<name>.<8 random hex digits>.tmp`` in ``directory``,
    created exclusively with the mode the umask gives new files."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f"{_TMP_PREFIX}{name}.{os.urandom(_TMP_RANDOM // 2).hex()}{_TMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {name}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; rename it over ``path`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is
    removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = _temporary(directory, os.path.basename(path))
    except OSError as exc:
        raise FileAccessError(f"cannot write {path}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FileAccessError(f"cannot write {path}: {_reason(exc)}") from None
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_open``)."""
    if isinstance(data, str):
        data = data.encode()
    with atomic_open(path, "wb") as f:
        f.write(data)


def files_by_age(top: str, depth: int) -> list[tuple[float, int, str]]:
    """(mtime, size, path) of the files ``depth`` directories below ``top``
    (``top/a/b/file`` is depth 2), oldest first; temporaries being written
    (names starting with a dot) and whatever cannot be read are left out."""
    out: list[tuple[float, int, str]] = []
    level = [top]
    for _ in range(depth):
        below = []
        for d in level:
            try:
                below += [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
        level = below
    for d in level:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append((st.st_mtime, st.st_size, e.path))
    out.sort()
    return out


def remove_oldest(files: list[tuple[float, int, str]], limit: int) -> int:
    """Remove files of ``files_by_age`` oldest first until the rest take at
    most ``limit`` bytes; the number removed."""
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in files:
        if total <= limit:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed
