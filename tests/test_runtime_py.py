"""The Python runtime (btfembed/embed/runtime.py) beyond the lookup rules (those
are in test_runtime_rules.py): sources, the pack reader, handing the blob
over (memfd, temporary file, no /proc), and generated modules working
without btfembed installed (plain, from a zip, as a namespace package)."""

from __future__ import annotations

import importlib
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfembed.embed import runtime
from btfembed.embed.codegen import write_python
from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import PackError, build_pack, decode_pack, encode_pack, write_pack

from test_runtime_rules import DEB_REL, ENV_VARS, blobs, rules_items

DEB = KernelKey("x86_64", "debian", "12", DEB_REL)


@pytest.fixture(autouse=True)
def no_env(monkeypatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def pack():
    return build_pack(rules_items())


def opts(tmp_path: Path, **kw) -> dict:
    osr = tmp_path / "os-release"
    osr.write_text("ID=debian\nVERSION_ID=12\n")
    base = {"os_release": str(osr), "release": DEB_REL, "machine": "x86_64", "force": True}
    base.update(kw)
    return base


# ---------------------------------------------------------------------------
# Sources


def test_every_kind_of_source(pack, tmp_path: Path) -> None:
    path = tmp_path / "p.pack"
    write_pack(str(path), pack, compress=True)
    expected = pack.blob_for(DEB)
    sources = [str(path), path, path.read_bytes(), bytearray(path.read_bytes()), pack, pack.mapping(),
               {tuple(k): v for k, v in pack.mapping().items()}]
    for source in sources:
        assert runtime.find_btf(source, **opts(tmp_path)) == expected, type(source)
        assert runtime.kernels(source) == [tuple(k) for k, _ in pack.kernels]
    with pytest.raises(TypeError):
        runtime.find_btf(42, **opts(tmp_path))
    with pytest.raises(TypeError):
        runtime.find_btf(None, **opts(tmp_path))   # btfembed.embed.runtime has no default source
    with pytest.raises(ValueError):
        runtime.find_btf({("x86_64", DEB_REL): b"x"}, **opts(tmp_path))


def test_mapping_blobs_are_compared_by_content(tmp_path: Path) -> None:
    """Equal blobs under one release are not ambiguous, even as separate objects."""
    b = blobs()["D"]
    src = {("x86_64", "a", "1", DEB_REL): bytes(b), ("x86_64", "b", "1", DEB_REL): bytearray(b)}
    res = runtime.lookup(src, **opts(tmp_path))
    assert (res.status, res.exact, res.match) == (runtime.EMBEDDED, False, ("x86_64", "a", "1", DEB_REL))


def test_lookup_reports_key_and_describe(pack, tmp_path: Path) -> None:
    res = runtime.lookup(pack, **opts(tmp_path))
    assert res.key == tuple(DEB) and res.match == tuple(DEB) and res.exact
    for status in (runtime.EMBEDDED, runtime.KERNEL_BTF, runtime.NO_MATCH, runtime.AMBIGUOUS):
        assert runtime.describe(status) and runtime.describe(status) != runtime.describe("x")


def test_kernel_btf_means_no_blob(pack, tmp_path: Path) -> None:
    o = opts(tmp_path, force=False, sysfs_btf=str(tmp_path / "os-release"))
    assert runtime.find_btf(pack, **o) is None
    with runtime.btf_path(pack, required=True, **o) as path:
        assert path is None
    with pytest.raises(runtime.NoBTFError, match="no embedded BTF"):
        with runtime.btf_path(pack, required=True, **opts(tmp_path, release="9.9")):
            pass


# ---------------------------------------------------------------------------
# The pack reader agrees with btfembed.embed.pack


_FIELD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8)


@settings(max_examples=60, deadline=None)
@given(items=st.dictionaries(st.tuples(_FIELD.filter(bool), _FIELD, _FIELD, _FIELD.filter(bool)),
                             st.binary(min_size=1, max_size=40), max_size=6),
       codec=st.sampled_from(["none", "zlib", "xz", "zstd"]), block_size=st.integers(1, 100))
