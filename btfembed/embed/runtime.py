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
``use_env=False``): ``BTFEMBED_FORCE``, ``BTFEMBED_OS_RELEASE`` (file read
instead of the os-release files), ``BTFEMBED_RELEASE`` and
``BTFEMBED_MACHINE`` (instead of ``uname``), ``BTFEMBED_SYSFS_BTF``
(instead of ``/sys/kernel/btf/vmlinux``), ``BTFEMBED_NO_MEMFD``.  An empty
variable counts as unset; ``0`` is false for the boolean ones.

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
import json
import os
import struct
import tempfile
import zlib
from typing import Any, Iterator, Mapping, NamedTuple

__all__ = [
    "EMBEDDED", "KERNEL_BTF", "NO_MATCH", "AMBIGUOUS", "Lookup", "InvalidPackError", "NoBTFError",
    "normalize_arch", "parse_os_release", "read_os_release", "running_key", "lookup", "find_btf",
    "btf_path", "blob_path", "describe", "kernels",
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

_PACK_MAGIC = b"BTFEMBED-PACK\n"
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
    key: tuple
    match: "tuple | None"
    exact: bool
    blob: "bytes | None"


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


def parse_os_release(text: str) -> dict:
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


def read_os_release(path: "str | None" = None, *, use_env: bool = True) -> dict:
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


def running_key(*, os_release: "str | None" = None, release: "str | None" = None,
                machine: "str | None" = None, use_env: bool = True) -> tuple:
    """The running kernel's (arch, distro, distro_version, release)."""
    release = _env("BTFEMBED_RELEASE", use_env) or release
    machine = _env("BTFEMBED_MACHINE", use_env) or machine
    if release is None or machine is None:
        u = os.uname()
        release = u.release if release is None else release
        machine = u.machine if machine is None else machine
    osr = read_os_release(os_release, use_env=use_env)
    return (normalize_arch(machine), osr.get("ID", ""), osr.get("VERSION_ID", ""), release)


# --------------------------------------------------------------------------
# Sources


class _Table:
    """Kernel entries sorted by key (UTF-8 byte order, as in C), each with a
    blob id, and a way to get a blob's raw bytes."""

    def __init__(self, entries: list, get_blob: Any):
        self.entries = sorted(entries, key=lambda e: tuple(f.encode("utf-8", "surrogatepass") for f in e[0]))
        self.get_blob = get_blob


def _pack_table(data: bytes, name: str = "pack") -> _Table:
    """Read a btfembed pack (see btfembed.embed.pack) lazily: the index now, a
    blob (decompressed and checked against its size and sha256) on demand."""

    def bad(why: str) -> InvalidPackError:
        return InvalidPackError(f"{name}: not a valid btfembed pack: {why}")

    def count(value: Any, what: str) -> int:
        if type(value) is not int or value < 0:
            raise bad(f"{what} is not a non-negative integer")
        return value

    data = bytes(data)
    if not data.startswith(_PACK_MAGIC):
        raise bad("wrong magic")
    pos = len(_PACK_MAGIC)
    if len(data) < pos + 4:
        raise bad("truncated")
    (n,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if pos + n > len(data):
        raise bad("index runs past the end")
    try:
        index = json.loads(data[pos:pos + n].decode("utf-8"))
        if index["format"] != 1:
            raise bad(f"unsupported format {index['format']!r:.40}")
        compression = index["compression"]
        if compression not in ("none", "zlib"):
            raise bad(f"unknown compression {compression!r:.40}")
        base = pos + n
        blobs = []
        for b in index["blobs"]:
            start, size = count(b["offset"], "blob offset"), count(b["size"], "blob size")
            raw_size = count(b["raw_size"], "blob raw_size")
            if base + start + size > len(data):
                raise bad("blob runs past the end")
            if raw_size > BLOB_MAX or (compression == "none" and raw_size != size):
                raise bad("bad blob size")
            blobs.append((base + start, size, raw_size, str(b["sha256"])))
        entries = []
        for k in index["kernels"]:
            i = count(k["blob"], "kernel blob index")
            if i >= len(blobs):
                raise bad(f"kernel entry refers to blob {i}")
            key = (str(k["arch"]), str(k["distro"]), str(k["distro_version"]), str(k["release"]))
            entries.append((key, i))
    except InvalidPackError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise bad(f"malformed index ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:
        raise bad("malformed index (nested too deeply)") from None

    def get_blob(i: int) -> bytes:
        start, size, raw_size, digest = blobs[i]
        raw = data[start:start + size]
        if compression == "zlib":
            d = zlib.decompressobj()
            try:
                raw = d.decompress(raw, raw_size + 1)
            except zlib.error as exc:
                raise bad(f"blob {i} does not decompress ({exc})") from None
            if not d.eof:
                raise bad(f"blob {i} is truncated or larger than stated")
        if len(raw) != raw_size or hashlib.sha256(raw).hexdigest() != digest:
            raise bad(f"blob {i}: size or digest mismatch")
        return raw

    return _Table(entries, get_blob)


def _mapping_table(items: Any) -> _Table:
    ids: dict = {}
    blobs: list = []
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
        return source  # also the _Table of another copy of this runtime (a generated module)
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


def kernels(source: Any = None) -> list:
    """The kernel keys a source holds, sorted."""
    return [key for key, _ in _table(source).entries]


# --------------------------------------------------------------------------
# Lookup


def _find(table: _Table, key: tuple) -> "tuple[str, tuple | None, bool, int | None]":
    for k, i in table.entries:
        if k == key:
            return EMBEDDED, k, True, i
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


def lookup(source: Any = None, *, force: bool = False, os_release: "str | None" = None,
           release: "str | None" = None, machine: "str | None" = None,
           sysfs_btf: "str | None" = None, use_env: bool = True) -> Lookup:
    """Apply the rules (see the module documentation) and return a ``Lookup``."""
    table = _table(source)
    key = running_key(os_release=os_release, release=release, machine=machine, use_env=use_env)
    force = force or _env_true("BTFEMBED_FORCE", use_env)
    if not force:
        sysfs = _env("BTFEMBED_SYSFS_BTF", use_env) or sysfs_btf or SYSFS_BTF
        if os.access(sysfs, os.R_OK):
            return Lookup(KERNEL_BTF, key, None, False, None)
    status, match, exact, blob_id = _find(table, key)
    if status != EMBEDDED:
        return Lookup(status, key, None, False, None)
    return Lookup(EMBEDDED, key, match, exact, table.get_blob(blob_id))


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
