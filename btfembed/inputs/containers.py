"""Where BTF comes from: raw files, ELF ``.BTF`` sections, compressed files
and BTFHub ``.btf.tar.xz`` archives, all decided from the bytes.

``unwrap(data)`` peels containers until raw BTF remains:

* raw BTF (magic 0xEB9F, either byte order) -> itself;
* ELF (vmlinux, BPF object, ``.ko`` module) -> its ``.BTF`` section;
* xz, gzip, bzip2 -> decompressed (streaming, with a size cap; every
  concatenated stream, trailing garbage refused), then again;
* tar (plain or inside a compressor) -> its one BTF member, read in memory.
  Only regular members count; a member with an absolute path or ``..``
  is refused, and so is an archive with no BTF or several.  A BTF member
  is sized from its header first, so a sparse member cannot expand beyond
  the BTF it declares.

Raw BTF must end where its header says: bytes after the last section
(zeros too, which the kernel refuses) are an error.

Nothing is ever extracted to disk.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import zlib
from typing import Iterable, NamedTuple

from btfembed.btf import wire
from btfembed.btf.reader import BTF, declared_size
from btfembed.errors import ArchiveError, BTFFormatError, ELFFormatError
from btfembed.inputs.files import read_bytes

__all__ = ["detect_format", "unwrap", "load_btf", "Unwrapped", "MAX_INPUT_BYTES", "SYS_VMLINUX"]

SYS_VMLINUX = "/sys/kernel/btf/vmlinux"
# Largest decompressed input accepted.  Real kernel BTF is 2-30 MB; the cap
# stops decompression bombs long before memory runs out.
MAX_INPUT_BYTES = int(os.environ.get("BTFEMBED_MAX_INPUT_BYTES", 512 * 1024 * 1024))
_MAX_NESTING = 4
_CHUNK = 1 << 20


class Unwrapped(NamedTuple):
    btf: bytes          # raw BTF bytes
    chain: tuple[str, ...]  # containers peeled, outermost first ("xz", "tar:5.4.0.btf", "elf")


def detect_format(data: bytes) -> str:
    """One of "btf", "elf", "xz", "gzip", "bzip2", "zstd", "tar" or "unknown"."""
    head = data[:8]
    if head[:2] in (b"\x9f\xeb", b"\xeb\x9f"):
        return "btf"
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(data) >= 262 and data[257:262] == b"ustar":
        return "tar"
    return "unknown"


_MAGIC = {"xz": b"\xfd7zXZ\x00", "gzip": b"\x1f\x8b", "bzip2": b"BZh"}


def _decompress(data: bytes, fmt: str, limit: int) -> bytes:
    """Decompress in 1 MB steps, refusing output beyond ``limit`` bytes.

    Concatenated streams (xz, bzip2) and members (gzip) are all read, as
    ``xz -dc``/``gzip -dc`` do; between and after xz streams only stream
    padding (NUL bytes in multiples of four) may follow, after gzip members
    NUL bytes; anything else is trailing garbage, an error as for ``xz -t``.
    """
    out: list[bytes] = []
    total = 0

    def take(chunk: bytes) -> None:
        nonlocal total
        total += len(chunk)
        if total > limit:
            raise ArchiveError(f"{fmt} data expands beyond the {limit}-byte limit")
        out.append(chunk)

    rest = data
    streams = 0
    while True:
        try:
            if fmt == "gzip":
                z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                take(z.decompress(rest, _CHUNK))
                while z.unconsumed_tail and not z.eof:
                    take(z.decompress(z.unconsumed_tail, _CHUNK))
                done, rest = z.eof, z.unused_data
            else:
                d = lzma.LZMADecompressor(lzma.FORMAT_XZ) if fmt == "xz" else bz2.BZ2Decompressor()
                take(d.decompress(rest, _CHUNK))
                while not d.eof and not d.needs_input:
                    take(d.decompress(b"", _CHUNK))
                done, rest = d.eof, d.unused_data
        except (lzma.LZMAError, OSError, EOFError, zlib.error, ValueError) as exc:
            what = f"{fmt} stream {streams + 1}" if streams else f"{fmt} data"
            raise ArchiveError(f"corrupt {what}: {exc}") from None
        if not done:
            raise ArchiveError(f"truncated {fmt} data" + (f" (stream {streams + 1})" if streams else ""))
        streams += 1
        if fmt in ("xz", "gzip"):
            pad = len(rest) - len(rest.lstrip(b"\0"))
            if fmt == "xz" and pad % 4:
                raise ArchiveError(f"xz stream padding of {pad} bytes after stream {streams} "
                                   "(must be a multiple of 4)")
            rest = rest[pad:]
        if not rest:
            return out[0] if len(out) == 1 else b"".join(out)
        if not rest.startswith(_MAGIC[fmt]):
            raise ArchiveError(f"trailing garbage after {fmt} stream {streams} ({len(rest)} bytes, "
                               f"starting with {rest[:4].hex()})")


def _from_tar(data: bytes, limit: int) -> tuple[bytes, str]:
    import tarfile  # imported when a kernel is decoded, not by every build

    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, ValueError) as exc:
        raise ArchiveError(f"corrupt tar archive: {exc}") from None
    chosen = []
    for m in members:
        name = m.name
        parts = name.replace("\\", "/").split("/")
        if name.startswith("/") or ".." in parts:
            raise ArchiveError(f"tar member with an unsafe path: {name!r}")
        if not m.isreg():
            continue
        if m.size > limit:
            raise ArchiveError(f"tar member {name!r} is larger than the {limit}-byte limit")
        chosen.append(m)
    btf_members = [m for m in chosen if m.name.endswith(".btf")] or chosen
    if not btf_members:
        raise ArchiveError("tar archive holds no regular file")
    if len(btf_members) > 1:
        names = ", ".join(sorted(m.name for m in btf_members)[:4])
        raise ArchiveError(f"tar archive holds several candidate BTF files ({names}); expected one")
    m = btf_members[0]
    f = tar.extractfile(m)
    if f is None:  # pragma: no cover - regular members always have data
        raise ArchiveError(f"cannot read tar member {m.name!r}")
    try:
        # A BTF member is sized from its header before the rest is read: a
        # sparse member can expand far beyond what the archive stores.
        body = f.read(wire.HEADER_LEN_LAYOUT)
        end = declared_size(body)
        if end is not None and m.size > end:
            raise ArchiveError(f"tar member {m.name!r}: {m.size - end} bytes after the BTF's declared sections "
                               f"(which end at byte {end})")
        body += f.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"corrupt tar member {m.name!r}: {exc}") from None
    if len(body) != m.size:
        raise ArchiveError(f"tar member {m.name!r} is truncated")
    return body, m.name


def unwrap(data: bytes, *, limit: int | None = None, elf_section: str = ".BTF") -> Unwrapped:
    """Peel containers off ``data`` until raw BTF remains (see module doc)."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    chain: list[str] = []
    for _ in range(_MAX_NESTING + 1):
        fmt = detect_format(data)
        if fmt == "btf":
            end = declared_size(data)
            if end is not None and len(data) > end:
                inside = f" (in {chain[-1]})" if chain else ""
                raise BTFFormatError(f"{len(data) - end} bytes after the BTF's declared sections{inside} "
                                     f"(which end at byte {end})", offset=end)
            return Unwrapped(data, tuple(chain))
        if fmt == "elf":
            from btfembed.inputs.elf import ElfFile
            sec = ElfFile(data).section_data(elf_section, limit)
            if sec is None:
                raise ELFFormatError(f"ELF file has no {elf_section} section")
            chain.append("elf")
            if detect_format(sec) != "btf":
                raise BTFFormatError(f"the {elf_section} section does not hold BTF (bad magic)", offset=0)
            return Unwrapped(sec, tuple(chain))
        if fmt in ("xz", "gzip", "bzip2"):
            data = _decompress(data, fmt, limit)
            chain.append(fmt)
            continue
        if fmt == "tar":
            data, name = _from_tar(data, limit)
            chain.append(f"tar:{name}")
            continue
        if fmt == "zstd":
            raise ArchiveError("zstd-compressed input is not supported; decompress it first (zstd -d)")
        inside = ""
        if chain:  # say what held the unrecognized data
            inside = f"tar member {chain[-1][4:]!r}: " if chain[-1].startswith("tar:") else f"{chain[-1]} content: "
        if not data:
            raise BTFFormatError(f"{inside}empty input")
        raise BTFFormatError(
            f"{inside}not BTF, ELF, xz, gzip, bzip2 or tar data (starts with {data[:4].hex()})", offset=0)
    raise ArchiveError(f"containers nested more than {_MAX_NESTING} deep")


def load_btf(path: str, *, base: BTF | None = None, data: bytes | None = None,
             prefetch: Iterable[str] = ()) -> BTF:
    """Open a kernel (or module, with ``base``) BTF from any supported source.

    A debug kernel (DWARF vmlinux without .BTF, or a .deb/.ddeb/.rpm debug
    package) is converted with pahole (``btfembed.inputs.debuginfo``).
    Errors name the path: ``<path>: <what was wrong>``.
    """
    if data is None:
        from btfembed.inputs import debuginfo
        if debuginfo.sniff(path):
            data = debuginfo.to_btf(path)
    if data is None:
        data = read_bytes(path, limit=MAX_INPUT_BYTES)
    try:
        raw = unwrap(data).btf
        return BTF(raw, base=base, source=path, prefetch=sorted(prefetch))
    except (BTFFormatError, ArchiveError, ELFFormatError) as exc:
        raise exc.with_source(path)
