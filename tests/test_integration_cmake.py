"""CMake integration: find_package(BTFEmbed) + btfembed_add_library with the
real CMake (Debian's and the newest from PyPI), Ninja and Unix Makefiles.

examples/cmake-libbpf is configured with -DBTFEmbed_ROOT=$(btfembed
--cmakedir), built (the BPF object with btfembed_add_bpf_object, then the
BTF library), and rebuilt: a second build does nothing, touching the BPF
source or a kernel file reruns the generator (and the compile/link that
depend on it) and nothing else, then nothing again.  As root the loader
runs with BTFEMBED_FORCE=1 and must read this machine's nodename and
release through CO-RE relocations resolved against the embedded BTF.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed import __version__
from test_integration_support import (
    IS_ROOT, check_forced_c_loader, cmakedir, need_libbpf, need_sysfs_btf, need_tools, pip_install_target,
    run, run_loader, running_blob_path, stage, bump_mtime, env,
)

pytestmark = pytest.mark.integration

COMMENT = "btfembed: tailoring kernel BTF for uts_btf"
KERNEL = "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
UTS_REPORT = re.compile(r"^report: pid=(\d+) tgid=(\d+) nodename=(\S*) release=(\S*) hits=(\d+)$", re.M)


def cmake_version(cmake: str) -> tuple[int, ...]:
    out = subprocess.run([cmake, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"cmake version (\d+)\.(\d+)\.(\d+)", out)
    assert m, out
    return tuple(int(x) for x in m.groups())


@pytest.fixture(scope="module")
def debian_cmake() -> str:
    cmake = "/usr/bin/cmake" if Path("/usr/bin/cmake").exists() else need_tools("cmake")["cmake"]
    if cmake_version(cmake) < (3, 20):
        pytest.skip(f"{cmake} is older than 3.20")
    return cmake


@pytest.fixture(scope="module")
def pypi_cmake(tmp_path_factory) -> str:
    target = pip_install_target("cmake", tmp_path_factory.mktemp("cmake-pypi"))
    if target is None:
        pytest.skip("cannot install cmake from PyPI (no network?)")
    return str(target / "cmake" / "data" / "bin" / "cmake")


def build(cmake: str, build_dir: Path) -> str:
    return run([cmake, "--build", build_dir]).stdout


def mtimes(paths: list[Path]) -> list[int]:
    return [p.stat().st_mtime_ns for p in paths]


@pytest.mark.parametrize("generator", ["Ninja", "Unix Makefiles"])
@pytest.mark.parametrize("which", ["debian", "pypi-newest"])
def test_cmake_example(which: str, generator: str, request, tmp_path: Path) -> None:
    cmake = request.getfixturevalue("debian_cmake" if which == "debian" else "pypi_cmake")
    tools = need_tools("cc", "clang", "ninja" if generator == "Ninja" else "make")
    need_libbpf()
    need_sysfs_btf()
    src = stage(tmp_path, "cmake-libbpf")
    kernel = src.parent.parent / "tests" / "data" / "kernels" / KERNEL
    bdir = tmp_path / "build"

    cfg = run([cmake, "-S", src, "-B", bdir, "-G", generator, f"-DBTFEmbed_ROOT={cmakedir()}"])
    assert f"Found BTFEmbed {__version__}: " in cfg.stdout
    assert "Warning" not in cfg.stdout, cfg.stdout

    gen = bdir / "btfembed" / "uts_btf"
    watched = [gen / "uts_btf.c", gen / "uts_btf.h", bdir / "libuts_btf.a", bdir / "uts-loader"]

    def unchanged(before: list[int]) -> None:
        out = build(cmake, bdir)
        assert COMMENT not in out, out
        assert not re.search(r"Building C object|Linking C|Re-running CMake", out), out
        assert mtimes(watched) == before
        if generator == "Ninja":
            assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout

    def reruns_generator() -> list[int]:
        before = mtimes(watched)
        out = build(cmake, bdir)
        assert out.count(COMMENT) == 1, out
        assert "Re-running CMake" not in out, out
        after = mtimes(watched)
        assert all(a > b for a, b in zip(after, before)), out  # regenerated, recompiled, relinked
        return after

    first = build(cmake, bdir)
    assert first.count(COMMENT) == 1, first
    assert (gen / "uts_btf.d").exists() or generator == "Ninja"  # Ninja ingests the depfile
    stamps = mtimes(watched)
    unchanged(stamps)                                # 2nd build: nothing

    obj = bdir / "bpf" / "uts_report" / "uts_report.bpf.o"   # btfembed_add_bpf_object's output
    obj_stamp = obj.stat().st_mtime_ns
    bump_mtime(src / "uts_report.bpf.c")             # the BPF source changed: object, then BTF
    if generator == "Ninja":
        explain = run([tools["ninja"], "-C", bdir, "-n", "-d", "explain"]).stdout
        assert "uts_report.bpf.c" in explain, explain
    stamps = reruns_generator()
    assert obj.stat().st_mtime_ns > obj_stamp
    unchanged(stamps)

    bump_mtime(kernel)                               # a kernel file (known only from the depfile)
    stamps = reruns_generator()
    unchanged(stamps)

    if IS_ROOT:
        rc, pid, out, err = run_loader([bdir / "uts-loader", "-v"], BTFEMBED_FORCE="1")
        assert rc == 0, out + err
        m = UTS_REPORT.search(out)
        assert m, out + err
        import os

        uname = os.uname()
        assert (int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)) == (pid, pid, uname.nodename,
                                                                              uname.release), out
        check_forced_c_loader(out, err, running_blob_path(gen / "btf"))


MULTI_DIR_ROOT = """\
cmake_minimum_required(VERSION 3.15)
project(multi C)
add_subdirectory(a)
add_subdirectory(b)
add_executable(main main.c)
target_link_libraries(main PRIVATE a_btf)
"""
MULTI_DIR_SUB = """\
find_package(BTFEmbed {version} REQUIRED)
if(NOT TARGET BTFEmbed::runtime)
  message(FATAL_ERROR "{name}: BTFEmbed::runtime target missing")
