"""Bad input through the command line.

Each case runs ``python -m btfembed`` on a damaged or unsuitable input and
checks the contract of the CLI:

* exactly one line on stderr, ``btfembed: error: ...`` (``btfembed:
  warning: ...`` for the one case that is not an error), never a traceback;
* the documented exit code (1 check failed, 2 usage, 3 invalid input, 4 file
  system);
* no output file created or changed: outputs are pre-created with known
  content in some cases (they must be untouched) and absent in others (they
  must stay absent), and no temporary file is left behind.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from btfembed.btf import wire
from btfembed.btf.reader import BTF
from btfembed.btf.types import make_info
from btfembed.btf.writer import Builder

from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
OBJS = DATA / "objs"
SYNTH = DATA / "synth"
BASE = SYNTH / "base.btf"
SENTINEL = b"known content: must not change\n"


fuzz = load_script("fuzz")


# ---------------------------------------------------------------------------
# Input builders


def base_btf() -> bytes:
    return BASE.read_bytes()


def patch_type_word(data: bytes, name: str, word: int, value: int) -> bytes:
    """``data`` with word ``word`` of the record of type ``name`` set."""
    btf = BTF(data)
    tid = btf.find_by_name(name)[0]
    off = btf._type_start + 4 * btf._offs[tid - btf.start_id] + 4 * word
    buf = bytearray(data)
    struct.pack_into("<I", buf, off, value)
    return bytes(buf)


def header_field(data: bytes, offset: int, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into("<I", buf, offset, value)
    return bytes(buf)


def one_type_btf(words: list[int], name: str = "x") -> bytes:
    b = Builder()
    b.strings.add(name)
    b.add_words(words)
    return b.to_bytes()


def object_parts(name: str) -> tuple[str, bytes, bytes | None]:
    return fuzz.object_sections((OBJS / name).read_bytes())


def rebuild_object(btf: bytes, ext: bytes | None, order: str = "little") -> bytes:
    sections = [(".text", bytes(8)), (".BTF", btf)] + ([(".BTF.ext", ext)] if ext is not None else [])
    return fuzz.make_elf(sections, order=order)


def first_core_record(ext: bytes) -> int:
    """Byte offset of the first CO-RE record in a little-endian .BTF.ext."""
    hdr_len = struct.unpack_from("<I", ext, 4)[0]
    core_off = struct.unpack_from("<I", ext, 24)[0]
    return hdr_len + core_off + 4 + 8


def object_with_bad_access() -> bytes:
    """synth_fields with the first record's access string "0:0" -> "0:x"."""
    _order, btf, ext = object_parts("synth_fields.el.o")
    access_off = struct.unpack_from("<I", ext, first_core_record(ext) + 8)[0]
    b = BTF(btf)
    pos = b.header.hdr_len + b.header.str_off + access_off
    buf = bytearray(btf)
    assert buf[pos:pos + 4] == b"0:0\0"
    buf[pos + 2] = ord("x")
    return rebuild_object(bytes(buf), ext)


def object_with_kind(kind: int) -> bytes:
    _order, btf, ext = object_parts("synth_fields.el.o")
    buf = bytearray(ext)
    struct.pack_into("<I", buf, first_core_record(ext) + 12, kind)
    return rebuild_object(btf, bytes(buf))


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


# ---------------------------------------------------------------------------
# Cases


class Case(NamedTuple):
    id: str
    build: Callable[[Path], list[str]]   # writes inputs under the directory, returns argv
    code: int
    output: str | None = None            # output path relative to the directory (checked)
    precreate: bool = False              # pre-create the output with known content
    env: dict | None = None
    warning: bool = False                # expect a one-line warning instead of an error
    marks: tuple = ()


def write(d: Path, name: str, data: bytes) -> str:
    p = d / name
    p.write_bytes(data)
    return str(p)


def obj(name: str) -> str:
    return str(OBJS / name)


CASES: list[Case] = []


def case(id: str, code: int, **kw):
    def deco(fn: Callable[[Path], list[str]]):
        CASES.append(Case(id, fn, code, **kw))
        return fn
    return deco


# -- raw BTF ------------------------------------------------------------------------


@case("dump-truncated-header", 3)
def _(d):
    return ["dump", write(d, "k.btf", base_btf()[:13])]


@case("dump-wrong-magic", 3)
def _(d):
    return ["dump", write(d, "k.btf", b"\x9f\xec" + base_btf()[2:])]


@case("dump-empty-file", 3)
def _(d):
    return ["dump", write(d, "k.btf", b"")]


@case("minimize-hdr-len-past-end", 3, output="out.btf", precreate=True)
def _(d):
    data = base_btf()
    k = write(d, "k.btf", header_field(data, 4, len(data) + 8))
    return ["minimize", k, str(d / "out.btf"), obj("synth_fields.el.o")]


