"""Debug kernels as kernel sources: DWARF vmlinux files and debug packages,
converted with pahole.

The DWARF kernels are stand-ins built here: a real kernel's BTF dumped as C
(``bpftool btf dump ... format c``), compiled with ``gcc -g
-fno-eliminate-unused-debug-types`` together with a ``linux_banner``.
pahole's BTF of that object must make every corpus relocation resolve as
the original kernel BTF does.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.core.resolve import Target
from btfembed.core.results import compare
from btfembed.errors import ArchiveError, BTFEmbedError
from btfembed.inputs import debpkg, debuginfo, dwarf
from btfembed.inputs.containers import load_btf
from btfembed.inputs.objects import load_object
from btfembed.minimize.engine import summarize_object

from conftest import OBJS, REPO, REPO_KERNELS, SHARED_KERNELS
from corpus import is_real_program, objects

DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
RELEASE = "6.1.0-50-amd64"

pytestmark = pytest.mark.skipif(not (shutil.which("pahole") and shutil.which("gcc") and shutil.which("bpftool")),
                                reason="needs pahole (dwarves), gcc and bpftool")


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd)


def make_vmlinux(btf_xz: Path, out: Path, release: str, *cflags: str) -> Path:
    """A DWARF 'vmlinux': the kernel's types as C, compiled with gcc -g."""
    raw = out.with_suffix(".raw.btf")
    raw.write_bytes(lzma.decompress(btf_xz.read_bytes()))
    header = out.with_suffix(".h")
    with open(header, "w") as f:
        subprocess.run(["bpftool", "btf", "dump", "file", str(raw), "format", "c"], stdout=f, check=True)
    src = out.with_suffix(".c")
    src.write_text(f'#define BPF_NO_PRESERVE_ACCESS_INDEX\n#include "{header.name}"\n'
                   f'const char linux_banner[] = "Linux version {release} (builder@example) (gcc) #1 SMP\\n";\n')
    subprocess.run(["gcc", "-g", "-c", "-w", "-fno-eliminate-unused-debug-types", *cflags, str(src), "-o", str(out)],
                   check=True)
    return out


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_vmlinux(DEBIAN, tmp_path_factory.mktemp("dwarf") / f"vmlinux-{RELEASE}", RELEASE)


