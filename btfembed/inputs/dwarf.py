"""Kernel BTF from DWARF: an ELF vmlinux with debug info and no ``.BTF``.

Distributions publish debug kernels (``vmlinux`` with DWARF) long before,
or instead of, BTF; BTFHub makes its archives by running pahole over them.
This module does the same for one ELF file:

* ``probe(path)`` reads only the ELF header and section headers and tells
  whether the file is such a kernel (``.debug_info`` or ``.zdebug_info``
  and no ``.BTF``), its architecture, and whether some debug section is
  compressed in a way pahole cannot read;
* ``kernel_release(path)`` finds ``uname -r`` in the ``linux_banner``
  string ("Linux version RELEASE (...") in ``.rodata``;
* ``encode(path)`` runs pahole in a private temporary directory and returns
  the raw BTF bytes.

pahole flags by version (``pahole --version``), following what the kernel
build passes (scripts/pahole-flags.sh, later Makefile.btf):

=========  ===============================================================
< 1.22     refused: no ``--btf_encode_detached`` (BTF could only be written
           into the input file itself)
1.22-1.23  ``--btf_encode_detached=OUT --btf_gen_floats``
1.24-1.25  the same plus ``--lang_exclude=rust``; ENUM64 is emitted for
           64-bit enums (pahole's default since 1.24, as in kernel builds)
>= 1.26    ``--btf_encode_detached=OUT --lang_exclude=rust
           --btf_features=encode_force,var,float,enum64,decl_tag,type_tag,
           optimized_func,consistent_func``
=========  ===============================================================

pahole runs single-threaded (no ``-j``): before 1.26 parallel encoding does
not give the same type order on every run, and outputs must be
deterministic.  Per-CPU variables are encoded (pahole >= 1.22 handles the
zero-sized ones that made the kernel skip them with 1.18-1.21).

Compressed debug sections: old-style ``.zdebug_*`` and ``SHF_COMPRESSED``
zlib sections are read by pahole itself (elfutils).  pahole 1.24 silently
writes nothing for zstd-compressed (``ELFCOMPRESS_ZSTD``) sections, so such
a file is first decompressed into the temporary directory with
``objcopy --decompress-debug-sections`` (binutils; ``llvm-objcopy`` if
objcopy is missing or fails).

The program paths can be overridden with ``BTFEMBED_PAHOLE`` and
``BTFEMBED_OBJCOPY``.  Without pahole the error says to install the
``dwarves`` package.
"""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO, NamedTuple

from btfembed.errors import BTFEmbedError, ELFFormatError

__all__ = ["ToolMissingError", "DwarfError", "Probe", "probe", "kernel_release", "encode",
           "pahole_version", "pahole_args", "find_pahole", "PAHOLE_PACKAGE", "MAX_BTF_BYTES"]

PAHOLE_PACKAGE = "dwarves"
# Largest BTF pahole may produce (real kernels: 2-30 MB).
MAX_BTF_BYTES = 256 * 1024 * 1024
# Seconds one pahole (or objcopy) run may take; a full distribution
# vmlinux takes 10-60 s.
TIMEOUT = float(os.environ.get("BTFEMBED_PAHOLE_TIMEOUT", 1800))

_SHF_COMPRESSED = 0x800
_ELFCOMPRESS_ZLIB = 1
_SHT_NOBITS = 8
_BANNER = re.compile(rb"Linux version ([^\s\x00]+) \(")
_MACHINES = {62: "x86_64", 183: "arm64", 3: "x86", 40: "arm", 22: "s390x", 21: "ppc64le", 243: "riscv64",
             258: "loongarch64"}


class ToolMissingError(BTFEmbedError):
    """A program btfembed needs is not installed (the message names the package)."""

    exit_code = 2


class DwarfError(ELFFormatError):
    """A debug vmlinux that pahole cannot turn into BTF."""


class Section(NamedTuple):
    name: str
    type: int
    flags: int
    offset: int
    size: int
    compression: int   # ch_type of an SHF_COMPRESSED section, else 0


class Probe(NamedTuple):
    dwarf: bool          # has DWARF and no .BTF: needs pahole
    has_btf: bool
    arch: str            # "" when the machine is unknown
    exotic_compression: bool   # some debug section compressed in a way pahole cannot read


