"""Pick the embedded BTF for the running kernel and hand it to libbpf (Python).

This module is the Python twin of the C runtime (``btfembed.h`` /
``btfembed.c``) and follows the same rules.  It uses the standard library
only and imports nothing from btfembed: ``btfembed generate --lang python``
copies it, unchanged, into the generated module, so a wheel that embeds BTF
does not need btfembed (or its dependencies) at run time.

Rules, in order:

1. If ``/sys/kernel/btf/vmlinux`` is readable the kernel has its own BTF:
   status ``KERNEL_BTF``, no blob (libbpf uses the kernel's).  ``force=True``
   or ``BTFEMBED_FORCE=1`` skips this check.
2. The running kernel's key is (arch, distro, distro version, release):
   ``uname -m`` normalized to BTFHub names (``aarch64`` -> ``arm64``),
   ``ID`` and ``VERSION_ID`` of ``/etc/os-release`` (else
   ``/usr/lib/os-release``; quotes and escapes removed as os-release(5)
   says; empty when missing) and ``uname -r``.
3. The full key is looked up first.  Otherwise every entry with the same
   release and arch is a candidate (a container's os-release describes the
   image, not the host kernel): if they all share one blob it is used
   (``exact`` false), if their blobs differ the status is ``AMBIGUOUS``,
   with none ``NO_MATCH``.
4. The blob is handed over as a path for libbpf's ``btf_custom_path``: a
   sealed memfd seen through ``/proc/self/fd/N``, or, without memfd or
   ``/proc`` (or with ``memfd=False`` / ``BTFEMBED_NO_MEMFD=1``), a private
   ``mkstemp`` file (mode 0600) in ``tmpdir`` / ``$TMPDIR`` / ``/tmp``.  It
   is closed or removed when the context manager exits.

Overrides (environment variables win over arguments unless
``use_env=False``): ``BTFEMBED_FORCE``, ``BTFEMBED_KEY`` / ``key=``
(``distro/version/arch/release``, ``_`` for an empty field: exactly this
entry, no fallback), ``BTFEMBED_HOST_ROOT`` / ``host_root=`` (read
``<root>/etc/os-release`` then ``<root>/usr/lib/os-release``, as agents in
containers see the host), ``BTFEMBED_OS_RELEASE`` (file read instead of the
os-release files), ``BTFEMBED_RELEASE`` and ``BTFEMBED_MACHINE`` (instead
of ``uname``), ``BTFEMBED_SYSFS_BTF`` (instead of
``/sys/kernel/btf/vmlinux``), ``BTFEMBED_NO_MEMFD``, ``BTFEMBED_DEBUG`` /
``debug=`` (print ``explain()``, one line, on stderr).  An empty variable
counts as unset; ``0`` is false for the boolean ones.

Integrity: every blob's SHA-256 (and the pack index's) is checked before
its bytes are returned (``InvalidPackError`` otherwise).  ``check_object``
is the stale-object guard: it fails when a BPF object is not one the pack
was built for.

Sources (``source`` argument): a pack file path, pack bytes, a generated
module (or anything with ``__btfembed_source__``), a ``btfembed.embed.pack.Pack``,
or a mapping ``{(arch, distro, distro_version, release): blob}``.  In a
generated module the module itself is the default source::

    from mypkg import _btf
    with _btf.btf_path() as path:       # None: the kernel has BTF, or no match
        obj = open_bpf_object(..., btf_custom_path=path)

Parsing details shared with ``btfembed.embed.keys`` and the C runtime: lines end at
``\\n`` or ``\\r``; only ASCII whitespace is stripped; at most the first
64 KiB of an os-release file is read; the last ``ID=`` wins.  Values longer
than 255 bytes (or containing NUL) never match, and generated tables refuse
such keys.
"""

import contextlib
import hashlib
import os
import struct
import zlib
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

__all__ = [
    "EMBEDDED", "KERNEL_BTF", "NO_MATCH", "AMBIGUOUS", "Lookup", "InvalidPackError", "NoBTFError",
    "normalize_arch", "parse_os_release", "read_os_release", "running_key", "lookup", "find_btf",
    "btf_path", "blob_path", "describe", "kernels", "explain", "check_object", "object_digest", "parse_key",
    "StaleObjectError", "btf_recode", "split_point", "unsplit_blob",
]

# Status values (Lookup.status); the C runtime's BTFEMBED_OK, _KERNEL_BTF,
# _NO_MATCH and _AMBIGUOUS.
EMBEDDED = "embedded"
KERNEL_BTF = "kernel-btf"
NO_MATCH = "no-match"
AMBIGUOUS = "ambiguous"

SYSFS_BTF = "/sys/kernel/btf/vmlinux"
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
OS_RELEASE_MAX = 64 * 1024
FIELD_MAX = 255
BLOB_MAX = 256 * 1024 * 1024

