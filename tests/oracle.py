"""libbpf oracle: what does the real libbpf patch into each BPF instruction?

This helper module (for the test suite only, not part of the ``btfembed``
package) answers one question with ground truth: when libbpf loads a BPF
object with a given BTF as ``btf_custom_path``, which instructions does it
hand to the kernel?  Comparing two runs, one with a full kernel BTF and one
with a minimized BTF (bpftool's or btfembed's), shows whether the minimized
BTF yields exactly the same CO-RE relocations.

Technique
---------
``tests/tools/core_loader.c`` is compiled once per test session with the
system gcc against the system libbpf (``-lbpf -lelf -lz``) into a temporary
directory.  It opens the object with ``bpf_object__open_file`` (setting
``btf_custom_path`` when a BTF is given), calls ``bpf_object__load`` and
prints every program's final instructions.

To see the instructions even when the kernel verifier rejects a program
(poisoned relocations, offsets that only make sense on the kernel the BTF
describes), the executable defines its own ``syscall()``.  libbpf.so issues
``syscall(__NR_bpf, cmd, attr, size)`` through its PLT, which the dynamic
linker binds to the executable's definition (linked with ``-rdynamic``).
Every call is forwarded to the real ``syscall()``.  For a ``BPF_PROG_LOAD``
of one of the object's programs -- recognised by the instruction buffer
pointer and count, which are the program's own (``bpf_program__insns``), and
by the name truncated to 15 characters -- the instructions are copied first;
if the kernel refuses the load, a dup of a ``/dev/null`` fd is returned as a
fake program fd so libbpf carries on (the kernel's errno is still reported).
libbpf's feature probes never match and are forwarded untouched.  The loader
fails loudly if a program that libbpf loaded was never seen by the hook, so
a broken interposition cannot go unnoticed.  Maps, BTF, etc. are really
created in the kernel, so root (CAP_BPF + CAP_PERFMON/CAP_SYS_ADMIN) and a
kernel that accepts ``bpf()`` are required.

Output of the loader (stdout, one record per line)::

    warn <text>                       each libbpf warning
    prog <name> <section> <insn_cnt>  a loaded program, then its
    insn <index> <16 hex chars>       raw instructions (8 bytes, file order)
    kernel <name> <0|-errno>          the kernel's verdict (fake fd if < 0)
    noload <name> <section>           a program with autoload off
    map <name> <fd>
    syscalls <bpf calls> <prog loads> <faked loads>
    ok
    error <negative errno> <libbpf's last warning line>   (exit status 1)

libbpf's messages, debug level included, go to stderr, which
:class:`OracleResult` keeps as ``log``: one line per CO-RE relocation
("prog 'p': relo #N: patched insn #M (ALU/ALU64) imm A -> B",
"... (LDX/ST/STX) off A -> B", "... (LDIMM64) imm64 A -> B",
"... substituting insn #M w/ invalid insn" when poisoning, and the
"field offset ambiguity" / "relocation decision ambiguity" errors).

Limits
------
* Only what libbpf 1.1 (Debian bookworm's libbpf-dev) does is observed.
* Programs with autoload off (``SEC("?...")``) are neither relocated nor
  loaded by libbpf; they are listed in ``OracleResult.not_loaded``.  Pass
  ``autoload_all=True`` to turn autoload on for every program.
* libbpf refuses objects whose byte order differs from the host's at open
  time ("elf: endianness mismatch in X."); on x86_64 every ``bpfeb`` object
  therefore comes back with ``error`` set (errno -4003, LIBBPF_ERRNO__ENDIAN)
  and no programs.
* ld_imm64 map references carry the map's fd, a per-process number; two
  runs in identical conditions get identical fds (see ``maps``), but use
  :meth:`OracleResult.normalized_programs` when comparing across contexts.
* Anything libbpf resolves against the *running* kernel rather than the
  custom BTF (attach targets of fentry/fexit/LSM/struct_ops/tp_btf programs,
  typed ksyms) must exist on the running kernel, or libbpf fails before
  the program reaches the kernel.
* TYPE_ID_TARGET relocations get the type id of the custom BTF, so they
  legitimately differ between a full and a minimized BTF.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

__all__ = [
    "LOADER_SOURCE",
    "POISON_HELPER_ID",
    "OracleError",
    "OracleResult",
    "build_loader",
    "decode_insn",
    "diff_programs",
    "oracle_available",
    "relocate",
]

LOADER_SOURCE = Path(__file__).resolve().parent / "tools" / "core_loader.c"

#: helper id libbpf writes into a poisoned instruction ("bad relo", 0xbad2310)
POISON_HELPER_ID = 195896080

_CFLAGS = ["-O1", "-g", "-Wall", "-Wextra", "-Werror", "-rdynamic"]
_LIBS = ["-lbpf", "-lelf", "-lz"]

PathLike = Union[str, "os.PathLike[str]"]


class OracleError(RuntimeError):
    """The oracle cannot run here (the message says why)."""


@dataclasses.dataclass
class OracleResult:
    """What libbpf did with one object.

    ``programs`` maps each loaded program's name to its instructions as it
    was handed to the kernel (a list of 8-byte ``bytes``).  ``error`` is None
    on success; otherwise the text of every libbpf warning, one per line, the
    last line being libbpf's last warning (for example the
    "relocation decision ambiguity" line comes before the generic
    "failed to load object" one), and ``errno`` is the negative error code.
    """

    programs: Dict[str, List[bytes]]
    sections: Dict[str, str]
    kernel_errors: Dict[str, int]
    not_loaded: Dict[str, str]
    maps: Dict[str, int]
    warnings: List[str]
    error: Optional[str]
    errno: Optional[int]
    log: str
    stdout: str
    returncode: int

    @property
    def ok(self) -> bool:
        return self.error is None

    def hex(self, prog: str) -> List[str]:
        return [i.hex() for i in self.programs[prog]]

    def rejected(self) -> Dict[str, int]:
        """Programs the kernel refused (their fd was faked): name -> -errno."""
        return {n: e for n, e in self.kernel_errors.items() if e}

    def relo_log(self, prog: Optional[str] = None) -> List[str]:
        """libbpf's per-relocation debug lines ("prog 'p': relo #N: ...")."""
        pat = re.compile(r"prog '([^']*)': relo #\d+: ")
        out = []
        for line in self.log.splitlines():
            m = pat.search(line)
            if m and (prog is None or m.group(1) == prog):
                out.append(line)
        return out

    def patched(self, prog: str) -> Dict[int, str]:
        """insn index -> libbpf's description of the final patch at it.

        Parsed from the debug log; poisoned instructions map to "poison".
        """
        out: Dict[int, str] = {}
        pat = re.compile(
            r"prog '([^']*)': relo #\d+: (?:patched insn #(\d+) \((.*)"
            r"|substituting insn #(\d+) w/ invalid insn"
            r"|poisoning insn #(\d+) .*)$")
        for line in self.log.splitlines():
            m = pat.search(line)
            if not m or m.group(1) != prog:
                continue
            if m.group(2) is not None:
                out[int(m.group(2))] = "(" + m.group(3)
            else:
                out[int(m.group(4) or m.group(5))] = "poison"
        return out

    def normalized_programs(self) -> Dict[str, List[bytes]]:
        """Programs with map fds in ld_imm64 replaced by the map's index."""
        fd_to_idx = {fd: i for i, fd in enumerate(self.maps.values())}
        out = {}
        for name, insns in self.programs.items():
            new = list(insns)
            for i, raw in enumerate(insns):
                code, regs = raw[0], raw[1]
                src = regs >> 4
                # BPF_LD | BPF_DW | BPF_IMM with BPF_PSEUDO_MAP_FD / _VALUE
                if code == 0x18 and src in (1, 2):
                    imm = struct.unpack_from("<i", raw, 4)[0]
                    if imm in fd_to_idx:
                        new[i] = raw[:4] + struct.pack("<i", fd_to_idx[imm])
            out[name] = new
        return out


