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
    assert (gen / "btfembed_rules.btfpack").read_bytes()[16] == F.CODEC_IDS["zlib"]
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


# ---------------------------------------------------------------------------
# The README's recipes, run as written


README = RUNTIMES.parent.parent.parent / "README.md"


def readme_block(section: str, lang: str, contains: str) -> str:
    text = README.read_text()
    body = text[text.index(f"## {section}"):]
    body = body[:body.index("\n## ", 4)]
    blocks = re.findall(rf"```{lang}\n(.*?)```", body, re.S)
    found = [b for b in blocks if contains in b]
    assert len(found) == 1, (section, contains)
    return found[0]


def btfembed_on_path(tmp: Path) -> dict[str, str]:
    """``btfembed`` on PATH running this checkout."""
    import os

    bindir = tmp / "bin"
    bindir.mkdir()
    script = bindir / "btfembed"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m btfembed "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}


def small_pack(dest: Path) -> None:
    proc = cli("build", OBJ, "--kernels", str(REPO_KERNELS), "--out-dir", str(dest), "-q")
    assert proc.returncode == 0, proc.stderr


def test_readme_go_generate_recipe(tmp_path: Path) -> None:
    go = toolchains.go()
    block = readme_block("Embedding in Go", "go", "//go:generate")
    proj = tmp_path / "src" / "example.com" / "mytool"
    small_pack(proj / "out")
    pkg = proj / "internal" / "kbtf"
    pkg.mkdir(parents=True)
    (pkg / "gen.go").write_text(block)
    env = toolchains.go_env(tmp_path)
    env.update(btfembed_on_path(tmp_path))
    proc = subprocess.run([go, "generate", "."], cwd=pkg, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (pkg / "btfembed.btfpack").is_file() and (pkg / "btfembed_runtime.go").is_file()
    proc = subprocess.run([go, "build", "."], cwd=pkg, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_readme_build_rs_recipe(tmp_path: Path) -> None:
    """build.rs as cargo runs it (cwd: the package, OUT_DIR set), then the
    crate's main.rs including its output; rustc only."""
    import os

    rustc = toolchains.rustc()
    build_rs = readme_block("Embedding in Rust", "rust", "// build.rs")
    main_rs = readme_block("Embedding in Rust", "rust", "// src/main.rs")
    proj, out_dir = tmp_path / "crate", tmp_path / "target" / "out"
    out_dir.mkdir(parents=True)
    small_pack(proj / "btf")
    (proj / "src").mkdir()
    (proj / "build.rs").write_text(build_rs)
    (proj / "src" / "main.rs").write_text(
        main_rs + "\nfn main() {\n    let (d, _) = btf::lookup(&btf::Options::default()).unwrap();\n"
        "    println!(\"{} {}\", d.status, btf::kernels().unwrap().len());\n}\n")
    env = dict(os.environ, OUT_DIR=str(out_dir), **btfembed_on_path(tmp_path))
    for src, exe in ((proj / "build.rs", tmp_path / "build-script"), (proj / "src" / "main.rs", tmp_path / "app")):
        proc = subprocess.run([rustc, "--edition=2021", "-D", "warnings", "-o", str(exe), str(src)], env=env,
                              capture_output=True, text=True)
        if src.name == "build.rs":
            assert proc.returncode == 0, proc.stderr
            run = subprocess.run([str(exe)], cwd=proj, env=env, capture_output=True, text=True)
            assert run.returncode == 0 and "cargo:rerun-if-changed=btf/btfembed.pack" in run.stdout, run.stderr
        else:
            assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(tmp_path / "app")], env=clean_env(), capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.split()[1] == "3", run.stdout + run.stderr


# ---------------------------------------------------------------------------
# Integrity: the stale-object guard and damaged packs


def _write_go(tmp: Path, pack, codec: str = "none") -> Path:
    """The generated package (not built yet)."""
    from btfembed.embed.codegen import write_go

    pkg = tmp / "gopath" / "src" / "btfembed_rules"
    write_go(pack, str(pkg), package="btfembed_rules", codec=codec)
    return pkg


def _build_go(tmp: Path, pack, codec: str = "none") -> tuple[Path, Path]:
    pkg = _write_go(tmp, pack, codec)
    gopath = tmp / "gopath"
    return toolchains.go_build(gopath, toolchains.TOOLS / "go_harness.go", gopath / "harness"), pkg


def _rebuild_go(tmp: Path, pkg: Path) -> Path:
    return toolchains.go_build(tmp / "gopath", toolchains.TOOLS / "go_harness.go", tmp / "gopath" / "harness2")


def _write_rust(tmp: Path, pack, codec: str = "none") -> Path:
    """The generated module and the harness's main.rs (not built yet)."""
    return toolchains.write_rust_harness(tmp / "rs", pack, codec=codec).parent


def _build_rust(tmp: Path, pack, codec: str = "none") -> tuple[Path, Path]:
    exe = toolchains.build_rust_harness(tmp / "rs", pack, codec=codec)
    return exe, tmp / "rs"


def _rebuild_rust(tmp: Path, _pkg: Path) -> Path:
    return toolchains.rust_build(tmp / "rs" / "main.rs", tmp / "rs" / "harness2")


def _reseal(lang: str, where: Path, data: bytes) -> None:
    """Replace the pack and the size and SHA-256 its sources record, as if
    generated that way: what is left to catch damage is the pack's own
    checks."""
    import hashlib

    digest = hashlib.sha256(data).digest()
    if lang == "go":
        (where / "btfembed.btfpack").write_bytes(data)
        src = where / "btfembed_pack.go"
        text = re.sub(r"const packSize = \d+", f"const packSize = {len(data)}", src.read_text())
        text = re.sub(r"var packSHA256 = \[32\]byte\{[^}]*\}",
                      "var packSHA256 = [32]byte{" + ", ".join(f"0x{b:02x}" for b in digest) + "}", text)
    else:
        (where / "btfembed_rules.btfpack").write_bytes(data)
        src = where / "btfembed_rules.rs"
        text = re.sub(r"const PACK_SIZE: u64 = \d+;", f"const PACK_SIZE: u64 = {len(data)};", src.read_text())
        text = re.sub(r"const PACK_SHA256: \[u8; 32\] = \[[^\]]*\];",
                      "const PACK_SHA256: [u8; 32] = [" + ", ".join(f"0x{b:02x}" for b in digest) + "];", text)
    src.write_text(text)


BUILDERS = {"go": (_build_go, _rebuild_go), "rust": (_build_rust, _rebuild_rust)}
# Tests that damage the generated sources before building: generated, not
# built (a build of the undamaged sources would only be thrown away).
WRITERS = {"go": _write_go, "rust": _write_rust}


@pytest.mark.parametrize("lang", ["go", "rust"])
def test_stale_object_guard(tmp_path: Path, lang: str) -> None:
    from btfembed.embed.pack import build_pack, object_digest

    (toolchains.go if lang == "go" else toolchains.rustc)()
    from test_runtime_rules import DEBIAN, minimized

    obj = Path(OBJ)
    other = OBJS / "tracer.el.o"
    pack = build_pack([(DEB, minimized(str(DEBIAN)))], objects=[(obj.name, object_digest(obj.read_bytes()))])
    exe, _ = BUILDERS[lang][0](tmp_path, pack)
    ok = subprocess.run([str(exe), "--check-object", str(obj)], capture_output=True, text=True)
    assert ok.returncode == 0 and "object=ok" in ok.stdout, ok.stderr
    stale = subprocess.run([str(exe), "--check-object", str(other)], capture_output=True, text=True)
    assert stale.returncode == 1 and "object=refused" in stale.stdout and "built for" in stale.stderr
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"\x7fELF" + b"\0" * 10)
    bad = subprocess.run([str(exe), "--check-object", str(junk)], capture_output=True, text=True)
    assert bad.returncode == 1 and "not a BPF object" in bad.stderr, bad.stderr