endif()
btfembed_add_library({name}_btf OBJECTS {obj} KERNELS sysfs {extra})
"""
MULTI_DIR_MAIN = """\
#include <stdio.h>
#include "a_btf.h"
int main(void)
{
	struct btfembed_btf btf;
	int rc = a_btf_path(&btf);
	printf("rc=%d %s\\n", rc, btfembed_strerror(rc));
	btfembed_release(&btf);
	return rc < 0;
}
"""


def test_cmake_subdirectories_and_old_policies(debian_cmake: str, tmp_path: Path) -> None:
    """A consumer with cmake_minimum_required(3.15) calls find_package in two
    sibling directories (the imported target exists in both: no include
    guard in the config), one with COMPRESS (zlib), and links the library
    from the top directory.  Ninja gets no CMP0116 warning (the function
    carries its own policies), and the depfile of a subdirectory's custom
    command works: the second build does nothing."""
    tools = need_tools("cc", "ninja")
    need_sysfs_btf()
    obj = stage(tmp_path, "cmake-libbpf") / "uts_report.bpf.o"
    proj = tmp_path / "multi"
    for name, extra in (("a", ""), ("b", "COMPRESS")):
        (proj / name).mkdir(parents=True)
        (proj / name / "CMakeLists.txt").write_text(
            MULTI_DIR_SUB.format(version=__version__, name=name, obj=obj, extra=extra))
    (proj / "CMakeLists.txt").write_text(MULTI_DIR_ROOT)
    (proj / "main.c").write_text(MULTI_DIR_MAIN)
    bdir = tmp_path / "build"
    cfg = run([debian_cmake, "-S", proj, "-B", bdir, "-G", "Ninja", f"-DBTFEmbed_ROOT={cmakedir()}"])
    assert "CMP0116" not in cfg.stdout and "Warning" not in cfg.stdout, cfg.stdout
    out = run([debian_cmake, "--build", bdir, "--target", "all"]).stdout
    assert "tailoring kernel BTF for a_btf" in out and "tailoring kernel BTF for b_btf" in out
    assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout
    res = run([bdir / "main"], env_=env(BTFEMBED_FORCE="1"))
    assert res.stdout.startswith("rc=0 "), res.stdout


CONSUMER = """\
cmake_minimum_required(VERSION 3.12)
project(consumer LANGUAGES NONE)
find_package(BTFEmbed {version} REQUIRED)
message(STATUS "BTFEmbed_COMMAND=${{BTFEmbed_COMMAND}}")
message(STATUS "BTFEmbed_INCLUDE_DIR=${{BTFEmbed_INCLUDE_DIR}}")
"""


def consumer(tmp_path: Path, version: str = __version__) -> Path:
    proj = tmp_path / "consumer"
    proj.mkdir(exist_ok=True)
    (proj / "CMakeLists.txt").write_text(CONSUMER.format(version=version))
    return proj


def configure(cmake: str, proj: Path, bdir: Path, *args: str, check: bool = True, **extra_env: str):
    return run([cmake, "-S", proj, "-B", bdir, f"-DBTFEmbed_ROOT={cmakedir()}", *args],
               env_=env(**extra_env), check=check)


def test_cmake_tool_selection(debian_cmake: str, tmp_path: Path) -> None:
    """Python_EXECUTABLE that imports this btfembed is used as '-m
    btfembed'; BTFEMBED_EXECUTABLE (variable or environment) overrides; a
    broken override and an incompatible version request fail clearly."""
    proj = consumer(tmp_path)
    out = configure(debian_cmake, proj, tmp_path / "b1", f"-DPython_EXECUTABLE={sys.executable}").stdout
    assert f"BTFEmbed_COMMAND={sys.executable};-m;btfembed" in out, out
    include = run([sys.executable, "-m", "btfembed", "--includedir"]).stdout.strip()
    assert f"BTFEmbed_INCLUDE_DIR={include}" in out

    out = configure(debian_cmake, proj, tmp_path / "b2", f"-DBTFEMBED_EXECUTABLE={sys.executable};-m;btfembed").stdout
    assert f"BTFEmbed_COMMAND={sys.executable};-m;btfembed" in out, out

    bad = configure(debian_cmake, proj, tmp_path / "b3", check=False, BTFEMBED_EXECUTABLE="/nonexistent/btfembed")
    assert bad.returncode != 0 and "BTFEMBED_EXECUTABLE='/nonexistent/btfembed' does not run" in bad.stdout, bad.stdout

    # Only another installation's console script can run btfembed: used,
    # with a warning naming both.
    fake = tmp_path / "other-bin"
    fake.mkdir()
    (fake / "btfembed").write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) echo "btfembed {__version__}";; '
        f"*) echo /elsewhere/btfembed/cmake; echo {include};; esac\n")
    (fake / "btfembed").chmod(0o755)
    other = configure(debian_cmake, proj, tmp_path / "b5", PATH=f"{fake}:/usr/bin:/bin")
    text = " ".join(other.stdout.split())
    assert "no btfembed command belongs to the CMake package" in text and "another installation" in text, text
    assert f"BTFEmbed_COMMAND={fake}/btfembed" in other.stdout

    major, minor = (int(x) for x in __version__.split(".")[:2])
    newer = configure(debian_cmake, consumer(tmp_path, f"{major}.{minor + 1}"), tmp_path / "b4", check=False)
    assert newer.returncode != 0 and f"version: {__version__}" in newer.stdout, newer.stdout


def test_cmake_older_than_3_20_refused(tmp_path: Path) -> None:
    """CMake 3.18 (PyPI has no 3.19): find_package reports why."""
    target = pip_install_target("cmake==3.18.*", tmp_path / "cmake-3.18")
    if target is None:
        pytest.skip("cannot install cmake 3.18 from PyPI (no network?)")
    old = str(target / "cmake" / "data" / "bin" / "cmake")
    assert cmake_version(old)[:2] == (3, 18)
    res = configure(old, consumer(tmp_path), tmp_path / "b", check=False)
    assert res.returncode != 0
    text = " ".join(res.stdout.split())
    assert "BTFEmbed requires CMake 3.20 or newer" in text and "this is CMake 3.18" in text, res.stdout
