"""`btfembed generate --lang go|rust` and `btfembed build --emit go|rust`
(settings keys included): the outputs build with the system's go / rustc,
offline, and pick the right blob; bad options are one line on stderr;
the runtimes' copies of the pack-format constants match their owner."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import toolchains

from btfembed.embed import format as F

from conftest import OBJS, REPO_KERNELS
from test_runtime_rules import clean_env, parse_output

RUNTIMES = Path(__file__).resolve().parent.parent / "btfembed" / "embed" / "runtimes"
OBJ = str(OBJS / "task_small.el.o")
DEB = ("x86_64", "debian", "12", "6.1.0-50-amd64")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, cwd=cwd)


def deb_env(tmp: Path) -> dict[str, str]:
    osr = tmp / "os-release"
    osr.write_text("ID=debian\nVERSION_ID=12\n")
    return {"BTFEMBED_OS_RELEASE": str(osr), "BTFEMBED_RELEASE": DEB[3], "BTFEMBED_MACHINE": "amd64",
            "BTFEMBED_FORCE": "1"}


def check_harness(exe: Path, tmp: Path, expected_blob: bytes) -> None:
    dump = tmp / "dump.btf"
    proc = subprocess.run([str(exe), "--dump", str(dump)], env=clean_env(**deb_env(tmp)), capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    out = parse_output(proc.stdout)
    assert (out["rc"], out["exact"]) == ("0", "1") and (out["arch"], out["release"]) == ("x86_64", DEB[3]), out
    assert dump.read_bytes() == expected_blob


def test_build_emit_go_from_settings(tmp_path: Path) -> None:
    go = toolchains.go()
    gopath = tmp_path / "gopath"
    (tmp_path / "btfembed.toml").write_text(
        f'objects = ["{OBJ}"]\nkernels = ["{REPO_KERNELS}"]\nout_dir = "out"\nemit = "go"\n'
        'output = "gopath/src/btfembed_rules"\ngo_package = "btfembed_rules"\n'
        'go_import_path = "btfembed_rules"\n')
    proc = cli("build", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pkg = gopath / "src" / "btfembed_rules"
    assert sorted(p.name for p in pkg.iterdir()) == sorted(
        ["btfembed.btfpack", "btfembed_pack.go", "btfembed_runtime.go", "btfembed_cilium.go"])
    assert 'package btfembed_rules // import "btfembed_rules"' in (pkg / "btfembed_pack.go").read_text()
    assert (pkg / "btfembed.btfpack").read_bytes()[16] == F.CODEC_IDS["zlib"]
    exe = toolchains.go_build(gopath, toolchains.TOOLS / "go_harness.go", gopath / "harness")
    check_harness(exe, tmp_path, (tmp_path / "out" / "debian/12/x86_64/6.1.0-50-amd64.btf").read_bytes())
    assert go


def test_build_emit_rust_on_the_command_line(tmp_path: Path) -> None:
    toolchains.rustc()
    proc = cli("build", OBJ, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "out"), "-q",
               "--emit", "rust", "--output", str(tmp_path / "gen" / "btfembed_rules.rs"))
    assert proc.returncode == 0, proc.stderr
    gen = tmp_path / "gen"
    assert sorted(p.name for p in gen.iterdir()) == ["btfembed_rules.btfpack", "btfembed_rules.rs"]
    assert (gen / "btfembed_rules.btfpack").read_bytes()[16] == F.CODEC_IDS["none"]
    shutil.copy(toolchains.TOOLS / "rust_harness.rs", gen / "main.rs")
    exe = toolchains.rust_build(gen / "main.rs", tmp_path / "harness")
    check_harness(exe, tmp_path, (tmp_path / "out" / "debian/12/x86_64/6.1.0-50-amd64.btf").read_bytes())


def test_generate_go_and_rust_from_a_pack(tmp_path: Path) -> None:
    proc = cli("build", OBJ, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "out"), "-q")
    assert proc.returncode == 0, proc.stderr
    pack = str(tmp_path / "out" / "btfembed.pack")
    proc = cli("generate", pack, "--lang", "go", "--output", str(tmp_path / "go" / "my-btf"),
               "--depfile", str(tmp_path / "go.d"))
    assert proc.returncode == 0, proc.stderr
    assert "\npackage my_btf\n" in (tmp_path / "go" / "my-btf" / "btfembed_pack.go").read_text()
    assert (tmp_path / "go.d").read_text().startswith(str(tmp_path / "go" / "my-btf" / "btfembed.btfpack") + ":")
    proc = cli("generate", pack, "--output", str(tmp_path / "rs" / "kbtf.rs"))  # .rs: --lang rust
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "rs").iterdir()) == ["kbtf.btfpack", "kbtf.rs"]


@pytest.mark.parametrize("args,message", [
    (["--lang", "go", "--go-package", "1bad"], "Go package name '1bad'"),
    (["--lang", "go", "--go-package", "func"], "Go keyword"),
    (["--lang", "go", "--go-import-path", "a//b"], "Go import path"),
    (["--lang", "rust", "--go-package", "x"], "apply to --lang go only"),
    (["--lang", "c", "--go-import-path", "x"], "apply to --lang go only"),
])
def test_bad_options_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    pack = tmp_path / "p.pack"
    proc = cli("build", OBJ, "--kernels", str(REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"),
               "--out-dir", str(tmp_path / "out"), "-q")
    assert proc.returncode == 0, proc.stderr
    shutil.copy(tmp_path / "out" / "btfembed.pack", pack)
    out = tmp_path / "gen"
    proc = cli("generate", str(pack), "--output", str(out / "x"), *args)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_rust_module_name_checked(tmp_path: Path) -> None:
    proc = cli("generate", "/nonexistent.pack", "--lang", "rust", "--output", str(tmp_path / "my-btf.rs"))
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_go_and_rust_copies_of_the_format_constants() -> None:
    go = (RUNTIMES / "btfembed.go").read_text()
    rs = (RUNTIMES / "btfembed.rs").read_text()

    def go_const(name: str) -> str:
        m = re.search(rf"^\s*{name}\s*=\s*(.+?)\s*$", go, re.M)
        assert m, name
        return m.group(1)

    def rs_const(name: str) -> str:
        m = re.search(rf"^const {name}: \w+(?:<[^>]*>)? = (.+?);", rs, re.M)
        if not m:
            m = re.search(rf"^const {name}: &\[u8\] = (.+?);", rs, re.M)
        assert m, name
        return m.group(1)

    def num(text: str) -> int:
        return int(eval(text.replace("_", ""), {}))  # simple integer expressions only

    assert go_const("packMagic") == '"BTFEMBED-PACK\\n"' and rs_const("PACK_MAGIC") == 'b"BTFEMBED-PACK\\n"'
    assert F.MAGIC == b"BTFEMBED-PACK\n"
    pairs = {"FORMAT": ("packFormat", "PACK_FORMAT"), "HEADER_SIZE": ("packHeader", "PACK_HEADER_SIZE"),
             "BLOCK_RECORD": ("packBlockRec", "PACK_BLOCK_RECORD"), "BLOB_RECORD": ("packBlobRec", "PACK_BLOB_RECORD"),
             "ENTRY_RECORD": ("packEntryRec", "PACK_ENTRY_RECORD"),
             "OBJECT_RECORD": ("packObjectRec", "PACK_OBJECT_RECORD"),
             "COUNT_MAX": ("packCountMax", "PACK_COUNT_MAX"), "BLOCK_SIZE_MAX": ("blockSizeMax", "PACK_BLOCK_SIZE_MAX"),
             "FIELD_MAX": ("fieldMax", "FIELD_MAX"), "BLOB_MAX": ("blobMax", "BLOB_MAX"),
             "CODEC_NONE": ("codecNone", "CODEC_NONE")}
    for owner, (g, r) in pairs.items():
        assert num(go_const(g)) == num(rs_const(r)) == getattr(F, owner), owner
    assert num(go_const("codecZlib")) == F.CODEC_ZLIB
    # Header field offsets the readers use.
    offsets = {n: o for n, _, o in F.HEADER_FIELDS}
    for name, off in (("format", 14), ("codec", 16), ("n_entries", 20), ("n_blobs", 24), ("n_blocks", 28),
                      ("n_objects", 32), ("strings_size", 36), ("block_max", 40), ("flags", 44),
                      ("pack_size", 48), ("meta_sha256", 64)):
        assert offsets[name] == off, name


def test_runtimes_are_package_data() -> None:
    """The Go and Rust runtimes ship in the wheel (package data is an explicit list)."""
    import tomllib

    root = RUNTIMES.parent.parent.parent
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["btfembed.embed"]
    for f in RUNTIMES.iterdir():
        assert any(Path(f.name).match(p.split("/", 1)[1]) for p in patterns if p.startswith("runtimes/")), f.name