def _damage(data: bytes, kind: str) -> tuple[bytes, str]:
    import struct

    b = bytearray(data)
    if kind == "blob-byte":
        b[-5] ^= 0x40
        return bytes(b), "digest mismatch"
    if kind == "index-byte":
        b[F.HEADER_SIZE + 1] ^= 0x01
        return bytes(b), "index digest mismatch"
    if kind == "format":
        struct.pack_into("<H", b, 14, F.FORMAT - 1)
        return bytes(b), f"unsupported format {F.FORMAT - 1}"
    if kind == "truncated":
        return bytes(b[:-1]), "truncated or padded"
    if kind == "magic":
        b[0] ^= 1
        return bytes(b), "wrong magic"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["blob-byte", "index-byte", "format", "truncated", "magic"])
@pytest.mark.parametrize("lang", ["go", "rust"])
def test_damaged_pack_refused(tmp_path: Path, lang: str, kind: str) -> None:
    from btfembed.embed.pack import build_pack

    (toolchains.go if lang == "go" else toolchains.rustc)()
    from test_runtime_rules import DEBIAN, minimized

    pack = build_pack([(DEB, minimized(str(DEBIAN)))])
    rebuild = BUILDERS[lang][1]
    where = WRITERS[lang](tmp_path, pack)
    name = "btfembed.btfpack" if lang == "go" else "btfembed_rules.btfpack"
    data, message = _damage((where / name).read_bytes(), kind)
    _reseal(lang, where, data)
    exe = rebuild(tmp_path, where)
    proc = subprocess.run([str(exe)], env=clean_env(**deb_env(tmp_path)), capture_output=True, text=True)
    assert proc.returncode == 1 and "not a valid btfembed pack" in proc.stderr and message in proc.stderr, \
        proc.stdout + proc.stderr
    assert "path=" not in proc.stdout  # no bytes handed out


