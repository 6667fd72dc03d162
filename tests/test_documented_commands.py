"""The commands the documentation shows run as written: the examples of
`btfembed build --help`, the README's build command and btfembed.toml, and
the README's C embedding commands -- in a scratch directory holding files of
the names they use (a BTFHub-layout archive made from the bundled kernels,
BPF objects copied from the examples)."""

from __future__ import annotations

import io
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KERNELS = REPO / "tests" / "data" / "kernels"
DEBIAN = KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
SYSFS = Path("/sys/kernel/btf/vmlinux")


ARCHIVE_KEYS = ("ubuntu/20.04/x86_64/5.4.0-42-generic", "ubuntu/22.04/x86_64/5.15.0-25-generic",
                "debian/12/x86_64/6.1.0-50-amd64")


def _archive_entry(key: str, btf: bytes) -> tuple[str, bytes]:
    """The path (relative to the archive's root) and the bytes of one
    BTFHub archive entry holding ``btf``."""
    distro, version, arch, release = key.split("/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"{release}.btf")
        info.size = len(btf)
        tar.addfile(info, io.BytesIO(btf))
    return f"{distro}/{version}/{arch}/{release}.btf.tar.xz", lzma.compress(buf.getvalue())


@pytest.fixture(scope="module")
def archive_entries() -> list[tuple[str, bytes]]:
    """xz-compressing a whole kernel's BTF takes seconds: once per module,
    each test gets its own copy of the files."""
    btf = lzma.decompress(DEBIAN.read_bytes())
    return [_archive_entry(key, btf) for key in ARCHIVE_KEYS]


@pytest.fixture
def scratch(tmp_path: Path, archive_entries: list[tuple[str, bytes]]) -> Path:
    archive = tmp_path / "btfhub-archive"
    for rel, data in archive_entries:
        path = archive / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shutil.copy(REPO / "examples" / "c-loader" / "task_report.bpf.o", tmp_path / "prog.bpf.o")
    shutil.copy(REPO / "examples" / "cmake-libbpf" / "uts_report.bpf.o", tmp_path / "uts.bpf.o")
    (tmp_path / "build").mkdir()
    shutil.copy(tmp_path / "prog.bpf.o", tmp_path / "build" / "prog.bpf.o")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "btfembed"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m btfembed \"$@\"\n")
    wrapper.chmod(0o755)
    return tmp_path


