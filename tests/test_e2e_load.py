"""End to end: a real CO-RE BPF program loaded by libbpf with the embedded
BTF, on this machine's kernel (root only).

The example loaders (examples/c-loader, examples/python-loader) load
task_report.bpf.o with the BTF embedded for the running kernel, FORCED even
though the kernel has /sys/kernel/btf/vmlinux, trigger the program and print
what it read from task_struct through CO-RE.  The values must be the real
pid, tgid, parent and comm.  Proof that the embedded blob was used:

* libbpf's debug log names the CO-RE target candidate by type id: the id of
  task_struct in the small embedded BTF, not the kernel's;
* with a deliberately wrong blob (task_struct of Debian's 6.1 kernel under
  this kernel's key) the values read are wrong.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.btf.reader import BTF
from btfembed.embed.codegen import write_c, write_python
from btfembed.embed.keys import running_key
from btfembed.embed.pack import build_pack

from test_runtime_rules import DEBIAN, ENV_VARS, INCLUDE, minimized

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
C_EXAMPLE = EXAMPLES / "c-loader"
BPF_OBJ = C_EXAMPLE / "task_report.bpf.o"
PY_LOADER = EXAMPLES / "python-loader" / "loader.py"
VMLINUX = Path("/sys/kernel/btf/vmlinux")

REPORT = re.compile(r"^report: pid=(\d+) tgid=(\d+) ppid=(\d+) comm=(\S*) hits=(\d+)$", re.M)
CANDIDATE = re.compile(r"found target candidate \[(\d+)\] struct task_struct")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    e.update(extra)
    return e


def task_struct_id(blob: bytes) -> int:
    ids = BTF(blob).find_by_name("task_struct")
    assert len(ids) == 1
    return ids[0]


@pytest.fixture(scope="module")
def blobs() -> dict[str, bytes]:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    if not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux to minimize this kernel's BTF")
    return {"good": minimized(str(VMLINUX), str(BPF_OBJ)), "wrong": minimized(str(DEBIAN), str(BPF_OBJ))}


@pytest.fixture(scope="module")
def c_loaders(blobs, tmp_path_factory) -> dict[str, Path]:
    gcc = shutil.which("gcc")
    if gcc is None or not Path("/usr/include/bpf/libbpf.h").exists():
        pytest.skip("needs gcc and the libbpf headers (libbpf-dev)")
    out = {}
    for name, blob in blobs.items():
        d = tmp_path_factory.mktemp(f"c-{name}")
        c_path, _ = write_c(build_pack([(running_key(), blob)]), str(d / "example_btf"), prefix="example",
                            compress=name == "wrong")
        cmd = [gcc, "-O2", "-Wall", "-Wextra", "-Werror", f"-I{INCLUDE}", f"-I{d}", "-o", str(d / "loader"),
               str(C_EXAMPLE / "loader.c"), c_path, "-lbpf", "-lelf", "-lz"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode and "bpf/" in proc.stderr and "No such file" in proc.stderr:
            pytest.skip(f"libbpf development files missing: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr
        out[name] = d / "loader"
    # Can this machine load and attach BPF at all (kernel BTF, no embedding)?
    probe = subprocess.run([str(out["good"]), str(BPF_OBJ)], capture_output=True, text=True, env=env())
    if probe.returncode != 0:
        pytest.skip(f"this machine cannot load/attach the example program: {probe.stderr.strip()[-300:]}")
    return out


def run_loader(cmd: list[str], comm: str, **extra: str) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(cmd + ["--comm", comm], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(**extra))
    out, err = proc.communicate(timeout=60)
    return proc, out, err


def report(proc: subprocess.Popen, out: str, err: str) -> tuple[int, int, int, str]:
    m = REPORT.search(out)
    assert m, f"exit {proc.returncode}\n{out}\n{err}"
    assert int(m.group(5)) > 0
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def truth(proc: subprocess.Popen, comm: str) -> tuple[int, int, int, str]:
    return proc.pid, proc.pid, os.getpid(), comm


# ---------------------------------------------------------------------------
# C loader


def test_c_loader_forced_embedded_btf(c_loaders, blobs) -> None:
    proc, out, err = run_loader([str(c_loaders["good"]), "-v", str(BPF_OBJ)], "e2e-c-forced", BTFEMBED_FORCE="1")
    assert report(proc, out, err) == truth(proc, "e2e-c-forced")
    assert proc.returncode == 0
    status = re.search(r"^btfembed: status=(\S+) .* entry=0 exact=1 path=(\S+)$", out, re.M)
    assert status and status.group(1) == "0" and re.fullmatch(r"/proc/self/fd/\d+", status.group(2)), out
    # libbpf relocated against the embedded BTF: its type ids, not the kernel's.
    ids = {int(i) for i in CANDIDATE.findall(err)}
    assert ids == {task_struct_id(blobs["good"])}, err
    assert task_struct_id(blobs["good"]) != task_struct_id(VMLINUX.read_bytes())


def test_c_loader_uses_kernel_btf_unless_forced(c_loaders) -> None:
    proc, out, err = run_loader([str(c_loaders["good"]), "-v", str(BPF_OBJ)], "e2e-c-kernel")
    assert report(proc, out, err) == truth(proc, "e2e-c-kernel")
    assert re.search(r"^btfembed: status=1 .* path=\(none\)$", out, re.M), out
    assert {int(i) for i in CANDIDATE.findall(err)} == {task_struct_id(VMLINUX.read_bytes())}


def test_c_loader_tmpfile_handover(c_loaders, tmp_path: Path) -> None:
    proc, out, err = run_loader([str(c_loaders["good"]), "--force", "--no-memfd", str(BPF_OBJ)], "e2e-c-tmp",
                                TMPDIR=str(tmp_path))
    assert report(proc, out, err) == truth(proc, "e2e-c-tmp")
    assert f"path={tmp_path}/btfembed-" in out
    assert list(tmp_path.iterdir()) == []


def test_c_loader_with_wrong_blob_reads_wrong_values(c_loaders) -> None:
    proc, out, err = run_loader([str(c_loaders["wrong"]), str(BPF_OBJ)], "e2e-c-wrong", BTFEMBED_FORCE="1")
    assert "status=0" in out
    got = report(proc, out, err)
    assert got != truth(proc, "e2e-c-wrong"), "values right with another kernel's BTF: embedded BTF not used?"
    assert got[0] != proc.pid and got[3] != "e2e-c-wrong"


# ---------------------------------------------------------------------------
# Python runtime + ctypes loader, with btfembed not importable


@pytest.fixture(scope="module")
def py_modules(blobs, c_loaders, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, blob in blobs.items():
        d = tmp_path_factory.mktemp(f"py-{name}")
        write_python(build_pack([(running_key(), blob)]), str(d / "example_pkg" / "_btf.py"),
                     compress=name == "good")
        out[name] = d
    return out


def run_py_loader(site: Path, args: list[str], comm: str, **extra: str):
    code = ("import runpy, sys\nsys.modules['btfembed'] = None\n"
            f"sys.argv = [{str(PY_LOADER)!r}] + sys.argv[1:]\n"
            f"runpy.run_path({str(PY_LOADER)!r}, run_name='__main__')\n")
    return run_loader([sys.executable, "-I", "-c", code, "--path", str(site), *args, str(BPF_OBJ)], comm, **extra)


def test_python_loader_forced_embedded_btf(py_modules) -> None:
    proc, out, err = run_py_loader(py_modules["good"], ["--force"], "e2e-py-forced")
    assert report(proc, out, err) == truth(proc, "e2e-py-forced")
    assert re.search(r"^btfembed: status=embedded key=\S+ exact=True path=/proc/self/fd/\d+$", out, re.M), out


def test_python_loader_env_force_and_tmpfile(py_modules, tmp_path: Path) -> None:
    proc, out, err = run_py_loader(py_modules["good"], [], "e2e-py-tmp", BTFEMBED_FORCE="1", BTFEMBED_NO_MEMFD="1",
                                   TMPDIR=str(tmp_path))
    assert report(proc, out, err) == truth(proc, "e2e-py-tmp")
    assert f"path={tmp_path}/btfembed-" in out and list(tmp_path.iterdir()) == []


def test_python_loader_with_wrong_blob_reads_wrong_values(py_modules) -> None:
    proc, out, err = run_py_loader(py_modules["wrong"], ["--force"], "e2e-py-wrong")
    assert "status=embedded" in out
    got = report(proc, out, err)
    assert got[0] != proc.pid and got[3] != "e2e-py-wrong"


# ---------------------------------------------------------------------------
# The example itself


@pytest.mark.integration
def test_example_makefile_builds_and_bpf_object_is_reproducible(blobs, c_loaders, tmp_path: Path) -> None:
    """`make` in a copy of examples/c-loader (make_pack.py, btfembed generate,
    cc) gives a working loader, and `make bpf` rebuilds task_report.bpf.o
    byte for byte (when clang is installed)."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    work = tmp_path / "c-loader"
    shutil.copytree(C_EXAMPLE, work, ignore=shutil.ignore_patterns("loader", "btf.pack", "example_btf.*"))
    btfembed = f"{sys.executable} -m btfembed"
    make = subprocess.run(["make", "-C", str(work), f"BTFEMBED={btfembed}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True, env=env(PYTHONPATH=str(REPO)))
    assert make.returncode == 0, make.stdout + make.stderr
    proc, out, err = run_loader([str(work / "loader"), "--force", str(work / "task_report.bpf.o")], "e2e-make")
    assert report(proc, out, err) == truth(proc, "e2e-make")
    if shutil.which("clang") is None:
        return
    rebuilt = tmp_path / "rebuilt.bpf.o"
    make = subprocess.run(["make", "-C", str(work), "bpf", f"BPF_OBJ={rebuilt}", f"BTFEMBED={btfembed}"],
                          capture_output=True, text=True, env=env(PYTHONPATH=str(REPO)))
    assert make.returncode == 0, make.stderr
    assert rebuilt.read_bytes() == BPF_OBJ.read_bytes(), "task_report.bpf.o is stale: run make bpf"


# ---------------------------------------------------------------------------
# Every codec, from C and from Python; the stale-object guard


CODEC_LIBS = {"none": [], "zlib": ["-lz"], "xz": ["-llzma"], "zstd": ["-lzstd"]}


def _guarded_pack(blob: bytes):
    from btfembed.embed.pack import object_digest
    return build_pack([(running_key(), blob)], [(BPF_OBJ.name, object_digest(BPF_OBJ.read_bytes()))])


@pytest.mark.parametrize("codec", ["none", "zlib", "xz", "zstd"])
def test_c_loader_every_codec(c_loaders, blobs, tmp_path: Path, codec: str) -> None:
    c_path, _ = write_c(_guarded_pack(blobs["good"]), str(tmp_path / "example_btf"), prefix="example", codec=codec)
    exe = tmp_path / "loader"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", f"-I{INCLUDE}", f"-I{tmp_path}", "-o", str(exe),
                    str(C_EXAMPLE / "loader.c"), c_path, "-lbpf", "-lelf", "-lz", *CODEC_LIBS[codec]], check=True)
    comm = f"e2e-c-{codec}"
    proc, out, err = run_loader([str(exe), "-v", str(BPF_OBJ)], comm, BTFEMBED_FORCE="1", BTFEMBED_DEBUG="1")
    assert report(proc, out, err) == truth(proc, comm)
    assert f"object check {BPF_OBJ}: built for this object" in out
    assert {int(i) for i in CANDIDATE.findall(err)} == {task_struct_id(blobs["good"])}
    debug = [line for line in err.splitlines() if line.startswith("btfembed: key=")]
    assert len(debug) == 1 and " match=exact " in debug[0] and debug[0].endswith("status=embedded"), err