@pytest.mark.parametrize("lang", ["go", "rust"])
def test_damaged_zlib_blocks_refused(tmp_path: Path, lang: str) -> None:
    """Bytes flipped inside a zlib block (not covered by the index digest):
    the decompressor or the blob digest refuses every one, with one clear
    error and no crash (Rust: no panic; its DEFLATE decoder is its own)."""
    import random

    from btfembed.embed.pack import build_pack

    (toolchains.go if lang == "go" else toolchains.rustc)()
    from test_runtime_rules import DEBIAN, minimized

    rebuild = BUILDERS[lang][1]
    where = WRITERS[lang](tmp_path, build_pack([(DEB, minimized(str(DEBIAN)))]), codec="zlib")
    name = "btfembed.btfpack" if lang == "go" else "btfembed_rules.btfpack"
    good = (where / name).read_bytes()
    stored = int.from_bytes(good[F.HEADER_SIZE + 4:F.HEADER_SIZE + 8], "little")  # block 0's stored size
    rng = random.Random(17)
    for n, pos in enumerate(sorted(rng.sample(range(len(good) - stored, len(good)), 4))):
        data = bytearray(good)
        data[pos] ^= 1 << rng.randrange(8)
        _reseal(lang, where, bytes(data))
        exe = rebuild(tmp_path, where)
        proc = subprocess.run([str(exe)], env=clean_env(**deb_env(tmp_path)), capture_output=True, text=True)
        assert proc.returncode == 1 and "not a valid btfembed pack" in proc.stderr, (pos, proc.stdout + proc.stderr)
        assert "panicked" not in proc.stderr and "path=" not in proc.stdout


@pytest.mark.parametrize("level,strategy", [(0, 0), (1, 0), (6, 1), (9, 4), (9, 2)],
                         ids=["stored", "fast", "filtered", "fixed", "huffman-only"])