def decode_insn(raw: bytes) -> Tuple[int, int, int, int, int]:
    """(code, dst_reg, src_reg, off, imm) of one little-endian instruction."""
    code, regs, off, imm = struct.unpack("<BBhi", raw)
    return code, regs & 0xF, regs >> 4, off, imm


def diff_programs(
    a: Union[OracleResult, Mapping[str, List[bytes]]],
    b: Union[OracleResult, Mapping[str, List[bytes]]],
) -> List[Tuple[str, int, str, str]]:
    """Differences between two sets of programs.

    Returns ``(program, insn index, a_hex, b_hex)`` tuples, sorted by
    program then index.  An instruction present on one side only shows "-"
    on the other; a program present on one side only gives one tuple with
    index -1 and "<absent>" / "<N insns>".
    """
    pa = a.programs if isinstance(a, OracleResult) else a
    pb = b.programs if isinstance(b, OracleResult) else b
    out: List[Tuple[str, int, str, str]] = []
    for name in sorted(set(pa) | set(pb)):
        if name not in pa or name not in pb:
            out.append((
                name, -1,
                f"<{len(pa[name])} insns>" if name in pa else "<absent>",
                f"<{len(pb[name])} insns>" if name in pb else "<absent>",
            ))
            continue
        ia, ib = pa[name], pb[name]
        for i in range(max(len(ia), len(ib))):
            ha = ia[i].hex() if i < len(ia) else "-"
            hb = ib[i].hex() if i < len(ib) else "-"
            if ha != hb:
                out.append((name, i, ha, hb))
    return out


