"""Building the generated Go and Rust code in tests, offline.

Go: GOPATH mode (GO111MODULE=off, GOPROXY=off), with a temporary GOPATH
holding the generated package and the test program, followed by Debian's
/usr/share/gocode (golang-github-cilium-ebpf-dev installs cilium/ebpf and
golang.org/x/sys there).  Rust: rustc directly (no cargo, no crates),
preferring Debian's /usr/bin/rustc (what CI installs) over one on PATH.
Everything skips when the toolchain is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent / "tools"
GOCODE = Path("/usr/share/gocode")
CILIUM = GOCODE / "src" / "github.com" / "cilium" / "ebpf"


def go() -> str:
    path = shutil.which("go")
    if path is None:
        pytest.skip("go not installed (Debian: golang-go)")
    out = subprocess.run([path, "version"], capture_output=True, text=True).stdout
    m = re.search(r"go1\.(\d+)", out)
    if not m or int(m.group(1)) < 16:
        pytest.skip(f"go >= 1.16 needed for //go:embed: {out.strip()}")
    return path


def go_env(gopath: Path, *, cilium: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "BTFEMBED_"))}
    paths = [str(gopath)] + ([str(GOCODE)] if cilium else [])
    env.update(GOPATH=os.pathsep.join(paths), GO111MODULE="off", GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local",
               CGO_ENABLED="0")
    if not os.access(os.environ.get("HOME", "/nonexistent"), os.W_OK):
        env["GOCACHE"] = str(gopath / ".cache")
    return env


def go_build(gopath: Path, main_source: Path, out: Path, *, tags: str = "", cilium: bool = False) -> Path:
    """Build ``main_source`` (package main, importing generated packages
    under ``gopath``/src) into ``out``."""
    exe = go()
    if cilium and not CILIUM.is_dir():
        pytest.skip(f"cilium/ebpf sources missing ({CILIUM}; Debian: golang-github-cilium-ebpf-dev)")
    src = gopath / "src" / out.name
    src.mkdir(parents=True, exist_ok=True)
    shutil.copy(main_source, src / "main.go")
    cmd = [exe, "build", "-o", str(out)] + (["-tags", tags] if tags else []) + ["."]
    proc = subprocess.run(cmd, cwd=src, env=go_env(gopath, cilium=cilium), capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def rustc() -> str:
    for candidate in ("/usr/bin/rustc", shutil.which("rustc")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("rustc not installed (Debian: rustc)")


def rust_build(source: Path, out: Path, *, libs: tuple[str, ...] = (), edition: str = "2018",
               extra: tuple[str, ...] = ()) -> Path:
    cmd = [rustc(), f"--edition={edition}", "-D", "warnings", "-o", str(out), str(source), *extra]
    cmd += [f"-l{lib}" for lib in libs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def write_rust_harness(workdir: Path, pack, *, module: str = "btfembed_rules", source: Path | None = None,
                       codec: str = "zlib") -> Path:
    """Generate ``pack`` as ``workdir/<module>.rs`` and put a program
    (default: tests/tools/rust_harness.rs) next to it as main.rs, which
    it returns (not built yet)."""
    from btfembed.embed.codegen import write_rust

    rustc()
    workdir.mkdir(parents=True, exist_ok=True)
    write_rust(pack, str(workdir / module), codec=codec)
    main = workdir / "main.rs"
    shutil.copy(source or TOOLS / "rust_harness.rs", main)
    return main


def build_rust_harness(workdir: Path, pack, *, module: str = "btfembed_rules", source: Path | None = None,
                       libs: tuple[str, ...] = (), name: str = "harness", codec: str = "zlib") -> Path:
    """write_rust_harness(), then build the program."""
    main = write_rust_harness(workdir, pack, module=module, source=source, codec=codec)
    return rust_build(main, workdir / name, libs=libs)