def test_rust_inflate_decodes_every_kind_of_zlib_block(tmp_path: Path, monkeypatch, level: int,
                                                       strategy: int) -> None:
    """Stored, fixed-Huffman and dynamic-Huffman blocks (zlib levels and
    strategies the pack writer does not use by itself) all decode to the
    right blob."""
    import zlib

    from btfembed.embed import pack as pack_mod
    from btfembed.embed.pack import build_pack

    toolchains.rustc()
    from test_runtime_rules import DEBIAN, KYLIN, minimized

    def compress(raw: bytes) -> bytes:
        c = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
        return c.compress(raw) + c.flush()

    monkeypatch.setitem(pack_mod._COMPRESSORS, "zlib", compress)
    blob = minimized(str(DEBIAN)) + b""
    pack = build_pack([(DEB, blob), (("arm64", "kylin", "V10", "4.19"), minimized(str(KYLIN)))])
    exe, _ = _build_rust(tmp_path, pack, codec="zlib")
    check_harness(exe, tmp_path, blob)


@pytest.mark.parametrize("lang", ["go", "rust"])
def test_btf_recode_decoded_as_python_encodes(tmp_path: Path, lang: str) -> None:
    """The Go and Rust inverses of the BTF recoding give back the
    exact blob for real, damaged, truncated and non-BTF blobs (zlib pack,
    each blob chosen with BTFEMBED_KEY and dumped)."""
    import random

    from btfembed.embed.pack import build_pack

    (toolchains.go if lang == "go" else toolchains.rustc)()
    from test_runtime_rules import blobs

    rng = random.Random(11)
    real = sorted(blobs().values())
    items = []
    for i in range(12):
        b = bytearray(rng.choice(real))
        if i >= len(real):
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if i % 3 == 0:
                b = b[:rng.randrange(1, len(b) + 1)]
        items.append((("x86_64", "d", str(i), f"5.{i}"), bytes(b)))
    items.append((("x86_64", "d", "junk", "5.junk"), bytes(rng.randrange(256) for _ in range(300))))
    exe, _ = BUILDERS[lang][0](tmp_path, build_pack(items), codec="zlib")
    for key, blob in items:
        dump = tmp_path / "dump.btf"
        env = clean_env(BTFEMBED_KEY=f"{key[1]}/{key[2]}/{key[0]}/{key[3]}", BTFEMBED_FORCE="1")
        proc = subprocess.run([str(exe), "--dump", str(dump)], env=env, capture_output=True, text=True)
        assert proc.returncode == 0 and parse_output(proc.stdout)["rc"] == "0", proc.stdout + proc.stderr
        assert dump.read_bytes() == blob, key