# --------------------------------------------------------------------------
# building


_build_dir: Optional[str] = None


def _cleanup() -> None:
    if _build_dir:
        shutil.rmtree(_build_dir, ignore_errors=True)


def _header_dirs() -> Iterable[Path]:
    yield Path("/usr/include")
    yield Path("/usr/local/include")


@functools.lru_cache(maxsize=None)
def _build() -> Tuple[Optional[str], Optional[str]]:
    """(path to core_loader, None) or (None, reason)."""
    global _build_dir
    if not sys.platform.startswith("linux"):
        return None, "the libbpf oracle needs Linux"
    gcc = shutil.which("gcc")
    if not gcc:
        return None, "gcc not found (needed to build the libbpf oracle)"
    if not any((d / "bpf" / "libbpf.h").is_file() for d in _header_dirs()):
        return None, "libbpf headers not found (install libbpf-dev)"
    if not any((d / "linux" / "bpf.h").is_file() for d in _header_dirs()):
        return None, "linux/bpf.h not found (install linux-libc-dev)"
    if not LOADER_SOURCE.is_file():
        return None, f"{LOADER_SOURCE} is missing"
    _build_dir = tempfile.mkdtemp(prefix="btfembed-oracle-")
    atexit.register(_cleanup)
    exe = os.path.join(_build_dir, "core_loader")
    cmd = [gcc, *_CFLAGS, "-o", exe, str(LOADER_SOURCE), *_LIBS]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"building core_loader failed: {exc}"
    if proc.returncode != 0:
        return None, ("building core_loader failed "
                      f"({' '.join(cmd)}):\n{proc.stderr.strip()}")
    return exe, None


def build_loader() -> str:
    """Compile core_loader.c (once per session); return the executable path.

    Raises :class:`OracleError` when it cannot be built.
    """
    exe, reason = _build()
    if exe is None:
        raise OracleError(reason)
    return exe


