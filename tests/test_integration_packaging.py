"""Packaging of the build-system integrations: the CMake package's version
file agrees with btfembed.__version__ (and its compatibility rules hold),
pyproject.toml ships cmake/ and meson/ inside the package, and the CLI
prints where they are installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed import __version__
from test_integration_support import REPO, run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.integration

VERSION_FILE = REPO / "cmake" / "BTFEmbedConfigVersion.cmake"


def test_cmake_version_file_matches_package_version() -> None:
    m = re.search(r'^set\(PACKAGE_VERSION "([^"]+)"\)$', VERSION_FILE.read_text(), re.M)
    assert m and m.group(1) == __version__


VERSION_CHECK = """\
set(PACKAGE_FIND_VERSION "{find}")
if(NOT "{find}" STREQUAL "")
  string(REPLACE "." ";" parts "{find}.0.0")
  list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
endif()
set(PACKAGE_FIND_VERSION_RANGE "{range}")
if(PACKAGE_FIND_VERSION_RANGE)
  set(PACKAGE_FIND_VERSION_MIN "{lo}")
  string(REPLACE "." ";" parts "{lo}.0.0")
  list(GET parts 0 PACKAGE_FIND_VERSION_MIN_MAJOR)
  list(GET parts 1 PACKAGE_FIND_VERSION_MIN_MINOR)
  set(PACKAGE_FIND_VERSION_MAJOR "${{PACKAGE_FIND_VERSION_MIN_MAJOR}}")
  set(PACKAGE_FIND_VERSION_MINOR "${{PACKAGE_FIND_VERSION_MIN_MINOR}}")
  set(PACKAGE_FIND_VERSION_MAX "{hi}")
  set(PACKAGE_FIND_VERSION_RANGE_MAX "{hi_kind}")
  set(PACKAGE_FIND_VERSION "{lo}")
endif()
include("{file}")
message("${{PACKAGE_VERSION}} ${{PACKAGE_VERSION_COMPATIBLE}} ${{PACKAGE_VERSION_EXACT}}")
"""


@pytest.mark.parametrize("find, range_, want", [
    ("", "", "TRUE"),
    ("{major}.{minor}", "", "TRUE"),
    ("{version}", "", "TRUE"),
    ("{major}.{minor_plus}", "", "FALSE"),
    ("{major_plus}.0", "", "FALSE"),
    ("", "{major}.{minor}...{major}.{minor_plus}", "TRUE"),
    ("", "{major}.{minor_plus}...{major}.{minor_plus2}", "FALSE"),
    ("", "{major}.{minor}...<{version}", "FALSE"),
], ids=["any", "same-minor", "exact", "newer-minor", "newer-major", "range", "range-above", "range-below"])
def test_cmake_version_compatibility(find: str, range_: str, want: str, tmp_path: Path) -> None:
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not installed")
    major, minor = (int(x) for x in __version__.split(".")[:2])
    fmt = dict(version=__version__, major=major, minor=minor, minor_plus=minor + 1, minor_plus2=minor + 2,
               major_plus=major + 1)
    find, range_ = find.format(**fmt), range_.format(**fmt)
    lo = hi = hi_kind = ""
    if range_:
        lo, hi = range_.split("...")
        hi_kind = "EXCLUDE" if hi.startswith("<") else "INCLUDE"
        hi = hi.lstrip("<")
    script = tmp_path / "check.cmake"
    script.write_text(VERSION_CHECK.format(find=find, range="TRUE" if range_ else "", lo=lo, hi=hi,
                                           hi_kind=hi_kind, file=VERSION_FILE))
    out = subprocess.run([cmake, "-P", script], capture_output=True, text=True, check=True).stderr.split()
    assert out[0] == __version__ and out[1] == want, out
    def padded(v: str) -> list[int]:
        return ([int(x) for x in v.split(".")] + [0, 0, 0])[:3]

    assert out[2] == ("TRUE" if find and padded(find) == padded(__version__) else "FALSE")


def test_pyproject_ships_cmake_and_meson_inside_the_package() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    st = data["tool"]["setuptools"]
    assert st["package-dir"] == {"btfembed.cmake": "cmake", "btfembed.meson": "meson"}
    # Every package directory of btfembed/ is listed (discovery cannot be
    # combined with package-dir mappings, so the list is explicit).
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "btfembed").rglob("__init__.py")}
    assert set(st["packages"]) == found | {"btfembed.cmake", "btfembed.meson"}
    assert set(st["package-data"]["btfembed.cmake"]) >= {"*.cmake"}
    # Plain find_package from a venv or prefix: forwarding config + version file as wheel data.
    assert st["data-files"] == {"share/cmake/BTFEmbed": ["cmake/prefix/BTFEmbedConfig.cmake",
                                                         "cmake/BTFEmbedConfigVersion.cmake"]}
    assert st["include-package-data"] is False  # package data is exactly the list
    assert data["project"]["license"] == "Apache-2.0"
    eps = data["project"]["entry-points"]
    assert eps["cmake.root"] == {"BTFEmbed": "btfembed.cmake"}
    assert eps["setuptools.finalize_distribution_options"] == {"btfembed": "btfembed.integrations.setuptools:finalize"}
    for name in ("BTFEmbedConfig.cmake", "BTFEmbedConfigVersion.cmake", "BTFEmbedFunctions.cmake",
                 "BTFEmbedBPF.cmake", "__init__.py"):
        assert (REPO / "cmake" / name).is_file()
    for name in ("meson.build", "README.md", "__init__.py"):
        assert (REPO / "meson" / name).is_file()


def test_cli_prints_installed_directories() -> None:
    out = run([sys.executable, "-m", "btfembed", "--cmakedir", "--includedir"]).stdout.splitlines()
    assert len(out) == 2
    assert (Path(out[0]) / "BTFEmbedConfig.cmake").is_file()
    assert (Path(out[1]) / "btfembed.h").is_file() and (Path(out[1]) / "btfembed.c").is_file()
    assert run([sys.executable, "-m", "btfembed", "--cmakedir"]).stdout.strip() == out[0]
    assert run([sys.executable, "-m", "btfembed", "--includedir"]).stdout.strip() == out[1]


def test_meson_helper_vendors_the_subproject(tmp_path: Path) -> None:
    where = run([sys.executable, "-m", "btfembed.meson"]).stdout.strip()
    assert (Path(where) / "meson.build").is_file()
    written = run([sys.executable, "-m", "btfembed.meson", tmp_path / "subprojects" / "btfembed"]).stdout.split()
    assert sorted(Path(p).name for p in written) == ["README.md", "meson.build"]
    assert (tmp_path / "subprojects" / "btfembed" / "meson.build").read_bytes() == \
        (Path(where) / "meson.build").read_bytes()