@pytest.mark.parametrize("lang", ["go", "rust"])
def test_key_host_root_and_debug_as_options(tmp_path: Path, lang: str) -> None:
    """Options.Key / HostRoot / Debug (Go) and key / host_root / debug
    (Rust) act like their variables (which the shared table covers)."""
    from btfembed.embed.pack import build_pack

    (toolchains.go if lang == "go" else toolchains.rustc)()
    from test_runtime_rules import CILIUM, DEBIAN, minimized

    deb, other = minimized(str(DEBIAN)), minimized(str(CILIUM))
    pack = build_pack([(DEB, deb), (("x86_64", "rhel", "7", DEB[3]), other)])
    exe, _ = BUILDERS[lang][0](tmp_path, pack, codec="zlib")
    common = ["--force", "--release", DEB[3], "--machine", "x86_64", "--dump", str(tmp_path / "d")]

    def run(*args: str) -> tuple[dict[str, str], str]:
        proc = subprocess.run([str(exe), *common, *args], env=clean_env(), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return parse_output(proc.stdout), proc.stderr

    out, err = run("--key", f"rhel/7/amd64/{DEB[3]}")
    assert (out["distro"], out["exact"], err) == ("rhel", "1", "")
    assert (tmp_path / "d").read_bytes() == other
    root = tmp_path / "host"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    out, err = run("--host-root", str(root), "--debug")
    assert (out["distro"], out["exact"]) == ("debian", "1") and (tmp_path / "d").read_bytes() == deb
    assert err.startswith(f"btfembed: key=debian/12/x86_64/{DEB[3]} from={root}/usr/lib/os-release, override "
                          f"match=exact entry=debian/12/x86_64/{DEB[3]} sha256="), err
    assert err.rstrip().endswith(" status=embedded")


@pytest.mark.parametrize("lang,codec,ok", [("go", "none", True), ("go", "xz", False), ("rust", "none", True),
                                           ("rust", "zstd", False), ("rust", "zlib", True)])
def test_generate_codec_option(tmp_path: Path, lang: str, codec: str, ok: bool) -> None:
    proc = cli("build", OBJ, "--kernels", str(REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"),
               "--out-dir", str(tmp_path / "out"), "-q")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "gen" / ("pkg" if lang == "go" else "btf.rs")
    proc = cli("generate", str(tmp_path / "out" / "btfembed.pack"), "--lang", lang, "--codec", codec,
               "--output", str(out))
    if ok:
        assert proc.returncode == 0, proc.stderr
        data = (out / "btfembed.btfpack" if lang == "go" else out.with_suffix(".btfpack")).read_bytes()
        assert data[16] == F.CODEC_IDS[codec]
    else:
        assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "cannot be read by the" in proc.stderr and not (tmp_path / "gen").exists()


@pytest.mark.parametrize("lang", ["go", "rust"])
def test_privileged_processes_ignore_the_environment(tmp_path: Path, lang: str) -> None:
    """A setuid or file-capability program is run by a user who chooses its
    environment: the BTFEMBED_* overrides are then not read (as the C
    runtime's secure_getenv), so that user cannot pick the blob handed to
    libbpf; the same program run without privileges reads them."""
    import os
    import tempfile

    from btfembed.embed.pack import build_pack

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux)")
    (toolchains.go if lang == "go" else toolchains.rustc)()
    from test_runtime_rules import DEBIAN, minimized

    release = os.uname().release
    assert release != DEB[3]
    exe, _ = BUILDERS[lang][0](tmp_path, build_pack([(DEB, minimized(str(DEBIAN)))]), codec="zlib")
    shared = Path(tempfile.mkdtemp(prefix="btfembed-priv-"))   # reachable by an unprivileged user
    try:
        if os.statvfs(shared).f_flag & os.ST_NOSUID:
            pytest.skip(f"{shared.parent} is mounted nosuid: setuid bits and file capabilities do not apply")
        shared.chmod(0o755)
        (shared / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
        dumps = shared / "dumps"
        dumps.mkdir(mode=0o777)
        dumps.chmod(0o777)
        env = clean_env(BTFEMBED_OS_RELEASE=str(shared / "os-release"), BTFEMBED_RELEASE=DEB[3],
                        BTFEMBED_MACHINE="amd64", BTFEMBED_FORCE="1")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

        def run(mode: int, caps: str | None = None) -> dict[str, str]:
            prog = shared / f"harness-{mode:o}-{caps or 'none'}"
            shutil.copy(exe, prog)
            prog.chmod(mode)
            if caps is not None:
                subprocess.run(["setcap", caps, str(prog)], check=True, capture_output=True)
            proc = subprocess.run([*nobody, str(prog), "--dump", str(dumps / prog.name)], env=env,
                                  capture_output=True, text=True)
            out = parse_output(proc.stdout)
            assert "release" in out, (proc.returncode, proc.stdout, proc.stderr)
            return out

        plain = run(0o755)
        assert (plain["rc"], plain["release"], plain["distro"]) == ("0", DEB[3], "debian"), plain
        setuid = run(0o4755)
        assert setuid["release"] == release and setuid["rc"] != "0", setuid
        if shutil.which("setcap"):
            caps = run(0o755, "cap_bpf,cap_perfmon+ep")   # what BPF tools are given
            assert caps["release"] == release and caps["rc"] != "0", caps
    finally:
        shutil.rmtree(shared, ignore_errors=True)