def test_pack_reader_matches_pack_module(items, codec: str, block_size: int) -> None:
    items = {k: v for k, v in items.items() if k[0] == runtime.normalize_arch(k[0])}
    pack = build_pack([(KernelKey(*k), v) for k, v in items.items()])
    data = encode_pack(pack, codec=codec, block_size=block_size)
    table = runtime._pack_table(data)
    ref = decode_pack(data)
    assert [k for k, _ in table.entries] == [tuple(k) for k, _ in ref.kernels]
    assert [table.get_blob(i) for _, i in table.entries] == [ref.blobs[i] for _, i in ref.kernels]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupt_packs_raise_invalid_pack_error(pack, data) -> None:
    """Random byte changes: the runtime raises InvalidPackError exactly when
    btfembed.embed.pack refuses the pack, and otherwise reads the same content."""
    raw = bytearray(encode_pack(pack, codec=data.draw(st.sampled_from(["none", "zlib", "xz"]))))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    try:
        ref = decode_pack(bytes(raw))
    except PackError:
        ref = None
    try:
        table = runtime._pack_table(bytes(raw))
        got = [(k, table.get_blob(i)) for k, i in table.entries]
    except runtime.InvalidPackError:
        got = None
    if ref is None:
        assert got is None
    else:
        assert got == [(tuple(k), ref.blobs[i]) for k, i in ref.kernels]


# ---------------------------------------------------------------------------
# Handing the blob over


def test_memfd_path(pack, tmp_path: Path) -> None:
    with runtime.btf_path(pack, **opts(tmp_path)) as path:
        assert path.startswith("/proc/self/fd/")
        fd = int(path.rsplit("/", 1)[1])
        assert Path(path).read_bytes() == pack.blob_for(DEB)
        with open(path, "r+b", buffering=0) as f, pytest.raises(PermissionError):   # sealed
            f.write(b"x")
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.parametrize("how", ["option", "env"])
def test_tmpfile_fallback_and_cleanup(pack, tmp_path: Path, monkeypatch, how: str) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    kw = {}
    if how == "option":
        kw["memfd"] = False
    else:
        monkeypatch.setenv("BTFEMBED_NO_MEMFD", "1")
    with runtime.btf_path(pack, tmpdir=str(tmpdir), **kw, **opts(tmp_path)) as path:
        p = Path(path)
        assert p.parent == tmpdir and p.name.startswith("btfembed-")
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert p.read_bytes() == pack.blob_for(DEB)
    assert not p.exists()
    with pytest.raises(RuntimeError):
        with runtime.btf_path(pack, memfd=False, tmpdir=str(tmpdir), **opts(tmp_path)) as path:
            raise RuntimeError("boom")
    assert list(tmpdir.iterdir()) == []


def test_no_proc_falls_back_to_tmpfile(pack, tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare(1)")
    if subprocess.run([unshare, "--mount", "--propagation", "private", "true"], capture_output=True).returncode:
        pytest.skip("unshare --mount does not work here")
    pack_path = tmp_path / "p.pack"
    write_pack(str(pack_path), pack)
    code = textwrap.dedent(f"""
        import sys; sys.modules["btfembed"] = None
        sys.path.insert(0, {str(Path(runtime.__file__).parent)!r})
        import runtime
        with runtime.btf_path({str(pack_path)!r}, tmpdir={str(tmp_path)!r}, os_release="/none",
                              release={DEB_REL!r}, machine="x86_64", force=True) as p:
            print(p, open(p, "rb").read() == runtime.find_btf({str(pack_path)!r}, release={DEB_REL!r},
                                                              machine="x86_64", force=True))
    """)
    proc = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c",
                           'umount -l /proc && exec "$@"', "sh", sys.executable, "-I", "-c", code],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    path, same = proc.stdout.split()
    assert path.startswith(str(tmp_path) + "/btfembed-") and same == "True"
    assert not Path(path).exists()


