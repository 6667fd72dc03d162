"""Python packaging integration: setuptools hook and scikit-build-core.

A local wheelhouse holds btfembed's wheel (built from this checkout) and,
from PyPI, setuptools, wheel, scikit-build-core, btfembed's own requirements and their
dependencies; every build below runs with pip's (or pypa/build's) build
isolation against it (``--no-index --find-links``), in a fresh venv that
also has btfembed installed, so the build environment's copy and the
caller's copy both exist (the CMake config must pick the isolated one).

* examples/setuptools-wheel: ``pip wheel`` (the wheel holds the generated
  ``_btf.py`` + ``_btf.btfpack``), installed and run; ``python -m build``
  (sdist -> wheel from the sdist); ``pip install -e`` (PEP 660: generated
  in place); a project without ``[tool.btfembed]`` (or without btfembed in
  build-system.requires) is untouched by the hook.
* examples/skbuild-extension: ``pip wheel`` with scikit-build-core, whose
  CMakeLists uses find_package(BTFEmbed) (cmake.root entry point) and
  btfembed_add_library; the extension is installed and run.
* Plain CMake finds an installed btfembed through CMAKE_PREFIX_PATH and runs
  that installation's console script, not another btfembed on PATH.

Root only: the installed packages load their BPF programs with the embedded
BTF (BTFEMBED_FORCE=1) and must read the values they set up.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from btfembed import __version__
from btfembed.embed.keys import running_key
from test_integration_support import (
    IS_ROOT, REPO, env, need_libbpf, need_sysfs_btf, need_tools, run, stage,
)

pytestmark = pytest.mark.integration

SOURCE_PARTS = ("btfembed", "cmake", "meson", "pyproject.toml", "README.md")
BUILD_DEPS = ["setuptools>=77", "wheel", "scikit-build-core>=0.10"]


def kernel_keys() -> set[str]:
    """The kernels the examples embed: the bundled sample and this machine's."""
    from btfembed.build.kernels import discover
    from btfembed.build.settings import KernelSpec

    keys = {"/".join((k.key.arch, k.key.distro, k.key.distro_version, k.key.release))
            for k in discover([KernelSpec(str(REPO / "tests" / "data" / "kernels"))])}
    key = running_key()
    return keys | {"/".join((key.arch, key.distro, key.distro_version, key.release))}


def venv_env(**extra: str) -> dict[str, str]:
    """env() without PYTHONPATH: the venvs (and isolated builds) must import
    only what is installed in them, never a checkout on PYTHONPATH."""
    e = env(**extra)
    e.pop("PYTHONPATH", None)
    return e


def offline_pip_env(wheelhouse: Path) -> dict[str, str]:
    """pip restricted to the wheelhouse (no index, no user configuration)."""
    e = {k: v for k, v in venv_env().items() if not k.startswith("PIP_")}
    e.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse),
             PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_WARN_SCRIPT_LOCATION="1", PIP_ROOT_USER_ACTION="ignore")
    return e


def runtime_deps() -> list[str]:
    """btfembed's own dependencies, as pyproject.toml lists them."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def copy_source(dest: Path) -> Path:
    """The parts of this checkout that make btfembed's sdist and wheel."""
    for part in SOURCE_PARTS:
        p = REPO / part
        if p.is_dir():
            shutil.copytree(p, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, dest / part)
    return dest


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """Build dependencies from PyPI, then btfembed's wheel built from a copy
    of this checkout (with isolation, from the wheelhouse alone)."""
    house = tmp_path_factory.mktemp("wheelhouse")
    got = run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "-d", house, *BUILD_DEPS, *runtime_deps()], check=False)
    if got.returncode:
        pytest.skip(f"cannot fill the wheelhouse from PyPI (no network?): {got.stdout[-500:]}")
    src = copy_source(tmp_path_factory.mktemp("btfembed-src"))
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", house, src],
        env_=offline_pip_env(house))
    return house


@pytest.fixture(scope="module")
def pip_env(wheelhouse: Path) -> dict[str, str]:
    return offline_pip_env(wheelhouse)


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheelhouse: Path, pip_env: dict) -> Path:
    """A fresh venv with btfembed installed (from the wheelhouse)."""
    d = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", d])
    run([d / "bin" / "python", "-m", "pip", "install", "--quiet", "btfembed"], env_=pip_env)
    return d