# Pack format 3 (docs/pack-format.md).  A copy of btfembed.embed.format,
# which owns these values: tests/test_pack_format.py fails when they drift.
PACK_MAGIC = b"BTFEMBED-PACK\n"
PACK_FORMAT = 3
PACK_HEADER_SIZE = 96
PACK_HEADER_STRUCT = "<14sHIIIIIIIII12s32s"
PACK_BLOCK_RECORD = 12
PACK_BLOB_RECORD = 44
PACK_ENTRY_RECORD = 20
PACK_OBJECT_RECORD = 36
PACK_CODECS = {0: "none", 1: "zlib", 2: "xz", 3: "zstd"}
PACK_BLOCK_SIZE_MAX = 256 * 1024 * 1024
PACK_COUNT_MAX = 1 << 24
PACK_FLAG_BTF_RECODE = 1
PACK_FLAG_SPLIT = 2
PACK_FLAGS_KNOWN = PACK_FLAG_BTF_RECODE | PACK_FLAG_SPLIT
# BTF kind -> (bytes after the common 12, bytes per member, members start
# with a name, where in a member a value is stored as a difference or 0)
PACK_BTF_KINDS = {
    1: (4, 0, False, 0), 2: (0, 0, False, 0), 3: (12, 0, False, 0), 4: (0, 12, True, 8),
    5: (0, 12, True, 8), 6: (0, 8, True, 4), 7: (0, 0, False, 0), 8: (0, 0, False, 0),
    9: (0, 0, False, 0), 10: (0, 0, False, 0), 11: (0, 0, False, 0), 12: (0, 0, False, 0),
    13: (0, 8, True, 0), 14: (4, 0, False, 0), 15: (0, 12, False, 0), 16: (0, 0, False, 0),
    17: (4, 0, False, 0), 18: (0, 0, False, 0), 19: (0, 12, True, 0),
}
_WS = " \t\n\v\f\r"
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# Same table as btfembed.embed.keys and btfembed.c (tests compare all three).
_ARCH_ALIASES = {
    "aarch64": "arm64", "arm64": "arm64", "armv8": "arm64",
    "x86_64": "x86_64", "amd64": "x86_64", "x86-64": "x86_64", "x64": "x86_64",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86",
    "armv7l": "arm", "armv6l": "arm", "armhf": "arm", "arm": "arm",
    "ppc64le": "ppc64le", "powerpc64le": "ppc64le",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loongarch64", "mips64": "mips64",
}

# The source used when none is given: a generated module sets it to its own
# data; in btfembed.embed.runtime itself there is none.
_DEFAULT_SOURCE: Any = None


class InvalidPackError(ValueError):
    """Embedded data that is not a valid btfembed pack (corrupt or stale)."""


class NoBTFError(LookupError):
    """``btf_path(required=True)`` found no embedded BTF for this kernel."""


class Lookup(NamedTuple):
    """Result of ``lookup``.

    ``status``: EMBEDDED, KERNEL_BTF, NO_MATCH or AMBIGUOUS; ``key``: the
    running kernel's (arch, distro, distro_version, release); ``match``: the
    table key used (None unless EMBEDDED); ``exact``: whether the full key
    matched (False for the release+arch fallback); ``blob``: the raw BTF
    (None unless EMBEDDED).
    """

    status: str
    key: "tuple[str, ...]"
    match: "tuple[str, ...] | None"
    exact: bool
    blob: "bytes | None"
    how: str = "none"            # exact, shared, ambiguous, none, kernel-btf
    digest: "bytes | None" = None  # the blob's SHA-256 (as recorded in the pack)
    source: str = ""             # what the key was computed from


class StaleObjectError(ValueError):
    """``check_object``: the BPF object is not one the pack was built for."""


_DESCRIPTIONS = {
    EMBEDDED: "embedded BTF selected for this kernel",
    KERNEL_BTF: "the kernel has its own BTF (/sys/kernel/btf/vmlinux)",
    NO_MATCH: "no embedded BTF for this kernel",
    AMBIGUOUS: "no embedded BTF for this kernel's distribution, and its release matches several different BTFs",
}


def describe(status: str) -> str:
    """A sentence for a status (``btfembed_strerror`` in C)."""
    return _DESCRIPTIONS.get(status, "unknown btfembed status")


# --------------------------------------------------------------------------
# Kernel key


def normalize_arch(machine: str) -> str:
    """BTFHub's name for an architecture (``aarch64`` -> ``arm64``)."""
    m = machine.strip(_WS).translate(_ASCII_LOWER)
    return _ARCH_ALIASES.get(m, m)


