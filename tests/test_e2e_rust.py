"""Generated Rust, end to end: a small Rust loader (rustc only, no crates)
calling libbpf through its C API (-lbpf) loads the examples' CO-RE program
with btf_custom_path = the path btf_path() returns (the embedded BTF,
FORCED on this kernel: a sealed memfd, or a temporary file) and reads real
values from task_struct; with a wrong blob the values are wrong.  Root only.

Also, without root: the module builds warning-free with Debian's rustc,
alone or include!()d as build.rs output would be, the stale-pack guard
works, and codecs the Rust runtime cannot read (xz, zstd) are refused.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import toolchains

from btfembed.embed.codegen import write_rust
from btfembed.embed.keys import running_key
from btfembed.embed.pack import build_pack
from btfembed.errors import ConfigError

from test_e2e_load import BPF_OBJ, VMLINUX, env
from test_runtime_rules import CILIUM, DEBIAN, minimized

REPORT = re.compile(r"^report: pid=(\d+) tgid=(\d+) ppid=(\d+) comm=(\S*) hits=(\d+)$", re.M)
STATUS = re.compile(r"^btfembed: status=(\S+) key=(\S+) exact=(\S+) path=(\S+)$", re.M)


@pytest.fixture(scope="module")
def rust_loaders(tmp_path_factory) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    if not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux to minimize this kernel's BTF")
    toolchains.rustc()
    if not Path("/usr/include/bpf/libbpf.h").exists():
        pytest.skip("needs libbpf (libbpf-dev)")
    blobs = {"good": minimized(str(VMLINUX), str(BPF_OBJ)), "wrong": minimized(str(DEBIAN), str(BPF_OBJ))}
    return {name: toolchains.build_rust_harness(
                tmp_path_factory.mktemp(f"rust-{name}"), build_pack([(running_key(), blob)]),
                module="btfembed_e2e", source=toolchains.TOOLS / "rust_loader.rs", libs=("bpf",),
                name=f"e2e-rust-{name}",  # the comm the program reports
                codec="zlib" if name == "good" else "none")
            for name, blob in blobs.items()}


def run(exe: Path, *args: str, **extra: str) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([str(exe), *args, str(BPF_OBJ)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env(**extra))
    out, err = proc.communicate(timeout=120)
    return proc, out, err


def report(proc, out: str, err: str) -> tuple[int, int, int, str]:
    m = REPORT.search(out)
    assert m, f"exit {proc.returncode}\n{out}\n{err}"
    assert int(m.group(5)) > 0
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def test_rust_loader_forced_embedded_btf_memfd(rust_loaders) -> None:
    proc, out, err = run(rust_loaders["good"], "--force")
    assert proc.returncode == 0, out + err
    status = STATUS.search(out)
    assert status and status.group(1, 2, 3) == ("embedded", "/".join(running_key()), "true"), out
    assert re.fullmatch(r"/proc/self/fd/\d+", status.group(4)), out
    assert report(proc, out, err) == (proc.pid, proc.pid, os.getpid(), "e2e-rust-good")


def test_rust_loader_env_force_tmpfile(rust_loaders, tmp_path: Path) -> None:
    proc, out, err = run(rust_loaders["good"], BTFEMBED_FORCE="1", BTFEMBED_NO_MEMFD="1", TMPDIR=str(tmp_path))
    assert proc.returncode == 0, out + err
    assert f"path={tmp_path}/btfembed-" in out, out
    assert report(proc, out, err) == (proc.pid, proc.pid, os.getpid(), "e2e-rust-good")
    assert list(tmp_path.iterdir()) == []  # removed when dropped


def test_rust_loader_uses_kernel_btf_unless_forced(rust_loaders) -> None:
    proc, out, err = run(rust_loaders["good"])
    assert re.search(r"^btfembed: status=kernel-btf .* path=\(none\)$", out, re.M), out + err
    assert report(proc, out, err) == (proc.pid, proc.pid, os.getpid(), "e2e-rust-good")


def test_rust_loader_with_wrong_blob_reads_wrong_values(rust_loaders) -> None:
    proc, out, err = run(rust_loaders["wrong"], "--force")
    assert "status=embedded" in out, out + err
    got = report(proc, out, err)
    assert got != (proc.pid, proc.pid, os.getpid(), "e2e-rust-wrong"), "right values with another kernel's BTF?"
    assert got[0] != proc.pid and got[3] != "e2e-rust-wrong"


# ---------------------------------------------------------------------------
# Without root


def test_rust_module_builds_alone_and_included(tmp_path: Path) -> None:
    """`mod btf;` next to the pack, and `mod btf { include!(...) }` from
    elsewhere (the build.rs / OUT_DIR recipe): both warning-free, and the
    included one finds its pack relative to the module file."""
    pack = build_pack([(running_key(), minimized(str(DEBIAN)))])
    out_dir = tmp_path / "out"
    paths = write_rust(pack, str(out_dir / "btf.rs"))
    assert [Path(p).name for p in paths] == ["btf.rs", "btf.btfpack"]
    main = tmp_path / "main.rs"
    main.write_text(
        "mod btf {\n    include!(concat!(env!(\"OUT_DIR\"), \"/btf.rs\"));\n}\n"
        "fn main() {\n"
        "    let opts = btf::Options { force: true, ..Default::default() };\n"
        "    let (d, blob) = btf::lookup(&opts).unwrap();\n"
        "    println!(\"{} {} {}\", d.status, d.exact, blob.map(|b| b.len()).unwrap_or(0));\n"
        "    println!(\"{}\", btf::kernels().unwrap().len());\n"
        "}\n")
    rustc = toolchains.rustc()
    proc = subprocess.run([rustc, "--edition=2018", "-D", "warnings", "-o", str(tmp_path / "m"), str(main)],
                          capture_output=True, text=True, env=dict(os.environ, OUT_DIR=str(out_dir)))
    assert proc.returncode == 0, proc.stderr
    run_ = subprocess.run([str(tmp_path / "m")], capture_output=True, text=True, env=env())
    assert run_.stdout.split() == ["embedded", "true", str(len(pack.blobs[0])), "1"], run_.stdout + run_.stderr
    # Deterministic output.
    again = write_rust(pack, str(tmp_path / "again" / "btf"))
    assert [Path(p).read_bytes() for p in again] == [Path(p).read_bytes() for p in paths]


def test_rust_refuses_stale_pack_file(tmp_path: Path) -> None:
    pack = build_pack([(running_key(), minimized(str(DEBIAN)))])
    exe = toolchains.build_rust_harness(tmp_path / "h", pack, codec="none")
    other = write_rust(build_pack([(running_key(), minimized(str(CILIUM)))]), str(tmp_path / "o" / "x"))
    ok = subprocess.run([str(exe), "--force", "--bytes"], capture_output=True, text=True, env=env())
    assert ok.returncode == 0 and "status_name=embedded" in ok.stdout, ok.stderr
    # include_bytes! embeds at build time: rebuild with another pack file.
    (tmp_path / "h" / "btfembed_rules.btfpack").write_bytes(Path(other[1]).read_bytes())
    exe = toolchains.rust_build(tmp_path / "h" / "main.rs", tmp_path / "h" / "stale")
    proc = subprocess.run([str(exe), "--force", "--bytes"], capture_output=True, text=True, env=env())
    assert proc.returncode == 1 and "does not belong to this module" in proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("codec", ["xz", "zstd"])
def test_rust_refuses_codecs_it_cannot_decode(tmp_path: Path, codec: str) -> None:
    with pytest.raises(ConfigError, match="decodes zlib only"):
        write_rust(build_pack([(running_key(), minimized(str(DEBIAN)))]), str(tmp_path / "btf"), codec=codec)
    assert list(tmp_path.iterdir()) == []