def pip(venv: Path, *args, pip_env: dict, **kw):
    return run([venv / "bin" / "python", "-m", "pip", *args], env_=pip_env, **kw)


def one_wheel(d: Path) -> Path:
    wheels = list(d.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def vpython(venv: Path, code: str, **extra: str) -> str:
    return run([venv / "bin" / "python", "-c", code], env_=venv_env(**extra)).stdout


def test_btfembed_wheel_ships_the_integrations(wheelhouse: Path, venv: Path) -> None:
    """btfembed's own wheel: cmake/ and meson/ inside the package, the entry
    points, and --cmakedir/--includedir naming the installed copies."""
    (whl,) = wheelhouse.glob("btfembed-*.whl")
    z = zipfile.ZipFile(whl)
    names = set(z.namelist())
    for name in ("cmake/__init__.py", "cmake/BTFEmbedConfig.cmake", "cmake/BTFEmbedConfigVersion.cmake",
                 "cmake/BTFEmbedFunctions.cmake", "cmake/BTFEmbedBPF.cmake", "meson/__init__.py", "meson/meson.build",
                 "embed/include/btfembed.h", "embed/include/btfembed.c", "integrations/setuptools.py"):
        assert f"btfembed/{name}" in names, name
    data = f"btfembed-{__version__}.data/data/share/cmake/BTFEmbed"
    assert {f"{data}/BTFEmbedConfig.cmake", f"{data}/BTFEmbedConfigVersion.cmake"} <= names
    assert z.read(f"{data}/BTFEmbedConfigVersion.cmake") == z.read("btfembed/cmake/BTFEmbedConfigVersion.cmake")
    eps = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[cmake.root]\nBTFEmbed = btfembed.cmake" in eps
    assert "[setuptools.finalize_distribution_options]\nbtfembed = btfembed.integrations.setuptools:finalize" in eps
    site = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               env_=venv_env()).stdout
    dirs = run([venv / "bin" / "btfembed", "--cmakedir", "--includedir"], env_=venv_env()).stdout.split()
    assert dirs == [f"{site.strip()}/btfembed/cmake", f"{site.strip()}/btfembed/embed/include"]


