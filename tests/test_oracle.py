"""Tests of the libbpf oracle itself (tests/oracle.py, tests/tools/core_loader.c).

They prove that what the oracle reports is what libbpf really patched: the
relocated offsets are checked against the member offsets bpftool prints for
the target BTF, and every other instruction against the object file's own
bytes, read here with an independent ELF reader.  They skip cleanly when
the oracle cannot run (not root, no gcc/libbpf headers, no bpf()) or when
clang / bpftool / kernel BTF samples are missing.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

try:
    import oracle
except ImportError:  # tests/ became a package
    from tests import oracle  # type: ignore[no-redef]

pytestmark = pytest.mark.oracle

VMLINUX = Path("/sys/kernel/btf/vmlinux")
OLD_KERNEL = "bclinux_21.10U3_x86_64_4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64.btf"
KERNEL_DIRS = (Path("/tmp/k"),)
SHARED_KERNELS = Path("/work/shared/kernels")

# Local (object-side) layouts use distinctive offsets so that the CO-RE sites
# can be located in the unrelocated ELF instructions by their immediates.
LOCAL_OFF = {"pid": 0x1A30, "tgid": 0x1A34, "real_parent": 0x1B48}

COMMON_HEADER = r"""
typedef int pid_t;
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	char __pad0[0x1a30];
	pid_t pid;                         /* 0x1a30 */
	pid_t tgid;                        /* 0x1a34 */
	char __pad1[0x110];
	struct task_struct *real_parent;   /* 0x1b48 */
} __attribute__((preserve_access_index));

struct task_struct___fake {
	int __pad[0x5a5];
	int bogus_field_xyz;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";
"""

CORE_SRC = COMMON_HEADER + r"""
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

SEC("kprobe/do_nanosleep")
int read_task(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u32 k = 0;
	__u64 v;

	v = BPF_CORE_READ(t, pid);
	v = v * 31 + BPF_CORE_READ(t, tgid);
	v = v * 31 + (__u64)BPF_CORE_READ(t, real_parent);
	if (bpf_core_field_exists(((struct task_struct___fake *)t)->bogus_field_xyz))
		v += 1;
	bpf_map_update_elem(&out, &k, &v, BPF_ANY);
	return 0;
}
"""

POISON_SRC = COMMON_HEADER + r"""
SEC("kprobe/do_nanosleep")
int poisoned(void *ctx)
{
	struct task_struct___fake *t = (void *)bpf_get_current_task();

	return BPF_CORE_READ(t, bogus_field_xyz);
}

SEC("kprobe/do_nanosleep")
int healthy(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	return BPF_CORE_READ(t, tgid);
}
"""

MISC_SRC = COMMON_HEADER + r"""
SEC("kprobe/do_nanosleep")
int type_info(void *ctx)
{
	return bpf_core_type_id_kernel(struct task_struct) +
	       bpf_core_type_size(struct task_struct);
}

SEC("?kprobe/do_nanosleep")
int lazy(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	return BPF_CORE_READ(t, tgid);
}
"""

SIZE_SRC = COMMON_HEADER + r"""
SEC("kprobe/do_nanosleep")
int pid_size(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	return bpf_core_field_size(t->pid);
}
"""

# custom "kernel" BTFs (ELF objects with .BTF) that make relocations ambiguous
OFFSET_AMBIGUOUS_BTF_SRC = r"""
struct task_struct___a { int pid; int tgid; void *real_parent; };
struct task_struct___b { int x; int pid; int tgid; void *real_parent; };
struct task_struct___a a;
struct task_struct___b b;
"""
DECISION_AMBIGUOUS_BTF_SRC = r"""
struct task_struct___a { int pid; };
struct task_struct___b { long pid; };
struct task_struct___a a;
struct task_struct___b b;
"""


# --------------------------------------------------------------------------
# helpers


def elf_section(path: Path, name: str) -> bytes:
    """Contents of section ``name`` of a little-endian ELF64 file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i: int):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)

    strtab = header(shstrndx)
    for i in range(shnum):
        sh_name, _type, _flags, _addr, off, size = header(i)
        start = strtab[4] + sh_name
        sname = data[start:data.index(b"\0", start)].decode()
        if sname == name:
            return data[off:off + size]
    raise KeyError(name)