@pytest.fixture(scope="module")
def small_vmlinux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DWARF kernel, for the package format tests."""
    d = tmp_path_factory.mktemp("small")
    src = d / "small.c"
    src.write_text('struct task_struct { int pid; int tgid; char comm[16]; };\n'
                   'struct task_struct init_task;\n'
                   f'const char linux_banner[] = "Linux version {RELEASE} (b@e) (gcc) #1 SMP\\n";\n')
    out = d / "vmlinux"
    subprocess.run(["gcc", "-g", "-c", str(src), "-o", str(out)], check=True)
    return out


def real_objects() -> list[Path]:
    return [o for o in objects() if is_real_program(o)]


def assert_same_relocations(full_path: Path, pahole_btf: bytes) -> int:
    full = Target(load_btf(str(full_path)))
    made = Target(load_btf("<pahole>", data=pahole_btf))
    checked = 0
    for path in real_objects():
        obj = load_object(str(path))
        a, b = summarize_object(obj, full), summarize_object(obj, made)
        diffs = [d for d in compare(a, b) if not d.type_id_only]
        assert not diffs, f"{path.name}: {[d.line() for d in diffs[:5]]}"
        checked += len(a)
    return checked


def test_probe_release_and_arch(stand_in: Path) -> None:
    info = dwarf.probe(str(stand_in))
    assert info is not None and info.dwarf and not info.has_btf and info.arch == "x86_64"
    assert dwarf.kernel_release(str(stand_in)) == RELEASE
    assert debuginfo.describe(str(stand_in)) == debuginfo.DebugSource("elf", RELEASE, "x86_64")
    # BTF files and BPF objects are not debug kernels.
    assert debuginfo.sniff(str(DEBIAN)) is None
    assert debuginfo.sniff(str(OBJS / "tracer.el.o")) is None


def test_pahole_btf_relocates_like_the_kernel_btf(stand_in: Path) -> None:
    data = dwarf.encode(str(stand_in))
    # 420 records of the real-kernel objects (both byte orders).
    assert assert_same_relocations(DEBIAN, data) >= 400


def test_load_btf_converts_a_dwarf_vmlinux(stand_in: Path) -> None:
    btf = load_btf(str(stand_in))
    assert btf.type_cnt > 20000
    assert btf.find_by_name("task_struct")


@pytest.mark.parametrize("how", ["zlib-gabi", "zlib-gnu", "zstd"])
def test_compressed_debug_sections(stand_in: Path, tmp_path: Path, how: str) -> None:
    """SHF_COMPRESSED (zlib, zstd) and old-style .zdebug sections give the
    same BTF as plain ones (pahole 1.24 alone writes nothing for zstd)."""
    out = tmp_path / "vmlinux"
    r = subprocess.run(["objcopy", f"--compress-debug-sections={how}", str(stand_in), str(out)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"objcopy cannot write {how}: {r.stderr.strip()}")
    sections = subprocess.run(["readelf", "-S", "-W", str(out)], capture_output=True, text=True).stdout
    if how == "zlib-gnu":
        assert ".zdebug_info" in sections
    info = dwarf.probe(str(out))
    assert info is not None and info.dwarf and info.exotic_compression == (how == "zstd")
    assert dwarf.encode(str(out)) == dwarf.encode(str(stand_in))


def test_shared_kernel_round_trip(tmp_path: Path) -> None:
    """A second real kernel (7.1, from the shared corpus)."""
    kernel = SHARED_KERNELS / "cilium-ci_7.1_x86_64_7.1.btf.xz"
    if not kernel.exists():
        pytest.skip("shared kernel corpus not found")
    vmlinux = make_vmlinux(kernel, tmp_path / "vmlinux-7.1", "7.1.0")
    assert assert_same_relocations(kernel, dwarf.encode(str(vmlinux))) >= 400


def test_pahole_flags_by_version() -> None:
    assert dwarf.pahole_args((1, 24), "o") == ["--btf_encode_detached=o", "--btf_gen_floats", "--lang_exclude=rust"]
    assert dwarf.pahole_args((1, 22), "o") == ["--btf_encode_detached=o", "--btf_gen_floats"]
    assert any(a.startswith("--btf_features=") and "enum64" in a for a in dwarf.pahole_args((1, 27), "o"))
    with pytest.raises(dwarf.ToolMissingError, match="1.22 or later"):
        dwarf.pahole_args((1, 21), "o")
    assert dwarf.pahole_version() >= (1, 22)


# --- packages ---------------------------------------------------------------

def make_deb(tmp: Path, vmlinux: Path, release: str, compression: str = "gzip") -> Path:
    root = tmp / f"pkg-{compression}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/lib/debug/boot").mkdir(parents=True)
    shutil.copy(vmlinux, root / f"usr/lib/debug/boot/vmlinux-{release}")
    (root / "DEBIAN/control").write_text(
        f"Package: linux-image-{release}-dbg\nVersion: 6.1.176-1\nArchitecture: amd64\n"
        "Maintainer: Test <test@example.org>\nDescription: debug vmlinux stand-in\n")
    out = tmp / f"linux-image-{release}-dbg_6.1.176-1_amd64.{compression}.deb"
    subprocess.run(["dpkg-deb", f"-Z{compression}", "-z1", "--root-owner-group", "--build", str(root), str(out)],
                   check=True, capture_output=True)
    return out


def make_rpm(tmp: Path, vmlinux: Path, payload: str) -> Path:
    top = tmp / f"rpm-{payload}"
    (top / "SOURCES").mkdir(parents=True)
    shutil.copy(vmlinux, top / "SOURCES/vmlinux")
    rel = "6.1.0-50.test.x86_64"
    spec = top / "k.spec"
    spec.write_text(
        "Name: kernel-debuginfo\nVersion: 6.1.0\nRelease: 50.test\nSummary: stand-in\nLicense: GPL-2.0\n"
        "BuildArch: x86_64\n%description\nstand-in\n%install\n"
        f"mkdir -p %{{buildroot}}/usr/lib/debug/lib/modules/{rel}\n"
        f"cp %{{_sourcedir}}/vmlinux %{{buildroot}}/usr/lib/debug/lib/modules/{rel}/vmlinux\n"
        f"%files\n/usr/lib/debug/lib/modules/{rel}/vmlinux\n")
    subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "--define", "__os_install_post %{nil}",
                    "--define", "debug_package %{nil}", "--define", f"_binary_payload {payload}",
                    "--target", "x86_64", "-bb", str(spec)], check=True, capture_output=True)
    return next((top / "RPMS").rglob("*.rpm"))


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip", "none"])
def test_deb_package(small_vmlinux: Path, tmp_path: Path, compression: str) -> None:
    stand_in = small_vmlinux
    deb = make_deb(tmp_path, stand_in, RELEASE, compression)
    meta = debpkg.inspect(str(deb))
    assert (meta.format, meta.release, meta.arch) == ("deb", RELEASE, "amd64")
    extract = tmp_path / "x"
    extract.mkdir()
    path, release = debpkg.extract_vmlinux(str(deb), str(extract))
    assert release == RELEASE and os.listdir(extract) == ["vmlinux"]
    assert Path(path).read_bytes() == stand_in.read_bytes()
    assert debuginfo.to_btf(str(deb)) == dwarf.encode(str(stand_in))


@pytest.mark.skipif(not shutil.which("rpmbuild"), reason="needs rpmbuild (Debian package rpm)")
@pytest.mark.parametrize("payload", ["w9.gzdio", "w6.xzdio", "w19.zstdio"])
def test_rpm_package(small_vmlinux: Path, tmp_path: Path, payload: str) -> None:
    stand_in = small_vmlinux
    rpm = make_rpm(tmp_path, stand_in, payload)
    meta = debpkg.inspect(str(rpm))
    assert (meta.format, meta.name, meta.release, meta.arch) == ("rpm", "kernel-debuginfo", "6.1.0-50.test.x86_64",
                                                                  "x86_64")
    assert debuginfo.to_btf(str(rpm)) == dwarf.encode(str(stand_in))


def test_package_without_vmlinux_and_size_cap(tmp_path: Path, small_vmlinux: Path) -> None:
    stand_in = small_vmlinux
    if not shutil.which("dpkg-deb"):
        pytest.skip("needs dpkg-deb")
    root = tmp_path / "empty"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/doc").mkdir(parents=True)
    (root / "usr/share/doc/x").write_text("x")
    (root / "DEBIAN/control").write_text("Package: linux-image-1.0-dbg\nVersion: 1\nArchitecture: amd64\n"
                                         "Maintainer: T <t@e.org>\nDescription: d\n")
    deb = tmp_path / "empty.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], check=True, capture_output=True)
    with pytest.raises(ArchiveError, match="holds no debug vmlinux"):
        debpkg.extract_vmlinux(str(deb), str(tmp_path))
    full = make_deb(tmp_path, stand_in, RELEASE)
    dest = tmp_path / "capped"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="limit"):
        debpkg.extract_vmlinux(str(full), str(dest), limit=100)
    assert not os.listdir(dest)
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"!<arch>\ncontrol.tar.xz  0           0     0     100644  99999     `\n" + b"\0" * 50)
    with pytest.raises(ArchiveError):
        debpkg.inspect(str(bad))


# --- build --------------------------------------------------------------------

def _verify(full: Path, minimized: Path, objs: list[str]) -> None:
    r = run_cli("verify", str(full), str(minimized), *objs)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_build_takes_a_debug_package(stand_in: Path, tmp_path: Path) -> None:
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    deb = make_deb(tmp_path, stand_in, RELEASE)
    shutil.copy(deb, kernels / "linux-image-6.1.0-50-amd64-dbg_6.1.176-1_amd64.deb")
    # A pahole wrapper that logs every conversion: the second build reuses it.
    log = tmp_path / "pahole.log"
    wrapper = tmp_path / "pahole"
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in *btf_encode*) echo run >> {log};; esac\n'
                       f'exec {shutil.which("pahole")} "$@"\n')
    wrapper.chmod(0o755)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {"BTFEMBED_PAHOLE": str(wrapper), "TMPDIR": str(tmpdir)}
    objs = [str(OBJS / "tracer.el.o"), str(OBJS / "task_small.el.o")]
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    r = run_cli("build", *objs, "--kernels", str(kernels), "-o", str(out), "--cache-dir", str(cache),
                "--report", str(tmp_path / "r.json"), env=env)
    assert r.returncode == 0, r.stderr
    blob = out / f"_/_/x86_64/{RELEASE}.btf"
    assert blob.is_file()
    _verify(DEBIAN, blob, objs)
    assert log.read_text().count("run") == 1
    assert not os.listdir(tmpdir)    # the extraction directory is gone
    # Another object set: new results, but pahole's BTF comes from the cache.
    r = run_cli("build", objs[0], "--kernels", str(kernels), "-o", str(tmp_path / "out2"),
                "--cache-dir", str(cache), env=env)
    assert r.returncode == 0, r.stderr
    assert log.read_text().count("run") == 1
    _verify(DEBIAN, tmp_path / "out2" / f"_/_/x86_64/{RELEASE}.btf", objs[:1])
    report = json.loads((tmp_path / "r.json").read_text())
    assert report


def test_build_and_minimize_take_a_dwarf_vmlinux(stand_in: Path, tmp_path: Path) -> None:
    objs = [str(OBJS / "task_small.el.o")]
    r = run_cli("minimize", str(stand_in), str(tmp_path / "min.btf"), *objs)
    assert r.returncode == 0, r.stderr
    _verify(DEBIAN, tmp_path / "min.btf", objs)
    r = run_cli("build", *objs, "--kernels", f"{stand_in}=debian/12/x86_64/{RELEASE}", "-o", str(tmp_path / "o"),
                "--no-cache")
    assert r.returncode == 0, r.stderr
    _verify(DEBIAN, tmp_path / f"o/debian/12/x86_64/{RELEASE}.btf", objs)


def test_missing_pahole(stand_in: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {"PATH": str(bindir)}
    out = tmp_path / "out"
    r = run_cli("build", str(OBJS / "task_small.el.o"), "--kernels", str(stand_in), "-o", str(out), "--no-cache",
                env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "dwarves" in lines[0] and "pahole" in lines[0], r.stderr
    assert not out.exists()
    r = run_cli("minimize", str(stand_in), str(tmp_path / "m.btf"), str(OBJS / "task_small.el.o"), env=env)
    assert r.returncode == 2 and "dwarves" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.btf").exists()


def test_elf_without_btf_or_dwarf_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "x.c"
    src.write_text("int x;\n")
    obj = tmp_path / "vmlinux"
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    assert debuginfo.sniff(str(obj)) is None
    with pytest.raises(BTFEmbedError, match="no .BTF section"):
        load_btf(str(obj))