@case("dump-type-section-overlaps-strings", 3)
def _(d):
    data = base_btf()
    type_len = struct.unpack_from("<I", data, 12)[0]
    return ["dump", write(d, "k.btf", header_field(data, 12, type_len + 8))]


@case("dump-string-offset-out-of-range", 3)
def _(d):
    return ["dump", write(d, "k.btf", one_type_btf([9999, make_info(wire.INT), 4, 32]))]


@case("dump-unterminated-string-section", 3)
def _(d):
    data = bytearray(base_btf())
    data[-1] = ord("x")
    return ["dump", write(d, "k.btf", bytes(data))]


@case("dump-unknown-kind-without-layout", 3)
def _(d):
    return ["dump", write(d, "k.btf", one_type_btf([1, make_info(25), 0]))]


@case("dump-vlen-overflow", 3)
def _(d):
    # A struct claiming 2**24 - 1 members in a 12-byte record.
    return ["dump", write(d, "k.btf", one_type_btf([1, make_info(wire.STRUCT, 0xFFFFFF), 8]))]


@case("minimize-missing-type-id-reached", 3, output="out.btf", precreate=True)
def _(d):
    # typedef core_reloc_int_t -> type 9999 (there are 68 types)
    k = write(d, "k.btf", patch_type_word(base_btf(), "core_reloc_int_t", 2, 9999))
    return ["minimize", k, str(d / "out.btf"), obj("synth_types.el.o")]


@case("explain-typedef-cycle-reached", 3)
def _(d):
    btf = BTF(base_btf())
    tid = btf.find_by_name("core_reloc_int_t")[0]
    k = write(d, "k.btf", patch_type_word(base_btf(), "core_reloc_int_t", 2, tid))
    return ["explain", k, obj("synth_types.el.o")]


@case("minimize-typedef-cycle-reached", 3, output="out.btf")
def _(d):
    btf = BTF(base_btf())
    tid = btf.find_by_name("core_reloc_int_t")[0]
    k = write(d, "k.btf", patch_type_word(base_btf(), "core_reloc_int_t", 2, tid))
    return ["minimize", k, str(d / "out.btf"), obj("synth_types.el.o")]


@case("verify-corrupt-minimized", 3)
def _(d):
    mini = write(d, "min.btf", base_btf()[:-1])  # string section loses its final NUL
    return ["verify", str(BASE), mini, obj("synth_fields.el.o")]


# -- objects -------------------------------------------------------------------------


@case("explain-not-elf", 3)
def _(d):
    return ["explain", str(BASE), write(d, "prog.o", b"this is not an object file\n")]


@case("explain-elf-not-bpf", 3)
def _(d):
    true = shutil.which("true") or "/bin/true"
    if not os.path.exists(true) or Path(true).read_bytes()[:4] != b"\x7fELF":
        pytest.skip("no ELF /bin/true")
    return ["explain", str(BASE), true]


@case("minimize-x86-object", 3, output="out.btf")
def _(d):
    _order, btf, ext = object_parts("synth_fields.el.o")
    o = write(d, "x86.o", fuzz.make_elf([(".text", b"\xc3"), (".BTF", btf), (".BTF.ext", ext)], machine=62))
    return ["minimize", str(BASE), str(d / "out.btf"), o]


@case("minimize-object-without-btf", 3, output="out.btf", precreate=True)
def _(d):
    o = write(d, "prog.o", fuzz.make_elf([(".text", b"\x95" + bytes(7))]))
    return ["minimize", str(BASE), str(d / "out.btf"), o]