@functools.lru_cache(maxsize=None)
def oracle_available() -> Optional[str]:
    """None when the oracle can run here, otherwise the reason it cannot.

    Meant for ``pytest.skip(reason)``.
    """
    if not sys.platform.startswith("linux"):
        return "the libbpf oracle needs Linux"
    if os.geteuid() != 0:
        return "the libbpf oracle needs root (it loads BPF programs)"
    exe, reason = _build()
    if exe is None:
        return reason
    try:
        proc = subprocess.run([exe, "--probe"], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"core_loader --probe failed: {exc}"
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        return ("the bpf() syscall is not usable here: "
                + (proc.stdout.strip() or proc.stderr.strip()
                   or f"exit status {proc.returncode}"))
    return None


# --------------------------------------------------------------------------
# running


def _parse(stdout: str, stderr: str, returncode: int) -> OracleResult:
    programs: Dict[str, List[bytes]] = {}
    sections: Dict[str, str] = {}
    kernel_errors: Dict[str, int] = {}
    not_loaded: Dict[str, str] = {}
    maps: Dict[str, int] = {}
    warnings: List[str] = []
    error: Optional[str] = None
    errno: Optional[int] = None
    ok = False
    current: Optional[List[bytes]] = None
    expected: Dict[str, int] = {}
    malformed: Optional[str] = None

    _insn_re = re.compile(r"(\d+) ([0-9a-f]{16})")
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        try:
            if tag == "prog":
                name, sec, cnt = rest.split(" ")
                current = programs.setdefault(name, [])
                sections[name] = sec
                expected[name] = int(cnt)
            elif tag == "insn":
                m = _insn_re.fullmatch(rest)
                if current is None or not m or int(m.group(1)) != len(current):
                    raise ValueError(line)
                current.append(bytes.fromhex(m.group(2)))
            elif tag == "kernel":
                name, err = rest.split(" ")
                kernel_errors[name] = int(err)
            elif tag == "noload":
                name, sec = rest.split(" ")
                not_loaded[name] = sec
            elif tag == "map":
                name, fd = rest.rsplit(" ", 1)
                maps[name] = int(fd)
            elif tag == "warn":
                warnings.append(rest)
            elif tag == "error":
                num, _, text = rest.partition(" ")
                errno = int(num)
                error = "\n".join([w for w in warnings if w != text] + [text])
            elif tag == "ok":
                ok = True
        except ValueError:
            malformed = line
            break

    if malformed is not None or any(
            len(programs[n]) != cnt for n, cnt in expected.items()):
        ok = False
        error = errno = None
    if error is None and (not ok or returncode != 0):
        tail = "\n".join(stderr.splitlines()[-20:])
        what = f"; malformed line {malformed!r}" if malformed is not None else ""
        error = (f"core_loader failed (exit status {returncode}) without a "
                 f"result{what}:\n{tail}")
    if error is not None:
        programs = {}
    return OracleResult(
        programs=programs, sections=sections, kernel_errors=kernel_errors,
        not_loaded=not_loaded, maps=maps, warnings=warnings, error=error,
        errno=errno, log=stderr, stdout=stdout, returncode=returncode)


def relocate(
    obj_path: PathLike,
    btf_path: Union[None, PathLike, bytes] = None,
    *,
    autoload_all: bool = False,
    timeout: float = 600,
) -> OracleResult:
    """Load ``obj_path`` with libbpf and return the relocated programs.

    ``btf_path`` becomes ``btf_custom_path`` (a raw BTF file or an ELF file
    with a .BTF section); ``None`` lets libbpf use the running kernel's BTF.
    ``bytes`` are passed through a memfd as ``/proc/self/fd/N``.  libbpf
    failures (ambiguities, bad BTF, endianness mismatch, ...) are reported in
    ``OracleResult.error``, not raised; :class:`OracleError` is raised only
    when the oracle cannot run at all.
    """
    reason = oracle_available()
    if reason:
        raise OracleError(reason)
    exe = build_loader()
    cmd = [exe]
    if autoload_all:
        cmd.append("--autoload-all")
    cmd.append(os.fspath(obj_path))
    memfd = None
    try:
        if isinstance(btf_path, (bytes, bytearray, memoryview)):
            memfd = os.memfd_create("btfembed-oracle-btf", 0)
            view = memoryview(btf_path)
            while view:
                view = view[os.write(memfd, view):]
            cmd.append(f"/proc/self/fd/{memfd}")
        elif btf_path is not None:
            cmd.append(os.fspath(btf_path))
        proc = subprocess.run(
            cmd, capture_output=True, timeout=timeout,
            pass_fds=(memfd,) if memfd is not None else ())
    finally:
        if memfd is not None:
            os.close(memfd)
    return _parse(proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"), proc.returncode)