def _sh(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{cwd / 'bin'}:{os.environ['PATH']}",
               XDG_CACHE_HOME=str(cwd / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run(["sh", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _help_examples() -> list[str]:
    from btfembed.cli.build import HELP
    lines = HELP.split("examples:", 1)[1].splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip().startswith("btfembed ")]


def test_build_help_examples_run_as_written(scratch: Path) -> None:
    examples = _help_examples()
    assert len(examples) >= 5
    (scratch / "btfembed.toml").write_text('objects = ["prog.bpf.o"]\nkernels = ["btfhub-archive"]\n')
    ran = 0
    for cmd in examples:
        if "dask://" in cmd:
            continue  # needs a running scheduler: test_build_dask.py runs this example against one
        if "sysfs" in cmd and not SYSFS.exists():
            continue
        proc = _sh(cmd, scratch)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr}"
        ran += 1
    assert ran >= 4
    # --emit c --output gen/min_btf without --prefix: prefix from the name.
    assert "min_btf_path(" in (scratch / "gen" / "min_btf.h").read_text()
    assert (scratch / "out" / "btfembed.pack").exists() and (scratch / "report.json").exists()


def _readme_blocks(lang: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _readme_command(prefix: str) -> str:
    for block in _readme_blocks("sh"):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.startswith(prefix):
                return line.split("  #")[0].strip()
    raise AssertionError(f"no README command starting with {prefix!r}")


def test_readme_build_and_toml_run_as_written(scratch: Path) -> None:
    cmd = _readme_command("btfembed build *.bpf.o")
    proc = _sh(cmd, scratch)
    assert proc.returncode == 0, f"{cmd}\n{proc.stderr}"
    assert (scratch / "out" / "report.html").exists() and (scratch / "gen" / "min_btf.c").exists()

    toml = next(b for b in _readme_blocks("toml") if b.startswith("# btfembed.toml"))
    if not SYSFS.exists():
        toml = toml.replace(', "sysfs"', "")
    work = scratch / "toml"
    work.mkdir()
    (work / "btfembed.toml").write_text(toml)
    (work / "build").mkdir()
    shutil.copy(scratch / "prog.bpf.o", work / "build" / "prog.bpf.o")
    shutil.copytree(scratch / "btfhub-archive", work / "btfhub-archive")
    shutil.copytree(scratch / "bin", work / "bin")
    proc = _sh("btfembed build", work)
    assert proc.returncode == 0, proc.stderr
    header = (work / "build" / "gen" / "min_btf.h").read_text()
    assert "int min_btf_path(struct btfembed_btf *out);" in header
    # ... and the README's C commands compile what it generated.
    gen = _readme_command("btfembed generate out/btfembed.pack --lang c")
    cc = _readme_command("cc -c build/mytool_btf.c")
    os.symlink(work / "build" / "btf", work / "out")
    for c in (gen, cc):
        proc = _sh(c, work)
        assert proc.returncode == 0, f"{c}\n{proc.stderr}"
    assert (work / "mytool_btf.o").exists()


def test_emit_without_output_has_a_default(scratch: Path) -> None:
    proc = _sh("btfembed build prog.bpf.o --kernels btfhub-archive --out-dir out --emit c -q", scratch)
    assert proc.returncode == 0, proc.stderr
    assert "int kernel_btf_path(" in (scratch / "out" / "kernel_btf.h").read_text()
    proc = _sh("btfembed build prog.bpf.o --kernels btfhub-archive --out-dir py --emit python -q", scratch)
    assert proc.returncode == 0 and (scratch / "py" / "kernel_btf.py").exists()


def test_failing_generation_leaves_nothing(scratch: Path) -> None:
    proc = _sh("btfembed build prog.bpf.o --kernels btfhub-archive --out-dir out --emit c --output gen/x "
               "--prefix btfembed", scratch)
    assert proc.returncode == 2 and "reserved" in proc.stderr
    assert not (scratch / "out").exists() and not (scratch / "gen").exists()
    # Generation failing after the build (no module of that name): still nothing.
    proc = _sh("btfembed build prog.bpf.o --kernels btfhub-archive --out-dir out --emit python "
               "--output gen/bad-name.py", scratch)
    assert proc.returncode == 2 and "not a valid Python module name" in proc.stderr, proc.stderr
    assert not (scratch / "out").exists() and not (scratch / "gen").exists()


def test_generate_prefix_has_no_doubled_btf(scratch: Path) -> None:
    assert _sh("btfembed build prog.bpf.o --kernels btfhub-archive --out-dir out -q", scratch).returncode == 0
    proc = _sh("btfembed generate out/btfembed.pack --lang c --output gen/foo_btf", scratch)
    assert proc.returncode == 0, proc.stderr
    h = (scratch / "gen" / "foo_btf.h").read_text()
    assert "int foo_btf_path(" in h and "foo_btf_btf_path" not in h


_LOADER_C = """\
#include <stdio.h>
#include "HEADER"

int main(void)
{
    struct btfembed_btf btf;
    int err = probe_btf_path(&btf);
    printf("probe_btf_path: %d\\n", err);
    return 0;
}
"""


@pytest.mark.integration
@pytest.mark.parametrize("block", ["custom_target", "subproject"])
def test_readme_meson_recipes_run_as_written(scratch: Path, block: str) -> None:
    """The README's two Meson recipes (its ``meson`` blocks, as written:
    the custom_target, and the subproject copied in by ``python -m
    btfembed.meson``) configure, generate and link a loader, with the real
    Meson and Ninja."""
    meson, ninja = shutil.which("meson"), shutil.which("ninja")
    if meson is None or ninja is None or shutil.which("cc") is None:
        pytest.skip("meson, ninja and a C compiler are needed")
    if subprocess.run(["pkg-config", "--exists", "libbpf"]).returncode != 0:
        pytest.skip("libbpf (pkg-config) is needed")
    marker = "custom_target('probe_btf'" if block == "custom_target" else "subproject('btfembed')"
    recipe = next(b for b in _readme_blocks("meson") if marker in b)
    if not SYSFS.exists():
        recipe = recipe.replace(", '--kernels', 'sysfs'", "")
    header = "probe_btf.h" if block == "custom_target" else re.search(r'#include "([^"]+)"', recipe).group(1)
    src = scratch / "proj"
    src.mkdir()
    (src / "meson.build").write_text("project('readme-recipe', 'c')\n" + recipe)
    (src / "loader.c").write_text(_LOADER_C.replace("HEADER", header))
    shutil.copy(scratch / "prog.bpf.o", src / "probe.bpf.o")
    shutil.copytree(scratch / "btfhub-archive", src / "btfhub-archive")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    if block == "subproject":
        subprocess.run([sys.executable, "-m", "btfembed.meson", str(src / "subprojects" / "btfembed")], env=env,
                       check=True, capture_output=True)
    native = scratch / "native.ini"  # the Python that imports this btfembed
    native.write_text(f"[binaries]\npython = '{sys.executable}'\npython3 = '{sys.executable}'\n")
    bdir = scratch / "mbuild"
    for cmd in ([meson, "setup", str(bdir), str(src), f"--native-file={native}"], [ninja, "-C", str(bdir)]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    run = subprocess.run([str(bdir / "loader")], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0 and run.stdout.startswith("probe_btf_path: "), run
