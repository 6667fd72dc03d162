"""Debug kernel packages: the vmlinux (with DWARF) inside ``.deb``,
``.ddeb`` and ``.rpm`` files.

* ``.deb`` / ``.ddeb`` (Debian ``linux-image-*-dbg``, Ubuntu
  ``linux-image-*-dbgsym``): an ar archive; the control file (in
  ``control.tar.*``) gives the package name, version and architecture, the
  data (``data.tar`` with gzip, xz, bzip2, zstd or no compression) the files;
* ``.rpm`` (``kernel-debuginfo``, ``kernel-default-debuginfo``): the lead,
  the signature header and the header (name, version, release, arch,
  payload compressor), then a cpio archive (``newc``), read here in Python.

The vmlinux is the one member at ``usr/lib/debug/boot/vmlinux-RELEASE``
(Debian, Ubuntu; SUSE adds ``.debug``) or
``usr/lib/debug/lib/modules/RELEASE/vmlinux`` (Fedora, RHEL, ...).

Nothing is extracted but that member, and only into the directory the caller
gives (a private temporary directory); members are streamed, never read
whole into memory, and refused beyond ``MAX_DEBUG_BYTES`` (default 4 GiB,
environment ``BTFEMBED_MAX_DEBUG_BYTES``: debug vmlinux files are large).
"""

from __future__ import annotations

import io
import lzma
import os
import re
import struct
from typing import BinaryIO, Iterator, NamedTuple

from btfembed.errors import ArchiveError

__all__ = ["PackageInfo", "package_format", "inspect", "extract_vmlinux", "MAX_DEBUG_BYTES",
           "vmlinux_member_release"]

MAX_DEBUG_BYTES = int(os.environ.get("BTFEMBED_MAX_DEBUG_BYTES", 4 << 30))
_MAX_META = 64 << 20          # control.tar, rpm headers
_AR_MAGIC = b"!<arch>\n"
_RPM_MAGIC = b"\xed\xab\xee\xdb"
_HDR_MAGIC = b"\x8e\xad\xe8\x01"
_MEMBERS = (
    re.compile(r"^usr/lib/debug/boot/vmlinux-(?P<release>[^/]+?)(?:\.debug)?$"),
    re.compile(r"^usr/lib/debug/lib/modules/(?P<release>[^/]+)/vmlinux(?:\.debug)?$"),
)
_DEB_NAME = re.compile(r"^linux-image-(?:unsigned-)?(?P<release>.+?)-(?:dbg|dbgsym)$")


class PackageInfo(NamedTuple):
    format: str     # "deb" or "rpm"
    name: str
    version: str
    arch: str       # as the package says (amd64, x86_64, aarch64, ...), "" if unknown
    release: str    # kernel release guessed from the metadata ("" if the name does not tell)


def package_format(head: bytes) -> str | None:
    """"deb" (also .ddeb), "rpm" or None, from the first bytes of a file."""
    if head.startswith(_AR_MAGIC):
        return "deb"
    if head.startswith(_RPM_MAGIC):
        return "rpm"
    return None


def vmlinux_member_release(name: str) -> str | None:
    """The release a package member path names, if it is a debug vmlinux."""
    name = name.lstrip("./") if name.startswith("./") else name.lstrip("/")
    for pat in _MEMBERS:
        m = pat.match(name)
        if m:
            return m.group("release")
    return None


class _Slice(io.RawIOBase):
    """A read-only window [offset, offset+size) of a file."""

    def __init__(self, f: BinaryIO, offset: int, size: int):
        self._f, self._start, self._size, self._pos = f, offset, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: "bytearray | memoryview") -> int:  # type: ignore[override]
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        b[:len(data)] = data
        self._pos += len(data)
        return len(data)