def test_btfembed_builds_without_setuptools_warnings(tmp_path: Path, pip_env: dict) -> None:
    """python -m build (sdist, then the wheel from the sdist) of btfembed
    itself, isolated against the wheelhouse: setuptools prints no warning
    (deprecated license table, data directories that look like unlisted
    packages, ...)."""
    import importlib.util
    import re

    if importlib.util.find_spec("build") is None:
        pytest.skip("pypa/build not installed (pip install build)")
    src = copy_source(tmp_path / "src")
    # PYTHONDONTWRITEBYTECODE makes setuptools note that it skips
    # byte-compiling: a property of the caller's shell, not of btfembed.
    e = {k: v for k, v in pip_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    log = run([sys.executable, "-m", "build", "-o", tmp_path / "dist", src], env_=e).stdout
    assert "Successfully built" in log, log
    warned = [line for line in log.splitlines() if re.search(r"warn|deprecat", line, re.I)]
    assert not warned, "\n".join(warned) + "\n\n" + log[-6000:]
    (whl,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    assert {"btfembed/embed/include/btfembed.h", "btfembed/embed/include/btfembed.c"} <= names
    meta = zipfile.ZipFile(whl).read(f"btfembed-{__version__}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in meta, meta[:2000]


# ---------------------------------------------------------------------------
# setuptools


def check_umask_report(out: str, umask: int) -> None:
    import re

    m = re.search(r"^btfembed: status=(\S+) key=(\S+) path=(\S+)$", out, re.M)
    assert m and m.group(1) == "embedded" and m.group(3).startswith("/proc/self/fd/"), out
    m = re.search(r"^report: pid=(\d+) ppid=(\d+) comm=(\S*) umask=(\d+) hits=(\d+)$", out, re.M)
    assert m, out
    assert int(m.group(4), 8) == umask and int(m.group(2)) == os.getpid() and int(m.group(5)) > 0, out


def test_setuptools_wheel(tmp_path: Path, venv: Path, pip_env: dict) -> None:
    need_sysfs_btf()
    proj = stage(tmp_path, "setuptools-wheel")
    dist = tmp_path / "dist"
    log = pip(venv, "wheel", "-v", "--no-deps", "-w", dist, proj, pip_env=pip_env).stdout
    assert "running build_btf" in log and "btfembed: generating build/lib/umask_example/_btf.py" in log, log
    whl = one_wheel(dist)
    names = set(zipfile.ZipFile(whl).namelist())
    for name in ("_btf.py", "_btf.btfpack", "umask_report.bpf.o", "__init__.py", "_libbpf.py"):
        assert f"umask_example/{name}" in names, names
    assert not (proj / "src" / "umask_example" / "_btf.py").exists()  # a wheel build leaves the tree alone

    pip(venv, "install", "--quiet", "--no-deps", "--force-reinstall", whl, pip_env=pip_env)
    listed = set(run([venv / "bin" / "python", "-m", "umask_example", "--kernels"], env_=venv_env()).stdout.split())
    assert listed == kernel_keys()
    # The generated module is standalone: it must not import btfembed.
    code = "import sys, umask_example; print(umask_example._btf.__file__); print('btfembed' in sys.modules)"
    where, imported = vpython(venv, code).split()
    assert "site-packages" in where and imported == "False"
    if IS_ROOT:
        out = run([venv / "bin" / "python", "-m", "umask_example", "--umask", "037"],
                  env_=venv_env(BTFEMBED_FORCE="1")).stdout
        check_umask_report(out, 0o037)


def test_setuptools_sdist_then_wheel(tmp_path: Path, pip_env: dict) -> None:
    """python -m build: sdist, then the wheel from the unpacked sdist.  The
    sdist carries the objects; kernel paths must resolve from wherever the
    sdist is unpacked, so this copy points at the kernels absolutely."""
    need_sysfs_btf()
    import importlib.util

    if importlib.util.find_spec("build") is None:
        pytest.skip("pypa/build not installed (pip install build)")
    proj = stage(tmp_path, "setuptools-wheel")
    kernels = (proj / ".." / ".." / "tests" / "data" / "kernels").resolve()
    py = proj / "pyproject.toml"
    text = py.read_text()
    assert '"../../tests/data/kernels"' in text
    py.write_text(text.replace('"../../tests/data/kernels"', f'"{kernels}"'))
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "-o", dist, proj], env_=pip_env)
    (sdist,) = dist.glob("*.tar.gz")
    members = {m.split("/", 1)[1] for m in tarfile.open(sdist).getnames() if "/" in m}
    assert "src/umask_example/umask_report.bpf.o" in members
    assert not any("_btf." in m for m in members), members
    names = set(zipfile.ZipFile(one_wheel(dist)).namelist())
    assert {"umask_example/_btf.py", "umask_example/_btf.btfpack"} <= names


def test_setuptools_editable(tmp_path: Path, venv: Path, pip_env: dict) -> None:
    need_sysfs_btf()
    proj = stage(tmp_path, "setuptools-wheel")
    pip(venv, "install", "--quiet", "--no-deps", "-e", proj, pip_env=pip_env)
    try:
        pkg = proj / "src" / "umask_example"
        assert (pkg / "_btf.py").exists() and (pkg / "_btf.btfpack").exists()  # generated in place
        code = "import umask_example as u; print(u._btf.__file__); print(*['/'.join(k) for k in u.kernels()])"
        where, *listed = vpython(venv, code).split()
        assert Path(where) == pkg / "_btf.py"
        assert set(listed) == kernel_keys()
        if IS_ROOT:
            out = run([venv / "bin" / "python", "-m", "umask_example"], env_=venv_env(BTFEMBED_FORCE="1")).stdout
            check_umask_report(out, 0o027)
    finally:
        pip(venv, "uninstall", "--quiet", "--yes", "btfembed-umask-example", pip_env=pip_env)


PLAIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"{extra_requires}]
build-backend = "setuptools.build_meta"

[project]
name = "plain-{name}"
version = "1.0"
{table}
"""


@pytest.mark.parametrize("case", ["no-table", "not-required"])
def test_setuptools_hook_leaves_other_projects_alone(case: str, tmp_path: Path, venv: Path, pip_env: dict) -> None:
    """btfembed is installed in the build environment (its hook is active)
    but the project did not opt in: without [tool.btfembed] (isolated
    build, btfembed in requires), or with the table but without btfembed in
    build-system.requires (non-isolated build in the venv that has
    btfembed).  The wheel is built as if btfembed did not exist."""
    proj = tmp_path / "plain"
    (proj / "plain_pkg").mkdir(parents=True)
    (proj / "plain_pkg" / "__init__.py").write_text("VALUE = 1\n")
    if case == "no-table":
        text = PLAIN_PYPROJECT.format(extra_requires=', "btfembed"', name=case, table="")
        isolation = []
    else:
        table = '[tool.btfembed]\nobjects = ["x.bpf.o"]\nkernels = ["sysfs"]\noutput = "plain_pkg/_btf.py"\n'
        text = PLAIN_PYPROJECT.format(extra_requires="", name=case, table=table)
        pip(venv, "install", "--quiet", "--upgrade", "setuptools>=64", "wheel", pip_env=pip_env)
        isolation = ["--no-build-isolation"]
    (proj / "pyproject.toml").write_text(text)
    dist = tmp_path / "dist"
    log = pip(venv, "wheel", "-v", "--no-deps", *isolation, "-w", dist, proj, pip_env=pip_env).stdout
    assert "build_btf" not in log and "btfembed: " not in log, log
    names = set(zipfile.ZipFile(one_wheel(dist)).namelist())
    assert {n for n in names if ".dist-info/" not in n} == {"plain_pkg/__init__.py"}, names
    # In process: the hook returns without touching the distribution.
    code = ("import os, sys; from setuptools.dist import Distribution; "
            "from btfembed.integrations.setuptools import finalize, project_config; "
            f"os.chdir({str(proj)!r}); d = Distribution(); before = dict(d.cmdclass); finalize(d); "
            "print(project_config() is None, d.cmdclass == before)")
    assert vpython(venv, code).split() == ["True", "True"]


# ---------------------------------------------------------------------------
# scikit-build-core


def test_skbuild_extension(tmp_path: Path, venv: Path, pip_env: dict) -> None:
    need_tools("cc", "cmake")
    need_libbpf()
    need_sysfs_btf()
    proj = stage(tmp_path, "skbuild-extension")
    dist, bdir = tmp_path / "dist", tmp_path / "build"
    log = pip(venv, "wheel", "-v", "--no-deps", "-w", dist, f"-Cbuild-dir={bdir}", proj, pip_env=pip_env).stdout
    assert f"Found BTFEmbed {__version__}: " in log, log
    assert "btfembed: tailoring kernel BTF for prio_btf" in log
    assert "different btfembed" not in log and "another installation" not in log, log
    # The cmake.root entry point pointed CMake at the build environment's
    # copy, not at the venv's (which is first in CMAKE_PREFIX_PATH).
    cache = (bdir / "CMakeCache.txt").read_text()
    found = next(line.split("=", 1)[1] for line in cache.splitlines() if line.startswith("BTFEmbed_DIR:"))
    assert "pip-build-env" in found and found.endswith("btfembed/cmake"), found
    assert str(venv) not in found
    names = set(zipfile.ZipFile(one_wheel(dist)).namelist())
    assert "prio_example/prio_report.bpf.o" in names and "prio_example/__init__.py" in names
    assert any(n.startswith("prio_example/_core.") and n.endswith(".so") for n in names), names

    pip(venv, "install", "--quiet", "--no-deps", "--force-reinstall", one_wheel(dist), pip_env=pip_env)
    listed = set(run([venv / "bin" / "python", "-m", "prio_example", "--kernels"], env_=venv_env()).stdout.split())
    assert listed == kernel_keys()
    code = "import prio_example as p; s, msg, key, entry, exact = p.lookup(force=True); print(s, int(exact))"
    assert vpython(venv, code).split() == ["0", "1"]
    if IS_ROOT:
        code = ("import os, prio_example as p; r = p.report(force=True, nice=5); "
                "print(r['status'], r['pid'] == r['tgid'] == os.getpid(), r['static_prio'], r['hits'] > 0)")
        assert vpython(venv, code, BTFEMBED_FORCE="1").split() == ["0", "True", "125", "True"]


# ---------------------------------------------------------------------------
# plain CMake against an installed btfembed


def test_cmake_prefix_path_finds_the_installed_copy(tmp_path: Path, venv: Path) -> None:
    """-DCMAKE_PREFIX_PATH=<site-packages> finds <site-packages>/btfembed/cmake
    and the config runs the console script of that installation, although
    another btfembed (this checkout's) is first on PATH and is the
    Python_EXECUTABLE."""
    cmake = need_tools("cmake")["cmake"]
    site = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               env_=venv_env()).stdout
    proj = tmp_path / "consumer"
    proj.mkdir()
    (proj / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(consumer LANGUAGES NONE)\n"
        f"find_package(BTFEmbed {__version__} REQUIRED)\n"
        'message(STATUS "BTFEmbed_DIR=${BTFEmbed_DIR}")\n')
    out = run([cmake, "-S", proj, "-B", tmp_path / "b", f"-DCMAKE_PREFIX_PATH={site.strip()}",
               f"-DPython_EXECUTABLE={sys.executable}"], env_=venv_env()).stdout
    assert f"Found BTFEmbed {__version__}: {venv / 'bin' / 'btfembed'}" in out, out
    assert f"BTFEmbed_DIR={site.strip()}/btfembed/cmake" in out, out
    assert "Warning" not in out, out


def test_find_package_with_only_the_venv_on_path(tmp_path: Path, venv: Path) -> None:
    """An activated venv (its bin first on PATH, no BTFEmbed_ROOT, no
    CMAKE_PREFIX_PATH): find_package(BTFEmbed) finds the forwarding config
    the wheel installed in <venv>/share/cmake/BTFEmbed, which loads the
    package in site-packages; btfembed_add_library then builds."""
    cmake = need_tools("cmake", "cc")["cmake"]
    site = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               env_=venv_env()).stdout
    proj = tmp_path / "consumer"
    proj.mkdir()
    obj = REPO / "examples" / "cmake-libbpf" / "uts_report.bpf.o"
    kernels = REPO / "tests" / "data" / "kernels"
    (proj / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(consumer C)\n"
        f"find_package(BTFEmbed {__version__} REQUIRED)\n"
        'message(STATUS "BTFEmbed_DIR=${BTFEmbed_DIR}")\n'
        'message(STATUS "BTFEmbed_CMAKE_DIR=${BTFEmbed_CMAKE_DIR}")\n'
        f'btfembed_add_library(probe_btf OBJECTS "{obj}" KERNELS "{kernels}")\n')
    e = {k: v for k, v in venv_env().items() if not k.startswith(("CMAKE_", "BTFEmbed", "BTFEMBED"))}
    e["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    e["VIRTUAL_ENV"] = str(venv)
    out = run([cmake, "-S", proj, "-B", tmp_path / "b"], env_=e).stdout
    assert f"Found BTFEmbed {__version__}: {venv / 'bin' / 'btfembed'}" in out, out
    assert f"BTFEmbed_DIR={venv}/share/cmake/BTFEmbed" in out, out
    assert f"BTFEmbed_CMAKE_DIR={site.strip()}/btfembed/cmake" in out, out
    assert "Warning" not in out, out
    run([cmake, "--build", tmp_path / "b"], env_=e)
    assert list((tmp_path / "b").rglob("libprobe_btf.a")), list((tmp_path / "b").iterdir())
    # Without the venv on PATH, the same project does not find it.
    e["PATH"] = "/usr/bin:/bin"
    del e["VIRTUAL_ENV"]
    miss = run([cmake, "-S", proj, "-B", tmp_path / "b2"], env_=e, check=False)
    assert miss.returncode != 0 and "BTFEmbedConfig.cmake" in miss.stdout, miss.stdout
