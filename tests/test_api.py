"""The public API (``import btfembed``): the same results as the command
line, and ``import btfembed`` stays light."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import btfembed
from btfembed.build.settings import KernelSpec

from conftest import OBJS, REPO_KERNELS

OBJ = OBJS / "task_small.el.o"
SMALL = REPO_KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz"
DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, check=True)


def test_every_public_name_is_documented_and_loads() -> None:
    for name in btfembed.__all__:
        if name == "__version__":
            continue
        value = getattr(btfembed, name)
        assert value.__doc__ and value.__doc__.strip(), name
        assert name in dir(btfembed)


def test_import_is_light() -> None:
    code = ("import sys, btfembed; "
            "heavy = [m for m in sys.modules if m.startswith(('btfembed.', 'elftools'))]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_minimize_and_build_are_functions_even_after_importing_their_packages() -> None:
    import btfembed.build.pipeline  # noqa: F401  (sets the sub-package attributes)
    import btfembed.minimize.engine  # noqa: F401

    assert callable(btfembed.minimize) and callable(btfembed.build)
    assert list(inspect.signature(btfembed.minimize).parameters)[:2] == ["objects", "kernel"]
    assert list(inspect.signature(btfembed.build).parameters)[0] == "settings"


def test_minimize_explain_verify_match_the_cli(tmp_path: Path) -> None:
    kernel = btfembed.open_kernel(str(SMALL))
    obj = btfembed.open_object(str(OBJ))
    result = btfembed.minimize([obj], kernel)
    out = tmp_path / "min.btf"
    cli("minimize", str(SMALL), str(out), str(OBJ))
    assert result.data == out.read_bytes()
    assert btfembed.minimize(obj, kernel.kernel).data == result.data  # one object, a bare BTF

    lines = [f"{obj.source}: {s.program} " for sums in btfembed.explain([obj], kernel) for s in sums]
    text = cli("explain", str(SMALL), str(OBJ)).stdout.decode().splitlines()
    assert len(lines) == len(text) and all(t.startswith(p) for p, t in zip(lines, text))
    assert [s for sums in btfembed.explain(obj, kernel) for s in sums] == list(result.summaries[0])

    check = btfembed.verify([obj], kernel, result.data)
    assert check.ok and check.total == len(result.summaries[0])
    # Against another kernel's minimized BTF the results differ.
    other = btfembed.minimize([obj], btfembed.open_kernel(str(DEBIAN)))
    assert not btfembed.verify([obj], kernel, btfembed.BTF(other.data)).ok


def test_build_write_outputs_and_generate_match_the_cli(tmp_path: Path) -> None:
    lib, cmd = tmp_path / "lib", tmp_path / "cmd"
    settings = btfembed.Settings(objects=[str(OBJ)], kernels=[KernelSpec(str(REPO_KERNELS))],
                                 out_dir=str(lib), cache=False, jobs=1, report=str(lib / "report.json"),
                                 emit="c", output=str(lib / "gen" / "min_btf"), prefix="mytool")
    result = btfembed.build(settings)
    assert isinstance(result, btfembed.BuildResult) and not result.failed
    assert not lib.exists()  # build() writes nothing
    written = btfembed.write_outputs(result, settings)
    assert str(lib / "btfembed.pack") in written and str(lib / "gen" / "min_btf.c") in written
    cli("build", str(OBJ), "--kernels", str(REPO_KERNELS), "--out-dir", str(cmd), "--no-cache", "-j1", "-q",
        "--report", str(cmd / "report.json"), "--emit", "c", "--output", str(cmd / "gen" / "min_btf"), "--prefix", "mytool")
    names = sorted(p.relative_to(lib) for p in lib.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(cmd) for p in cmd.rglob("*") if p.is_file())
    for rel in names:
        assert (lib / rel).read_bytes() == (cmd / rel).read_bytes(), rel

    py = btfembed.generate(str(lib / "btfembed.pack"), str(tmp_path / "py" / "_btf.py"),
                           depfile=str(tmp_path / "py" / "_btf.d"))
    cli("generate", str(lib / "btfembed.pack"), "--output", str(tmp_path / "py2" / "_btf.py"))
    assert Path(py[0]).read_bytes() == (tmp_path / "py2" / "_btf.py").read_bytes()
    assert py[-1].endswith("_btf.d") and str(lib / "btfembed.pack") in Path(py[-1]).read_text()
    # write_outputs refuses a build with a failed kernel unless keep_going.
    bad = result._replace(kernels=(result.kernels[0]._replace(blob=None, error="boom"), *result.kernels[1:]))
    try:
        btfembed.write_outputs(bad, dataclasses.replace(settings, out_dir=str(tmp_path / "bad")))
    except btfembed.BTFEmbedError as exc:
        assert "nothing written" in str(exc) and exc.exit_code == 3
    else:
        raise AssertionError("write_outputs wrote a failed build")
    assert not (tmp_path / "bad").exists()
