"""Application keys for packs built with ``--userspace APP`` (uprobe programs
whose relocations target an application's own types).

A blob made with an application's types is right for that application only.
``btfembed build --userspace APP`` (or ``APP=VERSION``) records the ids of
the applications it was built for in the generated sources (C:
``P_app_ids[]``, ``P_matches_app()``; Python: ``APP_IDS``,
``matches_app()``), and a loader picks, among several generated tables, the
one built for the binary it probes:

* the id of an application is its GNU build id (``.note.gnu.build-id``, a
  note of type ``NT_GNU_BUILD_ID`` in an ``SHT_NOTE`` section), in lowercase
  hex as ``readelf -n`` prints it, or the version string given as
  ``APP=VERSION``;
* ``BTFEMBED_APP=ID`` replaces the id read from the binary (or given as
  ``app_id=``), as ``BTFEMBED_KEY`` replaces the running kernel's key;
* ``BTFEMBED_DEBUG=1`` (or ``debug=True``) prints one line on stderr:
  ``btfembed: app=PATH id=ID from=build-id|argument|BTFEMBED_APP match=yes|no``.

This module uses the standard library only and imports nothing from
btfembed: generated Python modules of such packs carry a copy of it, like
``btfembed.embed.runtime``.  The C twin is ``btfembed_app_build_id()`` /
``btfembed_app_match()`` in btfembed.h.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import Iterable

__all__ = ["AppIdError", "build_id", "app_matches"]

APP_ID_MAX = 255
_NOTE_MAX = 1 << 20


class AppIdError(ValueError):
    """The file is not an ELF file, or a damaged one (C: -ENOEXEC)."""


def _pread(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise AppIdError("truncated ELF file")
    return data


def _note_build_id(note: bytes, end: str) -> "str | None":
    at, n = 0, len(note)
    while n - at >= 12:
        namesz, descsz, kind = struct.unpack_from(end + "III", note, at)
        desc_at = at + 12 + ((namesz + 3) & ~3)
        if namesz > n or descsz > n or desc_at + descsz > n:
            raise AppIdError("damaged note section")
        if kind == 3 and namesz == 4 and note[at + 12:at + 16] == b"GNU\0" and descsz > 0:
            return note[desc_at:desc_at + descsz].hex()
        at = desc_at + ((descsz + 3) & ~3)
    return None


def build_id(path: str) -> "str | None":
    """The GNU build id of the ELF file ``path`` (lowercase hex), or None when
    it has none.  ``OSError`` when it cannot be opened, ``AppIdError`` when
    it is not a regular ELF file (C: the same rules and error codes)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        import stat

        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AppIdError(f"{path}: not a regular file")
        size = st.st_size
        if size < 52:
            raise AppIdError(f"{path}: not an ELF file")
        eh = _pread(fd, 64 if size >= 64 else 52, 0)
        if eh[:4] != b"\x7fELF" or eh[4] not in (1, 2) or eh[5] not in (1, 2):
            raise AppIdError(f"{path}: not an ELF file")
        is64, end = eh[4] == 2, "<" if eh[5] == 1 else ">"
        if is64 and size < 64:
            raise AppIdError(f"{path}: not an ELF file")
        shoff = struct.unpack_from(end + ("Q" if is64 else "I"), eh, 0x28 if is64 else 0x20)[0]
        shentsize, shnum = struct.unpack_from(end + "HH", eh, 0x3A if is64 else 0x2E)
        if shnum == 0:
            return None
        if shentsize < (64 if is64 else 40) or shoff > size or shnum * shentsize > size - shoff:
            raise AppIdError(f"{path}: damaged ELF section headers")
        shdrs = _pread(fd, shnum * shentsize, shoff)
        for i in range(shnum):
            h = i * shentsize
            kind = struct.unpack_from(end + "I", shdrs, h + 4)[0]
            if is64:
                off, sz = struct.unpack_from(end + "QQ", shdrs, h + 0x18)
            else:
                off, sz = struct.unpack_from(end + "II", shdrs, h + 0x10)
            if kind != 7 or sz == 0:   # SHT_NOTE
                continue
            if off > size or sz > size - off or sz > _NOTE_MAX:
                raise AppIdError(f"{path}: damaged note section")
            try:
                found = _note_build_id(_pread(fd, sz, off), end)
            except AppIdError as exc:
                raise AppIdError(f"{path}: {exc}") from None
            if found is not None:
                return found
        return None
    finally:
        os.close(fd)


def app_matches(ids: "Iterable[str]", path: "str | None" = None, *, app_id: "str | None" = None, use_env: bool = True,
                debug: bool = False) -> bool:
    """Whether the recorded application ids ``ids`` include the application's:
    ``app_id`` when given (e.g. a version string), else the build id of the
    ELF file ``path``; ``BTFEMBED_APP`` replaces both (unless
    ``use_env=False``).  Raises as ``build_id()``; a binary without a build
    id matches nothing."""
    if path is None and app_id is None:
        raise TypeError("app_matches() needs a path or an app_id")
    forced = os.environ.get("BTFEMBED_APP") if use_env else None
    ident: "str | None"
    if forced:
        ident, source = forced, "BTFEMBED_APP"
    elif app_id is not None:
        ident, source = app_id, "argument"
    else:
        assert path is not None
        ident, source = build_id(path), "build-id"
    ok = ident is not None and ident in tuple(ids)
    env_debug = use_env and os.environ.get("BTFEMBED_DEBUG", "") not in ("", "0")
    if debug or env_debug:
        print(f"btfembed: app={path if path is not None else '-'} id={ident if ident is not None else '-'} "
              f"from={source} match={'yes' if ok else 'no'}", file=sys.stderr)
    return ok