# ---------------------------------------------------------------------------
# Generated modules


def run_isolated(code: str, *paths: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where btfembed cannot be imported."""
    prelude = "import sys\nsys.modules['btfembed'] = None\n" + "".join(
        f"sys.path.insert(0, {str(p)!r})\n" for p in paths)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS and k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, env=env)


LOOKUP_CODE = f"""
    import {{mod}} as m
    blob = m.find_btf(os_release="/nonexistent", release={DEB_REL!r}, machine="x86_64", force=True)
    print(blob.hex())
    print(len(m.kernels()), m.lookup(os_release="/nonexistent", release="9", machine="x86_64", force=True).status)
    with m.btf_path(os_release="/nonexistent", release={DEB_REL!r}, machine="x86_64", force=True) as p:
        print(p, open(p, "rb").read() == blob)
"""


@pytest.mark.parametrize("compress", [False, True])
def test_generated_module_without_btfembed(pack, tmp_path: Path, compress: bool) -> None:
    pkg = tmp_path / "site" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    write_python(pack, str(pkg / "_btf.py"), compress=compress)
    proc = run_isolated(LOOKUP_CODE.format(mod="mypkg._btf"), tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    blob_hex, summary, handover = proc.stdout.splitlines()
    assert bytes.fromhex(blob_hex) == pack.blob_for(DEB)
    assert summary == f"{len(pack.kernels)} no-match"
    assert handover.startswith("/proc/self/fd/") and handover.endswith(" True")


def test_generated_module_from_zip_and_namespace_package(pack, tmp_path: Path) -> None:
    src = tmp_path / "src" / "nspkg"
    py, data = write_python(pack, str(src / "_btf.py"))   # no __init__.py: namespace package
    proc = run_isolated(LOOKUP_CODE.format(mod="nspkg._btf"), tmp_path / "src")
    assert proc.returncode == 0, proc.stderr
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zpkg/__init__.py", "")
        z.write(py, "zpkg/_btf.py")
        z.write(data, "zpkg/_btf.btfpack")
    proc = run_isolated(LOOKUP_CODE.format(mod="zpkg._btf"), archive)
    assert proc.returncode == 0, proc.stderr
    assert bytes.fromhex(proc.stdout.splitlines()[0]) == pack.blob_for(DEB)


def test_generated_module_detects_a_stale_data_file(pack, tmp_path: Path) -> None:
    pkg = tmp_path / "stalepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_python(pack, str(pkg / "_btf.py"))
    other = build_pack(rules_items()[:2])
    (pkg / "_btf.btfpack").write_bytes(encode_pack(other))
    proc = run_isolated("import stalepkg._btf as m\nm.kernels()\n", tmp_path)
    assert proc.returncode != 0 and "does not belong to stalepkg._btf" in proc.stderr
    (pkg / "_btf.btfpack").unlink()
    proc = run_isolated("import stalepkg._btf as m\nm.kernels()\n", tmp_path)
    assert proc.returncode != 0 and "InvalidPackError" in proc.stderr


def test_generated_module_as_source_for_runtime(pack, tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "srcpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_python(pack, str(pkg / "_btf.py"))
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("srcpkg._btf")
    try:
        assert runtime.find_btf(mod, **opts(tmp_path)) == pack.blob_for(DEB)
        assert mod.find_btf(**opts(tmp_path)) == pack.blob_for(DEB)
        assert mod.find_btf(pack.mapping(), **opts(tmp_path)) == pack.blob_for(DEB)   # other sources still work
    finally:
        for name in ("srcpkg._btf", "srcpkg"):
            sys.modules.pop(name, None)


def test_runtime_imports_only_the_standard_library() -> None:
    import ast
    tree = ast.parse(Path(runtime.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    assert names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)