def elf_insns(path: Path, section: str) -> List[bytes]:
    raw = elf_section(path, section)
    return [raw[i:i + 8] for i in range(0, len(raw), 8)]


def set_imm(raw: bytes, imm: int) -> bytes:
    return raw[:4] + struct.pack("<i", imm)


def member_offsets(bpftool: str, btf: Path, struct_name: str,
                   members: Sequence[str]) -> Dict[str, int]:
    """Byte offsets of ``members`` of STRUCT ``struct_name`` per bpftool.

    Checks that every STRUCT of that name (non-deduplicated BTFs can have
    several) agrees.
    """
    out = subprocess.run([bpftool, "btf", "dump", "file", str(btf)],
                         check=True, capture_output=True, text=True).stdout
    found: Dict[str, int] = {}
    seen = 0
    head = re.compile(rf"^\[\d+\] STRUCT '{re.escape(struct_name)}' size=\d+ vlen=(\d+)$")
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = head.match(line)
        if not m:
            continue
        seen += 1
        for mline in lines[i + 1:i + 1 + int(m.group(1))]:
            mm = re.match(r"^\s+'([^']*)' type_id=\d+ bits_offset=(\d+)", mline)
            assert mm, mline
            if mm.group(1) in members:
                off = int(mm.group(2)) // 8
                assert found.setdefault(mm.group(1), off) == off, (struct_name, mline)
    assert seen, f"no STRUCT '{struct_name}' in {btf}"
    assert set(found) == set(members), found
    return found


def struct_type_ids(bpftool: str, btf: Path, struct_name: str) -> List[int]:
    out = subprocess.run([bpftool, "btf", "dump", "file", str(btf)],
                         check=True, capture_output=True, text=True).stdout
    return [int(m.group(1)) for m in re.finditer(
        rf"^\[(\d+)\] STRUCT '{re.escape(struct_name)}' ", out, re.M)]


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def loader() -> str:
    reason = oracle.oracle_available()
    if reason:
        pytest.skip(reason)
    return oracle.build_loader()