@pytest.mark.parametrize("codec", ["none", "zlib", "xz", "zstd"])
def test_python_loader_every_codec(c_loaders, blobs, tmp_path: Path, codec: str) -> None:
    if codec == "zstd":
        pytest.importorskip("zstandard")
    write_python(_guarded_pack(blobs["good"]), str(tmp_path / "example_pkg" / "_btf.py"), codec=codec)
    comm = f"e2e-py-{codec}"
    if codec == "zstd":  # zstd is not in this Python's standard library: the loader needs zstandard
        code = ("import runpy, sys\n"
                f"sys.argv = [{str(PY_LOADER)!r}] + sys.argv[1:]\n"
                f"runpy.run_path({str(PY_LOADER)!r}, run_name='__main__')\n")
        proc, out, err = run_loader([sys.executable, "-c", code, "--path", str(tmp_path), "--force", str(BPF_OBJ)],
                                    comm, BTFEMBED_DEBUG="1")
    else:
        proc, out, err = run_py_loader(tmp_path, ["--force"], comm, BTFEMBED_DEBUG="1")
    assert report(proc, out, err) == truth(proc, comm)
    assert f"object check {BPF_OBJ}: built for this object" in out
    assert re.search(r"^btfembed: key=\S+ from=.* match=exact entry=\S+ sha256=[0-9a-f]{64} status=embedded$",
                     err, re.M), err