def _unquote(value: str) -> str:
    value = value.strip(_WS)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        quote, body = value[0], value[1:-1]
        if quote == "'":
            return body
        out, i = [], 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body) and body[i + 1] in "\"\\$`":
                out.append(body[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return value


def parse_os_release(text: str) -> "dict[str, str]":
    """Parse os-release(5) content: ``KEY=value`` lines, values optionally
    single- or double-quoted (backslash escapes ``\\" \\\\ \\$ \\```` inside
    double quotes), ``#`` comment lines; the last assignment wins."""
    out = {}
    for line in text.replace("\r", "\n").split("\n"):
        line = line.strip(_WS)
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip(_WS)
        if key and all(c in _KEY_CHARS for c in key):
            out[key] = _unquote(value)
    return out


def _env(name: str, use_env: bool) -> "str | None":
    if not use_env:
        return None
    value = os.environ.get(name)
    return value if value else None


def _env_true(name: str, use_env: bool) -> bool:
    value = _env(name, use_env)
    return value is not None and value != "0"


def read_os_release(path: "str | None" = None, *, use_env: bool = True) -> "dict[str, str]":
    """The os-release fields: from ``BTFEMBED_OS_RELEASE``, else ``path``, else
    /etc/os-release then /usr/lib/os-release; empty when unreadable."""
    override = _env("BTFEMBED_OS_RELEASE", use_env) or path
    for candidate in (override,) if override else OS_RELEASE_PATHS:
        try:
            data = _read_head(candidate, OS_RELEASE_MAX)
        except OSError:
            continue
        return parse_os_release(data.decode("utf-8", "replace"))
    return {}


def _read_head(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``path``, opened non-blocking (a FIFO reads
    as empty or fails, it never hangs), as the C runtime reads it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        chunks, total = [], 0
        while total < limit:
            chunk = os.read(fd, limit - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def parse_key(text: str) -> "tuple[str, ...] | None":
    """``distro/version/arch/release`` (``_`` for an empty field; the release
    is the rest) -> (arch, distro, distro_version, release), or None."""
    parts = text.split("/", 3)
    if len(parts) != 4:
        return None
    distro, version, arch, release = ("" if p == "_" else p for p in parts)
    if not arch or not release:
        return None
    return (normalize_arch(arch), distro, version, release)


def _key_info(os_release: "str | None", release: "str | None", machine: "str | None",
              host_root: "str | None", key: "str | None", use_env: bool) -> "tuple[tuple[str, ...], str, bool]":
    """(key, what it was computed from, explicit) -- as the C runtime does,
    which also empties a field it cannot hold (see ``_usable_key``)."""
    explicit = _env("BTFEMBED_KEY", use_env)
    source = "BTFEMBED_KEY"
    if explicit is None and key:
        explicit, source = key, "key option"
    if explicit is not None:
        parsed = parse_key(explicit)
        if parsed is None:
            return ("", "", "", ""), source + " (not distro/version/arch/release)", True
        return parsed, source, True
    release = _env("BTFEMBED_RELEASE", use_env) or release
    machine = _env("BTFEMBED_MACHINE", use_env) or machine
    overridden = release is not None or machine is not None
    if release is None or machine is None:
        u = os.uname()
        release = u.release if release is None else release
        machine = u.machine if machine is None else machine
    override = _env("BTFEMBED_OS_RELEASE", use_env) or os_release
    if override:
        candidates: tuple[str, ...] = (override,)
    else:
        root = _env("BTFEMBED_HOST_ROOT", use_env) or host_root or ""
        candidates = tuple(root + p for p in OS_RELEASE_PATHS)
    osr, osr_source = {}, "no os-release"
    for candidate in candidates:
        try:
            data = _read_head(candidate, OS_RELEASE_MAX)
        except OSError:
            continue
        osr, osr_source = parse_os_release(data.decode("utf-8", "replace")), candidate
        break
    key_tuple = (normalize_arch(machine), osr.get("ID", ""), osr.get("VERSION_ID", ""), release)
    return key_tuple, f"{osr_source}, {'override' if overridden else 'uname'}", False


def _usable(field: str) -> bool:
    return "\0" not in field and len(field.encode("utf-8", "surrogatepass")) <= FIELD_MAX


def _usable_key(key: "tuple[str, ...]") -> "tuple[tuple[str, ...], bool, bool]":
    """The key as the C runtime holds it: a field longer than FIELD_MAX bytes
    or holding a NUL is empty; (key, arch and release usable, distro and
    version usable).  An unusable part matches nothing: no entry without
    usable arch and release, no exact match without usable distro fields."""
    ok = [_usable(f) for f in key]
    return tuple(f if good else "" for f, good in zip(key, ok)), ok[0] and ok[3], ok[1] and ok[2]


def running_key(*, os_release: "str | None" = None, release: "str | None" = None,
                machine: "str | None" = None, host_root: "str | None" = None, key: "str | None" = None,
                use_env: bool = True) -> "tuple[str, ...]":
    """The running kernel's (arch, distro, distro_version, release);
    ``host_root`` / ``BTFEMBED_HOST_ROOT``: read the os-release files under
    that directory; ``key`` / ``BTFEMBED_KEY`` (distro/version/arch/release):
    this key, exactly."""
    return _key_info(os_release, release, machine, host_root, key, use_env)[0]


# --------------------------------------------------------------------------
# Sources


class _Table:
    """Kernel entries sorted by key (UTF-8 byte order, as in C), each with a
    blob id, and a way to get a blob's raw bytes."""

    def __init__(self, entries: "Iterable[tuple[tuple[str, ...], int]]", get_blob: Any):
        self.entries = sorted(entries, key=lambda e: tuple(f.encode("utf-8", "surrogatepass") for f in e[0]))
        self.get_blob = get_blob
        self.objects: "list[tuple[str, bytes]]" = []      # (name, stale-object digest) of a pack
        self.blob_digest: Any = lambda i: hashlib.sha256(get_blob(i)).digest()
        self.info: "dict[str, object]" = {}


def _elf_sections(data: bytes) -> "dict[str, bytes]":
    """Section name -> bytes of an ELF file (32/64-bit, either byte order)."""
    def bad(why: str) -> InvalidPackError:
        return InvalidPackError(f"not a BPF object (ELF): {why}")

    if data[:4] != b"\x7fELF" or len(data) < 52:
        raise bad("no ELF header")
    cls, order = data[4], data[5]
    if cls not in (1, 2) or order not in (1, 2):
        raise bad("unknown ELF class or byte order")
    e = "<" if order == 1 else ">"
    try:
        if cls == 2:
            shoff, = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
            fmt, want = e + "IIQQQQ", 64
        else:
            shoff, = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
            fmt, want = e + "IIIIII", 40
        if shentsize < want or shoff + shnum * shentsize > len(data):
            raise bad("section headers out of range")
        heads = []
        for i in range(shnum):
            name, stype, _flags, _addr, off, size = struct.unpack_from(fmt, data, shoff + i * shentsize)
            heads.append((name, stype, off, size))
        if shstrndx >= shnum:
            raise bad("no section name table")
        _, _, stroff, strsize = heads[shstrndx]
        if stroff + strsize > len(data):
            raise bad("section name table out of range")
        names = data[stroff:stroff + strsize]
        out: dict[str, bytes] = {}
        for name, stype, off, size in heads:
            if name >= len(names) or stype == 8:  # SHT_NOBITS holds no bytes
                continue
            end = names.find(b"\0", name)
            if end < 0:
                raise bad("section name runs past its table")
            if off + size > len(data):
                raise bad("section runs past the end")
            out.setdefault(names[name:end].decode("utf-8", "replace"), data[off:off + size])
        return out
    except struct.error:
        raise bad("truncated") from None


def object_digest(data: bytes) -> bytes:
    """What a BPF object's CO-RE relocations depend on, as one SHA-256:
    sha256(u32 len(.BTF) || .BTF || u32 len(.BTF.ext) || .BTF.ext)."""
    sections = _elf_sections(bytes(data))
    btf, ext = sections.get(".BTF", b""), sections.get(".BTF.ext", b"")
    return hashlib.sha256(struct.pack("<I", len(btf)) + btf + struct.pack("<I", len(ext)) + ext).digest()


def _pack_table(data: bytes, name: str = "pack") -> "_Table":
    """Read a btfembed pack (format 3, docs/pack-format.md): the header, the
    index digest and every table now; a blob (its block decompressed, its
    size and sha256 checked) on demand."""

    def bad(why: str) -> InvalidPackError:
        return InvalidPackError(f"{name}: not a valid btfembed pack: {why}")

    data = bytes(data)
    if not data.startswith(PACK_MAGIC):
        raise bad("wrong magic")
    if len(data) < PACK_HEADER_SIZE:
        raise bad("truncated header")
    (_, fmt, codec, n_entries, n_blobs, n_blocks, n_objects, strings_size, block_max, flags,
     pack_size, _, meta_digest) = struct.unpack_from(PACK_HEADER_STRUCT, data, 0)
    if fmt != PACK_FORMAT:
        raise bad(f"unsupported format {fmt} (this runtime reads format {PACK_FORMAT}; rebuild the pack)")
    if codec not in PACK_CODECS:
        raise bad(f"unknown codec {codec}")
    if flags & ~PACK_FLAGS_KNOWN:
        raise bad(f"unknown flags {flags:#x}")
    if pack_size != len(data):
        raise bad(f"size {len(data)} but the header says {pack_size} (truncated or padded)")
    if max(n_entries, n_blobs, n_blocks, n_objects) >= PACK_COUNT_MAX or block_max > PACK_BLOCK_SIZE_MAX:
        raise bad("counts out of range")
    tables = (PACK_HEADER_SIZE, n_blocks * PACK_BLOCK_RECORD, n_blobs * PACK_BLOB_RECORD,
              n_entries * PACK_ENTRY_RECORD, n_objects * PACK_OBJECT_RECORD, strings_size)
    data_offset = sum(tables)
    if data_offset > len(data):
        raise bad("index runs past the end")
    if hashlib.sha256(data[:64] + data[PACK_HEADER_SIZE:data_offset]).digest() != meta_digest:
        raise bad("index digest mismatch")
    pos = PACK_HEADER_SIZE
    blocks = []
    expect = 0
    for _ in range(n_blocks):
        off, stored, raw = struct.unpack_from("<III", data, pos)
        pos += PACK_BLOCK_RECORD
        if off != expect or data_offset + off + stored > len(data) or raw > block_max:
            raise bad("block out of place")
        if codec == 0 and stored != raw:
            raise bad("stored block size differs from its raw size")
        blocks.append((data_offset + off, stored, raw))
        expect = off + stored
    if data_offset + expect != len(data):
        raise bad("data after the last block")
    blobs = []
    for _ in range(n_blobs):
        block, off, length = struct.unpack_from("<III", data, pos)
        digest = data[pos + 12:pos + PACK_BLOB_RECORD]
        pos += PACK_BLOB_RECORD
        if block >= n_blocks or off + length > blocks[block][2] or length > BLOB_MAX:
            raise bad("blob out of its block")
        blobs.append((block, off, length, digest))
    strings = data[data_offset - strings_size:data_offset]
    if strings_size and (strings[:1] != b"\0" or strings[-1:] != b"\0"):
        raise bad("malformed string table")
    string_cache: dict[int, str] = {}

    def string(off: int) -> str:
        s = string_cache.get(off)
        if s is None:
            if off >= strings_size or (off and strings[off - 1] != 0):
                raise bad("string offset out of range")
            end = strings.index(b"\0", off)
            if end - off > FIELD_MAX:
                raise bad("string too long")
            try:
                s = string_cache[off] = strings[off:end].decode("utf-8")
            except UnicodeDecodeError:
                raise bad("string is not UTF-8") from None
        return s

    entries = []
    prev = None
    for _ in range(n_entries):
        a, d, v, r, i = struct.unpack_from("<IIIII", data, pos)
        pos += PACK_ENTRY_RECORD
        key = (string(a), string(d), string(v), string(r))
        if i >= n_blobs:
            raise bad(f"kernel entry refers to blob {i}")
        bkey = tuple(f.encode("utf-8") for f in key)
        if prev is not None and bkey <= prev:
            raise bad("kernel entries are not sorted")
        prev = bkey
        entries.append((key, i))
    objects = []
    for _ in range(n_objects):
        (o,) = struct.unpack_from("<I", data, pos)
        objects.append((string(o), data[pos + 4:pos + PACK_OBJECT_RECORD]))
        pos += PACK_OBJECT_RECORD
    codec_name = PACK_CODECS[codec]
    cached: list[tuple[int, bytes]] = []  # the last block decompressed

    def get_block(b: int) -> bytes:
        if cached and cached[0][0] == b:
            return cached[0][1]
        start, stored, raw_size = blocks[b]
        raw = _decompress(codec_name, data[start:start + stored], raw_size, lambda why: bad(f"block {b}: {why}"))
        cached[:] = [(b, raw)]
        return raw

    members: dict[int, list[int]] = {}
    for i, (block, _, _, _) in enumerate(blobs):
        members.setdefault(block, []).append(i)

    def get_blob(i: int) -> bytes:
        block, off, length, digest = blobs[i]
        if flags & PACK_FLAG_SPLIT:
            raw = unsplit_blob(get_block(block), [blobs[j][2] for j in members[block]], members[block].index(i))
        else:
            raw = get_block(block)[off:off + length]
        if flags & PACK_FLAG_BTF_RECODE:
            raw = btf_recode(raw, encode=False)
        if len(raw) != length or hashlib.sha256(raw).digest() != digest:
            raise bad(f"blob {i}: digest mismatch")
        return raw

    table = _Table(entries, get_blob)
    table.objects = objects
    table.blob_digest = lambda i: blobs[i][3]
    table.info = {"codec": codec_name, "n_blobs": n_blobs, "n_blocks": n_blocks, "block_max": block_max,
                  "pack_size": pack_size, "flags": flags}
    return table


def split_point(head: bytes, length: int) -> int:
    """Where a blob of ``length`` bytes starting with ``head`` (its first 24
    bytes or fewer) is cut when blocks are split (docs/pack-format.md): at
    its string section when it is BTF whose string section ends the blob
    after the type section, else at its end."""
    if length < 24 or len(head) < 24:
        return length
    magic, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<H2xIIIII", head)
    s0: int = hdr_len + str_off
    if magic != 0xEB9F or hdr_len < 24 or hdr_len + type_off + type_len > s0 or s0 + str_len != length:
        return length
    return s0


def unsplit_blob(block: bytes, lengths: "list[int]", k: int) -> bytes:
    """Blob ``k`` of a split block whose blobs have ``lengths``, in order: its
    first part among the first parts, its second after all of them (b"" when
    the block does not hold them)."""
    a = rest = 0
    mine = (0, 0, 0)
    for j, n in enumerate(lengths):
        c = split_point(block[a:a + 24], n)
        if j == k:
            mine = (a, c, rest)
        a += c
        rest += n - c
    at, c, b = mine
    out = block[at:at + c] + block[a + b:a + b + lengths[k] - c]
    return out if a + rest <= len(block) else b""


def btf_recode(blob: bytes, *, encode: bool) -> bytes:
    """The BTF recoding of docs/pack-format.md (``encode=False``: its
    inverse).  Defined for any bytes and length-preserving; in a blob shaped
    like little-endian BTF:

    * each name offset of the type records (a type's name, a member's, an
      enumerator's, a parameter's) that points at the next string not yet
      named becomes 0, a smaller one grows by 1 and a larger one stays:
      strings are laid out in order of first use, so most names become 0
      instead of offsets that shift from one kernel to the next;
    * struct and union member offsets and enumerator values become the
      difference from the previous member's, so a member added or grown in
      one kernel changes one value, not every later one.

    The walk (header, kinds, member counts) and the string section read the
    same before and after, so decoding retraces the encoding."""
    n = len(blob)
    if n < 24:
        return blob
    magic, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<H2xIIIII", blob)
    if magic != 0xEB9F or hdr_len < 24:
        return blob
    t0, s0 = hdr_len + type_off, hdr_len + str_off
    t1, s1 = t0 + type_len, s0 + str_len
    if t1 > n or s1 > n or not (t1 <= s0 or s1 <= t0):
        return blob
    strs = blob[s0:s1]
    out = bytearray(blob)
    nxt = 1
    pos = t0
    unpack, pack = struct.unpack_from, struct.pack_into
    while pos + 12 <= t1:
        info = unpack("<I", out, pos + 4)[0]
        spec = PACK_BTF_KINDS.get((info >> 24) & 0x1F)
        if spec is None:
            break
        extra, member, named, delta = spec
        end = pos + 12 + extra + (info & 0xFFFF) * member
        if end > t1:
            break
        fields = range(pos + 12 + extra, end, member) if named else ()
        for f in (pos, *fields):
            v = unpack("<I", out, f)[0]
            if (v == nxt) if encode else (v == 0):
                w = 0 if encode else nxt
                z = strs.find(b"\0", nxt)
                nxt = z + 1 if z >= 0 else len(strs)
            elif encode:
                w = v + 1 if v < nxt else v
            else:
                w = v - 1 if v <= nxt else v
            pack("<I", out, f, w)
        if delta:
            prev = 0
            for f in range(pos + 12 + extra + delta, end, member):
                v = unpack("<I", out, f)[0]
                if encode:
                    pack("<I", out, f, (v - prev) & 0xFFFFFFFF)
                    prev = v
                else:
                    prev = (v + prev) & 0xFFFFFFFF
                    pack("<I", out, f, prev)
        pos = end
    return bytes(out)


def _decompress(codec: str, stored: bytes, raw_size: int, bad: Any) -> bytes:
    """One block, which must come out as exactly ``raw_size`` bytes."""
    try:
        if codec == "none":
            raw = stored
        elif codec == "zlib":
            d = zlib.decompressobj()
            raw = d.decompress(stored, raw_size + 1)
            if not d.eof or d.unused_data:
                raise bad("truncated or larger than stated")
        elif codec == "xz":
            import lzma

            dx = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            raw = dx.decompress(stored, raw_size + 1)
            if not dx.eof or dx.unused_data:
                raise bad("truncated or larger than stated")
        else:
            raw = _zstd_decompress(stored, raw_size, bad)
    except InvalidPackError:
        raise
    except Exception as exc:  # zlib.error, lzma.LZMAError, zstd errors
        raise bad(f"does not decompress ({exc.__class__.__name__}: {exc})") from None
    if len(raw) != raw_size:
        raise bad(f"decompresses to {len(raw)} bytes, not {raw_size}")
    return raw


def _zstd_decompress(stored: bytes, raw_size: int, bad: Any) -> bytes:
    """zstd is optional: the standard library has it from Python 3.14, the
    ``zstandard`` module before (looked up by name, so this module keeps
    importing only the standard library)."""
    import importlib

    try:
        zstd = importlib.import_module("compression.zstd")
        return bytes(zstd.decompress(stored))
    except ImportError:
        pass
    try:
        zstandard = importlib.import_module("zstandard")
    except ImportError:
        raise bad("zstd needs Python >= 3.14 or the 'zstandard' module") from None
    return bytes(zstandard.ZstdDecompressor().decompress(stored, max_output_size=raw_size))


def _mapping_table(items: Any) -> _Table:
    ids: dict[bytes, int] = {}
    blobs: list[bytes] = []
    entries = []
    for key, blob in items:
        key = tuple(str(f) for f in key)
        if len(key) != 4:
            raise ValueError(f"kernel key {key!r} is not (arch, distro, distro_version, release)")
        blob = bytes(blob)
        i = ids.get(blob)
        if i is None:
            i = ids[blob] = len(blobs)
            blobs.append(blob)
        entries.append((key, i))
    return _Table(entries, blobs.__getitem__)


def _table(source: Any) -> _Table:
    if source is None:
        source = _DEFAULT_SOURCE
        if source is None:
            raise TypeError("no BTF source given (a pack path, a generated module, or a mapping)")
    hook = getattr(source, "__btfembed_source__", None)
    if hook is not None:
        source = hook() if callable(hook) else hook
    if isinstance(source, _Table) or (hasattr(source, "entries") and hasattr(source, "get_blob")):
        table: _Table = source  # also the _Table of another copy of this runtime (a generated module)
        return table
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as f:
            return _pack_table(f.read(), path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _pack_table(bytes(source))
    if isinstance(source, Mapping):
        return _mapping_table(source.items())
    kernels, blobs = getattr(source, "kernels", None), getattr(source, "blobs", None)
    if kernels is not None and blobs is not None:  # btfembed.embed.pack.Pack
        return _mapping_table((k, blobs[i]) for k, i in kernels)
    raise TypeError(f"cannot use {type(source).__name__} as a BTF source")


def kernels(source: Any = None) -> "list[tuple[str, ...]]":
    """The kernel keys a source holds, sorted."""
    return [key for key, _ in _table(source).entries]


# --------------------------------------------------------------------------
# Lookup


def _find(table: _Table, key: "tuple[str, ...]", explicit: bool = False, uname_ok: bool = True,
          os_ok: bool = True) -> "tuple[str, tuple[str, ...] | None, bool, int | None]":
    if not uname_ok:
        return NO_MATCH, None, False, None
    for k, i in table.entries:
        if os_ok and k == key:
            return EMBEDDED, k, True, i
    if explicit:
        return NO_MATCH, None, False, None
    arch, release = key[0], key[3]
    found = None
    for k, i in table.entries:
        if k[0] == arch and k[3] == release:
            if found is None:
                found = (k, i)
            elif i != found[1]:
                return AMBIGUOUS, None, False, None
    if found is None:
        return NO_MATCH, None, False, None
    return EMBEDDED, found[0], False, found[1]


def _or_(field: str) -> str:
    return field or "_"


def _btfhub(key: "tuple[str, ...]") -> str:
    return "/".join((_or_(key[1]), _or_(key[2]), _or_(key[0]), _or_(key[3])))


def explain(result: Lookup) -> str:
    """The decision in one line, as ``BTFEMBED_DEBUG=1`` prints it (and
    ``btfembed_explain()`` in C)::

        btfembed: key=D/V/A/R from=SOURCE match=HOW entry=D/V/A/R sha256=HEX status=STATUS
    """
    entry = f"{_btfhub(result.match)} sha256={result.digest.hex()}" if result.match and result.digest else "- sha256=-"
    return (f"btfembed: key={_btfhub(result.key)} from={result.source or '-'} match={result.how} "
            f"entry={entry} status={result.status}")


def lookup(source: Any = None, *, force: bool = False, os_release: "str | None" = None,
           release: "str | None" = None, machine: "str | None" = None,
           sysfs_btf: "str | None" = None, host_root: "str | None" = None, key: "str | None" = None,
           debug: bool = False, use_env: bool = True) -> Lookup:
    """Apply the rules (see the module documentation) and return a ``Lookup``.
    ``debug`` (or ``BTFEMBED_DEBUG=1``) prints ``explain()`` on stderr."""
    table = _table(source)
    result = _lookup(table, force, os_release, release, machine, sysfs_btf, host_root, key, use_env)
    if debug or _env_true("BTFEMBED_DEBUG", use_env):
        import sys

        print(explain(result), file=sys.stderr, flush=True)
    return result


def _lookup(table: _Table, force: bool, os_release: "str | None", release: "str | None",
            machine: "str | None", sysfs_btf: "str | None", host_root: "str | None", key: "str | None",
            use_env: bool) -> Lookup:
    kernel, from_, explicit = _key_info(os_release, release, machine, host_root, key, use_env)
    kernel, uname_ok, os_ok = _usable_key(kernel)
    force = force or _env_true("BTFEMBED_FORCE", use_env)
    if not force:
        sysfs = _env("BTFEMBED_SYSFS_BTF", use_env) or sysfs_btf or SYSFS_BTF
        if os.access(sysfs, os.R_OK):
            return Lookup(KERNEL_BTF, kernel, None, False, None, "kernel-btf", None, from_)
    status, match, exact, blob_id = _find(table, kernel, explicit, uname_ok, os_ok)
    if status != EMBEDDED:
        how = "ambiguous" if status == AMBIGUOUS else "none"
        return Lookup(status, kernel, None, False, None, how, None, from_)
    return Lookup(EMBEDDED, kernel, match, exact, table.get_blob(blob_id), "exact" if exact else "shared",
                  table.blob_digest(blob_id), from_)


def check_object(data: bytes, source: Any = None) -> bool:
    """Stale-object guard: True when the BPF object ``data`` (ELF bytes, e.g.
    a skeleton's embedded object) is one the pack was built for (same
    ``.BTF`` and ``.BTF.ext``); False when the pack records no objects;
    ``StaleObjectError`` when it is another object."""
    table = _table(source)
    digest = object_digest(data)
    if not table.objects:
        return False
    if any(d == digest for _, d in table.objects):
        return True
    names = ", ".join(sorted({n for n, _ in table.objects}))
    raise StaleObjectError(f"this BPF object is not one the embedded BTF was built for ({names}): "
                           "rebuild the pack (btfembed build) after changing the object")


def find_btf(source: Any = None, **options: Any) -> "bytes | None":
    """The embedded BTF to use for the running kernel, or None (the kernel has
    its own BTF, or nothing matches).  Options as for ``lookup``."""
    return lookup(source, **options).blob


# --------------------------------------------------------------------------
# Handing the blob to libbpf


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _memfd(data: bytes) -> "tuple[int, str] | None":
    create = getattr(os, "memfd_create", None)
    if create is None:
        return None
    try:
        fd = create("btfembed", getattr(os, "MFD_CLOEXEC", 1) | getattr(os, "MFD_ALLOW_SEALING", 2))
    except OSError:
        return None
    try:
        _write_all(fd, data)
        try:
            import fcntl
            seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        except (ImportError, AttributeError, OSError):
            pass
        path = f"/proc/self/fd/{fd}"
        if not os.access(path, os.R_OK):  # no /proc: libbpf could not open it
            raise OSError("no /proc")
    except OSError:
        os.close(fd)
        return None
    return fd, path


@contextlib.contextmanager
def blob_path(data: bytes, *, memfd: bool = True, tmpdir: "str | None" = None,
              use_env: bool = True) -> Iterator[str]:
    """A path holding ``data`` for the duration of the ``with`` block:
    ``/proc/self/fd/N`` of a sealed memfd, else a 0600 temporary file
    (``memfd=False`` or ``BTFEMBED_NO_MEMFD=1`` force the file)."""
    data = bytes(data)
    if memfd and not _env_true("BTFEMBED_NO_MEMFD", use_env):
        got = _memfd(data)
        if got is not None:
            fd, path = got
            try:
                yield path
            finally:
                os.close(fd)
            return
    import tempfile  # the fallback only: most kernels take the memfd

    fd, path = tempfile.mkstemp(prefix="btfembed-", suffix=".btf", dir=tmpdir)
    try:
        try:
            os.fchmod(fd, 0o600)
            _write_all(fd, data)
        finally:
            os.close(fd)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


@contextlib.contextmanager
def btf_path(source: Any = None, *, memfd: bool = True, tmpdir: "str | None" = None,
             required: bool = False, **options: Any) -> Iterator["str | None"]:
    """Context manager yielding the ``btf_custom_path`` to give libbpf: a path
    while the block runs, or None when the kernel has its own BTF or no
    embedded BTF matches (``required=True`` raises ``NoBTFError`` for the
    latter).  ``options`` as for ``lookup``."""
    result = lookup(source, **options)
    if result.blob is None:
        if required and result.status != KERNEL_BTF:
            raise NoBTFError(f"{describe(result.status)}: {'/'.join(result.key)}")
        yield None
        return
    with blob_path(result.blob, memfd=memfd, tmpdir=tmpdir, use_env=options.get("use_env", True)) as path:
        yield path