@pytest.fixture(scope="session")
def clang() -> str:
    for name in ("clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("clang not found (needed to compile the BPF test programs)")


@pytest.fixture(scope="session")
def bpftool() -> str:
    path = shutil.which("bpftool") or next(
        (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if os.access(p, os.X_OK)), None)
    if not path:
        pytest.skip("bpftool not found")
    return path


@pytest.fixture(scope="session")
def vmlinux() -> Path:
    if not VMLINUX.is_file():
        pytest.skip(f"{VMLINUX} not present (kernel without BTF)")
    return VMLINUX


@pytest.fixture(scope="session")
def old_kernel(tmp_path_factory) -> Path:
    for d in KERNEL_DIRS:
        if (d / OLD_KERNEL).is_file():
            return d / OLD_KERNEL
    xz = SHARED_KERNELS / (OLD_KERNEL + ".xz")
    if not xz.is_file():
        pytest.skip(f"kernel BTF sample {OLD_KERNEL} not available")
    out = tmp_path_factory.mktemp("kernels") / OLD_KERNEL
    with lzma.open(xz) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


class Compiler:
    def __init__(self, clang: str, directory: Path):
        self.clang = clang
        self.dir = directory

    def __call__(self, name: str, source: str, target: str = "bpf") -> Path:
        src = self.dir / f"{name}.bpf.c"
        obj = self.dir / f"{name}.{target}.o"
        if obj.exists():
            return obj
        src.write_text(source)
        cmd = [self.clang, "-g", "-O2", "-target", target, "-D__TARGET_ARCH_x86"]
        multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True,
                                   text=True).stdout.strip() if shutil.which("gcc") else ""
        if multiarch and Path("/usr/include", multiarch).is_dir():
            cmd.append(f"-I/usr/include/{multiarch}")
        cmd += ["-c", str(src), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        return obj


@pytest.fixture(scope="session")
def compile_bpf(clang, tmp_path_factory) -> Compiler:
    return Compiler(clang, tmp_path_factory.mktemp("bpfobj"))


@pytest.fixture(scope="session")
def core_obj(compile_bpf) -> Path:
    return compile_bpf("core", CORE_SRC)


@pytest.fixture(scope="session")
def poison_obj(compile_bpf) -> Path:
    return compile_bpf("poison", POISON_SRC)


@pytest.fixture(scope="session")
def misc_obj(compile_bpf) -> Path:
    return compile_bpf("misc", MISC_SRC)


# --------------------------------------------------------------------------
# the relocated offsets are the target BTF's member offsets


def check_core_program(res: oracle.OracleResult, obj: Path,
                       expected: Dict[str, int]) -> None:
    """Compare the oracle's read_task with the ELF bytes, site by site."""
    assert res.ok, res.error
    assert res.sections["read_task"] == "kprobe/do_nanosleep"
    got = res.programs["read_task"]
    orig = elf_insns(obj, "kprobe/do_nanosleep")
    assert len(got) == len(orig)

    by_marker = {v: k for k, v in LOCAL_OFF.items()}
    sites: Dict[int, str] = {}
    for i, raw in enumerate(orig):
        code, _dst, src, _off, imm = oracle.decode_insn(raw)
        if code & 0x07 in (0x04, 0x07) and not code & 0x08 and imm in by_marker:
            sites[i] = by_marker[imm]          # ALU/ALU64 with K source
    # one CO-RE site per field
    assert sorted(sites.values()) == sorted(LOCAL_OFF), sites

    exists_sites = []
    map_sites = []
    for i, (a, b) in enumerate(zip(orig, got)):
        if i in sites:
            assert b == set_imm(a, expected[sites[i]]), (i, a.hex(), b.hex())
            continue
        if a == b:
            continue
        code, dst, src, off, imm = oracle.decode_insn(a)
        ncode, ndst, nsrc, noff, nimm = oracle.decode_insn(b)
        if code == 0x18 and nsrc == 1:          # ld_imm64 map reference
            assert (ncode, ndst, noff) == (code, dst, off)
            assert nimm == res.maps["out"]
            map_sites.append(i)
        elif code == 0xB7 and imm == 1:         # r = 1 (field exists)
            assert b == set_imm(a, 0), (i, a.hex(), b.hex())
            exists_sites.append(i)
        else:
            pytest.fail(f"unexpected difference at insn {i}: {a.hex()} -> {b.hex()}")
    assert len(map_sites) == 1 and len(exists_sites) == 1

    # libbpf's own log agrees on where it patched
    patched = res.patched("read_task")
    assert set(patched) == set(sites) | set(exists_sites), patched
    for i, field in sites.items():
        assert patched[i] == f"(ALU/ALU64) imm {LOCAL_OFF[field]} -> {expected[field]}"


def test_running_kernel_offsets(loader, core_obj, vmlinux, bpftool):
    expected = member_offsets(bpftool, vmlinux, "task_struct", list(LOCAL_OFF))
    res = oracle.relocate(core_obj, vmlinux)
    check_core_program(res, core_obj, expected)
    # the offsets are right for this kernel, so the verifier accepts it
    assert res.kernel_errors == {"read_task": 0}


def test_default_btf_is_running_kernel(loader, core_obj, vmlinux):
    assert oracle.diff_programs(oracle.relocate(core_obj),
                                oracle.relocate(core_obj, vmlinux)) == []


def test_other_kernel_offsets(loader, core_obj, vmlinux, old_kernel, bpftool):
    running = member_offsets(bpftool, vmlinux, "task_struct", list(LOCAL_OFF))
    expected = member_offsets(bpftool, old_kernel, "task_struct", list(LOCAL_OFF))
    assert expected != running
    res = oracle.relocate(core_obj, old_kernel)
    check_core_program(res, core_obj, expected)
    diffs = oracle.diff_programs(res, oracle.relocate(core_obj, vmlinux))
    assert len(diffs) == sum(expected[f] != running[f] for f in LOCAL_OFF)


# --------------------------------------------------------------------------
# bpftool's minimized BTF relocates exactly like the full one


@pytest.mark.differential
@pytest.mark.parametrize("kernel", ["running", "old"])
@pytest.mark.parametrize("objname", ["core", "poison"])
def test_min_core_btf_matches_full(loader, request, bpftool, tmp_path, kernel, objname):
    btf = request.getfixturevalue("vmlinux" if kernel == "running" else "old_kernel")
    obj = request.getfixturevalue(f"{objname}_obj")
    out = tmp_path / "min.btf"
    subprocess.run([bpftool, "gen", "min_core_btf", str(btf), str(out), str(obj)],
                   check=True, capture_output=True)
    assert out.stat().st_size < btf.stat().st_size // 100
    full = oracle.relocate(obj, btf)
    mini = oracle.relocate(obj, out)
    assert full.ok, full.error
    assert mini.ok, mini.error
    assert oracle.diff_programs(full, mini) == []
    assert full.kernel_errors == mini.kernel_errors
    # and the log records the same patches
    for prog in full.programs:
        assert full.patched(prog) == mini.patched(prog)


# --------------------------------------------------------------------------
# poisoned relocations are captured although the kernel rejects them


def test_poisoned_program_is_captured(loader, poison_obj, vmlinux):
    res = oracle.relocate(poison_obj, vmlinux)
    assert res.ok, res.error
    assert set(res.programs) == {"poisoned", "healthy"}
    assert res.kernel_errors["healthy"] == 0
    assert res.kernel_errors["poisoned"] < 0        # faked fd, libbpf went on

    orig = elf_insns(poison_obj, "kprobe/do_nanosleep")
    got = res.programs["poisoned"]
    calls = [i for i, raw in enumerate(got)
             if oracle.decode_insn(raw)[0] == 0x85
             and oracle.decode_insn(raw)[4] == oracle.POISON_HELPER_ID]
    assert len(calls) == 1
    (idx,) = calls
    assert got[idx] == bytes.fromhex("850000001023ad0b")
    # it replaced the relocated instruction (r = 0x5a5 * 4), nothing else
    assert oracle.decode_insn(orig[idx])[4] == 0x5A5 * 4
    assert [i for i, (a, b) in enumerate(zip(orig, got)) if a != b] == [idx]
    assert res.patched("poisoned") == {idx: "poison"}


# --------------------------------------------------------------------------
# errors are reported, not raised


def test_endianness_mismatch_is_an_error(loader, compile_bpf):
    obj = compile_bpf("core", CORE_SRC, target="bpfeb")
    res = oracle.relocate(obj)
    assert not res.ok
    assert "endianness mismatch" in res.error
    assert res.errno == -4003          # LIBBPF_ERRNO__ENDIAN
    assert res.programs == {}


@pytest.mark.parametrize("src, objname, text", [
    (OFFSET_AMBIGUOUS_BTF_SRC, "core", "field offset ambiguity"),
    (DECISION_AMBIGUOUS_BTF_SRC, "size", "relocation decision ambiguity"),
])
def test_ambiguity_is_an_error(loader, compile_bpf, core_obj, src, objname, text):
    # the custom BTF is an ELF object's .BTF (libbpf accepts ELF files too)
    btf = compile_bpf("ambig_" + objname, src)
    obj = core_obj if objname == "core" else compile_bpf("size", SIZE_SRC)
    res = oracle.relocate(obj, btf)
    assert not res.ok
    assert res.errno == -22
    assert text in res.error
    assert res.error.splitlines()[-1].startswith("libbpf: failed to load object")


def test_missing_btf_is_an_error(loader, core_obj, tmp_path):
    res = oracle.relocate(core_obj, tmp_path / "nope.btf")
    assert res.errno == -2
    junk = tmp_path / "junk.btf"
    junk.write_bytes(b"not a BTF at all\n")
    res = oracle.relocate(core_obj, junk)
    assert not res.ok
    assert "failed to parse target BTF" in res.error


# --------------------------------------------------------------------------
# libbpf 1.1 behaviours the project relies on (documented in oracle.py)


def test_btf_bytes_via_memfd(loader, core_obj, vmlinux):
    by_path = oracle.relocate(core_obj, vmlinux)
    by_bytes = oracle.relocate(core_obj, vmlinux.read_bytes())
    assert by_bytes.ok, by_bytes.error
    assert oracle.diff_programs(by_path, by_bytes) == []


def test_autoload_off_is_not_relocated(loader, misc_obj, vmlinux):
    res = oracle.relocate(misc_obj, vmlinux)
    assert res.ok, res.error
    assert res.not_loaded == {"lazy": "kprobe/do_nanosleep"}
    assert "lazy" not in res.programs
    assert res.relo_log("lazy") == []
    forced = oracle.relocate(misc_obj, vmlinux, autoload_all=True)
    assert forced.ok, forced.error
    assert forced.not_loaded == {}
    assert forced.patched("lazy")


def test_type_id_target_comes_from_custom_btf(loader, misc_obj, vmlinux, bpftool, tmp_path):
    mini = tmp_path / "min.btf"
    subprocess.run([bpftool, "gen", "min_core_btf", str(vmlinux), str(mini), str(misc_obj)],
                   check=True, capture_output=True)
    for btf in (vmlinux, mini):
        (tid,) = struct_type_ids(bpftool, btf, "task_struct")
        res = oracle.relocate(misc_obj, btf)
        assert res.ok, res.error
        insns = res.programs["type_info"]
        lo = [i for i, raw in enumerate(insns) if raw[0] == 0x18]
        assert len(lo) == 1
        assert oracle.decode_insn(insns[lo[0]])[4] == tid
        assert oracle.decode_insn(insns[lo[0] + 1])[4] == 0


def test_raw_btf_with_32_byte_header(loader, core_obj, vmlinux, tmp_path):
    data = vmlinux.read_bytes()
    magic, version, flags, hdr_len, *rest = struct.unpack_from("<HBBIIIII", data)
    assert magic == 0xEB9F and hdr_len == 24
    long_hdr = tmp_path / "hdr32.btf"
    long_hdr.write_bytes(struct.pack("<HBBIIIII", magic, version, flags, 32, *rest)
                         + bytes(8) + data[hdr_len:])
    res = oracle.relocate(core_obj, long_hdr)
    assert res.ok, res.error
    assert oracle.diff_programs(res, oracle.relocate(core_obj, vmlinux)) == []


# --------------------------------------------------------------------------
# pure-Python parts


def test_diff_programs():
    a = {"p": [b"\x00" * 8, b"\x01" * 8], "q": [b"\x02" * 8]}
    b = {"p": [b"\x00" * 8, b"\x03" * 8, b"\x04" * 8], "r": []}
    assert oracle.diff_programs(a, b) == [
        ("p", 1, "01" * 8, "03" * 8),
        ("p", 2, "-", "04" * 8),
        ("q", -1, "<1 insns>", "<absent>"),
        ("r", -1, "<absent>", "<0 insns>"),
    ]
    assert oracle.diff_programs(a, a) == []


def test_parse_output():
    out = "\n".join([
        "warn libbpf: something odd",
        "prog p kprobe/x 2",
        "insn 0 b701000004000000",
        "insn 1 9500000000000000",
        "kernel p -13",
        "noload q kprobe/y",
        "map m 5",
        "syscalls 10 3 1",
        "ok",
    ]) + "\n"
    res = oracle._parse(out, "log\n", 0)
    assert res.ok and res.programs == {"p": [bytes.fromhex("b701000004000000"),
                                             bytes.fromhex("9500000000000000")]}
    assert res.rejected() == {"p": -13}
    assert res.not_loaded == {"q": "kprobe/y"} and res.maps == {"m": 5}
    err = oracle._parse("warn libbpf: a\nwarn libbpf: b\nerror -22 libbpf: b\n", "", 1)
    assert err.error == "libbpf: a\nlibbpf: b" and err.errno == -22
    crash = oracle._parse("prog p s 1\n", "boom\n", -11)
    assert not crash.ok and "boom" in crash.error