def test_stale_object_is_refused(c_loaders, blobs, tmp_path: Path) -> None:
    """A pack built for another object: both loaders refuse to load."""
    from btfembed.embed.pack import object_digest
    other = REPO / "tests" / "data" / "objs" / "task_small.el.o"
    pack = build_pack([(running_key(), blobs["good"])], [(other.name, object_digest(other.read_bytes()))])
    c_path, _ = write_c(pack, str(tmp_path / "example_btf"), prefix="example")
    exe = tmp_path / "loader"
    subprocess.run(["gcc", "-O2", f"-I{INCLUDE}", f"-I{tmp_path}", "-o", str(exe), str(C_EXAMPLE / "loader.c"),
                    c_path, "-lbpf", "-lelf", "-lz"], check=True)
    proc, out, err = run_loader([str(exe), str(BPF_OBJ)], "e2e-stale", BTFEMBED_FORCE="1")
    assert proc.returncode == 1 and "not one the embedded BTF was built for" in err and "report:" not in out
    write_python(pack, str(tmp_path / "py" / "example_pkg" / "_btf.py"))
    proc, out, err = run_py_loader(tmp_path / "py", ["--force"], "e2e-stale-py")
    assert proc.returncode == 1 and "not one the embedded BTF was built for" in err and "report:" not in out