def _decompressing(raw: BinaryIO, fmt: str, what: str) -> BinaryIO:
    if fmt in ("", "none", "cpio", "tar"):
        return raw
    if fmt in ("gz", "gzip"):
        import gzip
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if fmt in ("xz", "lzma"):
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if fmt in ("bz2", "bzip2"):
        import bz2
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if fmt in ("zst", "zstd"):
        try:
            import zstandard
        except ImportError:
            raise ArchiveError(f"{what} is zstd-compressed: install the Python package 'zstandard'") from None
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    raise ArchiveError(f"{what}: unsupported compression {fmt!r}")


def _copy(src: BinaryIO, dest: str, size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ArchiveError(f"{what} is {size} bytes, more than the {limit}-byte limit (BTFEMBED_MAX_DEBUG_BYTES)")
    done = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while done < size:
            chunk = src.read(min(1 << 20, size - done))
            if not chunk:
                raise ArchiveError(f"{what} is truncated")
            out.write(chunk)
            done += len(chunk)


# --- .deb -------------------------------------------------------------------

def _ar_members(f: BinaryIO) -> Iterator[tuple[str, int, int]]:
    """(name, data offset, size) of each member of an ar archive."""
    f.seek(0)
    if f.read(8) != _AR_MAGIC:
        raise ArchiveError("not an ar archive (.deb)")
    pos = 8
    while True:
        f.seek(pos)
        hdr = f.read(60)
        if not hdr:
            return
        if len(hdr) != 60 or hdr[58:60] != b"`\n":
            raise ArchiveError(f"corrupt ar member header at byte {pos}")
        name = hdr[:16].decode("ascii", "replace").strip()
        try:
            size = int(hdr[48:58].decode("ascii").strip())
        except ValueError:
            raise ArchiveError(f"corrupt ar member size at byte {pos}") from None
        if name.endswith("/") and name != "/":
            name = name[:-1]
        yield name, pos + 60, size
        pos += 60 + size + (size & 1)


def _split_compression(name: str, prefix: str) -> str | None:
    """"xz" for "data.tar.xz" with prefix "data.tar"; "" for no suffix."""
    if name == prefix:
        return ""
    if name.startswith(prefix + "."):
        return name[len(prefix) + 1:]
    return None


def _deb_control(f: BinaryIO, source: str) -> dict[str, str]:
    for name, off, size in _ar_members(f):
        comp = _split_compression(name, "control.tar")
        if comp is None:
            continue
        if size > _MAX_META:
            raise ArchiveError(f"{source}: control archive too large")
        stream = _decompressing(_Slice(f, off, size), comp, f"{source}: {name}")  # type: ignore[arg-type]
        import tarfile  # package metadata is rare: imported when read
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for m in tar:
                    if m.isreg() and m.name.lstrip("./") == "control" and m.size < _MAX_META:
                        body = tar.extractfile(m)
                        assert body is not None
                        return _parse_control(body.read().decode("utf-8", "replace"))
        except ArchiveError:
            raise
        except _decode_errors() as exc:
            raise ArchiveError(f"{source}: corrupt {name}: {exc}") from None
        raise ArchiveError(f"{source}: {name} holds no control file")
    raise ArchiveError(f"{source}: not a Debian package (no control.tar member)")


def _parse_control(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line[:1] in (" ", "\t") or ":" not in line:
            continue
        key, _sep, value = line.partition(":")
        out.setdefault(key.strip().lower(), value.strip())
    return out


def _deb_extract(f: BinaryIO, source: str, dest: str, limit: int) -> tuple[str, str]:
    for name, off, size in _ar_members(f):
        comp = _split_compression(name, "data.tar")
        if comp is None:
            continue
        stream = _decompressing(_Slice(f, off, size), comp, f"{source}: {name}")  # type: ignore[arg-type]
        return _from_tar_stream(stream, source, dest, limit)
    raise ArchiveError(f"{source}: not a Debian package (no data.tar member)")


def _from_tar_stream(stream: BinaryIO, source: str, dest: str, limit: int) -> tuple[str, str]:
    import tarfile

    found: tuple[str, str] | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                release = vmlinux_member_release(m.name)
                if release is None:
                    continue
                if not m.isreg():
                    continue   # a symlink to the real file, which is listed too
                if found is not None:
                    raise ArchiveError(f"{source}: several debug vmlinux files ({found[1]}, {release})")
                out = os.path.join(dest, "vmlinux")
                body = tar.extractfile(m)
                assert body is not None
                _copy(body, out, m.size, limit, f"{source}: {m.name}")  # type: ignore[arg-type]
                found = (out, release)
    except ArchiveError:
        raise
    except _decode_errors() as exc:
        raise ArchiveError(f"{source}: corrupt package data: {exc}") from None
    if found is None:
        raise ArchiveError(f"{source}: the package holds no debug vmlinux "
                           "(usr/lib/debug/boot/vmlinux-RELEASE or usr/lib/debug/lib/modules/RELEASE/vmlinux)")
    return found


def _decode_errors() -> tuple[type[Exception], ...]:
    """Exceptions the decompressors raise on corrupt data."""
    import tarfile
    import zlib
    errors: list[type[Exception]] = [OSError, EOFError, lzma.LZMAError, zlib.error, tarfile.TarError]
    try:
        import zstandard
        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


# --- .rpm -------------------------------------------------------------------

_TAG_NAME, _TAG_VERSION, _TAG_RELEASE, _TAG_ARCH, _TAG_PAYLOADCOMPRESSOR = 1000, 1001, 1002, 1022, 1125


def _rpm_header(f: BinaryIO, pos: int, source: str, what: str) -> tuple[dict[int, bytes | list[bytes]], int]:
    f.seek(pos)
    intro = f.read(16)
    if len(intro) != 16 or intro[:4] != _HDR_MAGIC:
        raise ArchiveError(f"{source}: corrupt rpm {what} header")
    il, dl = struct.unpack(">II", intro[8:16])
    if il > 1 << 16 or 16 * il + dl > _MAX_META:
        raise ArchiveError(f"{source}: implausible rpm {what} header size")
    index = f.read(16 * il)
    store = f.read(dl)
    if len(index) != 16 * il or len(store) != dl:
        raise ArchiveError(f"{source}: truncated rpm {what} header")
    tags: dict[int, bytes | list[bytes]] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">IIII", index[16 * i:16 * i + 16])
        if typ in (6, 8, 9) and off < dl:   # STRING, STRING_ARRAY, I18NSTRING
            items = store[off:].split(b"\0")[:max(count, 1)]
            tags[tag] = items[0] if typ == 6 else items
    return tags, pos + 16 + 16 * il + dl


def _rpm_str(tags: dict[int, bytes | list[bytes]], tag: int) -> str:
    v = tags.get(tag, b"")
    if isinstance(v, list):
        v = v[0] if v else b""
    return v.decode("utf-8", "replace")


def _rpm_meta(f: BinaryIO, source: str) -> tuple[dict[int, bytes | list[bytes]], int]:
    f.seek(0)
    lead = f.read(96)
    if len(lead) != 96 or lead[:4] != _RPM_MAGIC:
        raise ArchiveError(f"{source}: not an rpm package")
    _sig, end = _rpm_header(f, 96, source, "signature")
    end += (-end) % 8
    return _rpm_header(f, end, source, "main")


def _cpio_extract(stream: BinaryIO, source: str, dest: str, limit: int) -> tuple[str, str]:
    found: tuple[str, str] | None = None

    def need(n: int) -> bytes:
        data = stream.read(n)
        if len(data) != n:
            raise ArchiveError(f"{source}: truncated cpio payload")
        return data

    def skip(n: int) -> None:
        while n > 0:
            chunk = stream.read(min(n, 1 << 20))
            if not chunk:
                raise ArchiveError(f"{source}: truncated cpio payload")
            n -= len(chunk)

    pos = 0
    while True:
        hdr = need(110)
        if hdr[:6] not in (b"070701", b"070702"):
            raise ArchiveError(f"{source}: unsupported cpio format in the rpm payload ({hdr[:6]!r})")
        try:
            fields = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise ArchiveError(f"{source}: corrupt cpio header") from None
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        if namesize > 4096 or namesize == 0:
            raise ArchiveError(f"{source}: corrupt cpio header (name size {namesize})")
        name = need(namesize)[:-1].decode("utf-8", "surrogateescape")
        pos += 110 + namesize
        pad = (-pos) % 4
        skip(pad)
        pos += pad
        if name == "TRAILER!!!":
            break
        release = vmlinux_member_release(name)
        if release is not None and (mode & 0o170000) == 0o100000 and filesize > 0:
            if found is not None:
                raise ArchiveError(f"{source}: several debug vmlinux files ({found[1]}, {release})")
            out = os.path.join(dest, "vmlinux")
            _copy(stream, out, filesize, limit, f"{source}: {name}")
            found = (out, release)
        else:
            skip(filesize)
        pos += filesize
        pad = (-pos) % 4
        skip(pad)
        pos += pad
    if found is None:
        raise ArchiveError(f"{source}: the package holds no debug vmlinux "
                           "(usr/lib/debug/lib/modules/RELEASE/vmlinux or usr/lib/debug/boot/vmlinux-RELEASE)")
    return found


# --- public -----------------------------------------------------------------

def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ArchiveError(f"cannot read: {exc.strerror or exc}", source=path) from None


def inspect(path: str) -> PackageInfo:
    """Name, version, architecture and the kernel release the package
    metadata gives (only the metadata is read)."""
    with _open(path) as f:
        fmt = package_format(f.read(8))
        try:
            if fmt == "deb":
                ctl = _deb_control(f, path)
                name = ctl.get("package", "")
                m = _DEB_NAME.match(name)
                return PackageInfo("deb", name, ctl.get("version", ""), ctl.get("architecture", ""),
                                   m.group("release") if m else "")
            if fmt == "rpm":
                tags, _end = _rpm_meta(f, path)
                name, version = _rpm_str(tags, _TAG_NAME), _rpm_str(tags, _TAG_VERSION)
                rel, arch = _rpm_str(tags, _TAG_RELEASE), _rpm_str(tags, _TAG_ARCH)
                # kernel-debuginfo-5.14.0-362.el9.x86_64: uname -r is VERSION-RELEASE.ARCH
                release = f"{version}-{rel}.{arch}" if name == "kernel-debuginfo" and version and rel else ""
                return PackageInfo("rpm", name, f"{version}-{rel}", arch, release)
        except OSError as exc:
            raise ArchiveError(f"cannot read: {exc.strerror or exc}", source=path) from None
    raise ArchiveError("not a .deb, .ddeb or .rpm package", source=path)


def extract_vmlinux(path: str, dest: str, *, limit: int | None = None) -> tuple[str, str]:
    """Extract the package's debug vmlinux into the directory ``dest``.
    Returns (extracted file, release from the member path)."""
    limit = MAX_DEBUG_BYTES if limit is None else limit
    with _open(path) as f:
        fmt = package_format(f.read(8))
        try:
            if fmt == "deb":
                return _deb_extract(f, path, dest, limit)
            if fmt == "rpm":
                tags, end = _rpm_meta(f, path)
                comp = _rpm_str(tags, _TAG_PAYLOADCOMPRESSOR) or "gzip"
                size = os.fstat(f.fileno()).st_size - end
                stream = _decompressing(_Slice(f, end, size), comp, f"{path}: payload")  # type: ignore[arg-type]
                try:
                    return _cpio_extract(stream, path, dest, limit)
                except ArchiveError:
                    raise
                except _decode_errors() as exc:
                    raise ArchiveError(f"{path}: corrupt rpm payload: {exc}") from None
        except OSError as exc:
            raise ArchiveError(f"cannot read: {exc}", source=path) from None
    raise ArchiveError("not a .deb, .ddeb or .rpm package", source=path)
