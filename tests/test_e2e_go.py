"""Generated Go, end to end: a cilium/ebpf loader (Debian's
golang-github-cilium-ebpf-dev, built offline in GOPATH mode) loads the
examples' CO-RE program with ProgramOptions.KernelTypes from the generated
package's KernelSpec() -- the embedded BTF, FORCED on this kernel -- and
reads real values from task_struct; with a wrong blob (Debian 6.1's
task_struct under this kernel's key) the values are wrong.  Root only.

Also, without root: the generated package builds with the standard library
alone (without -tags btfembed_cilium), `go vet` is clean, a stale pack file
is refused, and the codecs Go cannot read are refused at generation.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import toolchains

from btfembed.embed.codegen import write_go
from btfembed.embed.keys import running_key
from btfembed.embed.pack import build_pack
from btfembed.errors import ConfigError

from test_e2e_load import BPF_OBJ, VMLINUX, env
from test_runtime_rules import CILIUM, DEBIAN, minimized

REPORT = re.compile(r"^report: pid=(\d+) tgid=(\d+) ppid=(\d+) comm=(\S*) hits=(\d+)$", re.M)
STATUS = re.compile(r"^btfembed: status=(\S+) key=(\S+) match=(\S+) exact=(\S+) spec=(\S+)$", re.M)


@pytest.fixture(scope="module")
def e2e_blobs() -> dict[str, bytes]:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    if not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux to minimize this kernel's BTF")
    toolchains.go()
    if not toolchains.CILIUM.is_dir():
        pytest.skip("cilium/ebpf sources missing (golang-github-cilium-ebpf-dev)")
    return {"good": minimized(str(VMLINUX), str(BPF_OBJ)), "wrong": minimized(str(DEBIAN), str(BPF_OBJ))}


@pytest.fixture(scope="module")
def go_loaders(e2e_blobs, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, blob in e2e_blobs.items():
        gopath = tmp_path_factory.mktemp(f"go-{name}")
        write_go(build_pack([(running_key(), blob)]), str(gopath / "src" / "btfembed_e2e"),
                 codec="zlib" if name == "good" else "none")
        # The executable's name becomes the comm of every thread of the
        # (multi-threaded) Go process, which the program reports.
        out[name] = toolchains.go_build(gopath, toolchains.TOOLS / "go_loader.go", gopath / f"e2e-go-{name}",
                                        tags="btfembed_cilium", cilium=True)
    return out


def run(exe: Path, *args: str) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([str(exe), *args, str(BPF_OBJ)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env())
    out, err = proc.communicate(timeout=120)
    return proc, out, err


def parse(proc: subprocess.Popen, out: str, err: str) -> tuple[tuple[int, int, int, str], set[int]]:
    m = REPORT.search(out)
    assert m, f"exit {proc.returncode}\n{out}\n{err}"
    assert int(m.group(5)) > 0
    threads = re.search(r"^threads: ([\d ]+)$", out, re.M)
    assert threads, out
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)), {int(t) for t in threads.group(1).split()}


def test_go_loader_forced_embedded_btf(go_loaders) -> None:
    proc, out, err = run(go_loaders["good"], "--force")
    assert proc.returncode == 0, out + err
    status = STATUS.search(out)
    key = "/".join(running_key())
    assert status and status.groups() == ("embedded", key, key, "true", "true"), out
    (pid, tgid, ppid, comm), threads = parse(proc, out, err)
    assert (tgid, ppid, comm) == (proc.pid, os.getpid(), "e2e-go-good")
    assert pid in threads  # the thread that made the last system call


def test_go_loader_with_wrong_blob_reads_wrong_values(go_loaders) -> None:
    proc, out, err = run(go_loaders["wrong"], "--force")
    assert "status=embedded" in out and "spec=true" in out, out + err
    (pid, tgid, ppid, comm), threads = parse(proc, out, err)
    assert (tgid, ppid, comm) != (proc.pid, os.getpid(), "e2e-go-wrong"), \
        "values right with another kernel's BTF: embedded BTF not used?"
    assert tgid != proc.pid and comm != "e2e-go-wrong" and pid not in threads


def test_go_loader_unforced_leaves_kernel_types_to_cilium(go_loaders) -> None:
    """Not forced, the kernel's own BTF is used: KernelSpec returns no spec
    (cilium/ebpf then reads /sys/kernel/btf/vmlinux itself; Debian's 0.9.1
    cannot parse the BTF of kernels with ENUM64 types, so the load itself
    is not asserted)."""
    proc, out, err = run(go_loaders["good"])
    status = STATUS.search(out)
    assert status and status.group(1) == "kernel-btf" and status.group(5) == "false", out + err


# ---------------------------------------------------------------------------
# Without root


def test_go_package_builds_with_stdlib_only_and_vets(tmp_path: Path) -> None:
    go = toolchains.go()
    pack = build_pack([(running_key(), minimized(str(DEBIAN)))])
    pkg = tmp_path / "src" / "example.com" / "tool" / "internal" / "kbtf"
    paths = write_go(pack, str(pkg), import_path="example.com/tool/internal/kbtf")
    assert [Path(p).name for p in paths][0] == "btfembed.btfpack"
    text = (pkg / "btfembed_pack.go").read_text()
    assert 'package kbtf // import "example.com/tool/internal/kbtf"' in text
    genv = toolchains.go_env(tmp_path)
    for cmd in (["build", "."], ["vet", "."], ["list", "-f", "{{join .Deps \" \"}}", "."]):
        proc = subprocess.run([go, *cmd], cwd=pkg, env=genv, capture_output=True, text=True)
        assert proc.returncode == 0, f"go {' '.join(cmd)}: {proc.stderr}"
    deps = proc.stdout.split()
    assert deps and not [d for d in deps if "." in d.split("/")[0]], f"non-stdlib dependencies: {deps}"
    # The same output twice: byte-identical.
    again = tmp_path / "again"
    write_go(pack, str(again), package="kbtf", import_path="example.com/tool/internal/kbtf")
    for name in os.listdir(pkg):
        assert (again / name).read_bytes() == (pkg / name).read_bytes(), name


def test_go_refuses_stale_pack_file(tmp_path: Path) -> None:
    """A pack file replaced after generation (the Go sources record its
    size and SHA-256) is an error, not a silent mismatch."""
    pkg = tmp_path / "src" / "btfembed_rules"
    write_go(build_pack([(running_key(), minimized(str(DEBIAN)))]), str(pkg), package="btfembed_rules")
    other = tmp_path / "other"
    write_go(build_pack([(running_key(), minimized(str(CILIUM)))]), str(other))
    (pkg / "btfembed.btfpack").write_bytes((other / "btfembed.btfpack").read_bytes())
    exe = toolchains.go_build(tmp_path, toolchains.TOOLS / "go_harness.go", tmp_path / "harness")
    proc = subprocess.run([str(exe), "--force"], capture_output=True, text=True, env=env())
    assert proc.returncode == 1 and "does not belong to this package" in proc.stderr, proc.stderr


@pytest.mark.parametrize("codec", ["xz", "zstd"])
def test_go_refuses_codecs_without_stdlib_decoder(tmp_path: Path, codec: str) -> None:
    with pytest.raises(ConfigError, match="Go's standard library"):
        write_go(build_pack([(running_key(), minimized(str(DEBIAN)))]), str(tmp_path / "p"), codec=codec)
    assert not (tmp_path / "p").exists()