@case("minimize-truncated-elf", 3, output="out.btf")
def _(d):
    data = (OBJS / "synth_fields.el.o").read_bytes()
    return ["minimize", str(BASE), str(d / "out.btf"), write(d, "prog.o", data[:len(data) // 3])]


@case("explain-malformed-access-string", 3)
def _(d):
    return ["explain", str(BASE), write(d, "prog.o", object_with_bad_access())]


@case("minimize-malformed-access-string", 3, output="out.btf", precreate=True)
def _(d):
    return ["minimize", str(BASE), str(d / "out.btf"), write(d, "prog.o", object_with_bad_access())]


@case("explain-relocation-kind-out-of-range", 3)
def _(d):
    return ["explain", str(BASE), write(d, "prog.o", object_with_kind(13))]


@case("minimize-compat-name-with-newline", 3, output="out.btf")
def _(d):
    _order, btf, ext = object_parts("synth_fields.el.o")
    i = btf.find(b"raw_tp/core_reloc_fields_direct\0")
    buf = bytearray(btf)
    buf[i + 6] = ord("\n")  # raw_tp\ncore_reloc_fields_direct
    o = write(d, "prog.o", rebuild_object(bytes(buf), ext))
    # bpftool mode refuses the -EINVAL relocation of fields_direct on fields_fwd.
    return ["minimize", "--compat", "bpftool", str(SYNTH / "fields_fwd.btf"), str(d / "out.btf"), o]


@case("minimize-truncated-btf-ext", 3, output="out.btf")
def _(d):
    _order, btf, ext = object_parts("synth_fields.el.o")
    o = write(d, "prog.o", rebuild_object(btf, ext[:len(ext) // 2]))
    return ["minimize", str(BASE), str(d / "out.btf"), o]


# -- file system -------------------------------------------------------------------


@case("dump-missing-file", 4)
def _(d):
    return ["dump", str(d / "does-not-exist.btf")]


@case("explain-missing-object", 4)
def _(d):
    return ["explain", str(BASE), str(d / "missing.o")]


@case("dump-unreadable-directory", 4)
def _(d):
    (d / "dir.btf").mkdir()
    return ["dump", str(d / "dir.btf")]


@case("minimize-unreadable-file", 4, output="out.btf")
def _(d):
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not apply (see dump-unreadable-directory)")
    k = write(d, "k.btf", base_btf())
    os.chmod(k, 0)
    return ["minimize", k, str(d / "out.btf"), obj("synth_fields.el.o")]


@case("dump-fifo", 4)
def _(d):
    # Once a hang: opening a FIFO blocks until a writer comes.
    os.mkfifo(d / "k.btf")
    return ["dump", str(d / "k.btf")]


@case("minimize-output-inside-regular-file", 4)
def _(d):
    write(d, "file", SENTINEL)
    return ["minimize", str(BASE), str(d / "file" / "out.btf"), obj("synth_fields.el.o")]


@case("minimize-output-in-proc", 4)
def _(d):
    return ["minimize", str(BASE), "/proc/btfembed-test-out.btf", obj("synth_fields.el.o")]


# -- containers ---------------------------------------------------------------------


@case("dump-tar-xz-without-regular-file", 3)
def _(d):
    tar = tar_bytes([member("5.4.0.btf", kind=tarfile.SYMTYPE, link="/sys/kernel/btf/vmlinux"),
                     member("dir", kind=tarfile.DIRTYPE)])
    return ["dump", write(d, "k.btf.tar.xz", lzma.compress(tar))]


@case("dump-tar-xz-without-btf", 3)
def _(d):
    tar = tar_bytes([member("README.txt", b"no BTF in here\n")])
    return ["dump", write(d, "k.btf.tar.xz", lzma.compress(tar))]


@case("minimize-tar-xz-dotdot-member", 3, output="out.btf", precreate=True)
def _(d):
    tar = tar_bytes([member("../../x.btf", base_btf())])
    k = write(d, "k.btf.tar.xz", lzma.compress(tar))
    return ["minimize", k, str(d / "out.btf"), obj("synth_fields.el.o")]


@case("dump-tar-xz-absolute-member", 3)
def _(d):
    tar = tar_bytes([member("/etc/5.4.0.btf", base_btf())])
    return ["dump", write(d, "k.btf.tar.xz", lzma.compress(tar))]


@case("dump-decompression-bomb", 3, env={"BTFEMBED_MAX_INPUT_BYTES": "1000000"})
def _(d):
    return ["dump", write(d, "k.btf.gz", gzip.compress(bytes(4_000_000), mtime=0))]


@case("minimize-truncated-tar-member", 3, output="out.btf", precreate=True)
def _(d):
    tar = tar_bytes([member("5.4.0.btf", base_btf())])  # the member is 2897 bytes
    k = write(d, "k.btf.tar", tar[:1536])
    return ["minimize", k, str(d / "out.btf"), obj("synth_fields.el.o")]


@case("dump-input-over-size-cap", 4, env={"BTFEMBED_MAX_INPUT_BYTES": "2000"})
def _(d):
    return ["dump", write(d, "k.btf", base_btf())]  # 2897 bytes


@case("dump-corrupt-xz", 3)
def _(d):
    data = bytearray(lzma.compress(base_btf()))
    data[len(data) // 2] ^= 0xFF
    return ["dump", write(d, "k.btf.xz", bytes(data))]


@case("dump-zstd", 3)
def _(d):
    return ["dump", write(d, "k.btf.zst", b"\x28\xb5\x2f\xfd" + bytes(32))]


# -- packs ---------------------------------------------------------------------------


@case("generate-invalid-pack", 3, output="gen.c")
def _(d):
    _require_command("generate")
    pack = write(d, "bad.pack", b"BTFEMBED-PACK\n" + struct.pack("<I", 5) + b"[[[[[")
    return ["generate", pack, "--output", str(d / "gen")]


@case("generate-pack-with-bad-digest", 3, output="gen.py", precreate=True)
def _(d):
    _require_command("generate")
    from btfembed.embed.keys import KernelKey
    from btfembed.embed.pack import build_pack, encode_pack
    data = bytearray(encode_pack(build_pack([(KernelKey("x86_64", "ubuntu", "20.04", "5.4.0"), base_btf())])))
    data[-5] ^= 1  # a byte of the blob
    return ["generate", write(d, "p.pack", bytes(data)), "--lang", "python", "--output", str(d / "gen")]


# -- settings files and kernel manifests (build) -----------------------------------------

@case("build-settings-invalid-toml", 2, output="outdir")
def _(d):
    cfg = write(d, "btfembed.toml", b"objects = [\"a.o\"\nkernels = 3 = 4\n")
    return ["build", "--config", cfg, "--out-dir", str(d / "outdir")]


@case("build-settings-unknown-key", 2, output="outdir")
def _(d):
    cfg = write(d, "btfembed.toml", b"objectz = []\n")
    return ["build", "--config", cfg, "--out-dir", str(d / "outdir")]


@case("build-settings-deeply-nested-toml", 2, output="outdir")
def _(d):
    cfg = write(d, "btfembed.toml", b"objects = " + b"[" * 5000 + b"]" * 5000 + b"\n")
    return ["build", "--config", cfg, "--out-dir", str(d / "outdir")]


@case("build-manifest-unsafe-release", 2, output="outdir")
def _(d):
    # CR line endings (once a csv.Error), and a release that would escape the output tree.
    write(d, "k.btf", base_btf())
    manifest = write(d, "manifest.tsv", b"path\trelease\rk.btf\t../../5.4\r")
    return ["build", obj("task_small.el.o"), "--kernels", manifest, "--out-dir", str(d / "outdir")]


@case("build-manifest-path-with-nul", 2, output="outdir")
def _(d):
    manifest = write(d, "manifest.tsv", b"path\trelease\nk\x00.btf\t5.4\n")
    return ["build", obj("task_small.el.o"), "--kernels", manifest, "--out-dir", str(d / "outdir")]


@case("build-manifest-without-release-column", 2, output="outdir")
def _(d):
    manifest = write(d, "manifest.tsv", b"path\tarch\nk.btf\tx86_64\n")
    return ["build", obj("task_small.el.o"), "--kernels", manifest, "--out-dir", str(d / "outdir")]


@case("build-corrupt-kernel", 3, output="outdir")
def _(d):
    k = write(d, "5.4.0-1-generic.btf", base_btf()[:100])
    return ["build", obj("task_small.el.o"), "--kernels", f"{k}=ubuntu/20.04/x86_64/5.4.0-1-generic",
            "--out-dir", str(d / "outdir"), "--no-cache"]


# -- not an error ----------------------------------------------------------------------


@case("minimize-object-without-btf-ext", 0, output="out.btf", warning=True)
def _(d):
    return ["minimize", str(BASE), str(d / "out.btf"), obj("task_small.nobtfext.el.o")]


def _require_command(name: str) -> None:
    from btfembed.cli import COMMANDS
    if name not in COMMANDS:
        pytest.skip(f"no '{name}' command")


# ---------------------------------------------------------------------------
# The check


def run_cli(argv: list[str], env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("BTFEMBED_MAX_INPUT_BYTES", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "btfembed", *argv], capture_output=True, env=full_env,
                          timeout=timeout, cwd=REPO)


def snapshot(d: Path) -> dict[str, bytes | None]:
    out = {}
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(d))] = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
    return out


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(c: Case, tmp_path: Path) -> None:
    argv = c.build(tmp_path)
    out = tmp_path / c.output if c.output else None
    if out is not None and c.precreate:
        out.write_bytes(SENTINEL)
    before = snapshot(tmp_path)
    timeout = 5 if c.id == "dump-fifo" else 60
    try:
        proc = run_cli(argv, c.env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"btfembed {' '.join(argv)} did not finish within {timeout} s")
    stderr = proc.stderr.decode("utf-8", "replace")
    lines = stderr.splitlines()
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == c.code, f"exit {proc.returncode}, expected {c.code}: {stderr}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    prefix = "btfembed: warning: " if c.warning else "btfembed: error: "
    assert lines[0].startswith(prefix), lines[0]
    after = snapshot(tmp_path)
    if c.code == 0:
        # The only change: the output, a valid BTF.
        assert out is not None and out.exists()
        assert set(after) - set(before) == {c.output}
        btf = BTF(out.read_bytes())
        btf.validate()
        assert btf.type_cnt == 1, "an object without .BTF.ext needs no kernel type"
    else:
        assert after == before, "a failed run must not create, change or leave any file"


def test_matrix_size() -> None:
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)
