"""Shared fixtures: repository data, the shared kernel corpus, bpftool."""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
REPO_KERNELS = DATA / "kernels"
OBJS = DATA / "objs"
SYNTH = DATA / "synth"
SHARED = Path(os.environ.get("BTFEMBED_SHARED", REPO.parent / "shared"))
SHARED_KERNELS = SHARED / "kernels"


def repo_kernel_files() -> list[Path]:
    return sorted(REPO_KERNELS.glob("*.btf.xz"))


def repo_vmlinux_files() -> list[Path]:
    """In-repo kernel BTFs (not the module ones)."""
    return [p for p in repo_kernel_files() if "__" not in p.name]


def shared_kernel_files() -> list[Path]:
    return sorted(SHARED_KERNELS.glob("*.btf.xz")) if SHARED_KERNELS.is_dir() else []


def shared_module_files() -> list[Path]:
    d = SHARED_KERNELS / "modules"
    return sorted(d.glob("*.btf.xz")) if d.is_dir() else []


def module_base(module: Path) -> Path:
    """The base kernel of a module file named ``<kernel>__<module>.btf.xz``."""
    kernel = module.name.split("__")[0] + ".btf.xz"
    for d in (module.parent.parent, module.parent):
        if (d / kernel).exists():
            return d / kernel
    raise FileNotFoundError(kernel)


def skip_without_shared() -> None:
    if not SHARED_KERNELS.is_dir():
        pytest.skip(f"shared kernel corpus not found at {SHARED_KERNELS}")


def bpftool_path() -> str | None:
    for cand in (shutil.which("bpftool"), "/usr/sbin/bpftool"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="session")
def bpftool() -> str:
    path = bpftool_path()
    if path is None:
        pytest.skip("bpftool not installed")
    try:
        subprocess.run([path, "version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:  # pragma: no cover
        pytest.skip(f"bpftool does not run: {exc}")
    return path


class RawCache:
    """Decompressed copies of .xz inputs (bpftool reads raw files only)."""

    def __init__(self, root: Path):
        self.root = root

    def raw(self, path: Path) -> Path:
        if path.suffix != ".xz":
            return path
        out = self.root / path.name[:-3]
        if not out.exists():
            tmp = out.with_suffix(".tmp")
            tmp.write_bytes(lzma.decompress(path.read_bytes()))
            tmp.rename(out)
        return out


@pytest.fixture(scope="session")
def raw_cache(tmp_path_factory: pytest.TempPathFactory) -> RawCache:
    return RawCache(tmp_path_factory.mktemp("raw-kernels"))


def load_script(name: str):
    """Import ``scripts/<name>.py`` (the scripts are not a package), once."""
    import importlib.util
    import sys

    module_name = f"btfembed_script_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[module_name]


class CountingLoad:
    """Counts kernel files decoded by the pipeline (in-process builds)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: list[str] = []
        from btfembed.build import sources

        real = sources.load_kernel

        def load(path: str, *args, **kw):  # type: ignore[no-untyped-def]
            self.calls.append(path)
            return real(path, *args, **kw)

        monkeypatch.setattr(sources, "load_kernel", load)
