"""The import-layer contract: a module imports only its own layer or lower
ones; the CO-RE engine (core/) does no I/O; the Python runtime copied into
generated modules needs only the standard library.

Layers, lowest first (README "How it works"): errors < btf < core < inputs
< minimize < embed < build < integrations < cli.  ``btfembed/__init__.py``
(the public API, loaded lazily) may name every layer.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "btfembed"

LAYERS = ("errors", "btf", "core", "inputs", "minimize", "embed", "build", "integrations", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}
# Top-level modules that are not folders: their layer.
MODULE_LAYER = {"errors": "errors", "_entry": "errors", "__main__": "cli"}
TOP = len(LAYERS)  # btfembed/__init__.py

# What "I/O" means for core/: files, processes, sockets, the environment.
IO_MODULES = {"os", "io", "pathlib", "shutil", "subprocess", "socket", "tempfile", "glob", "mmap",
              "lzma", "gzip", "bz2", "tarfile", "zipfile", "sys", "builtins", "elftools", "fcntl",
              "select", "signal", "multiprocessing", "concurrent", "urllib", "http", "logging"}
STANDALONE = {"btfembed/embed/runtime.py"}


def layer_of(module: str) -> int:
    """The rank of a ``btfembed...`` module name."""
    parts = module.split(".")
    assert parts[0] == "btfembed"
    if len(parts) == 1:
        return TOP
    head = parts[1]
    if head in RANK:
        return RANK[head]
    if head in MODULE_LAYER:
        return RANK[MODULE_LAYER[head]]
    raise AssertionError(f"module {module} is in no layer: add it to tests/test_layers.py")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, wherever it
    is (top level, functions, TYPE_CHECKING blocks)."""
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod != "btfembed":
                out.append((node.lineno, mod))
            else:  # ``from btfembed import __version__`` (or a layer package)
                out += [(node.lineno, f"btfembed.{a.name}") for a in node.names
                        if a.name in RANK or a.name in MODULE_LAYER]
    return out


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def violations(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        rel = str(path.relative_to(PACKAGE.parent))
        here = layer_of(module_name(path))
        for line, mod in imports(path):
            top = mod.split(".")[0]
            if rel in STANDALONE:
                if top == "btfembed" or top not in sys.stdlib_module_names:
                    bad.append(f"{rel}:{line}: standalone runtime imports {mod}")
                continue
            if top == "btfembed" and layer_of(mod) > here:
                bad.append(f"{rel}:{line}: {LAYERS[here] if here < TOP else 'btfembed'} imports "
                           f"higher layer {mod}")
            if here == RANK["core"] and (top in IO_MODULES or mod.startswith("btfembed.inputs")):
                bad.append(f"{rel}:{line}: core/ imports I/O module {mod}")
    return bad


def test_every_module_is_in_a_layer() -> None:
    for path in sources():
        layer_of(module_name(path))


def test_no_module_imports_a_higher_layer() -> None:
    bad = violations(sources())
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, problem", [
    ("from btfembed.build.settings import Settings\n", "btf imports higher layer btfembed.build.settings"),
    ("import btfembed.cli\n", "btf imports higher layer btfembed.cli"),
    ("from ..inputs import files\n", "btf imports higher layer btfembed.inputs"),
    ("from btfembed import minimize\n", "btf imports higher layer btfembed.minimize"),
])
def test_the_contract_catches_an_upward_import(tmp_path: Path, source: str, problem: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "btfembed"
    (fake / "btf").mkdir(parents=True)
    (fake / "btf" / "x.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    bad = violations([fake / "btf" / "x.py"])
    assert len(bad) == 1 and bad[0].startswith("btfembed/btf/x.py:1: ") and problem in bad[0], bad


@pytest.mark.parametrize("source", ["import os\n", "from pathlib import Path\n",
                                    "from btfembed.inputs.files import read_bytes\n"])
def test_the_contract_catches_io_in_core(tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "btfembed"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "x.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert any("core/ imports I/O module" in v for v in violations([fake / "core" / "x.py"]))


def test_the_standalone_runtime_takes_only_the_standard_library(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "btfembed"
    (fake / "embed").mkdir(parents=True)
    (fake / "embed" / "runtime.py").write_text("import json\nfrom btfembed.errors import ConfigError\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    bad = violations([fake / "embed" / "runtime.py"])
    assert len(bad) == 1 and "btfembed.errors" in bad[0]