def _read_exact(f: BinaryIO, offset: int, size: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ELFFormatError(f"truncated ELF file ({what})")
    return data


def _sections(f: BinaryIO) -> tuple[list[Section], int, str]:
    """Section headers of the ELF file ``f`` (names resolved), e_machine, byte order."""
    ident = _read_exact(f, 0, 16, "identification")
    if ident[:4] != b"\x7fELF":
        raise ELFFormatError("not an ELF file", offset=0)
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise ELFFormatError("bad ELF class or data encoding", offset=4)
    wide = ident[4] == 2
    end = "<" if ident[5] == 1 else ">"
    if wide:
        hdr = _read_exact(f, 16, 48, "header")
        _type, machine, _v, _entry, _phoff, shoff, _flags, _ehsize, _phes, _phn, shentsize, shnum, shstrndx = \
            struct.unpack(end + "HHIQQQIHHHHHH", hdr)
    else:
        hdr = _read_exact(f, 16, 36, "header")
        _type, machine, _v, _entry, _phoff, shoff, _flags, _ehsize, _phes, _phn, shentsize, shnum, shstrndx = \
            struct.unpack(end + "HHIIIIIHHHHHH", hdr)
    want = 64 if wide else 40
    if shoff == 0:
        return [], machine, end
    if shentsize < want:
        raise ELFFormatError(f"bad section header size {shentsize}")
    first = _read_exact(f, shoff, want, "section header 0")
    raw0 = struct.unpack(end + ("IIQQQQIIQQ" if wide else "IIIIIIIIII"), first)
    if shnum == 0:
        shnum = raw0[5]           # sh_size of section 0 holds the real count
    if shstrndx == 0xFFFF:
        shstrndx = raw0[6]        # sh_link of section 0
    if shnum > 1 << 20:
        raise ELFFormatError(f"implausible section count {shnum}")
    table = _read_exact(f, shoff, shentsize * shnum, "section headers")
    raw = []
    for i in range(shnum):
        ent = table[i * shentsize:i * shentsize + want]
        if wide:
            name, typ, flags, _addr, off, size, _link, _info, _align, _es = struct.unpack(end + "IIQQQQIIQQ", ent)
        else:
            name, typ, flags, _addr, off, size, _link, _info, _align, _es = struct.unpack(end + "IIIIIIIIII", ent)
        raw.append((name, typ, flags, off, size))
    if not 0 <= shstrndx < shnum:
        raise ELFFormatError(f"bad section name table index {shstrndx}")
    _n, _t, _f, stroff, strsize = raw[shstrndx]
    if strsize > 64 << 20:
        raise ELFFormatError("implausible section name table size")
    strtab = _read_exact(f, stroff, strsize, "section names")
    out = []
    for name, typ, flags, off, size in raw:
        end_name = strtab.find(b"\0", name)
        text = strtab[name:end_name if end_name >= 0 else None].decode("utf-8", "replace")
        comp = 0
        if flags & _SHF_COMPRESSED and typ != _SHT_NOBITS and size >= 4:
            comp = struct.unpack(end + "I", _read_exact(f, off, 4, f"section {text}"))[0]
        out.append(Section(text, typ, flags, off, size, comp))
    return out, machine, end


def probe(path: str) -> Probe | None:
    """What kind of ELF ``path`` is, or None if it is not an ELF file.
    Reads only headers; errors name the path."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
            secs, machine, _end = _sections(f)
    except ELFFormatError as exc:
        raise exc.with_source(path)
    except OSError as exc:
        raise ELFFormatError(f"cannot read: {exc.strerror or exc}", source=path) from None
    names = {s.name for s in secs}
    has_btf = ".BTF" in names
    dwarf = not has_btf and bool(names & {".debug_info", ".zdebug_info"})
    exotic = any(s.name.startswith(".debug_") and s.compression not in (0, _ELFCOMPRESS_ZLIB) for s in secs)
    return Probe(dwarf, has_btf, _MACHINES.get(machine, ""), exotic)


def kernel_release(path: str) -> str | None:
    """``uname -r`` of a vmlinux, from its ``linux_banner`` ("Linux version
    RELEASE (builder) ...") in ``.rodata``; None if there is none."""
    try:
        with open(path, "rb") as f:
            secs, _m, _e = _sections(f)
            for s in secs:
                if s.name != ".rodata" or s.type == _SHT_NOBITS or s.compression:
                    continue
                # Read in overlapping chunks: .rodata of a real kernel is 10-30 MB.
                pos, tail = s.offset, b""
                stop = s.offset + s.size
                while pos < stop:
                    f.seek(pos)
                    chunk = f.read(min(1 << 22, stop - pos))
                    if not chunk:
                        break
                    m = _BANNER.search(tail + chunk)
                    if m:
                        return m.group(1).decode("utf-8", "replace")
                    tail = chunk[-256:]
                    pos += len(chunk)
    except ELFFormatError as exc:
        raise exc.with_source(path)
    except OSError as exc:
        raise ELFFormatError(f"cannot read: {exc.strerror or exc}", source=path) from None
    return None


# subprocess, shutil and tempfile are imported by the functions that run
# tools: most builds meet no DWARF kernel and only probe files.


def find_pahole() -> str:
    import shutil

    exe = os.environ.get("BTFEMBED_PAHOLE") or shutil.which("pahole")
    if not exe:
        raise ToolMissingError(f"pahole is needed to turn DWARF into BTF and was not found on PATH: "
                               f"install the '{PAHOLE_PACKAGE}' package (apt install {PAHOLE_PACKAGE}, "
                               f"dnf install {PAHOLE_PACKAGE})")
    return exe


def pahole_version(exe: str | None = None) -> tuple[int, int]:
    """(major, minor) of ``pahole --version`` ("v1.24")."""
    import subprocess

    exe = exe or find_pahole()
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise ToolMissingError(f"cannot run {exe}: {exc.strerror or exc} (install the '{PAHOLE_PACKAGE}' package)") \
            from None
    m = re.search(r"v?(\d+)\.(\d+)", out.stdout + out.stderr)
    if out.returncode != 0 or not m:
        raise ToolMissingError(f"{exe} --version gave no version (is it pahole from '{PAHOLE_PACKAGE}'?)")
    return int(m.group(1)), int(m.group(2))


def pahole_args(version: tuple[int, int], out: str) -> list[str]:
    """The encoding flags for this pahole version (see the module table)."""
    if version < (1, 22):
        raise ToolMissingError(f"pahole {version[0]}.{version[1]} cannot write detached BTF: "
                               f"pahole 1.22 or later is needed (package '{PAHOLE_PACKAGE}')")
    args = [f"--btf_encode_detached={out}"]
    if version >= (1, 26):
        args += ["--lang_exclude=rust",
                 "--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func"]
    else:
        args.append("--btf_gen_floats")
        if version >= (1, 24):
            args.append("--lang_exclude=rust")
    return args


def _run(cmd: list[str], what: str) -> None:
    import subprocess

    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DwarfError(f"{what} took longer than {TIMEOUT:.0f} s (BTFEMBED_PAHOLE_TIMEOUT)") from None
    except OSError as exc:
        raise ToolMissingError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
        raise DwarfError(f"{what} failed (exit {p.returncode}): {lines[-1] if lines else 'no message'}")


def _decompressed(path: str, tmp: str) -> str:
    """A copy of ``path`` with plain debug sections, in ``tmp``."""
    import shutil

    out = os.path.join(tmp, "vmlinux.plain")
    tools = [t for t in (os.environ.get("BTFEMBED_OBJCOPY"), shutil.which("objcopy"), shutil.which("llvm-objcopy"))
             if t]
    if not tools:
        raise ToolMissingError("objcopy is needed to decompress zstd debug sections: install 'binutils'")
    last: BTFEmbedError | None = None
    for tool in tools:
        try:
            _run([tool, "--decompress-debug-sections", path, out], f"{os.path.basename(tool)} "
                 "--decompress-debug-sections")
            return out
        except BTFEmbedError as exc:
            last = exc
    assert last is not None
    raise last


def encode(path: str, *, pahole: str | None = None, version: tuple[int, int] | None = None) -> bytes:
    """Raw BTF for the DWARF of the ELF file ``path`` (pahole, see the module
    documentation).  Everything pahole (and objcopy) write stays in a private
    temporary directory, removed afterwards."""
    import tempfile

    exe = pahole or find_pahole()
    version = version or pahole_version(exe)
    info = probe(path)
    if info is None:
        raise DwarfError("not an ELF file", source=path)
    if info.has_btf:
        raise DwarfError("already has a .BTF section (no conversion needed)", source=path)
    if not info.dwarf:
        raise DwarfError("has neither .BTF nor DWARF (.debug_info): not a debug kernel", source=path)
    with tempfile.TemporaryDirectory(prefix="btfembed-dwarf-") as tmp:
        src = _decompressed(path, tmp) if info.exotic_compression else path
        out = os.path.join(tmp, "vmlinux.btf")
        try:
            _run([exe, *pahole_args(version, out), src], "pahole")
        except DwarfError as exc:
            raise exc.with_source(path)
        try:
            size = os.path.getsize(out)
        except OSError:
            raise DwarfError("pahole wrote no BTF (unsupported or empty debug info?)", source=path) from None
        if size > MAX_BTF_BYTES:
            raise DwarfError(f"pahole wrote {size} bytes of BTF, more than the {MAX_BTF_BYTES}-byte limit",
                             source=path)
        with open(out, "rb") as f:
            data = f.read()
    if data[:2] not in (b"\x9f\xeb", b"\xeb\x9f"):
        raise DwarfError("pahole wrote something that is not BTF", source=path)
    return data
