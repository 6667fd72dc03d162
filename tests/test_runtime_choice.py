"""The choice made explicit, in both runtimes: BTFEMBED_KEY (exact entry),
BTFEMBED_HOST_ROOT (os-release of the host seen from a container), the
BTFEMBED_DEBUG line (the same text from C and Python), and the stale-object
guard (btfembed_check_object / check_object)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from btfembed.embed import runtime
from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import build_pack, object_digest, write_pack

from conftest import OBJS
from test_runtime_rules import DEB_REL, ENV_VARS, INCLUDE, blobs, build_harness, clean_env, compile_c, compiler

MORE_VARS = ("BTFEMBED_KEY", "BTFEMBED_HOST_ROOT", "BTFEMBED_DEBUG")
OBJ = OBJS / "synth_fields.el.o"


@pytest.fixture(autouse=True)
def no_env(monkeypatch) -> None:
    for var in ENV_VARS + MORE_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def pack():
    b = blobs()
    return build_pack([
        (KernelKey("x86_64", "debian", "12", DEB_REL), b["D"]),
        (KernelKey("x86_64", "ubuntu", "22.04", DEB_REL), b["D"]),
        (KernelKey("x86_64", "centos", "7", "3.10.0"), b["C"]),
        (KernelKey("x86_64", "rhel", "7", "3.10.0"), b["K"]),
    ], [(OBJ.name, object_digest(OBJ.read_bytes()))])


@pytest.fixture(scope="module")
def harness(pack, tmp_path_factory):
    return build_harness(tmp_path_factory.mktemp("choice"), pack, codec="xz")


@pytest.fixture(scope="module")
def pack_path(pack, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("choice-py") / "p.pack"
    write_pack(str(p), pack, codec="xz")
    return p


def _host(tmp: Path, text: str | None, where: str = "etc/os-release") -> Path:
    root = tmp / "host"
    if text is not None:
        f = root / where
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    root.mkdir(exist_ok=True)
    return root


def _both(harness, pack_path: Path, env: dict[str, str], monkeypatch) -> tuple[dict, str, runtime.Lookup, str]:
    """Run C and Python with the same environment; return (C output, C's
    debug line, the Python lookup, Python's debug line)."""
    base = {"BTFEMBED_MACHINE": "x86_64", "BTFEMBED_SYSFS_BTF": "/nonexistent", "BTFEMBED_DEBUG": "1"}
    base.update(env)
    out, proc = harness.run([], env=base)
    c_lines = [line for line in proc.stderr.splitlines() if line.startswith("btfembed: ")]
    assert len(c_lines) == 1, proc.stderr
    for k, v in base.items():
        monkeypatch.setenv(k, v)
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        res = runtime.lookup(str(pack_path))
    py_lines = err.getvalue().splitlines()
    assert len(py_lines) == 1
    return out, c_lines[0], res, py_lines[0]


def test_explicit_key_selects_exactly(harness, pack_path, pack, tmp_path: Path, monkeypatch) -> None:
    # The running key would be debian (exact): BTFEMBED_KEY picks rhel's entry instead.
    osr = tmp_path / "osr"
    osr.write_text("ID=debian\nVERSION_ID=12\n")
    out, c_line, res, py_line = _both(harness, pack_path, {"BTFEMBED_OS_RELEASE": str(osr),
                                                           "BTFEMBED_RELEASE": DEB_REL,
                                                           "BTFEMBED_KEY": "rhel/7/amd64/3.10.0"}, monkeypatch)
    assert out["rc"] == "0" and res.status == runtime.EMBEDDED
    assert res.match == ("x86_64", "rhel", "7", "3.10.0") and res.blob == blobs()["K"]
    assert c_line == py_line
    assert "from=BTFEMBED_KEY match=exact entry=rhel/7/x86_64/3.10.0" in c_line


@pytest.mark.parametrize("key", ["fedora/39/x86_64/3.10.0", "not-a-key", "a/b/c"])
def test_explicit_key_has_no_fallback(harness, pack_path, tmp_path: Path, monkeypatch, key: str) -> None:
    """release + arch would match (centos/rhel differ: ambiguous; here the
    distro is unknown): an explicit key that is not in the table is no-match."""
    out, c_line, res, py_line = _both(harness, pack_path, {"BTFEMBED_KEY": key}, monkeypatch)
    assert out["rc"] == "2" and res.status == runtime.NO_MATCH
    assert c_line == py_line and c_line.endswith("match=none entry=- sha256=- status=no-match")


@pytest.mark.parametrize("where", ["etc/os-release", "usr/lib/os-release"])
def test_host_root(harness, pack_path, tmp_path: Path, monkeypatch, where: str) -> None:
    root = _host(tmp_path, 'ID=ubuntu\nVERSION_ID="22.04"\n', where)
    out, c_line, res, py_line = _both(harness, pack_path, {"BTFEMBED_HOST_ROOT": str(root),
                                                           "BTFEMBED_RELEASE": DEB_REL}, monkeypatch)
    assert res.key == ("x86_64", "ubuntu", "22.04", DEB_REL) and res.exact
    assert out["distro"] == "ubuntu" and out["exact"] == "1"
    assert c_line == py_line and f"from={root}/{where}, override " in c_line
    # The API option does the same.
    assert runtime.running_key(host_root=str(root), release="r", machine="x86_64", use_env=False)[1:3] == \
        ("ubuntu", "22.04")


def test_host_root_without_os_release(harness, pack_path, tmp_path: Path, monkeypatch) -> None:
    """The container's own os-release is not read: release + arch decide."""
    root = _host(tmp_path, None)
    out, c_line, res, py_line = _both(harness, pack_path, {"BTFEMBED_HOST_ROOT": str(root),
                                                           "BTFEMBED_RELEASE": DEB_REL}, monkeypatch)
    assert res.status == runtime.EMBEDDED and not res.exact and res.how == "shared"
    assert c_line == py_line and "from=no os-release, override match=shared" in c_line


def test_debug_line_ambiguous_and_kernel_btf(harness, pack_path, tmp_path: Path, monkeypatch) -> None:
    root = _host(tmp_path, None)
    env = {"BTFEMBED_HOST_ROOT": str(root), "BTFEMBED_RELEASE": "3.10.0"}
    out, c_line, res, py_line = _both(harness, pack_path, env, monkeypatch)
    assert res.status == runtime.AMBIGUOUS and c_line == py_line and "match=ambiguous entry=-" in c_line
    env["BTFEMBED_SYSFS_BTF"] = str(INCLUDE / "btfembed.h")
    out, c_line, res, py_line = _both(harness, pack_path, env, monkeypatch)
    assert res.status == runtime.KERNEL_BTF and c_line == py_line and c_line.endswith("status=kernel-btf")


def test_no_debug_line_by_default(harness) -> None:
    _, proc = harness.run(["--release", DEB_REL, "--machine", "x86_64", "--sysfs", "/nonexistent", "--force"])
    assert proc.stderr == ""


# ---------------------------------------------------------------------------
# Stale-object guard

GUARD_C = r"""
#include "gen.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		static char buf[1 << 20];
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
		if (f)
			fclose(f);
		printf("%d\n", t_check_object(buf, n));
	}
	return 0;
}
"""


def test_stale_object_guard_c_and_python(harness, pack, pack_path: Path, tmp_path: Path) -> None:
    gen = harness.workdir
    (tmp_path / "guard.c").write_text(GUARD_C)
    exe = compile_c(compiler("gcc"), tmp_path / "guard", [tmp_path / "guard.c", gen / "gen.c"],
                    flags=(f"-I{gen}",), libs=("-llzma",))
    notelf = tmp_path / "x"
    notelf.write_bytes(b"not an object")
    eb = OBJS / "synth_fields.eb.o"
    rebuilt = bytearray(OBJ.read_bytes())      # same object, one BTF string byte changed
    data = OBJ.read_bytes()
    from btfembed.inputs.elf import ElfFile
    btf = ElfFile(data).section_data(".BTF")
    pos = data.index(btf) + len(btf) - 2
    rebuilt[pos] ^= 1
    (tmp_path / "rebuilt.o").write_bytes(bytes(rebuilt))
    paths = [OBJ, OBJS / "synth_enums.el.o", tmp_path / "rebuilt.o", eb, notelf]
    out = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True, check=True,
                         env=clean_env()).stdout.split()
    import errno
    assert [int(x) for x in out] == [0, -errno.ESTALE, -errno.ESTALE, -errno.ESTALE, -errno.ENOEXEC]
    assert runtime.check_object(OBJ.read_bytes(), str(pack_path)) is True
    for p in paths[1:4]:
        with pytest.raises(runtime.StaleObjectError, match="not one the embedded BTF was built for"):
            runtime.check_object(Path(p).read_bytes(), str(pack_path))
    with pytest.raises(runtime.InvalidPackError):
        runtime.check_object(b"not an object", str(pack_path))
    # A pack without object records cannot vouch for anything.
    bare = tmp_path / "bare.pack"
    write_pack(str(bare), build_pack(list(pack.mapping().items())))
    assert runtime.check_object(OBJ.read_bytes(), str(bare)) is False
